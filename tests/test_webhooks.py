"""PLAT-1 webhooks: signed payloads, an outbox written in the caller's transaction, a dispatcher that
retries with backoff against a real HTTP server on 127.0.0.1, never sends one delivery twice at once,
and an API scoped like everything else (PLAT-3, SUP-1) with a delivery log. SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import json
import random
import socket
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from models import AuditLog, Institution
from models.webhooks import WebhookDelivery, WebhookEndpoint
from server.webhooks import dispatcher as dispatch_mod
from server.webhooks import signing
from server.webhooks.dispatcher import BACKOFF_SECONDS, JITTER, MAX_ATTEMPTS, Dispatcher
from server.webhooks.outbox import EVENT_TYPES, emit, seal_secret
from tests.world import DISTRICT, OTHER_DISTRICT, ok

T0 = datetime(2026, 5, 6, 2, 0, tzinfo=timezone.utc)
SECRET = "s3cret-for-tests"


# --------------------------------------------------------------------------- a real receiver

class Receiver:
    """A tiny HTTP server on 127.0.0.1 that answers from a plan of status codes (then 200)."""

    def __init__(self):
        self.plan: list[int] = []
        self.delay = 0.0
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    code = outer.plan.pop(0) if outer.plan else 200
                if outer.delay:
                    time.sleep(outer.delay)
                self.send_response(code)
                if 300 <= code < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default backlog of 5 refuses a burst of concurrent deliveries
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def refused_url() -> str:
    """A port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def add_endpoint(svc, url: str, *, events=(), institution_id=None, region_prefix=None, active=True) -> int:
    with svc.db.session() as s:
        ep = WebhookEndpoint(url=url, secret=seal_secret(svc.cipher, SECRET), events=list(events),
                             institution_id=institution_id, region_prefix=region_prefix, active=active,
                             created_at=T0)
        s.add(ep)
        s.flush()
        return ep.id


def add_institution(svc, code: str, region: str) -> int:
    with svc.db.session() as s:
        inst = Institution(name=f"{code} 培训学校", code=code, region_code=region, profile="hohhot", status="approved")
        s.add(inst)
        s.flush()
        return inst.id


def emit_now(svc, event_type="lesson_started", *, institution_id=None, district_code=DISTRICT, data=None):
    with svc.db.session() as s:
        return emit(s, event_type, data or {"lesson_id": 7}, institution_id=institution_id,
                    district_code=district_code, now=svc.now())


def deliveries(svc) -> list[WebhookDelivery]:
    with svc.db.session() as s:
        return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def run(coro_fn, *args):
    """Build the dispatcher inside the loop (its httpx client belongs there) and close it after."""
    async def main():
        d = Dispatcher(*args, rng=random.Random(7))
        try:
            return await coro_fn(d)
        finally:
            await d.close()
    return asyncio.run(main())


# --------------------------------------------------------------------------- signing

def test_signature_verifies_and_tampering_or_old_timestamp_fails_PLAT_1():
    body = signing.body_bytes({"id": "e1", "type": "ping", "created_at": "2026-05-06T10:00:00+08:00",
                               "data": {"名称": "启航"}})
    assert b" " not in body and "启航".encode() in body  # compact UTF-8 JSON
    h = signing.sign_headers(SECRET, body, event_type="ping", delivery_id=42, now=T0)
    assert h["X-Qihang-Event"] == "ping" and h["X-Qihang-Delivery"] == "42"
    assert h["X-Qihang-Timestamp"] == str(int(T0.timestamp()))
    assert h["X-Qihang-Signature"].startswith("v1=") and len(h["X-Qihang-Signature"]) == 3 + 64
    ts, sig = h["X-Qihang-Timestamp"], h["X-Qihang-Signature"]

    assert signing.verify(SECRET, body, ts, sig, now=T0 + timedelta(seconds=200))
    assert signing.verify(SECRET, body, ts, f"v0=abc, {sig}", now=T0.timestamp())  # several schemes listed
    assert not signing.verify(SECRET, body + b" ", ts, sig, now=T0)  # tampered body
    assert not signing.verify(SECRET, body.replace("启航".encode(), "起航".encode()), ts, sig, now=T0)
    assert not signing.verify("other-secret", body, ts, sig, now=T0)
    assert not signing.verify(SECRET, body, str(int(ts) + 1), sig, now=T0)  # timestamp is signed too
    assert not signing.verify(SECRET, body, ts, sig, now=T0 + timedelta(seconds=301))  # replayed later
    assert not signing.verify(SECRET, body, ts, sig, now=T0 - timedelta(seconds=301))
    for bad_ts, bad_sig in (("x", sig), ("", sig), (ts, ""), (ts, "v1="), (ts, sig[3:]), (ts, "v1=启航")):
        assert not signing.verify(SECRET, body, bad_ts, bad_sig, now=T0)


