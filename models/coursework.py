"""Homework (LIVE-7) and business plans (EXAM-2).

Both keep every submission as its own row, numbered per student (``version``), so a resubmission never
overwrites what a checker or reviewer already saw; the newest row is the one that counts
(server/coursework/homework.py, server/coursework/businessplans.py).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

SUBMISSION_STATUSES = ("submitted", "superseded", "checked")
HOMEWORK_MARKS = ("excellent", "good", "pass", "fail", "redo")  # 优 / 良 / 合格 / 不合格 / 重做
PLAN_STATUSES = ("submitted", "superseded", "approved", "rejected")
PLAN_KINDS = ("file", "form")


class Homework(Base):
    """One assignment a lecturer sets for one lesson day of a class (LIVE-7)."""

    __tablename__ = "homework"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    lesson_day: Mapped[date] = mapped_column(index=True)  # a China date on which the class has lessons
    title: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HomeworkSubmission(Base):
    """One version of one student's answer; a check (mark, comment) lands on the version it judged."""

    __tablename__ = "homework_submissions"
    __table_args__ = (UniqueConstraint("homework_id", "student_user_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    homework_id: Mapped[int] = mapped_column(ForeignKey("homework.id"), index=True)
    student_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    version: Mapped[int] = mapped_column()
    text: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list] = mapped_column(JSON, default=list)  # [{file_id, name, content_type, size, type}]
    submitted_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    screening_held: Mapped[bool] = mapped_column(default=False)  # LIVE-5 warning recorded for the text
    mark: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    checked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    checked_at: Mapped[datetime | None] = mapped_column(index=True)


class BusinessPlan(Base):
    """One version of one student's business plan / idea analysis for a class (EXAM-2)."""

    __tablename__ = "business_plans"
    __table_args__ = (UniqueConstraint("class_id", "student_user_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    student_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    version: Mapped[int] = mapped_column()
    course_type: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))  # "file" | "form"
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))
    file_name: Mapped[str | None] = mapped_column(String(200))
    file_type: Mapped[str | None] = mapped_column(String(8))  # "pdf" | "docx", from the magic bytes
    form: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="submitted", index=True)
    screening_held: Mapped[bool] = mapped_column(default=False)
    submitted_at: Mapped[datetime] = mapped_column()
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewer_role: Mapped[str | None] = mapped_column(String(32))
    reviewed_at: Mapped[datetime | None] = mapped_column()
    review_comment: Mapped[str | None] = mapped_column(Text)
    credited_hours: Mapped[int] = mapped_column(default=0)  # profile plan_credit_hours on approval
