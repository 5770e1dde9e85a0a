"""Recorded course packages (COURSE-1/2/3): introduction, catalogue and licensed video resources.

A package belongs to an institution, or to nobody (``institution_id`` null) when a platform admin
publishes it for everyone. Its introduction (COURSE-2) is plain columns; its catalogue is ordered
chapters, each holding ordered resources. A resource is a course video whose play time was read
from the file itself (PyAV), never typed by the uploader; COURSE-1's class-hours are computed from
those durations on publishing and frozen on the package (``play_seconds``, ``class_hours``).
COURSE-3: each resource carries a proof file, or a licence record (holder, type, valid until), or both.

A recorded lesson refers to a package through :class:`LessonCoursePackage` (its own table, like
``lesson_videos``: SQLite cannot add a foreign key to ``lessons`` without rebuilding it).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow

PACKAGE_STATUSES = ("draft", "published", "retired")
LICENCE_TYPES = ("own_copyright", "authorised", "cc_by", "cc_by_sa", "cc_by_nc", "public_domain", "other")


class CoursePackage(Base):
    __tablename__ = "course_packages"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)  # None: shared
    profile: Mapped[str] = mapped_column(String(32))  # whose class_hour_minutes count the hours
    # COURSE-2: the introduction.
    name: Mapped[str] = mapped_column(String(200))
    total_hours: Mapped[int] = mapped_column()  # declared class-hours; must equal the computed figure
    audience: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    objectives: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    # COURSE-1: frozen on publishing.
    play_seconds: Mapped[float | None] = mapped_column(Float)
    class_hours: Mapped[int | None] = mapped_column()
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    retired_at: Mapped[datetime | None] = mapped_column()

    chapters = relationship("CourseChapter", order_by="CourseChapter.position", cascade="all, delete-orphan",
                            back_populates="package")


class CourseChapter(Base):
    """One catalogue entry (章节) of a package, in order."""

    __tablename__ = "course_chapters"

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("course_packages.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(String(200))

    package = relationship("CoursePackage", back_populates="chapters")
    resources = relationship("CourseResource", order_by="CourseResource.position", cascade="all, delete-orphan",
                             back_populates="chapter")


class CourseResource(Base):
    """A course video of a chapter and its copyright or licence proof (COURSE-3)."""

    __tablename__ = "course_resources"

    id: Mapped[int] = mapped_column(primary_key=True)
    chapter_id: Mapped[int] = mapped_column(ForeignKey("course_chapters.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="video")
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    duration_seconds: Mapped[float] = mapped_column(Float)  # read from the file with PyAV
    codec: Mapped[str] = mapped_column(String(32))
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    proof_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))
    licence_holder: Mapped[str | None] = mapped_column(String(200))
    licence_type: Mapped[str | None] = mapped_column(String(32))
    licence_valid_until: Mapped[date | None] = mapped_column()  # None: perpetual
    proof_recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proof_recorded_at: Mapped[datetime | None] = mapped_column()

    chapter = relationship("CourseChapter", back_populates="resources")


class LessonCoursePackage(Base):
    """A recorded lesson plays (part of) a published package; the lesson counts its class-hours (CLS-4)."""

    __tablename__ = "lesson_course_packages"

    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("course_packages.id"), index=True)
