"""Institution seal keys (CERT-1, CERT-4 谁发证、谁负责): create, rotate, find the key that sealed a certificate.

An institution's first issuance creates its key (or an admin creates / rotates it in advance). The
private seed is kept only encrypted by the service's field cipher (PLAT-3), with the key id as the
authenticated context. Retired keys stay, so what they sealed keeps verifying; certificates sealed
before institution keys existed carry the platform key's id (recorder/signing.py) and are checked
against it.
"""
from __future__ import annotations

import os
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.certificates import Certificate
from models.sealkeys import SealKey
from recorder.signing import PlatformKey, PublicKey

ALG = "Ed25519"


def _context(key_id: str) -> str:
    return f"seal_keys.seed:{key_id}"


def current_row(s: Session, institution_id: int) -> SealKey | None:
    """The institution's current key row: its highest generation, unless that one is retired."""
    row = s.scalars(select(SealKey).where(SealKey.institution_id == institution_id)
                    .order_by(SealKey.generation.desc()).limit(1)).one_or_none()
    return row if row is not None and row.retired_at is None else None


def private_key(cipher, row: SealKey) -> PlatformKey:
    """Decrypt a row's seed; the resulting key must match the stored public key."""
    key = PlatformKey(cipher.decrypt(row.seed_encrypted, context=_context(row.key_id)))
    if key.public.hex != row.public_key:
        raise ValueError(f"seal key {row.key_id}: the decrypted seed does not match its public key")
    return key


def create(s: Session, cipher, institution_id: int, *, by: int | None, now: datetime) -> tuple[SealKey, PlatformKey]:
    """A new current key for the institution; the previous one (if any) is retired, not deleted."""
    last = s.scalar(select(func.max(SealKey.generation)).where(SealKey.institution_id == institution_id)) or 0
    for old in s.scalars(select(SealKey).where(SealKey.institution_id == institution_id,
                                               SealKey.retired_at.is_(None))):
        old.retired_at = now
    seed = os.urandom(32)
    key = PlatformKey(seed)
    row = SealKey(institution_id=institution_id, generation=last + 1, key_id=key.public.id,
                  public_key=key.public.hex, seed_encrypted=cipher.encrypt(seed, context=_context(key.public.id)),
                  created_at=now, created_by=by)
    s.add(row)
    s.flush()
    return row, key


def current_key(s: Session, cipher, institution_id: int, *, by: int | None, now: datetime) -> PlatformKey:
    """The key to seal with now: the institution's current key, created on first use."""
    row = current_row(s, institution_id)
    if row is None:
        return create(s, cipher, institution_id, by=by, now=now)[1]
    return private_key(cipher, row)


def trusted_for(s: Session, *, key_id: str, institution_id: int, platform: PublicKey | None) -> PublicKey | None:
    """The public key a certificate of ``institution_id`` claiming ``key_id`` is checked against: one of
    that institution's keys (current or retired), or the platform key for older certificates; else None."""
    if platform is not None and key_id == platform.id:
        return platform
    row = s.scalars(select(SealKey).where(SealKey.key_id == key_id,
                                          SealKey.institution_id == institution_id)).one_or_none()
    return PublicKey.from_hex(row.public_key) if row is not None else None


def trusted_for_cert(s: Session, cert: Certificate, platform: PublicKey | None) -> PublicKey | None:
    return trusted_for(s, key_id=cert.key_id, institution_id=cert.institution_id, platform=platform)


def public_dict(row: SealKey, institution_name: str | None = None) -> dict:
    """What anyone may know about a seal key to check a certificate offline (no secret)."""
    return {"institution_id": row.institution_id, "institution_name": institution_name, "alg": ALG,
            "key_id": row.key_id, "public_key": row.public_key, "generation": row.generation,
            "status": "retired" if row.retired_at else "current",
            "created_at": row.created_at.isoformat(),
            "retired_at": row.retired_at.isoformat() if row.retired_at else None}
