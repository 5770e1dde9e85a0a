"""One lesson's attendance per student, derived from its event log (ATT-1, ATT-2, ATT-3, ATT-4).

Credited live study time is the time a student was, all at once:

* **connected** — presence from ``join``/``leave``/``reconnect`` (server/live/eventlog.presence: a
  reconnect within the grace period is one continuous stay);
* while the **lecturer was live** — publishing the camera (slot ``main``) or a screen share, and
  connected; ``lesson_end`` ends it (the denominator of ATT-3 is this live time);
* with the **page visible** — a backgrounded phone (``page_visibility`` false) does not count;
* with the **camera on** — the attendance stream published (slot ``camera``), when required;
* with the **face verified** — between two consecutive ``face_check`` samples only if both matched
  the enrolled face (ATT-1: the samples bracketing a stretch vouch for it; a mismatch, an absent
  face or a failed sample breaks it); a matched sample vouches for at most ``max_sample_gap`` on a
  side with no sample (before the first, after the last, into a silence between two);
* and **alive** — from a failed ``liveness`` challenge (media/liveness.py: a photo or a replay in
  front of the camera) until the next passed one, nothing counts, matching face or not.

Attendance rate (ATT-4) = face checks passed ÷ face checks due (every sample taken of the student
is due; a ``match`` passes, except while the student stands failed on liveness). Thresholds are the region profile's, compared inclusively with exact
fractions: 80 % means 8 of 10 passes, and 0.7999… never rounds up.

Each student also gets a timeline: the lesson cut at every change, each piece credited or marked
with the first reason it was not — what the student and a supervisor open to see why.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, Iterable, Mapping

from server.attendance.intervals import Span, clip, intersect, normalise, subtract, total
from server.live import eventlog

MATCH = "match"
LECTURER_SLOTS = ("main", "screen")
REASONS = ("not_connected", "lecturer_not_live", "page_hidden", "camera_off", "face_unverified", "liveness_failed")


@dataclass(frozen=True)
class AttendanceRules:
    live_time_threshold: Fraction = Fraction(4, 5)  # ATT-3, inclusive
    attendance_threshold: Fraction = Fraction(4, 5)  # ATT-4, inclusive
    max_sample_gap: timedelta = timedelta(seconds=90)  # > the sampler's longest interval + keyframe wait
    camera_required: bool = True
    grace: timedelta = eventlog.DEFAULT_GRACE
    max_skew: timedelta = timedelta(seconds=2)  # clocks of the app nodes writing one log

    @classmethod
    def from_profile(cls, profile: Any, **overrides) -> "AttendanceRules":
        """The region profile's thresholds (floats in TOML) as exact fractions."""
        return cls(live_time_threshold=Fraction(str(profile.live_time_threshold)),
                   attendance_threshold=Fraction(str(profile.attendance_threshold)), **overrides)


@dataclass(frozen=True)
class Segment:
    start: datetime
    end: datetime
    credited: bool
    reason: str | None = None  # the first rule not met (REASONS), None when credited

    def as_dict(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "credited": self.credited,
                "reason": self.reason}


@dataclass
class StudentAttendance:
    user_id: int
    study: timedelta  # credited live study time (ATT-3 numerator)
    live: timedelta  # the lecturer's live time in the lesson (ATT-3 denominator)
    checks_due: int
    checks_passed: int
    reconnects: int
    rules: AttendanceRules
    timeline: list[Segment] = field(default_factory=list)

    @property
    def study_ratio(self) -> Fraction | None:
        if not self.live:
            return None
        return Fraction(_us(self.study), _us(self.live))

    @property
    def attendance_rate(self) -> Fraction | None:
        return Fraction(self.checks_passed, self.checks_due) if self.checks_due else None

    @property
    def meets_live_time(self) -> bool:  # ATT-3
        return self.study_ratio is not None and self.study_ratio >= self.rules.live_time_threshold

    @property
    def meets_attendance(self) -> bool:  # ATT-4: no check taken proves nothing
        return self.attendance_rate is not None and self.attendance_rate >= self.rules.attendance_threshold

    def as_dict(self) -> dict:
        ratio, rate = self.study_ratio, self.attendance_rate
        return {"user_id": self.user_id, "study_seconds": round(self.study.total_seconds()),
                "live_seconds": round(self.live.total_seconds()),
                "study_ratio": float(ratio) if ratio is not None else None, "meets_live_time": self.meets_live_time,
                "checks_due": self.checks_due, "checks_passed": self.checks_passed,
                "attendance_rate": float(rate) if rate is not None else None,
                "meets_attendance": self.meets_attendance, "reconnects": self.reconnects,
                "timeline": [s.as_dict() for s in self.timeline]}


