"""A student studying a recorded lesson, as the server runs it: heartbeats in, prompts out (ATT-5).

Nothing is kept in memory or in a table of its own: each request reads the student's prompt history
for the lesson from the event log, acts, and appends what happened — so any app node can serve the
next request, and the log alone explains the credited time (server/attendance/recordedstudy.py).

* A **heartbeat** is logged as ``study_progress`` (the server adds the heartbeat interval and the
  video's length, so the log is self-describing). Then a prompt whose deadline has passed is closed
  (``hm_answer`` outcome ``missed``; a snapshot asked for and never sent becomes ``face_check``
  ``no_sample``), and a new prompt is issued when one is due (server/study/prompts.py): at once after
  a failure, else after the drawn amount of watching — and only to a visible page.
* An **answer** closes the prompt: ``correct``, ``wrong``, or ``late`` after the deadline. Anything
  but correct is followed by a retry prompt in the same response.
* A **snapshot** answers a prompt's face check: up to ``MAX_SNAPSHOTS`` per prompt (retakes after a
  poor photo) until the deadline.

Requests of one student in one lesson are serialised — a process lock, and on PostgreSQL the
enrolment row locked by the caller — and commit before the lock is released, so two tabs'
heartbeats never both issue a prompt.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.events import LessonEvent
from server.attendance.recordedstudy import max_gap
from server.errors import ApiError, Conflict, NotFound
from server.live import eventlog
from server.study import prompts

RULE = "ATT-5"
MAX_SNAPSHOTS = 3
_LOCKS = [threading.Lock() for _ in range(64)]


@contextmanager
def serialised(lesson_id: int, user_id: int) -> Iterator[None]:
    with _LOCKS[hash((lesson_id, user_id)) % len(_LOCKS)]:
        yield


def _time(raw) -> datetime:
    return datetime.fromisoformat(raw)


@dataclass
class Prompt:
    event: LessonEvent
    answer: LessonEvent | None = None
    faces: list[LessonEvent] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.event.id

    @property
    def p(self) -> dict:
        return self.event.payload or {}

    @property
    def deadline(self) -> datetime:
        return _time(self.p["deadline"])

    @property
    def snapshot(self) -> bool:
        return bool(self.p.get("snapshot"))

    @property
    def outcome(self) -> str | None:
        return (self.answer.payload or {}).get("outcome") if self.answer else None

    @property
    def face_verdict(self) -> str | None:
        return (self.faces[-1].payload or {}).get("verdict") if self.faces else None

    @property
    def face_ok(self) -> bool:
        return any((f.payload or {}).get("verdict") == "match" for f in self.faces)

    def lapsed(self, now: datetime) -> bool:
        return now > self.deadline + prompts.ANSWER_GRACE

    def pending(self, now: datetime) -> bool:
        """Still something for the page to do: answer it, or (re)take the snapshot."""
        if self.lapsed(now):
            return False
        return self.answer is None or (self.snapshot and not self.face_ok and len(self.faces) < MAX_SNAPSHOTS)

    def public(self, now: datetime) -> dict:
        """What the page sees (never the expected answer)."""
        p = self.p
        return {"id": self.id, "type": p.get("type"), "question_zh": p.get("question_zh"),
                "question_en": p.get("question_en"), "choices": p.get("choices"), "retry": bool(p.get("retry")),
                "deadline": p["deadline"], "expires_in": round(max(0.0, (self.deadline - now).total_seconds()), 1),
                "answered": self.answer is not None, "outcome": self.outcome, "snapshot": self.snapshot,
                "face": self.face_verdict, "face_ok": self.face_ok,
                "snapshots_left": max(0, MAX_SNAPSHOTS - len(self.faces)) if self.snapshot else 0}


@dataclass
class Study:
    """One request's view of one student's study of one lesson."""

    s: Session
    cipher: object
    settings: object
    lesson_id: int
    user_id: int
    now: datetime
    video_seconds: float
    node_id: str
    session_id: str | None = None
    prompts: list[Prompt] = field(default_factory=list)

    def append(self, kind: str, payload: dict) -> LessonEvent:
        return eventlog.append(self.s, self.lesson_id, kind, user_id=self.user_id, role="student",
                               session_id=self.session_id, node_id=self.node_id, payload=payload, at=self.now)

    def load(self) -> "Study":
        rows = self.s.scalars(select(LessonEvent).where(
            LessonEvent.lesson_id == self.lesson_id, LessonEvent.user_id == self.user_id,
            LessonEvent.kind.in_(("hm_prompt", "hm_answer", "face_check"))).order_by(LessonEvent.id))
        by_id: dict[int, Prompt] = {}
        for ev in rows:
            p = ev.payload or {}
            if ev.kind == "hm_prompt":
                by_id[ev.id] = Prompt(ev)
                self.prompts.append(by_id[ev.id])
            elif ev.kind == "hm_answer" and p.get("prompt") in by_id:
                by_id[p["prompt"]].answer = by_id[p["prompt"]].answer or ev
            elif ev.kind == "face_check" and p.get("source") == "study" and p.get("prompt") in by_id:
                by_id[p["prompt"]].faces.append(ev)
        return self

    @property
    def last(self) -> Prompt | None:
        return self.prompts[-1] if self.prompts else None

    def prompt(self, prompt_id: int) -> Prompt:
        found = next((pr for pr in self.prompts if pr.id == prompt_id), None)
        if found is None:
            raise NotFound("验证题", "prompt", field="prompt_id")
        return found

    # ------------------------------------------------------------------ closing and issuing

    def close_lapsed(self) -> None:
        """Record what a passed deadline settled: a missed answer, a snapshot never sent."""
        for i, pr in enumerate(self.prompts):
            if not pr.lapsed(self.now):
                continue
            if pr.answer is None:
                pr.answer = self.append("hm_answer", {"prompt": pr.id, "answer": None, "outcome": "missed",
                                                      "deadline": pr.p["deadline"]})
            later = self.prompts[i + 1] if i + 1 < len(self.prompts) else None
            if later is not None and later.event.at <= pr.deadline + prompts.ANSWER_GRACE:
                continue  # answered wrong before its photo: the retry asked for the photo instead
            if pr.snapshot and not pr.faces:
                pr.faces.append(self.append("face_check", {"source": "study", "prompt": pr.id, "verdict": "no_sample",
                                                           "faces": 0, "deadline": pr.p["deadline"]}))

    def _needs_retry(self) -> bool:
        last = self.last
        if last is None or last.pending(self.now):
            return False
        return last.outcome in ("wrong", "late", "missed") or (last.snapshot and not last.face_ok)

    def _watched_since_last(self) -> float:
        """Seconds of watching (playing, page visible) since the last prompt closed, or since the start."""
        last = self.last
        since_id = last.id if last else 0
        anchor = None
        if last is not None:
            anchor = last.answer.at if last.answer is not None and last.outcome == "correct" else last.deadline
        beats = self.s.scalars(select(LessonEvent).where(
            LessonEvent.lesson_id == self.lesson_id, LessonEvent.user_id == self.user_id,
            LessonEvent.kind == "study_progress", LessonEvent.id > since_id).order_by(LessonEvent.id))
        by_session: dict[str | None, list[LessonEvent]] = {}
        for ev in beats:
            by_session.setdefault(ev.session_id, []).append(ev)
        watched = 0.0
        for seq in by_session.values():
            for a, b in zip(seq, seq[1:]):
                pa = a.payload or {}
                if not (pa.get("playing") and pa.get("visible")) or b.at - a.at > max_gap(pa.get("every_s")):
                    continue
                start = max(a.at, anchor) if anchor else a.at
                watched += max(0.0, (b.at - start).total_seconds())
        return watched

    def _plan(self) -> prompts.PromptPlan:
        n = len(self.prompts)
        return prompts.draw(prompts.seed(self.cipher, self.lesson_id, self.user_id, n), n,
                            interval=self.settings.study_prompt_seconds, face_share=self.settings.study_face_share)

    def issue(self, *, retry: bool) -> Prompt:
        plan = self._plan()
        last = self.last
        face_failed = last is not None and last.snapshot and not last.face_ok
        window = float(self.settings.study_prompt_window_seconds)
        deadline = self.now + timedelta(seconds=window)
        ev = self.append("hm_prompt", {
            "n": plan.n, "type": plan.type, "question_zh": plan.question_zh, "question_en": plan.question_en,
            "choices": list(plan.choices), "answer": plan.answer, "window_s": window,
            "deadline": deadline.isoformat(), "snapshot": plan.snapshot or face_failed, "retry": retry,
            "after_s": None if retry else plan.interval_s})
        pr = Prompt(ev)
        self.prompts.append(pr)
        return pr

    # ------------------------------------------------------------------ the three requests

    def heartbeat(self, *, pos: float, playing: bool, visible: bool, reason: str) -> Prompt | None:
        """Log the heartbeat; the prompt the page must show now, if any."""
        self.append("study_progress", {"pos": round(pos, 3), "playing": playing, "visible": visible,
                                       "reason": reason, "every_s": float(self.settings.study_heartbeat_seconds),
                                       "video_s": self.video_seconds})
        self.close_lapsed()
        last = self.last
        if last is not None and last.pending(self.now):
            return last
        if not visible:
            return None  # a hidden page could not see a prompt: it would only expire
        if self._needs_retry():
            return self.issue(retry=True)
        if playing and self._watched_since_last() >= self._plan().interval_s:
            return self.issue(retry=False)
        return None

    def answer(self, prompt_id: int, given: str) -> tuple[str, Prompt | None]:
        """(outcome, the retry prompt after anything but a correct answer)."""
        pr = self.prompt(prompt_id)
        if pr.answer is not None:
            raise Conflict("PROMPT_CLOSED", "这道验证题已经作答或已超时，请以最新的题目为准",
                           "This prompt was already answered or has expired; answer the latest one",
                           field="prompt_id", rule=RULE)
        if pr.lapsed(self.now):
            outcome = "late"
        else:
            outcome = "correct" if prompts.judge(str(pr.p.get("answer")), given) else "wrong"
        latency = round((self.now - pr.event.at).total_seconds(), 1)
        pr.answer = self.append("hm_answer", {"prompt": pr.id, "answer": given[:8], "outcome": outcome,
                                              "deadline": pr.p["deadline"], "latency_s": latency})
        if outcome == "correct":
            return outcome, None
        self.close_lapsed()
        return outcome, self.issue(retry=True)

    def snapshot_allowed(self, prompt_id: int) -> Prompt:
        pr = self.prompt(prompt_id)
        if not pr.snapshot:
            raise Conflict("SNAPSHOT_NOT_REQUESTED", "这道验证题不需要拍照", "This prompt does not ask for a snapshot",
                           field="prompt_id", rule=RULE)
        if pr.lapsed(self.now):
            raise Conflict("PROMPT_CLOSED", "拍照时间已过，请以最新的题目为准", "The time for this snapshot is over",
                           field="prompt_id", rule=RULE)
        if pr.face_ok or len(pr.faces) >= MAX_SNAPSHOTS:
            raise ApiError("SNAPSHOT_LIMIT", f"本题已核验通过或已拍满 {MAX_SNAPSHOTS} 次",
                           f"This prompt's face check has passed or used its {MAX_SNAPSHOTS} snapshots",
                           field="photo", status=409, rule=RULE)
        return pr

    def record_face(self, pr: Prompt, result: dict, file_id: int | None) -> LessonEvent:
        payload = {k: v for k, v in result.items() if v not in (None, [], ())}
        payload.update(source="study", prompt=pr.id)
        if file_id is not None:
            payload["file_id"] = file_id
        ev = self.append("face_check", payload)
        pr.faces.append(ev)
        return ev
