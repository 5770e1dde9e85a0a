"""Subsidy rosters (SUB-1..4, REG-4).

* ``POST /api/classes/{id}/subsidy/evidence`` (multipart: ``kind``, ``started_on``, ``monthly_sales``,
  ``file``, and ``student_id`` when an institution admin uploads for a student) — business-success
  evidence after the training (SUB-1 supplements); ``GET`` the same path lists it (a student sees own).
* ``GET /api/subsidy/evidence/{id}/file`` — the evidence file (its student, the class's institution
  admin, supervisors of the region, platform admins).
* ``POST /api/subsidy/evidence/{id}/review`` — the class's institution admin verifies or rejects it.
* ``GET /api/classes/{id}/subsidy/roster[?format=csv|xlsx]`` — every enrolled student with eligibility,
  amount, reason, REG-4 flags, advance split (SUB-4) and totals.
* ``POST /api/classes/{id}/subsidy/flags/clear`` — a supervisor of the class's region clears a REG-4
  flag for this class's claim, with a reason (audited).
* ``GET|PUT /api/institutions/{id}/bank-account`` — the account the subsidy is paid to (SUB-2).
* ``POST /api/classes/{id}/subsidy/claim`` — the institution admin submits the claim: the roster is
  frozen, the masked disclosure published (SUB-3) and the application bundle built (SUB-2).
  ``GET`` the same path shows the frozen claim.
* ``GET /api/classes/{id}/subsidy/claim/bundle`` — the zip archive (institution admin, supervisors).
* ``GET /api/public/subsidy-disclosures[/{token}]`` — no login: rosters under disclosure, masked.
"""
from __future__ import annotations

import re
import secrets
from datetime import date
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy import select
from starlette.responses import Response

from models import Enrolment, Institution, StoredFile, TrainingClass
from models.subsidies import (EVIDENCE_KINDS, BusinessEvidence, InstitutionBankAccount,
                              SubsidyClaim, SubsidyFlagClearance)
from server.api.common import get_class, get_institution
from server.api.endpoint import Api, Ctx, Upload
from server.auth.scope import can_see_class, region_covers
from server.errors import ApiError, NotFound
from server.export import Column, attachment, columns_json, render, safe_filename
from server.services import CHINA_TZ
from server.subsidies import advance, bundle, disclosure, duplicates, evidence, roster
from server.validation import Body, Query
from server.workdays import WorkdayCalendar

api = Api()
TAG = "subsidies"
MAX_ID = 2**31 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
ROSTER_READERS = ("platform_admin", "institution_admin", "supervisor")
EVIDENCE_FIELDS = {
    "kind": "类型 business_licence（营业执照）| online_shop（网店） Kind",
    "started_on": "营业执照登记日期或网店开办日期 YYYY-MM-DD Registration / opening date",
    "monthly_sales": "网店月销售额（元），逗号分隔 Monthly shop sales in CNY, comma-separated",
    "student_id": "学员ID（机构管理员代传时必填） Student ID, when an institution admin uploads",
    "file": "证明文件 JPEG/PNG/PDF ≤ 10 MB Evidence file",
}
ROSTER_COLUMNS = tuple(Column(*c) for c in roster.ROSTER_COLUMNS_SPEC)
CLAIMABLE_STATUSES = ("finished", "archived")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{8,32}$")


class ReviewBody(Body):
    action: Literal["verify", "reject"]
    note: str | None = Field(default=None, max_length=500)


class ClearBody(Body):
    student_id: DbId
    other_class_id: DbId
    kind: Literal["year", "program"]
    reason: str = Field(min_length=2, max_length=500)


class BankBody(Body):
    account_name: str = Field(min_length=2, max_length=200)
    bank_name: str = Field(min_length=2, max_length=200)
    account_number: str = Field(pattern=r"^[0-9][0-9 ]{7,38}[0-9]$")


class RosterQuery(Query):
    format: Literal["json", "csv", "xlsx"] = "json"


def _class(ctx: Ctx, class_id: int, *, for_update: bool = False) -> TrainingClass:
    if not 0 < class_id <= MAX_ID:
        raise NotFound("班期", "class")
    return get_class(ctx, class_id, for_update=for_update)


def _unprocessable(code: str, zh: str, en: str, *, field: str | None = None, rule: str = "SUB-1",
                   status: int = 422) -> ApiError:
    return ApiError(code, zh, en, field=field, status=status, rule=rule)


def _calendar(ctx: Ctx) -> WorkdayCalendar:
    from models import CalendarOverride
    return WorkdayCalendar({o.day: o.is_workday for o in ctx.s.query(CalendarOverride)})


