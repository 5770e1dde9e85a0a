"""ATT-7: sign-in/sign-out per half-day proven by the face, and daily study time against the plan
(Baotou: ≥ 80 % of the day's scheduled time, inclusive)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from fractions import Fraction
from types import SimpleNamespace

from server.attendance.daily import daily, half_of

LECTURER, ANNA = 1, 10
# Monday 2 March 2026: 09:00–11:00 and 14:00–16:00 Beijing (01:00–03:00 and 06:00–08:00 UTC)
AM = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
PM = datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc)


def ev(at, kind, user=None, role=None, **payload):
    return SimpleNamespace(at=at, kind=kind, user_id=user, role=role, session_id=f"s{user}", payload=payload)


def lesson_log(start: datetime, minutes: int, student_from: float, student_to: float, verdict="match"):
    """A lecturer live for ``minutes``; ANNA present from/to (minutes), face checked every 30 s."""
    m = lambda x: start + timedelta(minutes=x)  # noqa: E731
    events = [ev(m(0), "join", LECTURER, "lecturer"), ev(m(0), "publish", LECTURER, "lecturer", slot="main"),
              ev(m(student_from), "join", ANNA, "student"), ev(m(student_from), "publish", ANNA, "student", slot="camera")]
    t = student_from + 0.5
    while t < student_to:
        events.append(ev(m(t), "face_check", ANNA, "student", verdict=verdict))
        t += 0.5
    events += [ev(m(student_to), "leave", ANNA, "student"), ev(m(minutes), "lesson_end", LECTURER, "lecturer")]
    events.sort(key=lambda e: e.at)
    lesson = SimpleNamespace(starts_at=start, ends_at=m(minutes))
    return lesson, events


def test_half_days_follow_china_time():
    assert half_of(AM) == (AM.date(), "am") and half_of(PM) == (PM.date(), "pm")
    assert half_of(datetime(2026, 3, 2, 3, 59, tzinfo=timezone.utc))[1] == "am"  # 11:59 Beijing
    assert half_of(datetime(2026, 3, 2, 4, 0, tzinfo=timezone.utc))[1] == "pm"  # 12:00 Beijing


def test_att7_sign_in_and_out_per_half_day_come_from_matching_face_checks():
    days = daily([lesson_log(AM, 120, 5, 110), lesson_log(PM, 120, 0, 120, verdict="mismatch")], [ANNA],
                 now=PM + timedelta(hours=5))[ANNA]
    assert len(days) == 1
    am, pm = days[0].halves["am"], days[0].halves["pm"]
    assert am.sign_in == AM + timedelta(minutes=5.5) and am.sign_out == AM + timedelta(minutes=109.5)
    assert not pm.signed  # someone else's face all afternoon: no sign-in


def test_att7_daily_study_time_against_the_plan_exactly_at_80_percent():
    # 240 minutes planned; present 192 (80 %): morning 120, afternoon from minute 48
    days = daily([lesson_log(AM, 120, 0, 120), lesson_log(PM, 120, 48, 120)], [ANNA], now=PM + timedelta(hours=5))
    day = days[ANNA][0]
    assert day.planned == timedelta(minutes=240) and day.study == timedelta(minutes=192)
    assert day.meets(Fraction(4, 5)) is True and day.meets(None) is None
    short = daily([lesson_log(AM, 120, 0, 120), lesson_log(PM, 120, 49, 120)], [ANNA], now=PM + timedelta(hours=5))
    assert short[ANNA][0].meets(Fraction(4, 5)) is False
    assert short[ANNA][0].as_dict(Fraction(4, 5))["meets_daily_ATT7"] is False


def test_lessons_not_started_yet_are_left_out():
    days = daily([lesson_log(AM, 120, 0, 120), lesson_log(PM, 120, 0, 120)], [ANNA], now=AM + timedelta(hours=3))
    assert days[ANNA][0].planned == timedelta(minutes=120) and set(days[ANNA][0].halves) == {"am"}


def test_att7_the_days_study_photo_is_the_first_one_kept():
    lesson, events = lesson_log(AM, 120, 0, 120)
    events.append(ev(AM + timedelta(minutes=1), "study_photo", ANNA, "student", file_id=42))
    events.sort(key=lambda e: e.at)
    day = daily([(lesson, events), lesson_log(PM, 120, 0, 120)], [ANNA], now=PM + timedelta(hours=5))[ANNA][0]
    assert day.photo_file_id == 42 and day.as_dict()["study_photo_file_id"] == 42
    none = daily([lesson_log(AM, 120, 0, 120)], [ANNA], now=PM)[ANNA][0]
    assert none.photo_file_id is None
