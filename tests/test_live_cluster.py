"""Two app processes, one PostgreSQL and one Redis: a room spans nodes (groundwork for multi-node rooms).

A student connected to node B chats; the lecturer on node A hears it and sees the student in the
online list — the event went through the shared log and the Redis bus, not through memory.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets
from sqlalchemy import text

from tests.conftest import TEST_KEY
from tests.world import PASSWORD, World

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("QIHANG_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def open_lesson(pg_schema, tmp_path):
    """An open class on PostgreSQL whose first lesson is running now; returns (db url, world)."""
    from starlette.testclient import TestClient

    from server.app import create_app
    from server.services import Services
    from server.settings import Settings

    url, db = pg_schema
    svc = Services.build(Settings(data_dir=tmp_path, database_url=url, secret_key=TEST_KEY), db=db)
    client = TestClient(create_app(services=svc))
    w = World(client, svc)
    w.bootstrap_admin()
    w.institution("alpha")
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("hohhot", "city", "150100")
    detail = w.running_lesson("alpha", district="yuquan", city="hohhot")
    w.lesson_id = detail["lesson_id"]
    w.lecturer_name = detail["lecturer_username"]
    w.student_id = detail["roster"][0]["id"]
    yield url, w
    tables = ", ".join(f'"{t}"' for t in ("lesson_events", "audit_log", "auth_sessions", "class_transitions",
                                           "enrolments", "lessons", "class_lecturers", "class_assistants",
                                           "classes", "student_profiles", "lecturer_profiles", "stored_files",
                                           "users", "institutions", "calendar_overrides"))
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def _node(url: str, tmp: Path, prefix: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=url, REDIS_URL=REDIS_URL, QIHANG_SECRET_KEY=TEST_KEY.hex(),
               QIHANG_DATA_DIR=str(tmp), QIHANG_BUS_PREFIX=prefix, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"node did not start: {proc.stderr.read().decode()[-2000:]}")


def _token(base: str, username: str) -> str:
    r = httpx.post(base + "/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()["token"]


async def _until(ws, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        if predicate(msg):
            return msg


def test_chat_and_online_list_cross_two_nodes_through_redis(open_lesson, tmp_path):
    url, w = open_lesson
    prefix = f"qihang-test-{secrets.token_hex(4)}:"
    (node_a, base_a), (node_b, base_b) = _node(url, tmp_path, prefix), _node(url, tmp_path, prefix)
    try:
        lecturer_token = _token(base_a, w.lecturer_name)
        student_token = _token(base_b, w.mobiles[w.student_id])

        async def scenario():
            ws_path = f"/ws/lessons/{w.lesson_id}"
            async with websockets.connect(base_a.replace("http", "ws") + ws_path) as lec, \
                    websockets.connect(base_b.replace("http", "ws") + ws_path) as stu:
                await lec.send(json.dumps({"type": "join", "token": lecturer_token, "session_id": "lec"}))
                assert (await _until(lec, lambda m: m["type"] == "joined"))["you"]["room_role"] == "lecturer"
                await stu.send(json.dumps({"type": "join", "token": student_token, "session_id": "stu"}))
                joined = await _until(stu, lambda m: m["type"] == "joined")
                # the lecturer, connected to the other node, is in the student's online list
                assert any(o["room_role"] == "lecturer" for o in joined["online"])
                pres = await _until(lec, lambda m: m["type"] == "presence" and m["count"] == 1)
                assert w.student_id in {o["user_id"] for o in pres["online"]}
                await stu.send(json.dumps({"type": "chat", "text": "两个节点之间的消息"}))
                got = await _until(lec, lambda m: m["type"] == "event" and m["event"]["kind"] == "chat")
                assert got["event"]["payload"]["text"] == "两个节点之间的消息"
                assert got["event"]["user_id"] == w.student_id

        asyncio.run(scenario())
    finally:
        for node in (node_a, node_b):
            node.terminate()
            node.wait(10)
