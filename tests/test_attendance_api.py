"""Attendance through the API (ATT-2/3/4/7/8, SUP-1; issue 4 §4/§8 "every figure must be explainable"):
a class table per student, one student's lessons with the timelines that produced the figures (a
liveness_failed stretch included), face checks, liveness verdicts, offline sign-ins (ATT-6), ATT-7 days
with the study photo, the ATT-8 roll-call windows; who may read what; bad ids are 4xx JSON, never 500
(SQLite and PostgreSQL). The page itself: tests/test_browser_attendance.py."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from models import AuditLog, StudentProfile
from server.api.attendance import REASON_LABELS
from server.attendance import offline, recordedstudy
from server.attendance.lessonattendance import REASONS
from server.identity.photos import ProcessedImage
from server.live import eventlog
from tests.roomlog import RoomLog
from tests.world import err, image, ok

MONDAY = datetime(2025, 9, 22, 2, 0, tzinfo=timezone.utc)
START = date(2025, 10, 13)  # lessons 08:30–11:30 and 14:00–17:00 Beijing = 00:30 and 06:00 UTC
FIRST = datetime(2025, 10, 13, 0, 30, tzinfo=timezone.utc)
SECOND = datetime(2025, 10, 13, 6, 0, tzinfo=timezone.utc)


def relogin(w) -> None:
    """Sessions last 12 hours: after moving the clock, everyone logs in again."""
    for key in list(w.tokens):
        w.tokens[key] = w.login(w.mobiles[int(key[7:])] if key.startswith("student") else key)


def save_photo(svc, owner: int) -> int:
    import hashlib
    data = image(320, 240)
    with svc.db.session() as s:
        return svc.files.save_image(s, ProcessedImage(data=data, width=320, height=240,
                                                      sha256=hashlib.sha256(data).hexdigest()),
                                    kind="study_photo", owner_user_id=owner).id


def teach(svc, lesson_id: int, lecturer: int, a: int, b: int, photo_id: int, supervisor: int,
          start: datetime = FIRST) -> None:
    """The first lesson, taught for 60 minutes from ``start`` (08:30 Beijing):

    * A — there throughout, face matched every 30 s; liveness passed at minute 1, FAILED at 20, passed
      again at 30 (minutes 20–30 are liveness_failed: no credit, their matches not counted); the day's
      study photo at 0.5; picked by a supervisor's roll call at 40.
    * B — joins at 10, page hidden 30–35, leaves at 45.
    * C — never comes.
    """
    plan: list[tuple] = []  # (minute, kind, user, role, payload), then written in time order as the room does

    def add(minute, kind, uid, role, **payload):
        plan.append((minute, kind, uid, role, payload))
    add(0, "join", lecturer, "lecturer")
    add(0, "publish", lecturer, "lecturer", slot="main")
    add(0, "join", a, "student")
    add(0, "publish", a, "student", slot="camera")
    add(0.5, "study_photo", a, "student", file_id=photo_id, distance=0.31)
    add(1, "liveness", a, "student", passed=True, reasons=[], reasons_zh=[], reason="sign_in", attempt=1)
    add(10, "join", b, "student")
    add(10, "publish", b, "student", slot="camera")
    add(20, "liveness", a, "student", passed=False, reasons=["no_turn", "no_blink"], reasons_zh=["没有转头", "没有眨眼"],
        reason="random", attempt=1)
    add(30, "liveness", a, "student", passed=True, reasons=[], reasons_zh=[], reason="retry", attempt=2)
    add(30, "page_visibility", b, "student", visible=False)
    add(35, "page_visibility", b, "student", visible=True)
    add(40, "roll_call", supervisor, "spectator", share=0.5, roster=3, needed=2, selected=[a], short=1)
    add(45, "leave", b, "student")
    minute = 0.5
    while minute < 60:
        add(minute, "face_check", a, "student", verdict="match", distance=0.3,
            **({"roll_call": "the roll call"} if minute == 40.5 else {}))
        if 10 < minute < 45:
            add(minute, "face_check", b, "student", verdict="match", distance=0.35)
        minute += 0.5
    add(60, "lesson_end", lecturer, "lecturer")
    with svc.db.session() as s:
        log, call = RoomLog(s, lesson_id, start), None
        for minute, kind, uid, role, payload in sorted(plan, key=lambda e: e[0]):
            if payload.get("roll_call"):
                payload["roll_call"] = call.id
            ev = log.add(minute, kind, uid, role, **payload)
            call = ev if kind == "roll_call" else call


@pytest.fixture
def town(world, client, clock, svc):
    """Hohhot: an open SYB class of three (A, B, C) whose first lesson was taught (``teach``) and whose
    second is offline (A signs in and out); a second class of the same institution with its own
    assistant; supervisors of the class's district, of another district and of the city."""
    from models import Lesson
    clock.set(MONDAY)
    w = world
    w.institution("alpha")
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("saihan", "district", "150105")
    w.supervisor("hohhot", "city", "150100")
    cid = w.ready_class("alpha", start=START, students=3)
    detail = w.open_class("alpha", cid, district="yuquan", city="hohhot")
    other = w.ready_class("alpha", start=START, students=1)
    names = {v: k for k, v in w.ids.items()}
    mine = names[detail["assistants"][0]["user_id"]]
    theirs = names[ok(client.get(f"/api/classes/{other}", headers=w.h("alpha_admin")))["assistants"][0]["user_id"]]
    lecturer = detail["lecturers"][0]["user_id"]
    for name in (mine, theirs, names[lecturer]):
        w.tokens[name] = w.login(name)
    with svc.db.session() as s:  # A, B, C by name (the table's order)
        for uid, name in zip(sorted(x["id"] for x in detail["roster"]), ("甲", "乙", "丙")):
            s.get(StudentProfile, uid).real_name = name
    a, b, c = sorted(x["id"] for x in detail["roster"])
    photo = save_photo(svc, a)
    lessons = detail["lessons"]
    teach(svc, lessons[0]["id"], lecturer, a, b, photo, w.ids["yuquan"])
    with svc.db.session() as s:  # the afternoon lesson is held offline (ATT-6): A signs in, then out at 16:00
        s.get(Lesson, lessons[1]["id"]).mode = "offline"
        for minute, action in ((0, "sign_in"), (120, "sign_out")):
            eventlog.append(s, lessons[1]["id"], offline.KIND, user_id=a, role="student", node_id="t",
                            at=SECOND + timedelta(minutes=minute),
                            payload={"action": action, "accepted": True, "reason": None, "distance_m": 12,
                                     "radius_m": 200, "accuracy_m": 15, "verdict": "match", "face_distance": 0.3})
    clock.set(datetime(2025, 10, 15, 1, 0, tzinfo=timezone.utc))  # day 3, 09:00 Beijing
    relogin(w)
    return {"w": w, "cid": cid, "other": other, "a": a, "b": b, "c": c, "photo": photo, "lessons": lessons,
            "assistant": mine, "other_assistant": theirs, "lecturer": names[lecturer]}


