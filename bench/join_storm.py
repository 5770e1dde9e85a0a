"""A join storm: N students open the live room within a few seconds; time from socket open to first frame.

Set-up:

- **Data** (parent process, before anything is timed): a fresh SQLite data directory; the test world
  builder (`tests/world.py`) makes an institution, an approved open class whose first lesson runs
  now, and registers N students through the real registration API. A class may hold 30–40 students
  (CLS-3) while a live room holds 200 (LIVE-2), so the students beyond the class's own roster are
  enrolled by writing `enrolments` rows directly — the room admits them as rostered students.
  Everyone logs in beforehand (argon2id costs ~30 ms each; logging in is not joining).
- **Server process**, pinned to core 0: the real app (`server.app.create_app`) under uvicorn on
  127.0.0.1 — admission, event log writes, presence broadcasts and the SFU all in one process.
- **Load process**, pinned to core 1: the lecturer (aiortc, real VP8 640×360 30 fps ~600 kbps from
  pre-rendered pictures) joins over the WebSocket and publishes its camera; once media flows, N
  students connect at a uniform spread over the join window. Each sends `join`, answers the SFU's
  `offer` (aiortc; the answer carries its candidates), and counts video RTP without aiortc's
  decode pipeline (the receiver's packet handler is replaced, as in `sfu_fanout`). To prove it
  *plays*, each student's first keyframe is depayloaded and decoded (one shared libvpx decoder;
  keyframes decode on their own): that instant is the **first frame**.

Reported per student, from its socket open: `joined` (admission + log write + snapshot), the SFU's
offer, first video packet and first decoded frame; p50/p95 of each; how many got a frame within
the timeout; server CPU (% of one core, from /proc) between the first open and the last first
frame; server RSS. Every process is bounded by timeouts and dies with the parent.

    python -m bench.join_storm [--quick]

Full: N = 200 within 10 s. ``--quick``: N = 100 within 5 s (≤ 60 s in all, including set-up).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import time

from bench.sfu_fanout import KBPS, Channel, _child_setup, _pictures, _vp8_only

TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- data (parent)

def _settings(data_dir: str):
    from server.settings import Settings
    return Settings(data_dir=__import__("pathlib").Path(data_dir), database_url=f"sqlite:///{data_dir}/q.db",
                    secret_key=bytes(range(32)))


def seed(data_dir: str, n: int) -> dict:
    from starlette.testclient import TestClient

    from models import Enrolment
    from server.app import create_app
    from server.services import Services
    from tests.world import World

    svc = Services.build(_settings(data_dir))
    svc.db.migrate()
    w = World(TestClient(create_app(services=svc)), svc)
    w.bootstrap_admin()
    w.institution("alpha")
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("hohhot", "city", "150100")
    detail = w.running_lesson("alpha", district="yuquan", city="hohhot", students=min(n, 25))
    ids = [s["id"] for s in detail["roster"]]
    with svc.db.session() as s:
        model = s.query(Enrolment).filter_by(class_id=detail["id"]).first()
        extra = [w.student("alpha") for _ in range(n - len(ids))]
        for sid in extra:  # beyond the class cap (CLS-3), still a rostered student of the lesson's class
            s.add(Enrolment(class_id=detail["id"], student_user_id=sid, status="enrolled", year=model.year,
                            course_type=model.course_type, subsidised=True, assistant_user_id=model.assistant_user_id))
        ids += extra
    return {"lesson_id": detail["lesson_id"], "lecturer": w.login(detail["lecturer_username"]),
            "students": [w.login(w.mobiles[sid]) for sid in ids]}


# ---------------------------------------------------------------- server (core 0)

def server_entry(data_dir: str, port: int) -> None:
    _child_setup(0)
    import uvicorn

    from server.app import create_app
    from server.services import Services
    app = create_app(services=Services.build(_settings(data_dir)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws_max_size=1 << 20)


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------- load (core 1)

def load_entry(conn, url: str, lecturer: str, students: list[str], window: float, timeout: float) -> None:
    _child_setup(1)
    try:
        result = asyncio.run(_load(url, lecturer, students, window, timeout))
    except Exception as exc:  # noqa: BLE001
        result = {"error": f"{type(exc).__name__}: {exc}"}
    conn.send(result)
    os._exit(0)


async def _until(ws, predicate, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), max(0.05, deadline - time.monotonic())))
        if predicate(msg):
            return msg
        if msg["type"] == "error":
            raise RuntimeError(msg["error"].get("code"))


async def _load(url: str, lecturer: str, students: list[str], window: float, timeout: float) -> dict:
    import av
    import websockets
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.codecs import vpx
    from aiortc.codecs.vpx import vp8_depayload
    from aiortc.mediastreams import VideoStreamTrack

    from media.keyframe import is_vp8_keyframe

    vpx.DEFAULT_BITRATE = KBPS
    config = RTCConfiguration(iceServers=[])
    pictures = _pictures(60)
    pictures += pictures[-2:0:-1]

    class MovingPicture(VideoStreamTrack):
        n = 0

        async def recv(self):
            pts, time_base = await self.next_timestamp()
            frame = pictures[self.n % len(pictures)]
            self.n += 1
            frame.pts, frame.time_base = pts, time_base
            frame.pict_type = av.video.frame.PictureType.NONE
            return frame

    pcs: list = []
    sockets: list = []
    decoder = av.CodecContext.create("libvpx", "r")
    c0 = time.process_time()

    lec = await websockets.connect(url, max_size=1 << 20)
    sockets.append(lec)
    await lec.send(json.dumps({"type": "join", "token": lecturer, "session_id": "lecturer"}))
    await _until(lec, lambda m: m["type"] == "joined", 10)
    pub = RTCPeerConnection(config)
    pcs.append(pub)
    _vp8_only(pub.addTransceiver(MovingPicture(), direction="sendonly"))
    await pub.setLocalDescription(await pub.createOffer())
    await lec.send(json.dumps({"type": "publish", "slot": "main", "sdp": pub.localDescription.sdp,
                               "tracks": {pub.getTransceivers()[0].mid: "camera"}}))
    answer = await _until(lec, lambda m: m["type"] == "answer", 10)
    await pub.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    for _ in range(100):
        if pub.connectionState == "connected":
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)

    async def drain(ws) -> None:  # keep reading so the server never blocks on this socket
        try:
            async for _ in ws:
                pass
        except Exception:  # noqa: BLE001
            pass
    drains = [asyncio.ensure_future(drain(lec))]
    marks: list[dict] = [{} for _ in students]

    async def student(i: int, token: str, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        m = marks[i]
        m["start"] = time.monotonic()
        try:
            ws = await websockets.connect(url, max_size=1 << 20)
            sockets.append(ws)
            m["open"] = time.monotonic()
            await ws.send(json.dumps({"type": "join", "token": token, "session_id": f"storm-{i}"}))
            await _until(ws, lambda msg: msg["type"] == "joined", timeout)
            m["joined"] = time.monotonic()
            offer = await _until(ws, lambda msg: msg["type"] == "offer", timeout)
            m["offer"] = time.monotonic()
            drains.append(asyncio.ensure_future(drain(ws)))
            pc = RTCPeerConnection(config)
            pcs.append(pc)
            await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
            picture: list[bytes] = []
            done = asyncio.Event()
            for t in pc.getTransceivers():
                if t.kind != "video":
                    continue

                async def tap(packet, arrival_time_ms):
                    if "packet" not in m:
                        m["packet"] = time.monotonic()
                    if done.is_set():
                        return
                    if is_vp8_keyframe(packet.payload):
                        picture.clear()
                        picture.append(vp8_depayload(packet.payload))
                    elif picture:
                        picture.append(vp8_depayload(packet.payload))
                    if picture and packet.marker:
                        try:
                            frames = decoder.decode(av.Packet(b"".join(picture)))
                        except av.FFmpegError:
                            frames = []
                        picture.clear()
                        if frames:
                            m["frame"] = time.monotonic()
                            m["size"] = (frames[0].width, frames[0].height)
                            done.set()
                t.receiver._handle_rtp_packet = tap
            await pc.setLocalDescription(await pc.createAnswer())
            await ws.send(json.dumps({"type": "sdp_answer", "sdp": pc.localDescription.sdp}))
            await asyncio.wait_for(done.wait(), timeout)
        except Exception as exc:  # noqa: BLE001
            m["error"] = f"{type(exc).__name__}: {exc}"[:120]

    storm_start = time.monotonic() + 0.2
    await asyncio.gather(*(student(i, tok, storm_start + i * window / len(students)) for i, tok in enumerate(students)))
    storm_end = max([m.get("frame", 0) for m in marks] + [storm_start])
    load_cpu = time.process_time() - c0
    for task in drains:
        task.cancel()
    try:
        await asyncio.wait_for(asyncio.gather(*(p.close() for p in pcs), *(s.close() for s in sockets),
                                              return_exceptions=True), 5)
    except Exception:  # noqa: BLE001
        pass
    return {"marks": marks, "storm_start": storm_start, "storm_end": storm_end, "load_cpu_s": load_cpu}


# ---------------------------------------------------------------- orchestration

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def run(n: int, window: float, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="qihang-storm-") as data_dir:
        t = time.monotonic()
        data = seed(data_dir, n)
        seed_s = time.monotonic() - t
        print(f"  seeded a lesson with {n} students in {seed_s:.0f} s", file=sys.stderr, flush=True)
        ctx = mp.get_context("spawn")
        port = _free_port()
        server = ctx.Process(target=server_entry, args=(data_dir, port), daemon=True)
        server.start()
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        res_recv, res_send = ctx.Pipe(duplex=False)
        url = f"ws://127.0.0.1:{port}/ws/lessons/{data['lesson_id']}"
        load = ctx.Process(target=load_entry, args=(res_send, url, data["lecturer"], data["students"], window, timeout),
                           daemon=True)
        samples: list[tuple[float, float]] = []
        load.start()
        result: dict = {"error": "timeout"}
        peak_rss = 0.0
        try:
            deadline = time.monotonic() + window + timeout + 40
            while time.monotonic() < deadline:
                samples.append((time.monotonic(), _cpu_s(server.pid)))
                peak_rss = max(peak_rss, _rss_mb(server.pid))
                if res_recv.poll(0.25):
                    result = res_recv.recv()
                    break
        finally:
            for p in (load, server):
                p.terminate()
                p.join(3)
                if p.is_alive():
                    p.kill()
                    p.join(2)
    if "error" in result:
        return {"n": n, "error": result["error"]}
    marks = result["marks"]

    def since_open(key):
        return [m[key] - m["open"] for m in marks if key in m and "open" in m]

    def cpu_at(t: float) -> float:
        return min(samples, key=lambda s: abs(s[0] - t))[1]
    span = max(0.1, result["storm_end"] - result["storm_start"])
    cpu = cpu_at(result["storm_end"]) - cpu_at(result["storm_start"])
    frames = since_open("frame")
    errors: dict[str, int] = {}
    for m in marks:
        if "error" in m:
            errors[m["error"]] = errors.get(m["error"], 0) + 1
    return {
        "n": n, "join_window_s": window, "joined": len(frames),
        "first_frame_p50_s": _pct(frames, 0.50), "first_frame_p95_s": _pct(frames, 0.95),
        "first_frame_max_s": _pct(frames, 1.0),
        "joined_msg_p50_s": _pct(since_open("joined"), 0.50), "joined_msg_p95_s": _pct(since_open("joined"), 0.95),
        "offer_p50_s": _pct(since_open("offer"), 0.50), "offer_p95_s": _pct(since_open("offer"), 0.95),
        "first_packet_p50_s": _pct(since_open("packet"), 0.50), "first_packet_p95_s": _pct(since_open("packet"), 0.95),
        "frame_size": next((list(m["size"]) for m in marks if "size" in m), None),
        "storm_s": round(span, 1), "server_cpu_pct_one_core": round(cpu / span * 100, 1),
        "server_rss_mb_peak": round(peak_rss, 1), "load_cpu_s": round(result["load_cpu_s"], 1),
        "seed_s": round(seed_s, 1), "failures": errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n, window = (100, 5.0) if args.quick else (200, 10.0)
    r = run(n, window, timeout=20.0)
    if "error" not in r:
        print(f"N={r['n']} within {r['join_window_s']} s: {r['joined']} playing; first frame p50 "
              f"{r['first_frame_p50_s']} s, p95 {r['first_frame_p95_s']} s, max {r['first_frame_max_s']} s; "
              f"joined p95 {r['joined_msg_p95_s']} s, offer p95 {r['offer_p95_s']} s, first packet p95 "
              f"{r['first_packet_p95_s']} s; server {r['server_cpu_pct_one_core']} % of a core, "
              f"{r['server_rss_mb_peak']} MB")
    print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()
