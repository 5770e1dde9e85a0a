"""Content warnings (LIVE-5): one screened hit, recorded with its context for the supervisors of
the class's region (the API to read and review them is server/api/screening.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy.orm import Session

from models import ContentWarning, Lesson, TrainingClass
from server.screening.screener import Match, Screener, ScreenerCache, Verdict, screener_from_db

SOURCES = ("chat", "question", "answer", "private", "reminder", "upload", "transcript")
MAX_TEXT = 4000  # characters of the screened text kept in a warning; the matches keep their excerpts
EXCERPT = 30  # characters either side of a match in its excerpt


def _match_dict(m: Match | dict, text: str) -> dict:
    d = dict(m.to_dict() if isinstance(m, Match) else m)
    start, end = int(d.get("start", 0)), int(d.get("end", 0))
    d["excerpt"] = text[max(0, start - EXCERPT):end + EXCERPT]
    return d


def record_warning(s: Session, *, source: str, text: str, matches: Iterable[Match | dict],
                   lesson_id: int | None = None, class_id: int | None = None, user_id: int | None = None,
                   event_id: int | None = None, context: dict | None = None, now: datetime) -> ContentWarning:
    """LIVE-5: add (and flush) a content warning; its class, institution and district come from the
    lesson or the class, so supervisors of that region see it. Raises ValueError on a bad source,
    an unknown lesson or class, or a lesson that is not the class's."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; one of {SOURCES}")
    if lesson_id is not None:
        lesson = s.get(Lesson, lesson_id)
        if lesson is None:
            raise ValueError(f"no lesson {lesson_id}")
        if class_id is not None and class_id != lesson.class_id:
            raise ValueError(f"lesson {lesson_id} is not in class {class_id}")
        class_id = lesson.class_id
    cls = s.get(TrainingClass, class_id) if class_id is not None else None
    if class_id is not None and cls is None:
        raise ValueError(f"no class {class_id}")
    ctx = dict(context or {})
    if len(text) > MAX_TEXT:
        ctx["text_truncated_from"] = len(text)
    w = ContentWarning(at=now, source=source, lesson_id=lesson_id, class_id=class_id,
                       institution_id=cls.institution_id if cls else None,
                       district_code=cls.district_code if cls else None, user_id=user_id, event_id=event_id,
                       text=text[:MAX_TEXT], matches=[_match_dict(m, text) for m in matches], context=ctx,
                       status="open")
    s.add(w)
    s.flush()
    return w


def screen_upload(s: Session, text: str, *, now: datetime, screener: Screener | ScreenerCache | None = None,
                  lesson_id: int | None = None, class_id: int | None = None, user_id: int | None = None,
                  context: dict | None = None) -> Verdict:
    """LIVE-5 for uploaded text (materials, homework): screen it and, when held, record a warning
    with source ``upload``. Without a screener, one is built from the current list."""
    if screener is None:
        screener = screener_from_db(s)
    elif isinstance(screener, ScreenerCache):
        screener = screener.get(s)
    verdict = screener.screen(text)
    if verdict.held:
        record_warning(s, source="upload", text=text, matches=verdict.matches, lesson_id=lesson_id,
                       class_id=class_id, user_id=user_id, context=context, now=now)
    return verdict
