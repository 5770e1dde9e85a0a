"""Real-name student profiles (REG-1/2/3) and lecturer certificates (CLS-2)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow


class StudentProfile(Base):
    __tablename__ = "student_profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    real_name: Mapped[str] = mapped_column(String(50))
    # The ID number is stored only encrypted (PLAT-3); ``id_index`` is a keyed HMAC of it, so
    # one person has one account and REG-4 can be checked across institutions.
    id_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    id_index: Mapped[str] = mapped_column(String(64), unique=True)
    id_masked: Mapped[str] = mapped_column(String(18))
    birth_date: Mapped[date] = mapped_column()
    gender: Mapped[str] = mapped_column(String(1))
    mobile: Mapped[str] = mapped_column(String(11))
    household_registration: Mapped[str] = mapped_column(String(200))  # 户籍所在地
    target_group: Mapped[str] = mapped_column(String(32))  # REG-3
    graduation_year: Mapped[int | None] = mapped_column()
    business_registered_on: Mapped[date | None] = mapped_column()
    evidence_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))
    id_front_file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    id_back_file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    reference_photo_file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    registered_via_institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user = relationship("User", lazy="joined")


LECTURER_CERTIFICATE_KINDS = ("syb", "network", "beijing_basic", "elite")


class LecturerProfile(Base):
    __tablename__ = "lecturer_profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    certificate_no: Mapped[str] = mapped_column(String(64))
    certificate_kind: Mapped[str] = mapped_column(String(32))
    issuer: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[date] = mapped_column()
    valid_until: Mapped[date] = mapped_column()

    user = relationship("User", lazy="joined")

    def valid_through(self, first: date, last: date) -> bool:
        return self.valid_from <= first and last <= self.valid_until
