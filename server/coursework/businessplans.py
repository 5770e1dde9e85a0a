"""Business plans / business-idea analyses (EXAM-2), reviewed online, versions kept.

Seed 003 (Beijing): "评审合格的按4课时记入总课时"; network training hands in practice results and a
network business plan (网络创业实践成果和《网络创业规划书》); elite camps a business plan or a
strategy (《商业计划书》或专题战略规划).

* **Submitting**: an enrolled student, either a file (PDF or DOCX, judged by its bytes:
  server/coursework/uploads.py) or a structured form. Each submission is a new version. While the newest
  is unreviewed, a new one supersedes it; after ``rejected`` the student submits again; after
  ``approved`` nothing more is taken (409).
* **Reviewers ("experts")**: kept simple on purpose — a lecturer assigned to the class, or an admin of
  the class's institution (the institution names its expert reviewers by giving them that account).
  Supervisors of the region read plans and their history (SUP-3) but do not review.
* **Credit**: on approval the plan records ``profile.course(course_type).plan_credit_hours``
  (Beijing 4, elsewhere 0) in ``credited_hours``; eligibility reads it via :func:`plan_verdicts`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import TrainingClass, User
from models.coursework import BusinessPlan
from server.coursework.homework import is_enrolled, is_lecturer
from server.errors import ApiError

RULE = "EXAM-2"
NETWORK_COURSES = ("WLC",)  # network training: practice results + network business plan
ELITE_COURSES = ("ELITE_LAUNCH", "ELITE_PRACTICE")  # elite camps: business plan or strategy
VERDICTS = ("approved", "rejected")
FORM_FIELDS = ("project_name", "plan_type", "business_idea", "market", "team", "finances", "risks",
               "practice_results", "online_store")
CLOSED_CLASS_STATUSES = ("archived", "rejected")


@dataclass(frozen=True)
class PlanVerdict:
    """The newest plan of one student in one class, as eligibility sees it."""

    status: str  # "approved" | "rejected" | "submitted"
    plan_id: int
    version: int
    credited_hours: int
    reviewed_at: datetime | None


def _err(code: str, zh: str, en: str, *, status: int = 422, field: str | None = None, **details) -> ApiError:
    return ApiError(code, zh, en, field=field, status=status, rule=RULE, details=details or None)


def credit_hours(profile: Any, course_type: str) -> int:
    """The class-hours a passed plan counts under the profile (0 when the region credits none)."""
    if profile is None:
        return 0
    try:
        rule = profile.course(course_type)
    except KeyError:  # UnknownCourseType
        return 0
    return int(getattr(rule, "plan_credit_hours", 0) or 0)


def may_review(s: Session, user: User, cls: TrainingClass) -> bool:
    if user.role == "institution_admin":
        return user.institution_id == cls.institution_id
    return user.role == "lecturer" and is_lecturer(s, cls.id, user.id)


def check_form(course_type: str, form: dict) -> dict:
    """EXAM-2 per program: WLC needs practice results; only elite camps may hand in a strategy."""
    form = {k: v for k, v in form.items() if v not in (None, "")}
    plan_type = form.setdefault("plan_type", "business_plan")
    if plan_type == "strategy" and course_type not in ELITE_COURSES:
        raise _err("PLAN_TYPE_NOT_ALLOWED", "只有菁英训练营可提交专题战略规划",
                   "Only elite camps may hand in a strategy instead of a business plan", field="plan_type")
    if course_type in NETWORK_COURSES and not form.get("practice_results"):
        raise _err("PLAN_PRACTICE_RESULTS_REQUIRED", "网络创业培训须填写网络创业实践成果",
                   "Network training plans must include the practice results", field="practice_results")
    return form


def form_text(form: dict) -> str:
    return "\n".join(str(form[k]) for k in FORM_FIELDS if form.get(k))


def history(s: Session, class_id: int, student_id: int) -> list[BusinessPlan]:
    return list(s.scalars(select(BusinessPlan).where(BusinessPlan.class_id == class_id,
                                                     BusinessPlan.student_user_id == student_id)
                          .order_by(BusinessPlan.version)))


def latest(s: Session, class_id: int) -> dict[int, BusinessPlan]:
    """student id → newest plan version in the class."""
    rows = s.scalars(select(BusinessPlan).where(BusinessPlan.class_id == class_id).order_by(BusinessPlan.version))
    return {r.student_user_id: r for r in rows}


def ensure_may_submit(s: Session, cls: TrainingClass, student: User) -> BusinessPlan | None:
    """Refuse before anything is stored; returns the student's newest version, if any."""
    if not is_enrolled(s, cls.id, student.id):
        raise _err("PLAN_NOT_ENROLLED", "你不是本班学员", "You are not a student of this class", status=403)
    if cls.status in CLOSED_CLASS_STATUSES:
        raise _err("CLASS_CLOSED", f"班期状态为 {cls.status}，不能再提交", f"The class is {cls.status}; no more plans",
                   status=409)
    mine = history(s, cls.id, student.id)
    last = mine[-1] if mine else None
    if last is not None and last.status == "approved":
        raise _err("PLAN_ALREADY_APPROVED", "创业计划书已评审通过，无需再次提交",
                   "Your business plan is already approved; no resubmission", status=409, plan_id=last.id)
    return last