def test_every_reason_the_rules_give_has_a_bilingual_label():
    for code in (*REASONS, *recordedstudy.REASONS, offline.NOT_SIGNED_IN, "credited"):
        assert REASON_LABELS[code]["zh"] and REASON_LABELS[code]["en"] and REASON_LABELS[code]["rule"]


def test_att2_class_table_per_student_with_thresholds(town, client):
    w, cid = town["w"], town["cid"]
    body = ok(client.get(f"/api/classes/{cid}/attendance", headers=w.h("yuquan")))
    assert body["thresholds"]["live_time_ATT3"] == 0.8 and body["thresholds"]["attendance_ATT4"] == 0.8
    assert body["thresholds"]["max_absences_CLS7"] == 2  # Hohhot SYB
    assert body["lessons_started"] == 5 and body["lessons_total"] == 14  # day 3, 09:00: two days and one lesson
    rows = {r["student_id"]: r for r in body["items"]}
    assert [r["student_name"] for r in body["items"]] == ["丙", "乙", "甲"]  # by name
    a, b, c = rows[town["a"]], rows[town["b"]], rows[town["c"]]
    # A: 50 of 60 live minutes in the morning + 120 of 180 signed in offline; day 2's lessons never went live
    assert (a["study_seconds"], a["live_seconds"]) == (50 * 60 + 120 * 60, 60 * 60 + 180 * 60)
    assert a["study_ratio"] == round((170 / 240), 4) and a["meets_live_time_ATT3"] is False
    # checks: 119 morning samples, the 20 taken while failed on liveness do not pass; 1 offline sign-in passed
    assert (a["checks_passed"], a["checks_due"]) == (99 + 1, 119 + 1)
    assert a["attendance_rate"] == round(100 / 120, 4) and a["meets_attendance_ATT4"] is True
    assert (a["liveness_passed"], a["liveness_failed"]) == (2, 1)
    assert (b["study_seconds"], b["checks_due"], b["checks_passed"]) == (30 * 60, 69 + 1, 69)  # no offline sign-in
    assert b["meets_attendance_ATT4"] and not b["meets_live_time_ATT3"]
    assert (c["study_seconds"], c["checks_due"], c["attendance_rate"], c["meets_attendance_ATT4"]) == (0, 1, 0, False)
    # CLS-7 from absences.py: C missed both lessons of day 1 (one run of 8 class-hours = 2)
    assert (c["absences"], c["barred_from_exam"]) == (2, False) and a["absences"] == 0
    assert b["absences"] == 1  # 30 of 60 live minutes is present; the offline afternoon without a sign-in is not