def _us(d: timedelta) -> int:
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def _f(ev: Any, name: str) -> Any:
    return ev[name] if isinstance(ev, Mapping) else getattr(ev, name)


def _payload(ev: Any) -> dict:
    p = _f(ev, "payload")
    return p if isinstance(p, Mapping) else {}


def _slot_spans(events: list, user_ids: set[int] | None, slots: tuple[str, ...], until: datetime) -> dict[int, list[Span]]:
    """Per user: when a slot of ``slots`` was published (publish → unpublish / media_lost / lesson_end)."""
    open_at: dict[tuple[int, str], datetime] = {}
    spans: dict[int, list[Span]] = {}
    for ev in events:
        kind, uid, at = _f(ev, "kind"), _f(ev, "user_id"), _f(ev, "at")
        if kind == "lesson_end":
            for (u, _), start in open_at.items():
                spans.setdefault(u, []).append((start, at))
            open_at.clear()
            continue
        if uid is None or (user_ids is not None and uid not in user_ids):
            continue
        slot = _payload(ev).get("slot")
        if slot not in slots:
            continue
        key = (uid, slot)
        if kind == "publish":
            open_at.setdefault(key, at)
        elif kind in ("unpublish", "media_lost") and key in open_at:
            if kind == "media_lost" and _payload(ev).get("direction") not in (None, "up"):
                continue  # a lost download does not stop what the user publishes
            spans.setdefault(uid, []).append((open_at.pop(key), at))
    for (u, _), start in open_at.items():
        spans.setdefault(u, []).append((start, until))
    return {u: normalise(s) for u, s in spans.items()}


def _hidden_spans(events: list, until: datetime) -> dict[int, list[Span]]:
    """Per user: when the page was reported hidden (until it is visible again or the user rejoins)."""
    hidden_at: dict[int, datetime] = {}
    spans: dict[int, list[Span]] = {}
    for ev in events:
        kind, uid, at = _f(ev, "kind"), _f(ev, "user_id"), _f(ev, "at")
        if uid is None:
            continue
        if kind == "page_visibility":
            visible = bool(_payload(ev).get("visible", True))
            if not visible:
                hidden_at.setdefault(uid, at)
            elif uid in hidden_at:
                spans.setdefault(uid, []).append((hidden_at.pop(uid), at))
        elif kind == "join" and uid in hidden_at:  # a new page load starts visible
            spans.setdefault(uid, []).append((hidden_at.pop(uid), at))
    for uid, start in hidden_at.items():
        spans.setdefault(uid, []).append((start, until))
    return spans


def _unlive_spans(events: list, until: datetime) -> dict[int, list[Span]]:
    """Per user: from a failed liveness challenge until the next passed one (or ``until``)."""
    failed_at: dict[int, datetime] = {}
    spans: dict[int, list[Span]] = {}
    for ev in events:
        if _f(ev, "kind") != "liveness" or _f(ev, "user_id") is None:
            continue
        uid, at = _f(ev, "user_id"), _f(ev, "at")
        if _payload(ev).get("passed"):
            if uid in failed_at:
                spans.setdefault(uid, []).append((failed_at.pop(uid), at))
        else:
            failed_at.setdefault(uid, at)
    for uid, start in failed_at.items():
        spans.setdefault(uid, []).append((start, until))
    return spans


