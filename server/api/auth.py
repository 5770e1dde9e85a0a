"""Login, logout, who am I, password change."""
from __future__ import annotations

from pydantic import Field

from server.api.common import Password, user_dict
from server.api.endpoint import Api, Ctx, bearer_token
from server.auth.passwords import hash_password, verify_password
from server.auth.sessions import login, logout, revoke_all
from server.errors import ApiError
from server.validation import Body

api = Api()


class LoginBody(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)


class PasswordBody(Body):
    current_password: str = Field(min_length=1, max_length=128)
    new_password: Password


@api.route("POST", "/api/auth/login", summary="登录 Log in", tag="auth", body=LoginBody, public=True)
def post_login(ctx: Ctx, body: LoginBody):
    """Returns a bearer token. Five failures within 15 minutes lock the account for 15 minutes."""
    token, user = login(ctx, body.username, body.password)
    return {"token": token, "user": user_dict(user),
            "expires_in": ctx.svc.settings.session_ttl_minutes * 60}


@api.route("POST", "/api/auth/logout", summary="退出登录 Log out", tag="auth")
def post_logout(ctx: Ctx):
    logout(ctx, bearer_token(ctx.request))
    return {"ok": True}


@api.route("GET", "/api/me", summary="当前用户 Current user", tag="auth")
def get_me(ctx: Ctx):
    return user_dict(ctx.user)


@api.route("POST", "/api/auth/password", summary="修改密码 Change password", tag="auth", body=PasswordBody)
def post_password(ctx: Ctx, body: PasswordBody):
    """Changing the password ends every other session of the account."""
    if not verify_password(ctx.user.password_hash, body.current_password):
        raise ApiError("INVALID_CREDENTIALS", "当前密码不正确", "Current password is wrong",
                       field="current_password", status=422)
    ctx.user.password_hash = hash_password(body.new_password)
    revoke_all(ctx, ctx.user, keep_token=bearer_token(ctx.request))
    ctx.audit("auth.password_changed", target_type="user", target_id=ctx.user.id)
    return {"ok": True}
