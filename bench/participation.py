"""The participation view's update latency (SUP-4, issue 6): how soon a hidden supervisor sees what
200 students do.

Issue: "bench/RESULTS.md: the participation view's update latency with 200 students in a room."

Set-up (not timed): ``bench.join_storm.seed`` makes a lesson running now with N rostered students
(all logged in through the API) and a district supervisor; the real app runs under uvicorn in its
own process pinned to core 0, exactly as ``join_storm`` runs it. The load process (core 1) opens
the supervisor's socket with a **spectator link** (made through the API, as the dashboard's button
does) and the lecturer's socket, then:

1. **Joins**: the N students join over ``--window`` seconds. For each, latency = from sending
   ``join`` to the first ``presence`` list the spectator receives that contains them (presence is
   coalesced every 0.5 s per lesson: that is the view's refresh, part of what is measured).
2. **Interaction**: every student raises a hand, sends a chat line, reports its page hidden and
   visible again, at random moments over ``--active`` seconds (N × 4 events). For each, latency =
   from the student's send to the spectator receiving the event (each passes admission checks,
   the screening (LIVE-5), the event-log write and the bus).
3. **Baseline**: the same interaction run with 10 students in the room (same server, same lesson,
   before the others join) — the ratio N-room / 10-room is the figure that survives a noisy
   machine. Before it, one unmeasured chat line warms the process up (its first line builds the
   screening automaton from the word list, ~0.3 s once per process).

Reported: p50/p95/max of each latency, the ratio of p50 and p95 against the baseline, events lost
(sent, never seen by the spectator), the server's CPU share of one core during the interaction,
and the lecturer's view agreeing with the spectator's (same online count).

    python -m bench.participation [--quick] [--n N] [--window S] [--active S]

Full: N = 200, joins over 10 s, interaction over 20 s. ``--quick``: N = 60, 5 s, 10 s (≤ 60 s with
set-up). The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import socket
import sys
import tempfile
import time

from bench.join_storm import _child_setup, _cpu_s, _free_port, _pct, seed, server_entry


def _link(data_dir: str, lesson_id: int) -> tuple[str, list[int]]:
    """A spectator link for the district supervisor, made through the API; and the roster's ids."""
    from starlette.testclient import TestClient

    from models import Enrolment, Lesson
    from server.app import create_app
    from server.services import Services
    from bench.join_storm import _settings
    from tests.world import World
    svc = Services.build(_settings(data_dir))
    w = World(TestClient(create_app(services=svc)), svc)
    token = w.login("yuquan")
    resp = w.client.post(f"/api/lessons/{lesson_id}/spectator-links", headers={"Authorization": f"Bearer {token}"},
                         json={})
    assert resp.status_code == 201, resp.text
    with svc.db.session() as s:
        cls_id = s.get(Lesson, lesson_id).class_id
        ids = [e.student_user_id for e in s.query(Enrolment).filter_by(class_id=cls_id, status="enrolled")
               .order_by(Enrolment.student_user_id)]
    return resp.json()["token"], ids


def load_entry(conn, url: str, spectate: str, lecturer: str, students: list[str], window: float,
               active: float) -> None:
    _child_setup(1)
    try:
        result = asyncio.run(_load(url, spectate, lecturer, students, window, active))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        import traceback
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    conn.send(result)


