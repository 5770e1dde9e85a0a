"""Business plans / idea analyses (EXAM-2): PDF/DOCX upload judged by its bytes or a structured form,
review by the class's lecturer or the institution's expert, resubmission after rejection with versions
kept, Beijing's 4 class-hours on approval (Hohhot 0), region supervisors reading the history (SUP-3),
screening (LIVE-5), and the read-outs for eligibility and the archive (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from models import AuditLog, Base, ContentWarning, SensitiveWord
from server.coursework.businessplans import PlanVerdict, plan_documents, plan_verdicts
from tests.world import docx, err, image, ok, OTHER_DISTRICT, TINY_PDF

MONDAY = datetime(2025, 9, 22, 2, 0, tzinfo=timezone.utc)
START = date(2025, 10, 13)
CHAOYANG = "110105"
PDF = TINY_PDF
FORM = {"project_name": "社区烘焙坊", "business_idea": "面向社区的现烤面包与订制蛋糕", "market": "周边三个小区约五千户",
        "team": "本人与两名合伙人", "finances": "启动资金 8 万元", "risks": "原料涨价"}


def lecturer_of(w, client, cid: int, admin: str) -> str:
    detail = ok(client.get(f"/api/classes/{cid}", headers=w.h(admin)))
    names = {v: k for k, v in w.ids.items()}
    name = names[detail["lecturers"][0]["user_id"]]
    w.tokens[name] = w.login(name)
    return name


def roster(svc, cid: int) -> list[int]:
    from models import Enrolment
    with svc.db.session() as s:
        return sorted(s.scalars(select(Enrolment.student_user_id).where(Enrolment.class_id == cid)))


@pytest.fixture
def town(world, client, clock, svc):
    """Beijing (Chaoyang) SYB class of two at bj; Hohhot (Yuquan) SYB class of two at alpha, a WLC class at
    alpha, and beta in Saihan; supervisors of Chaoyang and Saihan."""
    clock.set(MONDAY)
    w = world
    w.institution("bj", region=CHAOYANG, profile="beijing")
    w.institution("alpha")
    w.institution("beta", region=OTHER_DISTRICT)
    w.supervisor("chaoyang", "district", CHAOYANG)
    w.supervisor("saihan", "district", OTHER_DISTRICT)
    bj = w.ready_class("bj", start=START, students=2, days=5)
    hh = w.ready_class("alpha", start=START, students=2, days=5)
    wlc = w.ready_class("alpha", start=START, students=1, days=5, course="WLC")
    w.lecturer("alpha", "outsider")
    w.tokens["outsider"] = w.login("outsider")
    return {"w": w, "c": client, "bj": bj, "hh": hh, "wlc": wlc, "bj_students": roster(svc, bj),
            "hh_students": roster(svc, hh), "wlc_students": roster(svc, wlc),
            "bj_lecturer": lecturer_of(w, client, bj, "bj_admin"),
            "hh_lecturer": lecturer_of(w, client, hh, "alpha_admin")}


def upload(t, cid, sid, name="plan.pdf", data=PDF, ctype="application/pdf"):
    return t["c"].post(f"/api/classes/{cid}/business-plans/file", headers=t["w"].h(f"student{sid}"),
                       files={"file": (name, data, ctype)})


def form(t, cid, sid, **over):
    return t["c"].post(f"/api/classes/{cid}/business-plans/form", headers=t["w"].h(f"student{sid}"),
                       json={**FORM, **over})


def review(t, pid, who, verdict, comment=None):
    return t["c"].post(f"/api/business-plans/{pid}/review", headers=t["w"].h(who),
                       json={"verdict": verdict, "comment": comment})


def test_exam2_beijing_credits_four_hours_on_approval_after_a_resubmission(town, svc):
    t, c, w = town, town["c"], town["w"]
    cid, (a, b) = t["bj"], t["bj_students"]
    first = ok(upload(t, cid, a), 201)
    assert (first["version"], first["kind"], first["file_type"], first["status"]) == (1, "file", "pdf", "submitted")
    got = c.get(f"/api/business-plans/{first['id']}/file", headers=w.h(t["bj_lecturer"]))
    assert got.status_code == 200 and got.content == PDF and got.headers["content-type"] == "application/pdf"
    rejected = ok(review(t, first["id"], t["bj_lecturer"], "rejected", "市场分析不足，请补充"))
    assert (rejected["status"], rejected["credited_hours"], rejected["review_comment"]) == \
        ("rejected", 0, "市场分析不足，请补充")
    with svc.db.session() as s:
        v = plan_verdicts(s, cid)
    assert v == {a: PlanVerdict("rejected", first["id"], 1, 0, v[a].reviewed_at)} and v[a].reviewed_at is not None
    second = ok(form(t, cid, a), 201)  # resubmission after rejection: a new version, the old one kept
    assert (second["version"], second["kind"], second["form"]["plan_type"]) == (2, "form", "business_plan")
    approved = ok(review(t, second["id"], "bj_admin", "approved", "通过"))  # the institution's expert
    assert (approved["status"], approved["credited_hours"], approved["reviewer_role"]) == \
        ("approved", 4, "institution_admin")
    e = err(upload(t, cid, a), 409)
    assert (e["code"], e["rule"]) == ("PLAN_ALREADY_APPROVED", "EXAM-2")
    ok(upload(t, cid, b, name="b.docx", data=docx(), ctype="application/octet-stream"), 201)
    with svc.db.session() as s:
        v = plan_verdicts(s, cid)
        docs = plan_documents(s, cid)
    assert v[a] == PlanVerdict("approved", second["id"], 2, 4, v[a].reviewed_at)
    assert (v[b].status, v[b].version, v[b].credited_hours, v[b].reviewed_at) == ("submitted", 1, 0, None)
    assert [(d["student_id"], d["version"], d["status"], d["latest"]) for d in docs] == \
        [(a, 1, "rejected", False), (a, 2, "approved", True), (b, 1, "submitted", True)]
    assert docs[0]["file_id"] and docs[1]["form"]["project_name"] == "社区烘焙坊"
    assert docs[0]["review_comment"] == "市场分析不足，请补充"
    mine = ok(c.get(f"/api/classes/{cid}/business-plans", headers=w.h(f"student{a}")))
    assert mine["credit_hours"] == 4 and [p["status"] for p in mine["versions"]] == ["rejected", "approved"]
    staff = ok(c.get(f"/api/classes/{cid}/business-plans", headers=w.h(t["bj_lecturer"])))
    assert staff["counts"] == {"submitted": 1, "approved": 1, "rejected": 0, "none": 0} and staff["may_review"]
    with svc.db.session() as s:
        assert s.scalars(select(AuditLog.action).where(AuditLog.action == "business_plan.review")).all() == \
            ["business_plan.review"] * 2


def test_exam2_hohhot_credits_no_hours(town, svc):
    t = town
    cid, (a, _) = t["hh"], t["hh_students"]
    pid = ok(form(t, cid, a), 201)["id"]
    assert ok(review(t, pid, t["hh_lecturer"], "approved"))["credited_hours"] == 0
    with svc.db.session() as s:
        assert plan_verdicts(s, cid)[a].credited_hours == 0


def test_exam2_upload_refusals_by_bytes_size_and_class(town, svc):
    t, c, w = town, town["c"], town["w"]
    cid, (a, _) = t["bj"], t["bj_students"]
    e = err(upload(t, cid, a, name="plan.pdf", data=b"MZ\x90\x00" + b"\0" * 64), 415)
    assert (e["code"], e["field"], e["rule"]) == ("FILE_TYPE_NOT_ALLOWED", "file", "EXAM-2")
    assert err(upload(t, cid, a, name="plan.jpg", data=image(), ctype="image/jpeg"), 415)["details"]["detected"] \
        == "jpeg"  # a photo is not a plan document
    assert err(upload(t, cid, a, name="plan.docx", data=PDF), 415)["code"] == "FILE_TYPE_MISMATCH"
    e = err(upload(t, cid, a, data=PDF + b"0" * (10 * 1024 * 1024)), 413)
    assert (e["code"], e["details"]["max_bytes"]) == ("FILE_TOO_LARGE", 10 * 1024 * 1024)
    assert err(upload(t, cid, a, data=b""), 422)["code"] == "FILE_EMPTY"
    r = c.post(f"/api/classes/{cid}/business-plans/file", headers=w.h(f"student{a}"), files={"note": (None, b"x")})
    assert err(r, 422)["code"] == "UNKNOWN_FIELD"
    r = c.post(f"/api/classes/{cid}/business-plans/file", headers=w.h(f"student{a}"), json={"file": "x"})
    assert err(r, 415)["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert err(upload(t, cid, t["hh_students"][0]), 404)["code"] == "NOT_FOUND"  # student of another class
    assert err(form(t, cid, a, project_name=""), 422)["field"] == "project_name"
    assert err(form(t, cid, a, plan_type="strategy"), 422)["code"] == "PLAN_TYPE_NOT_ALLOWED"  # elite camps only
    assert c.get(f"/api/classes/{cid}/business-plans", headers=w.h(f"student{a}")).json()["versions"] == []


def test_exam2_network_training_needs_practice_results(town):
    t = town
    sid = t["wlc_students"][0]
    e = err(form(t, t["wlc"], sid), 422)
    assert (e["code"], e["field"]) == ("PLAN_PRACTICE_RESULTS_REQUIRED", "practice_results")
    p = ok(form(t, t["wlc"], sid, practice_results="网店三个月销售 120 单", online_store="https://shop.example/1"), 201)
    assert p["form"]["practice_results"] == "网店三个月销售 120 单"


def test_exam2_review_refusals_and_resubmission_rules(town):
    t, c, w = town, town["c"], town["w"]
    cid, (a, b) = t["hh"], t["hh_students"]
    first = ok(form(t, cid, a), 201)
    assert err(review(t, first["id"], f"student{a}", "approved"), 403)["code"] == "FORBIDDEN"  # a student
    assert err(review(t, first["id"], "outsider", "approved"), 403)["code"] == "PLAN_NOT_REVIEWER"
    assert err(review(t, first["id"], "beta_admin", "approved"), 404)["code"] == "NOT_FOUND"
    assert err(review(t, first["id"], "saihan", "approved"), 403)["code"] == "FORBIDDEN"  # supervisors read only
    e = err(review(t, first["id"], t["hh_lecturer"], "rejected"), 422)
    assert (e["code"], e["field"]) == ("PLAN_COMMENT_REQUIRED", "comment")
    assert err(review(t, first["id"], t["hh_lecturer"], "maybe"), 422)["field"] == "verdict"
    second = ok(upload(t, cid, a, name="v2.docx", data=docx()), 201)  # before review: supersedes v1
    e = err(review(t, first["id"], t["hh_lecturer"], "approved"), 409)
    assert (e["code"], e["details"]["status_now"]) == ("PLAN_NOT_REVIEWABLE", "superseded")
    ok(review(t, second["id"], t["hh_lecturer"], "rejected", "请补充财务预测"))
    assert err(review(t, second["id"], t["hh_lecturer"], "approved"), 409)["code"] == "PLAN_NOT_REVIEWABLE"
    third = ok(form(t, cid, a), 201)
    assert third["version"] == 3
    detail = ok(c.get(f"/api/business-plans/{third['id']}", headers=w.h(f"student{a}")))
    assert [(h["version"], h["status"]) for h in detail["history"]] == \
        [(1, "superseded"), (2, "rejected"), (3, "submitted")]
    assert c.get(f"/api/business-plans/{third['id']}", headers=w.h(f"student{b}")).status_code == 404
    got = c.get(f"/api/business-plans/{second['id']}/file", headers=w.h(f"student{a}"))
    assert got.status_code == 200 and got.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")


def test_sup3_region_supervisors_read_plans_and_history_other_regions_get_404(town, svc):
    t, c, w = town, town["c"], town["w"]
    cid, (a, _) = t["bj"], t["bj_students"]
    first = ok(upload(t, cid, a), 201)
    ok(review(t, first["id"], t["bj_lecturer"], "rejected", "补充团队介绍"))
    second = ok(form(t, cid, a), 201)
    listed = ok(c.get(f"/api/classes/{cid}/business-plans", headers=w.h("chaoyang")))
    row = next(x for x in listed["students"] if x["student_id"] == a)
    assert row["plan"]["id"] == second["id"] and not listed["may_review"]
    detail = ok(c.get(f"/api/business-plans/{second['id']}", headers=w.h("chaoyang")))
    assert [h["version"] for h in detail["history"]] == [1, 2] and not detail["may_review"]
    assert c.get(f"/api/business-plans/{first['id']}/file", headers=w.h("chaoyang")).content == PDF
    assert c.get(f"/api/business-plans/{second['id']}", headers=w.h("saihan")).status_code == 404
    assert c.get(f"/api/classes/{cid}/business-plans", headers=w.h("saihan")).status_code == 404
    with svc.db.session() as s:
        viewed = AuditLog.action.in_(("business_plan.view", "business_plan.file_view"))
        actions = s.scalars(select(AuditLog.action).where(viewed)).all()
    assert sorted(actions) == ["business_plan.file_view", "business_plan.view"]


def test_live5_plan_form_and_docx_text_are_screened(town, svc):
    t = town
    with svc.db.session() as s:
        s.add(SensitiveWord(word="赌博", category="illegal"))
    (a, b) = t["hh_students"]
    assert ok(form(t, t["hh"], a, business_idea="线上赌博推广"), 201)["screening_held"] is True
    assert ok(upload(t, t["hh"], b, name="p.docx", data=docx("开设赌博网站")), 201)["screening_held"] is True
    assert ok(upload(t, t["bj"], t["bj_students"][0]), 201)["screening_held"] is False
    with svc.db.session() as s:
        warns = s.scalars(select(ContentWarning).order_by(ContentWarning.id)).all()
    assert [(x.source, x.user_id, x.context["kind"]) for x in warns] == \
        [("upload", a, "business_plan"), ("upload", b, "business_plan")]


def test_migration_0013_business_plans_match_the_models(database):
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diff if "business_plans" in repr(d)] == []
