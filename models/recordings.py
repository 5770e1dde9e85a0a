"""One row per lesson recording (REC-1): where it is kept, until when, and what its manifest says.

The media and the signed, hash-chained manifest live in the recording store (recorder/ledger.py);
this row is the registry the API, retention and verification read. ``retain_until`` is set when the
recording opens (opened + the profile's ``recording_retention_years``, never under 3) and pushed out
to finished + the same years when it finishes; it is never lowered. Deleting a recording is a soft
delete (``status = 'deleted'``, the media removed) allowed only from ``retain_until`` on.

Migration 0008 backs this at the database (like the audit log's, SUP-6): the row itself cannot be
deleted, ``retain_until`` cannot be moved earlier, and ``status`` cannot become ``deleted`` with a
``deleted_at`` before ``retain_until`` — on both engines, whatever the application does.

``segments``/``bytes``/``head_hash`` mirror the manifest after each append: a manifest rolled back
to an older signed state (fewer segments than this row records) fails verification (recorder/verify.py).
The row refers to its lesson without cascade: a lesson with a recording cannot be deleted.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

RECORDING_STATUSES = ("recording", "finished", "deleted")
STORAGE_KINDS = ("local", "s3")


class Recording(Base):
    __tablename__ = "recordings"

    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    institution_id: Mapped[int] = mapped_column(index=True)
    district_code: Mapped[str] = mapped_column(String(6), index=True)
    profile: Mapped[str] = mapped_column(String(32))
    retention_years: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="recording", index=True)
    storage_kind: Mapped[str] = mapped_column(String(8), default="local")
    storage_location: Mapped[str] = mapped_column(String(500))  # a directory, or s3://bucket/prefix
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    retain_until: Mapped[datetime] = mapped_column(index=True)
    segments: Mapped[int] = mapped_column(default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    head_hash: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(16))
    verified_at: Mapped[datetime | None] = mapped_column()
    verification: Mapped[dict | None] = mapped_column(JSON)  # the last verification's summary
    deleted_at: Mapped[datetime | None] = mapped_column()
    deleted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