async def _load(url: str, spectate: str, lecturer: str, students: list[str], window: float, active: float) -> dict:
    import websockets

    loop = asyncio.get_running_loop()
    seen_online: dict[int, float] = {}  # user -> when the spectator first saw them online
    seen_events: dict[str, float] = {}  # marker -> when the spectator saw it
    counts = {"spectator": 0, "lecturer": 0}

    async def open_socket(join: dict):
        ws = await asyncio.wait_for(websockets.connect(url, max_size=1 << 22), 15)
        await ws.send(json.dumps(join))
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == "joined":
                return ws, msg
            if msg["type"] == "error":
                raise RuntimeError(msg["error"])

    spy, spy_joined = await open_socket({"type": "join", "spectate": spectate, "session_id": "spy"})
    lec, _ = await open_socket({"type": "join", "token": lecturer, "session_id": "lec"})

    async def spectator_reader():
        async for raw in spy:
            now = loop.time()
            msg = json.loads(raw)
            if msg["type"] == "presence":
                counts["spectator"] = msg["count"]
                for o in msg["online"]:
                    seen_online.setdefault(o["user_id"], now)
            elif msg["type"] == "event":
                ev = msg["event"]
                p = ev.get("payload") or {}
                marker = p.get("text") if ev["kind"] == "chat" else f"{ev['kind']}:{ev['user_id']}:{p.get('visible')}"
                seen_events.setdefault(marker, now)

    async def lecturer_reader():
        async for raw in lec:
            msg = json.loads(raw)
            if msg["type"] == "presence":
                counts["lecturer"] = msg["count"]

    readers = [asyncio.ensure_future(spectator_reader()), asyncio.ensure_future(lecturer_reader())]
    student_ids: dict[int, int] = {}
    sockets: list = []
    drains: list[asyncio.Task] = []

    async def student_join(i: int, token: str, delay: float, sent: dict[int, float]):
        await asyncio.sleep(delay)
        ws = await asyncio.wait_for(websockets.connect(url, max_size=1 << 22), 15)
        t0 = loop.time()
        await ws.send(json.dumps({"type": "join", "token": token, "session_id": f"s{i}"}))
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == "joined":
                break
            if msg["type"] == "error":
                raise RuntimeError(msg["error"])
        uid = msg["you"]["user_id"]
        student_ids[i] = uid
        sent[uid] = t0
        sockets.append((i, uid, ws))

        async def drain():  # a phone reads what it is sent
            try:
                async for _ in ws:
                    pass
            except websockets.ConnectionClosed:
                pass
        drains.append(asyncio.ensure_future(drain()))

    async def interaction(members: list[tuple[int, int, object]], seconds: float, tag: str) -> dict:
        sent: dict[str, float] = {}
        rng = random.Random(7)

        async def one(i: int, uid: int, ws):
            plan = [("hand_raise", None), ("chat", None), ("page_visibility", False), ("page_visibility", True)]
            for kind, visible in plan:
                await asyncio.sleep(rng.uniform(0, seconds / len(plan)))
                if kind == "chat":
                    marker = f"{tag}-{i}-{len(sent)}"
                    msg = {"type": "chat", "text": marker}
                elif kind == "page_visibility":
                    marker = f"page_visibility:{uid}:{visible}"
                    msg = {"type": kind, "visible": visible}
                else:
                    marker = f"hand_raise:{uid}:None"
                    msg = {"type": kind}
                sent[marker] = loop.time()
                await ws.send(json.dumps(msg))
        cpu0, t0 = _cpu_s(server_pid), time.monotonic()
        await asyncio.gather(*(one(i, uid, ws) for i, uid, ws in members))
        deadline = loop.time() + 10
        while loop.time() < deadline and any(m not in seen_events for m in sent):
            await asyncio.sleep(0.05)
        cpu = (_cpu_s(server_pid) - cpu0) / max(1e-6, time.monotonic() - t0)
        lat = [seen_events[m] - t for m, t in sent.items() if m in seen_events]
        return {"events": len(sent), "lost": len(sent) - len(lat), "p50_ms": _ms(_pct(lat, 0.5)),
                "p95_ms": _ms(_pct(lat, 0.95)), "max_ms": _ms(max(lat) if lat else None),
                "server_cpu_pct": round(100 * cpu, 1)}

    # warm-up (not measured): the process builds its screener (word list, pinyin) on the first line
    await lec.send(json.dumps({"type": "chat", "text": "warm-up"}))
    deadline = loop.time() + 10
    while "warm-up" not in seen_events and loop.time() < deadline:
        await asyncio.sleep(0.05)
    # baseline: a small room of BASE students
    sent_join: dict[int, float] = {}
    base = min(BASE, len(students))
    await asyncio.gather(*(student_join(k, students[k], 0, sent_join) for k in range(base)))
    await asyncio.sleep(1.0)
    baseline = await interaction(list(sockets), min(active, 5.0), "base")
    # every hand is raised: lower it again so the full run starts the same
    for _, _, ws in sockets:
        await ws.send(json.dumps({"type": "hand_lower"}))
    await asyncio.sleep(1.0)

    n = len(students)
    first = set(sent_join)
    rest = students[base:]
    spread = [window * k / max(1, len(rest) - 1) for k in range(len(rest))]
    await asyncio.gather(*(student_join(base + k, tok, spread[k], sent_join) for k, tok in enumerate(rest)))
    deadline = loop.time() + 15
    while loop.time() < deadline and any(uid not in seen_online for uid in sent_join):
        await asyncio.sleep(0.05)
    join_lat = [seen_online[uid] - t for uid, t in sent_join.items() if uid in seen_online and uid not in first]
    await asyncio.sleep(1.0)
    full = await interaction(list(sockets), active, "full")
    await asyncio.sleep(1.0)
    for task in readers + drains:
        task.cancel()
    for _, _, ws in sockets:
        await ws.close()
    await spy.close()
    await lec.close()
    return {
        "students": n, "spectator_joined_roster": len(spy_joined.get("roster", [])),
        "presence_p50_ms": _ms(_pct(join_lat, 0.5)), "presence_p95_ms": _ms(_pct(join_lat, 0.95)),
        "presence_max_ms": _ms(max(join_lat) if join_lat else None),
        "presence_missing": len(sent_join) - len(join_lat) - len(first), "baseline_students": base,
        "online_count_spectator": counts["spectator"], "online_count_lecturer": counts["lecturer"],
        "event_baseline": baseline, "event_full": full,
        "ratio_p50": _ratio(full["p50_ms"], baseline["p50_ms"]), "ratio_p95": _ratio(full["p95_ms"], baseline["p95_ms"]),
    }


