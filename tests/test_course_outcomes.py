"""Issue 7 end to end: a simulated Hohhot SYB course of 30 students from planning to subsidy claim.

The course runs 7 days × 2 lessons (56 class-hours, CLS-4) in Yuquan district (150104), March 2023.
Attendance comes from recorded room events (the lecturer live for ten minutes each lesson, a face
sample a minute per student), the final exam is answered through the exam API, business plans are
submitted and reviewed through theirs. The test then checks the exact eligibility (EXAM-3, CLS-7),
certificate numbers (CERT-2), subsidy amounts (SUB-1) and the masked public list (SUB-3).

Students, by ascending user id (``S[i]``):

* 0–19 and 25: eligible — 25 missed one lesson (one absence, within CLS-7's limit of 2);
* 20, 21: leave each lesson after 6 of its 10 live minutes → ATT-3 (60 % < 80 %);
* 22, 23: another face from minute 7 → ATT-3 and ATT-4 (7 of 10 samples, 70 %);
* 24: absent for two whole days (4 lessons × 4 class-hours: 4 absences) → CLS-7 bars the exam, so
  ATT-3, CLS-7 and EXAM-1 (not taken: the exam refuses a barred student);
* 26: plan rejected → EXAM-2;  27: no plan → EXAM-2;  28: exam failed → EXAM-1;  29: exam not taken → EXAM-1.
* 0 and 1 later show a business licence ≥ 6 months old → SUB-1 +40 % (1200 → 1680).

Seven months on, the institution submits the claim: 19 × 1200 + 2 × 1680 = 26 160 CNY, and the
public disclosure (SUB-3) lists exactly the 21 with names, ID numbers and phones masked.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from models import Lesson
from tests.roomlog import RoomLog
from tests.world import DISTRICT, image, ok

PLANNED = datetime(2023, 2, 6, 2, 0, tzinfo=timezone.utc)  # four weeks ahead (CLS-1)
START = date(2023, 3, 6)  # → class year-month 202303 in the certificate numbers (CERT-2)
AFTER = datetime(2023, 3, 13, 2, 0, tzinfo=timezone.utc)  # the Monday after the last lesson
CLAIMED = datetime(2023, 10, 9, 2, 0, tzinfo=timezone.utc)  # a Monday after National Day (SUB-3 window)
LIVE_MINUTES = 10

# (real name, as the public list shows it): SUB-3 masks all but the first (and last) character
NAMES = [("王小明", "王*明"), ("李娜", "李*"), ("欧阳娜娜", "欧**娜"), ("张伟", "张*"), ("刘洋", "刘*"),
         ("陈静", "陈*"), ("杨帆", "杨*"), ("赵磊", "赵*"), ("黄晓燕", "黄*燕"), ("周杰", "周*"),
         ("吴敏", "吴*"), ("徐丽", "徐*"), ("孙强", "孙*"), ("马超", "马*"), ("朱红", "朱*"),
         ("胡军", "胡*"), ("郭靖", "郭*"), ("何平", "何*"), ("高峰", "高*"), ("林海", "林*"),
         ("罗兰", "罗*"), ("郑爽", "郑*"), ("梁宇", "梁*"), ("谢娟", "谢*"), ("宋佳", "宋*"),
         ("唐宁", "唐*"), ("许诺", "许*"), ("韩梅", "韩*"), ("冯刚", "冯*"), ("邓超", "邓*")]
ELIGIBLE = list(range(20)) + [25]
EXPECTED_RULES = {20: ["ATT-3"], 21: ["ATT-3"], 22: ["ATT-3", "ATT-4"], 23: ["ATT-3", "ATT-4"],
                  24: ["ATT-3", "CLS-7", "EXAM-1"], 26: ["EXAM-2"], 27: ["EXAM-2"], 28: ["EXAM-1"], 29: ["EXAM-1"]}


def feed_lesson(s, lesson: Lesson, lecturer: int, S: list[int], absent: set[int]) -> None:
    """One lesson's room log as the live room writes it, in time order."""
    t0 = lesson.starts_at.astimezone(timezone.utc)
    rows: list[tuple[float, str, int, str, dict]] = [(0, "join", lecturer, "lecturer", {}),
                                                     (0, "publish", lecturer, "lecturer", {"slot": "main"})]
    present = [i for i in range(30) if i not in absent]
    for i in present:
        rows += [(0, "join", S[i], "student", {}), (0, "publish", S[i], "student", {"slot": "camera"})]
    for k in range(LIVE_MINUTES):
        minute = k + 0.5
        for i in present:
            if i in (20, 21) and minute > 6:
                continue
            verdict = "mismatch" if i in (22, 23) and minute > 7 else "match"
            rows.append((minute, "face_check", S[i], "student", {"verdict": verdict}))
        if k == 5:
            rows += [(6, "leave", S[i], "student", {}) for i in (20, 21) if i in present]
    rows.append((LIVE_MINUTES, "lesson_end", lecturer, "lecturer", {}))
    RoomLog(s, lesson.id, t0, node_id="sim").write(rows)


