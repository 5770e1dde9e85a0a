"""Business plans / idea analyses (EXAM-2): file or form, expert review, resubmission, Beijing credit.

* ``POST /api/classes/{id}/business-plans/file`` — a student uploads a PDF or DOCX (field ``file``,
  10 MB; the bytes decide the type: 415 for anything else, 413 when too large, 422 when empty).
* ``POST /api/classes/{id}/business-plans/form`` — the structured form instead (project name, idea, market,
  team, finances, risks; network training WLC: practice results; elite camps may choose "strategy").
* ``GET /api/classes/{id}/business-plans`` — staff of the institution and supervisors of the region
  (SUP-3 readers): each student's newest plan and counts; a student: their own versions.
* ``GET /api/business-plans/{id}`` — one plan with the student's whole history (versions, verdicts).
* ``POST /api/business-plans/{id}/review`` — the class's lecturer or an institution admin (the expert):
  ``approved`` or ``rejected`` (needs revision, comment required). Approval records the profile's
  ``plan_credit_hours`` for the course (Beijing 4, others 0).
* ``GET /api/business-plans/{id}/file`` — the uploaded document (supervisor reads are audited).
The text of a form, or of a DOCX, is screened for sensitive content (LIVE-5).
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import quote

from pydantic import Field
from starlette.responses import Response

from models import StoredFile, TrainingClass, User
from models.coursework import BusinessPlan
from server.api.certificates import READERS
from server.api.common import get_class
from server.api.endpoint import Api, Ctx, Upload
from server.coursework import businessplans as bp
from server.coursework.homework import is_enrolled
from server.coursework.uploads import CONTENT_TYPES, MiB, check_file, docx_text, prepare, store
from server.errors import ApiError, NotFound
from server.screening.warnings import screen_upload
from server.services import CHINA_TZ
from server.validation import Body

api = Api()
RULE = bp.RULE
MAX_ID = 2**31 - 1
MAX_PLAN_BYTES = 10 * MiB
Text = Field(default=None, max_length=5000)


class PlanForm(Body):
    project_name: str = Field(min_length=1, max_length=200)
    plan_type: Literal["business_plan", "strategy"] = "business_plan"
    business_idea: str = Field(min_length=1, max_length=5000)
    market: str | None = Text
    team: str | None = Text
    finances: str | None = Text
    risks: str | None = Text
    practice_results: str | None = Text  # WLC: 网络创业实践成果 (required there)
    online_store: str | None = Field(default=None, max_length=500)  # WLC: shop / account address


class ReviewBody(Body):
    verdict: Literal["approved", "rejected"]
    comment: str | None = Field(default=None, max_length=5000)


def _cn(at: datetime | None) -> str | None:
    return at.astimezone(CHINA_TZ).isoformat() if at else None


def _id(i: int) -> None:
    if not 0 < i <= MAX_ID:
        raise NotFound()


def plan_dict(p: BusinessPlan, names: dict[int, str] | None = None) -> dict:
    names = names or {}
    return {"id": p.id, "class_id": p.class_id, "student_id": p.student_user_id,
            "student_name": names.get(p.student_user_id), "version": p.version, "course_type": p.course_type,
            "kind": p.kind, "file_id": p.file_id, "file_name": p.file_name, "file_type": p.file_type, "form": p.form,
            "status": p.status, "screening_held": p.screening_held, "submitted_at": _cn(p.submitted_at),
            "reviewed_by": p.reviewed_by, "reviewed_by_name": names.get(p.reviewed_by),
            "reviewer_role": p.reviewer_role, "reviewed_at": _cn(p.reviewed_at), "review_comment": p.review_comment,
            "credited_hours": p.credited_hours}


def _names(ctx: Ctx, ids) -> dict[int, str]:
    from sqlalchemy import select
    ids = {i for i in ids if i}
    return dict(ctx.s.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()) if ids else {}


def _class_for(ctx: Ctx, class_id: int) -> TrainingClass:
    _id(class_id)
    if ctx.user.role == "student":
        cls = ctx.s.get(TrainingClass, class_id)
        if cls is None or not is_enrolled(ctx.s, class_id, ctx.user.id):
            raise NotFound("班期", "class")
        return cls
    return get_class(ctx, class_id)


def _plan(ctx: Ctx, plan_id: int) -> tuple[BusinessPlan, TrainingClass]:
    _id(plan_id)
    p = ctx.s.get(BusinessPlan, plan_id)
    if p is None or (ctx.user.role == "student" and p.student_user_id != ctx.user.id):
        raise NotFound("创业计划书", "business plan")
    try:
        return p, _class_for(ctx, p.class_id)
    except NotFound:
        raise NotFound("创业计划书", "business plan") from None


def _screen(ctx: Ctx, cls: TrainingClass, text: str, version_hint: str) -> bool:
    if not text.strip():
        return False
    return screen_upload(ctx.s, text, now=ctx.now, class_id=cls.id, user_id=ctx.user.id,
                         context={"kind": "business_plan", "source": version_hint}).held


def _audit_submit(ctx: Ctx, cls: TrainingClass, p: BusinessPlan) -> None:
    ctx.audit("business_plan.submit", target_type="business_plan", target_id=p.id, institution_id=cls.institution_id,
              region_code=cls.district_code, class_id=cls.id, version=p.version, kind=p.kind, rule=RULE)


@api.route("POST", "/api/classes/{class_id:int}/business-plans/file", summary="上传创业计划书 Upload a business plan",
           tag="business-plans", roles=("student",), body="multipart", status=201,
           multipart_fields={"file": "PDF 或 DOCX，不超过 10 MB / PDF or DOCX up to 10 MB"})
def upload_plan(ctx: Ctx, form: dict, class_id: int):
    """EXAM-2: a PDF or DOCX (checked by its bytes); a new version after a rejection."""
    cls = _class_for(ctx, class_id)
    up = form.get("file")
    if not isinstance(up, Upload) or (not up.filename and not up.data):
        raise ApiError("FILE_REQUIRED", "请上传计划书文件（PDF 或 DOCX）", "Attach the plan as a PDF or DOCX file",
                       field="file", status=422, rule=RULE)
    checked = check_file(up.data, up.filename, allowed=("pdf", "docx"), max_bytes=MAX_PLAN_BYTES, field="file",
                         rule=RULE)
    bp.ensure_may_submit(ctx.s, cls, ctx.user)
    held = _screen(ctx, cls, docx_text(checked.data) if checked.type == "docx" else "", "docx")
    meta = store(ctx.svc.files, ctx.s, prepare(checked, field="file", rule=RULE), kind="business_plan",
                 owner_user_id=ctx.user.id, institution_id=cls.institution_id)
    p = bp.submit(ctx.s, cls, student=ctx.user, kind="file", now=ctx.now, file_id=meta["file_id"],
                  file_name=meta["name"], file_type=checked.type, screening_held=held)
    _audit_submit(ctx, cls, p)
    return plan_dict(p)


@api.route("POST", "/api/classes/{class_id:int}/business-plans/form", summary="在线填写创业计划书 Business plan form",
           tag="business-plans", roles=("student",), body=PlanForm, status=201)
def form_plan(ctx: Ctx, body: PlanForm, class_id: int):
    """EXAM-2: the structured form; WLC needs practice results; only elite camps may hand in a strategy."""
    cls = _class_for(ctx, class_id)
    data = bp.check_form(cls.course_type, body.model_dump())
    bp.ensure_may_submit(ctx.s, cls, ctx.user)
    held = _screen(ctx, cls, bp.form_text(data), "form")
    p = bp.submit(ctx.s, cls, student=ctx.user, kind="form", now=ctx.now, form=data, screening_held=held)
    _audit_submit(ctx, cls, p)
    return plan_dict(p)


@api.route("GET", "/api/classes/{class_id:int}/business-plans", summary="班期创业计划书 Class business plans",
           tag="business-plans", roles=READERS + ("student",))
def list_plans(ctx: Ctx, class_id: int):
    """Staff and supervisors: each student's newest plan (missing ones listed); a student: own versions."""
    cls = _class_for(ctx, class_id)
    credit = bp.credit_hours(ctx.svc.profiles.get(cls.profile), cls.course_type)
    if ctx.user.role == "student":
        mine = bp.history(ctx.s, cls.id, ctx.user.id)
        names = _names(ctx, [p.reviewed_by for p in mine])
        return {"class_id": cls.id, "class_name": cls.name, "course_type": cls.course_type, "credit_hours": credit,
                "network_course": cls.course_type in bp.NETWORK_COURSES,
                "elite_course": cls.course_type in bp.ELITE_COURSES,
                "versions": [plan_dict(p, names) for p in mine]}
    from server.coursework.homework import roster
    people = roster(ctx.s, cls.id)
    newest = bp.latest(ctx.s, cls.id)
    names = dict(people) | _names(ctx, [p.reviewed_by for p in newest.values()])
    students = [{"student_id": sid, "name": name, "plan": plan_dict(newest[sid], names) if sid in newest else None}
                for sid, name in people]
    counts = {k: sum(1 for p in newest.values() if p.status == k) for k in ("submitted", "approved", "rejected")}
    return {"class_id": cls.id, "class_name": cls.name, "course_type": cls.course_type, "credit_hours": credit,
            "may_review": bp.may_review(ctx.s, ctx.user, cls), "counts": counts | {"none": len(people) - len(newest)},
            "students": students}