def test_receiver_snippet_in_docstring_matches_PLAT_1():
    """The verify() receivers copy from the module docstring agrees with the platform's."""
    doc = signing.__doc__
    code = textwrap.dedent(doc[doc.index("    import hashlib"):])
    scope: dict = {}
    exec(compile(code, "snippet", "exec"), scope)
    body = signing.body_bytes({"id": "e2", "type": "lesson_ended", "data": {}})
    h = signing.sign_headers(SECRET, body, event_type="lesson_ended", delivery_id=1, now=datetime.now(timezone.utc))
    assert scope["verify"](SECRET, body, h["X-Qihang-Timestamp"], h["X-Qihang-Signature"])
    assert not scope["verify"](SECRET, body + b"x", h["X-Qihang-Timestamp"], h["X-Qihang-Signature"])


# --------------------------------------------------------------------------- outbox

def test_emit_only_for_subscribed_in_scope_endpoints_PLAT_1(backend, svc, clock):
    clock.set(T0)
    a, b = add_institution(svc, "A", DISTRICT), add_institution(svc, "B", OTHER_DISTRICT)
    url = "http://127.0.0.1:9/hook"
    everything = add_endpoint(svc, url)
    ended_only = add_endpoint(svc, url, events=["lesson_ended"])
    inst_a = add_endpoint(svc, url, institution_id=a, events=["lesson_started", "participant_joined"])
    inst_b = add_endpoint(svc, url, institution_id=b)
    city = add_endpoint(svc, url, region_prefix="1501")
    other_city = add_endpoint(svc, url, region_prefix="1502")
    other_district = add_endpoint(svc, url, region_prefix=OTHER_DISTRICT)
    add_endpoint(svc, url, active=False)

    event_id = emit_now(svc, "lesson_started", institution_id=a, district_code=DISTRICT,
                        data={"lesson_id": 7, "at": T0, "title": "创业意识"})
    rows = deliveries(svc)
    assert {r.endpoint_id for r in rows} == {everything, inst_a, city}
    assert all(r.event_id == event_id and r.status == "pending" and r.attempts == 0 for r in rows)
    assert all(r.next_attempt_at == T0 for r in rows)
    assert rows[0].payload == {"id": event_id, "type": "lesson_started", "created_at": "2026-05-06T10:00:00+08:00",
                               "data": {"lesson_id": 7, "at": "2026-05-06T10:00:00+08:00", "title": "创业意识"}}

    emit_now(svc, "lesson_ended", institution_id=b, district_code=OTHER_DISTRICT)
    assert {r.endpoint_id for r in deliveries(svc)[3:]} == {everything, ended_only, inst_b, city, other_district}
    emit_now(svc, "daily_summary", institution_id=None, district_code="150203")  # region-wide, no institution
    assert {r.endpoint_id for r in deliveries(svc)[8:]} == {everything, other_city}

    with svc.db.session() as s:  # nobody listens: None and no rows
        s.query(WebhookEndpoint).update({"active": False})
    assert emit_now(svc, "certificate_issued", institution_id=a) is None
    assert len(deliveries(svc)) == 10
    with pytest.raises(ValueError):
        emit_now(svc, "lesson_exploded")


def test_emit_rolls_back_with_the_callers_transaction_PLAT_1(backend, svc, clock):
    clock.set(T0)
    add_endpoint(svc, "http://127.0.0.1:9/hook")
    with pytest.raises(RuntimeError):
        with svc.db.session() as s:
            assert emit(s, "ping", {}, institution_id=None, district_code=None, now=T0)
            raise RuntimeError("the cause failed")
    assert deliveries(svc) == []
    assert set(EVENT_TYPES) >= {"lesson_started", "certificate_issued", "attendance_check_failed", "ping"}


# --------------------------------------------------------------------------- dispatcher