def _profile(ctx: Ctx, cls: TrainingClass):
    """The class's profile and course rule; a class bound to a profile or course this deployment does not
    carry is refused plainly rather than failing half-way."""
    profile = ctx.svc.profiles.get(cls.profile)
    if profile is None or cls.course_type not in profile.courses:
        raise _unprocessable("PROFILE_UNKNOWN", f"班期的政策配置 {cls.profile}/{cls.course_type} 不存在",
                             f"The class's policy profile {cls.profile}/{cls.course_type} is not configured")
    return profile, profile.course(cls.course_type)


def _stage_claim(ctx: Ctx, cls: TrainingClass, stage: str) -> SubsidyClaim | None:
    return ctx.s.scalars(select(SubsidyClaim).where(SubsidyClaim.class_id == cls.id,
                                                    SubsidyClaim.stage == stage)).one_or_none()


def _build_roster(ctx: Ctx, cls: TrainingClass) -> dict:
    _profile(ctx, cls)
    paid = _stage_claim(ctx, cls, "advance")
    return roster.build(ctx.s, cls, ctx.svc.profiles, now=ctx.now, today=ctx.today,
                        can_see=lambda other: can_see_class(ctx.user, other),
                        advanced=advance.advanced_by_student(paid.snapshot) if paid is not None else None)


# --- business-success evidence (SUB-1) ---------------------------------------------------------------

def _form_text(form: dict, name: str, *, required: bool, max_len: int = 400) -> str | None:
    value = form.get(name)
    if isinstance(value, Upload):
        raise _unprocessable("VALIDATION_FAILED", f"字段 {name} 应为文本", f"Field {name} must be text", field=name)
    value = (value or "").strip()
    if not value:
        if required:
            raise _unprocessable("VALIDATION_FAILED", f"缺少必填字段：{name}", f"Missing required field: {name}",
                                 field=name)
        return None
    if len(value) > max_len:
        raise _unprocessable("VALIDATION_FAILED", f"字段 {name} 过长", f"Field {name} is too long", field=name)
    return value


def _parse_sales(raw: str | None) -> list[int]:
    if raw is None:
        return []
    parts = [p.strip() for p in re.split(r"[,，\s]+", raw) if p.strip()]
    if len(parts) > 36 or not all(re.fullmatch(r"\d{1,9}", p) for p in parts):
        raise _unprocessable("SALES_FORMAT", "月销售额须为不超过 36 个的非负整数（元），以逗号分隔",
                             "monthly_sales must be up to 36 non-negative whole CNY amounts, comma-separated",
                             field="monthly_sales")
    return [int(p) for p in parts]


def _evidence_student(ctx: Ctx, form: dict, cls: TrainingClass) -> int:
    raw = _form_text(form, "student_id", required=ctx.user.role != "student", max_len=12)
    if ctx.user.role == "student":
        if raw is not None and raw != str(ctx.user.id):
            raise ApiError("FORBIDDEN", "学员只能为本人上传", "A student uploads only their own evidence",
                           field="student_id", status=403)
        sid = ctx.user.id
    else:
        if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
            raise _unprocessable("VALIDATION_FAILED", "student_id 应为正整数", "student_id must be a positive integer",
                                 field="student_id")
        sid = int(raw)
    enrolled = ctx.s.scalars(select(Enrolment.id).where(Enrolment.class_id == cls.id, Enrolment.student_user_id == sid,
                                                        Enrolment.status.in_(("enrolled", "completed")))).first()
    if enrolled is None:
        if ctx.user.role == "student":
            raise NotFound("班期", "class")
        raise _unprocessable("NOT_ENROLLED", "该学员不在本班", "The student is not on this class's roster",
                             field="student_id")
    return sid


def _evidence_class(ctx: Ctx, class_id: int) -> TrainingClass:
    if ctx.user.role == "student":
        cls = ctx.s.get(TrainingClass, class_id) if 0 < class_id <= MAX_ID else None
        if cls is None:
            raise NotFound("班期", "class")
        return cls
    cls = _class(ctx, class_id)
    if ctx.user.role == "institution_admin" and ctx.user.institution_id != cls.institution_id:
        raise NotFound("班期", "class")
    return cls


@api.route("POST", "/api/classes/{class_id:int}/subsidy/evidence", summary="上传成功创业证明 Upload business evidence",
           tag=TAG, roles=("student", "institution_admin"), body="multipart", status=201,
           multipart_fields=EVIDENCE_FIELDS)