def test_a_students_timeline_explains_every_minute(town, client, svc):
    w, cid, a = town["w"], town["cid"], town["a"]
    body = ok(client.get(f"/api/classes/{cid}/attendance/{a}", headers=w.h(f"student{a}")))
    assert body["student_name"] == "甲" and body["summary"]["liveness_failed"] == 1
    first, second = body["lessons"][0], body["lessons"][1]
    assert (first["study_seconds"], first["live_seconds"], first["checks_passed"], first["checks_due"]) == (
        3000, 3600, 99, 119)
    segs = [(s["start"][11:16], s["end"][11:16], s["reason"]) for s in first["timeline"]]
    assert segs == [("08:30", "08:50", None), ("08:50", "09:00", "liveness_failed"), ("09:00", "09:30", None),
                    ("09:30", "11:30", "not_connected")]  # the lesson ended early: the rest of its slot
    failed = first["timeline"][1]
    assert (failed["credited"], failed["seconds"], failed["reason_zh"], failed["reason_en"]) == (
        False, 600.0, "活体检测未通过", "liveness check failed")
    assert first["timeline"][0]["reason_zh"] == "计入学时" and first["status_CLS7"] == "present"
    assert len(first["face_checks"]) == 119 and first["face_checks"][0] == {
        "at": "2025-10-13T08:30:30+08:00", "verdict": "match", "verdict_zh": "本人", "distance": 0.3, "source": "live",
        "roll_call": None, "file_id": None}
    assert [x["roll_call"] is not None for x in first["face_checks"]].count(True) == 1
    assert [(x["at"][11:16], x["passed"], x["reasons_zh"]) for x in first["liveness"]] == [
        ("08:31", True, []), ("08:50", False, ["没有转头", "没有眨眼"]), ("09:00", True, [])]
    # the offline afternoon: sign-ins and the not_signed_in stretch after the sign-out (ATT-6)
    assert second["mode"] == "offline" and [x["action"] for x in second["offline_sign_ins"]] == ["sign_in", "sign_out"]
    assert [(s["start"][11:16], s["end"][11:16], s["reason"]) for s in second["timeline"]] == [
        ("14:00", "16:00", None), ("16:00", "17:00", "not_signed_in")]
    assert body["reasons"]["not_signed_in"]["rule"] == "ATT-6"
    assert not body["lessons"][5]["started"] and "timeline" not in body["lessons"][5]
    # ATT-7: day 1's half-days from the first and last matching checks and the offline sign-in/out
    day = body["days"][0]
    assert day["day"] == "2025-10-13" and day["study_photo_file_id"] == town["photo"]
    assert day["halves"]["am"] == {"sign_in": "2025-10-13T08:30:30+08:00", "sign_out": "2025-10-13T09:29:30+08:00"}
    assert day["halves"]["pm"] == {"sign_in": "2025-10-13T14:00:00+08:00", "sign_out": "2025-10-13T16:00:00+08:00"}
    assert day["study_minutes"] == 170.0 and day["meets_daily_ATT7"] is None  # Hohhot sets no daily rule
    # B: the reasons in order — not yet connected, credited, page hidden, credited, gone
    b = ok(client.get(f"/api/classes/{cid}/attendance/{town['b']}", headers=w.h("yuquan")))
    assert [(s["start"][11:16], s["end"][11:16], s["reason"]) for s in b["lessons"][0]["timeline"]] == [
        ("08:30", "08:40", "not_connected"), ("08:40", "09:00", None), ("09:00", "09:05", "page_hidden"),
        ("09:05", "09:15", None), ("09:15", "11:30", "not_connected")]
    assert b["summary"]["study_seconds"] == 1800 and b["days"][0]["study_photo_file_id"] is None
    with svc.db.session() as s:  # SUP-6: the supervisor's read is on the record
        assert s.query(AuditLog).filter(AuditLog.action == "supervisor.read",
                                        AuditLog.target_id == f"/api/classes/{cid}/attendance/{town['b']}").count() == 1


