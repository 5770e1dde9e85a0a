"""Offline lessons (CLS-6, ATT-6): a venue at class planning, sign-in and sign-out on the phone with a
face check and the phone's location inside the venue's radius, every attempt in the lesson event log,
and attendance (ATT-2/3/4, ATT-7) counted from the accepted sign-ins.

Pure tests first (distance, datum, the location rule, the attendance derivation); then the API on
SQLite and PostgreSQL, with real face photos (media/samplefaces.py) judged by the real checker.
"""
from __future__ import annotations

import dataclasses
import math
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import cv2
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from media.samplefaces import load_rgb, scene
from models import Base, StoredFile
from server.attendance import offline
from server.attendance.daily import daily
from server.domain.venue import IMPRECISE, OUTSIDE, Venue, haversine_m, judge_location, wgs84_to_gcj02
from server.live import eventlog
from tests.world import lesson_days, ok, schedule

MONDAY = datetime(2025, 9, 22, 2, 0, tzinfo=timezone.utc)  # planning day, 10:00 Beijing
START = date(2025, 10, 13)
LESSON_START = datetime(2025, 10, 13, 0, 30, tzinfo=timezone.utc)  # 08:30–11:30 Beijing
LESSON_END = LESSON_START + timedelta(minutes=180)
VENUE = (40.8066, 111.6620)  # a training centre in Yuquan district, Hohhot (WGS-84)
M_PER_DEG_LAT = 2 * math.pi * 6_371_008.8 / 360  # ≈ 111 195 m


def north(metres: float) -> tuple[float, float]:
    return VENUE[0] + metres / M_PER_DEG_LAT, VENUE[1]


# --------------------------------------------------------------------------- distance and datum

def test_haversine_known_distances():
    assert haversine_m(*VENUE, *VENUE) == 0
    assert haversine_m(0, 0, 1, 0) == pytest.approx(M_PER_DEG_LAT, rel=1e-9)
    assert haversine_m(*VENUE, *north(150)) == pytest.approx(150, abs=0.01)
    # Beijing Tian'anmen → Shanghai People's Square: ≈ 1067 km great-circle
    assert haversine_m(39.9087, 116.3975, 31.2304, 121.4737) == pytest.approx(1_067_000, rel=0.005)
    # symmetric, and across the antimeridian the short way round
    assert haversine_m(10, 179.9, 10, -179.9) == pytest.approx(haversine_m(10, -179.9, 10, 179.9))
    assert haversine_m(0, 179.9, 0, -179.9) == pytest.approx(0.2 * M_PER_DEG_LAT, rel=1e-6)


def test_gcj02_forward_transform_matches_the_published_reference_vector():
    # wandergis/coordtransform README: wgs84togcj02(116.404, 39.915) → [116.41024449916938, 39.91640428150164]
    lat, lon = wgs84_to_gcj02(39.915, 116.404)
    assert lat == pytest.approx(39.91640428150164, abs=1e-12) and lon == pytest.approx(116.41024449916938, abs=1e-12)
    assert 100 < haversine_m(39.915, 116.404, lat, lon) < 700  # why a venue must say its datum
    assert wgs84_to_gcj02(48.8566, 2.3522) == (48.8566, 2.3522)  # outside China: unchanged


def test_att6_a_venue_read_off_a_chinese_map_is_compared_in_its_own_datum():
    gcj = wgs84_to_gcj02(*VENUE)
    wrong = Venue("培训中心", None, *gcj, radius_m=200)  # GCJ-02 point taken as GPS: the student seems far away
    right = Venue("培训中心", None, *gcj, radius_m=200, datum="gcj02")
    assert wrong.distance_m(*VENUE) > 200
    assert right.distance_m(*VENUE) < 0.01
    assert judge_location(right, *north(50), 20).inside


# --------------------------------------------------------------------------- the radius rule