@pytest.fixture
def course(world, client, clock, svc):
    clock.set(PLANNED)
    w = world
    w.institution("alpha", region=DISTRICT)
    w.supervisor("yuquan", "district", DISTRICT)
    w.supervisor("hohhot", "city", "150100")
    cid = w.ready_class("alpha", start=START, students=0, course="SYB", days=7)
    people = {}
    for name, _ in NAMES:  # registered in this order: S[i] is NAMES[i]
        data, files = w.register_form("alpha", real_name=name)
        sid = ok(client.post("/api/students/register", data=data, files=files), 201)["student"]["id"]
        w.mobiles[sid] = data["mobile"]
        people[sid] = data
        ok(client.post(f"/api/classes/{cid}/enrolments", headers=w.h("alpha_admin"), json={"student_id": sid}), 201)
    detail = w.open_class("alpha", cid, district="yuquan", city="hohhot")
    S = sorted(r["id"] for r in detail["roster"])
    assert S == sorted(people) and [people[sid]["real_name"] for sid in S] == [n for n, _ in NAMES]
    lecturer = detail["lecturers"][0]["user_id"]
    lecturer_name = next(k for k, v in w.ids.items() if v == lecturer)
    with svc.db.session() as s:
        lessons = s.scalars(select(Lesson).where(Lesson.class_id == cid).order_by(Lesson.starts_at)).all()
        assert len(lessons) == 14 and sum(l.class_hours for l in lessons) == 56
        for n, lesson in enumerate(lessons):
            absent = set()
            if n in (4, 5, 6, 7):  # days 3 and 4
                absent.add(24)
            if n == 9:
                absent.add(25)
            feed_lesson(s, lesson, lecturer, S, absent)
    clock.set(AFTER)
    for who in ("alpha_admin", "yuquan", "hohhot", lecturer_name):
        w.tokens[who] = w.login(who)
    for sid in S:
        w.tokens[f"student{sid}"] = w.login(w.mobiles[sid])
    return {"w": w, "cid": cid, "S": S, "lecturer": lecturer_name, "people": people}


