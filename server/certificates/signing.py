"""The certificate's electronic seal (CERT-1): Ed25519 over the canonical JSON of its fields.

Certificates are sealed with their institution's key (sealkeys.py); older ones with the platform key
(recorder/signing.py). The key id (first 16 hex digits of the SHA-256 of the public key) is stored
with each certificate and is itself sealed; the verifier looks the key up by it (sealkeys.trusted_for).
Verification never trusts the stored payload: it rebuilds the canonical JSON from the stored columns,
so changing any of them in the database breaks the signature. :func:`envelope` is the signed data as
embedded in the certificate PDF, so the file can be checked on its own against the published keys.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timezone

from models.certificates import Certificate
from recorder.signing import PlatformKey, PublicKey, canonical

VERSION = 2  # v2 seals the printed masked ID number too; v1 certificates keep verifying as sealed
ENVELOPE_VERSION = 1
CHECK_CODE_LEN = 8
ENVELOPE_FORMAT = "qihang-certificate"


def sealed_version(c: Certificate) -> int:
    """The seal version a certificate was sealed with (new ones: :data:`VERSION`). Read from its stored
    payload only to choose which fields to rebuild — the rebuilt payload must still equal it."""
    if not c.payload:
        return VERSION
    try:
        v = json.loads(c.payload).get("v")
    except (ValueError, AttributeError):
        return VERSION
    return v if v in (1, 2) else VERSION


def certificate_data(c: Certificate) -> dict:
    """What the seal covers: every printed and archived field (CERT-1, CERT-4), not the revocation state."""
    v = sealed_version(c)
    data = {
        "v": v, "number": c.number, "scope_key": c.scope_key, "series": c.series, "serial": c.serial,
        "class_id": c.class_id, "student_id": c.student_user_id, "student_name": c.student_name,
        "course_type": c.course_type, "course_name": c.course_name, "class_hours": c.class_hours,
        "start_date": c.start_date.isoformat(), "end_date": c.end_date.isoformat(),
        "institution_id": c.institution_id, "institution_name": c.institution_name,
        "district_code": c.district_code, "profile": c.profile,
        "issued_at": c.issued_at.astimezone(timezone.utc).isoformat(), "issued_by": c.issued_by,
        "key_id": c.key_id,
    }
    if v >= 2:
        data["student_id_masked"] = c.student_id_masked
    return data


def canonical_payload(c: Certificate) -> str:
    return canonical(certificate_data(c)).decode("utf-8")


def seal(c: Certificate, key: PlatformKey) -> None:
    """Fill ``key_id``, ``payload`` and ``signature`` of a certificate whose other fields are set."""
    c.key_id = key.public.id
    c.payload = canonical_payload(c)
    c.signature = base64.b64encode(key.sign(c.payload.encode("utf-8"))).decode()


def check(c: Certificate, trusted: PublicKey | None) -> str | None:
    """None when the stored fields carry a valid seal by ``trusted``; otherwise why not (English, short)."""
    if trusted is None:
        return f"no known seal key {c.key_id} for this institution"
    if c.key_id != trusted.id:
        return f"sealed by another key ({c.key_id})"
    try:
        sig = base64.b64decode(c.signature or "", validate=True)
    except ValueError:
        return "signature is not base64"
    payload = canonical_payload(c)
    if payload != c.payload:
        return "stored fields differ from the signed payload"
    return None if trusted.verify(sig, payload.encode("utf-8")) else "signature does not match the content"


def envelope(c: Certificate, public_key_hex: str) -> dict:
    """The signed data embedded in the PDF: the sealed payload exactly as signed, its signature and key."""
    return {"format": ENVELOPE_FORMAT, "v": ENVELOPE_VERSION, "alg": "Ed25519", "key_id": c.key_id,
            "public_key": public_key_hex, "payload": c.payload, "signature": c.signature}


def check_envelope(env: dict, trusted: PublicKey | None) -> str | None:
    """None when the envelope's payload carries a valid signature by ``trusted``; otherwise why not."""
    if trusted is None:
        return "sealed by an unknown key"
    payload, sig = env.get("payload"), env.get("signature")
    if not isinstance(payload, str) or not isinstance(sig, str):
        return "no payload or signature"
    try:
        raw = base64.b64decode(sig, validate=True)
    except ValueError:
        return "signature is not base64"
    if not trusted.verify(raw, payload.encode("utf-8")):
        return "signature does not match the content"
    return None


def check_code(secret: bytes, number: str) -> str:
    """The short code printed with the number (and in the QR link), so numbers cannot be enumerated:
    the first 8 characters of the base32 of HMAC-SHA256(secret, number)."""
    mac = hmac.new(secret, b"qihang-certificate-check\x00" + number.encode(), hashlib.sha256).digest()
    return base64.b32encode(mac).decode()[:CHECK_CODE_LEN]


def check_code_matches(secret: bytes, number: str, given: str | None) -> bool:
    """Constant-time, case-insensitive; any junk (non-ASCII included) is simply a mismatch."""
    if not given:
        return False
    return hmac.compare_digest(check_code(secret, number).encode(), given.strip().upper().encode("utf-8"))
