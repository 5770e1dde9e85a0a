"""Numbered, sealed electronic certificates (CERT-1..4).

* ``POST /api/classes/{id}/certificates`` — the class's institution admin issues certificates to
  students of a finished class; numbers come from the platform only (CERT-3), serials per the profile's
  scope (CERT-2), each sealed with Ed25519 and audited (CERT-4 谁发证、谁负责).
* ``GET /api/classes/{id}/certificates`` — the class's staff, supervisors of its region, platform admins:
  the certificates with their seal check and verification link.
* ``POST /api/certificates/{id}/revoke`` — the issuing institution's admin or a platform admin; audited.
* ``GET /api/public/certificates/{number}?c=CODE`` — no login: valid / revoked / invalid with no
  personal data beyond a masked name; a wrong check code answers as an unknown number (404).
* ``GET /api/certificates/{id}/pdf`` — the certificate PDF (seal, QR to the verification page, the
  signed data embedded): the student themself, the class's staff, supervisors of its region, platform
  admins; a revoked one still downloads, marked 已撤销 REVOKED. Others get 404.
* ``GET /api/me/certificates`` — a student's own certificates with their download links.
* ``POST /api/public/certificates/check-pdf`` — no login: a certificate PDF (raw ``application/pdf``
  body) → valid / revoked / tampered with a reason; no personal data.
* ``GET /api/public/seal-keys`` — no login: every institution's seal public keys (current and retired)
  and the platform key that sealed older certificates, to check a PDF offline.
* ``POST /api/institutions/{id}/seal-keys`` — the institution's admin or a platform admin creates or
  rotates its seal key (the old one is retired, never deleted); audited.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import Field
from sqlalchemy import select

from starlette.responses import Response

from models import Institution, TrainingClass
from models.certificates import Certificate
from models.sealkeys import SealKey
from server.api.common import get_class, get_institution
from server.api.endpoint import Api, Ctx
from server.auth.scope import can_see_class
from server.certificates import document, issuing, pdfcheck, sealkeys, signing
from server.certificates.verify import public_view, verify_url
from server.errors import ApiError, NotFound
from server.requestbody import body_chunks
from server.services import CHINA_TZ
from server.validation import Body, Query

api = Api()
MAX_ID = 2**31 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
READERS = ("platform_admin", "institution_admin", "lecturer", "assistant", "supervisor")
MAX_PDF_BYTES = 5 * 1024 * 1024  # a certificate PDF is well under 1 MB
DEFAULT_BASE_URL = "http://127.0.0.1:8000"  # Settings.base_url when QIHANG_BASE_URL is not set


class IssueBody(Body):
    student_ids: list[DbId] = Field(min_length=1, max_length=500)


class RevokeBody(Body):
    reason: str = Field(min_length=1, max_length=500)


class CheckQuery(Query):
    c: str = Field(default="", max_length=32)


class SealKeysQuery(Query):
    institution_id: DbId | None = None


def _platform(svc):
    """The platform key's public half: it sealed certificates issued before institution keys (read from
    its file or setting on each use — a small read, and no state kept on the services)."""
    from recorder.signing import load_platform_key
    return load_platform_key(svc.settings).public


def _trusted(ctx: Ctx, c: Certificate):
    """The key ``c`` must verify against: its institution's key with its key id, or the platform key."""
    return sealkeys.trusted_for_cert(ctx.s, c, _platform(ctx.svc))


def _base_url(ctx: Ctx) -> str:
    """Where the public verification page lives, for the absolute QR link: the configured
    ``QIHANG_BASE_URL`` when one is set, else the address this request came in on."""
    configured = (ctx.svc.settings.base_url or "").rstrip("/")
    if configured and configured != DEFAULT_BASE_URL:
        return configured
    return str(ctx.request.base_url).rstrip("/")


def _issuer_zh(ctx: Ctx, c: Certificate) -> str | None:
    profile = ctx.svc.profiles.get(c.profile)
    return getattr(getattr(profile, "certificate", None), "issuer_zh", None) if profile else None


