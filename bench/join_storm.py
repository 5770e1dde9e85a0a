"""A join storm: N students open the live room within a few seconds; time from socket open to first frame.

Issue: "200 subscribers joining within 10 s: p50/p95 from socket open to first frame. Target: all
200 playing, p95 < 3 s."

Set-up (nothing is timed until the storm starts):

- **Data** (parent process): a fresh SQLite data directory, migrated (``Database.migrate``, what
  ``qihang migrate`` runs). The test world builder (``tests/world.py``) makes an institution, an
  approved open class whose first lesson runs now, and registers N students through the real
  registration API (in-process ``TestClient``). A class may hold 30–40 students (CLS-3, region
  profile) while a live room holds 200 (LIVE-2, ``live_room_max_students``), so the class gets 25
  students the normal way and the rest are registered through the API too but **enrolled by
  writing ``enrolments`` rows directly** (same class, status ``enrolled``): the room admits them as
  rostered students (``server/live/access.py``). Everyone logs in through the API beforehand
  (argon2id costs ~30 ms each; logging in is not joining).
- **Server process**, pinned to core 0: the real app (``server.app.create_app``) under uvicorn on
  127.0.0.1 and a free port — admission, event-log writes, presence broadcasts and the SFU, all in
  one process, as in embedded mode. Its stderr goes to a log file; warnings and tracebacks are
  counted and their tail is shown.
- **Load process**, pinned to core 1: the lecturer joins over the WebSocket and publishes slot
  ``main`` (aiortc; real VP8 640×360 30 fps ~600 kbps from pre-rendered pictures, as in
  ``sfu_fanout``, plus an Opus microphone track unless ``--no-audio``), answers any offer the SFU
  makes it, and pings the server every 0.2 s (``ping``/``pong`` goes through the same per-socket
  loop as ``join``: its round trip shows how responsive the server's event loop is during the storm).
  Once media flows, N students open their sockets at a uniform spread over the join window.

Per student (all times from its **socket open**, i.e. once the WebSocket handshake is done; the
handshake time itself is reported apart as ``ws_connect``): send ``join``; a reader handles every
server message — ``joined``; each ``offer`` (the first creates the student's RTCPeerConnection,
renegotiations are answered on the same one; the answer carries all candidates, no trickle);
``error`` (kept as a failure reason). The receivers' RTP handler is replaced by a tap (as in
``sfu_fanout``): no jitter buffer, NACK or decoder thread. The tap notes the first video packet,
reassembles the first keyframe from consecutive sequence numbers (keyframe start to marker) and
decodes it with **one shared libvpx decoder** (a VP8 keyframe decodes on its own): that instant is the
student's **first frame**, so "playing" means a 640×360 picture was decoded, for every student.
Marks: ``joined`` → ``offer`` → ``connected`` (ICE + DTLS done) → ``first_packet`` → ``first_frame``.

After its first frame a student goes cheap: its datagrams are counted at the socket (STUN still
reaches aioice, so ICE consent holds) instead of being SRTP-decrypted, so 200 receiving students do
not saturate core 1 while later students are still being timed; the server keeps forwarding to all
of them, as in a real room. At the end, ``still_receiving`` counts students who got datagrams in the
last second (everyone should keep playing after the storm).

Reported: p50/p95/max of each mark; how many of the N played within the per-student timeout and
why the others failed; server CPU as % of one core (``/proc``, all threads; and its main thread
alone — the event loop) from the first socket open to the last first frame; server peak RSS;
lecturer ping RTT during the storm; the load process's own CPU and event-loop lag (if core 1 lags,
the marks are late by that much: the figures are an upper bound). ``--profile`` runs the server's
main thread (the event loop) under cProfile, counting thread CPU time, and prints where it went (slows the server down: not for figures).

    python -m bench.join_storm [--quick] [--n N] [--window S] [--no-audio] [--profile]

Full: N = 200 within 10 s. ``--quick``: N = 100 within 5 s (~30 s in all, with set-up). Every
phase is bounded by a timeout; children die with the parent (PR_SET_PDEATHSIG) and are terminated
at the end. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from bench.sfu_fanout import KBPS, _child_setup, _pictures, _vp8_only

TICKS = os.sysconf("SC_CLK_TCK")
STUDENT_TIMEOUT = 20.0  # per student, from socket open to first frame


# ---------------------------------------------------------------- data (parent)

def _settings(data_dir: str):
    from server.settings import Settings
    return Settings(data_dir=Path(data_dir), database_url=f"sqlite:///{data_dir}/q.db", secret_key=bytes(range(32)))


def seed(data_dir: str, n: int) -> dict:
    import warnings
    warnings.filterwarnings("ignore", category=DeprecationWarning)
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

def server_entry(data_dir: str, port: int, log_path: str, profile_path: str | None) -> None:
    _child_setup(0)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    import uvicorn

    from server.app import create_app
    from server.services import Services
    app = create_app(services=Services.build(_settings(data_dir)))
    from media import runtime
    runtime.tune_gc()  # as `qihang serve` does
    if profile_path:
        import cProfile
        prof = cProfile.Profile(time.thread_time)  # CPU time, not wall time (idle waits excluded)

        def dump(*_) -> None:
            prof.disable()
            prof.dump_stats(profile_path + ".tmp")
            os.replace(profile_path + ".tmp", profile_path)
        signal.signal(signal.SIGUSR1, dump)
        prof.enable()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws_max_size=1 << 20,
                ws_per_message_deflate=False)  # as `qihang serve` runs it


def _cpu_s(pid: int, tid: int | None = None) -> float:
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime (whole process, or one thread)


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


# ---------------------------------------------------------------- load (core 1)

def load_entry(conn, url: str, lecturer: str, students: list[str], window: float, audio: bool) -> None:
    _child_setup(1)
    try:
        result = asyncio.run(_load(conn, url, lecturer, students, window, audio))
    except Exception as exc:  # noqa: BLE001
        import traceback
        result = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-1500:]}
    conn.send(("result", result))
    os._exit(0)


async def _load(conn, url: str, lecturer: str, students: list[str], window: float, audio: bool) -> dict:
    import av
    import websockets
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.codecs import vpx
    from aiortc.codecs.vpx import vp8_depayload
    from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

    from media.keyframe import is_vp8_keyframe

    vpx.DEFAULT_BITRATE = KBPS
    vpx.Vp8Encoder.target_bitrate = property(lambda self: KBPS, lambda self, value: None)  # ignore REMB
    config = RTCConfiguration(iceServers=[])  # never the default public STUN server
    loop = asyncio.get_running_loop()
    pictures = _pictures(60)
    pictures += pictures[-2:0:-1]  # back and forth: motion without a jump

    class MovingPicture(VideoStreamTrack):
        n = 0

        async def recv(self):
            pts, time_base = await self.next_timestamp()
            frame = pictures[self.n % len(pictures)]
            self.n += 1
            frame.pts, frame.time_base = pts, time_base
            frame.pict_type = av.video.frame.PictureType.NONE  # pictures are reused: clear the I flag
            return frame

    pcs: list = []
    sockets: list = []
    tasks: list[asyncio.Task] = []
    decoder = av.CodecContext.create("libvpx", "r")
    info: dict = {"decode_errors": 0, "broken_keyframes": 0, "lecturer_errors": [], "lecturer_offers": 0}

    # -- the lecturer: join, publish main (camera [+ mic]), answer its own downstream offers, ping
    lec = await asyncio.wait_for(websockets.connect(url, max_size=1 << 20), 10)
    sockets.append(lec)
    await lec.send(json.dumps({"type": "join", "token": lecturer, "session_id": "storm-lecturer"}))
    pub = RTCPeerConnection(config)
    pcs.append(pub)
    _vp8_only(pub.addTransceiver(MovingPicture(), direction="sendonly"))
    if audio:
        pub.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await pub.setLocalDescription(await pub.createOffer())
    lec_joined, pub_answer = loop.create_future(), loop.create_future()
    pings: dict[int, float] = {}
    rtts: list[tuple[float, float]] = []  # (sent at, round trip)
    lec_down: list = []

    async def lecturer_reader() -> None:
        async for raw in lec:
            msg = json.loads(raw)
            kind = msg.get("type")
            if kind == "joined" and not lec_joined.done():
                lec_joined.set_result(msg)
            elif kind == "answer" and not pub_answer.done():
                pub_answer.set_result(msg["sdp"])
            elif kind == "pong" and msg.get("t") in pings:
                sent = pings.pop(msg["t"])
                rtts.append((sent, time.monotonic() - sent))
            elif kind == "offer":  # the lecturer's own downstream connection (student cameras, if any)
                info["lecturer_offers"] += 1
                if not lec_down:
                    lec_down.append(RTCPeerConnection(config))
                    pcs.append(lec_down[0])
                await lec_down[0].setRemoteDescription(RTCSessionDescription(msg["sdp"], "offer"))
                await lec_down[0].setLocalDescription(await lec_down[0].createAnswer())
                await lec.send(json.dumps({"type": "sdp_answer", "sdp": lec_down[0].localDescription.sdp}))
            elif kind == "error":
                info["lecturer_errors"].append(msg.get("error", {}).get("code"))
                if not lec_joined.done():
                    lec_joined.set_exception(RuntimeError(f"lecturer refused: {msg.get('error')}"))
    tasks.append(asyncio.ensure_future(lecturer_reader()))
    await asyncio.wait_for(lec_joined, 10)
    mids = {t.mid: ("camera" if t.kind == "video" else "mic") for t in pub.getTransceivers()}
    await lec.send(json.dumps({"type": "publish", "slot": "main", "sdp": pub.localDescription.sdp, "tracks": mids}))
    await pub.setRemoteDescription(RTCSessionDescription(await asyncio.wait_for(pub_answer, 10), "answer"))
    for _ in range(200):
        if pub.connectionState == "connected":
            break
        await asyncio.sleep(0.05)
    if pub.connectionState != "connected":
        raise RuntimeError(f"lecturer's publish connection is {pub.connectionState}")
    await asyncio.sleep(1.0)  # media flowing into the SFU

    async def pinger() -> None:
        k = 0
        while True:
            k += 1
            pings[k] = time.monotonic()
            await lec.send(json.dumps({"type": "ping", "t": k}))
            await asyncio.sleep(0.2)

    lags: list[tuple[float, float]] = []  # (at, event-loop lag of the load process)

    async def lag_probe() -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.02)
            lags.append((t, time.monotonic() - t - 0.02))
    tasks += [asyncio.ensure_future(pinger()), asyncio.ensure_future(lag_probe())]

    # -- the students
    marks: list[dict] = [{} for _ in students]
    received = [0] * len(students)  # datagrams after the first frame
    last_rx = [0.0] * len(students)

    def go_cheap(i: int, pc) -> None:
        """After its first frame a student counts datagrams at the socket: no SRTP, no parse. STUN
        (first byte 0–3) still goes to aioice, so ICE consent keeps the connection up."""
        transport = pc.getTransceivers()[0].receiver.transport.transport
        for protocol in transport._connection._protocols:
            stun = protocol.datagram_received

            def counted(data: bytes, addr, stun=stun) -> None:
                if data and data[0] > 3:
                    received[i] += 1
                    last_rx[i] = time.monotonic()
                else:
                    stun(data, addr)
            protocol.datagram_received = counted

    async def student(i: int, token: str, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        m = marks[i]
        m["start"] = time.monotonic()
        m["offers"] = 0
        done = asyncio.Event()
        state: dict = {"pc": None, "parts": [], "seq": None}
        tapped: set = set()

        def tap_video(pc) -> None:
            for t in pc.getTransceivers():
                if id(t) in tapped:
                    continue
                tapped.add(id(t))
                if t.kind != "video":
                    async def ignore(packet, arrival_time_ms) -> None:
                        m.setdefault("first_audio", time.monotonic())
                    t.receiver._handle_rtp_packet = ignore
                    continue

                async def tap(packet, arrival_time_ms) -> None:
                    if done.is_set():
                        return
                    now = time.monotonic()
                    key = is_vp8_keyframe(packet.payload)
                    if "packet" not in m:
                        m["packet"] = now
                        m["first_is_keyframe"] = key
                    parts = state["parts"]
                    if key:
                        parts[:] = [vp8_depayload(packet.payload)]
                    elif parts and packet.sequence_number == (state["seq"] + 1) & 0xFFFF:
                        parts.append(vp8_depayload(packet.payload))
                    elif parts:  # a gap inside the keyframe: wait for the next one
                        parts.clear()
                        info["broken_keyframes"] += 1
                    state["seq"] = packet.sequence_number
                    if parts and packet.marker:
                        try:
                            frames = decoder.decode(av.Packet(b"".join(parts)))
                        except Exception:  # noqa: BLE001 - a corrupt keyframe: wait for the next
                            frames = []
                            info["decode_errors"] += 1
                        parts.clear()
                        if frames:
                            m["frame"] = time.monotonic()
                            m["size"] = (frames[0].width, frames[0].height)
                            done.set()
                t.receiver._handle_rtp_packet = tap

        async def on_offer(sdp: str) -> None:
            m["offers"] += 1
            pc = state["pc"]
            if pc is None:
                m["offer"] = time.monotonic()
                pc = state["pc"] = RTCPeerConnection(config)
                pcs.append(pc)

                @pc.on("connectionstatechange")
                def _state() -> None:
                    if pc.connectionState == "connected":
                        m.setdefault("connected", time.monotonic())
                    elif pc.connectionState == "failed":
                        m.setdefault("pc_failed", time.monotonic())
            await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            tap_video(pc)
            await pc.setLocalDescription(await pc.createAnswer())
            await ws.send(json.dumps({"type": "sdp_answer", "sdp": pc.localDescription.sdp}))
            m.setdefault("answered", time.monotonic())

        async def reader() -> None:
            try:
                async for raw in ws:
                    msg = json.loads(raw)
                    kind = msg.get("type")
                    if kind == "joined":
                        m.setdefault("joined", time.monotonic())
                    elif kind == "offer":
                        await on_offer(msg["sdp"])
                    elif kind == "error":
                        m.setdefault("server_errors", []).append((msg.get("error") or {}).get("code"))
                    else:
                        m[f"n_{kind}"] = m.get(f"n_{kind}", 0) + 1
            except websockets.ConnectionClosed as exc:
                m["closed"] = f"socket closed {exc.rcvd.code if exc.rcvd else '?'}"
            except Exception as exc:  # noqa: BLE001
                m["reader_error"] = f"{type(exc).__name__}: {exc}"[:120]
            finally:
                done.set()  # nothing more will come: stop waiting

        try:
            ws = await asyncio.wait_for(websockets.connect(url, max_size=1 << 20), STUDENT_TIMEOUT)
        except Exception as exc:  # noqa: BLE001
            m["error"] = f"connect: {type(exc).__name__}: {exc}"[:120]
            return
        sockets.append(ws)
        m["open"] = time.monotonic()
        await ws.send(json.dumps({"type": "join", "token": token, "session_id": f"storm-{i}"}))
        tasks.append(asyncio.ensure_future(reader()))
        try:
            await asyncio.wait_for(done.wait(), STUDENT_TIMEOUT)
        except asyncio.TimeoutError:
            pass
        if "frame" in m:
            go_cheap(i, state["pc"])
            return
        stage = next((k for k in ("packet", "connected", "answered", "offer", "joined") if k in m), "open")
        reason = (m.get("server_errors") and f"server error {m['server_errors'][0]}") or m.get("closed") \
            or m.get("reader_error") or ("peer connection failed" if "pc_failed" in m else None) \
            or f"no first frame within {STUDENT_TIMEOUT:.0f} s"
        m["error"] = f"{reason} (last mark: {stage})"

    conn.send(("storm", None))  # the parent samples the server from here
    c0, t0 = time.process_time(), time.monotonic()
    storm_start = t0 + 0.2
    await asyncio.gather(*(student(i, tok, storm_start + i * window / len(students)) for i, tok in enumerate(students)))
    storm_end = max([m.get("frame", 0) for m in marks] + [storm_start])
    load_cpu = time.process_time() - c0
    load_wall = time.monotonic() - t0
    conn.send(("storm_end", None))
    await asyncio.sleep(1.0)  # still receiving after the storm?
    now = time.monotonic()
    still = sum(1 for i, m in enumerate(marks) if "frame" in m and now - last_rx[i] < 1.0)
    for task in tasks:
        task.cancel()
    try:
        await asyncio.wait_for(asyncio.gather(*(p.close() for p in pcs), *(s.close() for s in sockets),
                                              return_exceptions=True), 5)
    except Exception:  # noqa: BLE001
        pass
    in_storm = [lag for at, lag in lags if storm_start <= at <= storm_end]
    rtt_storm = [rtt for at, rtt in rtts if storm_start <= at <= storm_end]
    return {"marks": marks, "storm_start": storm_start, "storm_end": storm_end, "load_cpu_s": load_cpu,
            "load_wall_s": load_wall, "still_receiving": still, "load_lag_s": in_storm, "ping_rtt_s": rtt_storm,
            "pings_unanswered": len(pings), **info}


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


def _profile_summary(path: str, top: int = 25, what: str = "server main thread") -> str:
    import io
    import pstats
    out = io.StringIO()
    st = pstats.Stats(path, stream=out)
    by_area: dict[str, float] = {}
    total = 0.0
    for (file, _line, _fn), (_cc, _nc, tt, _ct, _callers) in st.stats.items():
        total += tt
        parts = file.replace("\\", "/").split("/")
        if "site-packages" in parts:
            area = parts[parts.index("site-packages") + 1]
        elif "main" in parts and parts.index("main") + 1 < len(parts):
            area = "/".join(parts[parts.index("main") + 1:parts.index("main") + 3])
        elif file.startswith("~") or file.startswith("<"):
            area = "builtins (C)"
        else:
            area = "stdlib " + (parts[-1] if parts else file)
        by_area[area] = by_area.get(area, 0.0) + tt
    out.write(f"{what}, own time by area (of {total:.2f} s):\n")
    for area, tt in sorted(by_area.items(), key=lambda kv: -kv[1])[:20]:
        out.write(f"  {tt:7.3f} s  {tt / total * 100:5.1f} %  {area}\n")
    st.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def run(n: int, window: float, audio: bool, profile: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="qihang-storm-") as data_dir:
        t = time.monotonic()
        data = seed(data_dir, n)
        seed_s = time.monotonic() - t
        print(f"  seeded a lesson with {n} rostered students in {seed_s:.0f} s", file=sys.stderr, flush=True)
        ctx = mp.get_context("spawn")
        port = _free_port()
        log_path = os.path.join(data_dir, "server.log")
        profile_path = os.path.join(data_dir, "server.prof") if profile else None
        server = ctx.Process(target=server_entry, args=(data_dir, port, log_path, profile_path), daemon=True)
        server.start()
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        res_recv, res_send = ctx.Pipe(duplex=False)
        url = f"ws://127.0.0.1:{port}/ws/lessons/{data['lesson_id']}"
        load = ctx.Process(target=load_entry, args=(res_send, url, data["lecturer"], data["students"], window, audio),
                           daemon=True)
        samples: list[tuple[float, float, float]] = []  # (monotonic, process CPU s, main-thread CPU s)
        marks_at: dict[str, float] = {}
        load.start()
        result: dict = {"error": "timeout"}
        peak_rss, threads, profile_text = 0.0, 0, ""
        try:
            deadline = time.monotonic() + 30 + window + STUDENT_TIMEOUT + 10
            while time.monotonic() < deadline and server.is_alive():
                samples.append((time.monotonic(), _cpu_s(server.pid), _cpu_s(server.pid, server.pid)))
                peak_rss = max(peak_rss, _rss_mb(server.pid))
                threads = max(threads, _threads(server.pid))
                if res_recv.poll(0.25):
                    kind, payload = res_recv.recv()
                    marks_at[kind] = time.monotonic()
                    if kind == "result":
                        result = payload
                        break
            if profile_path and server.is_alive():
                os.kill(server.pid, signal.SIGUSR1)
                for _ in range(50):
                    if os.path.exists(profile_path):
                        break
                    time.sleep(0.1)
                if os.path.exists(profile_path):
                    profile_text = _profile_summary(profile_path)
        except (EOFError, OSError) as exc:
            result = {"error": f"load process: {exc!r}"}
        finally:
            for p in (load, server):
                p.terminate()
                p.join(3)
                if p.is_alive():
                    p.kill()
                    p.join(2)
            res_recv.close()
            res_send.close()
        log_text = Path(log_path).read_text(errors="replace") if os.path.exists(log_path) else ""
    if profile_text:
        print(profile_text, file=sys.stderr, flush=True)
    log_lines = log_text.splitlines()
    server_log = {"lines": len(log_lines), "tracebacks": log_text.count("Traceback"),
                  "warnings": sum(1 for line in log_lines if "WARNING" in line or "warning" in line.lower()[:40])}
    if log_lines:
        print("  server log (tail):\n    " + "\n    ".join(log_lines[-15:]), file=sys.stderr, flush=True)
    if "error" in result:
        return {"n": n, "join_window_s": window, "joined": 0, "first_frame_p50_s": None, "first_frame_p95_s": None,
                "error": result["error"], "trace": result.get("trace"), "server_log": server_log}

    marks = result["marks"]
    # The load process's monotonic clock is the parent's (CLOCK_MONOTONIC is system-wide).
    storm_start, storm_end = result["storm_start"], result["storm_end"]

    def since_open(key: str) -> list[float]:
        return [m[key] - m["open"] for m in marks if key in m and "open" in m]

    def stats(key: str) -> dict:
        v = since_open(key)
        return {"p50": _pct(v, 0.5), "p95": _pct(v, 0.95), "max": _pct(v, 1.0), "count": len(v)}

    def cpu_at(t: float, col: int) -> float:
        return min(samples, key=lambda s: abs(s[0] - t))[col]
    span = max(0.1, storm_end - storm_start)
    cpu = cpu_at(storm_end, 1) - cpu_at(storm_start, 1)
    cpu_main = cpu_at(storm_end, 2) - cpu_at(storm_start, 2)
    frames = since_open("frame")
    failures: dict[str, int] = {}
    for m in marks:
        if "error" in m:
            failures[m["error"]] = failures.get(m["error"], 0) + 1
    connect = [m["open"] - m["start"] for m in marks if "open" in m]
    gaps = [m["frame"] - m["packet"] for m in marks if "frame" in m and "packet" in m]
    lags, rtts = result["load_lag_s"], result["ping_rtt_s"]
    return {
        "n": n, "join_window_s": window, "audio": audio,
        "joined": len(frames),
        "first_frame_p50_s": _pct(frames, 0.50), "first_frame_p95_s": _pct(frames, 0.95),
        "first_frame_max_s": _pct(frames, 1.0),
        "first_frame_basis": "first VP8 keyframe decoded (libvpx), every student; from socket open",
        "target_met": len(frames) == n and (_pct(frames, 0.95) or 99) < 3.0,
        "still_receiving": result["still_receiving"],
        "ws_connect_p50_s": _pct(connect, 0.5), "ws_connect_p95_s": _pct(connect, 0.95),
        "joined_msg": stats("joined"), "offer": stats("offer"), "answer_sent": stats("answered"),
        "ice_dtls_connected": stats("connected"), "first_packet": stats("packet"), "first_frame": stats("frame"),
        "packet_to_frame_p50_s": _pct(gaps, 0.5), "packet_to_frame_p95_s": _pct(gaps, 0.95),
        "first_packet_not_keyframe": sum(1 for m in marks if m.get("first_is_keyframe") is False),
        "broken_keyframes": result["broken_keyframes"], "decode_errors": result["decode_errors"],
        "renegotiations": sum(max(0, m.get("offers", 0) - 1) for m in marks),
        "frame_size": next((list(m["size"]) for m in marks if "size" in m), None),
        "storm_s": round(span, 2),
        "server_cpu_pct_one_core": round(cpu / span * 100, 1),
        "server_main_thread_cpu_pct": round(cpu_main / span * 100, 1),
        "server_rss_mb_peak": round(peak_rss, 1), "server_threads_peak": threads,
        "ping_rtt_p50_s": _pct(rtts, 0.5), "ping_rtt_p95_s": _pct(rtts, 0.95), "ping_rtt_max_s": _pct(rtts, 1.0),
        "pings_unanswered": result["pings_unanswered"],
        "load_cpu_pct_one_core": round(result["load_cpu_s"] / result["load_wall_s"] * 100, 1),
        "load_loop_lag_p95_s": _pct(lags, 0.95), "load_loop_lag_max_s": _pct(lags, 1.0),
        "lecturer_offers": result["lecturer_offers"], "lecturer_errors": result["lecturer_errors"],
        "seed_s": round(seed_s, 1), "failures": failures, "server_log": server_log,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="N = 100 within 5 s")
    ap.add_argument("--n", type=int)
    ap.add_argument("--window", type=float)
    ap.add_argument("--no-audio", action="store_true", help="the lecturer publishes the camera only")
    ap.add_argument("--profile", action="store_true", help="cProfile the server's main thread (slower)")
    args = ap.parse_args()
    n, window = (100, 5.0) if args.quick else (200, 10.0)
    n, window = args.n or n, args.window or window
    r = run(n, window, audio=not args.no_audio, profile=args.profile)
    r["quick"] = args.quick
    if "error" not in r:
        print(f"N={r['n']} within {r['join_window_s']} s: {r['joined']} playing ({r['still_receiving']} still "
              f"receiving after); first frame p50 {r['first_frame_p50_s']} s, p95 {r['first_frame_p95_s']} s, max "
              f"{r['first_frame_max_s']} s", file=sys.stderr)
        print(f"{'mark (s from socket open)':>28} {'p50':>7} {'p95':>7} {'max':>7} {'count':>6}", file=sys.stderr)
        for key in ("joined_msg", "offer", "answer_sent", "ice_dtls_connected", "first_packet", "first_frame"):
            s = r[key]
            print(f"{key:>28} {s['p50']!s:>7} {s['p95']!s:>7} {s['max']!s:>7} {s['count']:>6}", file=sys.stderr)
        print(f"server {r['server_cpu_pct_one_core']} % of a core (main thread {r['server_main_thread_cpu_pct']} %), "
              f"{r['server_rss_mb_peak']} MB; ping RTT p95 {r['ping_rtt_p95_s']} s; load process "
              f"{r['load_cpu_pct_one_core']} %, loop lag p95 {r['load_loop_lag_p95_s']} s", file=sys.stderr, flush=True)
    print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()
