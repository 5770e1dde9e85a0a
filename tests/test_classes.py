"""Class planning and the approval workflow (CLS-1..7, REG-3/4/5, SUP-1/6/7, LIVE-4)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from tests.world import OTHER_DISTRICT, lesson_days, ok, schedule

MONDAY = datetime(2025, 9, 22, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing time
START = date(2025, 10, 13)


@pytest.fixture
def world(clock, client, svc):
    from tests.world import World
    clock.set(MONDAY)  # before anyone logs in, so sessions are valid at the pinned time
    w = World(client, svc)
    w.bootstrap_admin()
    w.institution("alpha")
    w.institution("beta", region=OTHER_DISTRICT)
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("saihan", "district", OTHER_DISTRICT)
    w.supervisor("hohhot", "city", "150100")
    return w


def act(client, world, who, cid, action, reason=None, status=200):
    body = {"action": action}
    if reason:
        body["reason"] = reason
    r = client.post(f"/api/classes/{cid}/transitions", headers=world.h(who), json=body)
    assert r.status_code == status, r.text
    return r.json()


def codes(resp) -> set[str]:
    err = resp.json()["error"]
    return {d["code"] for d in err.get("details") or []} | {err["code"]}


def test_cls1_full_workflow_each_step_by_its_role(client, world):
    cid = world.ready_class("alpha", start=START)
    checks = ok(client.get(f"/api/classes/{cid}/checks", headers=world.h("alpha_admin")))
    assert checks == {"ok": True, "violations": []}
    assert act(client, world, "alpha_admin", cid, "submit")["status"] == "submitted"
    # the city may not jump the district's review; the institution may not approve itself
    act(client, world, "hohhot", cid, "approve", status=403)
    act(client, world, "alpha_admin", cid, "approve", status=403)
    assert act(client, world, "yuquan", cid, "approve")["status"] == "district_approved"
    act(client, world, "alpha_admin", cid, "open", status=409)  # not yet confirmed by the city
    assert act(client, world, "hohhot", cid, "approve")["status"] == "city_confirmed"
    for action, status in (("open", "open"), ("start", "in_progress"), ("finish", "finished"), ("archive", "archived")):
        assert act(client, world, "alpha_admin", cid, action)["status"] == status
    hist = ok(client.get(f"/api/classes/{cid}/history", headers=world.h("hohhot")))["items"]
    assert [h["action"] for h in hist] == ["submit", "approve", "approve", "open", "start", "finish", "archive"]
    assert [h["actor_role"] for h in hist[:3]] == ["institution_admin", "supervisor", "supervisor"]
    audit = ok(client.get("/api/audit?target_type=class", headers=world.h("admin")))["items"]
    assert {"class.submit", "class.approve", "class.open", "class.archive"} <= {a["action"] for a in audit}


def test_cls1_rejection_needs_reason_then_resubmission(client, world):
    cid = world.ready_class("alpha", start=START)
    act(client, world, "alpha_admin", cid, "submit")
    act(client, world, "yuquan", cid, "reject", status=422)
    assert act(client, world, "yuquan", cid, "reject", reason="课程表需调整")["status"] == "rejected"
    ok(client.patch(f"/api/classes/{cid}", headers=world.h("alpha_admin"), json={"name": "SYB 第1期（修改）"}))
    assert act(client, world, "alpha_admin", cid, "submit")["status"] == "submitted"
    assert act(client, world, "alpha_admin", cid, "withdraw")["status"] == "draft"


def test_cls1_plan_frozen_once_submitted(client, world):
    cid = world.ready_class("alpha", start=START)
    act(client, world, "alpha_admin", cid, "submit")
    r = client.patch(f"/api/classes/{cid}", headers=world.h("alpha_admin"), json={"name": "改名"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "CLASS_NOT_EDITABLE"
    r = client.put(f"/api/classes/{cid}/lessons", headers=world.h("alpha_admin"), json={"lessons": []})
    assert r.status_code == 409


def test_cls1_submission_counts_chinese_holidays(client, world, clock):
    # Friday 2025-09-26; National Day holidays run 1–8 October, Sunday 28 September is a make-up workday.
    clock.set(datetime(2025, 9, 26, 2, 0, tzinfo=timezone.utc))
    world.tokens["alpha_admin"] = world.login("alpha_admin")
    cid = world.ready_class("alpha", start=date(2025, 10, 9))
    r = client.post(f"/api/classes/{cid}/transitions", headers=world.h("alpha_admin"), json={"action": "submit"})
    assert r.status_code == 422
    late = [d for d in r.json()["error"]["details"] if d["code"] == "SUBMISSION_TOO_LATE"][0]
    assert late["rule"] == "CLS-1" and late["details"]["workdays"] == 4  # 28, 29, 30 Sep and 9 Oct


def test_cls1_exactly_five_workdays_including_a_makeup_day_is_allowed(client, world, clock):
    clock.set(datetime(2025, 9, 26, 2, 0, tzinfo=timezone.utc))
    world.tokens["alpha_admin"] = world.login("alpha_admin")
    cid = world.ready_class("alpha", start=date(2025, 10, 10))  # 28, 29, 30 Sep, 9, 10 Oct
    assert act(client, world, "alpha_admin", cid, "submit")["status"] == "submitted"


def test_cls2_lecturer_certificates_and_count(client, world):
    cid = world.ready_class("alpha", start=START, lecturers=1)
    expired = world.lecturer("alpha", "old_cert", valid_until=date(2025, 10, 14))
    network = world.lecturer("alpha", "net_cert", kind="network")
    h = world.h("alpha_admin")
    r = client.post(f"/api/classes/{cid}/transitions", headers=h, json={"action": "submit"})
    assert r.status_code == 422 and "LECTURERS_TOO_FEW" in codes(r)  # Hohhot sends two lecturers
    lecturers = ok(client.get(f"/api/classes/{cid}", headers=h))["lecturers"]
    ok(client.put(f"/api/classes/{cid}/lecturers", headers=h, json={"lecturers": [
        {"user_id": lecturers[0]["user_id"]}, {"user_id": expired}, {"user_id": network}]}))
    r = client.post(f"/api/classes/{cid}/transitions", headers=h, json={"action": "submit"})
    assert {"LECTURER_CERTIFICATE_INVALID", "LECTURER_CERTIFICATE_KIND", "TEACHING_LEAD_MISSING"} <= codes(r)
    assert all(d["rule"] == "CLS-2" for d in r.json()["error"]["details"])


def test_cls3_roster_cap_is_the_profiles(client, world):
    cid = world.ready_class("alpha", start=START, students=30)  # Hohhot SYB: at most 30 (CLS-3)
    sid = world.student("alpha")
    r = client.post(f"/api/classes/{cid}/enrolments", headers=world.h("alpha_admin"), json={"student_id": sid})
    assert r.status_code == 422 and r.json()["error"]["code"] == "ROSTER_FULL"
    assert r.json()["error"]["rule"] == "CLS-3"


def test_cls3_live4_assistant_groups(client, world):
    cid = world.ready_class("alpha", start=START, students=25, assistants=0)
    h = world.h("alpha_admin")
    r = client.post(f"/api/classes/{cid}/transitions", headers=h, json={"action": "submit"})
    assert {"STUDENTS_WITHOUT_ASSISTANT", "ASSISTANT_COUNT"} <= codes(r)
    a1, a2 = world.assistant("alpha", "as1"), world.assistant("alpha", "as2")
    # 25 students: two assistants would each serve fewer than 20
    detail = ok(client.put(f"/api/classes/{cid}/assistants", headers=h, json={"assistant_ids": [a1, a2]}))
    assert sorted(len(a["students"]) for a in detail["assistants"]) == [12, 13]
    r = client.post(f"/api/classes/{cid}/transitions", headers=h, json={"action": "submit"})
    assert "ASSISTANT_COUNT" in codes(r)
    detail = ok(client.put(f"/api/classes/{cid}/assistants", headers=h, json={"assistant_ids": [a1]}))
    assert len(detail["assistants"][0]["students"]) == 25
    assert act(client, world, "alpha_admin", cid, "submit")["status"] == "submitted"


def test_cls4_hours_days_and_class_hour_length(client, world):
    cid = world.ready_class("alpha", start=START, days=6)
    h = world.h("alpha_admin")
    r = client.post(f"/api/classes/{cid}/transitions", headers=h, json={"action": "submit"})
    assert {"HOURS_TOO_FEW", "DAYS_TOO_FEW"} <= codes(r)  # SYB: ≥ 56 class-hours over ≥ 7 days
    lessons = schedule(lesson_days(START, 7))
    lessons[0]["class_hours"] = 5  # 4 × 45 min booked as 5 class-hours
    r = client.put(f"/api/classes/{cid}/lessons", headers=h, json={"lessons": lessons})
    assert r.status_code == 422 and r.json()["error"]["code"] == "LESSON_TOO_SHORT"
    assert r.json()["error"]["rule"] == "CLS-4" and r.json()["error"]["field"] == "lessons.0"
    lessons[0]["class_hours"], lessons[0]["ends_at"] = 4, lessons[0]["starts_at"]
    r = client.put(f"/api/classes/{cid}/lessons", headers=h, json={"lessons": lessons})
    assert r.status_code == 422 and r.json()["error"]["code"] == "LESSON_TIMES"
    lessons[0]["starts_at"] = "2025-10-13T08:30:00"  # no time zone
    r = client.put(f"/api/classes/{cid}/lessons", headers=h, json={"lessons": lessons})
    assert r.status_code == 422 and r.json()["error"]["rule"] == "timezone_aware"


def test_cls6_lesson_mode_must_fit_delivery_mode(client, world):
    cid = world.ready_class("alpha", start=START)
    r = client.put(f"/api/classes/{cid}/lessons", headers=world.h("alpha_admin"),
                   json={"lessons": schedule(lesson_days(START, 7), mode="offline")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "LESSON_MODE_MISMATCH"


def test_reg4_one_subsidised_training_a_year_across_institutions(client, world):
    cid_alpha = world.ready_class("alpha", start=START, students=20)
    person = ok(client.get(f"/api/classes/{cid_alpha}", headers=world.h("alpha_admin")))["roster"][0]["id"]
    hb = world.h("beta_admin")
    gyb = ok(client.post("/api/classes", headers=hb, json={"name": "GYB", "course_type": "GYB",
                                                            "delivery_mode": "live"}), 201)["id"]
    ok(client.put(f"/api/classes/{gyb}/lessons", headers=hb, json={"lessons": schedule(lesson_days(START, 3))}))
    number = ok(client.get(f"/api/students/{person}/id-number", headers=world.h("alpha_admin")))["id_number"]
    # beta cannot address alpha's registrant by internal id, only by the person's ID number
    r = client.post(f"/api/classes/{gyb}/enrolments", headers=hb, json={"student_id": person})
    assert r.status_code == 422 and r.json()["error"]["code"] == "STUDENT_NOT_REGISTERED"
    r = client.post(f"/api/classes/{gyb}/enrolments", headers=hb, json={"id_number": number})
    assert r.status_code == 422 and r.json()["error"]["code"] == "ONE_TRAINING_PER_YEAR"
    assert r.json()["error"]["rule"] == "REG-4"
    # next year: another program is fine, the same program is not
    ok(client.put(f"/api/classes/{gyb}/lessons", headers=hb,
                  json={"lessons": schedule(lesson_days(date(2026, 3, 2), 3))}))
    ok(client.post(f"/api/classes/{gyb}/enrolments", headers=hb, json={"id_number": number}), 201)
    syb = ok(client.post("/api/classes", headers=hb, json={"name": "SYB", "course_type": "SYB",
                                                            "delivery_mode": "live"}), 201)["id"]
    ok(client.put(f"/api/classes/{syb}/lessons", headers=hb,
                  json={"lessons": schedule(lesson_days(date(2027, 3, 1), 7))}))
    r = client.post(f"/api/classes/{syb}/enrolments", headers=hb, json={"id_number": number})
    assert r.json()["error"]["code"] == "PROGRAM_REPEATED"


def test_reg4_withdrawal_frees_the_year(client, world):
    cid = world.ready_class("alpha", start=START, students=20)
    h = world.h("alpha_admin")
    person = ok(client.get(f"/api/classes/{cid}", headers=h))["roster"][0]["id"]
    other = ok(client.post("/api/classes", headers=h, json={"name": "GYB", "course_type": "GYB",
                                                             "delivery_mode": "live"}), 201)["id"]
    ok(client.put(f"/api/classes/{other}/lessons", headers=h, json={"lessons": schedule(lesson_days(START, 3))}))
    assert client.post(f"/api/classes/{other}/enrolments", headers=h, json={"student_id": person}).status_code == 422
    ok(client.delete(f"/api/classes/{cid}/enrolments/{person}", headers=h))
    ok(client.post(f"/api/classes/{other}/enrolments", headers=h, json={"student_id": person}), 201)


def test_reg4_rechecked_at_submission(client, world):
    h = world.h("alpha_admin")
    cid = world.ready_class("alpha", start=date(2026, 3, 2), students=20)
    person = ok(client.get(f"/api/classes/{cid}", headers=h))["roster"][0]["id"]
    other = world.ready_class("alpha", start=START, students=20, course="GYB", days=3)
    ok(client.post(f"/api/classes/{other}/enrolments", headers=h, json={"student_id": person}), 201)
    # moving the first class into the same year makes the person's two trainings collide
    ok(client.put(f"/api/classes/{cid}/lessons", headers=h, json={"lessons": schedule(lesson_days(date(2025, 11, 3), 7))}))
    r = client.post(f"/api/classes/{cid}/transitions", headers=h, json={"action": "submit"})
    assert "ONE_TRAINING_PER_YEAR" in codes(r)


def test_reg3_beijing_program_audience(client, world):
    world.institution("bj", region="110105", profile="beijing")
    h = world.h("bj_admin")
    cid = ok(client.post("/api/classes", headers=h, json={"name": "创业基础", "course_type": "SYB",
                                                           "delivery_mode": "live"}), 201)["id"]
    ok(client.put(f"/api/classes/{cid}/lessons", headers=h, json={"lessons": schedule(lesson_days(START, 7))}))
    other = world.student("bj", target_group="other")
    r = client.post(f"/api/classes/{cid}/enrolments", headers=h, json={"student_id": other})
    assert r.status_code == 422 and r.json()["error"]["code"] == "TARGET_GROUP_NOT_ELIGIBLE"
    assert r.json()["error"]["rule"] == "REG-3"
    old_grad = world.student("bj", target_group="graduate", graduation_year="2020")
    r = client.post(f"/api/classes/{cid}/enrolments", headers=h, json={"student_id": old_grad})
    assert r.json()["error"]["code"] == "GRADUATE_WINDOW"
    no_evidence = world.student("bj", target_group="veteran", evidence=None)
    r = client.post(f"/api/classes/{cid}/enrolments", headers=h, json={"student_id": no_evidence})
    assert r.json()["error"]["code"] == "EVIDENCE_MISSING"
    fresh = world.student("bj", target_group="graduate", graduation_year="2024")
    ok(client.post(f"/api/classes/{cid}/enrolments", headers=h, json={"student_id": fresh}), 201)


def test_sup7_blacklisted_institution_cannot_submit(client, world):
    cid = world.ready_class("alpha", start=START)
    ok(client.post(f"/api/institutions/{world.ids['alpha']}/status", headers=world.h("hohhot"),
                   json={"action": "blacklist", "reason": "虚报学员"}))
    r = client.post(f"/api/classes/{cid}/transitions", headers=world.h("alpha_admin"), json={"action": "submit"})
    assert "INSTITUTION_NOT_APPROVED" in codes(r)
    # a district office may not blacklist; only city level and above
    r = client.post(f"/api/institutions/{world.ids['alpha']}/status", headers=world.h("yuquan"),
                    json={"action": "unblacklist"})
    assert r.status_code == 403


def test_plat3_tenancy_and_sup1_region_scope(client, world):
    cid = world.ready_class("alpha", start=START, students=20)
    assert client.get(f"/api/classes/{cid}", headers=world.h("beta_admin")).status_code == 404
    assert ok(client.get("/api/classes", headers=world.h("beta_admin")))["items"] == []
    assert client.get(f"/api/classes/{cid}", headers=world.h("saihan")).status_code == 404
    assert ok(client.get("/api/classes", headers=world.h("saihan")))["items"] == []
    roster = ok(client.get(f"/api/classes/{cid}", headers=world.h("hohhot")))["roster"]
    assert len(roster) == 20 and all("*" * 10 in s["id_number_masked"] for s in roster)
    ok(client.get(f"/api/classes/{cid}", headers=world.h("yuquan")))
    # SUP-6: supervisors' reads are recorded
    reads = ok(client.get("/api/audit?action=supervisor.read", headers=world.h("admin")))["items"]
    assert any(r["target_id"] == f"/api/classes/{cid}" and r["actor_role"] == "supervisor" for r in reads)
    # beta cannot write to alpha's class either
    r = client.post(f"/api/classes/{cid}/transitions", headers=world.h("beta_admin"), json={"action": "submit"})
    assert r.status_code == 404


def test_profiles_endpoint_lists_regions(client):
    items = ok(client.get("/api/profiles"))["items"]
    assert {p["key"] for p in items} >= {"henan", "hohhot", "beijing", "baotou"}


def test_cls1_henan_requires_city_and_province_confirmation(client, world):
    # Zhengzhou/Kaifeng: filed with the city and the province before the class may open.
    world.institution("zz", region="410105", profile="henan")
    world.supervisor("zz_district", "district", "410105")
    world.supervisor("zz_city", "city", "410100")
    world.supervisor("henan_prov", "province", "410000")
    from server.policy.profiles import get_profile
    chain = get_profile("henan", world.svc.profiles).approval_chain
    cid = world.ready_class("zz", start=START, students=20, lecturers=1)
    act(client, world, "zz_admin", cid, "submit")
    reviewers = {"district": "zz_district", "city": "zz_city", "province": "henan_prov"}
    for level in chain:
        act(client, world, "zz_admin", cid, "open", status=409)
        act(client, world, reviewers[level], cid, "approve")
    assert "province" in chain
    assert act(client, world, "zz_admin", cid, "open")["status"] == "open"


def test_students_list_only_their_own_classes(client, world):
    cid = world.ready_class("alpha", start=START, students=20)
    other = world.ready_class("alpha", start=START, students=20, course="GYB", days=3)
    roster = ok(client.get(f"/api/classes/{cid}", headers=world.h("alpha_admin")))["roster"]
    mine = ok(client.get("/api/classes", headers=world.h(f"student{roster[0]['id']}")))["items"]
    assert [c["id"] for c in mine] == [cid] and other != cid
    # the class detail (with the whole roster) stays closed to students
    assert client.get(f"/api/classes/{cid}", headers=world.h(f"student{roster[0]['id']}")).status_code == 403
