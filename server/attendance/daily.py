"""ATT-7 daily records: sign-in and sign-out per half-day, and the day's study time against its plan.

A half-day is the morning (lessons starting before 12:00 China time) or the afternoon/evening of a
teaching day. Signing in and out is proven by the face, not by a button: a student's **sign-in** is
the first face check of the half-day that matched the enrolled face, the **sign-out** the last one
(ATT-1 samples every 20–40 s, so both sit within a minute of arrival and departure). A half-day
without a matching check has neither. An offline lesson (ATT-6) has no camera samples: its sign-in
and sign-out are the student's accepted ``offline_sign_in`` attempts (face + location on the phone
page, server/attendance/offline.py); the sign-out stays empty until one is made.

The day's **study photo** (ATT-7) is the first sample of the day that matched the student's face,
kept by the live room (``study_photo`` events, server/live/faceattendance.py).

Daily study time = the credited live study time of the day's lessons (server/attendance/
lessonattendance.py); the plan = the lessons' scheduled time. Where the region sets
``daily_study_threshold`` (Baotou: 80 %), a day meets ATT-7 when study ≥ threshold × plan, exactly.
Replay minutes (ATT-7 counts live + replay where the profile allows) are not recorded yet: they
count as zero here, which can only under-credit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from typing import Any, Iterable

from server.attendance import offline
from server.attendance.lessonattendance import AttendanceRules
from server.services import CHINA_TZ

NOON = time(12, 0)


@dataclass
class HalfDay:
    sign_in: datetime | None = None
    sign_out: datetime | None = None

    @property
    def signed(self) -> bool:
        return self.sign_in is not None


@dataclass
class Day:
    day: date
    planned: timedelta = timedelta(0)
    study: timedelta = timedelta(0)
    halves: dict[str, HalfDay] = field(default_factory=dict)  # "am" / "pm" (only half-days with lessons)
    photo_file_id: int | None = None  # ATT-7: the day's study photo (the first matching live sample)

    def meets(self, threshold: Fraction | None) -> bool | None:
        """ATT-7 daily study share, inclusive; None where the region sets no daily rule."""
        if threshold is None:
            return None
        if not self.planned:
            return True
        return Fraction(int(self.study.total_seconds() * 1e6), int(self.planned.total_seconds() * 1e6)) >= threshold

    def as_dict(self, threshold: Fraction | None = None) -> dict:
        return {"day": self.day.isoformat(), "planned_minutes": round(self.planned.total_seconds() / 60, 1),
                "study_minutes": round(self.study.total_seconds() / 60, 1), "meets_daily_ATT7": self.meets(threshold),
                "study_photo_file_id": self.photo_file_id,
                "halves": {k: {"sign_in": h.sign_in.isoformat() if h.sign_in else None,
                               "sign_out": h.sign_out.isoformat() if h.sign_out else None}
                           for k, h in self.halves.items()}}


def half_of(at: datetime) -> tuple[date, str]:
    local = at.astimezone(CHINA_TZ)
    return local.date(), "am" if local.time() < NOON else "pm"


def daily(lessons: Iterable[tuple[Any, list]], students: Iterable[int], *, now: datetime,
          rules: AttendanceRules = AttendanceRules()) -> dict[int, list[Day]]:
    """Per student, one ``Day`` per teaching day, from ``(lesson, its events)`` pairs; lessons that
    have not started by ``now`` are left out. A ``(lesson, events, found)`` triple brings the lesson's
    attendance already computed (server/attendance/classfigures.py); its ``events`` then need hold
    only the students' own (face checks, study photos, offline sign-ins)."""
    students = list(students)
    days: dict[int, dict[date, Day]] = {uid: {} for uid in students}
    for lesson, events, *computed in lessons:
        if lesson.starts_at > now:
            continue
        day, half = half_of(lesson.starts_at)
        found = computed[0] if computed and computed[0] is not None else None
        if found is None:
            until = min(now, max(lesson.ends_at, events[-1].at if events else lesson.ends_at))
            found = offline.lesson_attendance(lesson, events, students, until=until, rules=rules)
        for uid in students:
            record = days[uid].setdefault(day, Day(day))
            record.planned += lesson.ends_at - lesson.starts_at
            record.study += found[uid].study
            hd = record.halves.setdefault(half, HalfDay())
            if offline.is_offline(lesson):  # ATT-6: the accepted sign-in and sign-out themselves
                first_in, last_out = offline.sign_times(events, uid)
                if first_in is not None and (hd.sign_in is None or first_in < hd.sign_in):
                    hd.sign_in = first_in
                if last_out is not None and (hd.sign_out is None or last_out > hd.sign_out):
                    hd.sign_out = last_out
                continue
            for ev in events:
                if ev.kind == "study_photo" and ev.user_id == uid and record.photo_file_id is None:
                    record.photo_file_id = (ev.payload or {}).get("file_id")
                if ev.kind == "face_check" and ev.user_id == uid and (ev.payload or {}).get("verdict") == "match":
                    if hd.sign_in is None or ev.at < hd.sign_in:
                        hd.sign_in = ev.at
                    if hd.sign_out is None or ev.at > hd.sign_out:
                        hd.sign_out = ev.at
    return {uid: [d[k] for k in sorted(d)] for uid, d in days.items()}
