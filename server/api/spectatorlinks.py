"""Spectator links over HTTP (SUP-4, SUP-6): create, list, revoke. Using one is the room's business
(server/live/signalling.py → server/live/spectatorlinks.verify).

A supervisor makes links for themself; a platform admin may make one for any supervisor whose
region covers the class (e.g. for an inspector's phone). Each creation and revocation is audited;
the token is shown in the creating response and in the list (the room needs it to open), never in
the audit log.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import Field
from sqlalchemy import select

from models import Lesson, SpectatorLink, TrainingClass, User
from server.api.endpoint import Api, Ctx
from server.auth.scope import can_see_class, region_covers
from server.errors import ApiError, NotFound
from server.live import spectatorlinks
from server.live.access import ROOM_LATE
from server.validation import Body

api = Api()
MAX_ID = 2**31 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
ROLES = ("supervisor", "platform_admin")


class LinkBody(Body):
    supervisor_user_id: DbId | None = None
    minutes: int | None = Field(default=None, ge=1, le=100_000)
    can_chat: bool = False
    note: str | None = Field(default=None, max_length=200)


def _lesson(ctx: Ctx, lesson_id: int) -> tuple[Lesson, TrainingClass]:
    lesson = ctx.s.get(Lesson, lesson_id) if 0 < lesson_id <= MAX_ID else None
    cls = ctx.s.get(TrainingClass, lesson.class_id) if lesson else None
    if cls is None or not can_see_class(ctx.user, cls):
        raise NotFound("课次", "lesson")
    return lesson, cls


def _out(ctx: Ctx, link: SpectatorLink) -> dict:
    key = spectatorlinks.link_key(ctx.svc.settings.secret_key)
    state = ("revoked" if link.revoked_at else "expired" if ctx.now >= link.expires_at else "valid")
    return {"id": link.id, "lesson_id": link.lesson_id, "supervisor_user_id": link.supervisor_user_id,
            "created_by": link.created_by, "created_at": link.created_at.isoformat(),
            "expires_at": link.expires_at.isoformat(), "can_chat": link.can_chat, "note": link.note,
            "state": state, "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None,
            "last_used_at": link.last_used_at.isoformat() if link.last_used_at else None,
            **({"token": spectatorlinks.token_for(key, link), "url": spectatorlinks.url_for(key, link)}
               if state == "valid" else {})}


@api.route("POST", "/api/lessons/{lesson_id:int}/spectator-links", summary="生成旁听链接 Create a spectator link",
           tag="supervision", roles=ROLES, body=LinkBody, status=201)
def create_link(ctx: Ctx, body: LinkBody, lesson_id: int):
    lesson, cls = _lesson(ctx, lesson_id)
    supervisor_id = body.supervisor_user_id or ctx.user.id
    if ctx.user.role == "supervisor" and supervisor_id != ctx.user.id:
        raise ApiError("LINK_FOR_SELF", "监管人员只能为自己生成旁听链接", "A supervisor creates links for themself only",
                       field="supervisor_user_id", status=403, rule="SUP-4")
    supervisor = ctx.s.get(User, supervisor_id)
    if supervisor is None or supervisor.role != "supervisor" or not supervisor.active:
        raise ApiError("NOT_A_SUPERVISOR", "旁听链接只能发给在职的监管账号", "Links are for active supervisor accounts",
                       field="supervisor_user_id", status=422, rule="SUP-4")
    if not region_covers(supervisor, cls.district_code):
        raise ApiError("OUTSIDE_REGION", "该监管人员不管辖本班所在地区", "That supervisor's region does not cover this class",
                       field="supervisor_user_id", status=422, rule="SUP-1")
    expires = spectatorlinks.check_lifetime(lesson, ctx.now, body.minutes, ROOM_LATE)
    link = SpectatorLink(lesson_id=lesson.id, supervisor_user_id=supervisor.id, created_by=ctx.user.id,
                         created_at=ctx.now, expires_at=expires, can_chat=body.can_chat, note=body.note)
    ctx.s.add(link)
    ctx.s.flush()
    ctx.audit("spectator_link.create", target_type="lesson", target_id=lesson.id, institution_id=cls.institution_id,
              region_code=cls.district_code, link_id=link.id, supervisor_user_id=supervisor.id,
              expires_at=expires.isoformat(), can_chat=body.can_chat)
    return _out(ctx, link)


@api.route("GET", "/api/lessons/{lesson_id:int}/spectator-links", summary="旁听链接 Spectator links", tag="supervision",
           roles=ROLES)
def list_links(ctx: Ctx, lesson_id: int):
    lesson, _cls = _lesson(ctx, lesson_id)
    stmt = select(SpectatorLink).where(SpectatorLink.lesson_id == lesson.id).order_by(SpectatorLink.id.desc())
    if ctx.user.role == "supervisor":
        stmt = stmt.where(SpectatorLink.supervisor_user_id == ctx.user.id)
    return {"items": [_out(ctx, link) for link in ctx.s.scalars(stmt)]}


@api.route("POST", "/api/spectator-links/{link_id:int}/revoke", summary="撤销旁听链接 Revoke a spectator link",
           tag="supervision", roles=ROLES)
def revoke_link(ctx: Ctx, link_id: int):
    link = ctx.s.get(SpectatorLink, link_id) if 0 < link_id <= MAX_ID else None
    if link is None or (ctx.user.role == "supervisor" and link.supervisor_user_id != ctx.user.id):
        raise NotFound("旁听链接", "spectator link")
    _lesson_, cls = _lesson(ctx, link.lesson_id)
    if link.revoked_at is None:
        link.revoked_at, link.revoked_by = ctx.now, ctx.user.id
        ctx.audit("spectator_link.revoke", target_type="lesson", target_id=link.lesson_id,
                  institution_id=cls.institution_id, region_code=cls.district_code, link_id=link.id)
    return _out(ctx, link)
