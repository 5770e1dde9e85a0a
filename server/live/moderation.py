"""Sensitive-content screening of what is said in the room (LIVE-5).

Every chat line, question, answer and private message passes the screener (server/screening/)
before anyone sees it. A clean message is logged and published as usual. A hit is still logged —
the record is complete, marked ``held`` with the matched words — but published to the staff only
(the lecturer, assistants and hidden supervisors see it flagged; students never do), a content
warning with its context goes to the supervisors' dashboards in the same transaction, and the
sender is told that the message was held for review.
"""
from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from server.screening.warnings import record_warning
from server.webhooks.outbox import emit


HELD_NOTICE = ("消息含敏感内容，已暂缓发送并提交讲师与监管人员审核", "The message contains sensitive content; it was "
               "held back and passed to the lecturer and supervisors for review")


async def say(sock, kind: str, payload: dict, audience: Any = None) -> dict:
    """Screen ``payload["text"]``, then log and publish (or hold) it; returns the logged event."""
    text = payload["text"]
    matches = await run_in_threadpool(_screen, sock, text)
    if not matches:
        return await sock._record(kind, payload, audience)
    a = sock.peer.admission
    held = {**payload, "held": True, "matches": matches}

    def warn(s, ev) -> None:
        warning = record_warning(s, source=kind, text=text, matches=matches, lesson_id=sock.lesson_id,
                                 class_id=a.class_id, user_id=a.user_id, event_id=ev.id, now=ev.at,
                                 context={"display_name": a.display_name, "role": a.room_role,
                                          **({"to": payload["to"]} if "to" in payload else {})})
        emit(s, "content_warning", {"warning_id": warning.id, "lesson_id": sock.lesson_id, "class_id": a.class_id,
                                    "user_id": a.user_id, "source": kind, "words": sorted({m["word"] for m in matches})},
             institution_id=a.institution_id, district_code=a.district_code, now=ev.at)
    event = await sock._append(kind, held, also=warn)
    await sock._publish(event, "staff")
    await sock.send({"type": "held", "kind": kind, "event_id": event["id"], "text": text,
                     "message_zh": HELD_NOTICE[0], "message_en": HELD_NOTICE[1]})
    return event


def _screen(sock, text: str) -> list[dict]:
    """The hub keeps one screener per word-list version (rebuilt when an admin edits the list)."""
    with sock.svc.db.session() as s:
        verdict = sock.hub.screener.screen(s, text)
    return [m.to_dict() for m in verdict.matches] if verdict.held else []
