"""Accounts, sessions, lockout and audit (PLAT-3, SUP-6)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from tests.world import PASSWORD, auth, ok


def test_login_returns_token_and_me(world, client):
    me = ok(client.get("/api/me", headers=world.h("admin")))
    assert me["role"] == "platform_admin" and me["username"] == "admin"


def test_wrong_password_is_401_with_bilingual_error(client, world):
    r = client.post("/api/auth/login", json={"username": "admin", "password": "nope12345"})
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["code"] == "INVALID_CREDENTIALS" and err["message_zh"] and err["message_en"]
    # an unknown user looks the same (no username enumeration)
    r2 = client.post("/api/auth/login", json={"username": "ghost", "password": "nope12345"})
    assert r2.status_code == 401 and r2.json()["error"]["code"] == "INVALID_CREDENTIALS"


def test_plat3_lockout_after_repeated_failures_then_expiry(client, world, clock):
    start = datetime(2025, 9, 1, 2, 0, tzinfo=timezone.utc)
    clock.set(start)
    for _ in range(4):
        assert client.post("/api/auth/login", json={"username": "admin", "password": "bad-pass1"}).status_code == 401
    r = client.post("/api/auth/login", json={"username": "admin", "password": "bad-pass1"})
    assert r.status_code == 429 and r.json()["error"]["code"] == "ACCOUNT_LOCKED"
    assert int(r.headers["Retry-After"]) > 0
    # even the right password is refused while locked
    r = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 429
    clock.set(start + timedelta(minutes=16))
    ok(client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}))


def test_failures_outside_the_window_do_not_accumulate(client, world, clock):
    start = datetime(2025, 9, 1, 2, 0, tzinfo=timezone.utc)
    for i in range(8):
        clock.set(start + timedelta(minutes=20 * i))
        assert client.post("/api/auth/login", json={"username": "admin", "password": "bad-pass1"}).status_code == 401


def test_logout_revokes_the_token(client, world):
    h = world.h("admin")
    ok(client.post("/api/auth/logout", headers=h))
    r = client.get("/api/me", headers=h)
    assert r.status_code == 401 and r.json()["error"]["code"] == "SESSION_INVALID"


def test_session_expires(client, world, clock, svc):
    clock.set(datetime(2025, 9, 1, tzinfo=timezone.utc))
    token = world.login("admin")
    clock.set(datetime(2025, 9, 1, tzinfo=timezone.utc) + timedelta(minutes=svc.settings.session_ttl_minutes + 1))
    assert client.get("/api/me", headers=auth(token)).status_code == 401


def test_garbage_token_and_missing_token(client, world):
    assert client.get("/api/me", headers=auth("garbage")).status_code == 401
    r = client.get("/api/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"


def test_password_change_policy_and_revocation(client, world):
    other = world.login("admin")
    r = client.post("/api/auth/password", headers=world.h("admin"),
                    json={"current_password": PASSWORD, "new_password": "short"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "new_password"
    ok(client.post("/api/auth/password", headers=world.h("admin"),
                   json={"current_password": PASSWORD, "new_password": "NewSecret99"}))
    assert client.get("/api/me", headers=auth(other)).status_code == 401
    assert client.get("/api/me", headers=world.h("admin")).status_code == 200
    ok(client.post("/api/auth/login", json={"username": "admin", "password": "NewSecret99"}))


def test_wrong_role_is_403(client, world):
    world.institution("alpha")
    r = client.post("/api/institutions", headers=world.h("alpha_admin"), json={
        "name": "x", "code": "XX", "region_code": "150104", "profile": "hohhot"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    r = client.post("/api/users", headers=world.h("alpha_admin"), json={
        "username": "sup1", "password": PASSWORD, "display_name": "x", "role": "supervisor",
        "region_level": "district", "region_code": "150104"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "ROLE_NOT_CREATABLE"


def test_deactivated_user_cannot_log_in_and_sessions_end(client, world):
    world.institution("alpha")
    aid = world.assistant("alpha", "helper")
    token = world.login("helper")
    ok(client.post(f"/api/users/{aid}/status", headers=world.h("alpha_admin"), json={"action": "deactivate"}))
    assert client.get("/api/me", headers=auth(token)).status_code == 401
    assert client.post("/api/auth/login", json={"username": "helper", "password": PASSWORD}).status_code == 401


def test_sup6_writes_and_logins_are_audited(client, world):
    world.institution("alpha")
    rows = ok(client.get("/api/audit", headers=world.h("admin")))["items"]
    actions = {r["action"] for r in rows}
    assert {"auth.login", "institution.create", "institution.approve", "user.create"} <= actions


def test_sup6_audit_log_is_append_only_in_the_database(client, world, svc):
    def count() -> int:
        with svc.db.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM audit_log")).scalar()

    n = count()
    assert n > 0
    for stmt in ("UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            with svc.db.engine.begin() as conn:
                conn.execute(text(stmt))
    assert count() == n


def test_stale_token_does_not_break_public_endpoints(client, world):
    h = world.h("admin")
    ok(client.post("/api/auth/logout", headers=h))
    ok(client.post("/api/auth/login", headers=h, json={"username": "admin", "password": PASSWORD}))
    ok(client.get("/api/profiles", headers=h))