def upload_evidence(ctx: Ctx, form: dict, class_id: int):
    """SUB-1: after training, a licence or online shop with its file; checked by the institution admin."""
    cls = _evidence_class(ctx, class_id)
    sid = _evidence_student(ctx, form, cls)
    end = roster.last_end(ctx.s, cls.id)
    if end is None or end > ctx.now:
        raise _unprocessable("TRAINING_NOT_FINISHED", "培训结束后才能上传成功创业证明",
                             "Business evidence is uploaded after the training has ended")
    kind = _form_text(form, "kind", required=True, max_len=24)
    if kind not in EVIDENCE_KINDS:
        raise _unprocessable("EVIDENCE_KIND", "类型须为 business_licence（营业执照）或 online_shop（网店）",
                             "kind must be business_licence or online_shop", field="kind")
    raw_day = _form_text(form, "started_on", required=True, max_len=10)
    try:
        started_on = date.fromisoformat(raw_day)
    except ValueError:
        raise _unprocessable("DATE_FORMAT", "日期格式应为 YYYY-MM-DD", "started_on must be YYYY-MM-DD", field="started_on")
    if started_on > ctx.today:
        raise _unprocessable("DATE_IN_FUTURE", "日期不能晚于今天", "started_on cannot be in the future", field="started_on")
    sales = _parse_sales(_form_text(form, "monthly_sales", required=False, max_len=600))
    if kind == "online_shop" and not sales:
        raise _unprocessable("SALES_REQUIRED", "网店须填写月销售额", "An online shop needs its monthly sales figures",
                             field="monthly_sales")
    if kind == "business_licence" and sales:
        raise _unprocessable("SALES_NOT_EXPECTED", "营业执照无需填写网店月销售额",
                             "monthly_sales belongs to online shops only", field="monthly_sales")
    upload = form.get("file")
    if not isinstance(upload, Upload) or not upload.data:
        raise _unprocessable("VALIDATION_FAILED", "缺少必填字段：file", "Missing required field: file", field="file")
    data, content_type = evidence.check_file(upload.data)
    stored = ctx.svc.files.save_bytes(ctx.s, data, kind="business_evidence", content_type=content_type,
                                      owner_user_id=sid, institution_id=cls.institution_id)
    ev = BusinessEvidence(class_id=cls.id, student_user_id=sid, kind=kind, started_on=started_on,
                          monthly_sales_cny=sales, file_id=stored.id, status="submitted", submitted_by=ctx.user.id,
                          submitted_at=ctx.now)
    ctx.s.add(ev)
    ctx.s.flush()
    ctx.audit("subsidy.evidence.upload", target_type="business_evidence", target_id=ev.id,
              institution_id=cls.institution_id, region_code=cls.district_code, class_id=cls.id, student_id=sid,
              kind=kind, rule="SUB-1")
    profile, course = _profile(ctx, cls)
    out = roster.evidence_view(ev, profile, course, roster.first_day(ctx.s, cls.id), ctx.today)
    out["supplement_applies"] = evidence.supplement_applies(course)
    return out


@api.route("GET", "/api/classes/{class_id:int}/subsidy/evidence", summary="成功创业证明 Business evidence",
           tag=TAG, roles=("student", "institution_admin", "supervisor", "platform_admin"))
def list_evidence(ctx: Ctx, class_id: int):
    cls = _evidence_class(ctx, class_id)
    q = select(BusinessEvidence).where(BusinessEvidence.class_id == cls.id).order_by(BusinessEvidence.id)
    if ctx.user.role == "student":
        if ctx.s.scalars(select(Enrolment.id).where(Enrolment.class_id == cls.id,
                                                    Enrolment.student_user_id == ctx.user.id)).first() is None:
            raise NotFound("班期", "class")
        q = q.where(BusinessEvidence.student_user_id == ctx.user.id)
    profile, course = _profile(ctx, cls)
    first = roster.first_day(ctx.s, cls.id)
    return {"class_id": cls.id, "supplement_applies": evidence.supplement_applies(course),
            "items": [roster.evidence_view(ev, profile, course, first, ctx.today) for ev in ctx.s.scalars(q)]}


def _evidence(ctx: Ctx, evidence_id: int) -> tuple[BusinessEvidence, TrainingClass]:
    ev = ctx.s.get(BusinessEvidence, evidence_id) if 0 < evidence_id <= MAX_ID else None
    cls = ctx.s.get(TrainingClass, ev.class_id) if ev else None
    if ev is None or cls is None:
        raise NotFound("证明材料", "evidence")
    role = ctx.user.role
    allowed = (role == "student" and ev.student_user_id == ctx.user.id) or \
              (role == "institution_admin" and ctx.user.institution_id == cls.institution_id) or \
              (role in ("supervisor", "platform_admin") and can_see_class(ctx.user, cls))
    if not allowed:
        raise NotFound("证明材料", "evidence")
    return ev, cls


@api.route("GET", "/api/subsidy/evidence/{evidence_id:int}/file", summary="证明文件 Evidence file", tag=TAG,
           roles=("student", "institution_admin", "supervisor", "platform_admin"))
