"""The lesson WebSocket: admission, room events through the log and the bus (LIVE-1/2/4, SUP-4)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from models import LessonEvent
from tests.world import ok

MONDAY = datetime(2025, 9, 22, 2, 0, tzinfo=timezone.utc)
START = date(2025, 10, 13)
DURING_FIRST_LESSON = datetime(2025, 10, 13, 1, 0, tzinfo=timezone.utc)  # 09:00 Beijing, lesson 08:30–11:30


@pytest.fixture
def room(world, client, clock):
    """An approved, open class whose first lesson is running now."""
    clock.set(MONDAY)
    w = world
    w.tokens["admin"] = w.login("admin")
    w.institution("alpha")
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("hohhot", "city", "150100")
    w.supervisor("saihan", "district", "150105")
    cid = w.ready_class("alpha", start=START, students=20)
    for who, action in (("alpha_admin", "submit"), ("yuquan", "approve"), ("hohhot", "approve"), ("alpha_admin", "open")):
        ok(client.post(f"/api/classes/{cid}/transitions", headers=w.h(who), json={"action": action}))
    detail = ok(client.get(f"/api/classes/{cid}", headers=w.h("alpha_admin")))
    clock.set(DURING_FIRST_LESSON)
    lecturer = detail["lecturers"][0]
    w.tokens["lecturer"] = w.login(next(k for k, v in w.ids.items() if v == lecturer["user_id"]))
    for key in ("yuquan", "saihan"):
        w.tokens[key] = w.login(key)
    w.class_detail = detail
    w.lesson_id = detail["lessons"][0]["id"]
    w.students = [s["id"] for s in detail["roster"]]
    for sid in w.students[:3]:
        w.tokens[f"s{sid}"] = w.login(w.mobiles[sid])
    return w


def join(ws, token, session_id="tab-1"):
    ws.send_json({"type": "join", "token": token, "session_id": session_id})
    return ws.receive_json()


def until(ws, predicate, limit=20):
    for _ in range(limit):
        msg = ws.receive_json()
        if predicate(msg):
            return msg
    raise AssertionError("message not received")


def test_live1_student_and_lecturer_share_chat_and_presence(room, client, svc):
    s1 = room.students[0]
    url = f"/ws/lessons/{room.lesson_id}"
    with client.websocket_connect(url) as lec, client.websocket_connect(url) as stu:
        joined = join(lec, room.tokens["lecturer"])
        assert joined["type"] == "joined" and joined["you"]["room_role"] == "lecturer"
        joined = join(stu, room.tokens[f"s{s1}"])
        assert joined["you"]["room_role"] == "student" and joined["count"] == 1
        assert {o["user_id"] for o in joined["online"]} >= {s1}
        pres = until(lec, lambda m: m["type"] == "presence" and m["count"] == 1)
        assert s1 in {o["user_id"] for o in pres["online"]}
        stu.send_json({"type": "chat", "text": "老师好"})
        got = until(lec, lambda m: m["type"] == "event" and m["event"]["kind"] == "chat")
        assert got["event"]["payload"] == {"text": "老师好"} and got["event"]["user_id"] == s1
        stu.send_json({"type": "hand_raise"})
        until(lec, lambda m: m["type"] == "event" and m["event"]["kind"] == "hand_raise")
        lec.send_json({"type": "floor_grant", "user_id": s1})
        until(stu, lambda m: m["type"] == "event" and m["event"]["kind"] == "floor_grant")
    with svc.db.session() as s:
        kinds = [e.kind for e in s.scalars(select(LessonEvent).where(LessonEvent.lesson_id == room.lesson_id))]
    assert kinds.count("join") == 2 and kinds.count("leave") == 2
    assert {"chat", "hand_raise", "floor_grant"} <= set(kinds)


def test_live1_student_not_on_roster_is_refused(room, client):
    outsider = room.student("alpha")
    token = room.tokens[f"student{outsider}"]
    with client.websocket_connect(f"/ws/lessons/{room.lesson_id}") as ws:
        msg = join(ws, token)
        assert msg["type"] == "error" and msg["error"]["code"] == "NOT_ON_ROSTER"
        assert msg["error"]["message_zh"] and msg["error"]["message_en"]


def test_join_needs_a_valid_token_and_join_first(room, client):
    with client.websocket_connect(f"/ws/lessons/{room.lesson_id}") as ws:
        assert join(ws, "forged")["error"]["code"] == "SESSION_INVALID"
    with client.websocket_connect(f"/ws/lessons/{room.lesson_id}") as ws:
        ws.send_json({"type": "chat", "text": "hi"})
        assert ws.receive_json()["error"]["code"] == "JOIN_FIRST"


def test_room_closed_outside_the_lesson_window(room, client, clock):
    clock.set(datetime(2025, 10, 13, 12, 0, tzinfo=timezone.utc))  # 20:00 Beijing
    with client.websocket_connect(f"/ws/lessons/{room.lesson_id}") as ws:
        assert join(ws, room.tokens["lecturer"])["error"]["code"] == "ROOM_CLOSED"


def test_sup4_spectator_is_invisible_to_students(room, client):
    s1 = room.students[0]
    url = f"/ws/lessons/{room.lesson_id}"
    with client.websocket_connect(url) as stu, client.websocket_connect(url) as lec:
        join(stu, room.tokens[f"s{s1}"])
        join(lec, room.tokens["lecturer"])
        with client.websocket_connect(url) as spy:
            joined = join(spy, room.tokens["yuquan"])
            assert joined["you"]["room_role"] == "spectator" and joined["you"]["hidden"]
            pres = until(lec, lambda m: m["type"] == "presence" and any(o["hidden"] for o in m["online"]))
            spy.send_json({"type": "chat", "text": "我来看看"})
            assert until(spy, lambda m: m["type"] == "error")["error"]["code"] == "SPECTATOR_SILENT"
            stu.send_json({"type": "chat", "text": "ping"})
            # everything a student received so far: never the spectator
            seen = []
            while True:
                m = stu.receive_json()
                seen.append(m)
                if m["type"] == "event" and m["event"]["kind"] == "chat":
                    break
            assert pres["count"] == 1
            spectator_id = room.ids["yuquan"]
            assert all(spectator_id not in {o["user_id"] for o in m.get("online", [])} for m in seen)
            assert all(m.get("event", {}).get("user_id") != spectator_id for m in seen)


def test_spectator_outside_region_cannot_enter(room, client):
    with client.websocket_connect(f"/ws/lessons/{room.lesson_id}") as ws:
        assert join(ws, room.tokens["saihan"])["error"]["code"] == "NOT_FOUND"


def test_bad_messages_get_clear_errors_and_the_room_carries_on(room, client):
    with client.websocket_connect(f"/ws/lessons/{room.lesson_id}") as ws:
        join(ws, room.tokens["lecturer"])
        ws.send_text("{not json")
        assert until(ws, lambda m: m["type"] == "error")["error"]["code"] == "MALFORMED_JSON"
        ws.send_json({"type": "teleport"})
        assert until(ws, lambda m: m["type"] == "error")["error"]["code"] == "UNKNOWN_MESSAGE"
        ws.send_json({"type": "chat", "text": "x" * 501})
        assert until(ws, lambda m: m["type"] == "error")["error"]["code"] == "TEXT_TOO_LONG"
        ws.send_json({"type": "hand_raise"})  # lecturers do not raise hands
        assert until(ws, lambda m: m["type"] == "error")["error"]["code"] == "ROOM_ROLE"
        ws.send_json({"type": "ping", "t": 1})
        assert until(ws, lambda m: m["type"] == "pong")["t"] == 1


def test_reconnect_is_one_person_in_the_log(room, client, svc):
    from server.live import eventlog
    s1 = room.students[0]
    url = f"/ws/lessons/{room.lesson_id}"
    for _ in range(2):
        with client.websocket_connect(url) as ws:
            join(ws, room.tokens[f"s{s1}"], session_id="phone-1")
    with svc.db.session() as s:
        found = eventlog.presence(eventlog.events(s, room.lesson_id, kinds=eventlog.PRESENCE_KINDS, limit=None))
    assert found[s1].reconnects == 1 and len(found[s1].intervals) == 1


def test_live1_students_publish_only_their_microphone_and_only_with_the_floor(room, client):
    s1 = room.students[0]
    url = f"/ws/lessons/{room.lesson_id}"
    audio_offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    with client.websocket_connect(url) as stu, client.websocket_connect(url) as lec:
        join(stu, room.tokens[f"s{s1}"])
        join(lec, room.tokens["lecturer"])
        stu.send_json({"type": "publish", "sdp": audio_offer})
        assert until(stu, lambda m: m["type"] == "error")["error"]["code"] == "NO_FLOOR"
        lec.send_json({"type": "floor_grant", "user_id": s1})
        until(stu, lambda m: m["type"] == "event" and m["event"]["kind"] == "floor_grant")
        stu.send_json({"type": "publish", "slot": "mic", "sdp": audio_offer + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"})
        assert until(stu, lambda m: m["type"] == "error")["error"]["code"] == "STUDENT_AUDIO_ONLY"
        # the attendance camera slot takes one video track, nothing else (LIVE-1)
        stu.send_json({"type": "publish", "slot": "camera", "sdp": audio_offer})
        assert until(stu, lambda m: m["type"] == "error")["error"]["code"] == "SOURCE_NOT_ALLOWED"
        stu.send_json({"type": "publish", "slot": "screen", "sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"})
        assert until(stu, lambda m: m["type"] == "error")["error"]["code"] == "SLOT_INVALID"
        stu.send_json({"type": "sdp_answer", "sdp": "v=0\r\n"})  # nothing was offered yet
        assert until(stu, lambda m: m["type"] == "error")["error"]["code"] in ("NO_OFFER", "SDP_REFUSED")


def test_live1_staff_console_gets_the_roster_and_floor_students_do_not(room, client):
    s1, s2 = room.students[:2]
    url = f"/ws/lessons/{room.lesson_id}"
    with client.websocket_connect(url) as lec:
        joined = join(lec, room.tokens["lecturer"])
        assert [r["user_id"] for r in joined["roster"]] == room.students  # everyone, online or not
        assert all(r["display_name"] for r in joined["roster"]) and joined["floor"] == [] and joined["cameras"] == []
        lec.send_json({"type": "floor_grant", "user_id": s2})
        until(lec, lambda m: m["type"] == "event" and m["event"]["kind"] == "floor_grant")
    with client.websocket_connect(url) as lec, client.websocket_connect(url) as stu:
        assert join(lec, room.tokens["lecturer"], "tab-2")["floor"] == [s2]  # from the log, after a reconnect
        joined = join(stu, room.tokens[f"s{s1}"])
        assert "roster" not in joined and "floor" not in joined  # students see no roster (PLAT-3)
