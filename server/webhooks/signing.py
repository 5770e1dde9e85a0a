"""Webhook signatures (PLAT-1): how a receiver knows a POST really came from this platform.

Every delivery is an HTTP POST whose body is compact UTF-8 JSON
``{"id": event id, "type": event type, "created_at": ISO 8601, "data": {...}}`` with headers::

    X-Qihang-Event: lesson_started
    X-Qihang-Delivery: 1234                      (the delivery id; retries reuse it)
    X-Qihang-Timestamp: 1767225600               (Unix seconds when this attempt was signed)
    X-Qihang-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

The secret is shown once, when the endpoint is created. A receiver verifies the *raw* body
bytes (before any JSON parsing), refuses timestamps older than a few minutes (replays), and
treats the event ``id`` as idempotency key (a delivery may arrive more than once). This module
has no dependency beyond the standard library, so receivers may copy :func:`verify` as is::

    import hashlib, hmac, time

    def verify(secret: str, body: bytes, timestamp: str, signature_header: str, tolerance=300) -> bool:
        try:
            ts = int(timestamp)
        except ValueError:
            return False
        if abs(time.time() - ts) > tolerance:
            return False
        expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        for part in signature_header.split(","):
            scheme, _, value = part.strip().partition("=")
            if scheme == "v1" and hmac.compare_digest(value, expected):
                return True
        return False
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime

SCHEME = "v1"
HEADER_EVENT = "X-Qihang-Event"
HEADER_DELIVERY = "X-Qihang-Delivery"
HEADER_TIMESTAMP = "X-Qihang-Timestamp"
HEADER_SIGNATURE = "X-Qihang-Signature"


def body_bytes(payload: dict) -> bytes:
    """The exact bytes sent and signed: compact JSON, UTF-8 (Chinese stays readable)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(secret: str, body: bytes, timestamp: str) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` keyed with the endpoint's secret."""
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def sign_headers(secret: str, body: bytes, *, event_type: str, delivery_id: int | str, now: datetime) -> dict[str, str]:
    """The four X-Qihang-* headers of one attempt, signed at ``now``."""
    ts = str(int(now.timestamp()))
    return {HEADER_EVENT: event_type, HEADER_DELIVERY: str(delivery_id), HEADER_TIMESTAMP: ts,
            HEADER_SIGNATURE: f"{SCHEME}={signature(secret, body, ts)}"}


def verify(secret: str, body: bytes, timestamp: str, signature_header: str, *, now: datetime | float,
           tolerance: int = 300) -> bool:
    """True when ``signature_header`` (``v1=<hex>``, several comma-separated allowed) signs ``body`` at
    ``timestamp`` with ``secret`` and the timestamp lies within ``tolerance`` seconds of ``now``
    (a datetime or Unix seconds). Constant-time comparison; never raises on malformed input."""
    try:
        ts = int(timestamp)
        expected = signature(secret, body, timestamp)
    except (TypeError, ValueError, UnicodeEncodeError):
        return False
    current = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(current - ts) > tolerance:
        return False
    for part in (signature_header or "").split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == SCHEME and hmac.compare_digest(value.encode("ascii", "replace"), expected.encode("ascii")):
            return True
    return False