def test_scope_students_assistants_and_supervisors(town, client):
    w, cid, a, b = town["w"], town["cid"], town["a"], town["b"]
    # a student reads only their own, never the class table or the roll calls
    assert err(client.get(f"/api/classes/{cid}/attendance/{b}", headers=w.h(f"student{a}")), 403)["code"] == \
        "NOT_YOUR_ATTENDANCE"
    err(client.get(f"/api/classes/{cid}/attendance", headers=w.h(f"student{a}")), 403)
    err(client.get(f"/api/classes/{cid}/roll-calls", headers=w.h(f"student{a}")), 403)
    err(client.get(f"/api/classes/{town['other']}/attendance/{a}", headers=w.h(f"student{a}")), 404)  # not theirs
    # the class's own assistant reads it; another class's assistant of the same institution is refused
    ok(client.get(f"/api/classes/{cid}/attendance", headers=w.h(town["assistant"])))
    ok(client.get(f"/api/classes/{cid}/attendance/{a}", headers=w.h(town["assistant"])))
    refused = err(client.get(f"/api/classes/{cid}/attendance", headers=w.h(town["other_assistant"])), 403)
    assert refused["code"] == "NOT_CLASS_ASSISTANT" and refused["rule"] == "LIVE-4"
    err(client.get(f"/api/classes/{cid}/attendance/{a}", headers=w.h(town["other_assistant"])), 403)
    # supervisors: the district's and the city's read; another district's does not see the class (404)
    for who in ("yuquan", "hohhot", "alpha_admin", town["lecturer"], "admin"):
        ok(client.get(f"/api/classes/{cid}/attendance", headers=w.h(who)))
    for path in ("attendance", f"attendance/{a}", "roll-calls", f"study-photos/{town['photo']}"):
        err(client.get(f"/api/classes/{cid}/{path}", headers=w.h("saihan")), 404)
    w.institution("beta")
    err(client.get(f"/api/classes/{cid}/attendance", headers=w.h("beta_admin")), 404)
    err(client.get(f"/api/classes/{cid}/attendance"), 401)