@api.route("GET", "/api/business-plans/{plan_id:int}", summary="创业计划书及历史 Business plan and history",
           tag="business-plans", roles=READERS + ("student",))
def plan_detail(ctx: Ctx, plan_id: int):
    p, cls = _plan(ctx, plan_id)
    hist = bp.history(ctx.s, cls.id, p.student_user_id)
    names = _names(ctx, [p.student_user_id] + [h.reviewed_by for h in hist])
    if ctx.user.role == "supervisor":
        ctx.audit("business_plan.view", target_type="business_plan", target_id=p.id, institution_id=cls.institution_id,
                  region_code=cls.district_code, rule="SUP-3")
    return plan_dict(p, names) | {"class_name": cls.name, "history": [plan_dict(h, names) for h in hist],
                                  "may_review": p.status == "submitted" and bp.may_review(ctx.s, ctx.user, cls)}


@api.route("POST", "/api/business-plans/{plan_id:int}/review", summary="评审创业计划书 Review a business plan",
           tag="business-plans", roles=("institution_admin", "lecturer"), body=ReviewBody)
def review_plan(ctx: Ctx, body: ReviewBody, plan_id: int):
    """EXAM-2: approved (credits the profile's class-hours) or rejected with comments (resubmission open)."""
    p, cls = _plan(ctx, plan_id)
    bp.review(ctx.s, p, cls, user=ctx.user, verdict=body.verdict, comment=body.comment,
              profile=ctx.svc.profiles.get(cls.profile), now=ctx.now)
    ctx.audit("business_plan.review", target_type="business_plan", target_id=p.id, institution_id=cls.institution_id,
              region_code=cls.district_code, verdict=p.status, credited_hours=p.credited_hours, rule=RULE)
    return plan_dict(p, _names(ctx, [p.student_user_id, p.reviewed_by]))


@api.route("GET", "/api/business-plans/{plan_id:int}/file", summary="计划书文件 Business plan file",
           tag="business-plans", roles=READERS + ("student",))
def plan_file(ctx: Ctx, plan_id: int):
    p, cls = _plan(ctx, plan_id)
    row = ctx.s.get(StoredFile, p.file_id) if p.file_id else None
    if row is None:
        raise NotFound("计划书文件", "plan file")
    if ctx.user.role == "supervisor":
        ctx.audit("business_plan.file_view", target_type="business_plan", target_id=p.id,
                  institution_id=cls.institution_id, region_code=cls.district_code, rule="SUP-3")
    disposition = "inline" if p.file_type == "pdf" else "attachment"
    return Response(ctx.svc.files.read(row), media_type=CONTENT_TYPES.get(p.file_type or "", row.content_type),
                    headers={"Cache-Control": "private, no-store",
                             "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(p.file_name or 'plan')}"})
