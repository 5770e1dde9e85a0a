"""REC-3 backups: a consistent snapshot (database + recording manifests + uploads) in one archive whose
manifest lists every member's SHA-256, is hash-chained to the previous backup and signed; any change
is detected; restore rebuilds a working instance.
"""
from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from models import Lesson
from models.db import Database
from recorder.backup import MANIFEST_NAME, create_backup, read_manifest, verify_backup
from recorder.ledger import Ledger
from recorder.restore import RestoreError, restore
from recorder.signing import PlatformKey, canonical, load_platform_key, sha256_hex
from server.app import create_app
from server.services import Services
from server.settings import Settings
from tests.conftest import PG_URL, TEST_KEY
from tests.test_recording_integrity import close_segment
from tests.world import PASSWORD, World, ok

ROOT = Path(__file__).resolve().parent.parent


def seed(world: World, svc) -> dict:
    """An institution with a lecturer and a class, a lesson with a recording, an uploaded file."""
    world.institution("aa")
    lecturer = world.lecturer("aa", "teacher1")
    cls = ok(world.client.post("/api/classes", headers=world.h("aa_admin"), json={
        "name": "SYB 第9期", "course_type": "SYB", "delivery_mode": "live", "head_teacher_id": lecturer}), 201)
    start = svc.now() + timedelta(days=30)
    with svc.db.session() as s:
        lesson = Lesson(class_id=cls["id"], title="第1讲", starts_at=start, ends_at=start + timedelta(hours=3),
                        mode="live", class_hours=4)
        s.add(lesson)
        s.flush()
        lesson_id = lesson.id
    ledger = Ledger.from_settings(svc.settings, svc.db, clock=svc.clock)
    ledger.open_lesson(lesson_id)
    for seq in (1, 2):
        close_segment(ledger, seq, lesson=lesson_id)
    upload = svc.settings.uploads_dir / "ab" / "ab12cd"
    upload.parent.mkdir(parents=True, exist_ok=True)
    upload.write_bytes(os.urandom(3000))  # uploads are stored encrypted: any bytes stand for one
    (upload.parent / "ef34.tmp").write_bytes(b"a write in progress")
    return {"class_id": cls["id"], "lesson_id": lesson_id, "upload": upload, "ledger": ledger}


def classes(client: TestClient) -> list[tuple[int, str]]:
    token = ok(client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}))["token"]
    body = ok(client.get("/api/classes", headers={"Authorization": f"Bearer {token}"}))
    return [(c["id"], c["name"]) for c in body["items"]]


def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "old-secret.key"
    path.write_text(TEST_KEY.hex())
    return path


def served(data_dir: Path, url: str | None = None) -> TestClient:
    settings = Settings(data_dir=data_dir, database_url=url or f"sqlite:///{data_dir / 'qihang.db'}",
                        secret_key=bytes.fromhex((data_dir / "secret.key").read_text().strip()))
    return TestClient(create_app(services=Services.build(settings)))


def _head_revision() -> str:
    """The newest migration: a backup records the schema it was taken at."""
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parents[1] / "models" / "migrations"))
    return ScriptDirectory.from_config(cfg).get_current_head()


def test_backup_then_restore_rebuilds_a_working_instance(world, svc, backend, tmp_path):
    data = seed(world, svc)
    before = classes(world.client)
    key = load_platform_key(svc.settings)
    out = tmp_path / "backups"
    result = create_backup(svc.settings, out, key=key, clock=svc.clock)
    m = read_manifest(result.path)[1]
    names = {item["name"] for item in m["members"]}
    assert result.sequence == 1 and m["previous"] is None
    assert m["database"]["engine"] == backend and m["database"]["revision"] == _head_revision()
    assert f"recordings/{data['lesson_id']}/manifest.json" in names and "uploads/ab/ab12cd" in names
    assert not any(n.endswith((".mkv", ".tmp")) for n in names)  # media are proven by their manifests
    assert m["recordings"] == [{"lesson_id": data["lesson_id"], "status": "recording", "segments": 2,
                                "head": data["ledger"].manifest(data["lesson_id"])["head"]}]
    assert verify_backup(result.path, key.public).ok

    new = tmp_path / "restored"
    done = restore(result.path, new, trusted=key.public, secret_key_file=key_file(tmp_path))
    assert (new / "qihang.db").exists() and (new / "uploads/ab/ab12cd").read_bytes() == data["upload"].read_bytes()
    lesson_manifest = f"recordings/{data['lesson_id']}/manifest.json"
    assert (new / lesson_manifest).read_bytes() == (svc.settings.data_dir / lesson_manifest).read_bytes()
    assert done.uploads == 1 and done.manifests == 1
    with served(new) as client:
        assert classes(client) == before
    assert json.loads((new / "backup-chain.json").read_text())["manifest_sha256"] == result.manifest_sha256

    if backend == "postgresql":  # the JSON dump also loads into another PostgreSQL schema
        schema = f"qh_restore_{secrets.token_hex(3)}"
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        try:
            other = tmp_path / "restored-pg"
            restore(result.path, other, trusted=key.public, secret_key_file=key_file(tmp_path), database_url=url)
            with served(other, url) as client:
                assert classes(client) == before
                token = ok(client.post("/api/auth/login", json={"username": "aa_admin", "password": PASSWORD}))["token"]
                created = client.post("/api/classes", headers={"Authorization": f"Bearer {token}"}, json={
                    "name": "新班", "course_type": "SYB", "delivery_mode": "live"})
                assert created.status_code == 201, created.text  # sequences were reset past the loaded ids
        finally:
            Database(url).dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def test_restore_refuses_a_wrong_key_a_used_database_and_a_tampered_archive(world, svc, tmp_path):
    seed(world, svc)
    key = load_platform_key(svc.settings)
    archive = create_backup(svc.settings, tmp_path / "b", key=key).path
    wrong = tmp_path / "wrong.key"
    wrong.write_text(os.urandom(32).hex())
    with pytest.raises(RestoreError, match="not the master key"):
        restore(archive, tmp_path / "r1", trusted=key.public, secret_key_file=wrong)
    with pytest.raises(RestoreError, match="--secret-key-file"):
        restore(archive, tmp_path / "r2", trusted=key.public)
    restore(archive, tmp_path / "r3", trusted=key.public, secret_key_file=key_file(tmp_path))
    with pytest.raises(RestoreError, match="not empty"):
        restore(archive, tmp_path / "r3", trusted=key.public, secret_key_file=key_file(tmp_path))
    edited = rewrite(archive, tmp_path / "edited.tar", change={"uploads/ab/ab12cd": b"swapped"})
    with pytest.raises(RestoreError, match="fails verification"):
        restore(edited, tmp_path / "r4", trusted=key.public, secret_key_file=key_file(tmp_path))
    assert not (tmp_path / "r4" / "qihang.db").exists()


