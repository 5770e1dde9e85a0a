"""The webhook outbox (PLAT-1): an event becomes delivery rows in the caller's own transaction.

``emit`` only writes ``webhook_deliveries`` rows (status ``pending``, due now); it never calls the
network, so an event is recorded if and only if what caused it commits, and a crash before
sending loses nothing — the dispatcher (server/webhooks/dispatcher.py) sends due rows later.

Scope mirrors who may see the data (PLAT-3, SUP-1): an endpoint with an ``institution_id`` hears
only that institution's events, one with a ``region_prefix`` only events whose district code
starts with it; an endpoint with neither (platform admins) hears everything.
"""
from __future__ import annotations

import base64
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models.webhooks import WebhookDelivery, WebhookEndpoint
from server.identity.fieldcrypto import FieldCipher
from server.services import CHINA_TZ

EVENT_TYPES = ("lesson_started", "lesson_ended", "participant_joined", "participant_left",
               "attendance_check_failed", "certificate_issued", "daily_summary", "content_warning", "ping")
SECRET_CONTEXT = "webhook_endpoints.secret"
SEALED = "enc1:"


def seal_secret(cipher: FieldCipher, secret: str) -> str:
    """PLAT-3: signing secrets are stored encrypted, so a database dump cannot forge deliveries."""
    return SEALED + base64.urlsafe_b64encode(cipher.encrypt_text(secret, context=SECRET_CONTEXT)).decode("ascii")


def open_secret(cipher: FieldCipher, stored: str) -> str:
    """The plain secret; a value stored without the ``enc1:`` mark is taken as plain text."""
    if not stored.startswith(SEALED):
        return stored
    return cipher.decrypt_text(base64.urlsafe_b64decode(stored[len(SEALED):]), context=SECRET_CONTEXT)


def covers(events: list | None, endpoint_institution: int | None, endpoint_prefix: str | None, event_type: str,
           institution_id: int | None, district_code: str | None) -> bool:
    """Does an endpoint (its events list and scope) hear this event?"""
    if events and event_type not in events:
        return False
    if endpoint_institution is not None and endpoint_institution != institution_id:
        return False
    if endpoint_prefix is not None and not (district_code or "").startswith(endpoint_prefix):
        return False
    return True


def _jsonable(value):
    if isinstance(value, datetime):
        return value.astimezone(CHINA_TZ).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"webhook data: {type(value).__name__} is not JSON serialisable")


def _plain(data):
    """Datetimes, dates and decimals in ``data`` as JSON values (fails here, not at commit)."""
    if isinstance(data, dict):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple, set, frozenset)):
        return [_plain(v) for v in data]
    if data is None or isinstance(data, (str, int, float, bool)):
        return data
    return _plain(_jsonable(data))


def event_body(event_id: str, event_type: str, data: dict, now: datetime) -> dict:
    return {"id": event_id, "type": event_type, "created_at": now.astimezone(CHINA_TZ).isoformat(),
            "data": _plain(data)}


def _check_type(event_type: str) -> None:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}; one of {EVENT_TYPES}")


def emit(s: Session, event_type: str, data: dict, *, institution_id: int | None, district_code: str | None,
         now: datetime) -> str | None:
    """Queue ``event_type`` for every active endpoint that subscribes to it and whose scope covers
    ``institution_id`` / ``district_code``; the event id, or None when nobody listens. The rows are
    added to ``s`` and commit (or roll back) with the caller's transaction."""
    _check_type(event_type)
    stmt = select(WebhookEndpoint.id, WebhookEndpoint.events, WebhookEndpoint.institution_id,
                  WebhookEndpoint.region_prefix).where(WebhookEndpoint.active.is_(True))
    if institution_id is None:
        stmt = stmt.where(WebhookEndpoint.institution_id.is_(None))
    else:
        stmt = stmt.where(or_(WebhookEndpoint.institution_id.is_(None),
                              WebhookEndpoint.institution_id == institution_id))
    targets = [row.id for row in s.execute(stmt)
               if covers(row.events, row.institution_id, row.region_prefix, event_type, institution_id, district_code)]
    if not targets:
        return None
    event_id = str(uuid.uuid4())
    payload = event_body(event_id, event_type, data, now)
    for endpoint_id in sorted(targets):
        s.add(_delivery(endpoint_id, event_id, event_type, payload, now))
    return event_id


def enqueue(s: Session, endpoint: WebhookEndpoint, event_type: str, data: dict, *, now: datetime) -> WebhookDelivery:
    """One event for one endpoint only, whatever it subscribes to (``ping``, tests); flushed, so it has an id."""
    _check_type(event_type)
    event_id = str(uuid.uuid4())
    row = _delivery(endpoint.id, event_id, event_type, event_body(event_id, event_type, data, now), now)
    s.add(row)
    s.flush()
    return row


def _delivery(endpoint_id: int, event_id: str, event_type: str, payload: dict, now: datetime) -> WebhookDelivery:
    return WebhookDelivery(endpoint_id=endpoint_id, event_id=event_id, event_type=event_type, payload=payload,
                           status="pending", attempts=0, next_attempt_at=now, created_at=now)
