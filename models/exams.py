"""Online final exam (EXAM-1, SUP-3): question bank, papers, attempts and saved answers.

A **question** belongs to one course type's bank: an institution's own bank, or the shared
platform bank when ``institution_id`` is null. Questions are never edited once made (a paper
refers to them by id, so an edit would change papers already sat); a wrong one is retired.

A **paper** is drawn for one class from the bank (server/exams/draw.py): the seed and the drawn
``items`` ([question_id, points], in order) are kept, so the draw reproduces. ``pass_mark`` is
the percentage of the total needed to pass, copied from the class's profile when drawn.

An **attempt** is one student's sitting of one paper (one per student per paper); an **answer**
is that student's latest saved response to one question (autosave, last write wins), with the
time of each save, its automatic points (objective kinds) or the grader's points and comment.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

QUESTION_KINDS = ("single", "multiple", "truefalse", "short")
ATTEMPT_STATUSES = ("in_progress", "submitted", "graded")


class ExamQuestion(Base):
    __tablename__ = "exam_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)  # null: shared
    course_type: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    stem: Mapped[str] = mapped_column(Text)
    options: Mapped[list] = mapped_column(JSON, default=list)  # option texts; labelled A, B, C… in order
    answer: Mapped[object] = mapped_column(JSON)  # "B" | ["A", "C"] | true | reference text (short)
    points: Mapped[int] = mapped_column(Integer)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column()


class ExamPaper(Base):
    __tablename__ = "exam_papers"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    district_code: Mapped[str] = mapped_column(String(6), index=True)
    course_type: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    seed: Mapped[str] = mapped_column(String(64))
    counts: Mapped[dict] = mapped_column(JSON, default=dict)  # {"single": 10, ...}
    items: Mapped[list] = mapped_column(JSON, default=list)  # [[question_id, points], ...] in paper order
    total_points: Mapped[int] = mapped_column(Integer)
    pass_mark: Mapped[int] = mapped_column(Integer)  # percent of total_points
    duration_minutes: Mapped[int] = mapped_column(Integer)
    opens_at: Mapped[datetime] = mapped_column()
    closes_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExamAttempt(Base):
    __tablename__ = "exam_attempts"
    __table_args__ = (UniqueConstraint("paper_id", "student_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("exam_papers.id"), index=True)
    student_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    started_at: Mapped[datetime] = mapped_column()
    deadline: Mapped[datetime] = mapped_column()
    submitted_at: Mapped[datetime | None] = mapped_column()
    submitted_by: Mapped[str | None] = mapped_column(String(16))  # student | deadline
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    score: Mapped[float | None] = mapped_column(Float)  # final once status == graded
    passed: Mapped[bool | None] = mapped_column(Boolean)
    graded_at: Mapped[datetime | None] = mapped_column()


class ExamAnswer(Base):
    __tablename__ = "exam_answers"
    __table_args__ = (UniqueConstraint("attempt_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("exam_attempts.id"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("exam_questions.id"))
    response: Mapped[object | None] = mapped_column(JSON)
    saved_at: Mapped[datetime] = mapped_column()
    saves: Mapped[list] = mapped_column(JSON, default=list)  # [{"at", "response"}] of each save, oldest first
    points: Mapped[float | None] = mapped_column(Float)  # automatic (objective) or the grader's (short)
    comment: Mapped[str | None] = mapped_column(Text)
    graded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    graded_at: Mapped[datetime | None] = mapped_column()
