"""ATT-8 roll calls: was each class roll-called at least every ``roll_call_every_days`` days?

A roll call is the ``roll_call`` event a supervisor's request writes to a lesson's log (with who
asked, the share and the students selected); its results are the ``face_check`` events carrying
its id. This report reads the logs of the class's lessons and walks its teaching period in windows
of the region's interval, so a supervisor sees which windows had none.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.classes import Lesson, TrainingClass
from models.events import LessonEvent
from server.services import CHINA_TZ


def roll_call_report(session: Session, class_id: int, profiles: Mapping, today: date) -> dict:
    klass = session.get(TrainingClass, class_id)
    if klass is None:
        raise LookupError(class_id)
    profile = profiles.get(klass.profile)
    every = getattr(profile, "roll_call_every_days", None) or 2
    lessons = list(session.scalars(select(Lesson).where(Lesson.class_id == class_id).order_by(Lesson.starts_at)))
    calls = []
    results: dict[int, dict[str, int]] = {}
    if lessons:
        events = session.scalars(select(LessonEvent).where(LessonEvent.lesson_id.in_([le.id for le in lessons]),
                                                           LessonEvent.kind.in_(("roll_call", "face_check")))
                                 .order_by(LessonEvent.id))
        for ev in events:
            if ev.kind == "roll_call":
                calls.append(ev)
                results[ev.id] = {"checked": 0, "passed": 0}
            elif (ev.payload or {}).get("roll_call") in results:
                r = results[ev.payload["roll_call"]]
                r["checked"] += 1
                r["passed"] += ev.payload.get("verdict") == "match"
    days = [_day(le.starts_at) for le in lessons if _day(le.starts_at) <= today]
    windows = []
    if days:
        start = days[0]
        last = min(today, max(days))
        while start <= last:
            end = start + timedelta(days=every - 1)
            taught = any(start <= d <= end for d in days)
            covered = [c.id for c in calls if start <= _day(c.at) <= end]
            windows.append({"from": start.isoformat(), "to": end.isoformat(), "taught": taught,
                            "roll_calls": covered, "ok": bool(covered) or not taught})
            start = end + timedelta(days=1)
    return {"class_id": class_id, "every_days": every,
            "roll_calls": [{"id": c.id, "lesson_id": c.lesson_id, "at": c.at.isoformat(), "by": c.user_id,
                            **{k: c.payload.get(k) for k in ("share", "roster", "needed", "selected", "short")},
                            **results[c.id]} for c in calls],
            "windows": windows, "compliant": all(w["ok"] for w in windows)}


def _day(at: datetime) -> date:
    return at.astimezone(CHINA_TZ).date() if at.tzinfo else at.date()
