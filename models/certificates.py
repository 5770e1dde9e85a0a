"""Numbered electronic certificates (CERT-1..4): serial counters and signed certificate rows.

The platform assigns every number (CERT-3). Serials come from :class:`CertificateCounter`, one row per
numbering scope (``district:150104`` for Hohhot, CERT-2) and series (class year-month + course code),
incremented inside the issuing transaction under a row lock, so a rolled-back issuance leaves no gap
(server/certificates/numbering.py). The unique number is the last guard against duplicates.
A certificate's fields are a snapshot signed with Ed25519 (server/certificates/signing.py); changing any
of them afterwards makes verification fail. Only ``status`` / ``revoked_*`` may change (revocation).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

CERTIFICATE_STATUSES = ("valid", "revoked")


class CertificateCounter(Base):
    """The last serial handed out in one scope and series (CERT-2: 旗县区就业服务中心编制顺序号)."""

    __tablename__ = "certificate_counters"
    __table_args__ = (UniqueConstraint("scope_key", "series"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope_key: Mapped[str] = mapped_column(String(64))  # e.g. "district:150104", "profile:beijing"
    series: Mapped[str] = mapped_column(String(32))  # e.g. "202303WLC": the serial restarts per series
    last_serial: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Certificate(Base):
    """One student's certificate for one class (CERT-1), issued and archived by its issuer (CERT-4)."""

    __tablename__ = "certificates"
    __table_args__ = (UniqueConstraint("class_id", "student_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # CERT-2/3, never typed by hand
    scope_key: Mapped[str] = mapped_column(String(64))
    series: Mapped[str] = mapped_column(String(32))
    serial: Mapped[int] = mapped_column()
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    student_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    student_name: Mapped[str] = mapped_column(String(50))  # snapshot: the name printed on the certificate
    student_id_masked: Mapped[str | None] = mapped_column(String(32))  # snapshot, printed and sealed (seal v2)
    course_type: Mapped[str] = mapped_column(String(32))
    course_name: Mapped[str] = mapped_column(String(100))
    class_hours: Mapped[int] = mapped_column()
    start_date: Mapped[date] = mapped_column()
    end_date: Mapped[date] = mapped_column()
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    institution_name: Mapped[str] = mapped_column(String(200))  # snapshot
    district_code: Mapped[str] = mapped_column(String(6), index=True)
    profile: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column()
    issued_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON that was signed
    signature: Mapped[str] = mapped_column(String(128))  # base64 Ed25519 signature over payload
    key_id: Mapped[str] = mapped_column(String(16))  # recorder.signing.key_id of the sealing key
    status: Mapped[str] = mapped_column(String(16), default="valid", index=True)
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)