def cert_dict(ctx: Ctx, c: Certificate) -> dict:
    problem = signing.check(c, _trusted(ctx, c))
    return {
        "id": c.id, "number": c.number, "serial": c.serial, "class_id": c.class_id, "student_id": c.student_user_id,
        "student_name": c.student_name, "course_type": c.course_type, "course_name": c.course_name,
        "class_hours": c.class_hours, "start_date": c.start_date.isoformat(), "end_date": c.end_date.isoformat(),
        "institution_id": c.institution_id, "institution_name": c.institution_name,
        "issued_at": c.issued_at.astimezone(CHINA_TZ).isoformat(), "issued_by": c.issued_by, "key_id": c.key_id,
        "signature": c.signature, "status": c.status, "seal_ok": problem is None, "seal_problem": problem,
        "revoked_at": c.revoked_at.astimezone(CHINA_TZ).isoformat() if c.revoked_at else None,
        "revoke_reason": c.revoke_reason, "check_code": signing.check_code(ctx.svc.settings.secret_key, c.number),
        "verify_url": verify_url(ctx.svc.settings.secret_key, c.number), "pdf_url": f"/api/certificates/{c.id}/pdf",
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
                          key=_seal_key(ctx, cls.institution_id), now=ctx.now)
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
    return public_view(cert, _trusted(ctx, cert), _issuer_zh(ctx, cert))


def _seal_key(ctx: Ctx, institution_id: int):
    """The institution's current seal key; its first issuance creates it (audited, CERT-4)."""
    if sealkeys.current_row(ctx.s, institution_id) is None:
        if not ctx.svc.settings.is_sqlite:  # two first issuances at once: the second waits, then uses this key
            ctx.s.get(Institution, institution_id, with_for_update=True, populate_existing=True)
            if sealkeys.current_row(ctx.s, institution_id) is not None:
                return sealkeys.current_key(ctx.s, ctx.svc.cipher, institution_id, by=ctx.user.id, now=ctx.now)
        row, key = sealkeys.create(ctx.s, ctx.svc.cipher, institution_id, by=ctx.user.id, now=ctx.now)
        ctx.audit("seal_key.create", target_type="seal_key", target_id=row.key_id, institution_id=institution_id,
                  key_id=row.key_id, generation=row.generation, rule="CERT-1")
        return key
    return sealkeys.current_key(ctx.s, ctx.svc.cipher, institution_id, by=ctx.user.id, now=ctx.now)


# --------------------------------------------------------------------------- PDF and the student's list

def _readable_cert(ctx: Ctx, cert_id: int) -> Certificate:
    """The certificate if the caller may download it: its holder, or who may see its class; else 404."""
    cert = ctx.s.get(Certificate, cert_id) if 0 < cert_id <= MAX_ID else None
    if cert is not None:
        if ctx.user.role == "student":
            if cert.student_user_id == ctx.user.id:
                return cert
        elif can_see_class(ctx.user, ctx.s.get(TrainingClass, cert.class_id)):
            return cert
    raise NotFound("证书", "certificate")


@api.route("GET", "/api/certificates/{cert_id:int}/pdf", summary="下载证书 PDF Download the certificate PDF",
           tag="certificates", roles=("student",) + READERS)
def certificate_pdf(ctx: Ctx, cert_id: int):
    """CERT-1: the sealed certificate PDF with its verification QR; revoked ones are marked 已撤销 REVOKED."""
    cert = _readable_cert(ctx, cert_id)
    data = document.render(ctx.s, cert, secret=ctx.svc.settings.secret_key, base_url=_base_url(ctx),
                           issuer_zh=_issuer_zh(ctx, cert), platform=_platform(ctx.svc))
    if ctx.user.id != cert.student_user_id:
        ctx.audit("certificate.download", target_type="certificate", target_id=cert.id,
                  institution_id=cert.institution_id, region_code=cert.district_code, number=cert.number,
                  rule="CERT-4")
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="certificate-{cert.number}.pdf"',
        "Cache-Control": "private, no-store"})


@api.route("GET", "/api/me/certificates", summary="我的证书 My certificates", tag="certificates",
           roles=("student",))
def my_certificates(ctx: Ctx):
    """CERT-1: the student's certificates, newest first, each with its PDF and verification links."""
    secret = ctx.svc.settings.secret_key
    rows = ctx.s.scalars(select(Certificate).where(Certificate.student_user_id == ctx.user.id)
                         .order_by(Certificate.issued_at.desc(), Certificate.id.desc()))
    return {"certificates": [{
        "id": c.id, "number": c.number, "class_id": c.class_id, "course_type": c.course_type,
        "course_name": c.course_name, "class_hours": c.class_hours, "start_date": c.start_date.isoformat(),
        "end_date": c.end_date.isoformat(),
        "institution_name": c.institution_name, "issued_on": c.issued_at.astimezone(CHINA_TZ).date().isoformat(),
        "status": c.status,
        "revoked_on": c.revoked_at.astimezone(CHINA_TZ).date().isoformat() if c.revoked_at else None,
        "check_code": signing.check_code(secret, c.number), "verify_url": verify_url(secret, c.number),
        "pdf_url": f"/api/certificates/{c.id}/pdf"} for c in rows]}


