"""Which course video a recorded lesson plays (ATT-5, COURSE-1, REC-1).

A row per lesson of mode ``recorded`` that has a video: the stored file (chunk-encrypted, see
server/videoserve.py) and what the upload's probe found. Its own table rather than columns on
``lessons``: SQLite can only add a foreign key to an existing table by rebuilding it, and
``lessons`` is referenced by the append-only event log. A replaced video keeps its old file
(REC-1: uploaded course videos are kept ≥ 3 years); a lesson deleted with its plan takes the row.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class LessonVideo(Base):
    __tablename__ = "lesson_videos"

    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"), index=True)
    duration_seconds: Mapped[float] = mapped_column(Float)  # COURSE-1: every 45 minutes of play is 1 class-hour
    codec: Mapped[str] = mapped_column(String(32))
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
