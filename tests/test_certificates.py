"""Numbered, sealed electronic certificates (CERT-1..4): numbering, issuance, seal, public check, revocation."""
from __future__ import annotations

import base64
import json
import threading
from datetime import date, datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from models import AuditLog, Base, Enrolment, TrainingClass, User
from models.certificates import Certificate, CertificateCounter
from models.db import Database, alembic_config
from recorder.signing import canonical, load_platform_key
from server.certificates import issuing, numbering, signing
from tests.outcomes import everyone_eligible
from tests.world import err, ok

NOW = datetime(2023, 2, 6, 2, 0, tzinfo=timezone.utc)  # a Monday, four weeks before the class
START = date(2023, 3, 6)  # March 2023 → year-month 202303, as in the CERT-2 example


def finish(svc, cid: int) -> None:
    with svc.db.session() as s:
        s.get(TrainingClass, cid).status = "finished"


def finished_town(w, clock, svc, monkeypatch, students: int) -> dict:
    """Yuquan district (150104): a finished WLC class of ``students`` at alpha, whose students are all
    eligible (EXAM-3 itself: tests/test_eligibility.py, test_course_outcomes.py); beta exists too."""
    everyone_eligible(monkeypatch)
    clock.set(NOW)
    w.institution("alpha")
    w.institution("beta")
    cid = w.ready_class("alpha", start=START, students=students, course="WLC", days=5)
    finish(svc, cid)
    with svc.db.session() as s:
        ids = sorted(e.student_user_id for e in s.scalars(select(Enrolment).where(Enrolment.class_id == cid)))
    return {"w": w, "cid": cid, "students": ids}


@pytest.fixture
def town(world, clock, svc, monkeypatch):
    """A finished WLC class of three at alpha (finished_town)."""
    return finished_town(world, clock, svc, monkeypatch, 3)


def issue(w, cid, ids, who="alpha_admin"):
    return w.client.post(f"/api/classes/{cid}/certificates", headers=w.h(who), json={"student_ids": ids})


def verify(client, number, code):
    return client.get(f"/api/public/certificates/{number}", params={"c": code})


def test_cert2_number_matches_the_hohhot_example_and_serials_follow(town, svc):
    w, cid, sids = town["w"], town["cid"], town["students"]
    certs = ok(issue(w, cid, sids[:2]), 201)["certificates"]
    assert [c["number"] for c in certs] == ["150104202303WLC00001", "150104202303WLC00002"]
    c = certs[0]
    assert (c["course_type"], c["class_hours"], c["start_date"], c["end_date"]) == \
        ("WLC", 40, "2023-03-06", "2023-03-10")
    assert c["seal_ok"] and c["status"] == "valid" and len(c["check_code"]) == 8
    # CERT-1: sealed with alpha's own seal key (created by this first issuance), not the platform key
    keys = ok(w.client.get("/api/public/seal-keys", params={"institution_id": w.ids["alpha"]}))["keys"]
    assert [(k["key_id"], k["status"]) for k in keys] == [(c["key_id"], "current")]
    assert c["key_id"] != load_platform_key(svc.settings).public.id
    assert c["verify_url"] == f"/verify?n={c['number']}&c={c['check_code']}"
    third = ok(issue(w, cid, [sids[2]]), 201)["certificates"][0]
    assert third["number"] == "150104202303WLC00003"
    listed = ok(w.client.get(f"/api/classes/{cid}/certificates", headers=w.h("alpha_admin")))["certificates"]
    assert [x["serial"] for x in listed] == [1, 2, 3] and all(x["seal_ok"] for x in listed)
    with svc.db.session() as s:  # CERT-4: every issuance is on record
        audits = s.scalars(select(AuditLog).where(AuditLog.action == "certificate.issue")).all()
        assert sorted(a.detail["number"] for a in audits) == [x["number"] for x in listed]