def run_exam(t) -> None:
    """A five-question, 100-point paper; everyone answers right but 28 (two right: 40) and 29 (absent)."""
    w, cid, S = t["w"], t["cid"], t["S"]
    abcd = ["市场", "资金", "团队", "计划"]
    keys = {}
    for kind, answer, options in (("single", "B", abcd), ("single", "C", abcd), ("multiple", ["A", "C"], abcd),
                                  ("truefalse", True, []), ("truefalse", False, [])):
        q = ok(w.client.post("/api/exam-questions", headers=w.h("alpha_admin"), json={
            "course_type": "SYB", "kind": kind, "stem": f"{kind} {len(keys)}", "options": options,
            "answer": answer, "points": 20}), 201)
        keys[q["id"]] = answer
    wrong = {"single": "A", "multiple": ["B"], "truefalse": None}
    paper = ok(w.client.post(f"/api/classes/{cid}/exam-papers", headers=w.h("alpha_admin"), json={
        "title": "SYB 结业考试", "counts": {"single": 2, "multiple": 1, "truefalse": 2}, "seed": "e2e",
        "duration_minutes": 60, "opens_at": AFTER.isoformat(),
        "closes_at": (AFTER + timedelta(hours=4)).isoformat()}), 201)
    for i, sid in enumerate(S):
        if i == 29:
            continue
        started = w.client.post(f"/api/exam-papers/{paper['id']}/attempts", headers=w.h(f"student{sid}"))
        if i == 24:  # CLS-7: barred from the final assessment
            assert started.status_code == 409 and started.json()["error"]["rule"] == "CLS-7", started.text
            continue
        attempt = ok(started)
        for n, q in enumerate(attempt["questions"]):
            answer = keys[q["id"]]
            if i == 28 and n >= 2:
                answer = wrong[q["kind"]] if q["kind"] != "truefalse" else not keys[q["id"]]
            ok(w.client.put(f"/api/exam-attempts/{attempt['id']}/answers/{q['id']}", headers=w.h(f"student{sid}"),
                            json={"response": answer}))
        ok(w.client.post(f"/api/exam-attempts/{attempt['id']}/submit", headers=w.h(f"student{sid}")))


def run_plans(t) -> None:
    """Everyone but 27 submits a plan form; the lecturer approves all but 26's."""
    w, cid, S = t["w"], t["cid"], t["S"]
    for i, sid in enumerate(S):
        if i == 27:
            continue
        plan = ok(w.client.post(f"/api/classes/{cid}/business-plans/form", headers=w.h(f"student{sid}"), json={
            "project_name": f"社区便民店 {i}", "business_idea": "社区生鲜与代收快递", "market": "本小区 800 户",
            "finances": "启动资金 5 万元"}), 201)
        verdict = "rejected" if i == 26 else "approved"
        ok(w.client.post(f"/api/business-plans/{plan['id']}/review", headers=w.h(t["lecturer"]),
                         json={"verdict": verdict, "comment": "市场分析需补充" if i == 26 else "可行"}))


