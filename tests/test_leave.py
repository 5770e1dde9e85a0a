"""CLS-8 leave requests through the API: asked before the first covered lesson starts, decided by the
class's institution admin, lecturers or head teacher (audited), cancelled by the student until then;
per-profile counting (CLS-7: a Hohhot leave of more than 4 class-hours counts as several); scope of
who sees what; every bad input a 4xx JSON error, never a 500 (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from models import Base
from models.db import alembic_config
from tests.world import err, ok

MONDAY = datetime(2025, 9, 22, 2, 0, tzinfo=timezone.utc)
START = date(2025, 10, 13)  # lessons 08:30–11:30 and 14:00–17:00 Beijing = 00:30 and 06:00 UTC
FIRST = datetime(2025, 10, 13, 0, 30, tzinfo=timezone.utc)


def relogin(w) -> None:
    """Sessions last 12 hours: after moving the clock, everyone logs in again."""
    for key in list(w.tokens):
        w.tokens[key] = w.login(w.mobiles[int(key[7:])] if key.startswith("student") else key)


@pytest.fixture
def town(world, client, clock):
    """Hohhot: an open SYB class of three whose assistant is its head teacher; a lecturer and an
    assistant of the same institution not on the class; another institution; three supervisors."""
    clock.set(MONDAY)
    w = world
    w.institution("alpha")
    w.institution("beta")
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("saihan", "district", "150105")
    w.supervisor("hohhot", "city", "150100")
    cid = w.ready_class("alpha", start=START, students=3)
    detail = w.open_class("alpha", cid, district="yuquan", city="hohhot")
    names = {v: k for k, v in w.ids.items()}
    for uid in [le["user_id"] for le in detail["lecturers"]] + [a["user_id"] for a in detail["assistants"]]:
        w.tokens[names[uid]] = w.login(names[uid])
    w.lecturer("alpha", "outsider")
    w.assistant("alpha", "helper")
    for name in ("outsider", "helper"):
        w.tokens[name] = w.login(name)
    lessons = detail["lessons"]
    students = sorted(s["id"] for s in detail["roster"])
    return {"w": w, "cid": cid, "lessons": lessons, "students": students,
            "lecturer": names[detail["lecturers"][0]["user_id"]],
            "head": names[detail["head_teacher_id"]], "assistant": "helper"}


def ask(t, sid, **body):
    body.setdefault("reason", "发烧就医 fever")
    return t["w"].client.post(f"/api/classes/{t['cid']}/leaves", headers=t["w"].h(f"student{sid}"), json=body)


def test_cls8_leave_is_asked_before_the_first_covered_lesson_starts(town, clock):
    t, w = town, town["w"]
    anna = t["students"][0]
    morning = t["lessons"][0]
    clock.set(FIRST - timedelta(minutes=1))
    relogin(w)
    lv = ok(ask(t, anna, lesson_ids=[morning["id"]]), 201)
    assert (lv["status"], lv["lesson_ids"], lv["class_hours"], lv["student_id"]) == ("pending", [morning["id"]], 4, anna)
    assert lv["counts_as"] == 1 and lv["cls7"]["max_absences"] == 2 and lv["can_cancel"] and not lv["can_decide"]
    clock.set(FIRST)  # the lesson has started: too late, inclusive
    e = err(ask(t, t["students"][1], lesson_ids=[morning["id"]]), 422)
    assert (e["code"], e["rule"], e["field"]) == ("LEAVE_TOO_LATE", "CLS-8", "lesson_ids")
    assert "CLS-8" not in e["message_zh"] and "开始" in e["message_zh"]
    # the afternoon lesson has not started: it may still be asked for, but not the day as a whole
    ok(ask(t, t["students"][1], lesson_ids=[t["lessons"][1]["id"]]), 201)
    e = err(ask(t, t["students"][2], day=str(START)), 422)
    assert (e["code"], e["field"], e["details"]["first_lesson_starts_at"]) == ("LEAVE_TOO_LATE", "day",
                                                                               "2025-10-13T08:30:00+08:00")


def test_cls7_a_day_of_8_class_hours_counts_as_two_leaves_in_hohhot(town):
    t = town
    lv = ok(ask(t, t["students"][0], day=str(START + timedelta(days=1))), 201)
    assert lv["day"] == "2025-10-14" and len(lv["lessons"]) == 2 and lv["class_hours"] == 8
    assert lv["counts_as"] == 2  # ceil(8 / max_absence_class_hours 4): counted as several, not refused
    assert lv["cls7"] == {"rule": "CLS-7", "max_absences": 2, "max_absence_class_hours": 4,
                          "replay_counts_as_study": False}
    two = ok(ask(t, t["students"][1], lesson_ids=[t["lessons"][4]["id"], t["lessons"][6]["id"]]), 201)
    assert two["counts_as"] == 2  # two days, 4 class-hours each: one per day


def test_approval_rights_and_audit(town, client):
    t, w = town, town["w"]
    anna, bo, cy = t["students"]
    leaves = [ok(ask(t, sid, lesson_ids=[t["lessons"][3]["id"]]), 201)["id"] for sid in (anna, bo, cy)]
    decide = lambda who, lid, **b: client.post(f"/api/leaves/{lid}/decision", headers=w.h(who), json=b)  # noqa: E731
    # Not allowed: an assistant who is not the head teacher, a lecturer not on the class, students,
    # supervisors and the platform admin (roles), another institution (cannot even see it).
    assert err(decide(t["assistant"], leaves[0], action="approve"), 403)["code"] == "LEAVE_NOT_APPROVER"
    assert err(decide("outsider", leaves[0], action="approve"), 403)["rule"] == "CLS-8"
    assert err(decide(f"student{anna}", leaves[0], action="approve"), 403)["code"] == "FORBIDDEN"
    assert err(decide("yuquan", leaves[0], action="approve"), 403)["code"] == "FORBIDDEN"
    assert err(decide("admin", leaves[0], action="approve"), 403)["code"] == "FORBIDDEN"
    assert err(decide("beta_admin", leaves[0], action="approve"), 404)["code"] == "NOT_FOUND"
    # Allowed: the class's lecturer, its head teacher (an assistant), the institution admin.
    a = ok(decide(t["lecturer"], leaves[0], action="approve"))
    assert (a["status"], a["decided_role"], a["decided_by_name"]) == ("approved", "lecturer", t["lecturer"])
    assert ok(decide(t["head"], leaves[1], action="approve", note="注意补看回放"))["decision_note"] == "注意补看回放"
    e = err(decide("alpha_admin", leaves[2], action="reject"), 422)
    assert (e["code"], e["field"]) == ("REASON_REQUIRED", "note")
    r = ok(decide("alpha_admin", leaves[2], action="reject", note="无证明材料"))
    assert r["status"] == "rejected" and not r["can_decide"]
    assert err(decide("alpha_admin", leaves[0], action="reject", note="x"), 409)["code"] == "LEAVE_NOT_PENDING"
    audit = ok(client.get("/api/audit?target_type=leave", headers=w.h("alpha_admin")))["items"]
    actions = sorted(a["action"] for a in audit)
    assert actions == ["leave.approve", "leave.approve", "leave.reject", "leave.request", "leave.request",
                       "leave.request"]
    assert {a["actor_role"] for a in audit if a["action"] == "leave.approve"} == {"lecturer", "assistant"}


def test_cancel_before_the_lesson_frees_it_and_overlaps_are_refused(town, client, clock):
    t, w = town, town["w"]
    anna, bo, _ = t["students"]
    pm = t["lessons"][1]
    lv = ok(ask(t, anna, lesson_ids=[pm["id"]]), 201)
    e = err(ask(t, anna, day=str(START)), 409)  # the day includes the afternoon already asked for
    assert (e["code"], e["details"]["leave_ids"], e["details"]["lesson_ids"]) == ("LEAVE_OVERLAP", [lv["id"]], [pm["id"]])
    assert err(client.post(f"/api/leaves/{lv['id']}/cancel", headers=w.h(f"student{bo}")), 404)["code"] == "NOT_FOUND"
    gone = ok(client.post(f"/api/leaves/{lv['id']}/cancel", headers=w.h(f"student{anna}")))
    assert gone["status"] == "cancelled" and gone["cancelled_at"] and not gone["can_cancel"]
    assert err(client.post(f"/api/leaves/{lv['id']}/cancel", headers=w.h(f"student{anna}")), 409)["code"] == \
        "LEAVE_NOT_ACTIVE"
    again = ok(ask(t, anna, day=str(START)), 201)  # the cancelled one no longer holds the lesson
    ok(client.post(f"/api/leaves/{again['id']}/decision", headers=w.h("alpha_admin"), json={"action": "approve"}))
    clock.set(FIRST + timedelta(minutes=5))
    relogin(w)
    late = err(client.post(f"/api/leaves/{again['id']}/cancel", headers=w.h(f"student{anna}")), 422)
    assert (late["code"], late["rule"]) == ("LEAVE_CANCEL_TOO_LATE", "CLS-8")
    # a request filed in time may still be approved after its lesson began
    filed = ok(ask(t, bo, lesson_ids=[t["lessons"][2]["id"]]), 201)
    clock.set(FIRST + timedelta(days=1, hours=1))
    relogin(w)
    assert ok(client.post(f"/api/leaves/{filed['id']}/decision", headers=w.h("alpha_admin"),
                          json={"action": "approve"}))["status"] == "approved"


def test_who_sees_which_leave(town, client):
    t, w = town, town["w"]
    anna, bo, _ = t["students"]
    mine = ok(ask(t, anna, lesson_ids=[t["lessons"][2]["id"]]), 201)
    ok(ask(t, bo, lesson_ids=[t["lessons"][2]["id"]]), 201)
    listed = lambda who, q="": ok(client.get(f"/api/leaves{q}", headers=w.h(who)))["items"]  # noqa: E731
    assert [x["id"] for x in listed(f"student{anna}")] == [mine["id"]]
    assert len(listed("alpha_admin")) == 2 and len(listed(t["lecturer"])) == 2 and len(listed(t["head"])) == 2
    assert listed("outsider") == [] and listed("helper") == [] and listed("beta_admin") == [] and listed("saihan") == []
    assert len(listed("yuquan", "?status=pending")) == 2 and len(listed("hohhot", f"?student_id={bo}")) == 1
    assert listed("yuquan", "?status=approved") == [] and len(listed("admin", f"?class_id={t['cid']}")) == 2
    assert err(client.get(f"/api/leaves/{mine['id']}", headers=w.h(f"student{bo}")), 404)["code"] == "NOT_FOUND"
    assert err(client.get(f"/api/leaves/{mine['id']}", headers=w.h("saihan")), 404)["code"] == "NOT_FOUND"
    assert ok(client.get(f"/api/leaves/{mine['id']}", headers=w.h("yuquan")))["student_id"] == anna
    reads = ok(client.get("/api/audit?action=supervisor.read", headers=w.h("admin")))["items"]
    assert any(r["target_id"].startswith("/api/leaves") for r in reads)  # SUP-6: supervisors' reads recorded
    me = ok(client.get("/api/me/leaves", headers=w.h(f"student{anna}")))
    assert [x["id"] for x in me["items"]] == [mine["id"]]
    (cls,) = me["classes"]
    assert cls["accepts_leave"] and len(cls["lessons"]) == 14 and cls["cls7"]["max_absences"] == 2


def test_bad_inputs_are_4xx_json_never_500(town, client, world):
    t, w = town, town["w"]
    anna = t["students"][0]
    h = w.h(f"student{anna}")
    url = f"/api/classes/{t['cid']}/leaves"
    first = t["lessons"][0]["id"]
    cases = [
        ({"reason": "x"}, 422, "LEAVE_TARGET"),
        ({"reason": "x", "day": str(START), "lesson_ids": [first]}, 422, "LEAVE_TARGET"),
        ({"reason": "x", "lesson_ids": [first, first]}, 422, "LEAVE_LESSON_TWICE"),
        ({"reason": "x", "lesson_ids": [987654]}, 422, "LEAVE_LESSON_UNKNOWN"),
        ({"reason": "x", "lesson_ids": []}, 422, "VALIDATION_FAILED"),
        ({"reason": "x", "lesson_ids": ["abc"]}, 422, "VALIDATION_FAILED"),
        ({"reason": "x", "day": "2025-13-01"}, 422, "VALIDATION_FAILED"),
        ({"reason": "x", "day": "2025-10-12"}, 422, "LEAVE_NO_LESSONS"),
        ({"reason": "   ", "lesson_ids": [first]}, 422, "VALIDATION_FAILED"),
        ({"reason": "长" * 501, "lesson_ids": [first]}, 422, "VALIDATION_FAILED"),
        ({"lesson_ids": [first]}, 422, "VALIDATION_FAILED"),
        ({"reason": "x", "lesson_ids": [first], "extra": 1}, 422, "UNKNOWN_FIELD"),
        ({"reason": None, "lesson_ids": [first]}, 422, "VALIDATION_FAILED"),
    ]
    for body, status, code in cases:
        e = err(client.post(url, headers=h, json=body), status)
        assert e["code"] == code, (body, e)
        assert e["message_zh"] and e["message_en"]
    assert err(client.post(url, headers=h, json={"reason": "x", "lesson_ids": [987654]}), 422)["field"] == "lesson_ids.0"
    assert err(client.post(url, headers=h, content=b"{nope", ), 415)["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert err(client.post(url, headers=dict(h, **{"Content-Type": "application/json"}), content=b"{nope"),
               400)["code"] == "MALFORMED_JSON"
    assert err(client.post(url, json={"reason": "x", "lesson_ids": [first]}), 401)["code"] == "UNAUTHENTICATED"
    assert err(client.post(url, headers=w.h("alpha_admin"), json={"reason": "x", "lesson_ids": [first]}), 403)
    assert err(client.post("/api/classes/987654/leaves", headers=h, json={"reason": "x", "day": str(START)}), 404)
    # a class the student is not in, and one that is not open yet
    draft = w.ready_class("beta", start=START, students=1)
    (stranger,) = [int(k[7:]) for k in w.tokens if k.startswith("student") and int(k[7:]) not in t["students"]]
    assert err(client.post(url, headers=w.h(f"student{stranger}"), json={"reason": "x", "day": str(START)}), 404)
    e = err(client.post(f"/api/classes/{draft}/leaves", headers=w.h(f"student{stranger}"),
                        json={"reason": "x", "day": str(START)}), 422)
    assert (e["code"], e["rule"]) == ("LEAVE_CLASS_NOT_RUNNING", "CLS-8")
    lv = ok(client.post(url, headers=h, json={"reason": "x", "lesson_ids": [first]}), 201)
    dec = f"/api/leaves/{lv['id']}/decision"
    admin = w.h("alpha_admin")
    assert err(client.post(dec, headers=admin, json={"action": "maybe"}), 422)["field"] == "action"
    assert err(client.post(dec, headers=admin, json={}), 422)["code"] == "VALIDATION_FAILED"
    assert err(client.post(dec, headers=admin, json={"action": "reject", "note": "n" * 501}), 422)["field"] == "note"
    assert err(client.post("/api/leaves/987654/decision", headers=admin, json={"action": "approve"}), 404)
    assert err(client.post("/api/leaves/abc/cancel", headers=h), 404)
    assert err(client.get("/api/leaves?status=lost", headers=admin), 422)["field"] == "status"
    assert err(client.get("/api/leaves?limit=0", headers=admin), 422)["field"] == "limit"
    assert err(client.get("/api/leaves?class_id=x", headers=admin), 422)["field"] == "class_id"
    assert err(client.get("/api/me/leaves", headers=admin), 403)["code"] == "FORBIDDEN"
    huge = 10**20  # beyond PostgreSQL's integer: still a 404 / 422, never a database error
    assert err(client.get(f"/api/leaves/{huge}", headers=admin), 404)["code"] == "NOT_FOUND"
    assert err(client.post(f"/api/leaves/{huge}/cancel", headers=h), 404)["code"] == "NOT_FOUND"
    assert err(client.post(f"/api/classes/{huge}/leaves", headers=h, json={"reason": "x", "day": str(START)}), 404)
    assert err(client.get(f"/api/classes/{huge}/absences", headers=admin), 404)
    assert err(client.get(f"/api/classes/{t['cid']}/absences/{huge}", headers=admin), 404)
    assert err(client.get(f"/api/leaves?class_id={huge}", headers=admin), 422)["field"] == "class_id"
    assert err(client.post(url, headers=h, json={"reason": "x", "lesson_ids": [huge]}), 422)["code"] == \
        "LEAVE_LESSON_UNKNOWN"


def test_gyb_and_regions_without_a_limit_still_count_but_name_no_rule(world, client, clock):
    """CLS-7 applies to Hohhot SYB/IYB/WLC only; GYB shows the count, but no limit."""
    clock.set(MONDAY)
    w = world
    w.institution("gamma")
    w.supervisor("yuquan2", "district", "150104")
    w.supervisor("hohhot2", "city", "150100")
    cid = w.ready_class("gamma", start=START, students=1, course="GYB", days=3)
    detail = w.open_class("gamma", cid, district="yuquan2", city="hohhot2")
    sid = detail["roster"][0]["id"]
    lv = ok(client.post(f"/api/classes/{cid}/leaves", headers=w.h(f"student{sid}"),
                        json={"reason": "家中有事", "day": str(START)}), 201)
    assert lv["counts_as"] == 2 and lv["cls7"]["rule"] is None and lv["cls7"]["max_absences"] is None


def test_migration_0006_matches_the_models_in_one_linear_chain(database):
    """Autogenerate finds nothing to add for the leave tables on either engine; one head only."""
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diff if "leave_request" in repr(d)] == []
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1 and script.get_revision("0006").down_revision == "0005"
