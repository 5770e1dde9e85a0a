"""Login, logout and lockout after repeated failures (PLAT-3)."""
from __future__ import annotations

import secrets
from datetime import timedelta

from models import AuthSession, User
from server.api.endpoint import Ctx, token_hash
from server.auth.passwords import hash_password, needs_rehash, verify_password
from server.errors import ApiError, Unauthorized


def _locked(user: User, ctx: Ctx) -> ApiError:
    seconds = max(1, int((user.locked_until - ctx.now).total_seconds()))
    minutes = (seconds + 59) // 60
    return ApiError("ACCOUNT_LOCKED", f"连续登录失败次数过多，账号已锁定，请 {minutes} 分钟后再试",
                    f"Too many failed logins; the account is locked for {minutes} more minute(s)",
                    field="password", status=429, rule="PLAT-3", headers={"Retry-After": str(seconds)})


def login(ctx: Ctx, username: str, password: str) -> tuple[str, User]:
    cfg = ctx.svc.settings
    user = ctx.s.query(User).filter_by(username=username).with_for_update(of=User).one_or_none()
    if user is not None and user.locked_until is not None and user.locked_until > ctx.now:
        raise _locked(user, ctx)
    if user is None or not user.active or not verify_password(user.password_hash if user else None, password):
        if user is not None:
            window = timedelta(minutes=cfg.login_failure_window_minutes)
            if user.first_failed_at is None or ctx.now - user.first_failed_at > window:
                user.failed_logins, user.first_failed_at = 0, ctx.now
            user.failed_logins += 1
            if user.failed_logins >= cfg.login_max_failures:
                user.locked_until = ctx.now + timedelta(minutes=cfg.login_lock_minutes)
                user.failed_logins, user.first_failed_at = 0, None
                ctx.audit("auth.locked", target_type="user", target_id=user.id, institution_id=user.institution_id)
        ctx.audit("auth.login_failed", target_type="user", target_id=user.id if user else None, username=username)
        ctx.s.commit()  # the failure count must persist although the request fails
        if user is not None and user.locked_until is not None and user.locked_until > ctx.now:
            raise _locked(user, ctx)
        raise Unauthorized("INVALID_CREDENTIALS", "用户名或密码错误", "Wrong username or password", field="password")
    user.failed_logins, user.first_failed_at, user.locked_until = 0, None, None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    token = secrets.token_urlsafe(32)
    ctx.s.add(AuthSession(
        token_hash=token_hash(token), user_id=user.id, created_at=ctx.now,
        expires_at=ctx.now + timedelta(minutes=cfg.session_ttl_minutes), ip=ctx.ip,
        user_agent=(ctx.request.headers.get("user-agent") or "")[:300],
    ))
    ctx.user = user
    ctx.audit("auth.login", target_type="user", target_id=user.id, institution_id=user.institution_id)
    return token, user


def session_user(s, token: str | None, now) -> User | None:
    """The active user behind a bearer token, or None (unknown, revoked, expired or deactivated)."""
    if not token:
        return None
    sess = s.query(AuthSession).filter_by(token_hash=token_hash(token)).one_or_none()
    if sess is None or sess.revoked_at is not None or sess.expires_at <= now or not sess.user.active:
        return None
    return sess.user


def logout(ctx: Ctx, token: str) -> None:
    sess = ctx.s.query(AuthSession).filter_by(token_hash=token_hash(token)).one_or_none()
    if sess is not None and sess.revoked_at is None:
        sess.revoked_at = ctx.now
    ctx.audit("auth.logout", target_type="user", target_id=ctx.user.id if ctx.user else None)


def revoke_all(ctx: Ctx, user: User, keep_token: str | None = None) -> None:
    keep = token_hash(keep_token) if keep_token else None
    for sess in ctx.s.query(AuthSession).filter_by(user_id=user.id, revoked_at=None):
        if sess.token_hash != keep:
            sess.revoked_at = ctx.now
