"""ATT-6 offline lessons' site videos (seed 003 四（三）: a 10-second site video per class-hour and the
full-session video, kept ≥ 3 years): upload by the class's staff with type, size and length checks,
Range playback for staff and supervisors in scope, the same retention and integrity rules as
recordings (REC-1) — a signed hash-chained manifest per lesson, deletion refused before retain-until
for every role and audited, tampering named — and the per-lesson checklist supervisors read.
Videos are made here with PyAV (tests/test_recorded_study.make_video); SQLite and PostgreSQL."""
from __future__ import annotations

import functools
import hashlib
import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from models import AuditLog, ClassLecturer, Institution, Lesson, SiteVideo, StoredFile, TrainingClass, User
from recorder.signing import check_document, load_platform_key
from server.auth.passwords import hash_password
from server.services import CHINA_TZ
from server.sitevideos import chain_problems
from tests import world
from tests.test_recorded_study import make_video

PASSWORD = "Secret123"
CHAOYANG, HAIDIAN = "110105", "110108"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=CHINA_TZ)
RETAIN = "2029-03-02T10:00:00+08:00"  # NOW + 3 years (beijing profile, REC-1)
IN_SCOPE = ("admin", "school", "teacher", "head", "helper", "district")
OUT_OF_SCOPE = ("other_school", "far")


@pytest.fixture(scope="module")
def vids() -> dict:
    return {"clip": make_video(10), "clip_mp4": make_video(10, "mp4"), "full": make_video(130),
            "short": make_video(5), "long": make_video(40), "full_short": make_video(60)}


@pytest.fixture
def site(svc, clock):
    """An offline Beijing class: lesson ``done`` (2 class-hours, scheduled 4 minutes so the full video
    needs ≥ 2 minutes) held this morning, ``older`` held yesterday, ``later`` this afternoon, and a live
    lesson; one user per role."""
    clock.set(NOW.astimezone(timezone.utc))
    pw = hash_password(PASSWORD)
    with svc.db.session() as s:
        a = Institution(name="朝阳培训学校", code="CY", region_code=CHAOYANG, profile="beijing", status="approved")
        b = Institution(name="海淀培训学校", code="HD", region_code=HAIDIAN, profile="beijing", status="approved")
        s.add_all([a, b])
        s.flush()
        people = {
            "admin": dict(role="platform_admin"), "school": dict(role="institution_admin", institution_id=a.id),
            "teacher": dict(role="lecturer", institution_id=a.id), "stranger": dict(role="lecturer", institution_id=a.id),
            "head": dict(role="assistant", institution_id=a.id), "helper": dict(role="assistant", institution_id=a.id),
            "district": dict(role="supervisor", region_level="district", region_code=CHAOYANG),
            "far": dict(role="supervisor", region_level="district", region_code=HAIDIAN), "student": dict(role="student"),
            "other_school": dict(role="institution_admin", institution_id=b.id),
        }
        users = {k: User(username=k, password_hash=pw, display_name=k, created_at=svc.now(), **v) for k, v in people.items()}
        s.add_all(users.values())
        s.flush()
        cls = TrainingClass(institution_id=a.id, name="SYB 线下1期", course_type="SYB", delivery_mode="offline",
                            profile="beijing", district_code=CHAOYANG, status="in_progress",
                            head_teacher_user_id=users["head"].id, created_by=users["school"].id)
        s.add(cls)
        s.flush()
        s.add(ClassLecturer(class_id=cls.id, user_id=users["teacher"].id, is_lead=True))

        def lesson(start: datetime, mode: str = "offline") -> int:
            le = Lesson(class_id=cls.id, title=f"{start:%m-%d %H:%M}", starts_at=start, ends_at=start + timedelta(minutes=4),
                        mode=mode, class_hours=2, venue_name="朝阳创业中心" if mode == "offline" else None)
            s.add(le)
            s.flush()
            return le.id

        ids = {"done": lesson(NOW - timedelta(hours=2)), "older": lesson(NOW - timedelta(days=1)),
               "later": lesson(NOW + timedelta(hours=4)), "live": lesson(NOW - timedelta(hours=5), "live")}
        return SimpleNamespace(users={k: u.id for k, u in users.items()}, lessons=ids, class_id=cls.id)