def evidence_file(ctx: Ctx, evidence_id: int):
    ev, cls = _evidence(ctx, evidence_id)
    row = ctx.s.get(StoredFile, ev.file_id)
    ctx.audit("subsidy.evidence.read", target_type="business_evidence", target_id=ev.id,
              institution_id=cls.institution_id, region_code=cls.district_code, rule="PLAT-3")
    return Response(ctx.svc.files.read(row), media_type=row.content_type,
                    headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
                             "Content-Disposition": "inline"})


@api.route("POST", "/api/subsidy/evidence/{evidence_id:int}/review", summary="审核成功创业证明 Review evidence",
           tag=TAG, roles=("institution_admin",), body=ReviewBody)
def review_evidence(ctx: Ctx, body: ReviewBody, evidence_id: int):
    """SUB-1: the institution admin checks the file against the figures; only verified evidence counts."""
    ev, cls = _evidence(ctx, evidence_id)
    if ctx.s.scalars(select(SubsidyClaim.id).where(SubsidyClaim.class_id == cls.id)).first():
        raise _unprocessable("CLAIM_SUBMITTED", "补贴已申报，不能再更改证明审核结果",
                             "The claim has been submitted; evidence reviews are frozen", status=409)
    if ev.status != "submitted":
        raise _unprocessable("ALREADY_REVIEWED", "该证明已审核", "This evidence has already been reviewed", status=409)
    if body.action == "reject" and not body.note:
        raise _unprocessable("NOTE_REQUIRED", "驳回须说明原因", "A rejection needs a note", field="note")
    ev.status = "verified" if body.action == "verify" else "rejected"
    ev.reviewed_by, ev.reviewed_at, ev.review_note = ctx.user.id, ctx.now, body.note
    ctx.audit(f"subsidy.evidence.{ev.status}", target_type="business_evidence", target_id=ev.id,
              institution_id=cls.institution_id, region_code=cls.district_code, student_id=ev.student_user_id,
              note=body.note, rule="SUB-1")
    profile, course = _profile(ctx, cls)
    return roster.evidence_view(ev, profile, course, roster.first_day(ctx.s, cls.id), ctx.today)


# --- roster, REG-4 flags ----------------------------------------------------------------------------

def _roster_class(ctx: Ctx, class_id: int, *, for_update: bool = False) -> TrainingClass:
    cls = _class(ctx, class_id, for_update=for_update)
    if ctx.user.role == "institution_admin" and ctx.user.institution_id != cls.institution_id:
        raise NotFound("班期", "class")
    return cls


@api.route("GET", "/api/classes/{class_id:int}/subsidy/roster", summary="补贴花名册 Subsidy roster", tag=TAG,
           roles=ROSTER_READERS, query=RosterQuery)
def get_roster(ctx: Ctx, query: RosterQuery, class_id: int):
    """SUB-1/SUB-4/REG-4: amounts under the profile, reasons for every 0, duplicates, advance split."""
    cls = _roster_class(ctx, class_id)
    data = _build_roster(ctx, cls)
    claim = _stage_claim(ctx, cls, "final")
    if query.format == "json":
        data["columns"] = columns_json(ROSTER_COLUMNS)
        data["claim"] = _claim_summary(ctx, claim) if claim else None
        return data
    out, media_type = render(data["items"], ROSTER_COLUMNS, query.format, title="补贴花名册")
    ctx.audit("subsidy.roster.export", target_type="class", target_id=cls.id, institution_id=cls.institution_id,
              region_code=cls.district_code, format=query.format, rows=len(data["items"]), rule="PLAT-3")
    day = ctx.today.isoformat()
    return attachment(out, media_type, safe_filename(f"补贴花名册-{cls.name}-{day}", query.format),
                      safe_filename(f"subsidy-roster-{cls.id}-{day}", query.format))


@api.route("POST", "/api/classes/{class_id:int}/subsidy/flags/clear", summary="核销重复参训标记 Clear a REG-4 flag",
           tag=TAG, roles=("supervisor",), body=ClearBody)