server_pid = 0
BASE = 10  # students in the baseline room


def _ms(seconds):
    return None if seconds is None else round(1000 * seconds, 1)


def _ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def _load_with_pid(conn, pid: int, *args) -> None:
    global server_pid
    server_pid = pid
    load_entry(conn, *args)


def run(n: int, window: float, active: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="qihang-participation-") as data_dir:
        t = time.monotonic()
        data = seed(data_dir, n)
        spectate, _ids = _link(data_dir, data["lesson_id"])
        print(f"  seeded a lesson with {n} students in {time.monotonic() - t:.0f} s", file=sys.stderr, flush=True)
        ctx = mp.get_context("spawn")
        port = _free_port()
        server = ctx.Process(target=server_entry, args=(data_dir, port, os.path.join(data_dir, "server.log"), None),
                             daemon=True)
        server.start()
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        res_recv, res_send = ctx.Pipe(duplex=False)
        url = f"ws://127.0.0.1:{port}/ws/lessons/{data['lesson_id']}"
        load = ctx.Process(target=_load_with_pid, args=(res_send, server.pid, url, spectate, data["lecturer"],
                                                        data["students"], window, active), daemon=True)
        load.start()
        result: dict = {"error": "timeout"}
        try:
            if res_recv.poll(60 + window + active):
                result = res_recv.recv()
        finally:
            for p in (load, server):
                p.terminate()
                p.join(3)
                if p.is_alive():
                    p.kill()
            with open(os.path.join(data_dir, "server.log"), errors="replace") as f:
                errors = [line for line in f if "Traceback" in line or "ERROR" in line]
            result["server_errors"] = len(errors)
        return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n", type=int)
    ap.add_argument("--window", type=float)
    ap.add_argument("--active", type=float)
    a = ap.parse_args()
    n = a.n or (60 if a.quick else 200)
    window = a.window or (5.0 if a.quick else 10.0)
    active = a.active or (10.0 if a.quick else 20.0)
    out = {"bench": "participation", "quick": a.quick, "n": n, "join_window_s": window, "active_s": active,
           **run(n, window, active)}
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