def login(client, username: str) -> dict:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def upload(client, who: str, lesson: int, data: bytes, *, hour: int | None = None, ctype: str = "video/webm"):
    path = f"/api/lessons/{lesson}/site-videos/" + (f"clips/{hour}" if hour else "full")
    return client.post(path, content=data, headers={**login(client, who), "Content-Type": ctype})


def ok(r, status: int = 201) -> dict:
    assert r.status_code == status, r.text
    return r.json()


err = functools.partial(world.err, rule=True)  # every refusal here names the rule it enforces


def audit(svc, action: str) -> list[AuditLog]:
    with svc.db.session() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def stored_path(svc, video_id: int):
    with svc.db.session() as s:
        key = s.get(StoredFile, s.get(SiteVideo, video_id).file_id).storage_key
    return svc.settings.uploads_dir / key[:2] / key


def manifest_path(svc, lesson: int):
    return svc.settings.uploads_dir / "site-videos" / str(lesson) / "manifest.json"


def full_lesson(client, site, vids) -> list[dict]:
    lesson = site.lessons["done"]
    return [ok(upload(client, "teacher", lesson, vids["clip"], hour=1)),
            ok(upload(client, "head", lesson, vids["clip_mp4"], hour=2, ctype="video/mp4")),
            ok(upload(client, "school", lesson, vids["full"]))]