def _face_spans(samples: list[tuple[datetime, str]], gap: timedelta) -> list[Span]:
    """What the face samples vouch for (see the module docstring)."""
    out: list[Span] = []
    if not samples:
        return out
    first_at, first = samples[0]
    if first == MATCH:
        out.append((first_at - gap, first_at))
    for (a_at, a), (b_at, b) in zip(samples, samples[1:]):
        if a == MATCH and b == MATCH:
            if b_at - a_at <= gap:
                out.append((a_at, b_at))
            else:  # samples went missing: each side vouches for at most ``gap`` into the silence
                out += [(a_at, a_at + gap), (b_at - gap, b_at)]
    last_at, last = samples[-1]
    if last == MATCH:
        out.append((last_at, last_at + gap))
    return normalise(out)


def attendance(events: Iterable[Any], students: Iterable[int], *, until: datetime,
               rules: AttendanceRules = AttendanceRules()) -> dict[int, StudentAttendance]:
    """Each listed student's attendance in a lesson from its events in log order, counting open
    intervals up to ``until`` (now, or the lesson's end)."""
    events = list(events)
    students = list(students)
    pres = eventlog.presence(events, grace=rules.grace, max_skew=rules.max_skew)

    def connected(uid: int) -> list[Span]:
        p = pres.get(uid)
        return normalise((s, e if e is not None else until) for s, e in (p.intervals if p else []))

    lecturers = {_f(ev, "user_id") for ev in events if _f(ev, "role") == "lecturer" and _f(ev, "user_id") is not None}
    lecturer_pub = _slot_spans(events, lecturers, LECTURER_SLOTS, until)
    live = normalise(s for uid in lecturers for s in intersect(lecturer_pub.get(uid, []), connected(uid)))
    start = min((_f(ev, "at") for ev in events), default=until)
    live = clip(live, start, until)
    cameras = _slot_spans(events, set(students), ("camera",), until)
    hidden = _hidden_spans(events, until)
    unlive = _unlive_spans(events, until)
    samples: dict[int, list[tuple[datetime, str]]] = {}
    for ev in events:
        if _f(ev, "kind") == "face_check" and _f(ev, "user_id") is not None:
            samples.setdefault(_f(ev, "user_id"), []).append((_f(ev, "at"), str(_payload(ev).get("verdict"))))

    out = {}
    for uid in students:
        # The steps in REASONS order: each keeps what still counts after that rule.
        steps = [clip(connected(uid), start, until)]
        steps.append(intersect(steps[-1], live))
        steps.append(subtract(steps[-1], hidden.get(uid, [])))
        steps.append(intersect(steps[-1], cameras.get(uid, [])) if rules.camera_required else steps[-1])
        steps.append(intersect(steps[-1], _face_spans(samples.get(uid, []), rules.max_sample_gap)))
        steps.append(subtract(steps[-1], unlive.get(uid, [])))
        credited = steps[-1]
        user_samples = samples.get(uid, [])
        not_alive = unlive.get(uid, [])
        out[uid] = StudentAttendance(
            user_id=uid, study=total(credited), live=total(live), checks_due=len(user_samples),
            checks_passed=sum(v == MATCH and not any(s <= at < e for s, e in not_alive) for at, v in user_samples),
            reconnects=pres[uid].reconnects if uid in pres else 0, rules=rules,
            timeline=timeline(start, until, steps))
    return out


def timeline(start: datetime, until: datetime, steps: list[list[Span]],
             reasons: tuple[str, ...] = REASONS) -> list[Segment]:
    """Cut [start, until) at every boundary; label each piece credited or with its first failed
    rule: ``steps[i]`` is what still counts after rule ``reasons[i]`` (each narrower than the last)."""
    cuts = {start, until}
    for spans in steps:
        for s, e in spans:
            cuts.update((s, e))
    points = sorted(c for c in cuts if start <= c <= until)
    segments: list[Segment] = []
    for a, b in zip(points, points[1:]):
        reason = next((name for name, spans in zip(reasons, steps)
                       if not any(s <= a and b <= e for s, e in spans)), None)
        if segments and segments[-1].reason == reason and segments[-1].end == a:
            segments[-1] = Segment(segments[-1].start, b, reason is None, reason)
        else:
            segments.append(Segment(a, b, reason is None, reason))
    return segments
