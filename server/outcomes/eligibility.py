"""Certificate eligibility (EXAM-3, CLS-7): who has earned the certificate, and if not, why.

EXAM-3: a certificate only when all of these hold — live study time ≥ the profile's share of the live
time (ATT-3), attendance rate ≥ its threshold (ATT-4), business plan approved (EXAM-2) and final exam
passed (EXAM-1). CLS-7 (Hohhot SYB/IYB/WLC) adds: more than the allowed absences and leaves bars the
student from the final assessment, whatever the exam says.

Everything is read from what the rest of the platform records — the attendance figures computed
from the lesson event logs (server/attendance/classfigures.py), the latest business plan's verdict
(server/coursework/businessplans.py) and the graded exam attempts — so the verdict is a pure function
of the class's records and can be recomputed by anyone at any time. Every shortfall names its rule
and carries the numbers behind it, in Chinese and English, so "not eligible" is never a bare word.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Lesson
from models.exams import ExamAttempt, ExamPaper
from server.attendance.classfigures import absence_summary, load, student_totals
from server.coursework.businessplans import plan_verdicts

__all__ = ["Shortfall", "StudentEligibility", "class_eligibility", "student_eligibility"]

PLAN_ZH = {"submitted": "待评审", "rejected": "未通过，待修改", "approved": "已通过"}


@dataclass(frozen=True)
class Shortfall:
    rule: str  # the rule not met: ATT-3, ATT-4, EXAM-1, EXAM-2, CLS-7
    code: str  # machine-readable, e.g. LIVE_TIME_SHORT
    message_zh: str
    message_en: str
    numbers: dict = field(default_factory=dict)  # the figures behind it

    def as_dict(self) -> dict:
        return {"rule": self.rule, "code": self.code, "message_zh": self.message_zh, "message_en": self.message_en,
                "numbers": self.numbers}


@dataclass(frozen=True)
class StudentEligibility:
    student_id: int
    name: str
    eligible: bool
    shortfalls: tuple[Shortfall, ...]
    figures: dict  # study_ratio, attendance_rate, exam_score, exam_passed, plan_status, absences, …
    class_hours: int  # the class's scheduled class-hours
    credited_class_hours: int  # class_hours + the plan credit (EXAM-2, Beijing +4 on an approved plan)

    def as_dict(self) -> dict:
        return {"student_id": self.student_id, "name": self.name, "eligible": self.eligible,
                "shortfalls": [x.as_dict() for x in self.shortfalls], "rules": [x.rule for x in self.shortfalls],
                "figures": self.figures, "class_hours": self.class_hours,
                "credited_class_hours": self.credited_class_hours}


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


@dataclass(frozen=True)
class _Exam:
    score: float | None
    passed: bool | None  # None: no graded attempt
    status: str  # none | in_progress | submitted (awaiting manual grading) | graded
    attempt_id: int | None


def _exam_results(s: Session, class_id: int) -> dict[int, _Exam]:
    """Each student's best graded attempt over the class's papers (a re-sit paper counts), else their
    latest ungraded state, so a pending manual grading is told apart from an exam never taken."""
    rows = s.execute(select(ExamAttempt).join(ExamPaper, ExamPaper.id == ExamAttempt.paper_id)
                     .where(ExamPaper.class_id == class_id).order_by(ExamAttempt.id)).scalars()
    out: dict[int, _Exam] = {}
    for a in rows:
        mine = out.get(a.student_user_id)
        if a.status == "graded":
            better = (mine is None or mine.status != "graded" or (bool(a.passed), a.score or 0)
                      > (bool(mine.passed), mine.score or 0))
            if better:
                out[a.student_user_id] = _Exam(a.score, bool(a.passed), "graded", a.id)
        elif mine is None or mine.status != "graded":
            out[a.student_user_id] = _Exam(a.score, None, a.status, a.id)
    return out


def class_eligibility(s: Session, class_id: int, profiles: Mapping, now: datetime,
                      students: Iterable[int] | None = None) -> list[StudentEligibility]:
    """Every enrolled student's verdict under the class's profile, in roster (name) order; ``students``
    narrows it to those (reading only their events: a certificate for two costs two students' logs)."""
    figures = load(s, class_id, profiles, now, students=students)
    return _judge(s, figures, profiles)


def student_eligibility(s: Session, class_id: int, student_id: int, profiles: Mapping,
                        now: datetime) -> StudentEligibility | None:
    """One student's verdict (None when they are not enrolled in the class)."""
    figures = load(s, class_id, profiles, now, students=[student_id])
    found = _judge(s, figures, profiles)
    return found[0] if found else None


def _judge(s: Session, figures, profiles: Mapping) -> list[StudentEligibility]:
    cls = figures.klass
    profile = profiles.get(cls.profile)
    course = profile.course(cls.course_type) if profile is not None else None
    credit = course.plan_credit_hours if course is not None else 0
    requires_plan = bool(getattr(profile, "requires_business_plan", True))
    hours = int(sum(l.class_hours for l in s.scalars(select(Lesson).where(Lesson.class_id == cls.id))))
    lessons_total = len(figures.lessons)
    lessons_held = sum(1 for h in figures.lessons if h.found is not None)
    plans = plan_verdicts(s, cls.id)
    exams = _exam_results(s, cls.id)
    absences = figures.absences()
    rules = figures.rules
    out = []
    for uid, name in figures.roster:
        t = student_totals(figures, uid)
        a = absence_summary(absences[uid])
        plan = plans.get(uid)
        exam = exams.get(uid, _Exam(None, None, "none", None))
        short: list[Shortfall] = []
        live_threshold, att_threshold = float(rules.live_time_threshold), float(rules.attendance_threshold)
        if not t["meets_live_time_ATT3"] and not t["live_seconds"]:
            short.append(Shortfall("ATT-3", "NO_LIVE_TIME", "没有直播授课记录，无法计算直播学习时长",
                                   "No live teaching on record: live study time cannot be judged",
                                   {"study_ratio": None, "study_seconds": t["study_seconds"], "live_seconds": 0,
                                    "threshold": live_threshold}))
        elif not t["meets_live_time_ATT3"]:
            short.append(Shortfall(
                "ATT-3", "LIVE_TIME_SHORT",
                f"直播学习时长占比 {_pct(t['study_ratio'])}（{t['study_seconds'] // 60} / {t['live_seconds'] // 60} 分钟），"
                f"低于 {_pct(live_threshold)}",
                f"Live study time {_pct(t['study_ratio'])} ({t['study_seconds'] // 60} of {t['live_seconds'] // 60} "
                f"min), below {_pct(live_threshold)}",
                {"study_ratio": t["study_ratio"], "study_seconds": t["study_seconds"],
                 "live_seconds": t["live_seconds"], "threshold": live_threshold}))
        if not t["meets_attendance_ATT4"] and not t["checks_due"]:
            short.append(Shortfall("ATT-4", "NO_CHECKS", "没有人脸考勤核验记录，无法计算出勤率",
                                   "No attendance checks on record: the attendance rate cannot be judged",
                                   {"attendance_rate": None, "checks_passed": 0, "checks_due": 0,
                                    "threshold": att_threshold}))
        elif not t["meets_attendance_ATT4"]:
            short.append(Shortfall(
                "ATT-4", "ATTENDANCE_LOW",
                f"出勤率 {_pct(t['attendance_rate'])}（通过 {t['checks_passed']} / 应到 {t['checks_due']} 次核验），"
                f"低于 {_pct(att_threshold)}",
                f"Attendance rate {_pct(t['attendance_rate'])} ({t['checks_passed']} of {t['checks_due']} checks), "
                f"below {_pct(att_threshold)}",
                {"attendance_rate": t["attendance_rate"], "checks_passed": t["checks_passed"],
                 "checks_due": t["checks_due"], "threshold": att_threshold}))
        if a["barred_from_exam"]:
            short.append(Shortfall("CLS-7", "BARRED_BY_ABSENCES", a["explanation"]["zh"], a["explanation"]["en"],
                                   {"absences": a["absences"], "leaves": a["leaves"],
                                    "max_absences": a["max_absences"]}))
        if requires_plan and (plan is None or plan.status != "approved"):
            status = plan.status if plan else "none"
            short.append(Shortfall(
                "EXAM-2", "PLAN_NOT_APPROVED",
                f"创业计划书{PLAN_ZH.get(status, '未提交')}，须评审通过",
                f"Business plan {'not submitted' if plan is None else status}; it must be approved",
                {"plan_status": status, "plan_id": plan.plan_id if plan else None,
                 "version": plan.version if plan else None}))
        if exam.passed is not True:
            if exam.status == "graded":
                zh, en, code = (f"结业考试 {exam.score:g} 分，未达合格线", f"Final exam scored {exam.score:g}, below the "
                                f"pass mark", "EXAM_FAILED")
            elif exam.status in ("submitted", "in_progress"):
                zh, en, code = ("结业考试尚未评完（简答题待批阅）或未交卷", "Final exam not yet graded or not submitted",
                                "EXAM_NOT_GRADED")
            else:
                zh, en, code = "未参加结业考试", "Final exam not taken", "EXAM_NOT_TAKEN"
            short.append(Shortfall("EXAM-1", code, zh, en, {"exam_status": exam.status, "exam_score": exam.score,
                                                            "attempt_id": exam.attempt_id}))
        credited = hours + (credit if plan is not None and plan.status == "approved" else 0)
        figures_out = dict(t, absences=a["absences"], leaves=a["leaves"], max_absences=a["max_absences"],
                           barred_CLS7=a["barred_from_exam"], plan_status=plan.status if plan else None,
                           plan_credited_hours=credited - hours, exam_status=exam.status, exam_score=exam.score,
                           exam_passed=exam.passed, lessons_held=lessons_held, lessons_total=lessons_total)
        out.append(StudentEligibility(uid, name, not short, tuple(short), figures_out, hours, credited))
    return out