def clear_flag(ctx: Ctx, body: ClearBody, class_id: int):
    """REG-4: a supervisor of the class's region decides the student may be claimed for in this class."""
    cls = _class(ctx, class_id)
    if not region_covers(ctx.user, cls.district_code):
        raise NotFound("班期", "class")
    profile, _ = _profile(ctx, cls)
    flags = duplicates.class_flags(ctx.s, cls, profile).get(body.student_id, [])
    flag = next((f for f in flags if f.other_class_id == body.other_class_id and f.kind == body.kind), None)
    if flag is None:
        raise _unprocessable("FLAG_NOT_FOUND", "该学员在本班没有此重复参训标记",
                             "No such REG-4 flag for this student in this class", field="other_class_id", rule="REG-4",
                             status=404)
    if flag.cleared:
        raise _unprocessable("FLAG_ALREADY_CLEARED", "该标记已核销", "This flag has already been cleared", rule="REG-4",
                             status=409)
    if ctx.s.scalars(select(SubsidyClaim.id).where(SubsidyClaim.class_id == cls.id)).first():
        raise _unprocessable("CLAIM_SUBMITTED", "补贴已申报，花名册已冻结", "The claim is submitted; the roster is frozen",
                             rule="REG-4", status=409)
    row = SubsidyFlagClearance(class_id=cls.id, student_user_id=body.student_id, other_class_id=body.other_class_id,
                               kind=body.kind, reason=body.reason, cleared_by=ctx.user.id, cleared_at=ctx.now)
    ctx.s.add(row)
    ctx.s.flush()
    ctx.audit("subsidy.flag.clear", target_type="class", target_id=cls.id, institution_id=cls.institution_id,
              region_code=cls.district_code, student_id=body.student_id, other_class_id=body.other_class_id,
              kind=body.kind, reason=body.reason, rule="REG-4")
    return {"class_id": cls.id, "student_id": body.student_id, "other_class_id": body.other_class_id,
            "kind": body.kind, "cleared": True, "reason": body.reason}


# --- bank account (SUB-2) ---------------------------------------------------------------------------

def _bank_dict(b: InstitutionBankAccount | None) -> dict | None:
    if b is None:
        return None
    return {"institution_id": b.institution_id, "account_name": b.account_name, "bank_name": b.bank_name,
            "account_number": b.account_number}


@api.route("GET", "/api/institutions/{institution_id:int}/bank-account", summary="补贴收款账户 Bank account",
           tag=TAG, roles=("institution_admin", "supervisor", "platform_admin"))
def get_bank(ctx: Ctx, institution_id: int):
    if not 0 < institution_id <= MAX_ID:
        raise NotFound("机构", "institution")
    inst = get_institution(ctx, institution_id)
    return {"bank_account": _bank_dict(ctx.s.get(InstitutionBankAccount, inst.id))}


@api.route("PUT", "/api/institutions/{institution_id:int}/bank-account", summary="设置补贴收款账户 Set bank account",
           tag=TAG, roles=("institution_admin", "platform_admin"), body=BankBody)
def put_bank(ctx: Ctx, body: BankBody, institution_id: int):
    """SUB-2: the institution's own account; only its admin (or a platform admin) sets it, audited."""
    if not 0 < institution_id <= MAX_ID:
        raise NotFound("机构", "institution")
    inst = get_institution(ctx, institution_id)
    if ctx.user.role == "institution_admin" and ctx.user.institution_id != inst.id:
        raise NotFound("机构", "institution")
    row = ctx.s.get(InstitutionBankAccount, inst.id)
    if row is None:
        row = InstitutionBankAccount(institution_id=inst.id)
        ctx.s.add(row)
    row.account_name, row.bank_name = body.account_name, body.bank_name
    row.account_number = body.account_number.replace(" ", "")
    row.updated_by, row.updated_at = ctx.user.id, ctx.now
    ctx.s.flush()
    ctx.audit("subsidy.bank_account.set", target_type="institution", target_id=inst.id, institution_id=inst.id,
              region_code=inst.region_code, rule="SUB-2")
    return {"bank_account": _bank_dict(row)}


# --- claim: freeze, disclose, bundle (SUB-2, SUB-3) -------------------------------------------------

def _claim_summary(ctx: Ctx, c: SubsidyClaim) -> dict:
    return {"id": c.id, "class_id": c.class_id, "stage": c.stage, "submitted_at": c.submitted_at.astimezone(CHINA_TZ).isoformat(),
            "total_cny": c.total_cny, "totals": c.snapshot.get("totals"),
            "disclosure": {"token": c.disclosure_token, "starts_on": c.disclosure_starts_on.isoformat(),
                           "ends_on": c.disclosure_ends_on.isoformat(),
                           "status": disclosure.status(c.disclosure_starts_on, c.disclosure_ends_on, ctx.today),
                           "url": f"/api/public/subsidy-disclosures/{c.disclosure_token}"},
            "has_bundle": c.bundle_file_id is not None}


@api.route("POST", "/api/classes/{class_id:int}/subsidy/claim", summary="提交补贴申报 Submit the subsidy claim",
           tag=TAG, roles=("institution_admin",), status=201)
