"""A lesson's room log written by hand, as the live room writes it.

Attendance, reports, eligibility and the daily summary all read the lesson event log
(server/live/eventlog.py), so their tests describe a lesson as events rather than run a room. Every
such test writes them through this one class: the same path (``eventlog.append``), the same session
ids per person, times in minutes from the lesson's start.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from models import LessonEvent
from server.live import eventlog


class RoomLog:
    """Appends one lesson's events; the caller's session commits them."""

    def __init__(self, session: Session, lesson_id: int, start: datetime, node_id: str = "t"):
        self.session, self.lesson_id, self.start, self.node_id = session, lesson_id, start, node_id

    def at(self, minute: float) -> datetime:
        return self.start + timedelta(minutes=minute)

    def add(self, minute: float, kind: str, uid: int | None, role: str | None, **payload) -> LessonEvent:
        return eventlog.append(self.session, self.lesson_id, kind, user_id=uid, role=role,
                               session_id=None if uid is None else f"s{uid}", node_id=self.node_id,
                               payload=payload, at=self.at(minute))

    def write(self, plan: Iterable[tuple]) -> list[LessonEvent]:
        """(minute, kind, user, role, payload) tuples, written in time order (stable for equal times)."""
        return [self.add(minute, kind, uid, role, **payload)
                for minute, kind, uid, role, payload in sorted(plan, key=lambda e: e[0])]

    def opening(self, lecturer: int, students: Iterable[int], minute: float = 0) -> None:
        """The lecturer joins and publishes the main camera; each student joins with the attendance camera."""
        self.add(minute, "join", lecturer, "lecturer")
        self.add(minute, "publish", lecturer, "lecturer", slot="main")
        for uid in students:
            self.add(minute, "join", uid, "student")
            self.add(minute, "publish", uid, "student", slot="camera")
