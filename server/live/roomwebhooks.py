"""Which room events become webhooks (issue 6 §7), written in the same transaction as the event.

The lesson event log stays the truth; this only maps a few of its kinds to the webhook types
institutions and HR systems subscribe to (server/webhooks/outbox.py is the outbox):

- ``join`` / ``leave`` of a visible participant → ``participant_joined`` / ``participant_left``
  (hidden spectators never: their acts are in the audit log, SUP-6, not sent to the institution);
- ``lesson_start`` (the lecturer first goes live) → ``lesson_started``; ``lesson_end`` (the room
  emptied after the scheduled end) → ``lesson_ended``;
- a face check whose verdict turns from passing to failing, or a failed liveness challenge →
  ``attendance_check_failed`` (transitions only: an absent student is checked every 30 s, and a
  receiver wants one call when it happens, not one per check).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from server.webhooks.outbox import emit

FAILING = ("mismatch", "several", "absent", "no_sample", "poor_quality", "undecodable")


def room_event(s: Session, *, lesson_id: int, class_id: int, institution_id: int | None, district_code: str | None,
               kind: str, user_id: int | None, role: str | None, hidden: bool, display_name: str, payload: dict,
               event_id: int, now: datetime) -> None:
    base = {"lesson_id": lesson_id, "class_id": class_id, "event_id": event_id}
    scope = {"institution_id": institution_id, "district_code": district_code, "now": now}
    if kind in ("join", "leave") and not hidden:
        emit(s, "participant_joined" if kind == "join" else "participant_left",
             {**base, "user_id": user_id, "role": role, "display_name": display_name}, **scope)
    elif kind == "lesson_start":
        emit(s, "lesson_started", {**base, "lecturer_user_id": user_id}, **scope)
    elif kind == "lesson_end":
        emit(s, "lesson_ended", {**base, **payload}, **scope)
    elif kind in ("face_check", "liveness"):
        emit(s, "attendance_check_failed", {**base, "user_id": user_id, "check": kind, **_summary(kind, payload)},
             **scope)


def _summary(kind: str, payload: dict) -> dict:
    if kind == "liveness":
        return {"passed": False, "reasons": payload.get("reasons") or []}
    return {"verdict": payload.get("verdict"), "faces": payload.get("faces"), "distance": payload.get("distance")}


def face_failed(previous: str | None, verdict: str | None) -> bool:
    """A face check worth one webhook: failing now, and not already failing before."""
    return verdict in FAILING and (previous is None or previous not in FAILING)
