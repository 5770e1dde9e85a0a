"""Spectator links (SUP-4, SUP-6) and the room's supervision and one-to-one service (LIVE-4).

A link opens one lesson's room for one supervisor until it expires or is revoked; forged, expired,
revoked, other-lesson and other-user uses are refused with their reason; every entry, exit and
view is audited. Assistants write privately to their own group and send reminders.
"""
from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

from sqlalchemy import select

from models import AuditLog, LessonEvent, WebhookDelivery
from tests.test_live_room import DURING_FIRST_LESSON, join, room, until  # noqa: F401 - the fixture
from tests.world import ok


def _link(client, room, who="yuquan", lesson_id=None, **body) -> dict:
    return ok(client.post(f"/api/lessons/{lesson_id or room.lesson_id}/spectator-links", headers=room.h(who),
                          json=body), 201)


def _enter(client, lesson_id, spectate, token=None):
    ws_cm = client.websocket_connect(f"/ws/lessons/{lesson_id}")
    ws = ws_cm.__enter__()
    msg = {"type": "join", "spectate": spectate, "session_id": "spy-tab"}
    if token:
        msg["token"] = token
    ws.send_json(msg)
    return ws_cm, ws, ws.receive_json()


def _refused(client, lesson_id, spectate, token=None) -> dict:
    cm, _ws, msg = _enter(client, lesson_id, spectate, token)
    cm.__exit__(None, None, None)
    assert msg["type"] == "error", msg
    err = msg["error"]
    assert err["message_zh"] and err["message_en"] and err["field"] == "spectate"
    return err