def test_att8_roll_call_windows_through_the_api(town, client):
    w, cid = town["w"], town["cid"]
    body = ok(client.get(f"/api/classes/{cid}/roll-calls", headers=w.h("yuquan")))
    assert body["rule"] == "ATT-8" and body["every_days"] == 2 and body["share"] == 0.5
    assert [(x["from"], x["to"], x["taught"], x["ok"]) for x in body["windows"]] == [
        ("2025-10-13", "2025-10-14", True, True), ("2025-10-15", "2025-10-16", True, False)]
    assert body["compliant"] is False
    call = body["roll_calls"][0]
    assert (call["by"], call["by_name"], call["checked"], call["passed"], call["at"]) == (
        w.ids["yuquan"], "yuquan", 1, 1, "2025-10-13T09:10:00+08:00")
    ok(client.get(f"/api/classes/{cid}/roll-calls", headers=w.h(town["assistant"])))


def test_study_photo_to_its_owner_and_staff_not_to_classmates(town, client, svc):
    w, cid, a, b, photo = town["w"], town["cid"], town["a"], town["b"], town["photo"]
    resp = client.get(f"/api/classes/{cid}/study-photos/{photo}", headers=w.h(f"student{a}"))
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/jpeg"
    assert resp.content[:2] == b"\xff\xd8" and resp.headers["cache-control"] == "private, no-store"
    assert err(client.get(f"/api/classes/{cid}/study-photos/{photo}", headers=w.h(f"student{b}")), 403)["code"] == \
        "NOT_YOUR_ATTENDANCE"
    for who in ("yuquan", "alpha_admin", town["assistant"]):
        assert client.get(f"/api/classes/{cid}/study-photos/{photo}", headers=w.h(who)).content == resp.content
    err(client.get(f"/api/classes/{cid}/study-photos/{photo}", headers=w.h(town["other_assistant"])), 403)
    with svc.db.session() as s:
        views = s.query(AuditLog).filter_by(action="attendance.study_photo_view").all()
        assert {v.actor_role for v in views} == {"supervisor", "institution_admin", "assistant"}
        assert all(v.target_id == str(photo) and v.detail["student_id"] == a for v in views)
        reference = s.get(StudentProfile, a).reference_photo_file_id
    # the endpoint serves study photos only: a student's ID-card or reference photo is not one
    err(client.get(f"/api/classes/{cid}/study-photos/{reference}", headers=w.h("alpha_admin")), 404)
    # nor a study photo taken in another class
    stray = save_photo(svc, a)
    err(client.get(f"/api/classes/{cid}/study-photos/{stray}", headers=w.h(f"student{a}")), 404)


def test_bad_ids_are_404_json_never_500(town, client):
    w, cid, a = town["w"], town["cid"], town["a"]
    h = w.h("alpha_admin")
    for path in (f"/api/classes/{2**31}/attendance", f"/api/classes/99999999999999999999/attendance",
                 "/api/classes/987654/attendance", f"/api/classes/{cid}/attendance/987654",
                 f"/api/classes/{cid}/attendance/{2**40}", f"/api/classes/{cid}/attendance/{town['c'] + 1000}",
                 f"/api/classes/{cid}/attendance/{w.ids[town['lecturer']]}",  # not a student of the class
                 "/api/classes/987654/roll-calls", f"/api/classes/{cid}/study-photos/987654",
                 f"/api/classes/{cid}/study-photos/{2**31}", f"/api/classes/{cid}/attendance/abc",
                 "/api/classes/x/roll-calls", f"/api/classes/{cid}/study-photos/-1"):
        err(client.get(path, headers=h), 404)
    err(client.get(f"/api/classes/{2**31}/attendance/{a}", headers=w.h(f"student{a}")), 404)
    err(client.post(f"/api/classes/{cid}/attendance", headers=h, json={}), 405)