def test_att6_radius_rule_inside_outside_and_imprecise():
    v = Venue("培训中心", "玉泉区", *VENUE, radius_m=200)
    assert judge_location(v, *north(120), 30).reason is None
    boundary = judge_location(v, *north(199.9), 10)
    assert boundary.inside and boundary.distance_m == pytest.approx(199.9, abs=0.01)  # inclusive
    out = judge_location(v, *north(260), 10)
    assert out.reason == OUTSIDE and out.distance_m == pytest.approx(260, abs=0.01) and out.radius_m == 200
    # a fix coarser than the circle cannot tell inside from outside: refused, never waved through …
    assert judge_location(v, *north(0), 350).reason == IMPRECISE
    assert judge_location(v, *north(300), 350).reason == IMPRECISE
    # … unless it is outside even allowing for its error
    assert judge_location(v, *north(5000), 1500).reason == OUTSIDE
    # the rule is not "distance − accuracy ≤ radius" (too lenient) nor "distance + accuracy ≤ radius"
    assert judge_location(v, *north(350), 180).reason == OUTSIDE
    assert judge_location(v, *north(190), 60).inside


# --------------------------------------------------------------------------- attendance (pure)

ANNA, BO = 10, 11


def ev(minute: float, user: int, action: str, accepted: bool = True, **payload):
    return SimpleNamespace(at=LESSON_START + timedelta(minutes=minute), kind="offline_sign_in", user_id=user,
                           role="student", session_id=None,
                           payload={"action": action, "accepted": accepted, "reason": None if accepted else "x", **payload})


LESSON = SimpleNamespace(starts_at=LESSON_START, ends_at=LESSON_END, mode="offline")


def test_att6_presence_runs_from_an_accepted_sign_in_to_the_sign_out_or_the_end():
    events = [ev(-20, ANNA, "sign_in"),  # early: counts from the start
              ev(5, BO, "sign_in", accepted=False), ev(8, BO, "sign_in"), ev(9, BO, "sign_in"),  # repeat: no change
              ev(60, BO, "sign_out"), ev(61, BO, "sign_out"),  # a sign-out while out changes nothing
              ev(120, BO, "sign_out", accepted=False), ev(130, BO, "sign_in"), ev(200, BO, "sign_out")]
    found = offline.offline_attendance(LESSON, events, [ANNA, BO, 12], until=LESSON_END + timedelta(hours=1))
    anna, bo, absent = found[ANNA], found[BO], found[12]
    assert anna.study == timedelta(minutes=180) and anna.live == timedelta(minutes=180) and anna.meets_live_time
    assert bo.study == timedelta(minutes=52 + 50)  # 08:38–09:30 and 10:40–end (sign-out after the end is clipped)
    assert (bo.checks_due, bo.checks_passed, bo.meets_attendance) == (1, 1, True)  # a retry is not held against her
    assert (absent.study, absent.checks_due, absent.checks_passed, absent.meets_attendance) == (timedelta(0), 1, 0, False)
    assert [(s.credited, s.reason) for s in bo.timeline] == [
        (False, "not_signed_in"), (True, None), (False, "not_signed_in"), (True, None)]
    # while the lesson runs, an open stay counts up to now
    mid = offline.offline_attendance(LESSON, events[:1], [ANNA], until=LESSON_START + timedelta(minutes=30))[ANNA]
    assert mid.study == mid.live == timedelta(minutes=30)
    assert offline.signed_in(events, BO) is False and offline.signed_in(events, ANNA) is True
    assert offline.sign_times(events, BO) == (LESSON_START + timedelta(minutes=8), LESSON_START + timedelta(minutes=200))


def test_att7_daily_half_day_sign_in_and_out_come_from_offline_sign_ins():
    events = [ev(2, ANNA, "sign_in"), ev(170, ANNA, "sign_out"), ev(3, BO, "sign_in")]
    days = daily([(LESSON, events)], [ANNA, BO], now=LESSON_END + timedelta(hours=2))
    (anna,), (bo,) = days[ANNA], days[BO]
    assert anna.halves["am"].sign_in == LESSON_START + timedelta(minutes=2)
    assert anna.halves["am"].sign_out == LESSON_START + timedelta(minutes=170)
    assert anna.study == timedelta(minutes=168) and anna.planned == timedelta(minutes=180)
    assert bo.halves["am"].sign_in is not None and bo.halves["am"].sign_out is None  # never signed out
    assert bo.study == timedelta(minutes=177)  # counted to the lesson's end


