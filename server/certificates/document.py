"""A certificate's PDF from its database row (CERT-1): what is printed, the QR link and the embedded seal.

Only the masked ID number is printed (student_profiles.id_masked, REG-1/PLAT-3: first 4 and last 4,
snapshotted and sealed at issue since seal v2),
never the decrypted one. The QR link is absolute: ``{base}/verify?n=NUMBER&c=CODE``.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from models import StudentProfile
from models.certificates import Certificate
from recorder.signing import PublicKey
from server.certificates import sealkeys, signing
from server.certificates.verify import verify_url
from server.documents.certificatepdf import Printed, certificate_pdf
from server.services import CHINA_TZ


def absolute_verify_url(base_url: str, secret: bytes, number: str) -> str:
    return base_url.rstrip("/") + verify_url(secret, number)


def render(s: Session, cert: Certificate, *, secret: bytes, base_url: str, issuer_zh: str | None,
           platform: PublicKey | None) -> bytes:
    """The certificate PDF; a revoked certificate renders crossed out (已撤销 REVOKED)."""
    if signing.sealed_version(cert) >= 2:  # the masked ID as sealed at issue
        id_masked = cert.student_id_masked
    else:  # a v1 certificate sealed no ID: print the registration's current masked ID
        profile = s.get(StudentProfile, cert.student_user_id)
        id_masked = profile.id_masked if profile else None
    trusted = sealkeys.trusted_for_cert(s, cert, platform)
    printed = Printed(
        number=cert.number, check_code=signing.check_code(secret, cert.number), student_name=cert.student_name,
        id_masked=id_masked, course_name=cert.course_name,
        course_type=cert.course_type, class_hours=cert.class_hours, start_date=cert.start_date,
        end_date=cert.end_date, institution_name=cert.institution_name, issuer_zh=issuer_zh,
        issued_on=cert.issued_at.astimezone(CHINA_TZ).date(), key_id=cert.key_id, signature=cert.signature,
        verify_url=absolute_verify_url(base_url, secret, cert.number),
        revoked_on=cert.revoked_at.astimezone(CHINA_TZ).date() if cert.status == "revoked" and cert.revoked_at
        else None)
    return certificate_pdf(printed, signing.envelope(cert, trusted.hex if trusted else ""))
