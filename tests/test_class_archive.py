"""REC-2 class archive: one zip per finished class with every document the rules list and a manifest
hashing each member; kept encrypted as a class document and therefore hashed into the next REC-3
backup (the backup chain); built only for finished classes, downloaded only by those allowed to see
ID copies (SQLite and PostgreSQL)."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import timedelta

from sqlalchemy import select

from models import AuditLog, StoredFile
from models.documents import ClassDocument
from recorder.backup import create_backup, read_manifest, verify_backup
from recorder.signing import load_platform_key
from server.documents import classarchive
from tests.test_reports import exam, finish, relogin, taught  # noqa: F401 - the fixture
from tests.outcomes import everyone_eligible
from tests.world import ok


def build(w, cid: int) -> dict:
    return ok(w.client.post(f"/api/classes/{cid}/documents/archive", headers=w.h("alpha_admin")), 201)


def unzip(w, doc: dict, who: str = "alpha_admin") -> zipfile.ZipFile:
    r = w.client.get(doc["download_url"], headers=w.h(who))
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text
    assert hashlib.sha256(r.content).hexdigest() == doc["sha256"]
    return zipfile.ZipFile(io.BytesIO(r.content))


def test_rec2_the_archive_holds_every_listed_document_with_a_hashed_manifest(svc, taught, clock, monkeypatch):
    everyone_eligible(monkeypatch)  # the archive keeps whatever certificates were issued (EXAM-3 elsewhere)
    w, cid = taught["w"], taught["class_id"]
    clock.set(taught["last_end"] + timedelta(days=2))
    relogin(taught)
    exam(svc, taught, closes_at=taught["last_end"] + timedelta(days=1))
    finish(svc, cid)
    number = ok(w.client.post(f"/api/classes/{cid}/certificates", headers=w.h("alpha_admin"),
                              json={"student_ids": [taught["stay"]]}), 201)["certificates"][0]["number"]
    doc = build(w, cid)
    assert doc["kind"] == "archive" and doc["sections"]["evaluation_forms"]["status"] == "not kept by the platform"
    z = unzip(w, doc)
    m = json.loads(z.read("manifest.json"))
    assert m["format"] == classarchive.FORMAT and m["class"]["id"] == cid and m["generated_at"]
    names = set(z.namelist()) - {"manifest.json"}
    assert {x["name"] for x in m["members"]} == names
    for member in m["members"]:
        data = z.read(member["name"])
        assert (len(data), hashlib.sha256(data).hexdigest()) == (member["size"], member["sha256"])
    # reports (generated for the archive), both formats
    assert {"reports/attendance_pdf.pdf", "reports/attendance_xlsx.xlsx", "reports/scores_pdf.pdf",
            "reports/scores_xlsx.xlsx"} <= names
    # registration forms and ID copies: front, back and evidence of each of the three
    forms = list(csv.DictReader(io.StringIO(z.read("registration/registration_forms.csv").decode("utf-8-sig"))))
    assert len(forms) == 3 and all("*" in f["id_masked"] for f in forms)
    assert any(f["real_name"] == "'=HYPERLINK(\"x\")" for f in forms)  # formula guard in CSV too (PLAT-3)
    copies = [n for n in names if n.startswith("registration/id_copies/")]
    assert len(copies) == 9 and m["sections"]["registration_forms_and_id_copies"]["id_copies"] == 9
    assert z.read(next(n for n in copies if n.endswith("-id_front.jpg")))[:2] == b"\xff\xd8"
    # teaching plan, teaching data with the chat / Q&A transcript, attendance records
    plan = json.loads(z.read("teaching_plan.json"))
    assert len(plan["lessons"]) == 14 and plan["lecturers"] and plan["lecturers"][0]["certificate_no"]
    lessons = json.loads(z.read("teaching_data/lessons.json"))
    assert len(lessons) == 14 and lessons[0]["transcript_lines"] == 2
    transcript = json.loads(z.read(f"teaching_data/transcripts/lesson-{taught['lesson_id']}.json"))
    assert [(t["kind"], t["text"]) for t in transcript] == [("chat", "老师好"), ("question", "创业贷款怎么申请？")]
    att = list(csv.DictReader(io.StringIO(z.read("attendance/attendance_per_lesson.csv").decode("utf-8-sig"))))
    assert len(att) == 14 * 3
    # certificate copies: the signed record and its PDF; business plans: the records (none submitted here)
    (cert,) = json.loads(z.read("certificates/certificates.json"))
    assert cert["number"] == number and cert["signature"] and cert["student_user_id"] == taught["stay"]
    pdfs = [n for n in names if n.startswith("certificates/") and n.endswith(".pdf")]
    assert len(pdfs) == 1 and z.read(pdfs[0]).startswith(b"%PDF") and m["sections"]["certificates"]["pdfs"] == 1
    assert m["sections"]["business_plans"]["status"] in ("included", "pending")
    with svc.db.session() as s:
        row = s.get(ClassDocument, doc["id"])
        stored = s.get(StoredFile, row.file_id)
        assert (row.sha256, row.size) == (stored.sha256, stored.size) == (doc["sha256"], doc["size"])
        audit = s.scalars(select(AuditLog).where(AuditLog.action.in_(("documents.archive", "documents.download")))).all()
    assert sorted(a.action for a in audit) == ["documents.archive", "documents.download"]


def test_rec2_rec3_the_archive_is_hashed_into_the_next_backup(svc, taught, clock, tmp_path):
    w, cid = taught["w"], taught["class_id"]
    clock.set(taught["last_end"] + timedelta(days=2))
    relogin(taught)
    finish(svc, cid)
    doc = build(w, cid)
    with svc.db.session() as s:
        stored = s.get(StoredFile, s.get(ClassDocument, doc["id"]).file_id)
        key_name = stored.storage_key
    on_disk = svc.settings.uploads_dir / key_name[:2] / key_name
    key = load_platform_key(svc.settings)
    result = create_backup(svc.settings, tmp_path / "backups", key=key, clock=svc.clock)
    check = verify_backup(result.path, key.public)
    assert check.ok, check.report()
    members = {item["name"]: item for item in read_manifest(result.path)[1]["members"]}
    item = members[f"uploads/{key_name[:2]}/{key_name}"]  # the encrypted archive, as stored
    blob = on_disk.read_bytes()
    assert (item["size"], item["sha256"]) == (len(blob), hashlib.sha256(blob).hexdigest())
    with svc.db.session() as s:  # and it decrypts to the archive the class_documents row names
        assert hashlib.sha256(svc.files.read(s.get(StoredFile, stored.id))).hexdigest() == doc["sha256"]
    # the next backup chains to this one
    second = create_backup(svc.settings, tmp_path / "backups", key=key, clock=svc.clock)
    assert second.sequence == 2 and second.previous["manifest_sha256"] == result.manifest_sha256
    assert verify_backup(second.path, key.public).ok


def test_rec2_only_finished_classes_get_an_archive_and_only_some_may_download_it(svc, taught, clock):
    w, cid = taught["w"], taught["class_id"]
    clock.set(taught["last_end"] + timedelta(days=2))
    relogin(taught)
    r = w.client.post(f"/api/classes/{cid}/documents/archive", headers=w.h("alpha_admin"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "CLASS_NOT_FINISHED"
    assert r.json()["error"]["rule"] == "REC-2"
    finish(svc, cid)
    for who in ("lecturer", "yuquan", f"student{taught['stay']}"):
        assert w.client.post(f"/api/classes/{cid}/documents/archive", headers=w.h(who)).status_code == 403
    assert w.client.post(f"/api/classes/{cid}/documents/archive", headers=w.h("beta_admin")).status_code == 404
    doc = build(w, cid)
    for who in ("yuquan", "hohhot", "admin"):
        unzip(w, doc, who)
    r = w.client.get(doc["download_url"], headers=w.h("lecturer"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "ARCHIVE_RESTRICTED"
    assert w.client.get(doc["download_url"], headers=w.h(f"student{taught['stay']}")).status_code == 403
    listed = ok(w.client.get(f"/api/classes/{cid}/documents", headers=w.h("lecturer")))["items"]
    assert all(d["kind"] != "archive" for d in listed) and listed  # the reports made for the archive
    again = build(w, cid)
    listed = ok(w.client.get(f"/api/classes/{cid}/documents", headers=w.h("alpha_admin")))["items"]
    archives = [d for d in listed if d["kind"] == "archive"]
    assert [(d["id"], d["superseded"]) for d in archives] == [(again["id"], False), (doc["id"], True)]
