"""Lecturers and their certificates (CLS-2): number, kind, issuer, validity."""
from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator
from sqlalchemy import select

from models import LecturerProfile, User
from server.api.common import Name, Password, Username, user_dict
from server.api.endpoint import Api, Ctx
from server.api.users import create_user
from server.auth.scope import region_prefix
from server.errors import NotFound
from server.validation import Body

api = Api()


class CertificateBody(Body):
    number: str = Field(min_length=3, max_length=64)
    kind: Literal["syb", "network", "beijing_basic", "elite"]
    issuer: str = Field(min_length=2, max_length=200)
    valid_from: date
    valid_until: date

    @model_validator(mode="after")
    def _order(self):
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


class LecturerBody(Body):
    username: Username
    password: Password
    display_name: Name
    certificate: CertificateBody


def lecturer_dict(u: User, p: LecturerProfile | None, today: date) -> dict:
    d = user_dict(u)
    d["certificate"] = None if p is None else {
        "number": p.certificate_no, "kind": p.certificate_kind, "issuer": p.issuer,
        "valid_from": p.valid_from.isoformat(), "valid_until": p.valid_until.isoformat(),
        "valid_today": p.valid_from <= today <= p.valid_until,
    }
    return d


def _apply(p: LecturerProfile, c: CertificateBody) -> None:
    p.certificate_no, p.certificate_kind, p.issuer = c.number, c.kind, c.issuer
    p.valid_from, p.valid_until = c.valid_from, c.valid_until


@api.route("POST", "/api/lecturers", summary="新建讲师 Create lecturer", tag="lecturers",
           roles=("institution_admin",), body=LecturerBody, status=201)
def post_lecturer(ctx: Ctx, body: LecturerBody):
    user = create_user(ctx, username=body.username, password=body.password, display_name=body.display_name,
                       role="lecturer", institution_id=ctx.user.institution_id)
    profile = LecturerProfile(user_id=user.id)
    _apply(profile, body.certificate)
    ctx.s.add(profile)
    ctx.audit("lecturer.create", target_type="user", target_id=user.id, institution_id=user.institution_id,
              certificate_no=body.certificate.number)
    return lecturer_dict(user, profile, ctx.today)


@api.route("GET", "/api/lecturers", summary="讲师列表 List lecturers", tag="lecturers",
           roles=("platform_admin", "institution_admin", "supervisor", "lecturer", "assistant"))
def list_lecturers(ctx: Ctx):
    stmt = select(User, LecturerProfile).outerjoin(LecturerProfile, LecturerProfile.user_id == User.id).where(
        User.role == "lecturer").order_by(User.id)
    if ctx.user.role == "supervisor":
        from models import Institution
        stmt = stmt.join(Institution, User.institution_id == Institution.id).where(
            Institution.region_code.startswith(region_prefix(ctx.user.region_level, ctx.user.region_code)))
    elif ctx.user.role != "platform_admin":
        stmt = stmt.where(User.institution_id == ctx.user.institution_id)
    return {"items": [lecturer_dict(u, p, ctx.today) for u, p in ctx.s.execute(stmt)]}


@api.route("PUT", "/api/lecturers/{user_id:int}/certificate", summary="更新讲师证 Update certificate",
           tag="lecturers", roles=("institution_admin",), body=CertificateBody)
def put_certificate(ctx: Ctx, body: CertificateBody, user_id: int):
    user = ctx.s.get(User, user_id)
    if user is None or user.role != "lecturer" or user.institution_id != ctx.user.institution_id:
        raise NotFound("讲师", "lecturer")
    profile = ctx.s.get(LecturerProfile, user_id) or LecturerProfile(user_id=user_id)
    _apply(profile, body)
    ctx.s.add(profile)
    ctx.audit("lecturer.certificate", target_type="user", target_id=user.id, institution_id=user.institution_id,
              certificate_no=body.number)
    return lecturer_dict(user, profile, ctx.today)