def test_dispatcher_retries_with_backoff_then_delivers_signed_PLAT_1(backend, svc, clock, receiver):
    clock.set(T0)
    receiver.plan = [500, 500]
    add_endpoint(svc, receiver.url)
    event_id = emit_now(svc, "participant_joined", data={"user_id": 3, "name": "张三"})

    async def scenario(d: Dispatcher):
        assert await d.run_once() == 1  # attempt 1: 500
        row = deliveries(svc)[0]
        assert (row.status, row.attempts, row.last_status) == ("pending", 1, 500)
        assert "HTTP 500" in row.last_error
        first = BACKOFF_SECONDS[0]
        assert T0 + timedelta(seconds=first) <= row.next_attempt_at <= T0 + timedelta(seconds=first * (1 + JITTER))
        clock.set(T0 + timedelta(seconds=first - 1))
        assert await d.run_once() == 0  # backoff respected
        clock.set(row.next_attempt_at)
        assert await d.run_once() == 1  # attempt 2: 500
        row = deliveries(svc)[0]
        assert row.attempts == 2
        second = BACKOFF_SECONDS[1]
        assert clock() + timedelta(seconds=second) <= row.next_attempt_at
        clock.set(row.next_attempt_at - timedelta(seconds=1))
        assert await d.run_once() == 0
        clock.set(row.next_attempt_at)
        assert await d.run_once() == 1  # attempt 3: 200
        return clock()

    done_at = run(scenario, svc)
    row = deliveries(svc)[0]
    assert (row.status, row.attempts, row.last_status, row.last_error) == ("delivered", 3, 200, None)
    assert row.delivered_at == done_at
    assert len(receiver.requests) == 3
    for req in receiver.requests:
        h = req["headers"]
        assert h["X-Qihang-Event"] == "participant_joined" and h["X-Qihang-Delivery"] == str(row.id)
        assert h["Content-Type"].startswith("application/json")
        assert signing.verify(SECRET, req["body"], h["X-Qihang-Timestamp"], h["X-Qihang-Signature"],
                              now=int(h["X-Qihang-Timestamp"]))
        assert json.loads(req["body"]) == {"id": event_id, "type": "participant_joined",
                                           "created_at": "2026-05-06T10:00:00+08:00",
                                           "data": {"user_id": 3, "name": "张三"}}
    assert receiver.requests[-1]["headers"]["X-Qihang-Timestamp"] == str(int(done_at.timestamp()))
    first = receiver.requests[0]
    assert not signing.verify("wrong", first["body"], first["headers"]["X-Qihang-Timestamp"],
                              first["headers"]["X-Qihang-Signature"], now=done_at)


def test_unreachable_endpoint_fails_after_max_attempts_PLAT_1(backend, svc, clock):
    clock.set(T0)
    add_endpoint(svc, refused_url())
    emit_now(svc, "attendance_check_failed")

    async def scenario(d: Dispatcher):
        waits = []
        for attempt in range(1, MAX_ATTEMPTS + 1):
            assert await d.run_once() == 1, attempt
            row = deliveries(svc)[0]
            assert row.attempts == attempt and row.last_status is None and "Connect" in row.last_error
            if attempt < MAX_ATTEMPTS:
                waits.append((row.next_attempt_at - clock()).total_seconds())
                assert row.status == "pending"
                clock.set(row.next_attempt_at)
        clock.set(clock() + timedelta(days=30))
        assert await d.run_once() == 0  # failed rows are not retried
        return waits

    waits = run(scenario, svc)
    assert all(b >= a for a, b in zip(waits, waits[1:]))  # exponential, never shrinking
    assert waits[0] >= BACKOFF_SECONDS[0] and waits[-1] >= BACKOFF_SECONDS[-1]
    row = deliveries(svc)[0]
    assert (row.status, row.attempts, row.delivered_at) == ("failed", MAX_ATTEMPTS, None)


def test_two_dispatchers_never_send_one_delivery_twice_PLAT_1(backend, svc, clock, receiver):
    clock.set(T0)
    receiver.delay = 0.02
    for _ in range(3):
        add_endpoint(svc, receiver.url)
    for i in range(6):
        emit_now(svc, "participant_left", data={"i": i})
    assert len(deliveries(svc)) == 18

    async def scenario(d1: Dispatcher):
        d2 = Dispatcher(svc, rng=random.Random(8))
        try:
            counts = await asyncio.gather(d1.run_once(), d2.run_once(), d1.run_once(), d2.run_once())
        finally:
            await d2.close()
        return counts

    counts = run(scenario, svc)
    assert sum(counts) == 18
    sent = [r["headers"]["X-Qihang-Delivery"] for r in receiver.requests]
    assert len(sent) == 18 and len(set(sent)) == 18
    assert all(r.status == "delivered" and r.attempts == 1 for r in deliveries(svc))


