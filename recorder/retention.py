"""Retention of lesson recordings (REC-1, ATT-6): kept at least three years, deletion refused until then.

* ``retain_until`` = the recording's opening moment + N years on China's calendar (29 February
  becomes 1 March), N = the class's profile ``recording_retention_years`` but never under
  :data:`MIN_YEARS` (REC-1 says "≥ 3 years"; a profile cannot go below the rule). At finish it is
  pushed out to finished + N years, so the last segment is kept the full term too; never lowered.
* Before ``retain_until`` nobody may delete a recording — platform admins included. The refusal is
  raised as :class:`RetentionActive` and the caller writes it to the audit log (the API does, in its
  own committed transaction, server/api/recordings.py). The database refuses it as well (migration
  0008), and an S3 store with Object Lock refuses to delete the objects (recorder/storage.py).
* From ``retain_until`` on, :func:`delete_recording` removes the media from the store and marks the
  row ``deleted`` (the row, its hashes and the audit trail stay).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from models import Recording

RULE = "REC-1"
MIN_YEARS = 3
CHINA_TZ = ZoneInfo("Asia/Shanghai")
DELETERS = ("platform_admin", "institution_admin")  # once retention has run out


def retention_years(profile_years: int | None) -> int:
    return max(MIN_YEARS, int(profile_years or 0))


def add_years(moment: datetime, years: int) -> datetime:
    """The same wall-clock moment ``years`` later in China; 29 Feb → 1 Mar (never earlier)."""
    local = moment.astimezone(CHINA_TZ)
    try:
        later = local.replace(year=local.year + years)
    except ValueError:  # 29 February into a common year
        later = local.replace(year=local.year + years, month=3, day=1)
    return later.astimezone(moment.tzinfo or CHINA_TZ)


def iso(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).isoformat()


@dataclass
class RetentionActive(Exception):
    """Deletion before ``retain_until`` (REC-1)."""

    lesson_id: int
    retain_until: datetime

    def __str__(self) -> str:
        return self.message_en

    @property
    def message_zh(self) -> str:
        return (f"课次 {self.lesson_id} 的录像须保存至 {self.retain_until.astimezone(CHINA_TZ):%Y-%m-%d %H:%M}"
                f"（不少于3年），在此之前任何角色（含平台管理员）均不得删除")

    @property
    def message_en(self) -> str:
        return (f"The recording of lesson {self.lesson_id} must be kept until "
                f"{iso(self.retain_until)} (at least 3 years); nobody, platform admins included, may delete it before")


class AlreadyDeleted(Exception):
    pass


def check_deletable(rec: Recording, now: datetime) -> None:
    """Raises RetentionActive while ``now`` is before ``retain_until``, AlreadyDeleted after a deletion."""
    if rec.status == "deleted":
        raise AlreadyDeleted(rec.lesson_id)
    if now < rec.retain_until:
        raise RetentionActive(rec.lesson_id, rec.retain_until)


def delete_recording(s: Session, rec: Recording, store, *, now: datetime, actor_user_id: int | None) -> dict:
    """Delete a recording whose retention has run out: the row first (the database guard checks the
    date at flush, before any media is touched), then the media; the caller commits and audits.
    Returns what was deleted, for the audit record."""
    check_deletable(rec, now)
    freed = {"segments": rec.segments, "bytes": rec.bytes, "head_hash": rec.head_hash,
             "retain_until": iso(rec.retain_until), "storage": rec.storage_kind}
    rec.status, rec.deleted_at, rec.deleted_by = "deleted", now, actor_user_id
    s.flush()
    store.delete_lesson(rec.lesson_id)
    return freed