def test_window_opens_30_minutes_early_and_sign_out_stays_open_30_minutes_late():
    assert offline.window(LESSON, "sign_in") == (LESSON_START - timedelta(minutes=30), LESSON_END)
    assert offline.window(LESSON, "sign_out") == (LESSON_START - timedelta(minutes=30), LESSON_END + timedelta(minutes=30))


# --------------------------------------------------------------------------- the API

def camera_jpeg(face: str | None = "astronaut.png", light: float = 1.0) -> bytes:
    """What the phone page posts: a 320×240 camera snapshot of a face (or an empty room)."""
    rgb = scene(load_rgb(face) if face else None, light=light)
    good, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert good
    return data.tobytes()


def venue_json(**over) -> dict:
    return {"name": "玉泉区创业培训中心", "address": "呼和浩特市玉泉区南二环路 1 号", "latitude": VENUE[0],
            "longitude": VENUE[1], **over}


@pytest.fixture
def svc(svc):
    """Face + location rules on their own here; the liveness step before a sign-in has its tests in
    tests/test_liveness_upload.py."""
    svc.settings = dataclasses.replace(svc.settings, liveness=False)
    return svc


@pytest.fixture
def world(clock, client, svc):
    from tests.world import World
    clock.set(MONDAY)
    w = World(client, svc)
    w.bootstrap_admin()
    w.institution("alpha")
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("hohhot", "city", "150100")
    return w


def plan_offline(w, client, *, start: date = START, students: int = 3, **venue) -> tuple[int, dict]:
    """An SYB class made offline at planning (CLS-6), every lesson at the venue; not yet submitted."""
    cid = w.ready_class("alpha", start=start, students=students)
    h = w.h("alpha_admin")
    ok(client.patch(f"/api/classes/{cid}", headers=h, json={"delivery_mode": "offline"}))
    lessons = schedule(lesson_days(start, 7), mode="offline")
    for i, lesson in enumerate(lessons):
        lesson["venue"] = venue_json(**venue) if i % 2 == 0 else venue_json(radius_m=300)
    return cid, ok(client.put(f"/api/classes/{cid}/lessons", headers=h, json={"lessons": lessons}))


@pytest.fixture
def lesson(world, client, clock):
    """An open offline class; the clock stands 10 minutes into its first lesson."""
    cid, _ = plan_offline(world, client)
    detail = world.open_class("alpha", cid, district="yuquan", city="hohhot")
    clock.set(LESSON_START + timedelta(minutes=10))
    students = sorted(s["id"] for s in detail["roster"])
    tokens = {sid: world.login(world.mobiles[sid]) for sid in students}  # sessions made at the new "now"
    for who in ("alpha_admin", "yuquan", "hohhot"):
        world.tokens[who] = world.login(who)
    return {"class_id": cid, "lesson_id": detail["lessons"][0]["id"], "students": students, "tokens": tokens,
            "detail": detail}


def sign(client, lesson, sid, *, action="sign_in", at=VENUE, accuracy=15.0, face="astronaut.png", light=1.0,
         token=None):
    return client.post(f"/api/lessons/{lesson['lesson_id']}/offline-sign-in",
                       headers={"Authorization": f"Bearer {token or lesson['tokens'][sid]}"},
                       data={"action": action, "latitude": str(at[0]), "longitude": str(at[1]), "accuracy": str(accuracy)},
                       files={"photo": ("signin.jpg", camera_jpeg(face, light), "image/jpeg")})


