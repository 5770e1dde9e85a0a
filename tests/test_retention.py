"""REC-1 retention: every recording carries a retain-until date (≥ 3 years, per profile); deleting it
before then is refused for every role — platform admins included — and each refusal is audited;
afterwards it is allowed and audited. The database and an Object-Lock store refuse it as well.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from models import AuditLog, Institution, Lesson, Recording, TrainingClass, User
from recorder.ledger import Ledger
from recorder.registry import RecordingRegistry
from recorder.retention import CHINA_TZ, add_years, retention_years
from recorder.storage import LocalStore, S3Store, StorageError
from recorder.verify import verify_recording
from server.auth.passwords import hash_password
from tests.test_recording_integrity import close_segment

PASSWORD = "Secret123"
DISTRICT, OTHER_DISTRICT = "150104", "150105"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=CHINA_TZ)
IN_SCOPE = ("admin", "school", "teacher", "helper", "district")  # may see the recording
OUT_OF_SCOPE = ("other_school", "far_district")  # staff of another institution, a supervisor elsewhere


@pytest.fixture
def place(svc, clock):
    """An institution with a live class of two lessons, another institution, and one user per role."""
    clock.set(T0.astimezone(timezone.utc))
    pw = hash_password(PASSWORD)
    with svc.db.session() as s:
        a = Institution(name="甲培训学校", code="A", region_code=DISTRICT, profile="hohhot", status="approved")
        b = Institution(name="乙培训学校", code="B", region_code=DISTRICT, profile="hohhot", status="approved")
        s.add_all([a, b])
        s.flush()
        people = {
            "admin": dict(role="platform_admin"),
            "school": dict(role="institution_admin", institution_id=a.id),
            "teacher": dict(role="lecturer", institution_id=a.id),
            "helper": dict(role="assistant", institution_id=a.id),
            "district": dict(role="supervisor", region_level="district", region_code=DISTRICT),
            "student": dict(role="student"),
            "other_school": dict(role="institution_admin", institution_id=b.id),
            "far_district": dict(role="supervisor", region_level="district", region_code=OTHER_DISTRICT),
        }
        users = {k: User(username=k, password_hash=pw, display_name=k, created_at=svc.now(), **v) for k, v in people.items()}
        s.add_all(users.values())
        s.flush()
        cls = TrainingClass(institution_id=a.id, name="SYB 第1期", course_type="SYB", delivery_mode="live",
                            profile="hohhot", district_code=DISTRICT, status="in_progress", created_by=users["school"].id)
        s.add(cls)
        s.flush()
        lessons = []
        for i in range(2):
            start = T0 + timedelta(days=i)
            lessons.append(Lesson(class_id=cls.id, title=f"第{i + 1}讲", starts_at=start, ends_at=start + timedelta(hours=3),
                                  mode="live", class_hours=4, lecturer_user_id=users["teacher"].id))
        s.add_all(lessons)
        s.flush()
        return SimpleNamespace(users={k: u.id for k, u in users.items()}, lessons=[l.id for l in lessons],
                               class_id=cls.id)


def login(client, username: str) -> dict:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def record(svc, lesson_id: int, n: int = 3, **kw) -> Ledger:
    ledger = Ledger.from_settings(svc.settings, svc.db, clock=svc.clock, **kw)
    ledger.open_lesson(lesson_id)
    for seq in range(1, n + 1):
        close_segment(ledger, seq, lesson=lesson_id)
    return ledger


def row(svc, lesson_id: int) -> Recording:
    with svc.db.session() as s:
        return s.get(Recording, lesson_id)


def audit(svc, action: str) -> list[AuditLog]:
    with svc.db.session() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_retain_until_is_set_when_the_recording_opens_and_extended_at_finish(svc, place, clock):
    lesson = place.lessons[0]
    ledger = record(svc, lesson, n=2)
    rec = row(svc, lesson)
    assert rec.status == "recording" and rec.storage_kind == "local" and rec.retention_years == 3
    assert rec.retain_until == datetime(2029, 3, 2, 8, 0, tzinfo=CHINA_TZ)  # hohhot: 3 years (REC-1)
    m = ledger.manifest(lesson)
    assert (rec.segments, rec.bytes, rec.head_hash) == (2, m["total_bytes"], m["head"])
    assert m["retention"] == {"years": 3, "retain_until": "2029-03-02T08:00:00+08:00"}
    clock.set((T0 + timedelta(hours=3)).astimezone(timezone.utc))
    ledger.finish(lesson)
    rec = row(svc, lesson)
    assert rec.status == "finished" and rec.retain_until == datetime(2029, 3, 2, 11, 0, tzinfo=CHINA_TZ)
    assert ledger.manifest(lesson)["retention"]["retain_until"] == "2029-03-02T11:00:00+08:00"


def test_the_profile_sets_the_years_but_never_below_three(svc, place):
    assert (retention_years(5), retention_years(1), retention_years(None)) == (5, 3, 3)
    assert add_years(datetime(2028, 2, 29, 12, tzinfo=CHINA_TZ), 3) == datetime(2031, 3, 1, 12, tzinfo=CHINA_TZ)
    opened = T0.astimezone(timezone.utc)
    for years, expect in ((5, 5), (1, 3)):
        reg = RecordingRegistry(svc.db, {"hohhot": SimpleNamespace(recording_retention_years=years)})
        lesson = place.lessons[0 if years == 5 else 1]
        got = reg.open(lesson, opened_at=opened, storage_kind="local", location="/x", key_id="k")
        assert got.years == expect and got.retain_until == add_years(opened, expect)


def test_deletion_before_retain_until_is_refused_for_every_role_and_audited(svc, client, place, clock):
    lesson = place.lessons[0]
    ledger = record(svc, lesson)
    clock.set(row(svc, lesson).retain_until - timedelta(seconds=1))  # one second short of three years
    expected = {**{u: 409 for u in IN_SCOPE}, "student": 403, **{u: 404 for u in OUT_OF_SCOPE}}
    for who, status in expected.items():
        r = client.delete(f"/api/lessons/{lesson}/recording", headers=login(client, who))
        assert r.status_code == status, (who, r.text)
        err = r.json()["error"]
        assert err["rule"] == "REC-1", (who, err)
        if status == 409:
            assert err["code"] == "RETENTION_ACTIVE" and err["details"]["retain_until"].startswith("2029-03-02T08:00")
            assert "平台管理员" in err["message_zh"]
    refusals = audit(svc, "recording.delete_refused")
    assert sorted(a.actor_user_id for a in refusals) == sorted(place.users[w] for w in expected)
    assert {a.actor_role for a in refusals} >= {"platform_admin", "institution_admin", "lecturer", "assistant",
                                                  "supervisor", "student"}
    by_user = {a.actor_user_id: a for a in refusals}
    assert by_user[place.users["admin"]].detail["reason"] == "retention"
    assert by_user[place.users["admin"]].target_id == str(lesson) and by_user[place.users["admin"]].detail["rule"] == "REC-1"
    assert row(svc, lesson).status == "recording"
    assert verify_recording(LocalStore(ledger.root), lesson, ledger.key.public).ok  # nothing was touched
    assert audit(svc, "recording.deleted") == []


def test_after_retain_until_admins_may_delete_and_it_is_audited(svc, client, place, clock):
    first, second = place.lessons
    ledger = record(svc, first)
    record(svc, second, n=1)
    clock.set(row(svc, first).retain_until + timedelta(days=1))
    r = client.delete(f"/api/lessons/{first}/recording", headers=login(client, "teacher"))
    assert r.status_code == 403 and r.json()["error"]["rule"] == "REC-1"  # lecturers never delete
    assert client.delete(f"/api/lessons/{first}/recording", headers=login(client, "other_school")).status_code == 404
    r = client.delete(f"/api/lessons/{first}/recording", headers=login(client, "admin"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "deleted" and r.json()["segments"] == 3
    assert not ledger.lesson_dir(first).exists()
    rec = row(svc, first)
    assert rec.status == "deleted" and rec.deleted_by == place.users["admin"] and rec.head_hash  # the row stays
    deleted = audit(svc, "recording.deleted")
    assert [(a.actor_user_id, a.target_id, a.detail["segments"]) for a in deleted] == [(place.users["admin"], str(first), 3)]
    again = client.delete(f"/api/lessons/{first}/recording", headers=login(client, "admin"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "ALREADY_DELETED"
    got = client.get(f"/api/lessons/{first}/recording", headers=login(client, "school")).json()
    assert got["status"] == "deleted" and got["segments"] == []
    assert client.delete(f"/api/lessons/{second}/recording", headers=login(client, "school")).status_code == 200
    assert {a.detail["reason"] for a in audit(svc, "recording.delete_refused")} == {"role", "not_found", "already_deleted"}


def test_the_database_refuses_an_early_delete_whatever_the_application_does(svc, place, clock):
    lesson = place.lessons[0]
    record(svc, lesson, n=1)
    early = svc.now()
    attempts = [
        lambda rec, s: setattr(rec, "status", "deleted") or setattr(rec, "deleted_at", early),
        lambda rec, s: setattr(rec, "retain_until", rec.retain_until - timedelta(days=1)),
        lambda rec, s: s.delete(rec),
    ]
    for attempt in attempts:
        with pytest.raises(DBAPIError, match="REC-1"):
            with svc.db.session() as s:
                attempt(s.get(Recording, lesson), s)
                s.flush()
    with pytest.raises(DBAPIError):  # a lesson with a recording cannot be deleted with its plan
        with svc.db.session() as s:
            s.delete(s.get(Lesson, lesson))
            s.flush()
    later = row(svc, lesson).retain_until
    with svc.db.session() as s:  # on the date itself the guard lets a soft delete through
        rec = s.get(Recording, lesson)
        rec.status, rec.deleted_at = "deleted", later
    with pytest.raises(DBAPIError, match="REC-1"):  # and there is no way back
        with svc.db.session() as s:
            s.get(Recording, lesson).status = "finished"


def test_get_recording_shows_retention_segments_and_verification(svc, client, place):
    lesson = place.lessons[0]
    ledger = record(svc, lesson)
    for who in IN_SCOPE:
        body = client.get(f"/api/lessons/{lesson}/recording", headers=login(client, who)).json()
        assert body["retain_until"] == "2029-03-02T08:00:00+08:00" and body["deletable"] is False, who
        assert [s["seq"] for s in body["segments"]] == [1, 2, 3] and body["verification"]["ok"] is True
        assert body["verification"]["mode"] == "quick" and body["rule"] == "REC-1"
    assert client.get(f"/api/lessons/{lesson}/recording", headers=login(client, "student")).status_code == 403
    for who in OUT_OF_SCOPE:
        assert client.get(f"/api/lessons/{lesson}/recording", headers=login(client, who)).status_code == 404
    assert any(a.actor_user_id == place.users["district"] and f"/api/lessons/{lesson}/recording" in a.target_id
               for a in audit(svc, "supervisor.read"))  # SUP-6
    path = ledger.lesson_dir(lesson) / "seg-00002.mkv"
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))
    h = login(client, "district")
    assert client.get(f"/api/lessons/{lesson}/recording", headers=h).json()["verification"]["ok"] is True
    full = client.get(f"/api/lessons/{lesson}/recording?full=1", headers=h).json()
    assert full["verification"]["ok"] is False
    assert full["verification"]["first_bad"] == {"kind": "segment_altered", "seq": 2, "file": "seg-00002.mkv",
                                                 "detail": "SHA-256 differs from the manifest"}
    assert row(svc, lesson).verification["first_bad"]["seq"] == 2
    assert client.get(f"/api/lessons/{place.lessons[1]}/recording", headers=h).status_code == 404  # none yet


def test_a_recorder_without_a_database_still_gets_a_row_from_its_signed_manifest(svc, client, place):
    lesson = place.lessons[1]
    ledger = Ledger(svc.settings.recordings_root, svc.settings.data_dir, clock=svc.clock)  # files only
    ledger.open_lesson(lesson)
    close_segment(ledger, 1, lesson=lesson)
    assert row(svc, lesson) is None
    body = client.get(f"/api/lessons/{lesson}/recording", headers=login(client, "school")).json()
    assert body["segment_count"] == 1 and body["retain_until"] == "2029-03-02T08:00:00+08:00"
    r = client.delete(f"/api/lessons/{lesson}/recording", headers=login(client, "admin"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "RETENTION_ACTIVE"


@pytest.fixture
def s3(monkeypatch):
    pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    import boto3
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="qihang-recordings", ObjectLockEnabledForBucket=True)
        yield client


def test_s3_copies_are_locked_in_compliance_mode_and_the_store_refuses_deletion(svc, client, place, clock, s3):
    lesson = place.lessons[0]
    store = S3Store(s3, "qihang-recordings", "city/", local=None)
    ledger = record(svc, lesson, remote=store)
    ledger.finish(lesson)
    keys = sorted(store.list_files(lesson))
    assert keys == ["manifest.json", "seg-00001.mkv", "seg-00002.mkv", "seg-00003.mkv"]
    head = s3.head_object(Bucket="qihang-recordings", Key=store.key(lesson, "seg-00001.mkv"))
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] >= add_years(T0, 3) - timedelta(seconds=1)
    assert verify_recording(store, lesson, ledger.key.public).ok
    with svc.db.session() as s:
        s.get(Recording, lesson).storage_kind = "s3"
    svc._recording_tools = {"key": ledger.key, "local": None, "s3": store}
    # a new version over a locked object is possible in S3; verification reads it and names it
    s3.put_object(Bucket="qihang-recordings", Key=store.key(lesson, "seg-00002.mkv"), Body=b"x" * 10)
    v = verify_recording(store, lesson, ledger.key.public)
    assert (v.first_bad.kind, v.first_bad.seq) == ("segment_altered", 2)
    with pytest.raises(StorageError, match="refused"):  # the application bypassed: the store itself refuses
        store.delete_lesson(lesson)
    assert "seg-00001.mkv" in store.list_files(lesson)
    # the application's date says yes, the store's lock (real time) still says no: nothing changes
    clock.set(row(svc, lesson).retain_until + timedelta(days=1))
    r = client.delete(f"/api/lessons/{lesson}/recording", headers=login(client, "admin"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "STORE_REFUSED", r.text
    assert row(svc, lesson).status == "finished"
    assert audit(svc, "recording.delete_refused")[-1].detail["reason"] == "store_refused"
    body = client.get(f"/api/lessons/{lesson}/recording", headers=login(client, "school")).json()
    assert body["storage"] == "s3" and body["verification"]["ok"] is False
