"""Offline lessons' site videos (ATT-6, REC-1): a 10-second clip per class-hour and the full session.

One row per uploaded file, never replaced: a second clip for the same class-hour is kept beside the
first (the checklist counts class-hours covered). The media is stored chunk-encrypted like course
videos (server/videoserve.py, a ``stored_files`` row); the row repeats its SHA-256 and names its
entry (``seq``, ``entry_hash``) in the lesson's signed, hash-chained site manifest
(server/sitevideos.py), so a file, a row or the manifest changed later is detected.

``retain_until`` = the later of upload and lesson end + the profile's ``recording_retention_years``
(never under 3, recorder/retention.py). Migration 0009 guards the rows at the database exactly as
0008 guards ``recordings``: never deleted, ``retain_until`` never lowered, no soft delete dated before
it, no undelete — and the file, hash and manifest entry a row names never change.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

SITE_VIDEO_KINDS = ("clip", "full")
SITE_VIDEO_STATUSES = ("kept", "deleted")


class SiteVideo(Base):
    __tablename__ = "site_videos"
    __table_args__ = (UniqueConstraint("lesson_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    institution_id: Mapped[int] = mapped_column(index=True)
    district_code: Mapped[str] = mapped_column(String(6), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # clip (per class-hour) or full (the whole session)
    class_hour: Mapped[int | None] = mapped_column()  # 1..lesson.class_hours for a clip
    seq: Mapped[int] = mapped_column()  # its entry's index in the lesson's site manifest
    entry_hash: Mapped[str] = mapped_column(String(64))
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    duration_seconds: Mapped[float] = mapped_column(Float)
    codec: Mapped[str] = mapped_column(String(32))
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    retention_years: Mapped[int] = mapped_column()
    retain_until: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16), default="kept", index=True)
    deleted_at: Mapped[datetime | None] = mapped_column()
    deleted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
