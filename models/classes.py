"""Classes (班期), their lesson schedule, staff, roster and approval history (CLS-*)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow

DELIVERY_MODES = ("live", "live_offline", "recorded", "offline")  # CLS-6
LESSON_MODES = ("live", "offline", "recorded")
CLASS_STATUSES = ("draft", "submitted", "district_approved", "city_confirmed", "province_confirmed",
                  "rejected", "open", "in_progress", "finished", "archived")
ENROLMENT_STATUSES = ("enrolled", "withdrawn", "completed", "failed")


class TrainingClass(Base):
    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    # REG-5: a class belongs to exactly one institution.
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    course_type: Mapped[str] = mapped_column(String(32))
    delivery_mode: Mapped[str] = mapped_column(String(16))
    profile: Mapped[str] = mapped_column(String(32))
    district_code: Mapped[str] = mapped_column(String(6), index=True)
    status: Mapped[str] = mapped_column(String(24), default="draft", index=True)
    platform_name: Mapped[str] = mapped_column(String(100), default="启航 Qihang")
    head_teacher_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    commitment_accepted_at: Mapped[datetime | None] = mapped_column()
    commitment_accepted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    subsidised: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column()
    # Optimistic concurrency: two approvers acting at once cannot both move the class.
    version: Mapped[int] = mapped_column(default=1)

    lessons = relationship("Lesson", order_by="Lesson.starts_at", cascade="all, delete-orphan",
                           back_populates="training_class")
    lecturers = relationship("ClassLecturer", cascade="all, delete-orphan")
    assistants = relationship("ClassAssistant", cascade="all, delete-orphan")
    enrolments = relationship("Enrolment", back_populates="training_class")
    institution = relationship("Institution", lazy="joined")

    __mapper_args__ = {"version_id_col": version}


class Lesson(Base):
    __tablename__ = "lessons"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    mode: Mapped[str] = mapped_column(String(16))
    class_hours: Mapped[int] = mapped_column()
    lecturer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # CLS-6 / ATT-6: an offline lesson's venue, where students sign in with face + location
    # (server/domain/venue.py; migration 0005). Null for live and recorded lessons.
    venue_name: Mapped[str | None] = mapped_column(String(200))
    venue_address: Mapped[str | None] = mapped_column(String(300))
    venue_latitude: Mapped[float | None] = mapped_column(Float)
    venue_longitude: Mapped[float | None] = mapped_column(Float)
    venue_radius_m: Mapped[int | None] = mapped_column()
    venue_datum: Mapped[str | None] = mapped_column(String(8))  # "wgs84" (GPS) or "gcj02" (Chinese maps)

    training_class = relationship("TrainingClass", back_populates="lessons")


class ClassLecturer(Base):
    __tablename__ = "class_lecturers"

    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    is_lead: Mapped[bool] = mapped_column(default=False)  # Hohhot's teaching lead (CLS-2)


class ClassAssistant(Base):
    __tablename__ = "class_assistants"

    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)


class Enrolment(Base):
    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("class_id", "student_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    student_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="enrolled")
    # Denormalised for REG-4 look-ups across institutions: the training year and program.
    year: Mapped[int] = mapped_column(index=True)
    course_type: Mapped[str] = mapped_column(String(32))
    subsidised: Mapped[bool] = mapped_column(default=True)
    assistant_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # LIVE-4 group
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column()

    training_class = relationship("TrainingClass", back_populates="enrolments")
    student = relationship("StudentProfile", primaryjoin="Enrolment.student_user_id == StudentProfile.user_id",
                           foreign_keys="Enrolment.student_user_id", lazy="joined", viewonly=True)


class ClassTransition(Base):
    """Each workflow step of a class, who took it and why (CLS-1)."""

    __tablename__ = "class_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    actor_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
