"""API load: login + class listing under 200 concurrent clients, against the framework floor.

Starts the real server (uvicorn, one process) in a subprocess on loopback with demo data, then
drives it from this process with N concurrent asyncio clients. Each client logs in once, then
lists classes repeatedly. The baseline is ``GET /healthz`` at the same concurrency on the same
server: the cost of uvicorn + Starlette with no auth, no database and no JSON work, so the
ratio shows what our request path adds. Prints one JSON object as its last line.

    python -m bench.api_load [--quick] [--clients 200] [--db sqlite|postgresql]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PG_URL = os.environ.get("QIHANG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] * 1000 if values else float("nan")


def summary(lat: list[float], errors: int, seconds: float) -> dict:
    return {"requests": len(lat), "errors": errors, "rps": round(len(lat) / seconds, 1),
            "p50_ms": round(pct(lat, 0.50), 1), "p99_ms": round(pct(lat, 0.99), 1),
            "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None}


async def run_clients(base: str, clients: int, seconds: float, users: list[str], password: str) -> dict:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    login_lat, list_lat, health_lat = [], [], []
    errors = {"login": 0, "list": 0, "health": 0}
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        async def client(i: int, deadline: float) -> None:
            t0 = time.perf_counter()
            r = await http.post("/api/auth/login", json={"username": users[i % len(users)], "password": password})
            login_lat.append(time.perf_counter() - t0)
            if r.status_code != 200:
                errors["login"] += 1
                return
            h = {"Authorization": f"Bearer {r.json()['token']}"}
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                r = await http.get("/api/classes", headers=h)
                list_lat.append(time.perf_counter() - t0)
                errors["list"] += r.status_code != 200

        async def health(deadline: float) -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                r = await http.get("/healthz")
                health_lat.append(time.perf_counter() - t0)
                errors["health"] += r.status_code != 200

        # Phase 1: baseline (framework floor) at the same concurrency.
        t = time.perf_counter()
        await asyncio.gather(*(health(t + seconds) for _ in range(clients)))
        base_s = time.perf_counter() - t
        # Phase 2: every client logs in at once, then lists classes until the deadline.
        t = time.perf_counter()
        await asyncio.gather(*(client(i, t + seconds) for i in range(clients)))
        ours_s = time.perf_counter() - t
    login_window = max(login_lat) if login_lat else 1.0
    return {"baseline_healthz": summary(health_lat, errors["health"], base_s),
            "login": summary(login_lat, errors["login"], login_window),
            "class_list": summary(list_lat, errors["list"], ours_s)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = ap.parse_args()
    seconds = args.seconds or (10 if args.quick else 30)
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, QIHANG_DATA_DIR=tmp, QIHANG_SECRET_KEY="00" * 32, PYTHONPATH=str(root))
        schema = None
        if args.db == "postgresql":
            schema = f"qh_bench_{os.getpid()}"
            subprocess.run([sys.executable, "-c", f"import sqlalchemy as sa;e=sa.create_engine('{PG_URL}');"
                            f"c=e.connect();c.execute(sa.text('CREATE SCHEMA {schema}'));c.commit()"], check=True)
            env["DATABASE_URL"] = f"{PG_URL}?options=-csearch_path%3D{schema}"
        port = free_port()
        subprocess.run([sys.executable, "-m", "server.cli", "demo"], env=env, check=True, cwd=root,
                       stdout=subprocess.DEVNULL)
        server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port)], env=env,
                                  cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    if httpx.get(base + "/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            from server.demo import DEMO_PASSWORD, ROLES, STUDENTS
            staff = [u for u, role, _ in ROLES if role in ("institution_admin", "lecturer", "assistant", "supervisor")]
            students = [f"138{10000000 + i:08d}" for i in range(STUDENTS)]
            result = asyncio.run(run_clients(base, args.clients, seconds, staff + students, DEMO_PASSWORD))
        finally:
            server.terminate()
            server.wait(10)
            if schema:
                subprocess.run([sys.executable, "-c", f"import sqlalchemy as sa;e=sa.create_engine('{PG_URL}');"
                                f"c=e.connect();c.execute(sa.text('DROP SCHEMA {schema} CASCADE'));c.commit()"])
    result.update({
        "db": args.db, "clients": args.clients, "seconds": seconds, "server_processes": 1,
        "class_list_vs_healthz_rps_ratio": round(result["class_list"]["rps"] / result["baseline_healthz"]["rps"], 3),
    })
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
