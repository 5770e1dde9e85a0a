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
import shutil
import socket
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


WRK_SCRIPT = """
tokens = {%s}
counter = 0
request = function()
  counter = counter + 1
  local h = {}
  if #tokens > 0 then h["Authorization"] = "Bearer " .. tokens[(counter %% #tokens) + 1] end
  return wrk.format("GET", "%s", h)
end
"""


def wrk_phase(base: str, path: str, tokens: list[str], clients: int, seconds: float, pid: int) -> dict:
    """Drive one GET path with wrk (C, epoll): a load generator that does not run out of CPU first."""
    import re
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(WRK_SCRIPT % (", ".join(f'"{t}"' for t in tokens), path))
    c0 = cpu_seconds(pid)
    out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{int(seconds)}s", "--latency", "--timeout", "30s",
                          "-s", fh.name, base], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - c0
    os.unlink(fh.name)

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        return round(float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)], 1) if m else float("nan")

    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests": requests, "errors": {"non_2xx": int(bad.group(1))} if bad else {},
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": ms("50"), "p99_ms": ms("99"),
            "server_cpu_ms_per_request": round(1000 * cpu / max(1, requests), 3),
            "server_cpu_pct_one_core": round(100 * cpu / seconds, 1)}


def cpu_seconds(pid: int) -> float:
    """utime + stime of the server process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_clients(base: str, clients: int, seconds: float, users: list[str], password: str, pid: int,
                      use_wrk: bool = False) -> dict:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    lat: dict[str, list[float]] = {"health": [], "login": [], "list": []}
    errors: dict[str, dict[str, int]] = {"health": {}, "login": {}, "list": {}}

    def record(kind: str, t0: float, r: httpx.Response) -> None:
        lat[kind].append(time.perf_counter() - t0)
        if r.status_code != 200:
            errors[kind][str(r.status_code)] = errors[kind].get(str(r.status_code), 0) + 1

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        async def health(deadline: float) -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                record("health", t0, await http.get("/healthz"))

        async def login(i: int) -> dict:
            t0 = time.perf_counter()
            r = await http.post("/api/auth/login", json={"username": users[i % len(users)], "password": password})
            record("login", t0, r)
            return {"Authorization": f"Bearer {r.json().get('token', '')}"}

        async def listing(h: dict, deadline: float) -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                record("list", t0, await http.get("/api/classes", headers=h))

        phases = {}

        def summary(kind: str) -> dict:
            wall, cpu = phases[kind]
            values = lat[kind]
            return {"requests": len(values), "errors": errors[kind], "rps": round(len(values) / wall, 1),
                    "p50_ms": round(pct(values, 0.50), 1), "p99_ms": round(pct(values, 0.99), 1),
                    "server_cpu_ms_per_request": round(1000 * cpu / max(1, len(values)), 3),
                    "server_cpu_pct_one_core": round(100 * cpu / wall, 1)}

        async def phase(name: str, coro_factory) -> object:
            c0, t = cpu_seconds(pid), time.perf_counter()
            out = await coro_factory()
            phases[name] = (time.perf_counter() - t, cpu_seconds(pid) - c0)
            return out

        # 1. Every client logs in at once (argon2id verification dominates the server's work).
        headers = await phase("login", lambda: asyncio.gather(*(login(i) for i in range(clients))))
        if use_wrk:  # the GET phases are driven by wrk, see main()
            return {"login": summary("login")}
        # 2. Baseline: the framework floor (uvicorn + Starlette, no auth, no DB) at the same concurrency.
        await phase("health", lambda: asyncio.gather(*(health(time.perf_counter() + seconds) for _ in range(clients))))
        # 3. Every client lists classes until the deadline.
        await phase("list", lambda: asyncio.gather(*(listing(h, time.perf_counter() + seconds) for h in headers)))

    return {"baseline_healthz": summary("health"), "login": summary("login"), "class_list": summary("list")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--generator", choices=("wrk", "httpx"), default="wrk" if shutil.which("wrk") else "httpx",
                    help="load generator for the GET phases (wrk: Debian package, used when installed)")
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
        # Server on core 0, load generator on core 1 (when there are two), as in ../shared/notes/sfu.md.
        pin = len(os.sched_getaffinity(0)) >= 2
        server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port)], env=env,
                                  cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  preexec_fn=(lambda: os.sched_setaffinity(0, {0})) if pin else None)
        if pin:
            os.sched_setaffinity(0, {1})
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
            users = staff + students
            result = asyncio.run(run_clients(base, args.clients, seconds, users, DEMO_PASSWORD, server.pid,
                                             use_wrk=args.generator == "wrk"))
            if args.generator == "wrk":
                tokens = [httpx.post(base + "/api/auth/login", json={"username": u, "password": DEMO_PASSWORD}
                                     ).json()["token"] for u in users]
                result["baseline_healthz"] = wrk_phase(base, "/healthz", [], args.clients, seconds, server.pid)
                result["class_list"] = wrk_phase(base, "/api/classes", tokens, args.clients, seconds, server.pid)
        finally:
            server.terminate()
            server.wait(10)
            if schema:
                subprocess.run([sys.executable, "-c", f"import sqlalchemy as sa;e=sa.create_engine('{PG_URL}');"
                                f"c=e.connect();c.execute(sa.text('DROP SCHEMA {schema} CASCADE'));c.commit()"])
    result.update({
        "db": args.db, "generator": args.generator, "clients": args.clients, "seconds": seconds, "server_processes": 1,
        # Server CPU per request, ours vs the framework floor: independent of how fast the load
        # generator (same machine, other core) can drive the server.
        "class_list_vs_healthz_cpu_ratio": round(result["class_list"]["server_cpu_ms_per_request"]
                                                 / result["baseline_healthz"]["server_cpu_ms_per_request"], 2),
        "class_list_rps_per_server_core": round(1000 / result["class_list"]["server_cpu_ms_per_request"], 1),
        "login_rps_per_server_core": round(1000 / result["login"]["server_cpu_ms_per_request"], 1),
    })
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