# -- tampering, on a plain SQLite instance --------------------------------------------------------

@pytest.fixture
def instance(tmp_path, sqlite_template) -> Settings:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(sqlite_template, data / "qihang.db")
    settings = Settings(data_dir=data, database_url=f"sqlite:///{data / 'qihang.db'}", secret_key=TEST_KEY)
    (settings.uploads_dir / "0f").mkdir(parents=True)
    (settings.uploads_dir / "0f" / "0f99").write_bytes(b"encrypted id card photo")
    return settings


def rewrite(src: Path, dst: Path, *, change: dict | None = None, add: dict | None = None,
            manifest=None) -> Path:
    """Copy an archive member by member, replacing (bytes) or dropping (None) some, adding others;
    ``manifest(dict) -> bytes`` replaces the manifest."""
    change, add = change or {}, add or {}
    with tarfile.open(src) as tin, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tout:
        for member in tin:
            data = tin.extractfile(member).read()
            if member.name == MANIFEST_NAME:
                if manifest is not None:
                    data = manifest(json.loads(data))
                extra = list(add.items())
            else:
                extra = []
            if member.name in change:
                if change[member.name] is None:
                    continue
                data = change[member.name]
            for name, blob in extra:
                _put(tout, name, blob)
            _put(tout, member.name, data)
    return dst


