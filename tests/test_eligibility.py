"""EXAM-3 / CLS-7 certificate eligibility from the class's records: attendance figures computed from
the lesson event logs, the latest business plan's verdict and the graded exam, on SQLite and
PostgreSQL. Every "not eligible" names its rule and carries the numbers behind it."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from models.coursework import BusinessPlan
from models.exams import ExamAttempt, ExamPaper
from server.outcomes.eligibility import class_eligibility, student_eligibility
from tests.roomlog import RoomLog
from tests.world import ok

MONDAY = datetime(2025, 9, 22, 2, 0, tzinfo=timezone.utc)
START = date(2025, 10, 13)  # lessons 08:30–11:30 Beijing = 00:30–03:30 UTC
LESSON_START = datetime(2025, 10, 13, 0, 30, tzinfo=timezone.utc)


@pytest.fixture
def taught(world, client, clock, svc):
    """A Hohhot SYB class of five whose first lesson was taught for an hour (the verdict is over the
    lessons held so far): four stayed throughout (one showed another face from minute 30); the fifth
    left at 30 minutes. Exam scores and plan verdicts are written as the exam and plan code store them."""
    clock.set(MONDAY)
    w = world
    w.institution("alpha")
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("hohhot", "city", "150100")
    cid = w.ready_class("alpha", start=START, students=5)
    detail = w.open_class("alpha", cid, district="yuquan", city="hohhot")
    lesson_id, lecturer = detail["lessons"][0]["id"], detail["lecturers"][0]["user_id"]
    ids = sorted(s["id"] for s in detail["roster"])
    good, mismatch, noplan, failed, leaver = ids

    def at(minutes: float) -> datetime:
        return LESSON_START + timedelta(minutes=minutes)

    with svc.db.session() as s:
        log = RoomLog(s, lesson_id, LESSON_START)
        add = log.add
        log.opening(lecturer, ids)
        minute = 0.5
        while minute < 60:  # a face sample every 30 s, in time order, as the room writes them
            if minute == 30:
                add(30, "leave", leaver, "student")
            if minute < 30:
                add(minute, "face_check", leaver, "student", verdict="match")
            for uid in (good, noplan, failed):
                add(minute, "face_check", uid, "student", verdict="match")
            add(minute, "face_check", mismatch, "student", verdict="match" if minute < 30 else "mismatch")
            minute += 0.5
        add(60, "lesson_end", lecturer, "lecturer")
        paper = ExamPaper(class_id=cid, institution_id=w.ids["alpha"], district_code="150104", course_type="SYB",
                          title="结业考试", seed="x", counts={}, items=[], total_points=100, pass_mark=60,
                          duration_minutes=60, opens_at=at(90), closes_at=at(200), created_by=lecturer)
        s.add(paper)
        s.flush()
        for uid, score in ((good, 85), (mismatch, 90), (noplan, 70), (failed, 40), (leaver, 75)):
            s.add(ExamAttempt(paper_id=paper.id, student_user_id=uid, started_at=at(90), deadline=at(150),
                              submitted_at=at(120), submitted_by="student", status="graded", score=score,
                              passed=score >= 60, graded_at=at(121)))
        for uid in (good, mismatch, failed, leaver):
            s.add(BusinessPlan(class_id=cid, student_user_id=uid, version=1, course_type="SYB", kind="form",
                               form={"project_name": "小店"}, status="approved", submitted_at=at(70),
                               reviewed_by=lecturer, reviewed_at=at(80), credited_hours=0))
        s.add(BusinessPlan(class_id=cid, student_user_id=noplan, version=1, course_type="SYB", kind="form",
                           form={"project_name": "小摊"}, status="rejected", submitted_at=at(70),
                           reviewed_by=lecturer, reviewed_at=at(80), credited_hours=0))
    return {"w": w, "class_id": cid, "good": good, "mismatch": mismatch, "noplan": noplan, "failed": failed,
            "leaver": leaver, "now": at(180), "lecturer": lecturer}


def test_exam3_each_shortfall_names_its_rule_and_numbers(svc, taught):
    with svc.db.session() as s:
        found = {v.student_id: v for v in class_eligibility(s, taught["class_id"], svc.profiles, taught["now"])}
    good = found[taught["good"]]
    assert good.eligible and good.shortfalls == ()
    assert good.figures["study_ratio"] == 1.0 and good.figures["exam_passed"] is True
    assert good.figures["plan_status"] == "approved" and good.credited_class_hours == good.class_hours

    def rules(key):
        return [x.rule for x in found[taught[key]].shortfalls]

    assert rules("mismatch") == ["ATT-3", "ATT-4"]  # another face from minute 30: neither counts
    att4 = found[taught["mismatch"]].shortfalls[1]
    assert att4.numbers == {"attendance_rate": 0.4958, "checks_passed": 59, "checks_due": 119, "threshold": 0.8}
    assert "49.6%" in att4.message_zh and "80.0%" in att4.message_en
    assert rules("noplan") == ["EXAM-2"]
    assert found[taught["noplan"]].shortfalls[0].numbers["plan_status"] == "rejected"
    assert rules("failed") == ["EXAM-1"]
    assert found[taught["failed"]].shortfalls[0].code == "EXAM_FAILED"
    leaver = found[taught["leaver"]]
    assert rules("leaver") == ["ATT-3"]  # 30 of 60 minutes; every check taken of it passed
    assert leaver.shortfalls[0].numbers["study_ratio"] == 0.5 and leaver.figures["attendance_rate"] == 1.0


def test_exam3_a_pending_manual_grading_and_a_missing_exam_are_told_apart(svc, taught):
    with svc.db.session() as s:
        for a in s.query(ExamAttempt).filter(ExamAttempt.student_user_id.in_([taught["good"], taught["failed"]])):
            if a.student_user_id == taught["good"]:
                a.status, a.passed, a.score = "submitted", None, None
            else:
                s.delete(a)
    with svc.db.session() as s:
        found = {v.student_id: v for v in class_eligibility(s, taught["class_id"], svc.profiles, taught["now"])}
    assert [x.code for x in found[taught["good"]].shortfalls] == ["EXAM_NOT_GRADED"]
    assert [x.code for x in found[taught["failed"]].shortfalls] == ["EXAM_NOT_TAKEN"]


def test_exam3_a_resit_pass_counts_and_the_latest_plan_version_decides(svc, taught):
    with svc.db.session() as s:
        first = s.query(ExamPaper).filter_by(class_id=taught["class_id"]).one()
        resit = ExamPaper(class_id=first.class_id, institution_id=first.institution_id, district_code="150104",
                          course_type="SYB", title="补考", seed="y", counts={}, items=[], total_points=100,
                          pass_mark=60, duration_minutes=60, opens_at=first.opens_at, closes_at=first.closes_at,
                          created_by=first.created_by)
        s.add(resit)
        s.flush()
        s.add(ExamAttempt(paper_id=resit.id, student_user_id=taught["failed"], started_at=first.opens_at,
                          deadline=first.closes_at, submitted_at=first.opens_at, submitted_by="student",
                          status="graded", score=65, passed=True, graded_at=first.opens_at))
        s.add(BusinessPlan(class_id=first.class_id, student_user_id=taught["noplan"], version=2, course_type="SYB",
                           kind="form", form={"project_name": "小摊 v2"}, status="approved",
                           submitted_at=first.opens_at, reviewed_at=first.opens_at, credited_hours=0))
    with svc.db.session() as s:
        found = {v.student_id: v for v in class_eligibility(s, taught["class_id"], svc.profiles, taught["now"])}
    assert found[taught["failed"]].eligible and found[taught["failed"]].figures["exam_score"] == 65
    assert found[taught["noplan"]].eligible


def test_exam3_the_api_lists_verdicts_for_staff_and_supervisors_and_a_student_sees_only_their_own(svc, taught,
                                                                                                  clock):
    w, cid = taught["w"], taught["class_id"]
    clock.set(taught["now"])  # three weeks on: log in again
    for who in ("alpha_admin", "yuquan", "hohhot"):
        w.tokens[who] = w.login(who)
    w.tokens[f"student{taught['leaver']}"] = w.login(w.mobiles[taught["leaver"]])
    body = ok(w.client.get(f"/api/classes/{cid}/eligibility", headers=w.h("alpha_admin")))
    assert (body["eligible"], body["total"], body["final"]) == (1, 5, False)  # later lessons still to come
    assert {c["key"] for c in body["columns"]} >= {"eligible", "reasons"}
    for who in ("yuquan", "hohhot"):  # SUP-3: supervisors of the region read it
        assert ok(w.client.get(f"/api/classes/{cid}/eligibility", headers=w.h(who)))["total"] == 5
    csv = w.client.get(f"/api/classes/{cid}/eligibility?format=csv", headers=w.h("alpha_admin"))
    assert csv.status_code == 200 and "[ATT-4]" in csv.content.decode("utf-8-sig")
    assert w.client.get(f"/api/classes/{cid}/eligibility?format=pdf", headers=w.h("alpha_admin")).status_code == 422
    me = f"student{taught['leaver']}"
    mine = ok(w.client.get(f"/api/me/classes/{cid}/eligibility", headers=w.h(me)))
    assert mine["student_id"] == taught["leaver"] and mine["rules"] == ["ATT-3"]
    assert w.client.get(f"/api/classes/{cid}/eligibility", headers=w.h(me)).status_code == 403
    w.institution("beta")
    assert w.client.get(f"/api/classes/{cid}/eligibility", headers=w.h("beta_admin")).status_code == 404
    assert w.client.get("/api/me/classes/999999/eligibility", headers=w.h(me)).status_code == 404



def test_exam3_one_students_verdict_read_from_their_own_events_equals_the_class_verdict(svc, taught):
    """A narrowed roster reads only its students' (and staff's) events: the figures must not change."""
    with svc.db.session() as s:
        whole = {v.student_id: v for v in class_eligibility(s, taught["class_id"], svc.profiles, taught["now"])}
        for sid, v in whole.items():
            assert student_eligibility(s, taught["class_id"], sid, svc.profiles, taught["now"]) == v
        assert student_eligibility(s, taught["class_id"], 987654, svc.profiles, taught["now"]) is None