def test_cert1_issuance_refusals(town, svc):
    w, cid, sids = town["w"], town["cid"], town["students"]
    other = w.ready_class("beta", start=START, students=1, days=5)
    e = err(issue(w, other, [sids[0]], who="beta_admin"), 409)  # not finished yet
    assert (e["code"], e["rule"]) == ("CERT_CLASS_NOT_FINISHED", "CERT-1")
    finish(svc, other)
    e = err(issue(w, other, [sids[0]], who="beta_admin"), 422)  # not on that roll
    assert (e["code"], e["field"], e["details"]["student_ids"]) == ("CERT_NOT_ENROLLED", "student_ids", [sids[0]])
    assert err(issue(w, cid, [sids[0]], who="beta_admin"), 404)["code"] == "NOT_FOUND"  # another institution's class
    assert err(issue(w, cid, [sids[0], sids[0]]), 422)["code"] == "CERT_DUPLICATE_STUDENT"
    assert err(issue(w, cid, []), 422)["field"] == "student_ids"
    ok(issue(w, cid, [sids[0]]), 201)
    e = err(issue(w, cid, [sids[1], sids[0]]), 409)  # one certificate per student per class
    assert (e["code"], e["details"]["student_ids"]) == ("CERT_ALREADY_ISSUED", [sids[0]])
    assert issue(w, cid, [sids[1]], who="admin").status_code == 403  # only the institution issues
    # the refused requests took no serial: the next one is 00002 (CERT-2, no gaps)
    assert ok(issue(w, cid, [sids[1]]), 201)["certificates"][0]["number"] == "150104202303WLC00002"
    # the beta SYB class of the same district and month is its own series
    with svc.db.session() as s:
        beta_sid = s.scalars(select(Enrolment.student_user_id).where(Enrolment.class_id == other)).one()
    assert ok(issue(w, other, [beta_sid], who="beta_admin"), 201)["certificates"][0]["number"] == "150104202303SYB00001"


def test_cert2_rolled_back_issuance_leaves_no_gap(town, svc):
    cid, sids = town["cid"], town["students"]
    from recorder.signing import load_platform_key
    key = load_platform_key(svc.settings)
    profile = svc.profiles["hohhot"]

    def once(sid, commit):
        with svc.db.sessions() as s:
            cls = s.get(TrainingClass, cid)
            admin = s.scalars(select(User).where(User.username == "alpha_admin")).one()
            cert = issuing.issue(s, cls=cls, student_ids=[sid], issuer=admin, profile=profile, key=key, now=NOW)[0]
            (s.commit if commit else s.rollback)()
            return cert.number

    assert once(sids[0], commit=False) == "150104202303WLC00001"
    assert once(sids[1], commit=True) == "150104202303WLC00001"
    assert once(sids[2], commit=True) == "150104202303WLC00002"
    with svc.db.session() as s:
        assert s.scalars(select(CertificateCounter.last_serial)).one() == 2


def test_cert2_twenty_parallel_issuers_get_serials_1_to_20(world, clock, svc, monkeypatch):
    """Done-when (issue 7 §5): 20 issuers at once, each in its own session → 00001..00020, no gap, no duplicate.
    On PostgreSQL the counter's row lock orders them (without it they collide on the unique number);
    SQLite serialises writers."""
    everyone_eligible(monkeypatch)
    clock.set(NOW)
    w = world
    w.institution("alpha")
    cid = w.ready_class("alpha", start=START, students=1, course="WLC", days=5)
    finish(svc, cid)
    from recorder.signing import load_platform_key
    key, profile = load_platform_key(svc.settings), svc.profiles["hohhot"]
    with svc.db.session() as s:
        ids = []
        for i in range(20):
            u = User(username=f"par{i}", password_hash="x", role="student", display_name=f"学员{i}", created_at=NOW)
            s.add(u)
            s.flush()
            s.add(Enrolment(class_id=cid, student_user_id=u.id, status="enrolled", year=2023, course_type="WLC"))
            ids.append(u.id)
    barrier, numbers, errors = threading.Barrier(20), [], []
    db = Database(svc.db.url, pool_size=20, max_overflow=2)  # the test pool holds 15: every issuer needs its own

    def issuer(sid):
        try:
            with db.sessions() as s:
                cls = s.get(TrainingClass, cid)
                admin = s.scalars(select(User).where(User.username == "alpha_admin")).one()
                barrier.wait(timeout=30)
                cert = issuing.issue(s, cls=cls, student_ids=[sid], issuer=admin, profile=profile, key=key, now=NOW)[0]
                s.commit()
                numbers.append(cert.number)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=issuer, args=(sid,)) for sid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    db.dispose()
    assert errors == []
    assert sorted(numbers) == [f"150104202303WLC{i:05d}" for i in range(1, 21)]
    with svc.db.session() as s:
        serials = sorted(s.scalars(select(Certificate.serial)))
        assert serials == list(range(1, 21))


