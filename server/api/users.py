"""Staff and supervisor accounts. Students register themselves (see students.py)."""
from __future__ import annotations

from typing import Literal

from sqlalchemy import select

from models import Institution, User
from server.api.common import Name, Password, RegionCode, Username, user_dict
from server.api.endpoint import Api, Ctx
from server.auth.passwords import hash_password
from server.auth.sessions import revoke_all
from server.auth.scope import region_prefix
from server.errors import ApiError, Forbidden, NotFound
from server.validation import Body, Query

api = Api()

# Who may create which role (PLAT-3 access control).
CREATABLE = {
    "platform_admin": {"platform_admin", "institution_admin", "supervisor"},
    "institution_admin": {"institution_admin", "assistant"},
}


class UserBody(Body):
    username: Username
    password: Password
    display_name: Name
    role: Literal["platform_admin", "institution_admin", "assistant", "supervisor"]
    institution_id: int | None = None
    region_level: Literal["district", "city", "province"] | None = None
    region_code: RegionCode | None = None


class UserQuery(Query):
    role: str | None = None


def check_region_code(level: str, code: str) -> None:
    ok = {"district": code[4:] != "00", "city": code[2:4] != "00" and code[4:] == "00",
          "province": code[2:] == "0000"}[level]
    if not ok:
        raise ApiError("REGION_CODE_LEVEL", "行政区划代码与层级不符（区县 xxxxxx，市 xxxx00，省 xx0000）",
                       "Region code does not match its level (district xxxxxx, city xxxx00, province xx0000)",
                       field="region_code", status=422)


def create_user(ctx: Ctx, *, username: str, password: str, display_name: str, role: str,
                institution_id: int | None = None, region_level: str | None = None,
                region_code: str | None = None) -> User:
    if ctx.s.query(User.id).filter_by(username=username).first():
        raise ApiError("USERNAME_TAKEN", "用户名已被使用", "Username already taken", field="username", status=409)
    user = User(username=username, password_hash=hash_password(password), role=role, display_name=display_name,
                institution_id=institution_id, region_level=region_level, region_code=region_code,
                created_at=ctx.now)
    ctx.s.add(user)
    ctx.s.flush()
    return user


@api.route("POST", "/api/users", summary="新建账号 Create account", tag="users",
           roles=("platform_admin", "institution_admin"), body=UserBody, status=201)
def post_user(ctx: Ctx, body: UserBody):
    if body.role not in CREATABLE[ctx.user.role]:
        raise Forbidden("ROLE_NOT_CREATABLE", f"当前角色不能创建 {body.role} 账号",
                        f"Your role cannot create {body.role} accounts", field="role")
    institution_id = body.institution_id
    if ctx.user.role == "institution_admin":
        if institution_id not in (None, ctx.user.institution_id):
            raise Forbidden("OTHER_INSTITUTION", "不能为其他机构创建账号",
                            "Cannot create accounts for another institution", field="institution_id")
        institution_id = ctx.user.institution_id
    if body.role in ("institution_admin", "assistant"):
        if institution_id is None or ctx.s.get(Institution, institution_id) is None:
            raise ApiError("INSTITUTION_REQUIRED", "请指定所属机构", "An existing institution_id is required",
                           field="institution_id", status=422)
    elif institution_id is not None:
        raise ApiError("INSTITUTION_NOT_ALLOWED", "该角色不属于机构", "This role belongs to no institution",
                       field="institution_id", status=422)
    if body.role == "supervisor":
        if not body.region_level or not body.region_code:
            raise ApiError("REGION_REQUIRED", "监管账号须指定管辖层级与区划代码",
                           "Supervisors need region_level and region_code", field="region_code", status=422)
        check_region_code(body.region_level, body.region_code)
    elif body.region_level or body.region_code:
        raise ApiError("REGION_NOT_ALLOWED", "只有监管账号有管辖区域", "Only supervisors have a region",
                       field="region_code", status=422)
    user = create_user(ctx, username=body.username, password=body.password, display_name=body.display_name,
                       role=body.role, institution_id=institution_id, region_level=body.region_level,
                       region_code=body.region_code)
    ctx.audit("user.create", target_type="user", target_id=user.id, institution_id=institution_id,
              region_code=body.region_code, role=body.role, username=body.username)
    return user_dict(user)


def _visible_users(ctx: Ctx):
    stmt = select(User).order_by(User.id)
    if ctx.user.role == "platform_admin":
        return stmt
    if ctx.user.role == "institution_admin":
        return stmt.where(User.institution_id == ctx.user.institution_id)
    # Supervisors see the staff of institutions in their region.
    prefix = region_prefix(ctx.user.region_level, ctx.user.region_code)
    return stmt.join(Institution, User.institution_id == Institution.id).where(
        Institution.region_code.startswith(prefix), User.role != "student")


@api.route("GET", "/api/users", summary="账号列表 List accounts", tag="users",
           roles=("platform_admin", "institution_admin", "supervisor"), query=UserQuery)
def list_users(ctx: Ctx, query: UserQuery):
    stmt = _visible_users(ctx)
    if query.role:
        stmt = stmt.where(User.role == query.role)
    return {"items": [user_dict(u) for u in ctx.s.scalars(stmt)]}


def _managed_user(ctx: Ctx, user_id: int) -> User:
    u = ctx.s.get(User, user_id)
    if u is None or (ctx.user.role == "institution_admin" and u.institution_id != ctx.user.institution_id):
        raise NotFound("账号", "account")
    return u


class UserStatusBody(Body):
    action: Literal["deactivate", "activate", "unlock"]


@api.route("POST", "/api/users/{user_id:int}/status", summary="停用/启用/解锁账号 Deactivate, activate, unlock",
           tag="users", roles=("platform_admin", "institution_admin"), body=UserStatusBody)
def user_status(ctx: Ctx, body: UserStatusBody, user_id: int):
    u = _managed_user(ctx, user_id)
    if u.id == ctx.user.id and body.action == "deactivate":
        raise ApiError("SELF_DEACTIVATE", "不能停用自己的账号", "You cannot deactivate yourself", status=422)
    if body.action == "deactivate":
        u.active = False
        revoke_all(ctx, u)
    elif body.action == "activate":
        u.active = True
    else:
        u.locked_until, u.failed_logins, u.first_failed_at = None, 0, None
    ctx.audit(f"user.{body.action}", target_type="user", target_id=u.id, institution_id=u.institution_id)
    return user_dict(u)