def test_staff_upload_clips_and_the_full_video_kept_signed_and_playable_in_scope(svc, client, site, vids):
    lesson = site.lessons["done"]
    clip, clip2, full = full_lesson(client, site, vids)
    assert (clip["kind"], clip["class_hour"], full["kind"], full["class_hour"]) == ("clip", 1, "full", None)
    assert clip["sha256"] == hashlib.sha256(vids["clip"]).hexdigest() and clip2["content_type"] == "video/mp4"
    assert 8 <= clip["duration_seconds"] <= 11 and full["duration_seconds"] >= 120
    assert clip["retain_until"] == full["retain_until"] == RETAIN and clip["retention_years"] == 3
    assert clip["deletable"] is False and [clip["seq"], clip2["seq"], full["seq"]] == [0, 1, 2]
    # the manifest: signed by the platform key, chained, one entry per row
    m = json.loads(manifest_path(svc, lesson).read_bytes())
    assert check_document(m, load_platform_key(svc.settings).public) is None and chain_problems(m) == []
    assert [(e["kind"], e["class_hour"], e["sha256"]) for e in m["entries"]] == [
        ("clip", 1, clip["sha256"]), ("clip", 2, clip2["sha256"]), ("full", None, full["sha256"])]
    assert m["head"] == full["manifest_head"]
    # listing, checklist and a full verification, for staff and the district's supervisor
    for who in ("school", "district", "helper"):
        body = ok(client.get(f"/api/lessons/{lesson}/site-videos?full=1", headers=login(client, who)), 200)
        assert body["verification"]["ok"] is True and body["verification"]["mode"] == "full", body["verification"]
        c = body["checklist"]
        assert (c["clips_required"], c["clips_present"], c["full_video"], c["complete"]) == (2, 2, True, True)
    for who in OUT_OF_SCOPE:
        assert client.get(f"/api/lessons/{lesson}/site-videos", headers=login(client, who)).status_code == 404
    # Range playback with the listing's ticket (what <video> does), and whole
    url = body["items"][0]["url"]
    r = client.get(url, headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and r.content == vids["clip"][:100]
    assert r.headers["content-range"] == f"bytes 0-99/{len(vids['clip'])}"
    assert client.get(url).content == vids["clip"]
    assert client.get(url.replace("t=", "t=x")).status_code == 401
    assert client.get(f"/api/site-videos/{clip['id']}/video", headers=login(client, "far")).status_code == 404
    # nothing is replaced: a second clip for hour 1 is kept beside the first
    again = ok(upload(client, "teacher", lesson, vids["clip"], hour=1))
    body = ok(client.get(f"/api/lessons/{lesson}/site-videos", headers=login(client, "district")), 200)
    assert len(body["items"]) == 4 and body["checklist"]["clip_hours"] == [1, 2] and again["seq"] == 3
    logged = audit(svc, "sitevideo.upload")
    assert [(a.actor_user_id, a.detail["sha256"]) for a in logged] == [
        (site.users[w], v["sha256"]) for w, v in (("teacher", clip), ("head", clip2), ("school", full), ("teacher", again))]


def test_only_the_class_staff_upload(client, site, vids):
    lesson = site.lessons["done"]
    for who in ("stranger", "helper"):  # a lecturer not teaching the class; an assistant not its head teacher
        e = err(upload(client, who, lesson, vids["clip"], hour=1), 403, "SITE_VIDEO_NOT_CLASS_STAFF")
        assert e["rule"] == "ATT-6"
    for who in ("student", "district", "admin"):
        assert upload(client, who, lesson, vids["clip"], hour=1).status_code == 403
    assert upload(client, "other_school", lesson, vids["clip"], hour=1).status_code == 404


def test_bad_uploads_are_refused_with_json_errors_and_leave_nothing_behind(svc, client, site, vids):
    lesson = site.lessons["done"]
    cases = [
        (dict(data=vids["clip"], hour=1, ctype="text/plain"), 415, "VIDEO_TYPE"),
        (dict(data=vids["clip_mp4"], hour=1), 415, "VIDEO_TYPE_MISMATCH"),
        (dict(data=b"\x1a\x45\xdf\xa3\x01webm" + b"\x00" * 500, hour=1), 422, "VIDEO_UNREADABLE"),
        (dict(data=b"", hour=1), 422, "VIDEO_EMPTY"),
        (dict(data=vids["short"], hour=1), 422, "SITE_CLIP_TOO_SHORT"),
        (dict(data=vids["long"], hour=1), 422, "SITE_CLIP_TOO_LONG"),
        (dict(data=vids["full_short"]), 422, "SITE_VIDEO_TOO_SHORT"),
        (dict(data=vids["clip"], hour=3), 422, "SITE_CLIP_HOUR"),
    ]
    for kw, status, code in cases:
        e = err(upload(client, "teacher", lesson, kw.pop("data"), **kw), status, code)
        assert e["rule"] == "ATT-6", e
    e = err(upload(client, "teacher", lesson, vids["long"], hour=2), 422, "SITE_CLIP_TOO_LONG")
    assert e["field"] == "video" and e["details"]["max_seconds"] == 30 and e["details"]["duration_seconds"] > 30
    e = err(upload(client, "teacher", lesson, vids["full_short"]), 422, "SITE_VIDEO_TOO_SHORT")
    assert e["details"]["min_seconds"] == 120
    err(upload(client, "teacher", site.lessons["live"], vids["clip"], hour=1), 409, "NOT_OFFLINE_LESSON")
    e = err(upload(client, "teacher", site.lessons["later"], vids["clip"], hour=1), 409, "SITE_VIDEO_TOO_EARLY")
    assert e["details"]["opens_at"].startswith("2026-03-02T14:00")
    svc.settings = svc.settings.with_(max_video_bytes=500)
    e = err(upload(client, "teacher", lesson, vids["clip"], hour=1), 413, "VIDEO_TOO_LARGE")
    assert e["rule"] == "ATT-6"
    assert client.post(f"/api/lessons/{lesson}/site-videos/clips/0", content=vids["clip"],
                       headers={**login(client, "teacher"), "Content-Type": "video/webm"}).status_code == 422
    with svc.db.session() as s:
        assert s.scalars(select(SiteVideo)).first() is None
    assert not manifest_path(svc, lesson).exists()
    assert not any((svc.settings.uploads_dir / "incoming").iterdir())  # every spooled upload removed


def test_deletion_is_refused_before_retain_until_for_every_role_and_audited(svc, client, site, vids, clock):
    clip, _, full = full_lesson(client, site, vids)
    clock.set(datetime.fromisoformat(RETAIN).astimezone(timezone.utc) - timedelta(seconds=1))
    expected = {**{u: 409 for u in IN_SCOPE}, "student": 403, **{u: 404 for u in OUT_OF_SCOPE}}
    for who, status in expected.items():
        r = client.delete(f"/api/site-videos/{clip['id']}", headers=login(client, who))
        assert r.status_code == status, (who, r.text)
        e = r.json()["error"]
        assert e["rule"] == "ATT-6", e
        if status == 409:
            assert e["code"] == "RETENTION_ACTIVE" and e["details"]["retain_until"] == RETAIN and "平台管理员" in e["message_zh"]
    refusals = audit(svc, "sitevideo.delete_refused")
    assert sorted(a.actor_user_id for a in refusals) == sorted(site.users[w] for w in expected)
    assert {a.detail["reason"] for a in refusals} == {"retention", "role", "not_found"}
    assert stored_path(svc, clip["id"]).exists()
    # the database refuses too, whatever the application does
    early = svc.now()
    attempts = [lambda v, s: setattr(v, "status", "deleted") or setattr(v, "deleted_at", early),
                lambda v, s: setattr(v, "retain_until", v.retain_until - timedelta(days=1)),
                lambda v, s: setattr(v, "sha256", "0" * 64), lambda v, s: s.delete(v)]
    for attempt in attempts:
        with pytest.raises(DBAPIError, match="ATT-6"):
            with svc.db.session() as s:
                attempt(s.get(SiteVideo, clip["id"]), s)
                s.flush()
    # from retain_until on: never a lecturer; the institution's admin may, and it is audited
    clock.set(datetime.fromisoformat(RETAIN).astimezone(timezone.utc) + timedelta(days=1))
    err(client.delete(f"/api/site-videos/{clip['id']}", headers=login(client, "teacher")), 403, "FORBIDDEN")
    r = client.delete(f"/api/site-videos/{clip['id']}", headers=login(client, "school"))
    assert r.status_code == 200 and r.json()["status"] == "deleted", r.text
    assert not stored_path(svc, clip["id"]).exists()
    deleted = audit(svc, "sitevideo.deleted")
    assert [(a.actor_user_id, a.detail["sha256"]) for a in deleted] == [(site.users["school"], clip["sha256"])]
    err(client.delete(f"/api/site-videos/{clip['id']}", headers=login(client, "school")), 409, "ALREADY_DELETED")
    body = ok(client.get(f"/api/lessons/{site.lessons['done']}/site-videos?full=1", headers=login(client, "district")), 200)
    assert body["verification"]["ok"] is True and [w["kind"] for w in body["verification"]["warnings"]] == ["deleted"]
    assert body["items"][0]["status"] == "deleted" and body["items"][0]["url"] is None
    assert body["checklist"]["clip_hours"] == [2]
    with pytest.raises(DBAPIError, match="ATT-6"):  # no way back
        with svc.db.session() as s:
            s.get(SiteVideo, clip["id"]).status = "kept"


def test_tampering_is_detected_and_the_file_named(svc, client, site, vids):
    lesson = site.lessons["done"]
    url = f"/api/lessons/{lesson}/site-videos"
    h = login(client, "district")
    clip, clip2, full = full_lesson(client, site, vids)
    path = stored_path(svc, clip2["id"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of the stored (encrypted) clip of class-hour 2
    path.write_bytes(bytes(data))
    assert client.get(url, headers=h).json()["verification"]["ok"] is True  # quick: sizes only, by design
    v = client.get(f"{url}?full=1", headers=h).json()["verification"]
    assert v["ok"] is False and len(v["problems"]) == 1
    bad = v["first_bad"]
    assert (bad["kind"], bad["site_video_id"], bad["video_kind"], bad["class_hour"]) == ("file_altered", clip2["id"], "clip", 2)
    assert "第 2 课时" in bad["message_zh"] and bad["seq"] == 1
    assert audit(svc, "sitevideo.verify_failed")[-1].detail["first_bad"]["site_video_id"] == clip2["id"]
    stored_path(svc, full["id"]).unlink()  # the full-session file removed behind the platform's back
    v = client.get(f"{url}?full=1", headers=h).json()["verification"]
    assert {(p["kind"], p["video_kind"]) for p in v["problems"]} == {("file_altered", "clip"), ("file_missing", "full")}
    # the manifest: an older signed copy put back (rollback), then an edited entry
    mpath = manifest_path(svc, lesson)
    current = mpath.read_bytes()
    m = json.loads(current)
    older = load_platform_key(svc.settings).sign_document(
        {**{k: v for k, v in m.items() if k != "signature"}, "entries": m["entries"][:1], "count": 1,
         "head": m["entries"][0]["hash"]}, at="2026-03-02T09:00:00+08:00")
    mpath.write_text(json.dumps(older))
    v = client.get(url, headers=h).json()["verification"]
    assert {(p["kind"], p["seq"]) for p in v["problems"]} == {("row_unlisted", 1), ("row_unlisted", 2)}
    err(upload(client, "teacher", lesson, vids["clip"], hour=1), 409, "SITE_MANIFEST_BROKEN")  # never signed over
    m["entries"][0]["sha256"] = "0" * 64
    mpath.write_text(json.dumps(m))
    kinds = {p["kind"] for p in client.get(url, headers=h).json()["verification"]["problems"]}
    assert {"signature_invalid", "chain_broken", "row_mismatch"} <= kinds
    err(upload(client, "teacher", lesson, vids["clip"], hour=1), 409, "SITE_MANIFEST_BROKEN")
    mpath.unlink()
    v = client.get(url, headers=h).json()["verification"]
    assert [p["kind"] for p in v["problems"]] == ["manifest_missing"]


def test_checklist_shows_each_offline_lessons_clips_against_its_class_hours(svc, client, site, vids):
    full_lesson(client, site, vids)
    ok(upload(client, "teacher", site.lessons["older"], vids["clip"], hour=2))
    body = ok(client.get("/api/site-videos/checklist", headers=login(client, "district")), 200)
    rows = {i["lesson_id"]: i for i in body["items"]}
    assert set(rows) == {site.lessons[k] for k in ("done", "older", "later")}  # offline lessons only
    done, older, later = (rows[site.lessons[k]] for k in ("done", "older", "later"))
    assert (done["clips_present"], done["full_video"], done["complete"], done["held"]) == (2, True, True, True)
    assert (older["clips_present"], older["missing_clip_hours"], older["full_video"], older["complete"]) == (1, [1], False, False)
    assert later["held"] is False and later["venue_name"] == "朝阳创业中心"
    assert body["totals"] == {"lessons": 3, "held": 2, "complete": 1, "clips_required": 4, "clips_present": 3,
                              "missing_full_video": 1}
    assert client.get("/api/site-videos/checklist", headers=login(client, "far")).json()["items"] == []
    assert len(client.get("/api/site-videos/checklist", headers=login(client, "school")).json()["items"]) == 3
    assert client.get("/api/site-videos/checklist", headers=login(client, "other_school")).json()["items"] == []
    assert client.get("/api/site-videos/checklist", headers=login(client, "student")).status_code == 403
    day = client.get("/api/site-videos/checklist?date_from=2026-03-01&date_to=2026-03-01",
                     headers=login(client, "district")).json()["items"]
    assert [i["lesson_id"] for i in day] == [site.lessons["older"]]
    assert audit(svc, "supervisor.read")  # SUP-6


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


def test_with_an_s3_store_the_files_and_manifest_are_copied_under_object_lock(svc, client, site, vids, s3):
    svc.settings = svc.settings.with_(s3_bucket="qihang-recordings", s3_prefix="city/")
    clip = ok(upload(client, "teacher", site.lessons["done"], vids["clip"], hour=1))
    base = f"city/site-videos/{site.lessons['done']}/"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="qihang-recordings", Prefix=base)["Contents"])
    path = stored_path(svc, clip["id"])
    assert keys == sorted([base + "manifest.json", base + path.name])
    head = s3.head_object(Bucket="qihang-recordings", Key=base + path.name)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] >= datetime.fromisoformat(RETAIN) - timedelta(seconds=1)
    body = s3.get_object(Bucket="qihang-recordings", Key=base + path.name)["Body"].read()
    assert body == path.read_bytes()  # the encrypted file, as kept locally
