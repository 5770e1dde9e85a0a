"""Subsidy rosters and business-success evidence (SUB-1..4, REG-4).

* :class:`BusinessEvidence` — proof, uploaded after training, that a trainee runs a business (licence
  or online shop); verified by the institution admin, it may earn the SUB-1 success supplement.
* :class:`SubsidyFlagClearance` — a supervisor's decision that a REG-4 duplicate does not bar the
  student from this class's claim, with the reason (audited).
* :class:`SubsidyClaim` — a submitted class claim: the roster frozen as submitted (snapshot), the
  masked public disclosure rows and window (SUB-3), and the encrypted application bundle (SUB-2).
  A class has at most one ``final`` claim and, where the profile pays one (Baotou SUB-4), one
  ``advance`` claim made after the online part, which the final claim then deducts.
* :class:`InstitutionBankAccount` — the account the subsidy is paid to (SUB-2).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

EVIDENCE_KINDS = ("business_licence", "online_shop")
EVIDENCE_STATUSES = ("submitted", "verified", "rejected")
FLAG_KINDS = ("year", "program")
CLAIM_STAGES = ("advance", "final")


class BusinessEvidence(Base):
    __tablename__ = "business_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    student_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # EVIDENCE_KINDS
    started_on: Mapped[date] = mapped_column()  # licence registration date or shop opening date
    monthly_sales_cny: Mapped[list] = mapped_column(JSON, default=list)  # online shop: one figure a month
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    status: Mapped[str] = mapped_column(String(16), default="submitted", index=True)
    submitted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column()
    review_note: Mapped[str | None] = mapped_column(Text)


class SubsidyFlagClearance(Base):
    __tablename__ = "subsidy_flag_clearances"
    __table_args__ = (UniqueConstraint("class_id", "student_user_id", "other_class_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    student_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    other_class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    kind: Mapped[str] = mapped_column(String(16))  # FLAG_KINDS
    reason: Mapped[str] = mapped_column(Text)
    cleared_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    cleared_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubsidyClaim(Base):
    __tablename__ = "subsidy_claims"
    __table_args__ = (UniqueConstraint("class_id", "stage", name="uq_subsidy_claims_class_stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    stage: Mapped[str] = mapped_column(String(16), default="final")  # CLAIM_STAGES: one claim of each per class
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    district_code: Mapped[str] = mapped_column(String(6), index=True)
    profile: Mapped[str] = mapped_column(String(32))
    submitted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    snapshot: Mapped[dict] = mapped_column(JSON)  # the roster and totals as submitted (frozen)
    disclosure: Mapped[list] = mapped_column(JSON)  # masked public rows (SUB-3)
    disclosure_token: Mapped[str] = mapped_column(String(32), unique=True)
    disclosure_starts_on: Mapped[date] = mapped_column()
    disclosure_ends_on: Mapped[date] = mapped_column()
    total_cny: Mapped[int] = mapped_column()
    bundle_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))


class InstitutionBankAccount(Base):
    __tablename__ = "institution_bank_accounts"

    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), primary_key=True)
    account_name: Mapped[str] = mapped_column(String(200))  # 户名
    bank_name: Mapped[str] = mapped_column(String(200))  # 开户行
    account_number: Mapped[str] = mapped_column(String(40))  # 账号
    updated_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