def test_redirects_are_not_followed_and_paused_endpoints_wait_PLAT_1(backend, svc, clock, receiver):
    clock.set(T0)
    receiver.plan = [302]
    ep = add_endpoint(svc, receiver.url)
    emit_now(svc, "certificate_issued")

    async def scenario(d: Dispatcher):
        assert await d.run_once() == 1
        with svc.db.session() as s:
            s.get(WebhookEndpoint, ep).active = False
        clock.set(T0 + timedelta(days=1))
        assert await d.run_once() == 0  # paused: the row waits, untouched
        with svc.db.session() as s:
            s.get(WebhookEndpoint, ep).active = True
        return await d.run_once()

    assert run(scenario, svc) == 1
    assert [r["path"] for r in receiver.requests] == ["/hook", "/hook"]  # never /elsewhere
    row = deliveries(svc)[0]
    assert (row.status, row.attempts) == ("delivered", 2)


def test_dispatcher_loop_sends_in_the_background_PLAT_1(backend, svc, receiver):
    add_endpoint(svc, receiver.url)
    emit_now(svc, "lesson_ended")

    async def main():
        d = Dispatcher(svc, poll_seconds=0.05)
        await d.start()
        try:
            for _ in range(200):
                if deliveries(svc)[0].status == "delivered":
                    break
                await asyncio.sleep(0.05)
        finally:
            await d.close()

    asyncio.run(main())
    assert deliveries(svc)[0].status == "delivered" and len(receiver.requests) == 1


def test_backoff_schedule_has_jitter_PLAT_1():
    rng = random.Random(1)
    waits = {dispatch_mod.backoff(1, rng).total_seconds() for _ in range(20)}
    assert len(waits) > 1 and all(5 <= w <= 5 * (1 + JITTER) for w in waits)
    assert dispatch_mod.backoff(99, rng) >= timedelta(seconds=BACKOFF_SECONDS[-1])


# --------------------------------------------------------------------------- API

URL = "http://127.0.0.1:9/hook"  # nothing listens: a background dispatcher, if any, only fails


def _inst_world(world):
    world.institution("wa", region=DISTRICT)
    world.institution("wb", region=OTHER_DISTRICT)
    world.supervisor("district_sup", "district", DISTRICT)
    world.supervisor("other_sup", "district", OTHER_DISTRICT)
    world.supervisor("city_sup", "city", "150100")


def test_api_create_validation_names_the_field_PLAT_1(world):
    h = world.h("admin")
    cases = [
        ({"url": "ftp://example.test/x"}, "url", "WEBHOOK_URL_SCHEME"),
        ({"url": "javascript:alert(1)"}, "url", "WEBHOOK_URL_SCHEME"),
        ({"url": "https://user:pw@example.test/x"}, "url", "WEBHOOK_URL_CREDENTIALS"),
        ({"url": "https://token@example.test/x"}, "url", "WEBHOOK_URL_CREDENTIALS"),
        ({"url": "https:///nohost"}, "url", "WEBHOOK_URL_HOST"),
        ({"url": "http://example.test:99999/x"}, "url", "WEBHOOK_URL_HOST"),
        ({"url": "http://exa mple.test/x"}, "url", "WEBHOOK_URL_INVALID"),
        ({"url": "https://example.test/" + "a" * 500}, "url", "VALIDATION_FAILED"),
        ({}, "url", "VALIDATION_FAILED"),
        ({"url": URL, "events": ["lesson_started", "lesson_exploded"]}, "events", "WEBHOOK_EVENT_UNKNOWN"),
        ({"url": URL, "events": "ping"}, "events", "VALIDATION_FAILED"),
        ({"url": URL, "secret": "mine"}, "secret", "UNKNOWN_FIELD"),
        ({"url": URL, "region_prefix": "150"}, "region_prefix", "VALIDATION_FAILED"),
        ({"url": URL, "institution_id": 999}, "institution_id", "NOT_FOUND"),
    ]
    for body, field, code in cases:
        r = world.client.post("/api/webhooks", headers=h, json=body)
        assert r.status_code in (404, 422), (body, r.text)
        err = r.json()["error"]
        assert (err["field"], err["code"]) == (field, code), (body, err)
        assert err["message_zh"] and err["message_en"]
    err = world.client.post("/api/webhooks", headers=h, json={"url": URL, "events": ["x"]}).json()["error"]
    assert err["details"]["allowed"] == list(EVENT_TYPES) and err["rule"] == "PLAT-1"