def test_cert1_public_verification_shows_no_personal_data(town, client):
    w, cid, sids = town["w"], town["cid"], town["students"]
    c = ok(issue(w, cid, [sids[0]]), 201)["certificates"][0]
    v = ok(verify(client, c["number"], c["check_code"]))
    assert (v["status"], v["valid"], v["number"], v["course_type"], v["class_hours"]) == \
        ("valid", True, c["number"], "WLC", 40)
    assert v["institution_name"] == "alpha 培训学校" and v["issued_on"] == "2023-02-06" and v["revoked_on"] is None
    assert v["holder"] == "张*" and "张三" not in str(v) and "student_id" not in v
    assert ok(verify(client, c["number"], c["check_code"].lower()))["valid"]
    # a wrong or missing check code is answered as an unknown number: numbers cannot be enumerated
    for code in ("AAAAAAAA", "", "张三丰"):
        assert err(verify(client, c["number"], code), 404)["code"] == "CERT_NOT_FOUND"
    assert err(verify(client, "150104202303WLC00099", c["check_code"]), 404)["code"] == "CERT_NOT_FOUND"
    assert err(verify(client, "证" * 60, "x"), 404)["code"] == "CERT_NOT_FOUND"
    page = client.get("/static/verify.js")  # the public page's script (page path /verify, registered in app.py)
    assert page.status_code == 200 and "/api/public/certificates/" in page.text


@pytest.mark.parametrize("column,value", [
    ("student_name", "李四"), ("class_hours", 80), ("number", "150104202303WLC00077"),
    ("issued_at", "2023-01-01 00:00:00"), ("institution_name", "冒名机构"),
    ("student_id_masked", "1501**********0000")])
def test_cert1_a_tampered_certificate_fails_verification(town, client, svc, column, value):
    w, cid, sids = town["w"], town["cid"], town["students"]
    c = ok(issue(w, cid, [sids[0]]), 201)["certificates"][0]
    with svc.db.engine.begin() as conn:
        conn.execute(text(f"UPDATE certificates SET {column} = :v WHERE id = :id"), {"v": value, "id": c["id"]})
    number = value if column == "number" else c["number"]
    v = ok(verify(client, number, signing.check_code(svc.settings.secret_key, number)))
    assert (v["status"], v["valid"]) == ("invalid", False) and "holder" not in v
    listed = ok(w.client.get(f"/api/classes/{cid}/certificates", headers=w.h("alpha_admin")))["certificates"]
    assert listed[0]["seal_ok"] is False and listed[0]["seal_problem"]


def test_cert4_revocation_shows_on_verification_and_is_audited(town, client, svc, clock):
    w, cid, sids = town["w"], town["cid"], town["students"]
    c = ok(issue(w, cid, [sids[0]]), 201)["certificates"][0]
    w.institution("gamma")
    assert err(w.client.post(f"/api/certificates/{c['id']}/revoke", headers=w.h("gamma_admin"),
                             json={"reason": "x"}), 404)["code"] == "NOT_FOUND"
    assert err(w.client.post(f"/api/certificates/{c['id']}/revoke", headers=w.h("alpha_admin"), json={}), 422)
    clock.set(datetime(2023, 4, 3, 3, 0, tzinfo=timezone.utc))
    w.tokens["alpha_admin"] = w.login("alpha_admin")  # sessions last 12 hours
    r = ok(w.client.post(f"/api/certificates/{c['id']}/revoke", headers=w.h("alpha_admin"),
                         json={"reason": "考试成绩有误 wrong exam result"}))
    assert r["status"] == "revoked" and r["seal_ok"]
    v = ok(verify(client, c["number"], c["check_code"]))
    assert (v["status"], v["valid"], v["revoked_on"]) == ("revoked", False, "2023-04-03")
    assert "考试" not in str(v)  # the reason stays internal
    e = err(w.client.post(f"/api/certificates/{c['id']}/revoke", headers=w.h("alpha_admin"), json={"reason": "y"}), 409)
    assert e["code"] == "CERT_ALREADY_REVOKED"
    with svc.db.session() as s:
        a = s.scalars(select(AuditLog).where(AuditLog.action == "certificate.revoke")).one()
        assert (a.target_id, a.detail["number"], a.institution_id) == (str(c["id"]), c["number"], w.ids["alpha"])


