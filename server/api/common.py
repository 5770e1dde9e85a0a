"""Shapes and look-ups several API modules share."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from models import Institution, TrainingClass, User
from server.api.endpoint import Ctx
from server.auth.scope import can_see_class, can_see_institution
from server.errors import ApiError, NotFound

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")


def _password_policy(value: str) -> str:
    """PLAT-3: at least 8 characters mixing letters and digits."""
    if len(value) < 8 or not re.search(r"[A-Za-z]", value) or not re.search(r"\d", value):
        raise ValueError("password must be at least 8 characters with letters and digits")
    return value


Password = Annotated[str, Field(min_length=8, max_length=128), AfterValidator(_password_policy)]
Username = Annotated[str, Field(min_length=3, max_length=64, pattern=USERNAME_RE.pattern)]
RegionCode = Annotated[str, Field(pattern=r"^\d{6}$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]


def user_dict(u: User) -> dict:
    return {
        "id": u.id, "username": u.username, "role": u.role, "display_name": u.display_name,
        "institution_id": u.institution_id, "region_level": u.region_level, "region_code": u.region_code,
        "active": u.active,
    }


def get_class(ctx: Ctx, class_id: int, *, for_update: bool = False) -> TrainingClass:
    q = ctx.s.query(TrainingClass).filter_by(id=class_id)
    if for_update and not ctx.svc.settings.is_sqlite:
        q = q.with_for_update(of=TrainingClass)
    cls = q.one_or_none()
    if cls is None or not can_see_class(ctx.user, cls):
        raise NotFound("班期", "class")
    return cls


def get_institution(ctx: Ctx, institution_id: int) -> Institution:
    inst = ctx.s.get(Institution, institution_id)
    if inst is None or not can_see_institution(ctx.user, inst):
        raise NotFound("机构", "institution")
    return inst


def get_user_in_institution(ctx: Ctx, user_id: int, institution_id: int, role: str, field: str) -> User:
    u = ctx.s.get(User, user_id)
    if u is None or u.institution_id != institution_id or u.role != role or not u.active:
        zh = {"lecturer": "讲师", "assistant": "助教", "institution_admin": "机构管理员"}.get(role, role)
        raise ApiError("USER_NOT_IN_INSTITUTION", f"{zh}（ID {user_id}）不存在或不属于本机构",
                       f"{role} {user_id} does not exist or does not belong to this institution",
                       field=field, status=422, rule="REG-5")
    return u


def path_int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound()