def test_api_secret_shown_once_stored_sealed_and_signs_pings_PLAT_1(world, svc, receiver):
    made = ok(world.client.post("/api/webhooks", headers=world.h("admin"), json={
        "url": receiver.url, "events": ["lesson_started", "lesson_started"], "description": "教务系统"}), 201)
    secret = made["secret"]
    assert len(secret) >= 40 and made["events"] == ["lesson_started"] and made["active"]
    listed = ok(world.client.get("/api/webhooks", headers=world.h("admin")))
    assert [e["id"] for e in listed["items"]] == [made["id"]] and "secret" not in listed["items"][0]
    assert "secret" not in ok(world.client.get(f"/api/webhooks/{made['id']}", headers=world.h("admin")))
    with svc.db.session() as s:
        stored = s.get(WebhookEndpoint, made["id"]).secret
        assert secret not in stored and stored.startswith("enc1:")
        audit = [a.detail for a in s.scalars(select(AuditLog).where(AuditLog.action == "webhook.create"))]
    assert audit and secret not in json.dumps(audit)

    queued = ok(world.client.post(f"/api/webhooks/{made['id']}/ping", headers=world.h("admin")), 202)
    assert queued["event_type"] == "ping" and queued["status"] == "pending"

    async def send(d: Dispatcher):
        for _ in range(100):  # the app may run its own dispatcher too; either one sends it
            await d.run_once()
            if receiver.requests:
                return
            await asyncio.sleep(0.05)

    run(send, svc)
    req = receiver.requests[0]
    assert req["headers"]["X-Qihang-Delivery"] == str(queued["id"])
    assert signing.verify(secret, req["body"], req["headers"]["X-Qihang-Timestamp"],
                          req["headers"]["X-Qihang-Signature"], now=int(req["headers"]["X-Qihang-Timestamp"]))
    assert json.loads(req["body"])["data"]["endpoint_id"] == made["id"]


def test_api_scoping_others_endpoints_answer_404_PLAT_3_SUP_1(world):
    _inst_world(world)
    c = world.client
    a = ok(c.post("/api/webhooks", headers=world.h("wa_admin"), json={"url": URL}), 201)
    assert a["institution_id"] == world.ids["wa"] and a["region_prefix"] is None
    r = c.post("/api/webhooks", headers=world.h("wa_admin"), json={"url": URL, "institution_id": world.ids["wb"]})
    assert r.status_code == 404 and r.json()["error"]["field"] == "institution_id"
    r = c.post("/api/webhooks", headers=world.h("wa_admin"), json={"url": URL, "region_prefix": "1501"})
    assert r.status_code == 403 and r.json()["error"]["field"] == "region_prefix"

    sup = ok(c.post("/api/webhooks", headers=world.h("district_sup"),
                    json={"url": URL, "events": ["daily_summary"]}), 201)
    assert sup["region_prefix"] == DISTRICT and sup["institution_id"] is None
    r = c.post("/api/webhooks", headers=world.h("district_sup"), json={"url": URL, "region_prefix": "1501"})
    assert r.status_code == 403 and r.json()["error"]["field"] == "region_prefix"
    r = c.post("/api/webhooks", headers=world.h("district_sup"), json={"url": URL, "institution_id": world.ids["wb"]})
    assert r.status_code == 404 and r.json()["error"]["field"] == "institution_id"  # outside the district
    watch_a = ok(c.post("/api/webhooks", headers=world.h("district_sup"),
                        json={"url": URL, "institution_id": world.ids["wa"]}), 201)  # one institution of the district
    assert (watch_a["institution_id"], watch_a["region_prefix"]) == (world.ids["wa"], DISTRICT)
    narrow = ok(c.post("/api/webhooks", headers=world.h("city_sup"),
                       json={"url": URL, "region_prefix": OTHER_DISTRICT}), 201)
    assert narrow["region_prefix"] == OTHER_DISTRICT

    def ids(who):
        return {e["id"] for e in ok(c.get("/api/webhooks", headers=world.h(who)))["items"]}

    assert ids("admin") == {a["id"], sup["id"], watch_a["id"], narrow["id"]}
    assert ids("wa_admin") == {a["id"]} and ids("wb_admin") == set()  # the supervisor's watch on wa stays hidden
    assert ids("district_sup") == {sup["id"], watch_a["id"]} and ids("other_sup") == {narrow["id"]}
    assert ids("city_sup") == {sup["id"], watch_a["id"], narrow["id"]}

    for who, ep in (("wb_admin", a), ("district_sup", a), ("wa_admin", sup), ("other_sup", sup), ("wa_admin", watch_a)):
        hh = world.h(who)
        for method, path, kw in (("GET", "", {}), ("PATCH", "", {"json": {"active": False}}), ("DELETE", "", {}),
                                 ("GET", "/deliveries", {}), ("POST", "/ping", {}),
                                 ("POST", "/deliveries/1/redeliver", {})):
            r = c.request(method, f"/api/webhooks/{ep['id']}{path}", headers=hh, **kw)
            assert r.status_code == 404, (who, method, path, r.text)
    assert c.get("/api/webhooks/99999999999", headers=world.h("admin")).status_code == 404

    world.assistant("wa", "wa_helper")
    r = c.post("/api/webhooks", headers={"Authorization": f"Bearer {world.login('wa_helper')}"}, json={"url": URL})
    assert r.status_code == 403
    assert c.get("/api/webhooks").status_code == 401


