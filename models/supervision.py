"""Supervision records (SUP-1/4/6, LIVE-5, ATT-9): spectator links, content warnings, daily summaries.

A **spectator link** lets one supervisor into one lesson's room as a hidden spectator. The row is
the link's state (expiry, revocation, whether chat is granted); the URL carries only its id, expiry
and an HMAC over both with the lesson and supervisor (server/live/spectatorlinks.py), so a forged or
altered link fails before the database is asked, and a revoked one fails at the row.

A **content warning** is one hit of the sensitive-content screening (LIVE-5): what was said, where,
by whom, which words matched, and what a supervisor decided.

A **daily summary** is ATT-9's morning figure sheet for one class and one China day; written once
per (class, day) whichever node computes it first.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class SpectatorLink(Base):
    __tablename__ = "spectator_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    supervisor_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    can_chat: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    last_used_at: Mapped[datetime | None] = mapped_column()


class ContentWarning(Base):
    __tablename__ = "content_warnings"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(16))  # chat | question | answer | private | upload | transcript
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id"), index=True)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(index=True)
    district_code: Mapped[str | None] = mapped_column(String(6), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    event_id: Mapped[int | None] = mapped_column()  # the lesson_events row that held the text back
    text: Mapped[str] = mapped_column(Text)
    matches: Mapped[list] = mapped_column(JSON, default=list)  # [{"word", "category", "start", "end"}]
    context: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | reviewed
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column()
    review_note: Mapped[str | None] = mapped_column(Text)


class SensitiveWord(Base):
    __tablename__ = "sensitive_words"
    __table_args__ = (UniqueConstraint("word"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    word: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32), default="general")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DailySummary(Base):
    __tablename__ = "daily_summaries"
    __table_args__ = (UniqueConstraint("class_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    day: Mapped[date] = mapped_column()  # the China day summarised
    institution_id: Mapped[int] = mapped_column(index=True)
    district_code: Mapped[str] = mapped_column(String(6), index=True)
    figures: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