def _audit(svc, action: str, wait: float = 5.0) -> list[AuditLog]:
    """The audit rows of ``action``, waiting a little for those the server writes after a socket
    closes (its exit is handled after the client has gone)."""
    deadline = time.monotonic() + wait
    while True:
        with svc.db.session() as s:
            rows = list(s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_sup4_link_opens_the_room_hidden_without_a_login_and_sup6_audits_entry_and_exit(room, client, svc):
    link = _link(client, room)
    assert link["state"] == "valid" and link["supervisor_user_id"] == room.ids["yuquan"]
    token = parse_qs(urlparse(link["url"]).query)["spectate"][0]
    assert token == link["token"] and f"lesson={room.lesson_id}" in link["url"]
    s1 = room.students[0]
    url = f"/ws/lessons/{room.lesson_id}"
    with client.websocket_connect(url) as stu:
        join(stu, room.tokens[f"s{s1}"])
        cm, spy, joined = _enter(client, room.lesson_id, token)
        try:
            assert joined["type"] == "joined", joined
            assert joined["you"]["room_role"] == "spectator" and joined["you"]["hidden"]
            assert joined["you"]["user_id"] == room.ids["yuquan"]
            assert {r["user_id"] for r in joined["roster"]} == set(room.students)  # the participation view
            stu.send_json({"type": "chat", "text": "老师好"})
            got = until(spy, lambda m: m["type"] == "event" and m["event"]["kind"] == "chat")
            assert got["event"]["payload"]["text"] == "老师好"
            spy.send_json({"type": "chat", "text": "我来看看"})  # not granted
            assert until(spy, lambda m: m["type"] == "error")["error"]["code"] == "SPECTATOR_SILENT"
            spy.send_json({"type": "watch", "user_ids": [s1]})  # a student's camera: a view (SUP-6)
            until(spy, lambda m: m["type"] == "watching")
        finally:
            cm.__exit__(None, None, None)
        stu.send_json({"type": "chat", "text": "再见"})
        seen = []
        while True:
            m = stu.receive_json()
            seen.append(m)
            if m["type"] == "event" and m["event"]["payload"].get("text") == "再见":
                break
        spy_id = room.ids["yuquan"]
        assert all(spy_id not in {o["user_id"] for o in m.get("online", [])} for m in seen)
    created = _audit(svc, "spectator_link.create")
    assert created and created[-1].detail["link_id"] == link["id"]
    enter, leave = _audit(svc, "spectator.enter"), _audit(svc, "spectator.exit")
    assert enter[-1].actor_user_id == spy_id and enter[-1].detail["via"] == "link"
    assert enter[-1].detail["link_id"] == link["id"] and enter[-1].target_id == str(room.lesson_id)
    assert leave[-1].detail["seconds"] is not None and leave[-1].region_code == "150104"
    views = _audit(svc, "spectator.view.camera")
    assert views[-1].detail["user_ids"] == [s1]
    listed = ok(client.get(f"/api/lessons/{room.lesson_id}/spectator-links", headers=room.h("yuquan")))["items"]
    assert listed[0]["last_used_at"] is not None


def test_sup4_forged_or_altered_links_are_refused(room, client):
    token = _link(client, room)["token"]
    prefix, link_id, expiry, mac = token.split(".")
    for bad in (f"{prefix}.{link_id}.{int(expiry) + 3600}.{mac}",  # a later expiry
                f"{prefix}.{link_id}.{expiry}.{mac[:-2]}AA",  # a made-up MAC
                f"{prefix}.{int(link_id) + 99}.{expiry}.{mac}",  # another (unknown) link
                "sl1.x.y.z", "garbage", 12345, "a" * 500):
        assert _refused(client, room.lesson_id, bad)["code"] == "LINK_INVALID", bad


def test_sup4_expired_link_is_refused_with_its_time(room, client, clock):
    token = _link(client, room, minutes=10)["token"]
    clock.set(DURING_FIRST_LESSON + timedelta(minutes=11))
    err = _refused(client, room.lesson_id, token)
    assert err["code"] == "LINK_EXPIRED" and "过期" in err["message_zh"]


def test_sup4_revoked_link_is_refused_and_only_its_owner_or_an_admin_revokes(room, client, svc):
    link = _link(client, room)
    assert client.post(f"/api/spectator-links/{link['id']}/revoke", headers=room.h("saihan")).status_code == 404
    revoked = ok(client.post(f"/api/spectator-links/{link['id']}/revoke", headers=room.h("yuquan")))
    assert revoked["state"] == "revoked" and "token" not in revoked
    assert _refused(client, room.lesson_id, link["token"])["code"] == "LINK_REVOKED"
    assert _audit(svc, "spectator_link.revoke")[-1].detail["link_id"] == link["id"]


def test_sup4_link_for_another_lesson_does_not_open_this_room(room, client):
    other = room.class_detail["lessons"][1]["id"]
    token = _link(client, room, lesson_id=other)["token"]
    assert _refused(client, room.lesson_id, token)["code"] == "LINK_WRONG_LESSON"


def test_sup4_link_is_bound_to_its_supervisor(room, client):
    token = _link(client, room)["token"]
    err = _refused(client, room.lesson_id, token, token=room.tokens["lecturer"])
    assert err["code"] == "LINK_OTHER_USER"
    # the same supervisor logged in too: fine
    cm, _ws, msg = _enter(client, room.lesson_id, token, token=room.tokens["yuquan"])
    cm.__exit__(None, None, None)
    assert msg["type"] == "joined"


def test_sup1_links_are_region_scoped_and_made_for_oneself(room, client):
    # another district's supervisor does not even see the lesson
    assert client.post(f"/api/lessons/{room.lesson_id}/spectator-links", headers=room.h("saihan"),
                       json={}).status_code == 404
    resp = client.post(f"/api/lessons/{room.lesson_id}/spectator-links", headers=room.h("yuquan"),
                       json={"supervisor_user_id": room.ids["hohhot"]})
    assert resp.status_code == 403 and resp.json()["error"]["field"] == "supervisor_user_id"
    # a platform admin makes one for a supervisor of the region, not for one outside it
    room.tokens["admin"] = room.login("admin")  # (the fixture's admin session is weeks old)
    made = ok(client.post(f"/api/lessons/{room.lesson_id}/spectator-links", headers=room.h("admin"),
                          json={"supervisor_user_id": room.ids["hohhot"]}), 201)
    assert made["supervisor_user_id"] == room.ids["hohhot"]
    resp = client.post(f"/api/lessons/{room.lesson_id}/spectator-links", headers=room.h("admin"),
                       json={"supervisor_user_id": room.ids["saihan"]})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "OUTSIDE_REGION"
    resp = client.post(f"/api/lessons/{room.lesson_id}/spectator-links", headers=room.h("yuquan"),
                       json={"minutes": 2})
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "minutes"


def test_sup4_link_can_grant_chat(room, client):
    token = _link(client, room, can_chat=True)["token"]
    cm, spy, joined = _enter(client, room.lesson_id, token)
    try:
        spy.send_json({"type": "chat", "text": "各位好"})
        got = until(spy, lambda m: m["type"] in ("event", "error") and (m["type"] == "error" or m["event"]["kind"] == "chat"))
        assert got["type"] == "event" and got["event"]["payload"]["text"] == "各位好"
    finally:
        cm.__exit__(None, None, None)


def _assistant(client, room) -> tuple[int, str]:
    a = room.class_detail["assistants"][0]
    username = next(k for k, v in room.ids.items() if v == a["user_id"])
    return a["user_id"], room.login(username)


def test_live4_assistant_writes_privately_and_reminds_their_group(room, client, svc):
    s1, s2 = room.students[:2]
    aid, atoken = _assistant(client, room)
    url = f"/ws/lessons/{room.lesson_id}"
    with client.websocket_connect(url) as asst, client.websocket_connect(url) as one, \
            client.websocket_connect(url) as two:
        assert join(asst, atoken)["you"]["room_role"] == "assistant"
        assert join(one, room.tokens[f"s{s1}"])["you"]["assistant_id"] == aid
        join(two, room.tokens[f"s{s2}"])
        asst.send_json({"type": "private", "to": s1, "text": "请问能听清吗？"})
        got = until(one, lambda m: m["type"] == "event" and m["event"]["kind"] == "private")
        assert got["event"]["payload"] == {"to": s1, "text": "请问能听清吗？"}
        one.send_json({"type": "private", "text": "能听清"})  # to their own assistant
        got = until(asst, lambda m: m["type"] == "event" and m["event"]["kind"] == "private"
                    and m["event"]["user_id"] == s1)
        assert got["event"]["payload"] == {"to": aid, "text": "能听清"}
        one.send_json({"type": "private", "to": s2, "text": "hi"})  # students do not write to each other
        assert until(one, lambda m: m["type"] == "error")["error"]["code"] == "PRIVATE_ASSISTANT_ONLY"
        asst.send_json({"type": "remind", "user_id": s1, "preset": "face_camera"})
        got = until(one, lambda m: m["type"] == "event" and m["event"]["kind"] == "reminder")
        assert got["event"]["payload"]["preset"] == "face_camera" and "摄像头" in got["event"]["payload"]["text"]
        asst.send_json({"type": "remind", "user_id": s1, "preset": "dance"})
        assert until(asst, lambda m: m["type"] == "error")["error"]["field"] == "preset"
        two.send_json({"type": "chat", "text": "marker"})
        seen = []
        while True:
            m = two.receive_json()
            seen.append(m)
            if m["type"] == "event" and m["event"]["payload"].get("text") == "marker":
                break
        assert not any(m["type"] == "event" and m["event"]["kind"] in ("private", "reminder") for m in seen)
    # a late joiner gets the conversation so far, only the lines meant for them
    with client.websocket_connect(url) as again:
        recent = join(again, room.tokens[f"s{s2}"])["recent"]
        assert [r["payload"]["text"] for r in recent if r["kind"] == "chat"][-1] == "marker"
        assert not any(r["kind"] in ("private", "reminder") for r in recent)
    with svc.db.session() as s:
        kinds = [e.kind for e in s.scalars(select(LessonEvent).where(LessonEvent.lesson_id == room.lesson_id))]
    assert kinds.count("private") == 2 and kinds.count("reminder") == 1


def test_live4_assistant_serves_only_their_own_group(room, client, svc):
    from models import Enrolment
    s1 = room.students[0]
    aid, atoken = _assistant(client, room)
    with svc.db.session() as s:  # move s1 to nobody's group, as if another assistant had them
        s.query(Enrolment).filter_by(student_user_id=s1).update({"assistant_user_id": None})
    with client.websocket_connect(f"/ws/lessons/{room.lesson_id}") as asst:
        join(asst, atoken)
        asst.send_json({"type": "private", "to": s1, "text": "hello"})
        assert until(asst, lambda m: m["type"] == "error")["error"]["code"] == "NOT_YOUR_GROUP"
        asst.send_json({"type": "remind", "user_id": 999999, "preset": "stay"})
        assert until(asst, lambda m: m["type"] == "error")["error"]["code"] == "NOT_IN_CLASS"


def test_sup4_plat1_webhooks_hear_visible_participants_but_never_a_hidden_spectator(room, client, svc):
    room.tokens["admin"] = room.login("admin")
    ok(client.post("/api/webhooks", headers=room.h("admin"),
                   json={"url": "http://127.0.0.1:9/hook", "events": ["participant_joined", "participant_left"]}), 201)
    token = _link(client, room)["token"]
    s1 = room.students[0]
    with client.websocket_connect(f"/ws/lessons/{room.lesson_id}") as stu:
        join(stu, room.tokens[f"s{s1}"])
        cm, _spy, joined = _enter(client, room.lesson_id, token)
        cm.__exit__(None, None, None)
    deadline = time.monotonic() + 5
    while True:  # the leave is recorded just after the socket has gone
        with svc.db.session() as s:
            rows = list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
        if len(rows) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [(r.event_type, r.payload["data"]["user_id"]) for r in rows] == [
        ("participant_joined", s1), ("participant_left", s1)]
