"""A class's per-lesson attendance (ATT-2): every enrolled student in every lesson held so far,
computed from the lesson event logs with the class's region rules; printable and exportable as CSV
(``qihang attendance CLASS_ID [--csv FILE]``)."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.classes import Enrolment, Lesson, TrainingClass
from models.people import StudentProfile
from server.attendance.lessonattendance import AttendanceRules, attendance
from server.live import eventlog

COLUMNS = ("lesson_id", "lesson_title", "lesson_starts_at", "student_user_id", "student_name",
           "study_minutes", "live_minutes", "study_ratio", "meets_live_time_ATT3",
           "checks_passed", "checks_due", "attendance_rate", "meets_attendance_ATT4", "reconnects")


class UnknownClass(LookupError):
    pass


def class_attendance(session: Session, class_id: int, profiles: Mapping, now: datetime) -> list[dict]:
    """One row per (lesson that has started, enrolled student), in lesson then name order."""
    klass = session.get(TrainingClass, class_id)
    if klass is None:
        raise UnknownClass(class_id)
    rules = AttendanceRules.from_profile(profiles[klass.profile]) if klass.profile in profiles else AttendanceRules()
    roster = session.execute(
        select(Enrolment.student_user_id, StudentProfile.real_name)
        .join(StudentProfile, StudentProfile.user_id == Enrolment.student_user_id)
        .where(Enrolment.class_id == class_id, Enrolment.status == "enrolled")
        .order_by(StudentProfile.real_name)).all()
    rows = []
    lessons = session.scalars(select(Lesson).where(Lesson.class_id == class_id).order_by(Lesson.starts_at))
    for lesson in lessons:
        starts = lesson.starts_at if lesson.starts_at.tzinfo else lesson.starts_at.replace(tzinfo=now.tzinfo)
        if starts > now:
            continue
        events = eventlog.events(session, lesson.id, limit=None)
        ends = lesson.ends_at if lesson.ends_at.tzinfo else lesson.ends_at.replace(tzinfo=now.tzinfo)
        found = attendance(events, [uid for uid, _ in roster], until=min(now, max(ends, _last(events, ends))),
                           rules=rules)
        for uid, name in roster:
            a = found[uid]
            ratio, rate = a.study_ratio, a.attendance_rate
            rows.append({
                "lesson_id": lesson.id, "lesson_title": lesson.title, "lesson_starts_at": starts.isoformat(),
                "student_user_id": uid, "student_name": name,
                "study_minutes": round(a.study.total_seconds() / 60, 1), "live_minutes": round(a.live.total_seconds() / 60, 1),
                "study_ratio": round(float(ratio), 4) if ratio is not None else None,
                "meets_live_time_ATT3": a.meets_live_time,
                "checks_passed": a.checks_passed, "checks_due": a.checks_due,
                "attendance_rate": round(float(rate), 4) if rate is not None else None,
                "meets_attendance_ATT4": a.meets_attendance, "reconnects": a.reconnects,
            })
    return rows


def _last(events, default: datetime) -> datetime:
    return events[-1].at if events else default


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def to_text(rows: list[dict]) -> str:
    if not rows:
        return "（尚无已开始的课次 / no lesson has started yet）\n"
    lines = [f"{'课次 lesson':<28} {'学员 student':<12} {'学时 min':>8} {'直播 min':>8} {'比例':>6} "
             f"{'ATT-3':>5} {'签到':>7} {'出勤率':>6} {'ATT-4':>5}"]
    for r in rows:
        ratio = f"{r['study_ratio']:.0%}" if r["study_ratio"] is not None else "—"
        rate = f"{r['attendance_rate']:.0%}" if r["attendance_rate"] is not None else "—"
        lines.append(f"{r['lesson_title'][:26]:<28} {r['student_name'][:10]:<12} {r['study_minutes']:>8} "
                     f"{r['live_minutes']:>8} {ratio:>6} {'✓' if r['meets_live_time_ATT3'] else '✗':>5} "
                     f"{r['checks_passed']:>3}/{r['checks_due']:<3} {rate:>6} {'✓' if r['meets_attendance_ATT4'] else '✗':>5}")
    return "\n".join(lines) + "\n"
