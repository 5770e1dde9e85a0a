"""Public verification of a certificate (CERT-1): validity without personal data.

The verifier is anyone holding the paper or the QR link: number plus check code (signing.check_code).
A wrong or missing check code answers exactly like an unknown number, so numbers cannot be walked
into names. Only non-personal facts are shown: course, hours, dates, institution, the masked name.
A row whose sealed fields were changed answers ``invalid`` and shows nothing of its content.
"""
from __future__ import annotations

from models.certificates import Certificate
from recorder.signing import PublicKey
from server.certificates import signing
from server.identity.contact import mask_name
from server.services import CHINA_TZ


def verify_url(secret: bytes, number: str) -> str:
    """The link printed as the QR code: the public page (client_web/verify.html at /verify)."""
    return f"/verify?n={number}&c={signing.check_code(secret, number)}"


def public_view(cert: Certificate, trusted: PublicKey | None, issuer_zh: str | None = None) -> dict:
    """valid / revoked / invalid, with what a stranger may see."""
    problem = signing.check(cert, trusted)
    if problem is not None:
        return {"number": cert.number, "status": "invalid", "valid": False, "rule": "CERT-1",
                "message_zh": "证书数据校验失败，可能被篡改，请联系发证机构",
                "message_en": "The certificate fails verification (it may have been altered); contact the issuer"}
    revoked = cert.status == "revoked"
    return {
        "number": cert.number, "status": cert.status, "valid": not revoked, "rule": "CERT-1",
        "holder": mask_name(cert.student_name), "course_type": cert.course_type, "course_name": cert.course_name,
        "class_hours": cert.class_hours, "start_date": cert.start_date.isoformat(),
        "end_date": cert.end_date.isoformat(), "institution_name": cert.institution_name,
        "issued_on": cert.issued_at.astimezone(CHINA_TZ).date().isoformat(), "issuer_zh": issuer_zh,
        "key_id": cert.key_id,
        "revoked_on": cert.revoked_at.astimezone(CHINA_TZ).date().isoformat() if revoked and cert.revoked_at else None,
        "message_zh": "证书已被撤销" if revoked else "证书真实有效",
        "message_en": "The certificate has been revoked" if revoked else "The certificate is genuine and valid",
    }