def _put(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def problems(archive: Path, key: PlatformKey, **kw) -> list[str]:
    return verify_backup(archive, key.public, **kw).problems


def test_any_change_to_a_backup_is_detected(instance, tmp_path):
    key = load_platform_key(instance)
    archive = create_backup(instance, tmp_path / "b", key=key).path
    assert problems(archive, key) == []
    dump = bytearray(tarfile.open(archive).extractfile("db/qihang.sqlite").read())
    dump[len(dump) // 2] ^= 0x01
    cases = {
        "an edited dump": (dict(change={"db/qihang.sqlite": bytes(dump)}), "'db/qihang.sqlite' was changed"),
        "a removed member": (dict(change={"uploads/0f/0f99": None}), "'uploads/0f/0f99' is listed but missing"),
        "an added member": (dict(add={"uploads/0f/0fAA": b"planted"}), "'uploads/0f/0fAA' is not listed"),
        "a member twice": (dict(add={"uploads/0f/0f99": b"shadow"}), "'uploads/0f/0f99' appears twice"),
    }
    for what, (kw, message) in cases.items():
        got = problems(rewrite(archive, tmp_path / "t.tar", **kw), key)
        assert any(message in p for p in got), (what, got)

    def edited_manifest(m):
        m["database"]["revision"] = "0001"
        return canonical(m)
    got = problems(rewrite(archive, tmp_path / "t.tar", manifest=edited_manifest), key)
    assert got == ["manifest signature: signature does not match the content"]

    forger = PlatformKey.generate()

    def re_signed(m):  # the dump edited and the manifest made to match it, signed with another key
        item = next(i for i in m["members"] if i["name"] == "db/qihang.sqlite")
        item["sha256"] = sha256_hex(bytes(dump))
        return canonical(forger.sign_document(m, at="2026-01-01T00:00:00+08:00"))
    got = problems(rewrite(archive, tmp_path / "t.tar", change={"db/qihang.sqlite": bytes(dump)},
                           manifest=re_signed), key)
    assert len(got) == 1 and "signed by another key" in got[0]
    truncated = tmp_path / "cut.tar"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    assert problems(truncated, key)


def test_backups_form_a_hash_chain(instance, tmp_path):
    key = load_platform_key(instance)
    out = tmp_path / "b"
    t = datetime(2026, 1, 31, 18, 0, tzinfo=timezone.utc)
    first = create_backup(instance, out, key=key, clock=lambda: t)
    second = create_backup(instance, out, key=key, clock=lambda: t + timedelta(days=28))
    assert second.sequence == 2 and second.previous == {"file": first.path.name, "sequence": 1,
                                                        "manifest_sha256": first.manifest_sha256}
    check = verify_backup(second.path, key.public)
    assert check.ok and "links to" in check.notes[0]

    # whoever holds the platform key re-signs an edited first backup: it verifies on its own…
    def resigned(m):
        item = next(i for i in m["members"] if i["name"] == "uploads/0f/0f99")
        item["sha256"], item["size"] = sha256_hex(b"rewritten"), len(b"rewritten")
        return canonical(key.sign_document(m, at="2026-02-01T00:00:00+08:00"))
    rewrite(first.path, tmp_path / "x.tar", change={"uploads/0f/0f99": b"rewritten"}, manifest=resigned)
    os.replace(tmp_path / "x.tar", first.path)
    assert verify_backup(first.path, key.public).ok
    # …but the next backup's link to it breaks
    assert any("chain broken" in p for p in problems(second.path, key))

    # a backup whose previous-link is wrong (signed by the platform key all the same)
    def wrong_link(m):
        m["previous"]["manifest_sha256"] = "0" * 64
        return canonical(key.sign_document(m, at="2026-03-01T00:00:00+08:00"))
    bad = rewrite(second.path, out / "qihang-backup-20260301T000000Z.tar", manifest=wrong_link)
    assert any("chain broken" in p for p in problems(bad, key))

    def skipped(m):  # claims to follow #1 while calling itself #3
        m["sequence"] = 3
        return canonical(key.sign_document(m, at="2026-03-01T00:00:00+08:00"))
    assert any("is not backup #2" in p for p in problems(rewrite(second.path, out / "s.tar", manifest=skipped), key))
    first.path.unlink()
    assert any("not found" in p for p in problems(second.path, key))
    assert verify_backup(second.path, key.public, check_previous=False).ok


def cli(args, data_dir: Path):
    env = dict(os.environ, QIHANG_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    for name in ("DATABASE_URL", "QIHANG_SIGNING_KEY", "QIHANG_SIGNING_KEY_FILE", "QIHANG_SECRET_KEY",
                 "QIHANG_SECRET_KEY_FILE", "QIHANG_RECORDINGS_DIR", "QIHANG_S3_BUCKET"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "server.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_the_commands_backup_verify_and_restore(tmp_path):
    data = tmp_path / "data"
    assert cli(["migrate"], data).returncode == 0
    settings = Settings.from_env({"QIHANG_DATA_DIR": str(data)})
    svc = Services.build(settings)
    w = World(TestClient(create_app(services=svc)), svc)
    w.bootstrap_admin()
    seed(w, svc)
    before = classes(w.client)
    svc.db.dispose()
    r = cli(["backup", "--out", str(tmp_path / "b")], data)
    assert r.returncode == 0 and "#1" in r.stdout and "manifest sha256" in r.stdout, r.stdout + r.stderr
    r2 = cli(["backup", "--out", str(tmp_path / "b")], data)
    assert r2.returncode == 0 and "#2" in r2.stdout, r2.stdout + r2.stderr
    archives = sorted((tmp_path / "b").glob("qihang-backup-*.tar"), key=lambda a: read_manifest(a)[1]["sequence"])
    assert len(archives) == 2
    v = cli(["verify-backup", str(archives[1]), "--whole-chain"], data)
    assert v.returncode == 0 and v.stdout.count("backup intact") == 2, v.stdout + v.stderr
    edited = rewrite(archives[1], tmp_path / "edited.tar", change={"uploads/ab/ab12cd": b"edited"})
    bad = cli(["verify-backup", str(edited), "--no-chain"], data)
    assert bad.returncode == 1 and "'uploads/ab/ab12cd' was changed" in bad.stdout
    new = tmp_path / "new"
    pub = load_platform_key(settings).public.hex
    r = cli(["restore", str(archives[1]), "--data-dir", str(new), "--secret-key-file", str(data / "secret.key"),
             "--signing-key-file", str(data / "signing.key"), "--public-key", pub], tmp_path / "elsewhere")
    assert r.returncode == 0 and "restored into" in r.stdout, r.stdout + r.stderr
    assert (new / "signing.key").read_text() == (data / "signing.key").read_text()
    with served(new) as client:
        assert classes(client) == before
    r = cli(["restore", str(edited), "--data-dir", str(tmp_path / "new2"), "--secret-key-file",
             str(data / "secret.key"), "--public-key", pub], tmp_path / "elsewhere")
    assert r.returncode == 2 and "restore refused" in r.stderr