def logged(svc, lesson_id: int) -> list:
    with svc.db.session() as s:
        return eventlog.events(s, lesson_id, kinds=[offline.KIND], limit=None)


def test_cls6_planning_an_offline_lesson_needs_a_valid_venue(world, client):
    cid, detail = plan_offline(world, client)
    first, second = detail["lessons"][0], detail["lessons"][1]
    assert first["venue"] == {"name": "玉泉区创业培训中心", "address": "呼和浩特市玉泉区南二环路 1 号",
                              "latitude": VENUE[0], "longitude": VENUE[1], "radius_m": 200, "datum": "wgs84"}
    assert second["venue"]["radius_m"] == 300  # the default (200 m) applies only where none is given
    h = world.h("alpha_admin")
    lessons = schedule(lesson_days(START, 7), mode="offline")

    def refused(i: int, venue, code: str, field: str, rule: str) -> dict:
        body = [dict(l, venue=venue_json()) for l in lessons]
        body[i]["venue"] = venue
        r = client.put(f"/api/classes/{cid}/lessons", headers=h, json={"lessons": body})
        err = r.json()["error"]
        assert r.status_code == 422 and (err["code"], err["field"], err["rule"]) == (code, field, rule), r.text
        assert err["message_zh"] and err["message_en"]
        return err

    assert "线下课次须填写上课地点" in refused(2, None, "VENUE_REQUIRED", "lessons.2.venue", "CLS-6")["message_zh"]
    refused(0, venue_json(latitude=91), "VENUE_LATITUDE", "lessons.0.venue.latitude", "ATT-6")
    refused(1, venue_json(longitude=-180.5), "VENUE_LONGITUDE", "lessons.1.venue.longitude", "ATT-6")
    err = refused(3, venue_json(radius_m=10), "VENUE_RADIUS", "lessons.3.venue.radius_m", "ATT-6")
    assert "20–5000" in err["message_en"] and "10" in err["message_zh"]
    refused(4, venue_json(radius_m=5001), "VENUE_RADIUS", "lessons.4.venue.radius_m", "ATT-6")
    r = client.put(f"/api/classes/{cid}/lessons", headers=h,
                   json={"lessons": [dict(lessons[0], venue=venue_json(datum="bd09"))]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "lessons.0.venue.datum"
    # a live lesson has no venue
    ok(client.patch(f"/api/classes/{cid}", headers=h, json={"delivery_mode": "live_offline"}))
    live = dict(schedule([START])[0], venue=venue_json())
    r = client.put(f"/api/classes/{cid}/lessons", headers=h, json={"lessons": [live]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "VENUE_NOT_OFFLINE"


def test_att6_inside_the_radius_with_the_registered_face_is_accepted_and_logged(lesson, client, svc):
    sid = lesson["students"][0]
    r = sign(client, lesson, sid, at=north(80), accuracy=12.5)
    body = ok(r, 200)
    assert body["accepted"] is True and body["reason"] is None and body["verdict"] == "match"
    assert body["distance_m"] == pytest.approx(80, abs=0.2) and body["radius_m"] == 200 and body["accuracy_m"] == 12.5
    assert body["face_distance"] < 0.45
    (event,) = logged(svc, lesson["lesson_id"])
    assert (event.user_id, event.role, event.at) == (sid, "student", LESSON_START + timedelta(minutes=10))
    assert {k: event.payload[k] for k in ("action", "accepted", "reason", "radius_m", "accuracy_m", "verdict")} == {
        "action": "sign_in", "accepted": True, "reason": None, "radius_m": 200, "accuracy_m": 12.5, "verdict": "match"}
    assert "latitude" not in event.payload and "longitude" not in event.payload  # PLAT-3: the distance only
    with svc.db.session() as s:
        photo = s.get(StoredFile, event.payload["photo_file_id"])
        assert (photo.kind, photo.owner_user_id) == ("offline_sign_in", sid)
        assert svc.files.read(photo)[:2] == b"\xff\xd8"  # evidence kept, encrypted at rest
    info = ok(client.get(f"/api/lessons/{lesson['lesson_id']}/offline-sign-in",
                         headers={"Authorization": f"Bearer {lesson['tokens'][sid]}"}))
    assert info["signed_in"] is True and info["venue"]["name"] == "玉泉区创业培训中心"
    assert [a["accepted"] for a in info["attempts"]] == [True]


def test_att6_outside_the_radius_is_refused_with_the_distance_and_logged(lesson, client, svc):
    sid = lesson["students"][0]
    r = sign(client, lesson, sid, at=north(1000))
    err = r.json()["error"]
    assert r.status_code == 422 and (err["code"], err["rule"], err["field"]) == ("OUTSIDE_VENUE", "ATT-6", "latitude")
    assert "1000 米" in err["message_zh"] and "200 米" in err["message_zh"] and "1000 m" in err["message_en"]
    assert err["details"]["distance_m"] == pytest.approx(1000, abs=0.5) and err["details"]["radius_m"] == 200
    assert err["details"]["verdict"] == "match"  # the face was judged too: the record is complete
    r = sign(client, lesson, sid, at=north(20), accuracy=900)
    assert r.status_code == 422 and r.json()["error"]["code"] == "LOCATION_IMPRECISE"
    events = logged(svc, lesson["lesson_id"])
    assert [(e.payload["accepted"], e.payload["reason"]) for e in events] == [
        (False, "outside_radius"), (False, "location_imprecise")]
    assert events[0].payload["distance_m"] == err["details"]["distance_m"]
    assert events[0].id == err["details"]["event_id"]


def test_att6_another_persons_face_no_face_or_a_dark_one_is_refused_and_logged(lesson, client, svc):
    sid = lesson["students"][1]
    r = sign(client, lesson, sid, face="grace_hopper.jpg")
    err = r.json()["error"]
    assert r.status_code == 422 and (err["code"], err["field"]) == ("FACE_MISMATCH", "photo")
    assert "不一致" in err["message_zh"] and err["details"]["face_distance"] > 0.45
    r = sign(client, lesson, sid, face=None)
    assert r.status_code == 422 and r.json()["error"]["code"] == "FACE_ABSENT"
    r = sign(client, lesson, sid, light=0.15)  # a dark classroom corner
    err = r.json()["error"]
    assert r.status_code == 422 and err["code"] == "FACE_POOR_QUALITY" and "过暗" in err["message_zh"]
    assert [(e.payload["reason"], e.payload["verdict"]) for e in logged(svc, lesson["lesson_id"])] == [
        ("face_mismatch", "mismatch"), ("face_absent", "absent"), ("face_poor_quality", "poor_quality")]


def test_att6_only_students_on_the_roster_and_only_at_offline_lessons(lesson, world, client, svc):
    outsider = world.student("alpha")  # registered with the institution, not in this class
    token = world.login(world.mobiles[outsider])
    r = sign(client, lesson, outsider, token=token)
    assert r.status_code == 403 and r.json()["error"]["code"] == "NOT_ON_ROSTER"
    r = client.get(f"/api/lessons/{lesson['lesson_id']}/offline-sign-in", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    staff = client.post(f"/api/lessons/{lesson['lesson_id']}/offline-sign-in", headers=world.h("alpha_admin"),
                        data={"action": "sign_in"}, files={"photo": ("a.jpg", camera_jpeg(), "image/jpeg")})
    assert staff.status_code == 403
    student = {"Authorization": f"Bearer {lesson['tokens'][lesson['students'][0]]}"}
    r = client.post("/api/lessons/987654/offline-sign-in", headers=student,
                    data={"action": "sign_in"}, files={"photo": ("a.jpg", camera_jpeg(), "image/jpeg")})
    assert r.status_code == 404
    assert logged(svc, lesson["lesson_id"]) == []  # not attempts: nothing logged
    r = client.post(f"/api/lessons/{lesson['lesson_id']}/offline-sign-in", headers=student,
                    data={"action": "sign_in", "latitude": "40.8", "longitude": "111.6"},
                    files={"photo": ("a.jpg", camera_jpeg(), "image/jpeg")})
    assert r.status_code == 422 and r.json()["error"]["field"] == "accuracy"  # a malformed form is no attempt either
    from models import Lesson
    with svc.db.session() as s:
        s.get(Lesson, lesson["lesson_id"]).mode = "live"
    r = sign(client, lesson, lesson["students"][0])
    assert r.status_code == 409 and (r.json()["error"]["code"], r.json()["error"]["rule"]) == ("NOT_OFFLINE_LESSON", "CLS-6")
    assert logged(svc, lesson["lesson_id"]) == []


def test_att6_outside_the_time_window_and_sign_out_before_sign_in_are_refused_and_logged(lesson, client, clock, svc):
    sid = lesson["students"][0]
    clock.set(LESSON_START - timedelta(minutes=31))  # the evening before would be the same
    r = sign(client, lesson, sid)
    err = r.json()["error"]
    assert r.status_code == 422 and err["code"] == "OUTSIDE_SIGN_IN_WINDOW" and "08:00" in err["message_zh"]
    clock.set(LESSON_START - timedelta(minutes=29))
    r = sign(client, lesson, sid, action="sign_out")
    assert r.status_code == 422 and r.json()["error"]["code"] == "NOT_SIGNED_IN"
    ok(sign(client, lesson, sid))
    clock.set(LESSON_END + timedelta(minutes=5))
    r = sign(client, lesson, lesson["students"][1])  # too late to sign in …
    assert r.status_code == 422 and r.json()["error"]["code"] == "OUTSIDE_SIGN_IN_WINDOW"
    ok(sign(client, lesson, sid, action="sign_out"))  # … not to sign out
    assert [(e.payload["action"], e.payload["reason"]) for e in logged(svc, lesson["lesson_id"])] == [
        ("sign_in", "outside_window"), ("sign_out", "not_signed_in"), ("sign_in", None),
        ("sign_in", "outside_window"), ("sign_out", None)]


def test_att6_attendance_counts_the_accepted_span(lesson, client, clock, svc, world):
    from server.attendance.report import class_attendance
    stay, early_leaver, refused = lesson["students"]
    clock.set(LESSON_START + timedelta(minutes=5))
    ok(sign(client, lesson, stay))
    ok(sign(client, lesson, early_leaver))
    assert sign(client, lesson, refused, face="grace_hopper.jpg").status_code == 422
    clock.set(LESSON_START + timedelta(minutes=95))
    ok(sign(client, lesson, early_leaver, action="sign_out"))
    with svc.db.session() as s:
        rows = class_attendance(s, lesson["class_id"], svc.profiles, LESSON_END + timedelta(hours=1))
    first = {r["student_user_id"]: r for r in rows if r["lesson_id"] == lesson["lesson_id"]}
    assert first[stay]["study_minutes"] == 175 and first[stay]["live_minutes"] == 180  # to the end: no sign-out
    assert first[stay]["meets_live_time_ATT3"] and first[stay]["meets_attendance_ATT4"]
    assert first[early_leaver]["study_minutes"] == 90 and not first[early_leaver]["meets_live_time_ATT3"]
    assert first[refused]["study_minutes"] == 0 and first[refused]["checks_passed"] == 0
    # staff and the district supervisor see every attempt (SUP-1); another region does not
    items = ok(client.get(f"/api/lessons/{lesson['lesson_id']}/offline-sign-ins", headers=world.h("yuquan")))["items"]
    assert [(i["user_id"], i["action"], i["accepted"]) for i in items] == [
        (stay, "sign_in", True), (early_leaver, "sign_in", True), (refused, "sign_in", False),
        (early_leaver, "sign_out", True)]
    assert all(i["display_name"] for i in items)


def test_migration_0005_matches_the_lesson_model(database):
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diff if "venue" in repr(d)] == []