def submit(s: Session, cls: TrainingClass, *, student: User, kind: str, now: datetime, form: dict | None = None,
           file_id: int | None = None, file_name: str | None = None, file_type: str | None = None,
           screening_held: bool = False) -> BusinessPlan:
    last = ensure_may_submit(s, cls, student)
    if last is not None and last.status == "submitted":
        last.status = "superseded"
    plan = BusinessPlan(class_id=cls.id, student_user_id=student.id, version=(last.version + 1) if last else 1,
                        course_type=cls.course_type, kind=kind, file_id=file_id, file_name=file_name,
                        file_type=file_type, form=form, status="submitted", screening_held=screening_held,
                        submitted_at=now, credited_hours=0)
    s.add(plan)
    s.flush()
    return plan


def review(s: Session, plan: BusinessPlan, cls: TrainingClass, *, user: User, verdict: str, comment: str | None,
           profile: Any, now: datetime) -> BusinessPlan:
    if not may_review(s, user, cls):
        raise _err("PLAN_NOT_REVIEWER", "只有本班讲师或本机构管理员（评审专家）可以评审",
                   "Only the class's lecturers or its institution admin (expert reviewer) may review", status=403)
    if verdict not in VERDICTS:
        raise _err("PLAN_VERDICT", "评审结论须为 approved（通过）或 rejected（需修改）",
                   "verdict must be approved or rejected", field="verdict")
    if verdict == "rejected" and not (comment or "").strip():
        raise _err("PLAN_COMMENT_REQUIRED", "退回修改时须写明意见", "Say what to revise when rejecting", field="comment")
    if plan.status != "submitted":
        raise _err("PLAN_NOT_REVIEWABLE", "只能评审最新且尚未评审的版本",
                   "Only the newest, unreviewed version can be reviewed", status=409, status_now=plan.status)
    plan.status, plan.review_comment = verdict, (comment or "").strip() or None
    plan.reviewed_by, plan.reviewer_role, plan.reviewed_at = user.id, user.role, now
    plan.credited_hours = credit_hours(profile, plan.course_type) if verdict == "approved" else 0
    s.flush()
    return plan


def plan_verdicts(s: Session, class_id: int) -> dict[int, PlanVerdict]:
    """EXAM-2 for eligibility: student id → their newest plan's verdict; students without a plan are absent."""
    return {sid: PlanVerdict(status=p.status, plan_id=p.id, version=p.version, credited_hours=p.credited_hours,
                             reviewed_at=p.reviewed_at)
            for sid, p in latest(s, class_id).items()}


def plan_documents(s: Session, class_id: int) -> list[dict]:
    """Every plan version of the class for its archive, by student then version; ``latest`` marks the
    one that counts. A file plan gives its stored file id, a form plan its JSON."""
    rows = list(s.scalars(select(BusinessPlan).where(BusinessPlan.class_id == class_id)
                          .order_by(BusinessPlan.student_user_id, BusinessPlan.version)))
    newest = {r.student_user_id: r.id for r in rows}
    return [{"plan_id": r.id, "student_id": r.student_user_id, "version": r.version, "status": r.status,
             "latest": newest[r.student_user_id] == r.id, "kind": r.kind, "file_id": r.file_id,
             "file_name": r.file_name, "file_type": r.file_type, "form": r.form, "submitted_at": r.submitted_at,
             "reviewed_by": r.reviewed_by, "reviewed_at": r.reviewed_at, "review_comment": r.review_comment,
             "credited_hours": r.credited_hours}
            for r in rows]
