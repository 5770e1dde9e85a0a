"""Test helper: certificate eligibility (EXAM-3) granted without the attendance pipeline.

Tests of what comes after eligibility (numbering, PDFs, rosters, archives) need eligible students
without recording a whole course; tests/test_course_outcomes.py runs the real thing end to end."""
from __future__ import annotations

from sqlalchemy import select

from models import Enrolment, Lesson, StudentProfile


def everyone_eligible(monkeypatch, ineligible: set[int] = frozenset()) -> None:
    """Every enrolled student eligible unless listed in ``ineligible`` (given an ATT-4 shortfall);
    credited hours are the class's scheduled hours."""
    from server.outcomes import eligibility as mod

    def fake(s, class_id, profiles, now, students=None):
        hours = sum(s.scalars(select(Lesson.class_hours).where(Lesson.class_id == class_id)))
        rows = s.execute(select(Enrolment.student_user_id, StudentProfile.real_name)
                         .outerjoin(StudentProfile, StudentProfile.user_id == Enrolment.student_user_id)
                         .where(Enrolment.class_id == class_id, Enrolment.status == "enrolled")
                         .order_by(Enrolment.student_user_id)).all()
        out = []
        for uid, name in rows:
            if students is not None and uid not in students:
                continue
            short = (mod.Shortfall("ATT-4", "ATTENDANCE_LOW", "出勤率 50.0%，低于 80.0%", "Attendance 50.0%, below 80.0%",
                                   {"attendance_rate": 0.5, "threshold": 0.8}),) if uid in ineligible else ()
            out.append(mod.StudentEligibility(uid, name or "", not short, short, {"attendance_rate": 0.5}, hours, hours))
        return out
    monkeypatch.setattr(mod, "class_eligibility", fake)