def test_issue7_a_hohhot_course_of_30_ends_in_exact_eligibility_certificates_and_subsidies(course, svc, clock):
    w, cid, S = course["w"], course["cid"], course["S"]
    run_exam(course)
    run_plans(course)
    for action in ("start", "finish"):
        ok(w.client.post(f"/api/classes/{cid}/transitions", headers=w.h("alpha_admin"), json={"action": action}))

    # EXAM-3 / CLS-7: exactly who, and every reason with its rule
    body = ok(w.client.get(f"/api/classes/{cid}/eligibility", headers=w.h("yuquan")))
    assert body["final"] and (body["eligible"], body["total"]) == (21, 30)
    verdicts = {v["student_id"]: v for v in body["items"]}
    for i, sid in enumerate(S):
        assert verdicts[sid]["eligible"] == (i in ELIGIBLE), (i, verdicts[sid]["shortfalls"])
        assert verdicts[sid]["rules"] == EXPECTED_RULES.get(i, []), (i, verdicts[sid]["shortfalls"])
    assert verdicts[S[25]]["figures"]["absences"] == 1 and verdicts[S[24]]["figures"]["absences"] == 4
    assert verdicts[S[20]]["figures"]["study_ratio"] == 0.6 and verdicts[S[22]]["figures"]["attendance_rate"] == 0.7
    assert verdicts[S[28]]["figures"]["exam_score"] == 40

    # CERT-1/3: the platform refuses a certificate the rules do not allow, naming the rule ...
    refused = w.client.post(f"/api/classes/{cid}/certificates", headers=w.h("alpha_admin"),
                            json={"student_ids": [S[0], S[20]]})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "CERT_NOT_ELIGIBLE"
    assert refused.json()["error"]["details"]["students"][0]["rules"] == ["ATT-3"]
    # ... and numbers the eligible in one go (CERT-2: PP CCCC YYYYMM course serial)
    eligible_ids = [S[i] for i in ELIGIBLE]
    certs = ok(w.client.post(f"/api/classes/{cid}/certificates", headers=w.h("alpha_admin"),
                             json={"student_ids": eligible_ids}), 201)["certificates"]
    assert [(c["student_id"], c["number"]) for c in certs] == \
        [(sid, f"150104202303SYB{n:05d}") for n, sid in enumerate(eligible_ids, start=1)]

    # SUB-1: seven months on, two graduates show a licence of a business run since March (≥ 6 months)
    clock.set(CLAIMED)
    relogin(w, S)
    for i in (0, 1):
        ev = ok(w.client.post(f"/api/classes/{cid}/subsidy/evidence", headers=w.h("alpha_admin"),
                              data={"student_id": str(S[i]), "kind": "business_licence", "started_on": "2023-03-20"},
                              files={"file": ("licence.jpg", image(), "image/jpeg")}), 201)
        ok(w.client.post(f"/api/subsidy/evidence/{ev['id']}/review", headers=w.h("alpha_admin"),
                         json={"action": "verify"}))
    roster = ok(w.client.get(f"/api/classes/{cid}/subsidy/roster", headers=w.h("yuquan")))
    amounts = {r["student_id"]: r["amount_cny"] for r in roster["items"]}
    expected = {S[i]: (1680 if i in (0, 1) else 1200) if i in ELIGIBLE else 0 for i in range(30)}
    assert amounts == expected
    assert (roster["totals"]["claimed"], roster["totals"]["total_cny"]) == (21, 26160)
    reasons = {r["student_id"]: r["reason"]["code"] for r in roster["items"] if r["reason"]}
    assert reasons == {S[i]: "NOT_ELIGIBLE" for i in EXPECTED_RULES}

    # SUB-2/3: the claim freezes the roster and opens the masked public list for 5 working days
    ok(w.client.put(f"/api/institutions/{w.ids['alpha']}/bank-account", headers=w.h("alpha_admin"),
                    json={"account_name": "呼和浩特市阿尔法职业培训学校", "bank_name": "中国银行呼和浩特分行",
                          "account_number": "6217 0000 1234 5678"}))
    claim = ok(w.client.post(f"/api/classes/{cid}/subsidy/claim", headers=w.h("alpha_admin")), 201)
    assert (claim["total_cny"], claim["disclosure"]["starts_on"], claim["disclosure"]["ends_on"]) == \
        (26160, "2023-10-09", "2023-10-13")
    public = ok(w.client.get(claim["disclosure"]["url"]))
    people = course["people"]
    listed = sorted((r["name_masked"], r["id_number_masked"], r["mobile_masked"], r["amount_cny"])
                    for r in public["items"])
    assert listed == sorted((NAMES[i][1], people[S[i]]["id_number"][:4] + "*" * 10 + people[S[i]]["id_number"][-4:],
                             people[S[i]]["mobile"][:3] + "****" + people[S[i]]["mobile"][-4:], expected[S[i]])
                            for i in ELIGIBLE)
    assert {r["course_name"] for r in public["items"]} == {"创办企业培训（SYB）"}
    page = w.client.get(f"/disclosure?t={claim['disclosure']['token']}")  # the public page that shows it
    assert page.status_code == 200 and "/static/disclosure.js" in page.text
    text = str(public)
    assert not any(people[sid]["real_name"] in text or people[sid]["id_number"] in text for sid in S
                   if len(people[sid]["real_name"]) > 2)


def relogin(w, S) -> None:
    """The clock jumped: every session has expired."""
    for who in ("alpha_admin", "yuquan", "hohhot"):
        w.tokens[who] = w.login(who)
    for sid in S:
        w.tokens[f"student{sid}"] = w.login(w.mobiles[sid])
