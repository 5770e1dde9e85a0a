"""The `qihang` command and the demo data the README promises."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(args, tmp_path, **env):
    e = dict(os.environ, QIHANG_DATA_DIR=str(tmp_path), PYTHONPATH=str(ROOT), **env)
    e.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "server.cli", *args], env=e, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_migrate_then_demo_prints_a_link_per_role_and_is_idempotent(tmp_path):
    r = run(["migrate"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "qihang.db").exists() and (tmp_path / "secret.key").exists()
    r = run(["demo", "--base-url", "http://127.0.0.1:8000"], tmp_path)
    assert r.returncode == 0, r.stderr
    for user in ("admin", "school", "teacher1", "assistant1", "district", "city", "13810000000"):
        assert f"http://127.0.0.1:8000/login?u={user}" in r.stdout
    again = run(["demo"], tmp_path)
    assert again.returncode == 0 and "already" in again.stdout


def test_demo_class_passes_every_submission_check(tmp_path):
    from starlette.testclient import TestClient

    from server.app import create_app
    from server.demo import DEMO_PASSWORD, load_demo
    from server.services import Services
    from server.settings import Settings

    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/q.db", secret_key=bytes(32))
    svc = Services.build(settings)
    svc.db.migrate()
    info = load_demo(svc)
    client = TestClient(create_app(services=svc))
    token = client.post("/api/auth/login", json={"username": "school", "password": DEMO_PASSWORD}).json()["token"]
    checks = client.get(f"/api/classes/{info.class_id}/checks", headers={"Authorization": f"Bearer {token}"}).json()
    assert checks == {"ok": True, "violations": []}
