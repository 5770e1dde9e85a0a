"""Loads what a class's attendance figures are computed from, once: roster, lessons, each lesson's
event log split into the live room's events and replay watching, and the approved leaves.

The per-lesson report (ATT-2, report.py) and the absence figures (CLS-7/CLS-8, absences.py) both
read it, so one report pass reads each lesson's log once and both agree on the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.classes import Enrolment, Lesson, TrainingClass
from models.leaves import LeaveRequest
from models.people import StudentProfile
from server.attendance.absences import JUDGED_MODES, AbsenceRules, LeaveFacts, LessonFacts, StudentAbsences, judge
from server.attendance.lessonattendance import AttendanceRules, StudentAttendance
from server.attendance.offline import lesson_attendance
from server.live import eventlog

REPLAY_KINDS = ("replay_progress",)  # watched after the lesson: never part of its live attendance


class UnknownClass(LookupError):
    pass


@dataclass
class HeldLesson:
    lesson: Lesson
    starts_at: datetime
    found: dict[int, StudentAttendance] | None  # None: not started by ``now``
    facts: LessonFacts
    events: list | None = None  # with ``keep_events``: the listed students' own events (face checks, …)


@dataclass
class ClassFigures:
    klass: TrainingClass
    roster: list[tuple[int, str]]  # (student user id, real name), by name
    rules: AttendanceRules
    absence_rules: AbsenceRules
    now: datetime
    lessons: list[HeldLesson] = field(default_factory=list)
    leaves: list[LeaveFacts] = field(default_factory=list)

    def absences(self) -> dict[int, StudentAbsences]:
        return judge([h.facts for h in self.lessons], [uid for uid, _ in self.roster], self.leaves,
                     now=self.now, rules=self.absence_rules)


def _aware(at: datetime, tz) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=tz)


def load(session: Session, class_id: int, profiles: Mapping, now: datetime,
         students: Iterable[int] | None = None, *, keep_events: bool = False) -> ClassFigures:
    """The class's figures up to ``now``; ``students`` narrows the roster (enrolled students only).
    ``keep_events`` keeps each started lesson's events of the roster's own students (their face
    checks, liveness verdicts, sign-ins, study photos: what a student's timeline page lists)."""
    klass = session.get(TrainingClass, class_id)
    if klass is None:
        raise UnknownClass(class_id)
    profile = profiles.get(klass.profile)
    rules = AttendanceRules.from_profile(profile) if profile is not None else AttendanceRules()
    arules = AbsenceRules.from_profile(profile, klass.course_type) if profile is not None else AbsenceRules()
    q = (select(Enrolment.student_user_id, StudentProfile.real_name)
         .join(StudentProfile, StudentProfile.user_id == Enrolment.student_user_id)
         .where(Enrolment.class_id == class_id, Enrolment.status == "enrolled")
         .order_by(StudentProfile.real_name, Enrolment.student_user_id))
    if students is not None:
        q = q.where(Enrolment.student_user_id.in_(list(students)))
    roster = [(uid, name) for uid, name in session.execute(q).all()]
    ids = [uid for uid, _ in roster]
    figures = ClassFigures(klass, roster, rules, arules, now)
    for lesson in session.scalars(select(Lesson).where(Lesson.class_id == class_id).order_by(Lesson.starts_at)):
        starts, ends = _aware(lesson.starts_at, now.tzinfo), _aware(lesson.ends_at, now.tzinfo)
        if starts > now:
            facts = LessonFacts(lesson.id, starts, ends, lesson.class_hours, lesson.mode)
            figures.lessons.append(HeldLesson(lesson, starts, None, facts))
            continue
        # a narrowed roster reads only its own students' events (and staff's): one student's figures
        # (their exam bar, their own page) then cost a fraction of the whole class's log
        events = eventlog.events(session, lesson.id, limit=None, students=ids if students is not None else None)
        live_events = [ev for ev in events if ev.kind not in REPLAY_KINDS]
        last = live_events[-1].at if live_events else ends
        # ATT-6: an offline lesson's attendance comes from its sign-ins (server/attendance/offline.py)
        found = lesson_attendance(lesson, live_events, ids, until=min(now, max(ends, last)), rules=rules)
        replay: dict[int, list] = {}
        for ev in events:
            if ev.kind in REPLAY_KINDS and ev.user_id in found:
                ranges = (ev.payload or {}).get("ranges")
                if isinstance(ranges, list):
                    replay.setdefault(ev.user_id, []).extend(ranges)
        live = next(iter(found.values())).live if found else timedelta(0)  # the same for every student
        facts = LessonFacts(lesson.id, starts, ends, lesson.class_hours, lesson.mode, live=live,
                            study={uid: a.study for uid, a in found.items()}, replay=replay)
        own = [ev for ev in events if ev.user_id in found] if keep_events else None
        figures.lessons.append(HeldLesson(lesson, starts, found, facts, own))
    leaves = session.scalars(select(LeaveRequest).where(LeaveRequest.class_id == class_id,
                                                        LeaveRequest.status == "approved"))
    figures.leaves = [LeaveFacts(lv.id, lv.student_user_id, frozenset(lv.lesson_ids)) for lv in leaves]
    return figures


# ---------------------------------------------------------------- per-student sums (API, dashboards, reports)

def student_totals(figures: "ClassFigures", uid: int) -> dict:
    """A student's figures over every lesson started so far (module docstring: which lessons count)."""
    study = live = recorded = timedelta(0)
    due = passed = 0
    for held in figures.lessons:
        if held.found is None:
            continue
        a = held.found[uid]
        due, passed = due + a.checks_due, passed + a.checks_passed
        if held.lesson.mode in JUDGED_MODES:
            study, live = study + a.study, live + a.live
        else:
            recorded += a.study
    ratio, rate = _share(_us(study), _us(live)), _share(passed, due)
    rules = figures.rules
    return {"study_seconds": round(study.total_seconds()), "live_seconds": round(live.total_seconds()),
            "study_ratio": _f(ratio), "meets_live_time_ATT3": ratio is not None and ratio >= rules.live_time_threshold,
            "checks_due": due, "checks_passed": passed, "attendance_rate": _f(rate),
            "meets_attendance_ATT4": rate is not None and rate >= rules.attendance_threshold,
            "recorded_study_seconds": round(recorded.total_seconds())}


def absence_summary(verdict: StudentAbsences) -> dict:
    """The absence figures a report shows for one student (CLS-7/8)."""
    s = verdict.summary()
    return {k: s[k] for k in ("absences", "leaves", "max_absences", "barred_from_exam", "makeup_seconds",
                              "explanation")}


def _us(d: timedelta) -> int:
    return d // timedelta(microseconds=1)


def _share(part, whole) -> Fraction | None:
    return Fraction(part, whole) if whole else None


def _f(x: Fraction | None) -> float | None:
    return round(float(x), 4) if x is not None else None