def test_cert1_the_seal_covers_the_printed_masked_id_and_v1_certificates_still_verify(town, client, svc):
    """Seal v2 snapshots the masked ID number printed on the certificate and seals it, so a later change
    of the registration does not change the certificate and an edit of it breaks the seal; a
    certificate sealed as v1 (before the ID was sealed) keeps verifying as it was sealed."""
    from models import StudentProfile
    from server.certificates import sealkeys
    w, cid, sids = town["w"], town["cid"], town["students"]
    c = ok(issue(w, cid, sids[:2]), 201)["certificates"]
    with svc.db.session() as s:
        cert = s.get(Certificate, c[0]["id"])
        masked = s.get(StudentProfile, sids[0]).id_masked
        sealed = json.loads(cert.payload)
        assert (sealed["v"], sealed["student_id_masked"], cert.student_id_masked) == (2, masked, masked)
        s.get(StudentProfile, sids[0]).id_masked = "9999**********9999"  # a later correction of the registration
        # the second one as a v1 certificate was sealed: the same fields without the masked ID
        old = s.get(Certificate, c[1]["id"])
        data = signing.certificate_data(old)
        data.pop("student_id_masked")
        data["v"] = 1
        old.payload = canonical(data).decode()
        key = sealkeys.private_key(svc.cipher, sealkeys.current_row(s, old.institution_id))
        old.signature = base64.b64encode(key.sign(old.payload.encode())).decode()
        old.student_id_masked = None
    for one in c:
        v = ok(verify(client, one["number"], one["check_code"]))
        assert (v["status"], v["valid"]) == ("valid", True), v
    with svc.db.session() as s:
        assert signing.check(s.get(Certificate, c[0]["id"]), sealkeys.trusted_for_cert(
            s, s.get(Certificate, c[0]["id"]), None)) is None  # the registration's change is not on the certificate
        assert signing.sealed_version(s.get(Certificate, c[1]["id"])) == 1


def test_cert2_numbering_scopes_follow_the_profile(svc):
    """CERT-2/3: Hohhot counts per district; Beijing platform-wide (profile); series = year-month + course."""
    hohhot, beijing = svc.profiles["hohhot"], svc.profiles["beijing"]
    assert numbering.scope_key(hohhot.certificate, district_code="150104", institution_id=3, profile_key="hohhot") \
        == "district:150104"
    assert numbering.scope_key(beijing.certificate, district_code="110105", institution_id=3, profile_key="beijing") \
        == "profile:beijing"
    assert numbering.series_key(date(2023, 3, 1), "WLC") == "202303WLC"


def test_migration_0012_matches_the_models_in_one_linear_chain(database):
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diff if "certificate" in repr(d)] == []
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1 and script.get_revision("0012").down_revision == "0011"
    assert script.get_revision("0019").down_revision == "0018"  # seal v2's masked-ID snapshot


def test_cert1_issuance_is_a_webhook_event_in_the_same_transaction(town, svc):
    from models import WebhookDelivery
    w, cid, sids = town["w"], town["cid"], town["students"]
    w.tokens["admin"] = w.login("admin")
    ok(w.client.post("/api/webhooks", headers=w.h("admin"),
                     json={"url": "http://127.0.0.1:9/hook", "events": ["certificate_issued"]}), 201)
    number = ok(issue(w, cid, sids[:1]), 201)["certificates"][0]["number"]
    with svc.db.session() as s:
        (row,) = s.scalars(select(WebhookDelivery)).all()
    assert row.event_type == "certificate_issued" and row.payload["data"]["number"] == number


def test_sup1_the_dashboard_lists_issued_certificates_with_masked_names(town, svc):
    w, cid, sids = town["w"], town["cid"], town["students"]
    number = ok(issue(w, cid, sids[:1]), 201)["certificates"][0]["number"]
    w.tokens["admin"] = w.login("admin")
    part = ok(w.client.get(f"/api/supervision/classes/{cid}", headers=w.h("admin")))["certificates"]
    (row,) = part["items"]
    with svc.db.session() as s:
        name = s.scalars(select(Certificate)).one().student_name
    assert row["number"] == number and row["status"] == "valid" and row["name_masked"] != name
    assert "*" in row["name_masked"]
