"""Enrolled face templates (ATT-1/2, PLAT-3): the 128-d descriptor of a student's reference photo.

A face descriptor is biometric personal information, so it is stored encrypted with the master
key (AES-256-GCM, bound to the row's purpose), like resident ID numbers. One row per source: the
1-inch reference photo at registration, and once the ID-card photo.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class FaceTemplate(Base):
    __tablename__ = "face_templates"
    __table_args__ = (UniqueConstraint("user_id", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # "reference" | "id_card"
    model: Mapped[str] = mapped_column(String(32))  # which descriptor: templates of another model do not compare
    template_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    photo_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