def submit_claim(ctx: Ctx, class_id: int):
    """SUB-2/SUB-3: freeze the roster, publish the masked disclosure, build and store the bundle."""
    cls = _roster_class(ctx, class_id, for_update=True)
    if _stage_claim(ctx, cls, "final") is not None:
        raise _unprocessable("CLAIM_ALREADY_SUBMITTED", "本班补贴已申报", "This class's claim is already submitted",
                             rule="SUB-2", status=409)
    if not cls.subsidised:
        raise _unprocessable("CLASS_NOT_SUBSIDISED", "本班不是补贴性培训班", "The class is not subsidised")
    if cls.status not in CLAIMABLE_STATUSES:
        raise _unprocessable("CLASS_NOT_FINISHED", "班期结业后才能申报补贴", "Claims are made after the class has finished",
                             rule="SUB-2")
    bank = ctx.s.get(InstitutionBankAccount, cls.institution_id)
    if bank is None:
        raise _unprocessable("BANK_ACCOUNT_MISSING", "请先设置机构补贴收款账户",
                             "Set the institution's bank account first", rule="SUB-2")
    data = _build_roster(ctx, cls)
    t = data["totals"]
    profile = ctx.svc.profiles.get(cls.profile)
    if t["amount_unknown"]:
        raise _amount_unknown(profile, cls)
    if not t["claimed"]:
        raise _unprocessable("NOTHING_TO_CLAIM", "没有可申领补贴的学员", "No student qualifies for the subsidy")
    archive = bundle.build(ctx.s, ctx.svc, cls, data, _bank_dict(bank), submitted_at=ctx.now)
    return _file_claim(ctx, cls, profile, "final", data, data["items"], t["total_cny"], archive, "SUB-2")


def _amount_unknown(profile, cls: TrainingClass) -> ApiError:
    return _unprocessable("AMOUNT_UNKNOWN",
                          f"地区政策“{profile.name_zh}”未设置该课程补贴标准，无法申报；请在部署目录的政策文件中补充",
                          f"Profile {profile.key} sets no subsidy amount for {cls.course_type}; add it to the "
                          f"deployment's profile file before claiming")


def _file_claim(ctx: Ctx, cls: TrainingClass, profile, stage: str, data: dict, public: list[dict], total: int,
                archive: bytes, rule: str) -> dict:
    """Freeze ``data`` as the ``stage`` claim: store its bundle, open the masked disclosure of the
    ``public`` rows (SUB-3) for the profile's working days, audit it."""
    stored = ctx.svc.files.save_bytes(ctx.s, archive, kind="subsidy_bundle", content_type="application/zip",
                                      institution_id=cls.institution_id)
    w = disclosure.window(_calendar(ctx), ctx.today, profile.public_disclosure_workdays)
    claim = SubsidyClaim(class_id=cls.id, stage=stage, institution_id=cls.institution_id,
                         district_code=cls.district_code, profile=cls.profile, submitted_by=ctx.user.id,
                         submitted_at=ctx.now, snapshot={k: v for k, v in data.items() if k != "columns"},
                         disclosure=disclosure.public_rows(public, data["course_name"]),
                         disclosure_token=secrets.token_urlsafe(16)[:22], disclosure_starts_on=w.starts_on,
                         disclosure_ends_on=w.ends_on, total_cny=total, bundle_file_id=stored.id)
    ctx.s.add(claim)
    ctx.s.flush()
    ctx.audit("subsidy.claim.submit" if stage == "final" else f"subsidy.{stage}.submit", target_type="class",
              target_id=cls.id, institution_id=cls.institution_id, region_code=cls.district_code, claim_id=claim.id,
              total_cny=total, claimed=data["totals"]["claimed"], bundle_sha256=stored.sha256, rule=rule)
    return _claim_summary(ctx, claim)


def _claim(ctx: Ctx, class_id: int, stage: str = "final") -> tuple[SubsidyClaim, TrainingClass]:
    cls = _roster_class(ctx, class_id)
    claim = _stage_claim(ctx, cls, stage)
    if claim is None:
        raise NotFound("补贴申报", "claim")
    return claim, cls


@api.route("GET", "/api/classes/{class_id:int}/subsidy/claim", summary="补贴申报（冻结） Submitted claim", tag=TAG,
           roles=ROSTER_READERS)
def get_claim(ctx: Ctx, class_id: int):
    claim, _ = _claim(ctx, class_id)
    return dict(_claim_summary(ctx, claim), snapshot=claim.snapshot)


@api.route("GET", "/api/classes/{class_id:int}/subsidy/claim/bundle", summary="申报材料包 Application bundle",
           tag=TAG, roles=ROSTER_READERS)
def get_bundle(ctx: Ctx, class_id: int):
    """SUB-2: the zip archive; personal data inside, so every download is audited."""
    return _bundle_download(ctx, *_claim(ctx, class_id))