def test_api_patch_log_paging_redeliver_and_delete_PLAT_1(world, svc):
    _inst_world(world)
    c, h = world.client, world.h("wa_admin")
    ep = ok(c.post("/api/webhooks", headers=h, json={"url": URL}), 201)
    base = f"/api/webhooks/{ep['id']}"

    r = c.patch(base, headers=h, json={"events": ["ping", "nope"]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "events"
    assert c.patch(base, headers=h, json={}).status_code == 422
    got = ok(c.patch(base, headers=h, json={"events": ["certificate_issued"], "description": "证书同步"}))
    assert got["events"] == ["certificate_issued"] and got["description"] == "证书同步"

    pings = [ok(c.post(f"{base}/ping", headers=h), 202)["id"] for _ in range(5)]
    page = ok(c.get(f"{base}/deliveries?limit=2", headers=h))
    assert [d["id"] for d in page["items"]] == pings[::-1][:2] and page["next_before_id"] == pings[3]
    page = ok(c.get(f"{base}/deliveries?limit=2&before_id={page['next_before_id']}", headers=h))
    assert [d["id"] for d in page["items"]] == [pings[2], pings[1]]
    page = ok(c.get(f"{base}/deliveries?limit=2&before_id={pings[1]}", headers=h))
    assert [d["id"] for d in page["items"]] == [pings[0]] and page["next_before_id"] is None
    r = c.get(f"{base}/deliveries?status=lost", headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "status"

    r = c.post(f"{base}/deliveries/{pings[0]}/redeliver", headers=h)  # still queued: not twice at once
    assert r.status_code == 409 and r.json()["error"]["code"] == "WEBHOOK_DELIVERY_QUEUED"
    with svc.db.session() as s:
        row = s.get(WebhookDelivery, pings[0])
        row.status, row.attempts, row.last_error = "failed", MAX_ATTEMPTS, "ConnectError: refused"
    again = ok(c.post(f"{base}/deliveries/{pings[0]}/redeliver", headers=h))
    assert (again["status"], again["attempts"]) == ("pending", 0)
    failed = ok(c.get(f"{base}/deliveries?status=pending", headers=h))
    assert pings[0] in [d["id"] for d in failed["items"]]
    other = ok(c.post("/api/webhooks", headers=world.h("wb_admin"), json={"url": URL}), 201)
    assert c.post(f"/api/webhooks/{other['id']}/deliveries/{pings[1]}/redeliver",
                  headers=world.h("wb_admin")).status_code == 404  # a delivery of another endpoint

    paused = ok(c.patch(base, headers=h, json={"active": False}))
    assert paused["active"] is False
    r = c.post(f"{base}/ping", headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "WEBHOOK_INACTIVE"

    assert ok(c.delete(base, headers=h)) == {"deleted": ep["id"]}
    assert c.get(base, headers=h).status_code == 404
    with svc.db.session() as s:
        assert s.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == ep["id"])).first() is None
        actions = [a.action for a in s.scalars(select(AuditLog).where(AuditLog.action.like("webhook.%")))]
    assert {"webhook.create", "webhook.update", "webhook.ping", "webhook.redeliver", "webhook.delete"} <= set(actions)
