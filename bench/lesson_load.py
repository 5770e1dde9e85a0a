"""A whole lesson on this 2-core machine: the lecturer's two camera layers, microphone and screen share
to N students, and N student camera uploads, through the SFU — with stock aiortc receivers as the
ingest baseline in the same run.

Set-up (each phase gets fresh processes, started with ``spawn``; children die with the parent):

- **SFU process**, pinned to core 0: a ``media.room.MediaRoom`` exactly as the server uses it. The
  lecturer publishes ``main`` (camera 640×360 30 fps ~500 kbps, its low layer 320×180 ~150 kbps, Opus
  microphone) and ``screen`` (1280×720, 5 fps, ~300 kbps: slides); each student publishes ``camera``
  with the REMB cap the server sets (150 kbps). Every student subscribes to what the server lets a
  student receive: the lecturer's camera (one track, high layer on this loss-free loopback),
  microphone and screen — never other students' cameras.
- **Load process**, pinned to core 1: the lecturer, the N uploading phones and the N subscribers, all
  aiortc. Nothing is encoded live: every stream is encoded once beforehand with libvpx/libopus and
  its packets replayed through aiortc's encoded passthrough (a track returning ``av.Packet``), with
  a keyframe every 2 s (a replay cannot answer PLIs; ``--keyframe-interval`` changes the lecturer's:
  browsers send keyframes only when asked, which the SFU allows once a second per stream), the
  lecturer streams' keyframes a third of a loop apart. aiortc sends a frame's packets back to back
  (browsers pace them), so a keyframe reaches the SFU as one burst: a harsh case for fan-out. Subscribers do not decode. Eight *probe*
  subscribers run aiortc's SRTP and RTP parsing and time the lecturer's camera packets; the others
  only count datagrams as they leave the socket (STUN still goes to aioice) once connected — one Python
  process cannot receive ~30 000 packets/s on one core otherwise, and its queueing would show up
  as SFU latency.
- **Attendance stream chosen**: 320×240, 5 fps, ~60–100 kbps VP8 — a face check samples one frame
  every few seconds; 5 fps keeps the picture live for the assistant while costing a quarter of the
  packets of 20 fps (packets, not bytes, are what a receiver pays for).

Phases, one run:

1. ``ingest``: only the N student uploads into the SFU: server CPU ÷ inbound student packets.
2. ``lesson``: everything: server cores used (process CPU ÷ wall time), forwarded packets/s,
   latency of the lecturer's camera from the publisher's hand-off to a subscriber's arrival
   (payloads matched byte for byte: the SFU rewrites only headers), delivery ratio, RSS.
3. ``baseline``: stock aiortc receivers for K student uploads — a plain ``RTCPeerConnection`` per
   student whose track is read with ``recv()`` (jitter buffer, REMB estimator, NACK generator and a
   VP8 decoder thread per track: what aiortc does out of the box). ``baseline_ratio`` = its µs per
   inbound packet ÷ ours.

The load process shares the machine: its CPU is reported separately (cores); a saturated load
process shows as delivery below 1 and higher latency, which is said in the output.

    python -m bench.lesson_load [--quick] [--keyframe-interval S] [--sampling]

Full: N = 200, 20 s windows, baseline K = 50. ``--quick``: N = 100, 6 s windows, K = 25 (≤ 60 s).
"""
from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import os
import sys
import threading
import time

from bench.harness import GcWatch, load_main, loop_lag, measured_window, percentile_ms, record_arrival, run_pair
from bench.sfu_fanout import Channel, _child_setup, _config, _rss_mb

STUDENT = (320, 240, 5, 90_000)
# --sampling: each student's camera sampled as the server does by default: the first sample within
# 20 s of the camera starting, then every 20–40 s (--sample-interval changes the latter)
SAMPLE_INTERVAL = (20.0, 40.0)  # width, height, fps, target bps of the attendance stream
CAMERA = (640, 360, 30, 500_000)
CAMERA_LOW = (320, 180, 30, 150_000)
SCREEN = (1280, 720, 5, 300_000)
KEYFRAME_EVERY_S = 2
PROBES = 8  # subscribers that decrypt, parse and time every packet; the others only count datagrams


