"""The lesson event log: append, read back, and derive presence (who is online, and when).

Every room event (issue 3 §3) is appended to ``lesson_events`` as it happens; the table is
append-only at the database (migration 0003). Attendance and study time (ATT-1/2/3), the online
list and count (SUP-4) and supervision reports (SUP-6) are all computed from this one log, so the
derivation here is a pure function over events and can be re-run at any time.

Presence rules (issue 3 §5 "the log shows one reconnect, not a new person"):

* A user may hold several sessions at once (phone + a reloaded tab); their presence is the union.
* ``session_id`` is the client's connection identity. A ``join`` or ``reconnect`` of a session that
  left at most ``grace`` (30 s by default) earlier resumes the same continuous interval; after the
  grace period it starts a new interval.
* Each connection may carry ``payload["conn"]``: a session stays connected while any of its
  connections is, so a reload whose new socket joins before the old socket's leave is logged is a
  reconnect, not a gap.
* A ``leave`` without a later resume closes the interval at the leave time; ``lesson_end`` closes
  everyone's intervals. An interval with no end is open: the user is connected now.
* Hidden spectators (role ``supervisor``) are never in the list or count shown to students (SUP-4).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.events import LessonEvent

KINDS: tuple[str, ...] = (
    "join", "leave", "reconnect",
    "publish", "unpublish",
    "chat", "question", "answer",
    "private",  # LIVE-4: one-to-one text between an assistant and a student of their group; payload to, text
    "reminder",  # LIVE-4: staff nudge one student ("please face the camera"); payload user_id, preset, text
    "hand_raise", "hand_lower", "floor_grant", "floor_revoke",
    "layer_switch", "network_quality", "media_lost", "page_visibility",
    "lesson_start", "lesson_end",
    "face_check",  # ATT-1: one sampled frame judged (media/facecheck.py verdicts), read by server/attendance
    "roll_call",  # ATT-8: a supervisor had a random share of the class face-checked at once
    "liveness_challenge",  # ATT-1: a head-turn-and-blink challenge shown to a student (media/liveness.py)
    "liveness",  # ... and its verdict: passed, reasons, the measures, the identity of the best frame
    "study_photo",  # ATT-7: the day's study photo (the first matching sample), payload file_id
    # ATT-6 / CLS-6: one offline-lesson sign-in or sign-out attempt (face + location), accepted or
    # refused; payload action, accepted, reason, distance_m, radius_m, accuracy_m, verdict,
    # face_distance. Written by server/api/offlinesignin.py, read by server/attendance/offline.py.
    "offline_sign_in",
    # CLS-8: a student watched part of this lesson's replay; payload {"ranges": [[from_s, to_s], ...]}
    # (positions in the recording, seconds). Read by server/attendance/absences.py as make-up study.
    "replay_progress",
    # ATT-5 recorded study (server/study/, read by server/attendance/recordedstudy.py): the phone
    # page's heartbeat — payload pos (video seconds), playing, visible, reason, every_s, video_s;
    "study_progress",
    # a human-machine prompt the server chose to ask — n, type, question, choices, answer, deadline,
    # snapshot (a face check wanted too), retry; its face results are ``face_check`` with source "study"
    "hm_prompt",
    # the prompt's answer or miss — prompt (the hm_prompt event id), answer, outcome correct / wrong /
    # late / missed, deadline
    "hm_answer",
)
PRESENCE_KINDS: tuple[str, ...] = ("join", "leave", "reconnect", "lesson_end")
HIDDEN_ROLES: frozenset[str] = frozenset({"supervisor", "spectator"})  # SUP-4: spectators are invisible to students
MAX_PAYLOAD_BYTES = 8 * 1024
DEFAULT_GRACE = timedelta(seconds=30)
DEFAULT_LIMIT = 1000


# --------------------------------------------------------------------------- writing and reading

def encode_payload(payload: Mapping[str, Any] | None) -> bytes:
    """The payload as compact UTF-8 JSON; ValueError unless it is a JSON object of at most 8 KB."""
    if payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        raise ValueError(f"event payload must be a JSON object, not {type(payload).__name__}")
    try:
        # allow_nan=False: NaN/Infinity are not JSON and PostgreSQL refuses them.
        raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"event payload is not JSON-serialisable: {exc}") from None
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"event payload is {len(raw)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    return raw


def append(session: Session, lesson_id: int, kind: str, *, user_id: int | None = None,
           role: str | None = None, session_id: str | None = None, node_id: str,
           payload: Mapping[str, Any] | None = None, at: datetime | None = None) -> LessonEvent:
    """Append one event and flush so it has its id (the caller's unit of work commits it)."""
    if kind not in KINDS:
        raise ValueError(f"unknown lesson event kind {kind!r}")
    if not node_id:
        raise ValueError("node_id is required: every event records the process that wrote it")
    if at is None:
        at = utcnow()
    elif at.tzinfo is None:
        raise ValueError("event time must be timezone-aware")
    raw = encode_payload(payload)
    event = LessonEvent(lesson_id=lesson_id, at=at, kind=kind, user_id=user_id, role=role,
                        session_id=session_id, node_id=node_id, payload=json.loads(raw))
    session.add(event)
    session.flush()
    return event


def events(session: Session, lesson_id: int, *, after_id: int | None = None,
           kinds: Iterable[str] | None = None, limit: int | None = DEFAULT_LIMIT,
           students: Iterable[int] | None = None) -> list[LessonEvent]:
    """A lesson's events in log order (by id), optionally after an id (catch-up) and of some kinds.

    ``limit=None`` reads everything (presence needs the whole join/leave history: pass
    ``kinds=PRESENCE_KINDS`` to keep that read small). ``students`` keeps, of the students' events,
    only those listed ones' — with every staff and system event — which is all one student's
    attendance depends on, at a fraction of a whole class's log.
    """
    q = select(LessonEvent).where(LessonEvent.lesson_id == lesson_id)
    if students is not None:
        q = q.where(or_(LessonEvent.role.is_(None), LessonEvent.role != "student",
                        LessonEvent.user_id.in_(list(students))))
    if after_id is not None:
        q = q.where(LessonEvent.id > after_id)
    if kinds is not None:
        kinds = tuple(kinds)
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown lesson event kinds {sorted(unknown)}")
        q = q.where(LessonEvent.kind.in_(kinds))
    q = q.order_by(LessonEvent.id)
    if limit is not None:
        q = q.limit(limit)
    return list(session.scalars(q))


def recent(session: Session, lesson_id: int, kinds: Iterable[str], limit: int) -> list[LessonEvent]:
    """A lesson's last ``limit`` events of some kinds, in log order (one indexed read from the end)."""
    stmt = (select(LessonEvent).where(LessonEvent.lesson_id == lesson_id, LessonEvent.kind.in_(tuple(kinds)))
            .order_by(LessonEvent.id.desc()).limit(limit))
    return list(reversed(session.scalars(stmt).all()))


def latest_per_user(session: Session, lesson_id: int, kind: str) -> dict[int, LessonEvent]:
    """Each user's last event of ``kind`` in a lesson — one indexed query, however long the lesson
    (a staff console joining late must not read every face check of 200 students)."""
    if kind not in KINDS:
        raise ValueError(f"unknown lesson event kind {kind!r}")
    last = (select(func.max(LessonEvent.id)).where(LessonEvent.lesson_id == lesson_id, LessonEvent.kind == kind,
                                                  LessonEvent.user_id.is_not(None))
            .group_by(LessonEvent.user_id))
    return {ev.user_id: ev for ev in session.scalars(select(LessonEvent).where(LessonEvent.id.in_(last)))}


# --------------------------------------------------------------------------- presence (pure)

Interval = tuple[datetime, datetime | None]  # end None: still connected


@dataclass
class Presence:
    """One user's presence in a lesson, derived from the log."""

    user_id: int
    role: str | None
    intervals: list[Interval]  # union over all the user's sessions, sorted, non-overlapping
    sessions: frozenset[str | None]  # sessions connected now
    reconnects: int = 0  # resumes within the grace period (same person, same continuous presence)

    @property
    def online(self) -> bool:
        return bool(self.sessions)

    @property
    def hidden(self) -> bool:
        return self.role in HIDDEN_ROLES

    def connected(self, until: datetime) -> timedelta:
        """Total connected time, counting open intervals up to ``until`` (ATT-3 study time)."""
        total = timedelta(0)
        for start, end in self.intervals:
            stop = until if end is None else min(end, until)
            if stop > start:
                total += stop - start
        return total


@dataclass
class _Session:
    intervals: list[list]  # [start, end | None]
    left_at: datetime | None = None  # when it last left (resumable within the grace period)
    conns: set = field(default_factory=set)  # open connections (payload "conn") of this session

    @property
    def open(self) -> bool:
        return bool(self.intervals) and self.intervals[-1][1] is None


@dataclass
class _User:
    role: str | None = None
    sessions: dict[str | None, _Session] = field(default_factory=dict)
    reconnects: int = 0


def _field(event: Any, name: str) -> Any:
    return event[name] if isinstance(event, Mapping) else getattr(event, name)


def presence(events: Iterable[Any], *, grace: timedelta = DEFAULT_GRACE,
             visible_to_students: bool = False,
             max_skew: timedelta = timedelta(0)) -> dict[int, Presence]:
    """Each user's presence from events given in log order (``LessonEvent`` rows or mappings).

    Timestamps must not go backwards: ValueError otherwise. ``max_skew`` tolerates a small step
    back (clocks of several writers) by treating the event as happening at the previous time.
    ``visible_to_students=True`` leaves out hidden spectators (SUP-4).
    """
    users: dict[int, _User] = {}
    last: datetime | None = None
    for ev in events:
        at = _field(ev, "at")
        if at is None or at.tzinfo is None:
            raise ValueError("event times must be timezone-aware")
        if last is not None and at < last:
            if last - at > max_skew:
                raise ValueError(f"events out of order: {at.isoformat()} comes after {last.isoformat()}")
            at = last
        last = at
        kind = _field(ev, "kind")
        if kind == "lesson_end":
            for user in users.values():
                for sess in user.sessions.values():
                    if sess.open:
                        sess.intervals[-1][1] = at
                    sess.left_at = None  # the room closed: nothing to resume
            continue
        if kind not in ("join", "leave", "reconnect"):
            continue
        user_id = _field(ev, "user_id")
        if user_id is None:
            continue
        user = users.setdefault(user_id, _User())
        role = _field(ev, "role")
        sid = _field(ev, "session_id")
        sess = user.sessions.setdefault(sid, _Session(intervals=[]))
        payload = ev.get("payload") if isinstance(ev, Mapping) else getattr(ev, "payload", None)
        conn = (payload or {}).get("conn")
        if kind == "leave":
            sess.conns.discard(conn)
            if sess.open and not sess.conns:  # the session's last connection left
                sess.intervals[-1][1] = at
                sess.left_at = at
            continue
        if role is not None:
            user.role = role
        if sess.open:
            if kind == "reconnect" or (conn is not None and conn not in sess.conns):
                # back on a new connection before the old one's leave was logged: same presence
                user.reconnects += 1
            if conn is not None:
                sess.conns.add(conn)
            continue  # a repeated join of a connected session changes nothing
        if conn is not None:
            sess.conns.add(conn)
        if sess.left_at is not None and at - sess.left_at <= grace:
            sess.intervals[-1][1] = None  # resume: one continuous interval, one person
            user.reconnects += 1
        else:
            sess.intervals.append([at, None])
        sess.left_at = None

    out: dict[int, Presence] = {}
    for user_id, user in users.items():
        if visible_to_students and user.role in HIDDEN_ROLES:
            continue
        raw = [iv for sess in user.sessions.values() for iv in sess.intervals]
        if not raw:
            continue
        out[user_id] = Presence(
            user_id=user_id, role=user.role, intervals=_union(raw),
            sessions=frozenset(sid for sid, s in user.sessions.items() if s.open),
            reconnects=user.reconnects)
    return out


def _union(intervals: Sequence[Sequence]) -> list[Interval]:
    """Merge overlapping or touching intervals; an open end (None) absorbs everything after it."""
    end_key = lambda e: math.inf if e is None else e.timestamp()  # noqa: E731
    merged: list[list] = []
    for start, end in sorted(intervals, key=lambda iv: (iv[0], end_key(iv[1]))):
        if merged and (merged[-1][1] is None or start <= merged[-1][1]):
            if merged[-1][1] is not None and end_key(end) > end_key(merged[-1][1]):
                merged[-1][1] = end
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def online(events: Iterable[Any], *, visible_to_students: bool, grace: timedelta = DEFAULT_GRACE,
           max_skew: timedelta = timedelta(0)) -> list[int]:
    """User ids connected now, sorted. ``visible_to_students`` is required: the student-facing
    list never shows hidden spectators, a supervisor's view shows everyone (SUP-4)."""
    found = presence(events, grace=grace, visible_to_students=visible_to_students, max_skew=max_skew)
    return sorted(uid for uid, p in found.items() if p.online)


def online_count(events: Iterable[Any], *, visible_to_students: bool, grace: timedelta = DEFAULT_GRACE,
                 max_skew: timedelta = timedelta(0)) -> int:
    return len(online(events, visible_to_students=visible_to_students, grace=grace, max_skew=max_skew))
