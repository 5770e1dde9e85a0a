"""EXAM-1 online final exam and SUP-3 supervision of its contents, through the API on SQLite and
PostgreSQL: the bank's validation, seeded paper draws, keys never shown to students, autosave that
survives a reconnect, the deadline, automatic and manual grading at the pass-mark boundary, the
score sheet, region scoping; plus the pure draw and grading rules."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from models import Base
from models.db import alembic_config
from server.exams import draw, grading
from tests.world import DISTRICT, err, ok, OTHER_DISTRICT

MONDAY = datetime(2025, 9, 22, 2, 0, tzinfo=timezone.utc)
START = date(2025, 10, 13)
OPENS = MONDAY + timedelta(hours=1)
CLOSES = MONDAY + timedelta(hours=5)


def cn(moment: datetime) -> str:
    return moment.astimezone(timezone(timedelta(hours=8))).isoformat()


def no_keys(payload) -> None:
    """No question dict a student receives carries the key (or anything named like it)."""
    text = json.dumps(payload)
    assert '"answer"' not in text and '"seed"' not in text and '"algorithm"' not in text, text


@pytest.fixture
def town(world, client, clock):
    """Hohhot: an SYB class of three at alpha (Yuquan); beta elsewhere; supervisors of Yuquan,
    Saihan and Hohhot city; a bank: alpha's own, the shared one, and beta's (never drawn for alpha)."""
    clock.set(MONDAY)
    w = world
    w.institution("alpha", region=DISTRICT)
    w.institution("beta", region=OTHER_DISTRICT)
    w.supervisor("yuquan", "district", DISTRICT)
    w.supervisor("saihan", "district", OTHER_DISTRICT)
    w.supervisor("hohhot", "city", "150100")
    cid = w.ready_class("alpha", start=START, students=3)
    detail = ok(client.get(f"/api/classes/{cid}", headers=w.h("alpha_admin")))
    names = {v: k for k, v in w.ids.items()}
    lecturer = names[detail["lecturers"][0]["user_id"]]
    w.tokens[lecturer] = w.login(lecturer)
    w.lecturer("alpha", "outsider")
    w.tokens["outsider"] = w.login("outsider")
    q = {}

    def add(who, kind, points, answer, options=(), key=None):
        body = {"course_type": "SYB", "kind": kind, "stem": f"{kind} 题 {len(q)}", "options": list(options),
                "answer": answer, "points": points, "tags": ["基础知识"]}
        made = ok(client.post("/api/exam-questions", headers=w.h(who), json=body), 201)
        q[key or made["id"]] = made
        return made

    abcd = ["市场", "资金", "团队", "计划"]
    add("alpha_admin", "single", 20, "B", abcd)
    add("alpha_admin", "single", 20, "c", abcd)
    add("alpha_admin", "multiple", 10, ["A", "C"], abcd)
    add("alpha_admin", "multiple", 10, ["b", "D", "B"], abcd)
    add("alpha_admin", "truefalse", 20, True)
    add("alpha_admin", "truefalse", 20, False)
    add("alpha_admin", "short", 40, "写出三点")
    add("admin", "single", 20, "A", abcd)  # the shared platform bank
    beta_q = add("beta_admin", "single", 20, "A", abcd)
    students = sorted(s["id"] for s in detail["roster"])
    return {"w": w, "cid": cid, "students": students, "lecturer": lecturer, "q": q, "beta_q": beta_q["id"]}


def paper(t, counts, *, seed="s1", duration=60, who="alpha_admin", **extra):
    body = {"title": "SYB 结业考试", "counts": counts, "seed": seed, "duration_minutes": duration,
            "opens_at": OPENS.isoformat(), "closes_at": CLOSES.isoformat(), **extra}
    return t["w"].client.post(f"/api/classes/{t['cid']}/exam-papers", headers=t["w"].h(who), json=body)


def start(t, sid, pid):
    return t["w"].client.post(f"/api/exam-papers/{pid}/attempts", headers=t["w"].h(f"student{sid}"))


def save(t, sid, aid, qid, response):
    return t["w"].client.put(f"/api/exam-attempts/{aid}/answers/{qid}", headers=t["w"].h(f"student{sid}"),
                             json={"response": response})


def right(q: dict):
    return q["answer"]


def test_exam1_bank_validation_is_bilingual_and_names_the_field(town, client):
    t, w = town, town["w"]
    h = w.h("alpha_admin")
    base = {"course_type": "SYB", "kind": "single", "stem": "题", "options": ["甲", "乙"], "answer": "C", "points": 5}
    cases = [
        ({}, "answer", "EXAM_KEY_NOT_AN_OPTION"),
        ({"kind": "multiple", "answer": ["A"]}, "answer", "EXAM_KEY_TOO_FEW"),
        ({"kind": "multiple", "answer": "A"}, "answer", "EXAM_KEY_SHAPE"),
        ({"options": ["甲"], "answer": "A"}, "options", "EXAM_OPTIONS_COUNT"),
        ({"options": ["甲", "甲"], "answer": "A"}, "options", "EXAM_OPTION_DUPLICATE"),
        ({"kind": "truefalse", "answer": True}, "options", "EXAM_OPTIONS_NOT_ALLOWED"),
        ({"kind": "truefalse", "options": [], "answer": "yes"}, "answer", "EXAM_KEY_SHAPE"),
    ]
    for change, field, code in cases:
        e = err(client.post("/api/exam-questions", headers=h, json={**base, **change}), 422)
        assert (e["field"], e["code"], e["rule"]) == (field, code, "EXAM-1"), e
        assert e["message_zh"] and e["message_en"] and e["message_zh"] != e["message_en"]
    for change, field in (({"points": 0}, "points"), ({"kind": "essay"}, "kind"),
                          ({"course_type": "XYZ"}, "course_type"), ({"stem": ""}, "stem"), ({"colour": 1}, "colour")):
        e = err(client.post("/api/exam-questions", headers=h, json={**base, "answer": "A", **change}), 422)
        assert e["field"].endswith(field), e
    body = {**base, "answer": "A"}
    err(client.post("/api/exam-questions", headers=w.h(t["lecturer"]), json=body), 403)
    err(client.get("/api/exam-questions", headers=w.h(f"student{t['students'][0]}")), 403)
    # institution staff see their own bank and the shared one, never another institution's
    bank = ok(client.get("/api/exam-questions?course_type=SYB", headers=w.h(t["lecturer"])))["items"]
    assert len(bank) == 8 and t["beta_q"] not in {q["id"] for q in bank}
    assert sum(q["shared"] for q in bank) == 1
    keys = {q["kind"]: q["answer"] for q in bank if q["kind"] == "multiple"}
    assert keys["multiple"] in (["A", "C"], ["B", "D"])  # normalised: upper-cased, sorted, deduplicated


def test_exam1_paper_draw_is_seeded_reproducible_and_from_own_and_shared_bank(town, client):
    t = town
    counts = {"single": 3, "multiple": 2, "truefalse": 2, "short": 1}
    a, b = ok(paper(t, counts), 201), ok(paper(t, counts), 201)
    assert a["items"] == b["items"] and a["seed"] == "s1" and a["algorithm"] == draw.ALGORITHM
    drawn = {qid for qid, _ in a["items"]}
    assert len(drawn) == 8 and t["beta_q"] not in drawn
    assert a["total_points"] == 3 * 20 + 2 * 10 + 2 * 20 + 40 and a["pass_mark"] == 60
    assert all(q["answer"] is not None for q in a["questions"])
    e = err(paper(t, {"single": 4}), 422)
    assert (e["field"], e["code"], e["details"]["available"]) == ("counts.single", "EXAM_BANK_TOO_SMALL", 3)
    assert err(paper(t, {}), 422)["field"] == "counts"
    assert err(paper(t, {"single": 1}, closes_at=OPENS.isoformat()), 422)["field"] == "closes_at"
    assert err(paper(t, {"single": 1}, duration=2), 422)["field"] == "duration_minutes"
    assert err(paper(t, {"single": 1}, opens_at="2025-09-22T10:00:00"), 422)["field"] == "opens_at"
    assert err(paper(t, {"single": 1}, who="beta_admin"), 404)["code"] == "NOT_FOUND"
    assert err(paper(t, {"single": 1}, who=t["lecturer"]), 403)["code"] == "FORBIDDEN"


def test_sup3_region_supervisors_read_papers_with_keys_and_other_districts_get_404(town, client, svc):
    t, w = town, town["w"]
    p = ok(paper(t, {"single": 2, "short": 1}), 201)
    for sup in ("yuquan", "hohhot"):
        seen = ok(client.get(f"/api/exam-papers/{p['id']}", headers=w.h(sup)))
        assert [q["answer"] for q in seen["questions"]] == [q["answer"] for q in p["questions"]]
        ok(client.get(f"/api/exam-papers/{p['id']}/scores", headers=w.h(sup)))
    assert err(client.get(f"/api/exam-papers/{p['id']}", headers=w.h("saihan")), 404)["code"] == "NOT_FOUND"
    err(client.get(f"/api/exam-papers/{p['id']}/scores", headers=w.h("saihan")), 404)
    err(client.get(f"/api/classes/{t['cid']}/exam-papers", headers=w.h("saihan")), 404)
    err(client.get(f"/api/exam-papers/{p['id']}", headers=w.h("beta_admin")), 404)
    for path in ("/api/exam-papers/99999999999", "/api/exam-attempts/99999999999", "/api/exam-papers/0/scores"):
        assert err(client.get(path, headers=w.h("yuquan")), 404)["code"] == "NOT_FOUND"  # never a 500
    from sqlalchemy import select

    from models import AuditLog
    with svc.db.session() as s:
        reads = s.scalars(select(AuditLog.target_id).where(AuditLog.action == "supervisor.read")).all()
    assert f"/api/exam-papers/{p['id']}" in reads  # SUP-6: the read of the exam contents is recorded


def test_exam1_keys_never_reach_students_and_autosave_survives_a_reconnect(town, client, clock):
    t, w = town, town["w"]
    p = ok(paper(t, {"single": 2, "multiple": 1, "truefalse": 1, "short": 1}), 201)
    sid = t["students"][0]
    h = w.h(f"student{sid}")
    summary = ok(client.get(f"/api/exam-papers/{p['id']}", headers=h))
    no_keys(summary)
    assert "questions" not in summary and "items" not in summary and summary["my_attempt_id"] is None
    no_keys(ok(client.get(f"/api/classes/{t['cid']}/exam-papers", headers=h)))
    assert err(start(t, sid, p["id"]), 409)["code"] == "EXAM_NOT_OPEN"
    clock.set(OPENS + timedelta(minutes=10))
    att = ok(start(t, sid, p["id"]), 201)
    no_keys(att)
    assert att["deadline"] == cn(OPENS + timedelta(minutes=70)) and att["remaining_seconds"] == 3600
    qs = att["questions"]
    single, multiple, short = (next(q for q in qs if q["kind"] == k) for k in ("single", "multiple", "short"))
    ok(save(t, sid, att["id"], single["id"], "a"))
    clock.set(OPENS + timedelta(minutes=11))
    saved = ok(save(t, sid, att["id"], single["id"], "D"))  # last write wins
    assert saved["response"] == "D" and saved["saves"] == 2 and saved["remaining_seconds"] == 59 * 60
    ok(save(t, sid, att["id"], single["id"], "D"))  # idempotent
    ok(save(t, sid, att["id"], multiple["id"], ["c", "A"]))
    ok(save(t, sid, att["id"], short["id"], "市场调查、资金、团队"))
    # the connection drops; the phone reloads: a new GET and a second start both resume the same attempt
    again = ok(client.get(f"/api/exam-attempts/{att['id']}", headers=h))
    no_keys(again)
    got = {q["id"]: q["response"] for q in again["questions"]}
    assert got[single["id"]] == "D" and got[multiple["id"]] == ["A", "C"] and got[short["id"]] == "市场调查、资金、团队"
    resumed = start(t, sid, p["id"])
    assert resumed.status_code == 200 and resumed.json()["id"] == att["id"]
    assert ok(client.get(f"/api/exam-papers/{p['id']}", headers=h))["my_attempt_id"] == att["id"]
    # bad input: 4xx naming the field
    assert err(save(t, sid, att["id"], single["id"], "Z"), 422)["field"] == "response"
    assert err(save(t, sid, att["id"], multiple["id"], "A"), 422)["field"] == "response"
    assert err(save(t, sid, att["id"], t["beta_q"], "A"), 404)["field"] == "question_id"
    r = client.put(f"/api/exam-attempts/{att['id']}/answers/{single['id']}", headers=h, json={})
    assert err(r, 422)["field"] == "response"
    other = t["students"][1]
    err(save(t, other, att["id"], single["id"], "A"), 404)  # not their attempt
    err(client.get(f"/api/exam-attempts/{att['id']}", headers=w.h(f"student{other}")), 404)
    done = ok(client.post(f"/api/exam-attempts/{att['id']}/submit", headers=h))
    no_keys(done)
    assert done["status"] == "submitted" and done["score"] is None  # the short answer waits for the grader
    assert all("awarded" not in q for q in done["questions"])
    assert err(save(t, sid, att["id"], single["id"], "A"), 409)["code"] == "EXAM_SUBMITTED"


def test_exam1_deadline_refuses_saves_and_submits_on_the_next_read(town, client, clock):
    t, w = town, town["w"]
    p = ok(paper(t, {"single": 1, "truefalse": 1}, duration=30), 201)
    sid = t["students"][0]
    clock.set(CLOSES - timedelta(minutes=10))  # late start: the window's close caps the deadline
    att = ok(start(t, sid, p["id"]), 201)
    assert att["remaining_seconds"] == 600
    tf = next(q for q in att["questions"] if q["kind"] == "truefalse")
    ok(save(t, sid, att["id"], tf["id"], True))
    clock.set(CLOSES)
    e = err(save(t, sid, att["id"], tf["id"], False), 409)
    assert (e["code"], e["field"], e["details"]["deadline"]) == ("EXAM_DEADLINE_PASSED", "response", cn(CLOSES))
    assert cn(CLOSES) in e["message_en"] and cn(CLOSES) in e["message_zh"]
    got = ok(client.get(f"/api/exam-attempts/{att['id']}", headers=w.h(f"student{sid}")))
    assert (got["status"], got["submitted_by"], got["final"]) == ("graded", "deadline", True)
    assert got["submitted_at"] == got["deadline"] and got["questions"][1]["response"] is True
    assert err(client.post(f"/api/exam-attempts/{att['id']}/submit", headers=w.h(f"student{sid}")), 409)
    assert err(start(t, t["students"][1], p["id"]), 409)["code"] == "EXAM_CLOSED"
    sheet = ok(client.get(f"/api/exam-papers/{p['id']}/scores", headers=w.h("alpha_admin")))
    assert [r["status"] for r in sheet["items"]] == ["graded", "absent", "absent"]
    assert sheet["items"][1]["passed"] is False


def test_exam1_objective_questions_are_graded_exactly(town, client, clock):
    t, w = town, town["w"]
    p = ok(paper(t, {"single": 2, "multiple": 2, "truefalse": 2}, seed="auto"), 201)
    keys = {q["id"]: q for q in p["questions"]}
    sid = t["students"][0]
    clock.set(OPENS)
    att = ok(start(t, sid, p["id"]), 201)
    singles = [q for q in p["questions"] if q["kind"] == "single"]
    multis = [q for q in p["questions"] if q["kind"] == "multiple"]
    tfs = [q for q in p["questions"] if q["kind"] == "truefalse"]
    ok(save(t, sid, att["id"], singles[0]["id"], singles[0]["answer"].lower()))  # right
    wrong = next(lab for lab in "ABCD" if lab != singles[1]["answer"])
    ok(save(t, sid, att["id"], singles[1]["id"], wrong))  # wrong
    ok(save(t, sid, att["id"], multis[0]["id"], list(reversed(multis[0]["answer"]))))  # exactly right, any order
    ok(save(t, sid, att["id"], multis[1]["id"], multis[1]["answer"][:1]))  # one missing: nothing
    ok(save(t, sid, att["id"], tfs[0]["id"], tfs[0]["answer"]))  # right; tfs[1] left blank
    done = ok(client.post(f"/api/exam-attempts/{att['id']}/submit", headers=w.h(f"student{sid}")))
    awarded = {q["id"]: q["awarded"] for q in done["questions"]}
    assert awarded == {singles[0]["id"]: 20, singles[1]["id"]: 0, multis[0]["id"]: 10, multis[1]["id"]: 0,
                       tfs[0]["id"]: 20, tfs[1]["id"]: 0}
    assert (done["status"], done["score"], done["passed"], done["final"]) == ("graded", 50, False, True)
    assert p["total_points"] == 100 and set(keys) == set(awarded)
    no_keys(done)


def test_exam1_short_answers_graded_by_staff_pass_at_the_mark_inclusive(town, client, clock):
    t, w = town, town["w"]
    p = ok(paper(t, {"single": 2, "truefalse": 1, "short": 1}, seed="boundary"), 201)
    assert p["total_points"] == 100 and p["pass_mark"] == 60
    by_kind = {}
    for q in p["questions"]:
        by_kind.setdefault(q["kind"], []).append(q)
    clock.set(OPENS)
    attempts = {}
    for sid in t["students"][:2]:
        att = ok(start(t, sid, p["id"]), 201)
        ok(save(t, sid, att["id"], by_kind["single"][0]["id"], by_kind["single"][0]["answer"]))
        ok(save(t, sid, att["id"], by_kind["truefalse"][0]["id"], by_kind["truefalse"][0]["answer"]))
        ok(save(t, sid, att["id"], by_kind["short"][0]["id"], "市场、资金、团队"))
        attempts[sid] = ok(client.post(f"/api/exam-attempts/{att['id']}/submit", headers=w.h(f"student{sid}")))
        assert attempts[sid]["status"] == "submitted" and attempts[sid]["score"] is None
    short = by_kind["short"][0]["id"]
    anna, ben = t["students"][:2]

    def grade(sid, points, who=t["lecturer"], qid=short, **extra):
        return client.post(f"/api/exam-attempts/{attempts[sid]['id']}/answers/{qid}/grade", headers=w.h(who),
                           json={"points": points, **extra})

    sheet = ok(client.get(f"/api/exam-papers/{p['id']}/scores", headers=w.h("yuquan")))
    assert [(r["status"], r["pending_short"]) for r in sheet["items"][:2]] == [("submitted", 1)] * 2
    e = err(grade(anna, 41), 422)
    assert (e["field"], e["code"], e["details"]["max_points"]) == ("points", "EXAM_POINTS_TOO_HIGH", 40)
    assert err(grade(anna, -1), 422)["field"] == "points"
    assert err(grade(anna, 10, qid=by_kind["single"][0]["id"]), 422)["code"] == "EXAM_NOT_SHORT"
    assert err(grade(anna, 10, who="outsider"), 404)["code"] == "NOT_FOUND"  # a lecturer not on the class
    err(grade(anna, 10, who="yuquan"), 403)  # supervisors read, never grade
    got = ok(grade(anna, 20, comment="要点齐全 complete"))  # 20 + 20 + 20 = 60 of 100: passes, inclusive
    assert (got["score"], got["passed"], got["final"]) == (60, True, True)
    assert next(q for q in got["questions"] if q["id"] == short)["comment"] == "要点齐全 complete"
    assert err(grade(anna, 40), 409)["code"] == "EXAM_RESULT_FINAL"
    got = ok(grade(ben, 19.5, who="alpha_admin"))  # 59.5: one half-point short
    assert (got["score"], got["passed"]) == (59.5, False)
    mine = ok(client.get(f"/api/exam-attempts/{attempts[anna]['id']}", headers=w.h(f"student{anna}")))
    assert mine["score"] == 60 and mine["passed"] is True
    no_keys(mine)
    sheet = ok(client.get(f"/api/exam-papers/{p['id']}/scores", headers=w.h("hohhot")))
    rows = {r["student_id"]: r for r in sheet["items"]}
    assert (rows[anna]["score"], rows[anna]["passed"], rows[ben]["passed"]) == (60, True, False)
    assert rows[anna]["submitted_at"] and sheet["passed"] == 1
    err(client.get(f"/api/exam-papers/{p['id']}/scores", headers=w.h(f"student{anna}")), 403)


def test_exam1_draw_and_grading_rules():
    pool = {"single": [(i, 2) for i in range(1, 21)], "short": [(100, 10), (101, 10)]}
    a = draw.draw("x", pool, {"single": 5, "short": 1})
    assert a == draw.draw("x", pool, {"single": 5, "short": 1}) and len(a) == 6 and a[-1][0] in (100, 101)
    assert a != draw.draw("y", pool, {"single": 5, "short": 1})
    with pytest.raises(draw.PoolTooSmall):
        draw.draw("x", pool, {"short": 3})
    assert grading.auto_points("multiple", ["A", "C"], ["A", "C"], 4) == 4
    assert grading.auto_points("multiple", ["A", "C"], ["A"], 4) == 0
    assert grading.auto_points("multiple", ["A", "C"], ["A", "B", "C"], 4) == 0
    assert grading.auto_points("truefalse", False, False, 2) == 2
    assert grading.auto_points("truefalse", False, None, 2) == 0
    assert grading.auto_points("single", "B", "B", 3) == 3 and grading.auto_points("short", "", "x", 3) is None
    assert grading.passed(60, 100, 60) and not grading.passed(59.99, 100, 60) and grading.passed(36, 60, 60)


def test_migration_0011_matches_the_exam_models_in_one_chain(database):
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diff if "exam_" in repr(d)] == []
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_revision("0011").down_revision == "0010"


def test_exam1_my_exam_papers_lists_the_students_papers_with_their_attempt(town, client, clock):
    """The phone page's list (GET /api/me/exam-papers): only the student's own classes' papers, the
    window, their own attempt's status and, once graded, the score; never keys; staff are refused."""
    t, w = town, town["w"]
    p = ok(paper(t, {"single": 1, "truefalse": 1}, duration=30), 201)
    anna, ben = t["students"][:2]
    mine = ok(client.get("/api/me/exam-papers", headers=w.h(f"student{anna}")))
    no_keys(mine)
    assert [(r["id"], r["window"], r["attempt"]) for r in mine["items"]] == [(p["id"], "upcoming", None)]
    assert mine["items"][0]["question_count"] == 2 and mine["items"][0]["class_name"]
    clock.set(OPENS)
    att = ok(start(t, anna, p["id"]), 201)
    row = ok(client.get("/api/me/exam-papers", headers=w.h(f"student{anna}")))["items"][0]
    assert row["window"] == "open" and row["attempt"]["id"] == att["id"]
    assert (row["attempt"]["status"], row["attempt"]["remaining_seconds"]) == ("in_progress", 1800)
    assert ok(client.get("/api/me/exam-papers", headers=w.h(f"student{ben}")))["items"][0]["attempt"] is None
    clock.set(OPENS + timedelta(minutes=31))  # past the deadline: the list shows the automatic submission
    row = ok(client.get("/api/me/exam-papers", headers=w.h(f"student{anna}")))["items"][0]
    assert (row["attempt"]["status"], row["attempt"]["submitted_by"], row["attempt"]["score"]) == \
        ("graded", "deadline", 0)
    outsider = w.student("beta")  # a student of no class with a paper
    assert ok(client.get("/api/me/exam-papers", headers=w.h(f"student{outsider}")))["items"] == []
    for who in ("alpha_admin", t["lecturer"], "yuquan"):
        err(client.get("/api/me/exam-papers", headers=w.h(who)), 403)
