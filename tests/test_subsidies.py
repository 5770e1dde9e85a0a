"""Subsidy rosters (SUB-1..4): amounts per profile, business-success evidence, disclosure, bundle.

Eligibility (EXAM-3) is the lead's module; here ``server.outcomes.eligibility.class_eligibility`` is
replaced by :func:`fake_eligibility` so students are eligible (or not) without the attendance pipeline.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from datetime import date, datetime, timezone
from types import MappingProxyType

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select

from models import AuditLog, Base, StudentProfile, TrainingClass
from models.db import alembic_config
from models.subsidies import SubsidyClaim
from server.subsidies import disclosure, evidence
from server.workdays import WorkdayCalendar
from tests.outcomes import everyone_eligible
from tests.world import err, image, ok

CREATED = datetime(2023, 2, 6, 2, 0, tzinfo=timezone.utc)  # a Monday, four weeks before the classes
START = date(2023, 3, 6)
AFTER = datetime(2023, 9, 28, 2, 0, tzinfo=timezone.utc)  # Thursday before the 2023 National Day holiday
BUSINESS_START = "2023-03-20"  # six whole months before AFTER
BEIJING_DISTRICT = "110105"
BAOTOU_DISTRICT = "150203"


def make_class(w, inst: str, course: str, names: list[str]) -> tuple[int, list[int]]:
    cid = w.ready_class(inst, start=START, students=0, course=course)
    sids = []
    for name in names:
        sid = w.student(inst, real_name=name)
        ok(w.client.post(f"/api/classes/{cid}/enrolments", headers=w.h(f"{inst}_admin"), json={"student_id": sid}), 201)
        sids.append(sid)
    return cid, sids


def relogin(w) -> None:
    """After the clock jumps months ahead every session has expired: log everyone in again."""
    for key in list(w.tokens):
        name = w.mobiles[int(key[7:])] if key.startswith("student") else key
        w.tokens[key] = w.login(name)


def finish(svc, cid: int) -> None:
    with svc.db.session() as s:
        s.get(TrainingClass, cid).status = "finished"


def upload(w, cid, who, *, student_id=None, kind="business_licence", started_on=BUSINESS_START, sales=None,
           file=None):
    data = {"kind": kind, "started_on": started_on}
    if student_id is not None:
        data["student_id"] = str(student_id)
    if sales is not None:
        data["monthly_sales"] = sales
    return w.client.post(f"/api/classes/{cid}/subsidy/evidence", headers=w.h(who), data=data,
                         files={"file": file or ("licence.jpg", image(), "image/jpeg")})


def review(w, ev_id, who, action="verify", note=None):
    body = {"action": action} | ({"note": note} if note else {})
    return w.client.post(f"/api/subsidy/evidence/{ev_id}/review", headers=w.h(who), json=body)


def roster(w, cid, who):
    return ok(w.client.get(f"/api/classes/{cid}/subsidy/roster", headers=w.h(who)))


def by_student(data) -> dict:
    return {r["student_id"]: r for r in data["items"]}


def verified(w, cid, sid, **kw) -> dict:
    """Evidence uploaded by the institution admin for the student and verified by them."""
    ev = ok(upload(w, cid, "alpha_admin", student_id=sid, **kw), 201)
    return ok(review(w, ev["id"], "alpha_admin"))


@pytest.fixture
def hohhot(world, clock, svc, monkeypatch):
    """Alpha (Hohhot, Yuquan): SYB of two, WLC of two, IYB of one, all finished; clock after training."""
    clock.set(CREATED)
    w = world
    w.institution("alpha")
    w.institution("beta")
    w.supervisor("yuquan", "district", "150104")
    syb, (s1, s2) = make_class(w, "alpha", "SYB", ["王小明", "李四"])
    wlc, (n1, n2) = make_class(w, "alpha", "WLC", ["赵六", "钱七"])
    iyb, (i1,) = make_class(w, "alpha", "IYB", ["孙八"])
    for cid in (syb, wlc, iyb):
        finish(svc, cid)
    ineligible: set[int] = set()
    everyone_eligible(monkeypatch, ineligible)
    clock.set(AFTER)
    relogin(w)
    return {"w": w, "syb": syb, "wlc": wlc, "iyb": iyb, "s1": s1, "s2": s2, "n1": n1, "n2": n2, "i1": i1,
            "ineligible": ineligible}


def test_sub1_hohhot_amounts_with_verified_success_evidence(hohhot):
    """SUB-1 Hohhot: SYB 1200 → 1680 and WLC 1600 → 2240 with a verified ≥ 6-month business; IYB stays 1200."""
    h, w = hohhot, hohhot["w"]
    verified(w, h["syb"], h["s1"])
    ev = ok(upload(w, h["syb"], f"student{h['s2']}"), 201)  # the student's own upload, not yet verified
    assert ev["status"] == "submitted" and ev["counts"] is False and ev["supplement_applies"] is True
    verified(w, h["wlc"], h["n1"], kind="online_shop", sales="100,200,300,400,500,600")  # no sales floor in Hohhot
    iyb_ev = verified(w, h["iyb"], h["i1"])
    assert iyb_ev["qualification"]["code"] == "NO_SUPPLEMENT"

    rows = by_student(roster(w, h["syb"], "alpha_admin"))
    assert rows[h["s1"]]["amount_cny"] == 1680 and rows[h["s1"]]["base_cny"] == 1200
    assert rows[h["s1"]]["supplement_cny"] == 480 and rows[h["s1"]]["business_success"] is True
    assert rows[h["s2"]]["amount_cny"] == 1200, "unverified evidence does not count"
    rows = by_student(roster(w, h["wlc"], "alpha_admin"))
    assert rows[h["n1"]]["amount_cny"] == 2240 and rows[h["n2"]]["amount_cny"] == 1600
    data = roster(w, h["iyb"], "alpha_admin")
    assert data["items"][0]["amount_cny"] == 1200 and data["items"][0]["supplement_cny"] == 0
    assert data["totals"]["total_cny"] == 1200 and data["totals"]["advance_cny"] is None


def test_sub1_business_younger_than_six_months_or_started_before_training_does_not_count(hohhot):
    h, w = hohhot, hohhot["w"]
    young = verified(w, h["syb"], h["s1"], started_on="2023-04-01")
    assert young["counts"] is False and young["qualification"]["code"] == "TOO_YOUNG"
    assert young["qualification"]["numbers"]["months"] == 5
    early = verified(w, h["syb"], h["s2"], started_on="2023-01-10")
    assert early["qualification"]["code"] == "STARTED_BEFORE_TRAINING"
    rows = by_student(roster(w, h["syb"], "alpha_admin"))
    assert rows[h["s1"]]["amount_cny"] == rows[h["s2"]]["amount_cny"] == 1200


def test_sub1_rejected_evidence_does_not_count_and_rejection_needs_a_note(hohhot):
    h, w = hohhot, hohhot["w"]
    ev = ok(upload(w, h["syb"], "alpha_admin", student_id=h["s1"]), 201)
    assert err(review(w, ev["id"], "alpha_admin", "reject"), 422)["code"] == "NOTE_REQUIRED"
    assert ok(review(w, ev["id"], "alpha_admin", "reject", note="执照照片模糊"))["status"] == "rejected"
    assert err(review(w, ev["id"], "alpha_admin"), 409)["code"] == "ALREADY_REVIEWED"
    assert by_student(roster(w, h["syb"], "alpha_admin"))[h["s1"]]["amount_cny"] == 1200
    with w.svc.db.session() as s:
        actions = set(s.scalars(select(AuditLog.action)))
    assert {"subsidy.evidence.upload", "subsidy.evidence.rejected"} <= actions


def test_exam3_ineligible_student_gets_zero_with_the_shortfall(hohhot):
    h, w = hohhot, hohhot["w"]
    h["ineligible"].add(h["s2"])
    data = roster(w, h["syb"], "alpha_admin")
    row = by_student(data)[h["s2"]]
    assert row["amount_cny"] == 0 and row["claimed"] is False
    assert row["reason"]["code"] == "NOT_ELIGIBLE" and "ATT-4" in row["reason"]["message_zh"]
    assert row["shortfalls"][0]["numbers"] == {"attendance_rate": 0.5, "threshold": 0.8}
    assert data["totals"] == dict(data["totals"], students=2, eligible=1, claimed=1, total_cny=1200)


def test_sub1_evidence_refusals(hohhot, svc):
    """Bad files, wrong roles, wrong students, bad figures are refused with a clear error."""
    h, w = hohhot, hohhot["w"]
    cid, sid = h["syb"], h["s1"]
    assert err(upload(w, cid, "alpha_admin", student_id=sid, file=("a.txt", b"hello world", "text/plain")),
               422)["code"] == "EVIDENCE_FILE_INVALID"
    assert err(upload(w, cid, "alpha_admin", student_id=sid, file=("a.pdf", b"%PDF-1.4\n1 0 obj", "application/pdf")),
               422)["code"] == "EVIDENCE_FILE_INVALID"
    fake_jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 200
    assert err(upload(w, cid, "alpha_admin", student_id=sid, file=("a.jpg", fake_jpeg, "image/jpeg")), 422)
    big = b"%PDF-1.4\n" + b"0" * (evidence.MAX_EVIDENCE_BYTES + 1) + b"\n%%EOF"
    assert err(upload(w, cid, "alpha_admin", student_id=sid, file=("big.pdf", big, "application/pdf")),
               413)["code"] in ("EVIDENCE_FILE_TOO_LARGE", "PAYLOAD_TOO_LARGE")
    pdf = ok(upload(w, cid, "alpha_admin", student_id=sid,
                    file=("ok.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "application/pdf")), 201)
    got = w.client.get(f"/api/subsidy/evidence/{pdf['id']}/file", headers=w.h(f"student{sid}"))
    assert got.status_code == 200 and got.content.startswith(b"%PDF-")
    assert w.client.get(f"/api/subsidy/evidence/{pdf['id']}/file", headers=w.h(f"student{h['s2']}")).status_code == 404
    assert w.client.get(f"/api/subsidy/evidence/{pdf['id']}/file", headers=w.h("beta_admin")).status_code == 404
    assert err(upload(w, cid, "alpha_admin", student_id=sid, kind="shop"), 422)["code"] == "EVIDENCE_KIND"
    assert err(upload(w, cid, "alpha_admin", student_id=sid, started_on="2030-01-01"), 422)["code"] == "DATE_IN_FUTURE"
    assert err(upload(w, cid, "alpha_admin", student_id=sid, started_on="20.3.2023"), 422)["code"] == "DATE_FORMAT"
    assert err(upload(w, cid, "alpha_admin", student_id=sid, kind="online_shop"), 422)["code"] == "SALES_REQUIRED"
    assert err(upload(w, cid, "alpha_admin", student_id=sid, kind="online_shop", sales="3000,abc"),
               422)["code"] == "SALES_FORMAT"
    assert err(upload(w, cid, "alpha_admin"), 422)["field"] == "student_id"
    assert err(upload(w, cid, "alpha_admin", student_id=h["n1"]), 422)["code"] == "NOT_ENROLLED"
    assert err(upload(w, cid, f"student{sid}", student_id=h["s2"]), 403)
    assert err(upload(w, h["wlc"], f"student{sid}"), 404)  # not the student's class
    assert err(upload(w, cid, "beta_admin", student_id=sid), 404)
    assert err(upload(w, cid, "yuquan", student_id=sid), 403)
    ev = ok(upload(w, cid, f"student{sid}"), 201)
    assert err(review(w, ev["id"], f"student{sid}"), 403)
    assert err(review(w, ev["id"], "beta_admin"), 404)
    listed = ok(w.client.get(f"/api/classes/{cid}/subsidy/evidence", headers=w.h(f"student{h['s2']}")))
    assert listed["items"] == []  # a student sees only their own evidence


def test_sub1_evidence_before_the_training_ends_is_refused(hohhot, clock):
    h, w = hohhot, hohhot["w"]
    clock.set(datetime(2023, 3, 8, 2, 0, tzinfo=timezone.utc))
    assert err(upload(w, h["syb"], "alpha_admin", student_id=h["s1"]), 422)["code"] == "TRAINING_NOT_FINISHED"


def test_sub1_roster_roles_and_exports(hohhot):
    h, w = hohhot, hohhot["w"]
    assert w.client.get(f"/api/classes/{h['syb']}/subsidy/roster", headers=w.h("beta_admin")).status_code == 404
    assert roster(w, h["syb"], "yuquan")["totals"]["claimed"] == 2
    assert w.client.get(f"/api/classes/{h['syb']}/subsidy/roster", headers=w.h(f"student{h['s1']}")).status_code == 403
    csv = w.client.get(f"/api/classes/{h['syb']}/subsidy/roster", params={"format": "csv"}, headers=w.h("alpha_admin"))
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    text = csv.content.decode("utf-8-sig")
    assert "补贴金额(元) Amount (CNY)" in text and "王小明" in text and "1200" in text
    xlsx = w.client.get(f"/api/classes/{h['syb']}/subsidy/roster", params={"format": "xlsx"}, headers=w.h("alpha_admin"))
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert err(w.client.get(f"/api/classes/{h['syb']}/subsidy/roster", params={"format": "pdf"},
                            headers=w.h("alpha_admin")), 422)


@pytest.fixture
def beijing(world, clock, svc, monkeypatch):
    clock.set(CREATED)
    w = world
    w.institution("alpha", region=BEIJING_DISTRICT, profile="beijing")
    cid, sids = make_class(w, "alpha", "SYB", ["周一", "吴二", "郑三"])
    finish(svc, cid)
    everyone_eligible(monkeypatch, set())
    clock.set(AFTER)
    relogin(w)
    return w, cid, sids


def test_sub1_beijing_practice_guidance_bonus_and_shop_sales(beijing):
    """SUB-1 Beijing: +1000 for a licence ≥ 6 months, or a shop ≥ 6 months averaging ≥ 3000 CNY a month."""
    w, cid, (a, b, c) = beijing
    verified(w, cid, a)
    verified(w, cid, b, kind="online_shop", sales="3000,3500,4000,3000,3200,3300")
    low = verified(w, cid, c, kind="online_shop", sales="2000,2000,2000,2000,2000,2000")
    assert low["qualification"]["code"] == "SALES_LOW" and low["qualification"]["numbers"]["min_average"] == 3000
    rows = by_student(roster(w, cid, "alpha_admin"))
    assert rows[a]["amount_cny"] == 2500 and rows[a]["supplement_cny"] == 1000
    assert rows[b]["amount_cny"] == 2500
    assert rows[c]["amount_cny"] == 1500


def test_sub1_beijing_shop_needs_six_months_of_sales(beijing):
    w, cid, (a, _, _) = beijing
    few = verified(w, cid, a, kind="online_shop", sales="9000,9000")
    assert few["qualification"]["code"] == "SALES_MONTHS_MISSING"


@pytest.fixture
def baotou(world, clock, svc, monkeypatch):
    clock.set(CREATED)
    w = world
    w.institution("alpha", region=BAOTOU_DISTRICT, profile="baotou")
    cid, sids = make_class(w, "alpha", "SYB", ["冯九", "陈十"])
    finish(svc, cid)
    everyone_eligible(monkeypatch, set())
    clock.set(AFTER)
    relogin(w)
    ok(w.client.put(f"/api/institutions/{w.ids['alpha']}/bank-account", headers=w.h("alpha_admin"), json={
        "account_name": "alpha 培训学校", "bank_name": "中国工商银行包头分行", "account_number": "6222 0000 1111 2222"}))
    return w, cid, sids


def test_sub1_baotou_unknown_amount_is_reported_and_cannot_be_claimed(baotou):
    w, cid, sids = baotou
    data = roster(w, cid, "alpha_admin")
    row = data["items"][0]
    assert row["amount_cny"] is None and row["reason"]["code"] == "AMOUNT_UNKNOWN" and row["reason"]["rule"] == "SUB-1"
    assert data["totals"]["total_cny"] is None and data["totals"]["amount_unknown"] == 2
    e = err(w.client.post(f"/api/classes/{cid}/subsidy/claim", headers=w.h("alpha_admin")), 422)
    assert e["code"] == "AMOUNT_UNKNOWN"


def test_sub4_without_an_advance_claim_the_final_claim_asks_for_everything(baotou, svc):
    """SUB-4: the profile pays an advance, but none was claimed for this class: the final claim asks for
    everything (the advance flow itself: tests/test_subsidy_advance.py)."""
    w, cid, sids = baotou
    p = svc.profiles["baotou"]
    syb = dataclasses.replace(p.courses["SYB"], subsidy_cny=1001)
    svc.profiles["baotou"] = dataclasses.replace(p, courses=MappingProxyType(dict(p.courses, SYB=syb)))
    data = roster(w, cid, "alpha_admin")
    assert data["advance_payment_share"] == 0.2 and data["advance_claimed"] is False
    assert [(r["amount_cny"], r["advance_cny"], r["remaining_cny"]) for r in data["items"]] == [(1001, 0, 1001)] * 2
    assert data["totals"]["advance_cny"] == 0 and data["totals"]["remaining_cny"] == 2002


def test_sub3_disclosure_window_counts_working_days_across_national_day():
    cal = WorkdayCalendar()
    w = disclosure.window(cal, date(2023, 9, 28), 5)  # 9-28, make-up Sat 10-07, Sun 10-08, 10-09, 10-10
    assert (w.starts_on, w.ends_on) == (date(2023, 9, 28), date(2023, 10, 10))
    w = disclosure.window(cal, date(2023, 10, 1), 5)  # a holiday: counting starts on the next working day
    assert w.ends_on == date(2023, 10, 11)
    assert disclosure.status(w.starts_on, w.ends_on, date(2023, 10, 12)) == "ended"


def test_sub3_masking_is_consistent_with_the_platform():
    rows = disclosure.public_rows([{"name": "王小明", "id_number_masked": "1101**********0021",
                                    "mobile_masked": "139****0001", "amount_cny": 1200, "claimed": True},
                                   {"name": "李四", "id_number_masked": "x", "mobile_masked": "y", "amount_cny": 0,
                                    "claimed": False}], "创办企业培训（SYB）")
    assert rows == [{"name_masked": "王*明", "id_number_masked": "1101**********0021", "mobile_masked": "139****0001",
                     "course_name": "创办企业培训（SYB）", "amount_cny": 1200}]


def test_sub2_sub3_claim_freezes_roster_discloses_masked_rows_and_bundles_the_papers(hohhot, svc, clock):
    h, w = hohhot, hohhot["w"]
    cid = h["syb"]
    verified(w, cid, h["s1"])
    claim_url = f"/api/classes/{cid}/subsidy/claim"
    assert err(w.client.post(claim_url, headers=w.h("alpha_admin")), 422)["code"] == "BANK_ACCOUNT_MISSING"
    assert err(w.client.put(f"/api/institutions/{w.ids['alpha']}/bank-account", headers=w.h("beta_admin"), json={
        "account_name": "某某", "bank_name": "某银行", "account_number": "62220000111122"}), 404)
    assert err(w.client.put(f"/api/institutions/{w.ids['alpha']}/bank-account", headers=w.h("alpha_admin"), json={
        "account_name": "alpha 培训学校", "bank_name": "工商银行", "account_number": "abc"}), 422)
    ok(w.client.put(f"/api/institutions/{w.ids['alpha']}/bank-account", headers=w.h("alpha_admin"), json={
        "account_name": "alpha 培训学校", "bank_name": "中国工商银行呼和浩特分行", "account_number": "6222000011112222"}))
    bank = ok(w.client.get(f"/api/institutions/{w.ids['alpha']}/bank-account", headers=w.h("yuquan")))
    assert bank["bank_account"]["account_number"] == "6222000011112222"
    ok(w.client.post(f"/api/classes/{cid}/certificates", headers=w.h("alpha_admin"),
                     json={"student_ids": [h["s1"], h["s2"]]}), 201)
    assert err(w.client.post(claim_url, headers=w.h("yuquan")), 403)
    assert err(w.client.post(claim_url, headers=w.h("beta_admin")), 404)
    claim = ok(w.client.post(claim_url, headers=w.h("alpha_admin")), 201)
    assert claim["total_cny"] == 1680 + 1200
    assert claim["disclosure"]["starts_on"] == "2023-09-28" and claim["disclosure"]["ends_on"] == "2023-10-10"
    assert err(w.client.post(claim_url, headers=w.h("alpha_admin")), 409)["code"] == "CLAIM_ALREADY_SUBMITTED"

    public = w.client.get(claim["disclosure"]["url"])  # no login
    body = ok(public)
    assert body["status"] == "open" and body["total_cny"] == 2880
    rows = {r["name_masked"]: r for r in body["items"]}
    assert set(rows) == {"王*明", "李*"}
    assert rows["王*明"]["amount_cny"] == 1680 and rows["王*明"]["mobile_masked"].count("*") == 4
    assert rows["王*明"]["id_number_masked"][4:14] == "*" * 10
    text = public.text
    with svc.db.session() as s:
        people = {p.user_id: p for p in s.scalars(select(StudentProfile))}
    for p in people.values():
        assert p.real_name not in text and p.mobile not in text
    listed = ok(w.client.get("/api/public/subsidy-disclosures"))["items"]
    assert [x["token"] for x in listed] == [claim["disclosure"]["token"]] and "items" not in listed[0]

    # frozen: a later change to the class does not alter what was disclosed or claimed
    h["ineligible"].add(h["s1"])
    assert ok(w.client.get(claim["disclosure"]["url"]))["total_cny"] == 2880
    assert ok(w.client.get(claim_url, headers=w.h("yuquan")))["snapshot"]["totals"]["total_cny"] == 2880
    assert roster(w, cid, "alpha_admin")["totals"]["total_cny"] == 1200  # the live view moves on
    ev = ok(upload(w, cid, "alpha_admin", student_id=h["s2"]), 201)
    assert err(review(w, ev["id"], "alpha_admin"), 409)["code"] == "CLAIM_SUBMITTED"

    # the bundle (SUB-2)
    assert w.client.get(f"{claim_url}/bundle").status_code == 401
    assert w.client.get(f"{claim_url}/bundle", headers=w.h("beta_admin")).status_code == 404
    got = w.client.get(f"{claim_url}/bundle", headers=w.h("yuquan"))
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(got.content))
    names = zf.namelist()
    manifest = json.loads(zf.read("manifest.json"))
    assert {f["name"] for f in manifest["files"]} == set(names) - {"manifest.json"}
    for f in manifest["files"]:
        assert hashlib.sha256(zf.read(f["name"])).hexdigest() == f["sha256"]
    assert zf.read("01_申请表_application.pdf").startswith(b"%PDF-")
    assert zf.read("05_垫付协议_advance_agreement.pdf").startswith(b"%PDF-")
    assert "02_花名册_roster.csv" in names and "02_花名册_roster.xlsx" in names
    ids = [n for n in names if n.startswith("03_身份证_id/")]
    assert len(ids) == 4 and all(zf.read(n)[:3] == b"\xff\xd8\xff" for n in ids)
    certs = [n for n in names if n.startswith("04_合格证_certificates/")]
    assert len(certs) == 2 and all(n.endswith(".pdf") and zf.read(n).startswith(b"%PDF-") for n in certs)
    bank = json.loads(zf.read("06_银行账户_bank_account.json"))
    assert bank["account_number"] == "6222000011112222"
    with svc.db.session() as s:
        stored = s.scalars(select(SubsidyClaim)).one()
        actions = [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert stored.bundle_file_id is not None
    assert "subsidy.claim.submit" in actions and "subsidy.bundle.download" in actions

    clock.set(datetime(2023, 10, 11, 2, 0, tzinfo=timezone.utc))
    assert err(w.client.get(claim["disclosure"]["url"]), 410)["code"] == "DISCLOSURE_ENDED"
    assert ok(w.client.get("/api/public/subsidy-disclosures"))["items"] == []
    assert err(w.client.get("/api/public/subsidy-disclosures/nope-nope-nope"), 404)


def test_sub2_claim_refused_before_the_class_finishes(hohhot, svc):
    h, w = hohhot, hohhot["w"]
    with svc.db.session() as s:
        s.get(TrainingClass, h["syb"]).status = "in_progress"
    ok(w.client.put(f"/api/institutions/{w.ids['alpha']}/bank-account", headers=w.h("alpha_admin"), json={
        "account_name": "alpha 培训学校", "bank_name": "工商银行", "account_number": "6222000011112222"}))
    e = err(w.client.post(f"/api/classes/{h['syb']}/subsidy/claim", headers=w.h("alpha_admin")), 422)
    assert e["code"] == "CLASS_NOT_FINISHED"
    assert w.client.get(f"/api/classes/{h['syb']}/subsidy/claim", headers=w.h("alpha_admin")).status_code == 404


def test_migration_0015_matches_the_models(database):
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    mine = ("business_evidence", "subsidy_flag_clearances", "subsidy_claims", "institution_bank_accounts")
    assert [d for d in diff if any(t in repr(d) for t in mine)] == []
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_revision("0015").down_revision == "0014"