def _bundle_download(ctx: Ctx, claim: SubsidyClaim, cls: TrainingClass):
    row = ctx.s.get(StoredFile, claim.bundle_file_id) if claim.bundle_file_id else None
    if row is None:
        raise NotFound("申报材料包", "bundle")
    ctx.audit("subsidy.bundle.download", target_type="class", target_id=cls.id, institution_id=cls.institution_id,
              region_code=cls.district_code, claim_id=claim.id, stage=claim.stage, rule="PLAT-3")
    prefix, stem = ("线上预拨申报材料", "subsidy-advance-bundle") if claim.stage == "advance" else \
        ("补贴申报材料", "subsidy-bundle")
    return attachment(ctx.svc.files.read(row), "application/zip", safe_filename(f"{prefix}-{cls.name}", "zip"),
                      f"{stem}-{cls.id}.zip")


# --- SUB-4 advance after the online part (server/subsidies/advance.py) ---------------------------------

def _advance_roster(ctx: Ctx, cls: TrainingClass) -> dict:
    _profile(ctx, cls)
    return advance.build(ctx.s, cls, ctx.svc.profiles, now=ctx.now,
                         can_see=lambda other: can_see_class(ctx.user, other))


@api.route("GET", "/api/classes/{class_id:int}/subsidy/advance", summary="线上预拨花名册 Advance roster (SUB-4)",
           tag=TAG, roles=ROSTER_READERS, query=RosterQuery)
def get_advance(ctx: Ctx, query: RosterQuery, class_id: int):
    """SUB-4: each trainee's online study share, whether it earns the advance and how much; the online
    part's progress; the advance claim once made."""
    cls = _roster_class(ctx, class_id)
    data = _advance_roster(ctx, cls)
    if query.format != "json":
        out, media_type = render(data["items"], advance.ADVANCE_COLUMNS, query.format, title="线上预拨花名册")
        ctx.audit("subsidy.advance.export", target_type="class", target_id=cls.id, institution_id=cls.institution_id,
                  region_code=cls.district_code, format=query.format, rows=len(data["items"]), rule="PLAT-3")
        day = ctx.today.isoformat()
        return attachment(out, media_type, safe_filename(f"线上预拨花名册-{cls.name}-{day}", query.format),
                          safe_filename(f"subsidy-advance-{cls.id}-{day}", query.format))
    claim = _stage_claim(ctx, cls, "advance")
    data["columns"] = columns_json(advance.ADVANCE_COLUMNS)
    data["claim"] = _claim_summary(ctx, claim) if claim else None
    return data


@api.route("POST", "/api/classes/{class_id:int}/subsidy/advance/claim", summary="提交线上预拨申报 Claim the advance",
           tag=TAG, roles=("institution_admin",), status=201)
def submit_advance(ctx: Ctx, class_id: int):
    """SUB-4/SUB-3: after the online part, freeze the advance roster, disclose it masked, build its bundle."""
    cls = _roster_class(ctx, class_id, for_update=True)
    profile, _ = _profile(ctx, cls)
    if profile.advance_payment_share is None:
        raise _unprocessable("ADVANCE_NOT_IN_PROFILE", f"地区政策“{profile.name_zh}”不设线上预拨，结业后一次申报",
                             f"Profile {profile.key} pays no advance; claim once after the class", rule="SUB-4")
    if _stage_claim(ctx, cls, "advance") is not None:
        raise _unprocessable("ADVANCE_ALREADY_CLAIMED", "本班线上预拨已申报", "This class's advance is already claimed",
                             rule="SUB-4", status=409)
    if _stage_claim(ctx, cls, "final") is not None:
        raise _unprocessable("CLAIM_ALREADY_SUBMITTED", "本班补贴已整体申报，不再预拨",
                             "The whole claim is already submitted; there is no advance", rule="SUB-4", status=409)
    if not cls.subsidised:
        raise _unprocessable("CLASS_NOT_SUBSIDISED", "本班不是补贴性培训班", "The class is not subsidised")
    if cls.status not in ("open", "in_progress") + CLAIMABLE_STATUSES:
        raise _unprocessable("CLASS_NOT_OPEN", f"班期状态为 {cls.status}，未开班不能申报", f"The class is {cls.status}",
                             rule="SUB-4")
    data = _advance_roster(ctx, cls)
    online = data["online"]
    if not online["done"]:
        raise ApiError("ONLINE_PART_NOT_DONE",
                       f"线上课程尚未全部结束（已结束 {online['ended']} / {online['lessons']} 课次），结束后方可申请预拨",
                       f"The online part is not over ({online['ended']} of {online['lessons']} lessons ended)",
                       status=422, rule="SUB-4", details=online)
    bank = ctx.s.get(InstitutionBankAccount, cls.institution_id)
    if bank is None:
        raise _unprocessable("BANK_ACCOUNT_MISSING", "请先设置机构补贴收款账户",
                             "Set the institution's bank account first", rule="SUB-2")
    t = data["totals"]
    if t["amount_unknown"]:
        raise _amount_unknown(profile, cls)
    if not t["claimed"]:
        raise _unprocessable("NOTHING_TO_CLAIM", "没有线上学时达标的学员，无可预拨", "No trainee qualifies for the advance",
                             rule="SUB-4")
    from server.documents import attendancedata, attendancepdf
    report = attendancepdf.render(attendancedata.attendance_report(ctx.s, cls.id, ctx.svc.profiles, ctx.now))
    members = advance.bundle_members(ctx.s, cls, data, _bank_dict(bank), report, ctx.now)
    archive = bundle.archive(members, {"class_id": cls.id, "class_name": cls.name, "institution_id": cls.institution_id,
                                       "stage": "advance", "submitted_at": ctx.now.astimezone(CHINA_TZ).isoformat(),
                                       "totals": t})
    public = [dict(r, amount_cny=r["advance_cny"]) for r in data["items"]]  # the public sees what is advanced
    return _file_claim(ctx, cls, profile, "advance", data, public, t["advance_cny"], archive, "SUB-4")


