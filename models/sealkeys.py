"""Per-institution electronic seal keys (CERT-1).

Each institution seals its certificates with its own Ed25519 key (谁发证、谁负责, CERT-4). The private
seed is stored only encrypted with the service's field cipher (PLAT-3), bound to the key's row, so a
copied ciphertext does not open elsewhere. Keys are never deleted: a rotated key is marked retired and
stays here, so certificates it sealed still verify. ``generation`` counts an institution's keys; the
unique (institution, generation) pair makes two concurrent first issuances collide instead of
creating two current keys.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class SealKey(Base):
    """One institution seal key; the current one is the highest generation that is not retired."""

    __tablename__ = "seal_keys"
    __table_args__ = (UniqueConstraint("institution_id", "generation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    generation: Mapped[int] = mapped_column()
    key_id: Mapped[str] = mapped_column(String(16), unique=True)  # recorder.signing.key_id of the public key
    public_key: Mapped[str] = mapped_column(String(64))  # raw Ed25519 public key, hex
    seed_encrypted: Mapped[bytes] = mapped_column(LargeBinary)  # FieldCipher, context seal_keys.seed:<key_id>
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    retired_at: Mapped[datetime | None] = mapped_column()
