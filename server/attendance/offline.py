"""Offline lessons' attendance (ATT-6; read by ATT-2/3/4 reports and ATT-7 daily records).

An offline lesson has no lecturer stream and no room to connect to: the proof of presence is the
student's sign-in on the phone page — a face check and a location fix inside the venue — logged as
``offline_sign_in`` events (server/api/offlinesignin.py), accepted or refused. Like live attendance
(lessonattendance.py) everything here is a pure function over the lesson's events.

* Presence runs from an accepted ``sign_in`` to the next accepted ``sign_out``, or to the lesson's
  end when the student never signs out; several stays (out for lunch, back again) add up. It is
  clipped to the scheduled lesson: signing in early earns nothing extra, nor does lingering.
* Refused attempts change nothing (they stay in the log for supervisors); a repeated sign-in while
  signed in, or a sign-out while not, changes nothing either.
* The figures match a live lesson's ``StudentAttendance``: study = signed-in time in the lesson
  (ATT-3 numerator); live = the lesson's scheduled time held so far (there is no stream to
  measure); the face check due is the sign-in (one per lesson), passed by an accepted one — a retry
  after a refusal (a poor GPS fix) is not held against the student (ATT-4).

Sign-in window: from ``EARLY`` (30 min) before the start to the end; sign-out until ``LATE``
(30 min) after the end, so a student leaving when the lecturer overruns can still sign out.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from server.attendance.intervals import Span, clip, normalise, total
from server.attendance.lessonattendance import AttendanceRules, StudentAttendance, attendance, timeline

KIND = "offline_sign_in"
ACTIONS = ("sign_in", "sign_out")
EARLY = timedelta(minutes=30)
LATE = timedelta(minutes=30)
NOT_SIGNED_IN = "not_signed_in"  # the timeline's reason for an uncredited stretch


def is_offline(lesson: Any) -> bool:
    return getattr(lesson, "mode", None) == "offline"


def window(lesson: Any, action: str) -> tuple[datetime, datetime]:
    """When ``action`` is allowed for this lesson (inclusive bounds)."""
    return lesson.starts_at - EARLY, lesson.ends_at + (LATE if action == "sign_out" else timedelta(0))


def _f(ev: Any, name: str) -> Any:
    return ev[name] if isinstance(ev, Mapping) else getattr(ev, name)


def _accepted(events: Iterable[Any]) -> Iterable[tuple[datetime, int, str]]:
    for ev in events:
        payload = _f(ev, "payload") or {}
        if _f(ev, "kind") == KIND and _f(ev, "user_id") is not None and payload.get("accepted") is True:
            yield _f(ev, "at"), _f(ev, "user_id"), payload.get("action")


def stays(events: Iterable[Any], end: datetime) -> dict[int, list[Span]]:
    """Per student, the stays from accepted sign-ins to sign-outs (open ones run to ``end``), unclipped."""
    open_at: dict[int, datetime] = {}
    out: dict[int, list[Span]] = {}
    for at, uid, action in _accepted(events):
        if action == "sign_in":
            open_at.setdefault(uid, at)
        elif action == "sign_out" and uid in open_at:
            out.setdefault(uid, []).append((open_at.pop(uid), at))
    for uid, start in open_at.items():
        out.setdefault(uid, []).append((start, max(start, end)))
    return out


def signed_in(events: Iterable[Any], user_id: int) -> bool:
    """Whether the student's last accepted action was a sign-in (so a sign-out is due)."""
    state = False
    for _, uid, action in _accepted(events):
        if uid == user_id:
            state = action == "sign_in"
    return state


def sign_times(events: Iterable[Any], user_id: int) -> tuple[datetime | None, datetime | None]:
    """ATT-7: the student's first accepted sign-in and last accepted sign-out in this lesson."""
    first_in = last_out = None
    for at, uid, action in _accepted(events):
        if uid != user_id:
            continue
        if action == "sign_in" and first_in is None:
            first_in = at
        elif action == "sign_out" and first_in is not None:
            last_out = at
    return first_in, last_out


def offline_attendance(lesson: Any, events: Iterable[Any], students: Iterable[int], *, until: datetime,
                       rules: AttendanceRules = AttendanceRules()) -> dict[int, StudentAttendance]:
    """Each listed student's attendance in an offline lesson, counted up to ``until`` (now, or later)."""
    events = list(events)
    start, stop = lesson.starts_at, max(lesson.starts_at, min(lesson.ends_at, until))
    found = stays(events, lesson.ends_at)
    tried = {uid for _, uid, action in _accepted(events) if action == "sign_in"}
    out = {}
    for uid in students:
        credited = clip(found.get(uid, []), start, stop)
        passed = int(uid in tried)
        out[uid] = StudentAttendance(user_id=uid, study=total(credited), live=stop - start,
                                     checks_due=1 if stop > start or passed else 0, checks_passed=passed,
                                     reconnects=0, rules=rules, timeline=timeline(start, stop, [normalise(credited)], (NOT_SIGNED_IN,)))
    return out


def lesson_attendance(lesson: Any, events: Iterable[Any], students: Iterable[int], *, until: datetime,
                      rules: AttendanceRules = AttendanceRules()) -> dict[int, StudentAttendance]:
    """One lesson's attendance whatever its mode: offline ones from sign-ins, recorded ones from the
    study page's heartbeats and prompts (ATT-5), others from the room."""
    if is_offline(lesson):
        return offline_attendance(lesson, events, students, until=until, rules=rules)
    if getattr(lesson, "mode", None) == "recorded":
        from server.attendance.recordedstudy import recorded_attendance
        return recorded_attendance(events, students, until=until, rules=rules)
    return attendance(events, students, until=until, rules=rules)