@api.route("GET", "/api/classes/{class_id:int}/subsidy/advance/claim", summary="线上预拨申报（冻结） Advance claim",
           tag=TAG, roles=ROSTER_READERS)
def get_advance_claim(ctx: Ctx, class_id: int):
    claim, _ = _claim(ctx, class_id, "advance")
    return dict(_claim_summary(ctx, claim), snapshot=claim.snapshot)


@api.route("GET", "/api/classes/{class_id:int}/subsidy/advance/claim/bundle",
           summary="线上预拨申报材料包 Advance bundle", tag=TAG, roles=ROSTER_READERS)
def get_advance_bundle(ctx: Ctx, class_id: int):
    return _bundle_download(ctx, *_claim(ctx, class_id, "advance"))


# --- public disclosure (SUB-3) ----------------------------------------------------------------------

def _public_head(ctx: Ctx, c: SubsidyClaim, inst: Institution | None, cls: TrainingClass | None) -> dict:
    return {"token": c.disclosure_token, "institution_name": inst.name if inst else None,
            "class_name": cls.name if cls else None, "course_type": cls.course_type if cls else None,
            "starts_on": c.disclosure_starts_on.isoformat(), "ends_on": c.disclosure_ends_on.isoformat(),
            "status": disclosure.status(c.disclosure_starts_on, c.disclosure_ends_on, ctx.today),
            "students": len(c.disclosure), "total_cny": c.total_cny, "stage": c.stage}


@api.route("GET", "/api/public/subsidy-disclosures", summary="补贴公示列表 Subsidy disclosures", tag=TAG, public=True)
def list_disclosures(ctx: Ctx):
    """SUB-3: the rosters under disclosure today (no personal data in the list)."""
    today = ctx.today
    rows = ctx.s.execute(select(SubsidyClaim, Institution, TrainingClass)
                         .join(Institution, Institution.id == SubsidyClaim.institution_id)
                         .join(TrainingClass, TrainingClass.id == SubsidyClaim.class_id)
                         .where(SubsidyClaim.disclosure_starts_on <= today, SubsidyClaim.disclosure_ends_on >= today)
                         .order_by(SubsidyClaim.submitted_at.desc()).limit(200)).all()
    return {"items": [_public_head(ctx, c, inst, cls) for c, inst, cls in rows]}


@api.route("GET", "/api/public/subsidy-disclosures/{token}", summary="补贴公示 Subsidy disclosure", tag=TAG,
           public=True)
def get_disclosure(ctx: Ctx, token: str):
    """SUB-3: the masked rows as submitted, during the disclosure window only."""
    c = ctx.s.scalars(select(SubsidyClaim).where(SubsidyClaim.disclosure_token == token)).one_or_none() \
        if TOKEN_RE.match(token) else None
    if c is None:
        raise ApiError("DISCLOSURE_NOT_FOUND", "未找到该公示", "No such disclosure", status=404, rule="SUB-3")
    if disclosure.status(c.disclosure_starts_on, c.disclosure_ends_on, ctx.today) == "ended":
        raise ApiError("DISCLOSURE_ENDED", f"公示期已于 {c.disclosure_ends_on.isoformat()} 结束",
                       f"The disclosure period ended on {c.disclosure_ends_on.isoformat()}", status=410, rule="SUB-3")
    head = _public_head(ctx, c, ctx.s.get(Institution, c.institution_id), ctx.s.get(TrainingClass, c.class_id))
    return dict(head, items=c.disclosure)