# --------------------------------------------------------------------------- checking a PDF, public keys

def _pdf_too_large(limit: int) -> ApiError:
    return ApiError("CERT_PDF_TOO_LARGE", f"证书文件超过 {limit // (1024 * 1024)} MB 上限",
                    f"The file exceeds the {limit // (1024 * 1024)} MB limit", field="file", status=413,
                    rule="CERT-1")


@api.route("POST", "/api/public/certificates/check-pdf", summary="查验证书 PDF 文件 Check a certificate PDF",
           tag="certificates", public=True)
def check_certificate_pdf(ctx: Ctx):
    """CERT-1: a certificate PDF (raw application/pdf body) → valid / revoked / tampered, no personal data."""
    ctype = ctx.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/pdf", "application/octet-stream"):
        raise ApiError("UNSUPPORTED_MEDIA_TYPE", "请以 application/pdf 上传证书 PDF 文件",
                       "Send the certificate PDF as application/pdf", field="Content-Type", status=415, rule="CERT-1")
    data = b"".join(body_chunks(ctx.request, MAX_PDF_BYTES, _pdf_too_large))
    if not data.startswith(b"%PDF-"):
        raise ApiError("CERT_PDF_NOT_PDF", "上传的文件不是 PDF", "The file is not a PDF", field="file", status=422,
                       rule="CERT-1")
    env = pdfcheck.extract_envelope(data)
    if env is None or not pdfcheck.payload_ok(env):
        raise ApiError("CERT_PDF_NO_SEAL_DATA", "该 PDF 中没有启航电子证书的签章数据",
                       "The PDF carries no Qihang certificate seal data", field="file", status=422, rule="CERT-1")
    return pdfcheck.check_pdf_envelope(ctx.s, env, _platform(ctx.svc))


@api.route("GET", "/api/public/seal-keys", summary="电子签章公钥 Seal public keys", tag="certificates",
           public=True, query=SealKeysQuery)
def seal_keys(ctx: Ctx, query: SealKeysQuery):
    """CERT-1: the institutions' seal public keys (current and retired) and the platform key, to check
    a certificate PDF's embedded signature offline."""
    q = select(SealKey, Institution.name).join(Institution, Institution.id == SealKey.institution_id)
    if query.institution_id is not None:
        q = q.where(SealKey.institution_id == query.institution_id)
    rows = ctx.s.execute(q.order_by(SealKey.institution_id, SealKey.generation)).all()
    platform = _platform(ctx.svc)
    return {"alg": sealkeys.ALG, "keys": [sealkeys.public_dict(row, name) for row, name in rows],
            "platform_key": {"key_id": platform.id, "public_key": platform.hex, "alg": sealkeys.ALG,
                             "note_zh": "早期证书由平台密钥签章",
                             "note_en": "Older certificates were sealed with the platform key"}}


@api.route("POST", "/api/institutions/{institution_id:int}/seal-keys",
           summary="创建或更换机构电子签章密钥 Create or rotate the institution's seal key", tag="certificates",
           roles=("institution_admin", "platform_admin"), status=201)
def rotate_seal_key(ctx: Ctx, institution_id: int):
    """CERT-1/4: a new current seal key; the previous one is retired and kept so its certificates verify."""
    inst = get_institution(ctx, institution_id) if 0 < institution_id <= MAX_ID else None
    if inst is None or (ctx.user.role != "platform_admin" and ctx.user.institution_id != inst.id):
        raise NotFound("机构", "institution")
    if not ctx.svc.settings.is_sqlite:
        ctx.s.refresh(inst, with_for_update=True)  # one rotation at a time per institution
    row, _ = sealkeys.create(ctx.s, ctx.svc.cipher, inst.id, by=ctx.user.id, now=ctx.now)
    ctx.audit("seal_key.rotate", target_type="seal_key", target_id=row.key_id, institution_id=inst.id,
              region_code=inst.region_code, key_id=row.key_id, generation=row.generation, rule="CERT-1")
    return sealkeys.public_dict(row, inst.name)
