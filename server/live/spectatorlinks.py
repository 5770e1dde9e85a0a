"""Spectator links (SUP-4, SUP-6): one supervisor, one lesson, a deadline, revocable, every use audited.

A link is ``/room?lesson=<id>&spectate=<token>`` with ``token = sl1.<link id>.<expiry>.<mac>`` and
``mac = HMAC-SHA256(key, "sl1|link|lesson|supervisor|expiry")``. The token names neither the lesson
nor the supervisor: both come from the link's row, and the MAC binds them, so

- a forged or altered token (another id, a later expiry, a made-up MAC) fails on the MAC alone;
- a token used in another lesson's room fails (the row's lesson is not this room's);
- an expired or revoked link fails at its row, with the reason.

The link is a bearer credential for that room only — like BigBlueButton's join URLs, it can be opened
on a phone where the supervisor is not logged in — but if the browser also carries a session of
somebody else, the link is refused: it is bound to its supervisor. The supervisor must still be an
active supervisor whose region covers the class when the link is used.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from sqlalchemy.orm import Session

from models import AuditLog, Lesson, SpectatorLink, TrainingClass, User
from server.auth.scope import region_covers
from server.errors import ApiError

PREFIX = "sl1"
MAX_LIFETIME = timedelta(hours=24)  # a link outlives no lesson day; a new one is one click away
MIN_LIFETIME = timedelta(minutes=5)


def link_key(secret_key: bytes) -> bytes:
    """A key of its own, derived from the app secret (the secret itself also encrypts personal data)."""
    return hmac.new(secret_key, b"qihang spectator links v1", hashlib.sha256).digest()


def _mac(key: bytes, link_id: int, lesson_id: int, supervisor_id: int, expiry: int) -> str:
    msg = f"{PREFIX}|{link_id}|{lesson_id}|{supervisor_id}|{expiry}".encode()
    return base64.urlsafe_b64encode(hmac.new(key, msg, hashlib.sha256).digest()).rstrip(b"=").decode()


def token_for(key: bytes, link: SpectatorLink) -> str:
    expiry = int(link.expires_at.timestamp())
    return f"{PREFIX}.{link.id}.{expiry}.{_mac(key, link.id, link.lesson_id, link.supervisor_user_id, expiry)}"


def url_for(key: bytes, link: SpectatorLink) -> str:
    return f"/room?lesson={link.lesson_id}&spectate={quote(token_for(key, link))}"


def _refuse(code: str, zh: str, en: str, status: int = 403) -> ApiError:
    return ApiError(code, zh, en, field="spectate", status=status, rule="SUP-4")


def verify(s: Session, key: bytes, token: object, lesson_id: int, now: datetime,
           session_user: User | None = None) -> tuple[SpectatorLink, User]:
    """The link and its supervisor, or an ApiError saying plainly why not."""
    forged = _refuse("LINK_INVALID", "旁听链接无效（签名不符或已被改动）", "The spectator link is not valid "
                     "(its signature does not match, or it was altered)")
    if not isinstance(token, str) or len(token) > 200:
        raise forged
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != PREFIX or not parts[1].isdigit() or not parts[2].isdigit():
        raise forged
    link = s.get(SpectatorLink, int(parts[1]))
    if link is None:
        raise forged
    expiry = int(parts[2])
    good = _mac(key, link.id, link.lesson_id, link.supervisor_user_id, expiry)
    if not hmac.compare_digest(good, parts[3]) or expiry != int(link.expires_at.timestamp()):
        raise forged
    if link.lesson_id != lesson_id:
        raise _refuse("LINK_WRONG_LESSON", "此旁听链接属于另一节课，不能进入本直播间",
                      "This spectator link belongs to another lesson and does not open this room")
    if link.revoked_at is not None:
        raise _refuse("LINK_REVOKED", f"此旁听链接已于 {_local(link.revoked_at)} 撤销",
                      f"This spectator link was revoked at {link.revoked_at.isoformat()}", status=410)
    if now >= link.expires_at:
        raise _refuse("LINK_EXPIRED", f"此旁听链接已于 {_local(link.expires_at)} 过期，请重新生成",
                      f"This spectator link expired at {link.expires_at.isoformat()}; create a new one", status=410)
    supervisor = s.get(User, link.supervisor_user_id)
    if session_user is not None and session_user.id != link.supervisor_user_id:
        raise _refuse("LINK_OTHER_USER", "此旁听链接属于另一名监管人员；请退出当前账号后再打开",
                      "This spectator link belongs to another supervisor; log out of this account to open it")
    cls = s.get(TrainingClass, s.get(Lesson, lesson_id).class_id)
    if supervisor is None or not supervisor.active or not region_covers(supervisor, cls.district_code):
        raise _refuse("LINK_SUPERVISOR", "此旁听链接的监管账号已停用或不再管辖本班所在地区",
                      "The link's supervisor account is disabled or no longer covers this class's region")
    link.last_used_at = now
    return link, supervisor


def check_lifetime(lesson: Lesson, now: datetime, minutes: int | None, room_late: timedelta) -> datetime:
    """The link's expiry: by default the end of the room (lesson end + the late window)."""
    room_end = lesson.ends_at + room_late
    if room_end <= now:
        raise ApiError("LESSON_OVER", "本节课的直播间已关闭，不能再生成旁听链接；请查看回放",
                       "This lesson's room has closed; watch its replay instead", field="lesson_id", status=409,
                       rule="SUP-4")
    if minutes is None:
        return min(room_end, now + MAX_LIFETIME)
    expires = now + timedelta(minutes=minutes)
    if not MIN_LIFETIME <= expires - now <= MAX_LIFETIME:
        raise ApiError("LINK_LIFETIME", "有效期须在 5 分钟至 24 小时之间", "minutes must be between 5 and 1440",
                       field="minutes", status=422, rule="SUP-4")
    return expires


def audit(s: Session, *, actor: int, action: str, lesson_id: int, class_id: int, now: datetime,
          ip: str | None = None, **detail) -> None:
    """SUP-6 for acts that happen in the room rather than through an API request (entry, exit, views)."""
    cls = s.get(TrainingClass, class_id)
    s.add(AuditLog(at=now, actor_user_id=actor, actor_role="supervisor", action=action, target_type="lesson",
                   target_id=str(lesson_id), institution_id=cls.institution_id, region_code=cls.district_code,
                   ip=ip, detail=detail))


def _local(at: datetime) -> str:
    return at.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")