# ---------------------------------------------------------------- pre-encoded media

def _picture(w: int, h: int, i: int, seed: int):
    import av
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (w, h), (30 + seed * 7 % 120, 90, 150))
    d = ImageDraw.Draw(img)
    x = (i * max(1, w // 60)) % max(1, w - w // 8)
    d.ellipse((w // 3, h // 6, 2 * w // 3, 5 * h // 6), fill=(220, 180, 150))  # a face-sized oval
    d.rectangle((x, 0, x + w // 10, h), fill=(250, 250, 250))
    for k in range(0, w, max(8, w // 10)):
        d.line((k, 0, (k + i * 5) % w, h), fill=(i * 9 % 255, 200, 60), width=2)
    return av.VideoFrame.from_image(img).reformat(format="yuv420p")


def encode_vp8(w: int, h: int, fps: int, bps: int, seed: int = 0, every: float = KEYFRAME_EVERY_S) -> list[bytes]:
    """One keyframe then deltas for ``every`` seconds: replayed in a loop, each loop starts with its
    keyframe, so the stream stays decodable."""
    import av
    n = round(fps * every)
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv420p"
    ctx.bit_rate = bps
    ctx.framerate = fractions.Fraction(fps, 1)
    ctx.time_base = fractions.Fraction(1, fps)
    ctx.gop_size = n
    ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "auto-alt-ref": "0"}
    out: list[bytes] = []
    for i in range(n):
        frame = _picture(w, h, i, seed)
        frame.pts = i
        out += [bytes(p) for p in ctx.encode(frame)]
    out += [bytes(p) for p in ctx.encode(None)]
    return out[:n]


def encode_opus() -> list[bytes]:
    import math
    import struct

    import av
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate, ctx.layout, ctx.format = 48000, "stereo", "s16"
    ctx.bit_rate = 32000
    out: list[bytes] = []
    for i in range(100):  # 2 s of a 220 Hz tone, 20 ms frames
        samples = [int(3000 * math.sin(2 * math.pi * 220 * (i * 960 + k) / 48000)) for k in range(960)]
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(struct.pack(f"<{1920}h", *[v for v in samples for _ in (0, 1)]))
        frame.sample_rate, frame.pts = 48000, i * 960
        out += [bytes(p) for p in ctx.encode(frame)]
    return out


def packet_track(kind: str, payloads: list[bytes], rate: float, clock: int, phase: float = 0.0):
    """A track that replays encoded frames at ``rate`` per second (aiortc packs them, no encoding),
    starting ``phase`` of the way into the loop: independent encoders' keyframes do not coincide."""
    import av
    from aiortc.mediastreams import MediaStreamTrack

    class Replay(MediaStreamTrack):
        def __init__(self):
            super().__init__()
            self.kind = kind
            self.n = 0
            self.skip = round(phase * len(payloads))
            self.start: float | None = None

        async def recv(self):
            if self.start is None:
                self.start = time.monotonic()
            due = self.start + self.n / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            packet = av.Packet(payloads[(self.n + self.skip) % len(payloads)])
            packet.pts, packet.time_base = round(self.n * clock / rate), fractions.Fraction(1, clock)
            self.n += 1
            return packet
    return Replay()


# ---------------------------------------------------------------- SFU process (core 0)

def sfu_entry(conn, mode: str, sample_interval: tuple[float, float] = SAMPLE_INTERVAL) -> None:
    _child_setup(0)
    try:
        from media import runtime
        runtime.tune_gc()
        runtime.run(_sfu(conn, mode, sample_interval))  # the loop and GC settings the server runs with
    except BaseException:  # noqa: BLE001
        import traceback
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(0)


async def _sfu(conn, mode: str, sample_interval: tuple[float, float] = SAMPLE_INTERVAL) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from media.room import MediaRoom

    ch = Channel(conn, asyncio.get_running_loop())
    room = MediaRoom(_config())
    stock: list = []  # baseline: plain peer connections and their reading tasks
    inbound = [0]

    def forwarded() -> int:
        return sum(c.sent for s in room.subscribers.values() for c in s.consumers.values())

    def student_inbound() -> int:
        if mode == "stock":
            return inbound[0]
        return sum(p.packets for pub in room.publishers.values() if pub.key.startswith("s")
                   for p in pub.producers)

    async def stock_publish(sdp: str) -> str:
        pc = RTCPeerConnection(_config())
        stock.append(pc)

        @pc.on("track")
        def on_track(track):
            async def read():
                while True:
                    await track.recv()  # decoded frames: what aiortc does out of the box
            stock.append(asyncio.ensure_future(read()))
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        for t in pc.getTransceivers():
            handle = t.receiver._handle_rtp_packet

            async def counted(packet, arrival_time_ms, handle=handle):
                inbound[0] += 1
                await handle(packet, arrival_time_ms)
            t.receiver._handle_rtp_packet = counted
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    def no_student_cameras(pub) -> bool:
        return not (pub.role == "student" and pub.source == "camera")

    sampled = [0]
    if mode == "sampled":  # issue 4: every student's camera sampled and face-checked in worker processes
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        from media import faceworker
        from media.facecheck import FaceTrack
        from media.sampler import FrameSampler
        pool = ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=mp.get_context("spawn"),
                                   initializer=_unpin)
        loop = asyncio.get_running_loop()

        async def analyse(pub, data):
            return await loop.run_in_executor(pool, faceworker.check_keyframe, pub.mime, data, None, FaceTrack(), 0.0)

        def counted(result) -> None:
            sampled[0] += 1
        FrameSampler(room, counted, None, interval=tuple(sample_interval), analyse=analyse)
        await loop.run_in_executor(pool, _unpin)  # start the workers (and load the models) before the window

    win: dict = {}
    gc_watch = GcWatch()
    sfu_st: dict = {"t0": None}
    sfu_lags: list[float] = []
    asyncio.ensure_future(loop_lag(sfu_st, sfu_lags))
    while True:
        msg = await ch.queue.get()
        if msg is None or msg[0] == "quit":
            break
        kind = msg[0]
        if kind == "publish":
            _, key, sdp, user_id, role, sources = msg
            if mode == "stock":
                answer = await stock_publish(sdp)
            else:
                answer = await room.publish(key, sdp, user_id=user_id, role=role, sources=sources,
                                            max_bitrate={"camera": 150_000} if role == "student" else None)
            ch.send("pub_answer", key, answer)
        elif kind == "subscribe":
            for i in range(msg[1]):
                async def send_offer(sdp: str, i=i) -> None:
                    ch.send("sub_offer", i, sdp)
                asyncio.ensure_future(room.subscribe(f"sub{i}", send_offer, user_id=10_000 + i,
                                                     wants=no_student_cameras))
        elif kind == "sub_answer":
            await room.answer(f"sub{msg[1]}", msg[2])
        elif kind == "win_start":
            win = {"cpu": time.process_time(), "fwd": forwarded(), "in": student_inbound(), "wall": time.monotonic(),
                   "sampled": sampled[0]}
            gc_watch.reset()
            sfu_st.update(t0=time.monotonic(), t1=time.monotonic() + 3600)
            if os.environ.get("LESSON_LOAD_PROFILE"):  # where the SFU's time goes (top functions to stderr)
                import cProfile
                win["prof"] = cProfile.Profile()
                win["prof"].enable()
        elif kind == "win_end":
            if os.environ.get("LESSON_LOAD_GCTYPES"):  # what the collector has to walk (top types to stderr)
                import collections
                import gc
                for g in range(3):
                    objs = gc.get_objects(g)
                    top = collections.Counter(type(o).__qualname__ for o in objs).most_common(12)
                    print(f"gc generation {g}: {len(objs)} objects, frozen {gc.get_freeze_count()}: {top}",
                          file=sys.stderr, flush=True)
            if "prof" in win:
                import pstats
                win["prof"].disable()
                pstats.Stats(win["prof"], stream=sys.stderr).sort_stats("tottime").print_stats(25)
            ch.send("stats", {"cpu_s": time.process_time() - win["cpu"], "forwarded": forwarded() - win["fwd"],
                              "inbound": student_inbound() - win["in"], "wall_s": time.monotonic() - win["wall"],
                              "rss_mb": _rss_mb(), "threads": threading.active_count(), **gc_watch.report(),
                              "loop_lag_p99_ms": percentile_ms(sorted(sfu_lags), 0.99),
                              "loop_lag_max_ms": percentile_ms(sorted(sfu_lags), 1.0),
                              "samples": sampled[0] - win["sampled"]})
    try:
        await asyncio.wait_for(asyncio.gather(room.close(), *(p.close() for p in stock if hasattr(p, "close")),
                                              return_exceptions=True), 3)
    except Exception:  # noqa: BLE001
        pass


# ---------------------------------------------------------------- load process (core 1)

def load_entry(conn, result_conn, media: dict, students: int, subscribers: int, window: float) -> None:
    _child_setup(1)
    load_main(result_conn, _load(conn, media, students, subscribers, window))


async def _load(conn, media: dict, students: int, subscribers: int, window: float) -> dict:
    from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
    from aiortc.rtp import RtpPacket, is_rtcp

    loop = asyncio.get_running_loop()
    ch = Channel(conn, loop)
    pcs: list = []
    answers: dict[str, asyncio.Future] = {}
    counts = [0] * subscribers
    st = {"t0": None, "t1": None, "until": None, "delivered": 0}
    lat: list[float] = []
    sent: dict[bytes, float] = {}
    sent_times: list[float] = []

    def prefer(t, mime: str) -> None:
        caps = RTCRtpSender.getCapabilities(t.kind).codecs
        t.setCodecPreferences([c for c in caps if c.mimeType == mime])

    async def publish(key: str, streams: list, user_id: int, role: str) -> RTCPeerConnection:
        pc = RTCPeerConnection(_config())
        pcs.append(pc)
        sources = []
        for source, track, mime in streams:
            t = pc.addTransceiver(track, direction="sendonly")
            prefer(t, mime)
            sources.append((t, source))
        await pc.setLocalDescription(await pc.createOffer())
        answers[key] = loop.create_future()
        ch.send("publish", key, pc.localDescription.sdp, user_id, role, {t.mid: s for t, s in sources})
        await pc.setRemoteDescription(RTCSessionDescription(await asyncio.wait_for(answers[key], 30), "answer"))
        return pc

    in_window = [0] * subscribers

    def count(i: int) -> None:
        counts[i] += 1
        if st["t0"] is not None and st["t0"] <= time.monotonic() <= st["t1"]:
            in_window[i] += 1

    async def go_direct(pc) -> None:
        """A probe handles its SRTP in the socket callback (the SFU's own media/ingress path), so
        the latency it measures is not inflated by aiortc's queue hop in this busy process."""
        from media import ingress
        for _ in range(600):
            if pc.connectionState == "connected":
                ingress.install(pc)
                return
            await asyncio.sleep(0.05)

    async def go_cheap(i: int, pc) -> None:
        """Beyond the probes, a subscriber only counts datagrams: no SRTP, no parse, no asyncio hop."""
        for _ in range(600):
            if pc.connectionState == "connected":
                break
            await asyncio.sleep(0.05)
        # Count SRTP/SRTCP datagrams as they come off the socket; only STUN (consent checks) goes on
        # into aioice, so the connection stays up.
        ice = pc.getTransceivers()[0].receiver.transport.transport._connection
        for protocol in ice._protocols:
            stun = protocol.datagram_received

            def counted(data: bytes, addr, stun=stun, i=i) -> None:
                if data and data[0] > 3:
                    count(i)
                else:
                    stun(data, addr)
            protocol.datagram_received = counted

    async def handle_offer(i: int, sdp: str) -> None:
        pc = subs.get(i)
        if pc is None:
            pc = subs[i] = RTCPeerConnection(_config())
            pcs.append(pc)
            if i >= PROBES:
                asyncio.ensure_future(go_cheap(i, pc))
            else:
                asyncio.ensure_future(go_direct(pc))
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        for t in pc.getTransceivers():
            async def tap(packet, arrival_time_ms, i=i):
                count(i)
                record_arrival(st, sent, lat, packet.payload)
            t.receiver._handle_rtp_packet = tap
        await pc.setLocalDescription(await pc.createAnswer())
        ch.send("sub_answer", i, pc.localDescription.sdp)

    subs: dict[int, RTCPeerConnection] = {}
    stats_future: asyncio.Future = loop.create_future()

    async def pump() -> None:
        while True:
            msg = await ch.queue.get()
            if msg is None:
                return
            if msg[0] == "pub_answer":
                answers[msg[1]].set_result(msg[2])
            elif msg[0] == "sub_offer":
                asyncio.ensure_future(handle_offer(msg[1], msg[2]))
            elif msg[0] == "stats":
                stats_future.set_result(msg[1])
    pump_task = asyncio.ensure_future(pump())
    started = time.monotonic()

    if subscribers:  # the lecturer: camera (two layers) + microphone, and a screen share
        main = await publish("lec/main", [
            ("camera", packet_track("video", media["camera"], CAMERA[2], 90000), "video/VP8"),
            ("camera_low", packet_track("video", media["camera_low"], CAMERA_LOW[2], 90000, phase=1 / 3), "video/VP8"),
            ("mic", packet_track("audio", media["opus"], 50, 48000), "audio/opus")], 1, "lecturer")
        await publish("lec/screen", [("screen", packet_track("video", media["screen"], SCREEN[2], 90000, phase=2 / 3),
                                      "video/VP8")], 1, "lecturer")
        high = main.getTransceivers()[0].sender.transport
        orig_send = high._send_rtp
        camera_ssrc = main.getTransceivers()[0].sender._ssrc

        async def send_tap(data: bytes) -> None:
            if not is_rtcp(data):
                packet = RtpPacket.parse(data)
                if packet.ssrc == camera_ssrc:
                    now = time.monotonic()
                    sent[packet.payload] = now
                    sent_times.append(now)
            await orig_send(data)
        high._send_rtp = send_tap

    for start in range(0, students, 25):  # the phones' camera uploads
        await asyncio.gather(*(publish(f"s{i}/camera", [
            ("camera", packet_track("video", media["students"][i % len(media["students"])], STUDENT[2], 90000),
             "video/VP8")], 1000 + i, "student") for i in range(start, min(students, start + 25))))
    if subscribers:
        ch.send("subscribe", subscribers)
        while min(counts) == 0 and time.monotonic() - started < 20 + subscribers * 0.1:
            await asyncio.sleep(0.1)
    setup_s = time.monotonic() - started
    receiving = sum(1 for c in counts if c)
    # consumers start at a keyframe: wait for one loop of the lecturer's streams before measuring
    await asyncio.sleep(max(2.0, media.get("keyframe_every", KEYFRAME_EVERY_S) + 0.5))

    lags: list[float] = []
    lag_task = asyncio.ensure_future(loop_lag(st, lags))
    sfu, load_cpu = await measured_window(ch, st, window, stats_future)
    lag_task.cancel()
    lags.sort()
    published = sum(1 for s in sent_times if st["t0"] <= s <= st["t1"])
    lat.sort()

    result = {
        "students": students, "subscribers": subscribers, "subscribers_receiving": receiving,
        "setup_s": round(setup_s, 1), "window_s": round(sfu["wall_s"], 1),
        "server_cores_used": round(sfu["cpu_s"] / sfu["wall_s"], 3),
        "inbound_pps": round(sfu["inbound"] / sfu["wall_s"]), "forwarded_pps": round(sfu["forwarded"] / sfu["wall_s"]),
        "us_per_inbound_packet": round(sfu["cpu_s"] / sfu["inbound"] * 1e6, 1) if sfu["inbound"] else None,
        "latency_p50_ms": percentile_ms(lat, 0.50), "latency_p95_ms": percentile_ms(lat, 0.95),
        "latency_p99_ms": percentile_ms(lat, 0.99), "latency_max_ms": percentile_ms(lat, 1.0),
        # probes: the lecturer's camera packets matched by payload; every other subscriber: datagrams
        # counted in the window against the probes' average
        "delivery_ratio": round(st["delivered"] / (published * min(PROBES, subscribers)), 4)
        if published and subscribers else None,
        "delivery_ratio_all": round(min(in_window) / (sum(in_window[:PROBES]) / min(PROBES, subscribers)), 4)
        if subscribers and sum(in_window[:PROBES]) else None,
        "server_rss_mb": round(sfu["rss_mb"], 1), "server_threads": sfu["threads"],
        "server_gc_full_collections": sfu["gc_full_collections"], "server_gc_max_pause_ms": sfu["gc_max_pause_ms"],
        "server_gc_max_pause_ms_by_generation": sfu["gc_max_pause_ms_by_generation"],
        "server_loop_lag_p99_ms": sfu["loop_lag_p99_ms"], "server_loop_lag_max_ms": sfu["loop_lag_max_ms"],
        "face_samples_in_window": sfu.get("samples", 0),
        "load_cores_used": round(load_cpu / window, 3), "load_loop_lag_p99_ms": percentile_ms(lags, 0.99), "_cpu_s": sfu["cpu_s"], "_forwarded": sfu["forwarded"],
        "_inbound": sfu["inbound"],
    }
    pump_task.cancel()
    try:
        await asyncio.wait_for(asyncio.gather(*(p.close() for p in pcs), return_exceptions=True), 3)
    except Exception:  # noqa: BLE001
        pass
    return result


# ---------------------------------------------------------------- orchestration

def _unpin() -> None:
    """Face workers are not pinned with the SFU: in production nothing is pinned."""
    try:
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    except (AttributeError, OSError):
        pass


def run_phase(name: str, mode: str, media: dict, students: int, subscribers: int, window: float) -> dict:
    result = run_pair(sfu_entry, (mode, tuple(media.get("sample_interval", SAMPLE_INTERVAL))), load_entry, (media, students, subscribers, window),
                      window + 60 + subscribers * 0.15)
    result["phase"] = name
    print(f"  {name}: {result}", file=sys.stderr, flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sampling", action="store_true",
                    help="also run the lesson with every student's camera face-checked (issue 4) and compare")
    ap.add_argument("--sample-interval", default="20-40", help="with --sampling: seconds between a student's samples")
    ap.add_argument("--keyframe-interval", type=float, default=KEYFRAME_EVERY_S,
                    help="seconds between the lecturer streams' keyframes (default 2: as if a student "
                         "joined or switched layer every 2 s; browsers send none unless asked)")
    args = ap.parse_args()
    every = args.keyframe_interval
    n, window, base_k, base_window = (100, 6.0, 25, 5.0) if args.quick else (200, 20.0, 50, 12.0)
    t = time.monotonic()
    media = {"camera": encode_vp8(*CAMERA, every=every), "camera_low": encode_vp8(*CAMERA_LOW, every=every),
             "screen": encode_vp8(*SCREEN, every=every),
             "opus": encode_opus(), "students": [encode_vp8(*STUDENT, seed=s) for s in range(4)]}
    kbps = {k: round(sum(map(len, v)) * 8 / every / 1000) for k, v in media.items() if k not in ("opus", "students")}
    media["keyframe_every"] = every
    lo, _, hi = args.sample_interval.partition("-")
    media["sample_interval"] = (float(lo), float(hi or lo))
    kbps["student"] = round(sum(map(len, media["students"][0])) * 8 / KEYFRAME_EVERY_S / 1000)
    print(f"  encoded streams in {time.monotonic() - t:.1f} s: kbps {kbps}", file=sys.stderr, flush=True)

    ingest = run_phase("ingest", "ours", media, n, 0, window)
    lesson = run_phase("lesson", "ours", media, n, n, window)
    sampled = run_phase("lesson_sampled", "sampled", media, n, n, window) if args.sampling else None
    base = run_phase("baseline", "stock", media, base_k, 0, base_window)
    phases = [r for r in (ingest, lesson, sampled, base) if r is not None]
    if any("error" in r for r in phases):
        print(json.dumps({"error": [r.get("error") for r in phases]}))
        return
    # Fan-out's share: what the lesson cost beyond ingesting the same uploads.
    ingest_cpu_lesson = ingest["us_per_inbound_packet"] * lesson["_inbound"] / 1e6
    us_fwd = (lesson["_cpu_s"] - ingest_cpu_lesson) / lesson["_forwarded"] * 1e6 if lesson["_forwarded"] else None
    print(f"{'phase':>9} {'N up':>5} {'N down':>6} {'in pkt/s':>9} {'fwd pkt/s':>9} {'µs/in':>6} {'cores':>6} "
          f"{'p50ms':>6} {'p99ms':>6} {'deliv':>6} {'RSS MB':>7} {'load cores':>10}")
    for r in phases:
        print(f"{r['phase']:>9} {r['students']:>5} {r['subscribers']:>6} {r['inbound_pps']:>9} {r['forwarded_pps']:>9} "
              f"{r['us_per_inbound_packet']!s:>6} {r['server_cores_used']:>6} {r['latency_p50_ms']!s:>6} "
              f"{r['latency_p99_ms']!s:>6} {r['delivery_ratio']!s:>6} {r['server_rss_mb']:>7} {r['load_cores_used']:>10}")
    if sampled is not None:  # issue 4: does sampling move the forwarding path?
        print(f"sampling: {sampled['face_samples_in_window']} face checks in the window; p99 "
              f"{lesson['latency_p99_ms']} → {sampled['latency_p99_ms']} ms, cores {lesson['server_cores_used']} → "
              f"{sampled['server_cores_used']}", file=sys.stderr)
    out = {
        "us_per_inbound_packet": ingest["us_per_inbound_packet"],
        "server_cores_used": lesson["server_cores_used"],
        "latency_p50_ms": lesson["latency_p50_ms"], "latency_p95_ms": lesson["latency_p95_ms"],
        "latency_p99_ms": lesson["latency_p99_ms"], "latency_max_ms": lesson["latency_max_ms"],
        "delivery_ratio": lesson["delivery_ratio"], "delivery_ratio_all": lesson.get("delivery_ratio_all"),
        "students": n,
        "inbound_pps": lesson["inbound_pps"], "forwarded_pps": lesson["forwarded_pps"],
        "us_per_forwarded_packet_est": round(us_fwd, 1) if us_fwd else None,
        "server_rss_mb": lesson["server_rss_mb"], "load_cores_used": lesson["load_cores_used"],
        "baseline_us_per_inbound_packet": base["us_per_inbound_packet"], "baseline_students": base_k,
        "baseline_ratio": round(base["us_per_inbound_packet"] / ingest["us_per_inbound_packet"], 1),
        **({"sampled_latency_p50_ms": sampled["latency_p50_ms"], "sampled_latency_p99_ms": sampled["latency_p99_ms"],
            "sampled_server_cores_used": sampled["server_cores_used"],
            "sampled_face_checks_in_window": sampled["face_samples_in_window"],
            "sampled_p99_ratio": round(sampled["latency_p99_ms"] / lesson["latency_p99_ms"], 2)
            if sampled["latency_p99_ms"] and lesson["latency_p99_ms"] else None,
            "sample_interval_s": list(media["sample_interval"])} if sampled is not None else {}),
        "stream_kbps": kbps, "quick": args.quick, "lecturer_keyframe_interval_s": every,
        "phases": [{k: v for k, v in r.items() if not k.startswith("_")} for r in phases],
    }
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
