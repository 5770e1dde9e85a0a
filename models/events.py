"""The lesson event log: one persisted, append-only record of everything that happens in a live room.

Attendance (ATT-1/2/3), the online list and count (SUP-4), analytics (LIVE-6) and supervision
reports (SUP-6) are all derived from this one table. Migration 0003 adds triggers that refuse
UPDATE and DELETE on both engines, like the audit log: history is written once, never rewritten.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class LessonEvent(Base):
    __tablename__ = "lesson_events"
    # Every reader asks "this lesson's events, in log order, after id N": one composite index
    # serves that and any lookup by lesson_id alone (its leading column), so no second index.
    __table_args__ = (Index("ix_lesson_events_lesson_id_id", "lesson_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # No ON DELETE CASCADE: a lesson with a history cannot silently lose it.
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str | None] = mapped_column(String(32))
    # The client's connection identity: kept across reloads / network changes so a reconnect of
    # the same user is recognised as one continuous presence (issue 3 §5).
    session_id: Mapped[str | None] = mapped_column(String(64))
    node_id: Mapped[str] = mapped_column(String(64))  # which app process wrote the row
    payload: Mapped[dict] = mapped_column(JSON, default=dict)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return (f"LessonEvent(id={self.id}, lesson={self.lesson_id}, {self.kind}, user={self.user_id}, "
                f"session={self.session_id}, at={self.at:%H:%M:%S})")
