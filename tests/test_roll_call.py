"""Roll call (ATT-8): a hidden supervisor has a random ≥ 50 % of the class face-checked at once;
the selection, who asked and the results are in the lesson log; a report says whether each class
was roll-called at least every two days."""
from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from media.samplefaces import load_rgb
from models import Institution, Lesson, TrainingClass, User
from server.attendance.rollcall import roll_call_report
from server.live import eventlog
from tests.test_face_attendance_live import Picture, _scene
from tests.test_live_media import live  # noqa: F401 - the fixture
from tests.test_live_routing import Peer, _tokens


def test_att8_a_supervisor_roll_call_checks_present_students_now_and_is_logged(live):
    async def scenario():
        pcs: list = []
        lec_token, (s1, s2) = _tokens(live)
        sup_token = live.login("yuquan")
        try:
            async with Peer(live.ws_url, s1, "s1", pcs) as a, Peer(live.ws_url, s2, "s2", pcs) as b, \
                    Peer(live.ws_url, sup_token, "sup", pcs) as sup:
                a_id = a.messages[0]["you"]["user_id"]
                await a.publish("camera", [Picture(_scene(load_rgb("astronaut.png")))], ["camera"])
                await sup.wait(lambda m: m["type"] == "event" and m["event"]["kind"] == "publish")
                await b.send({"type": "roll_call"})  # students cannot
                err = await b.wait(lambda m: m["type"] == "error")
                assert err["error"]["code"] == "ROOM_ROLE"
                await asyncio.sleep(0.5)  # the sampler attaches to the new camera
                await sup.send({"type": "roll_call"})
                call = (await sup.wait(lambda m: m["type"] == "event" and m["event"]["kind"] == "roll_call"))["event"]
                p = call["payload"]
                assert p["share"] == 0.5 and p["needed"] == (p["roster"] + 1) // 2  # hohhot: ≥ 50 %, rounded up
                assert p["selected"] == [a_id] and p["short"] == p["needed"] - 1  # only one camera is on
                check = await sup.wait(lambda m: m["type"] == "event" and m["event"]["kind"] == "face_check"
                                       and m["event"]["payload"].get("roll_call") == call["id"], timeout=40)
                assert check["event"]["user_id"] == a_id and check["event"]["payload"]["verdict"] == "match"
                assert not any(m["type"] == "event" and m["event"]["kind"] in ("roll_call", "face_check")
                               for m in b.messages)  # students are not told
        finally:
            await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)

    asyncio.run(scenario())


@pytest.fixture
def klass(svc):
    with svc.db.session() as s:
        t = User(username="t", password_hash="x", role="lecturer", display_name="t")
        sup = User(username="sup", password_hash="x", role="supervisor", display_name="sup")
        s.add_all([t, sup])
        inst = Institution(name="启航培训学校", code="QH1", region_code="150203", profile="baotou")
        s.add(inst)
        s.flush()
        cls = TrainingClass(institution_id=inst.id, name="SYB", course_type="SYB", delivery_mode="live",
                            profile="baotou", district_code="150203", created_by=t.id)
        s.add(cls)
        s.flush()
        lessons = []
        for day in range(6):  # six teaching days in a row, 09:00 Beijing
            start = datetime(2026, 3, 2 + day, 1, 0, tzinfo=timezone.utc)
            les = Lesson(class_id=cls.id, title=f"第{day + 1}天", starts_at=start, ends_at=start + timedelta(hours=3),
                         mode="live", class_hours=4)
            s.add(les)
            lessons.append(les)
        s.flush()
        return SimpleNamespace(id=cls.id, lessons=[le.id for le in lessons], sup=sup.id)


def test_att8_the_report_shows_which_two_day_windows_had_no_roll_call(svc, klass):
    def roll_call(lesson_index: int, day: int):
        with svc.db.session() as s:
            ev = eventlog.append(s, klass.lessons[lesson_index], "roll_call", user_id=klass.sup, role="spectator",
                                 node_id="t", payload={"share": 0.5, "roster": 30, "needed": 15, "selected": [1, 2],
                                                       "short": 13},
                                 at=datetime(2026, 3, day, 2, 0, tzinfo=timezone.utc))
            eventlog.append(s, klass.lessons[lesson_index], "face_check", user_id=None, role="student", node_id="t",
                            payload={"verdict": "match", "roll_call": ev.id},
                            at=datetime(2026, 3, day, 2, 0, 5, tzinfo=timezone.utc))
    roll_call(0, 2)  # window 2–3 March: done
    roll_call(4, 6)  # window 6–7 March: done; 4–5 March: none
    with svc.db.session() as s:
        report = roll_call_report(s, klass.id, svc.profiles, today=date(2026, 3, 9))
    assert report["every_days"] == 2  # Baotou's profile
    assert [(w["from"], w["ok"]) for w in report["windows"]] == [
        ("2026-03-02", True), ("2026-03-04", False), ("2026-03-06", True)]
    assert not report["compliant"]
    assert report["roll_calls"][0]["by"] == klass.sup and report["roll_calls"][0]["checked"] == 1
    assert report["roll_calls"][0]["passed"] == 1
