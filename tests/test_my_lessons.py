"""A student's lessons on the phone's home page: each with its state and, when open, where to go
(LIVE-1 room window, ATT-5 recorded study from the start, ATT-6 offline sign-in window), leave shown."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from models import Lesson, LessonVideo
from tests.test_recorded_study import make_video
from tests.world import err, ok


@pytest.fixture
def town(world, svc, clock):
    """Alpha's open class of two, its first lesson live now; another class of alpha's with a third student."""
    w = world
    w.institution("alpha")
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("hohhot", "city", "150100")
    detail = w.running_lesson("alpha", district="yuquan", city="hohhot", students=2)
    clock.set(datetime.now(timezone.utc))
    return {"w": w, "detail": detail, "students": [r["id"] for r in detail["roster"]],
            "lessons": [l["id"] for l in detail["lessons"]]}


def mine(w, student: int) -> dict:
    return ok(w.client.get("/api/me/lessons", headers=w.h(f"student{student}")))


def test_live1_the_lesson_on_now_links_to_its_room_and_the_rest_wait(town):
    w, (a, _), lessons = town["w"], town["students"], town["lessons"]
    got = mine(w, a)
    by_id = {i["id"]: i for i in got["items"]}
    assert set(by_id) == set(lessons)  # every lesson of the running class, in time order
    assert [i["starts_at"] for i in got["items"]] == sorted(i["starts_at"] for i in got["items"])
    now = by_id[lessons[0]]
    assert (now["state"], now["url"], now["mode"]) == ("open", f"/room?lesson={lessons[0]}", "live")
    assert got["next"]["id"] == lessons[0]
    later = [by_id[i] for i in lessons[1:]]
    assert {i["state"] for i in later} == {"upcoming"} and all(i["url"] is None for i in later)
    assert now["class_id"] == town["detail"]["id"] and now["class_name"]


def test_att5_att6_recorded_and_offline_lessons_link_to_study_and_sign_in(town, svc, clock):
    w, (a, _), lessons = town["w"], town["students"], town["lessons"]
    now = clock()
    rec, off = lessons[1], lessons[2]
    with svc.db.session() as s:
        row = s.get(Lesson, rec)  # a recorded lesson that started an hour ago, nothing uploaded yet
        row.mode, row.starts_at, row.ends_at = "recorded", now - timedelta(hours=1), now + timedelta(hours=2)
        row = s.get(Lesson, off)  # an offline lesson starting in 20 minutes: its sign-in window is open
        row.mode, row.starts_at, row.ends_at = "offline", now + timedelta(minutes=20), now + timedelta(hours=3)
    by_id = {i["id"]: i for i in mine(w, a)["items"]}
    assert (by_id[rec]["state"], by_id[rec]["url"]) == ("no_material", None)
    assert (by_id[off]["state"], by_id[off]["url"]) == ("open", f"/signin?lesson={off}")
    ok(w.client.put(f"/api/lessons/{rec}/video", content=make_video(seconds=5), headers={
        **w.h("alpha_admin"), "Content-Type": "video/webm"}))
    by_id = {i["id"]: i for i in mine(w, a)["items"]}
    assert (by_id[rec]["state"], by_id[rec]["url"]) == ("open", f"/study?lesson={rec}")
    # the recorded lesson stays open for study after its end while the class runs (catch-up)
    clock.set(now + timedelta(hours=5))
    by_id = {i["id"]: i for i in mine(w, a)["items"]}
    assert by_id[rec]["state"] == "open" and by_id[off]["state"] == "done" and by_id[lessons[0]]["state"] == "done"
    with svc.db.session() as s:
        assert s.get(LessonVideo, rec) is not None


def test_cls7_a_lesson_under_leave_says_so_and_only_own_classes_show(town, svc):
    w, (a, b), lessons = town["w"], town["students"], town["lessons"]
    cid = town["detail"]["id"]
    leave = ok(w.client.post(f"/api/classes/{cid}/leaves", headers=w.h(f"student{a}"),
                             json={"lesson_ids": [lessons[1]], "reason": "家中有事"}), 201)
    assert {i["id"]: i for i in mine(w, a)["items"]}[lessons[1]]["leave"] == "pending"
    ok(w.client.post(f"/api/leaves/{leave['id']}/decision", headers=w.h("alpha_admin"),
                     json={"action": "approve"}))
    assert {i["id"]: i for i in mine(w, a)["items"]}[lessons[1]]["leave"] == "approved"
    assert all(i["leave"] is None for i in mine(w, b)["items"])  # the other student's own view
    outsider = w.student("alpha")  # registered, in no class
    got = mine(w, outsider)
    assert got == {"items": [], "next": None, "now": got["now"]}
    err(w.client.get("/api/me/lessons", headers=w.h("alpha_admin")), 403)
    err(w.client.get("/api/me/lessons"), 401)
