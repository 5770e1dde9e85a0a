"""LIVE-5 in the live room: a screened hit is held back from students, shown flagged to the
lecturer and hidden supervisors, and raised as a content warning with its context."""
from __future__ import annotations

from sqlalchemy import select

from models import ContentWarning, LessonEvent
from tests.test_live_room import join, room, until  # noqa: F401 - the fixture
from tests.world import ok


def test_live5_a_hit_is_held_from_students_flagged_for_staff_and_warned(room, client, svc):
    s1, s2 = room.students[:2]
    url = f"/ws/lessons/{room.lesson_id}"
    with client.websocket_connect(url) as lec, client.websocket_connect(url) as one, \
            client.websocket_connect(url) as two, client.websocket_connect(url) as spy:
        join(lec, room.tokens["lecturer"])
        join(one, room.tokens[f"s{s1}"])
        join(two, room.tokens[f"s{s2}"])
        join(spy, room.tokens["yuquan"])
        one.send_json({"type": "chat", "text": "加我一起玩ｄｕ*ｂｏ，稳赚"})  # full width, a symbol inserted
        held = until(one, lambda m: m["type"] == "held")
        assert held["kind"] == "chat" and "敏感" in held["message_zh"] and held["message_en"]
        for staff in (lec, spy):
            got = until(staff, lambda m: m["type"] == "event" and m["event"]["kind"] == "chat")
            assert got["event"]["payload"]["held"] is True
            assert {m["word"] for m in got["event"]["payload"]["matches"]} >= {"赌博"}
        one.send_json({"type": "question", "text": "老师，营业执照怎么办？"})  # clean: everyone sees it
        seen = []
        while True:
            m = two.receive_json()
            seen.append(m)
            if m["type"] == "event" and m["event"]["kind"] == "question":
                break
        assert not any(m["type"] == "event" and m["event"]["payload"].get("held") for m in seen)
    with svc.db.session() as s:
        warning = s.scalars(select(ContentWarning)).one()
        event = s.get(LessonEvent, warning.event_id)
    assert warning.source == "chat" and warning.user_id == s1 and warning.lesson_id == room.lesson_id
    assert warning.district_code == "150104" and warning.status == "open"
    assert event.payload["held"] is True and event.kind == "chat"
    # supervisors of the region see it on their dashboard; another district does not
    items = ok(client.get("/api/content-warnings", headers=room.h("yuquan")))["items"]
    assert [w["id"] for w in items] == [warning.id]
    assert ok(client.get("/api/content-warnings", headers=room.h("saihan")))["items"] == []
