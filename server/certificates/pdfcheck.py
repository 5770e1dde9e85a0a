"""Checking a certificate PDF on its own (CERT-1): its embedded signed data against the seal keys and the register.

The PDF carries ``certificate.json`` (signing.envelope) as an uncompressed embedded file, so it is
found without a PDF library: the ASCII JSON object that starts with the envelope's format marker,
up to the stream's end. The answer is ``valid``, ``revoked`` or ``tampered`` with a reason code; it
names no person (the verification page shows the masked name, not this check).
"""
from __future__ import annotations

import json
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.certificates import Certificate
from recorder.signing import PublicKey
from server.certificates import sealkeys, signing
from server.services import CHINA_TZ

MARKER = b'{"alg": "Ed25519", "format": "' + signing.ENVELOPE_FORMAT.encode() + b'"'
_END = re.compile(rb"\s*endstream")
MAX_ID = 2**31 - 1

REASONS = {
    "unsigned_key": ("证书由未知的签章密钥签署", "Sealed by a key that is not this institution's or the platform's"),
    "bad_signature": ("证书数据与电子签章不符，已被篡改", "The signed data does not match its seal: it was altered"),
    "key_mismatch": ("证书数据中的密钥编号与签章不符", "The key id inside the data differs from the seal's"),
    "not_registered": ("证书编号不在发证登记中", "No certificate with this number is on the register"),
    "differs_from_register": ("证书数据与发证登记不一致", "The certificate differs from the register's record"),
    "register_invalid": ("发证登记中的记录校验失败，请联系发证机构",
                         "The register's record fails its own seal check; contact the issuer"),
}


def extract_envelope(pdf: bytes) -> dict | None:
    """The embedded signed data, or None when the file carries none (or it is not JSON)."""
    start = pdf.find(MARKER)
    if start < 0:
        return None
    end = _END.search(pdf, start)
    if end is None:
        return None
    try:
        doc = json.loads(pdf[start:end.start()].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == signing.ENVELOPE_FORMAT else None


def _tampered(reason: str, number: str | None = None) -> dict:
    zh, en = REASONS[reason]
    return {"status": "tampered", "valid": False, "reason": reason, "number": number, "rule": "CERT-1",
            "message_zh": zh, "message_en": en}


def check_pdf_envelope(s: Session, env: dict, platform: PublicKey | None) -> dict:
    """valid / revoked / tampered for an envelope whose payload parsed (the caller checked the format)."""
    data = json.loads(env["payload"])
    number = data.get("number") if isinstance(data.get("number"), str) else None
    inst = data.get("institution_id")
    key_id = env.get("key_id") if isinstance(env.get("key_id"), str) else ""
    if type(inst) is not int or not 0 < inst <= MAX_ID or not 0 < len(key_id) <= 16 \
            or (number is not None and len(number) > 40):  # junk a forger wrote: no such key or row
        return _tampered("unsigned_key", number if number and len(number) <= 40 else None)
    trusted = sealkeys.trusted_for(s, key_id=key_id, institution_id=inst, platform=platform)
    if trusted is None:
        return _tampered("unsigned_key", number)
    if signing.check_envelope(env, trusted) is not None:
        return _tampered("bad_signature", number)
    if data.get("key_id") != key_id:
        return _tampered("key_mismatch", number)
    cert = s.scalars(select(Certificate).where(Certificate.number == number)).one_or_none() if number else None
    if cert is None:
        return _tampered("not_registered", number)
    if signing.check(cert, sealkeys.trusted_for_cert(s, cert, platform)) is not None:
        return _tampered("register_invalid", number)
    if cert.payload != env["payload"] or cert.signature != env["signature"]:
        return _tampered("differs_from_register", number)
    revoked = cert.status == "revoked"
    return {"status": "revoked" if revoked else "valid", "valid": not revoked, "reason": None,
            "number": cert.number, "key_id": cert.key_id, "rule": "CERT-1",
            "course_type": cert.course_type, "class_hours": cert.class_hours,
            "institution_name": cert.institution_name,
            "issued_on": cert.issued_at.astimezone(CHINA_TZ).date().isoformat(),
            "revoked_on": (cert.revoked_at.astimezone(CHINA_TZ).date().isoformat()
                           if revoked and cert.revoked_at else None),
            "message_zh": "证书已被撤销" if revoked else "证书文件真实有效",
            "message_en": ("The certificate has been revoked" if revoked
                           else "The certificate file is genuine and valid")}


def payload_ok(env: dict) -> bool:
    """The envelope has a JSON-object payload and a signature string (else the file is unreadable)."""
    if not isinstance(env.get("payload"), str) or not isinstance(env.get("signature"), str):
        return False
    try:
        return isinstance(json.loads(env["payload"]), dict)
    except ValueError:
        return False
