"""Credited study time of a recorded lesson, derived from its event log (ATT-5, ATT-2, COURSE-1).

The student's phone page (client_web/study.html) sends a heartbeat, ``study_progress``, every
~10 s and at every change: the video position, playing or not, page visible or not. Between two
consecutive heartbeats of one page, at most ``max_gap`` apart, the state the first one reported
held. Credited study time is the time that was, all at once (in this order; the timeline names the
first one not met, so a pause a missed prompt caused reads as that, whatever the page did then):

* ``no_heartbeat`` — covered by a page's heartbeats: a gap longer than ``max_gap`` (2.5 heartbeats:
  phone locked, page closed, network gone) is not;
* ``prompt_failed`` — *missed prompts pause the credited time*: from a prompt's failure (the time of
  a wrong answer; the deadline of a prompt missed or answered late) until the next prompt answered
  correctly;
* ``face_failed`` — from a failed face check of a snapshot (anything but ``match``, or a snapshot
  asked for and not sent by the deadline — unless a wrong answer came first and its retry asked for
  the photo instead) until the next matching one;
* ``prompt_open`` — no human-machine prompt was waiting for its answer (the page pauses the video);
* ``not_playing`` — the video was playing (not paused, ended or stalled for data);
* ``page_hidden`` — the page was in the foreground;
* ``seek`` — the position advanced with the wall clock, |Δposition − Δtime| ≤ 2 s + 10 % of Δtime:
  a span with a jump in it (seeking forward or back, or playing faster) earns nothing, and the
  part of the video skipped over is not covered either.

Rewatching counts as time but not as new content: every credited second is also mapped to the
video position it showed, and ``covered`` is the union of those positions, at most one page per
second (two tabs playing at once do not cover two parts of the video). ``completion`` = covered ÷
the video's length, met at the region's threshold (the live-time share, 80 %), inclusive and with
exact fractions. Checks passed ÷ due counts prompts answered correctly and snapshot prompts with a
matching face. Everything here is a pure function of the events and can be re-run at any time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, Iterable, Mapping

from server.attendance.intervals import Span, intersect, normalise, subtract, total
from server.attendance.lessonattendance import AttendanceRules, Segment, StudentAttendance, timeline

REASONS = ("no_heartbeat", "prompt_failed", "face_failed", "prompt_open", "not_playing", "page_hidden", "seek")
KINDS = ("study_progress", "hm_prompt", "hm_answer", "face_check")
MATCH = "match"
DEFAULT_HEARTBEAT_S = 10.0
ANSWER_GRACE = timedelta(seconds=2)  # an answer sent at the deadline still counts after its trip (server/study)


def max_gap(every_s: float | None) -> timedelta:
    """The longest silence between two heartbeats that still counts as one continuous stay."""
    every = every_s if every_s and every_s > 0 else DEFAULT_HEARTBEAT_S
    return timedelta(seconds=max(2.5 * every, every + 5))


@dataclass(frozen=True)
class StudyRules:
    drift: timedelta = timedelta(seconds=2)  # position vs wall clock, absolute part …
    drift_share: float = 0.1  # … plus this share of the span (buffering, timer jitter)
    answer_grace: timedelta = ANSWER_GRACE
    completion_threshold: Fraction = Fraction(4, 5)

    @classmethod
    def from_attendance(cls, rules: AttendanceRules) -> "StudyRules":
        return cls(completion_threshold=rules.live_time_threshold)


@dataclass
class StudentStudy:
    user_id: int
    study: timedelta  # credited study time
    covered: float  # seconds of the video watched in credited time (new content)
    video: float | None  # the video's length, seconds
    prompts_due: int
    prompts_passed: int
    faces_due: int
    faces_passed: int
    rules: StudyRules
    timeline: list[Segment] = field(default_factory=list)

    @property
    def completion(self) -> Fraction | None:
        if not self.video:
            return None
        return min(Fraction(1), Fraction(round(self.covered * 1000), round(self.video * 1000)))

    @property
    def meets_completion(self) -> bool:
        return self.completion is not None and self.completion >= self.rules.completion_threshold

    @property
    def checks_due(self) -> int:
        return self.prompts_due + self.faces_due

    @property
    def checks_passed(self) -> int:
        return self.prompts_passed + self.faces_passed

    def as_dict(self) -> dict:
        c = self.completion
        return {"user_id": self.user_id, "study_seconds": round(self.study.total_seconds()),
                "covered_seconds": round(self.covered, 1), "video_seconds": self.video,
                "completion": float(c) if c is not None else None, "meets_completion": self.meets_completion,
                "prompts_due": self.prompts_due, "prompts_passed": self.prompts_passed,
                "faces_due": self.faces_due, "faces_passed": self.faces_passed,
                "timeline": [s.as_dict() for s in self.timeline]}


def _f(ev: Any, name: str) -> Any:
    return ev.get(name) if isinstance(ev, Mapping) else getattr(ev, name, None)


def _payload(ev: Any) -> dict:
    p = _f(ev, "payload")
    return p if isinstance(p, Mapping) else {}


def _time(raw: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return at if at is not None and at.tzinfo is not None else None


@dataclass
class _Beat:
    at: datetime
    pos: float
    playing: bool
    visible: bool
    every_s: float | None


@dataclass
class _Stretch:  # two consecutive heartbeats of one page
    start: datetime
    end: datetime
    level: int  # 1 covered, 2 and playing, 3 and visible, 4 and the position kept pace with the clock
    pos0: float
    pos1: float


@dataclass
class _Prompt:
    id: int
    issued: datetime
    deadline: datetime
    snapshot: bool
    outcome: str | None = None  # correct / wrong / late / missed; None while pending
    closed: datetime | None = None  # when it stopped waiting for an answer
    failed_at: datetime | None = None
    faces: list[tuple[datetime, bool]] = field(default_factory=list)


def _stretches(beats: dict[Any, list[_Beat]], rules: StudyRules) -> list[_Stretch]:
    out = []
    for seq in beats.values():
        for a, b in zip(seq, seq[1:]):
            wall = (b.at - a.at).total_seconds()
            if wall <= 0 or b.at - a.at > max_gap(a.every_s):
                continue
            level = 1
            if a.playing:
                level = 2
                if a.visible:
                    level = 3
                    tolerance = rules.drift.total_seconds() + rules.drift_share * wall
                    if abs((b.pos - a.pos) - wall) <= tolerance:
                        level = 4
            out.append(_Stretch(a.at, b.at, level, a.pos, b.pos))
    return out


def _prompts(events: list, uid: int, until: datetime, rules: StudyRules) -> list[_Prompt]:
    prompts: dict[int, _Prompt] = {}
    answers: dict[int, tuple[datetime, str]] = {}
    faces: list[tuple[int | None, datetime, bool]] = []
    for ev in events:
        if _f(ev, "user_id") != uid:
            continue
        kind, p, at = _f(ev, "kind"), _payload(ev), _f(ev, "at")
        if kind == "hm_prompt":
            deadline = _time(p.get("deadline")) or at
            prompts[_f(ev, "id")] = _Prompt(_f(ev, "id"), at, deadline, bool(p.get("snapshot")))
        elif kind == "hm_answer" and isinstance(p.get("prompt"), int):
            answers.setdefault(p["prompt"], (at, str(p.get("outcome"))))
        elif kind == "face_check" and p.get("source") == "study":
            verdict = p.get("verdict")
            when = (_time(p.get("deadline")) or at) if verdict == "no_sample" else at
            faces.append((p.get("prompt"), when, verdict == MATCH))
    for pid, when, ok in faces:
        if pid in prompts:
            prompts[pid].faces.append((when, ok))
    ordered = sorted(prompts.values(), key=lambda pr: (pr.issued, pr.id))
    for i, pr in enumerate(ordered):
        if pr.snapshot and not pr.faces and any(later.issued <= pr.deadline + rules.answer_grace
                                                for later in ordered[i + 1:]):
            pr.snapshot = False  # answered wrong before the photo: the retry asked for it instead
        answered = answers.get(pr.id)
        if answered is not None and answered[1] in ("correct", "wrong"):
            pr.outcome, pr.closed = answered[1], answered[0]
            pr.failed_at = answered[0] if answered[1] == "wrong" else None
        elif answered is not None or pr.deadline + rules.answer_grace <= until:
            pr.outcome = answered[1] if answered is not None and answered[1] == "late" else "missed"
            pr.closed = pr.failed_at = pr.deadline
        if pr.snapshot and not pr.faces and pr.deadline + rules.answer_grace <= until:
            pr.faces.append((pr.deadline, False))  # asked for and never sent
    return ordered


def _prompt_spans(prompts: list[_Prompt], until: datetime) -> tuple[list[Span], list[Span]]:
    """(waiting for an answer, paused by a failure until the next correct answer)."""
    waiting = [(pr.issued, pr.closed or until) for pr in prompts]
    paused = []
    for i, pr in enumerate(prompts):
        if pr.failed_at is None:
            continue
        end = next((later.closed for later in prompts[i + 1:] if later.outcome == "correct"), until)
        paused.append((pr.failed_at, max(end, pr.failed_at)))
    return normalise(waiting), normalise(paused)


def _face_spans(prompts: list[_Prompt], until: datetime) -> list[Span]:
    checks = sorted(c for pr in prompts for c in pr.faces)
    spans, failed_at = [], None
    for at, ok in checks:
        if not ok and failed_at is None:
            failed_at = at
        elif ok and failed_at is not None:
            spans.append((failed_at, at))
            failed_at = None
    if failed_at is not None:
        spans.append((failed_at, until))
    return normalise(spans)


def _covered(stretches: list[_Stretch], credited: list[Span], video: float | None) -> float:
    """Seconds of the video shown in credited time, each wall-clock second counted for one page."""
    claimed: list[Span] = []
    ranges: list[tuple[float, float]] = []
    for st in sorted((s for s in stretches if s.level >= 4), key=lambda s: (s.start, s.end)):
        pieces = subtract(intersect(credited, [(st.start, st.end)]), claimed)
        rate = (st.pos1 - st.pos0) / (st.end - st.start).total_seconds()
        for a, b in pieces:
            p0 = st.pos0 + rate * (a - st.start).total_seconds()
            p1 = st.pos0 + rate * (b - st.start).total_seconds()
            lo, hi = max(0.0, min(p0, p1)), max(p0, p1)
            if video:
                hi = min(hi, video)
            if hi > lo:
                ranges.append((lo, hi))
        claimed = normalise(claimed + pieces)
    covered, end = 0.0, None
    for lo, hi in sorted(ranges):
        if end is None or lo > end:
            covered += hi - lo
            end = hi
        elif hi > end:
            covered += hi - end
            end = hi
    return covered


def study(events: Iterable[Any], students: Iterable[int], *, until: datetime, rules: StudyRules = StudyRules(),
          video_seconds: float | None = None) -> dict[int, StudentStudy]:
    """Each listed student's recorded study from the lesson's events (rows or mappings, any order),
    counting up to ``until``. ``video_seconds`` defaults to what the heartbeats recorded."""
    events = sorted((ev for ev in events if _f(ev, "kind") in KINDS), key=lambda ev: (_f(ev, "at"), _f(ev, "id") or 0))
    out = {}
    for uid in students:
        beats: dict[Any, list[_Beat]] = {}
        video = video_seconds
        for ev in events:
            if _f(ev, "kind") != "study_progress" or _f(ev, "user_id") != uid or _f(ev, "at") > until:
                continue
            p = _payload(ev)
            try:
                pos = float(p.get("pos", 0.0))
            except (TypeError, ValueError):
                continue
            beats.setdefault(_f(ev, "session_id"), []).append(
                _Beat(_f(ev, "at"), pos, bool(p.get("playing")), bool(p.get("visible", True)), p.get("every_s")))
            if video_seconds is None and isinstance(p.get("video_s"), (int, float)):
                video = float(p["video_s"])
        stretches = _stretches(beats, rules)
        prompts = _prompts([ev for ev in events if _f(ev, "at") <= until], uid, until, rules)
        waiting, paused = _prompt_spans(prompts, until)
        # the steps in REASONS order, each keeping what still counts after that rule
        levels = [normalise((s.start, s.end) for s in stretches if s.level >= n) for n in (1, 2, 3, 4)]
        steps = [levels[0]]
        for spans in (paused, _face_spans(prompts, until), waiting):
            steps.append(subtract(steps[-1], spans))
        for spans in levels[1:]:
            steps.append(intersect(steps[-1], spans))
        credited = steps[-1]
        first = min((b.at for seq in beats.values() for b in seq), default=until)
        closed = [pr for pr in prompts if pr.outcome is not None]
        face_closed = [pr for pr in prompts if pr.snapshot and (any(ok for _, ok in pr.faces)
                                                                or pr.deadline + rules.answer_grace <= until)]
        out[uid] = StudentStudy(
            user_id=uid, study=total(credited), covered=_covered(stretches, credited, video), video=video,
            prompts_due=len(closed), prompts_passed=sum(pr.outcome == "correct" for pr in closed),
            faces_due=len(face_closed), faces_passed=sum(any(ok for _, ok in pr.faces) for pr in face_closed),
            rules=rules, timeline=timeline(first, until, steps, REASONS))
    return out


# --------------------------------------------------------------------------- as lesson attendance

@dataclass
class RecordedAttendance(StudentAttendance):
    """A recorded lesson in the class report (ATT-2): ``study`` is the credited time, ``live`` the
    video's length, and the ratio the content covered (rewatching earns time, not completion)."""

    covered: float = 0.0

    @property
    def study_ratio(self) -> Fraction | None:
        if not self.live:
            return None
        return min(Fraction(1), Fraction(round(self.covered * 1000), round(self.live.total_seconds() * 1000)))


def recorded_attendance(events: Iterable[Any], students: Iterable[int], *, until: datetime,
                        rules: AttendanceRules = AttendanceRules()) -> dict[int, StudentAttendance]:
    """``study`` in the shape of server/attendance/lessonattendance.attendance, for reports."""
    found = study(events, students, until=until, rules=StudyRules.from_attendance(rules))
    return {uid: RecordedAttendance(
        user_id=uid, study=s.study, live=timedelta(seconds=s.video or 0), checks_due=s.checks_due,
        checks_passed=s.checks_passed, reconnects=0, rules=rules, timeline=s.timeline, covered=s.covered)
        for uid, s in found.items()}
