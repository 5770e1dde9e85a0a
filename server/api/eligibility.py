"""Certificate eligibility (EXAM-3, CLS-7) of a class's students.

* ``GET /api/classes/{id}/eligibility[?format=csv|xlsx]`` — the class's staff, supervisors of its
  region (SUP-3) and platform admins: every enrolled student's verdict with the rule and numbers behind
  each shortfall; ``final`` says whether every lesson is over (before that the verdict is provisional).
* ``GET /api/me/classes/{id}/eligibility`` — a student's own verdict, so the phone page can say what
  is still missing before the certificate.
"""
from __future__ import annotations

from typing import Literal

from sqlalchemy import select

from models import Enrolment
from server.api.common import get_class
from server.api.endpoint import Api, Ctx
from server.errors import NotFound
from server.export import Column, attachment, columns_json, render, safe_filename
from server.outcomes.eligibility import class_eligibility, student_eligibility
from server.validation import Query

api = Api()
MAX_ID = 2**31 - 1
READERS = ("platform_admin", "institution_admin", "lecturer", "assistant", "supervisor")
TAG = "outcomes"

COLUMNS = (
    Column("student_id", "学员ID", "Student ID", "int"), Column("name", "姓名", "Name"),
    Column("eligible", "可获证书", "Eligible", "bool"),
    Column("study_ratio", "直播学习时长占比(ATT-3)", "Live study share (ATT-3)", "pct"),
    Column("attendance_rate", "出勤率(ATT-4)", "Attendance rate (ATT-4)", "pct"),
    Column("absences", "缺勤次数(CLS-7)", "Absences (CLS-7)", "int"),
    Column("leaves", "请假次数(CLS-7)", "Leaves (CLS-7)", "int"),
    Column("plan_status", "创业计划书(EXAM-2)", "Business plan (EXAM-2)"),
    Column("exam_score", "考试成绩(EXAM-1)", "Exam score (EXAM-1)", "float"),
    Column("credited_class_hours", "计入课时", "Credited class-hours", "int"),
    Column("reasons", "不符合原因", "Reasons not met"),
)


class EligibilityQuery(Query):
    format: Literal["json", "csv", "xlsx"] = "json"


def _flat(v) -> dict:
    f = v.figures
    return {"student_id": v.student_id, "name": v.name, "eligible": v.eligible, "study_ratio": f["study_ratio"],
            "attendance_rate": f["attendance_rate"], "absences": f["absences"], "leaves": f["leaves"],
            "plan_status": f["plan_status"] or "none", "exam_score": f["exam_score"],
            "credited_class_hours": v.credited_class_hours,
            "reasons": "；".join(f"[{x.rule}] {x.message_zh}" for x in v.shortfalls)}


@api.route("GET", "/api/classes/{class_id:int}/eligibility", summary="结业资格 Certificate eligibility",
           tag=TAG, roles=READERS, query=EligibilityQuery)
def eligibility(ctx: Ctx, query: EligibilityQuery, class_id: int):
    """EXAM-3: all of live time (ATT-3), attendance (ATT-4), approved plan (EXAM-2), passed exam (EXAM-1),
    and not barred by absences (CLS-7); each shortfall names its rule and numbers."""
    if not 0 < class_id <= MAX_ID:
        raise NotFound("班期", "class")
    cls = get_class(ctx, class_id)
    verdicts = class_eligibility(ctx.s, cls.id, ctx.svc.profiles, ctx.now)
    held = verdicts[0].figures if verdicts else {}
    final = bool(held) and held["lessons_held"] == held["lessons_total"] and cls.status in ("finished", "archived")
    if query.format == "json":
        return {"class_id": cls.id, "profile": cls.profile, "course_type": cls.course_type, "final": final,
                "eligible": sum(v.eligible for v in verdicts), "total": len(verdicts),
                "columns": columns_json(COLUMNS), "items": [dict(v.as_dict(), **_flat(v)) for v in verdicts]}
    data, media_type = render([_flat(v) for v in verdicts], COLUMNS, query.format, title="结业资格")
    ctx.audit("eligibility.export", target_type="class", target_id=cls.id, institution_id=cls.institution_id,
              region_code=cls.district_code, format=query.format, rows=len(verdicts), rule="PLAT-3")
    day = ctx.today.isoformat()
    return attachment(data, media_type, safe_filename(f"结业资格-{cls.name}-{day}", query.format),
                      safe_filename(f"eligibility-class-{cls.id}-{day}", query.format))


@api.route("GET", "/api/me/classes/{class_id:int}/eligibility", summary="我的结业资格 My eligibility",
           tag=TAG, roles=("student",))
def my_eligibility(ctx: Ctx, class_id: int):
    """A student's own verdict: what is still missing before the certificate (EXAM-3)."""
    enrolled = 0 < class_id <= MAX_ID and ctx.s.scalars(select(Enrolment.id).where(
        Enrolment.class_id == class_id, Enrolment.student_user_id == ctx.user.id)).first()
    v = student_eligibility(ctx.s, class_id, ctx.user.id, ctx.svc.profiles, ctx.now) if enrolled else None
    if v is None:
        raise NotFound("班期", "class")
    return v.as_dict()
