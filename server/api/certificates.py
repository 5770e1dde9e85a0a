"""Numbered, sealed electronic certificates (CERT-1..4).

* ``POST /api/classes/{id}/certificates`` — the class's institution admin issues certificates to
  students of a finished class; numbers come from the platform only (CERT-3), serials per the profile's
  scope (CERT-2), each sealed with Ed25519 and audited (CERT-4 谁发证、谁负责).
* ``GET /api/classes/{id}/certificates`` — the class's staff, supervisors of its region, platform admins:
  the certificates with their seal check and verification link.
* ``POST /api/certificates/{id}/revoke`` — the issuing institution's admin or a platform admin; audited.
* ``GET /api/public/certificates/{number}?c=CODE`` — no login: valid / revoked / invalid with no
  personal data beyond a masked name; a wrong check code answers as an unknown number (404).
"""
from __future__ import annotations

from typing import Annotated

from pydantic import Field
from sqlalchemy import select

from models.certificates import Certificate
from server.api.common import get_class
from server.api.endpoint import Api, Ctx
from server.certificates import issuing, signing
from server.certificates.verify import public_view, verify_url
from server.errors import ApiError, NotFound
from server.services import CHINA_TZ
from server.validation import Body, Query

api = Api()
MAX_ID = 2**31 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
READERS = ("platform_admin", "institution_admin", "lecturer", "assistant", "supervisor")


class IssueBody(Body):
    student_ids: list[DbId] = Field(min_length=1, max_length=500)


class RevokeBody(Body):
    reason: str = Field(min_length=1, max_length=500)


class CheckQuery(Query):
    c: str = Field(default="", max_length=32)


def _key(svc):
    """The sealing key (the platform key of recorder/signing.py stands in for the institution's seal;
    read from its file or setting on each use — a small read, and no state kept on the services)."""
    from recorder.signing import load_platform_key
    return load_platform_key(svc.settings)


def cert_dict(ctx: Ctx, c: Certificate) -> dict:
    problem = signing.check(c, _key(ctx.svc).public)
    return {
        "id": c.id, "number": c.number, "serial": c.serial, "class_id": c.class_id, "student_id": c.student_user_id,
        "student_name": c.student_name, "course_type": c.course_type, "course_name": c.course_name,
        "class_hours": c.class_hours, "start_date": c.start_date.isoformat(), "end_date": c.end_date.isoformat(),
        "institution_id": c.institution_id, "institution_name": c.institution_name,
        "issued_at": c.issued_at.astimezone(CHINA_TZ).isoformat(), "issued_by": c.issued_by, "key_id": c.key_id,
        "signature": c.signature, "status": c.status, "seal_ok": problem is None, "seal_problem": problem,
        "revoked_at": c.revoked_at.astimezone(CHINA_TZ).isoformat() if c.revoked_at else None,
        "revoke_reason": c.revoke_reason, "check_code": signing.check_code(ctx.svc.settings.secret_key, c.number),
        "verify_url": verify_url(ctx.svc.settings.secret_key, c.number),
    }


@api.route("POST", "/api/classes/{class_id:int}/certificates", summary="发放结业证书 Issue certificates",
           tag="certificates", roles=("institution_admin",), body=IssueBody, status=201)
def issue_certificates(ctx: Ctx, body: IssueBody, class_id: int):
    """CERT-1/2/3: platform-numbered, sealed certificates for students of a finished class; audited (CERT-4)."""
    if not 0 < class_id <= MAX_ID:
        raise NotFound("班期", "class")
    cls = get_class(ctx, class_id, for_update=True)
    profile = ctx.svc.profiles.get(cls.profile)
    certs = issuing.issue(ctx.s, cls=cls, student_ids=body.student_ids, issuer=ctx.user, profile=profile,
                          key=_key(ctx.svc), now=ctx.now)
    for c in certs:
        ctx.audit("certificate.issue", target_type="certificate", target_id=c.id, institution_id=c.institution_id,
                  region_code=c.district_code, number=c.number, class_id=c.class_id, student_id=c.student_user_id,
                  key_id=c.key_id, rule="CERT-4")
    return {"certificates": [cert_dict(ctx, c) for c in certs]}


@api.route("GET", "/api/classes/{class_id:int}/certificates", summary="班期证书 Class certificates",
           tag="certificates", roles=READERS)
def list_certificates(ctx: Ctx, class_id: int):
    """CERT-4: the class's issued certificates, each with its seal checked now."""
    if not 0 < class_id <= MAX_ID:
        raise NotFound("班期", "class")
    cls = get_class(ctx, class_id)
    rows = ctx.s.scalars(select(Certificate).where(Certificate.class_id == cls.id).order_by(Certificate.serial,
                                                                                           Certificate.id))
    return {"certificates": [cert_dict(ctx, c) for c in rows]}


@api.route("POST", "/api/certificates/{cert_id:int}/revoke", summary="撤销证书 Revoke a certificate",
           tag="certificates", roles=("institution_admin", "platform_admin"), body=RevokeBody)
def revoke_certificate(ctx: Ctx, body: RevokeBody, cert_id: int):
    """CERT-4: the issuing institution (or a platform admin) revokes; public verification shows it."""
    cert = ctx.s.get(Certificate, cert_id) if 0 < cert_id <= MAX_ID else None
    if cert is None or (ctx.user.role != "platform_admin" and ctx.user.institution_id != cert.institution_id):
        raise NotFound("证书", "certificate")
    if not ctx.svc.settings.is_sqlite:
        ctx.s.refresh(cert, with_for_update=True)
    issuing.revoke(cert, by=ctx.user, reason=body.reason, now=ctx.now)
    ctx.audit("certificate.revoke", target_type="certificate", target_id=cert.id, institution_id=cert.institution_id,
              region_code=cert.district_code, number=cert.number, reason=body.reason, rule="CERT-4")
    return cert_dict(ctx, cert)


@api.route("GET", "/api/public/certificates/{number}", summary="证书真伪查询 Verify a certificate",
           tag="certificates", public=True, query=CheckQuery)
def verify_certificate(ctx: Ctx, query: CheckQuery, number: str):
    """CERT-1: anyone with the number and its check code sees valid / revoked / invalid, no personal data."""
    cert = ctx.s.scalars(select(Certificate).where(Certificate.number == number[:40])).one_or_none()
    if cert is None or not signing.check_code_matches(ctx.svc.settings.secret_key, cert.number, query.c):
        raise ApiError("CERT_NOT_FOUND", "未找到该证书，请核对证书编号与校验码",
                       "No such certificate; check the number and the check code", field="number", status=404,
                       rule="CERT-1")
    profile = ctx.svc.profiles.get(cert.profile)
    return public_view(cert, _key(ctx.svc).public, profile.certificate.issuer_zh if profile else None)
