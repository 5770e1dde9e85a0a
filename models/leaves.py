"""Leave requests (请假, CLS-8) and the lessons each one covers.

A student asks before the first covered lesson starts; staff of the class approve or reject; the
student may cancel until then. Only *approved* leave excuses a missed lesson, and each one still
counts toward the Hohhot limit of CLS-7 (server/attendance/absences.py). Every step is also written
to the append-only audit log (SUP-6); the columns here only hold the current state.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow

LEAVE_STATUSES = ("pending", "approved", "rejected", "cancelled")
ACTIVE_LEAVE_STATUSES = ("pending", "approved")  # these hold their lessons: no second leave for them


class LeaveRequest(Base):
    __tablename__ = "leave_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    student_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    day: Mapped[date | None] = mapped_column()  # set when the student asked for a whole day (China date)
    # The first covered lesson's start: CLS-8 "before the day's training" is checked against it.
    first_starts_at: Mapped[datetime] = mapped_column()
    class_hours: Mapped[int] = mapped_column()  # the covered lessons' class-hours, as planned
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_role: Mapped[str | None] = mapped_column(String(32))
    decision_note: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column()
    # Optimistic concurrency: a cancel and an approval racing cannot both win.
    version: Mapped[int] = mapped_column(default=1)

    lessons = relationship("LeaveLesson", cascade="all, delete-orphan", lazy="selectin",
                           order_by="LeaveLesson.lesson_id")

    __mapper_args__ = {"version_id_col": version}

    @property
    def lesson_ids(self) -> list[int]:
        return [ll.lesson_id for ll in self.lessons]


class LeaveLesson(Base):
    __tablename__ = "leave_request_lessons"

    leave_id: Mapped[int] = mapped_column(ForeignKey("leave_requests.id", ondelete="CASCADE"), primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True,
                                           index=True)
