"""What the class attendance report (ATT-2) shows, assembled once from ``classfigures.load``.

The PDF (attendancepdf.py), the workbook (workbook.py) and the class archive (classarchive.py) all
print this one dict, so the three never disagree. Figures are the same as the live attendance page's
(server/api/attendance.py): ATT-3 live study ÷ live time, ATT-4 checks passed ÷ due, CLS-7 absences.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Institution, StudentProfile
from server.attendance import classfigures
from server.services import CHINA_TZ

RATE_BINS = 10  # the histogram's bins: 0–10 %, …, 90–100 %


def _cn(at: datetime | None) -> str | None:
    return at.astimezone(CHINA_TZ).isoformat(timespec="minutes") if at else None


def attendance_report(session: Session, class_id: int, profiles: Mapping, now: datetime) -> dict:
    """The report's header, one entry per enrolled student and one per lesson held (presence)."""
    figures = classfigures.load(session, class_id, profiles, now)
    cls = figures.klass
    inst = session.get(Institution, cls.institution_id)
    masked = dict(session.execute(select(StudentProfile.user_id, StudentProfile.id_masked).where(
        StudentProfile.user_id.in_([uid for uid, _ in figures.roster] or [0]))).all())
    verdicts = figures.absences()
    students = []
    for uid, name in figures.roster:
        t = classfigures.student_totals(figures, uid)
        a = classfigures.absence_summary(verdicts[uid])
        students.append({"student_id": uid, "name": name, "id_masked": masked.get(uid, ""),
                         "study_minutes": round(t["study_seconds"] / 60, 1),
                         "live_minutes": round(t["live_seconds"] / 60, 1),
                         "study_ratio": t["study_ratio"], "meets_ATT3": t["meets_live_time_ATT3"],
                         "checks_passed": t["checks_passed"], "checks_due": t["checks_due"],
                         "attendance_rate": t["attendance_rate"], "meets_ATT4": t["meets_attendance_ATT4"],
                         "absences": a["absences"], "leaves": a["leaves"], "max_absences": a["max_absences"],
                         "barred": a["barred_from_exam"],
                         "recorded_minutes": round(t["recorded_study_seconds"] / 60, 1)})
    marks = {(uid, m.lesson_id): m.status for uid, v in verdicts.items() for m in v.marks}
    presence, held = [], [h for h in figures.lessons if h.found is not None]
    size = len(figures.roster)
    for n, h in enumerate(held, start=1):
        present = sum(1 for uid, _ in figures.roster if _present(marks.get((uid, h.lesson.id)), h.found[uid]))
        presence.append({"no": n, "lesson_id": h.lesson.id, "title": h.lesson.title, "mode": h.lesson.mode,
                         "starts_at": _cn(h.starts_at), "present": present, "enrolled": size,
                         "share": round(present / size, 4) if size else None})
    lessons = figures.lessons
    return {
        "class": {"id": cls.id, "name": cls.name, "course_type": cls.course_type, "delivery_mode": cls.delivery_mode,
                  "profile": cls.profile, "status": cls.status, "district_code": cls.district_code,
                  "institution": inst.name if inst else ""},
        "first_day": _day(lessons[0].starts_at) if lessons else None,
        "last_day": _day(lessons[-1].lesson.ends_at) if lessons else None,
        "as_of": _cn(now),
        "thresholds": {"live_time_ATT3": float(figures.rules.live_time_threshold),
                       "attendance_ATT4": float(figures.rules.attendance_threshold),
                       "max_absences_CLS7": figures.absence_rules.max_absences},
        "lessons_total": len(lessons), "lessons_held": len(held),
        "students": students, "presence": presence, "histogram": rate_histogram(students),
    }


def _present(status: str | None, found) -> bool:
    """CLS-7's "present"; a lesson still running (``pending``) counts whoever has credited study so far."""
    return status == "present" or (status == "pending" and found.study.total_seconds() > 0)


def _day(at: datetime) -> str:
    """A China calendar day (stored times are UTC; SQLite may hand them back naive)."""
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone(CHINA_TZ).date().isoformat()


def rate_histogram(students: list[dict]) -> list[dict]:
    """How many students' ATT-4 attendance rate falls in each 10 % bin; students with no check due
    are counted apart (``none``) rather than as 0 %."""
    bins = [0] * RATE_BINS
    none = 0
    for st in students:
        rate = st["attendance_rate"]
        if rate is None:
            none += 1
        else:
            bins[min(int(rate * RATE_BINS), RATE_BINS - 1)] += 1
    step = 100 // RATE_BINS
    out = [{"label": f"{i * step}–{(i + 1) * step}%", "count": c} for i, c in enumerate(bins)]
    out.append({"label": "无签到 none", "count": none})
    return out
