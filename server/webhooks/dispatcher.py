"""Sends the webhook outbox (PLAT-1): claim due rows, sign, POST, record, back off.

One dispatcher runs per process; several processes and nodes may share one database. A row is
*claimed* by a conditional UPDATE that moves its ``next_attempt_at`` a lease into the future
(``WHERE id = :id AND status = 'pending' AND next_attempt_at <= now``; on PostgreSQL the candidates
are also read ``FOR UPDATE SKIP LOCKED``): only the one whose UPDATE changed the row sends it, and
if that process dies mid-send the row is due again when the lease ends. Time comes from
``svc.now()`` so tests drive retries with a clock instead of sleeping.

A 2xx answer is success. Anything else — another status, a redirect (never followed), a timeout, a
refused connection — is recorded in ``last_status`` / ``last_error`` and retried after an
exponential backoff with jitter (5 s, 30 s, 2 min, 10 min, 1 h, 6 h, 12 h) until
:data:`MAX_ATTEMPTS`, then the row is ``failed`` (the API's redeliver puts it back).
Response bodies are never stored (a webhook URL must not become a way to read internal pages).
"""
from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update

from models.webhooks import WebhookDelivery, WebhookEndpoint
from server.periodic import PeriodicJob
from server.services import Services
from server.webhooks import signing
from server.webhooks.outbox import open_secret

log = logging.getLogger("qihang.webhooks")

POLL_SECONDS = 1.0
TIMEOUT_SECONDS = 5.0
LEASE = timedelta(seconds=60)  # well above one attempt's worst case (TIMEOUT_SECONDS per phase)
BACKOFF_SECONDS = (5, 30, 120, 600, 3600, 6 * 3600, 12 * 3600)  # after attempt 1, 2, …
MAX_ATTEMPTS = 8
JITTER = 0.2  # a delay grows by up to 20 %, so retries of one outage do not arrive in step
BATCH = 50
USER_AGENT = "Qihang-Webhooks/1"


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    base = BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1]
    return timedelta(seconds=base * (1 + JITTER * rng.random()))


@dataclass
class Claimed:
    id: int
    event_type: str
    payload: dict
    attempts: int
    url: str
    secret: str


@dataclass
class Outcome:
    ok: bool
    status: int | None
    error: str | None


class Dispatcher(PeriodicJob):
    """Polls the outbox every ``poll_seconds`` once started; :meth:`run_once` is one round."""

    name = "webhook-dispatcher"

    def __init__(self, svc: Services, *, http: httpx.AsyncClient | None = None, rng: random.Random | None = None,
                 poll_seconds: float = POLL_SECONDS):
        self.svc = svc
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False,
                                              headers={"User-Agent": USER_AGENT})
        self.rng = rng or random.Random()
        self.poll_seconds = poll_seconds

    async def close(self) -> None:
        await super().close()
        if self._own_http:
            await self.http.aclose()

    def next_delay(self, sent: int | None) -> float:
        return 0 if sent is not None and sent >= BATCH else self.poll_seconds

    async def run_once(self) -> int:
        """Claim the due rows, send them concurrently, record each outcome; how many were attempted."""
        claimed = await asyncio.to_thread(self._claim, self.svc.now())
        if claimed:
            await asyncio.gather(*(self._attempt(c) for c in claimed))
        return len(claimed)

    # ------------------------------------------------------------------ database side (worker threads)

    def _claim(self, now: datetime) -> list[Claimed]:
        D, E = WebhookDelivery, WebhookEndpoint
        with self.svc.db.sessions() as s:
            q = (select(D.id).join(E, E.id == D.endpoint_id)
                 .where(D.status == "pending", D.next_attempt_at <= now, E.active.is_(True))
                 .order_by(D.next_attempt_at, D.id).limit(BATCH))
            if not self.svc.settings.is_sqlite:
                q = q.with_for_update(of=D, skip_locked=True)
            ids = list(s.scalars(q))
            mine = []
            for delivery_id in ids:
                res = s.execute(update(D).where(D.id == delivery_id, D.status == "pending", D.next_attempt_at <= now)
                                .values(next_attempt_at=now + LEASE).execution_options(synchronize_session=False))
                if res.rowcount == 1:
                    mine.append(delivery_id)
            rows = s.execute(select(D.id, D.event_type, D.payload, D.attempts, E.url, E.secret)
                             .join(E, E.id == D.endpoint_id).where(D.id.in_(mine))).all() if mine else []
            s.commit()
        return [Claimed(r.id, r.event_type, r.payload, r.attempts, r.url, r.secret) for r in rows]

    def _record(self, c: Claimed, out: Outcome, now: datetime) -> None:
        attempts = c.attempts + 1
        values: dict = {"attempts": attempts, "last_status": out.status, "last_error": out.error}
        if out.ok:
            values.update(status="delivered", delivered_at=now)
        elif attempts >= MAX_ATTEMPTS:
            values.update(status="failed")
        else:
            values.update(next_attempt_at=now + backoff(attempts, self.rng))
        with self.svc.db.session() as s:
            s.execute(update(WebhookDelivery).where(WebhookDelivery.id == c.id, WebhookDelivery.status == "pending")
                      .values(**values).execution_options(synchronize_session=False))

    # ------------------------------------------------------------------ network side

    async def _attempt(self, c: Claimed) -> None:
        try:
            out = await self._send(c)
        except Exception as exc:  # a bad row (undecryptable secret, odd URL) must not stop the others
            log.exception("webhook delivery %s could not be attempted", c.id)
            out = Outcome(False, None, _describe(exc))
        try:
            await asyncio.to_thread(self._record, c, out, self.svc.now())
        except Exception:
            log.exception("webhook delivery %s: outcome not recorded (retried after the lease)", c.id)

    async def _send(self, c: Claimed) -> Outcome:
        body = signing.body_bytes(c.payload)
        secret = open_secret(self.svc.cipher, c.secret)
        headers = {"Content-Type": "application/json; charset=utf-8",
                   **signing.sign_headers(secret, body, event_type=c.event_type, delivery_id=c.id, now=self.svc.now())}
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS * 2):
                async with self.http.stream("POST", c.url, content=body, headers=headers,
                                            follow_redirects=False, timeout=TIMEOUT_SECONDS) as resp:
                    code, reason = resp.status_code, resp.reason_phrase
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            return Outcome(False, None, _describe(exc))
        if 200 <= code < 300:
            return Outcome(True, code, None)
        note = " (redirects are not followed)" if 300 <= code < 400 else ""
        return Outcome(False, code, f"HTTP {code} {reason}{note}"[:500])


def _describe(exc: BaseException) -> str:
    text = str(exc) or "no detail"
    if isinstance(exc, TimeoutError) or isinstance(exc, httpx.TimeoutException):
        text = f"timed out after {TIMEOUT_SECONDS:g} s"
    return f"{type(exc).__name__}: {text}"[:500]
