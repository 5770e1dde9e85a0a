"""One lecturer stream fanned out by the SFU to N real WebRTC subscribers, against MediaRelay, in one run.

Set-up (every phase gets two fresh processes, started with ``spawn``):

- **SFU process**, pinned to core 0 (``os.sched_setaffinity``): a ``media.room.MediaRoom`` — the
  publisher's offer becomes a Producer, each subscriber gets its own downstream peer connection with a
  Consumer (RTP-level forwarding: rewrite SSRC/seq/ts, serialise, SRTP, sendto). Nothing is decoded.
- **Load process**, pinned to core 1: one aiortc publisher sending real VP8 (aiortc's libvpx encoder,
  640×360, 30 fps, 600 kbps target, a moving picture drawn with Pillow, pre-rendered) and N aiortc
  subscribers. Subscribers do **not** decode: each subscriber receiver's ``_handle_rtp_packet`` is
  replaced by a counter (the same tap media/producer.py uses), so they only pay ICE/DTLS/SRTP/parse.
- SDP goes between the two processes over a ``multiprocessing.Pipe``; media goes over the host's own
  address on loopback (aioice does not gather 127.0.0.1). ICE servers are empty: nothing leaves the host.

Measured in the SFU process over a steady window that starts once every subscriber has received media
(plus 1 s): CPU time of the whole process (``time.process_time``, all threads), forwarded packets
(sum of ``Consumer.sent``), wall time, RSS (``VmRSS``). Reported as µs CPU per forwarded packet and
% of one core.

Latency and delivery: publisher and subscribers share one process and therefore one monotonic clock.
The publisher's DTLS transport ``_send_rtp`` is wrapped: each outgoing RTP packet (plaintext, before
SRTP) is parsed and its **payload bytes** are stored with the send time. The SFU forwards payloads
byte-for-byte (it rewrites only the header: SSRC, sequence, timestamp, PT, extensions), so a
subscriber looks its received payload up in that dict — exact matching, no clock or RTP-timestamp
offset to guess (VP8 payloads carry the picture ID and differ packet to packet, so keys are unique;
a dict lookup of bytes compares contents, so a hash collision cannot mis-match). Latency = arrival in
the subscriber's receive handler (after SRTP unprotect and parse) − hand-off to the publisher's SRTP,
so it includes the load process's own queueing on core 1. Delivery ratio = packets received by
subscribers whose send time lies in the window ÷ (packets the publisher sent in the window × N);
subscribers keep counting 0.5 s past the window for packets still in flight.

Baseline in the same run: aiortc's ``MediaRelay`` design — the SFU process decodes the publisher's
track once and gives every viewer ``relay.subscribe(track, buffered=False)`` on a normal sender,
which re-encodes (one libvpx VP8 encoder per viewer, 600 kbps). Same load process, same accounting
(forwarded = the senders' packet counts). Re-encoded payloads differ from the publisher's, so the
baseline has no latency figure and its delivery ratio is a plain count (packets received during the
window ÷ published × N). ``baseline_cpu_ratio`` = its µs per forwarded packet ÷ ours
at N=200. Only Opus/audio is not included (video only).

    python -m bench.sfu_fanout [--quick]

``--quick``: N = 50 and 200, 12 s windows, baseline N = 10 for 8 s (≤ 90 s in total).
Full: N = 50, 100, 200, 300, 30 s windows, baseline N = 10 for 20 s. Every phase is bounded by a
timeout, children die with the parent (PR_SET_PDEATHSIG) and are terminated/killed at phase end.
"""
from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import signal
import sys
import threading
import time

from bench.harness import load_main, measured_window, percentile_ms, record_arrival, replay_camera, run_pair

KBPS = 600_000
WIDTH, HEIGHT, FPS = 640, 360, 30


# ---------------------------------------------------------------- process plumbing

def _child_setup(core: int) -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    try:
        os.sched_setaffinity(0, {core})
    except (OSError, ValueError):
        pass  # fewer cores than expected: run unpinned


class Channel:
    """A Pipe end usable from asyncio: a reader thread feeds a queue; sends happen on the loop."""

    def __init__(self, conn, loop: asyncio.AbstractEventLoop):
        self.conn, self.loop = conn, loop
        self.queue: asyncio.Queue = asyncio.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                msg = None
            self.loop.call_soon_threadsafe(self.queue.put_nowait, msg)
            if msg is None:
                return

    def send(self, *msg) -> None:
        self.conn.send(msg)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _config():
    from aiortc import RTCConfiguration
    return RTCConfiguration(iceServers=[])  # never the default public STUN server


def _uid(method, user_id: int) -> dict:
    """MediaRoom grew a keyword-only ``user_id`` (who may see whom): pass it when it is there."""
    import inspect
    return {"user_id": user_id} if "user_id" in inspect.signature(method).parameters else {}


def _vp8_only(transceiver) -> None:
    from aiortc import RTCRtpSender
    caps = RTCRtpSender.getCapabilities("video")
    transceiver.setCodecPreferences([c for c in caps.codecs if c.mimeType == "video/VP8"])


# ---------------------------------------------------------------- SFU process (core 0)

def _count_keyframe_requests(producer, kf: dict) -> None:
    """Count (without changing) consumers' keyframe requests and the PLIs that reach the publisher."""
    request, send_pli = producer.request_keyframe, producer.receiver._send_rtcp_pli

    async def counted_request() -> None:
        kf["requests"] += 1
        await request()

    async def counted_pli(ssrc: int) -> None:
        kf["plis"] += 1
        await send_pli(ssrc)

    producer.request_keyframe = counted_request
    producer.receiver._send_rtcp_pli = counted_pli


def _proc_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of another process (the recorder), from /proc."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _recording_stats(recording, win: dict, wall: float) -> dict:
    """The recorder process's CPU in the window, per lesson hour, and what it wrote."""
    client, _, rec_dir = recording
    cpu = _proc_cpu_s(client.pid) - win["rec_cpu"]
    written = _written(rec_dir) - win["rec_bytes"]
    return {"recorder_cpu_pct_one_core": round(cpu / wall * 100, 2),
            "recorder_cpu_s_per_lesson_hour": round(cpu / wall * 3600, 1),
            "recorder_sent": client.sent, "recorder_dropped": client.dropped,
            "recorded_mb_per_lesson_hour": round(written / wall * 3600 / 1e6, 1)}


def _written(rec_dir) -> int:
    return sum(p.stat().st_size for p in (rec_dir / "recordings").rglob("seg-*"))


def sfu_entry(conn, mode: str) -> None:
    _child_setup(0)
    try:
        from media import runtime
        runtime.tune_gc()
        runtime.run(_sfu(conn, mode))  # the loop and GC settings the server runs with
    except BaseException:  # noqa: BLE001 - show it, then leave without waiting for threads
        import traceback
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(0)


async def _sfu(conn, mode: str) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.codecs import vpx
    from aiortc.contrib.media import MediaRelay

    from media.room import MediaRoom

    vpx.DEFAULT_BITRATE = KBPS  # relay baseline: each viewer's encoder at the publisher's bitrate
    ch = Channel(conn, asyncio.get_running_loop())
    room = MediaRoom(_config())
    recording = None
    if mode == "ours_rec":  # the lecturer's stream also goes to the recorder process (REC-1)
        import tempfile
        from pathlib import Path

        from recorder.client import RecorderClient
        from recorder.tap import RecordingTap
        rec_dir = Path(tempfile.mkdtemp(prefix="qihang-bench-rec-"))
        client = RecorderClient(rec_dir / "recordings", rec_dir, files_only=True)
        await client.start()
        if os.environ.get("SFU_FANOUT_RECORDER_CORES"):  # e.g. "0,1": not on the SFU's pinned core alone
            os.sched_setaffinity(client.pid, {int(c) for c in os.environ["SFU_FANOUT_RECORDER_CORES"].split(",")})
        recording = (client, RecordingTap(client, 1, room), rec_dir)
    relay, relay_pcs, source = MediaRelay(), [], {}
    pub_pc = None
    win: dict = {}
    kf = {"requests": 0, "plis": 0}

    def forwarded() -> int:
        if mode in ("ours", "ours_rec"):
            return sum(c.sent for s in room.subscribers.values() for c in s.consumers.values())
        return sum(t.sender._RTCRtpSender__packet_count for pc in relay_pcs for t in pc.getTransceivers())

    async def relay_subscribe(i: int) -> None:
        pc = RTCPeerConnection(_config())
        relay_pcs.append(pc)
        t = pc.addTransceiver(relay.subscribe(source["track"], buffered=False), direction="sendonly")
        _vp8_only(t)
        await pc.setLocalDescription(await pc.createOffer())
        ch.send("sub_offer", i, pc.localDescription.sdp)

    tasks = []
    while True:
        msg = await ch.queue.get()
        if msg is None or msg[0] == "quit":
            break
        kind = msg[0]
        if kind == "publish":
            if mode in ("ours", "ours_rec"):
                answer = await room.publish("lecturer", msg[1], **_uid(room.publish, 1))
                for producer in [p for pub in room.publishers.values() for p in pub.producers]:
                    _count_keyframe_requests(producer, kf)
            else:
                pub_pc = RTCPeerConnection(_config())
                pub_pc.on("track", lambda track: source.setdefault("track", track))
                await pub_pc.setRemoteDescription(RTCSessionDescription(msg[1], "offer"))
                await pub_pc.setLocalDescription(await pub_pc.createAnswer())
                answer = pub_pc.localDescription.sdp
            ch.send("pub_answer", answer)
        elif kind == "subscribe":
            for i in range(msg[1]):
                if mode in ("ours", "ours_rec"):
                    async def send_offer(sdp: str, i=i) -> None:
                        ch.send("sub_offer", i, sdp)
                    tasks.append(asyncio.ensure_future(room.subscribe(f"s{i}", send_offer, **_uid(room.subscribe, 1000 + i))))
                else:
                    tasks.append(asyncio.ensure_future(relay_subscribe(i)))
        elif kind == "sub_answer":
            _, i, sdp = msg
            if mode in ("ours", "ours_rec"):
                await room.answer(f"s{i}", sdp)
            else:
                await relay_pcs[i].setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        elif kind == "win_start":
            win = {"cpu": time.process_time(), "sys": os.times().system, "fwd": forwarded(), "wall": time.monotonic(), **kf}
            if recording:
                win["rec_cpu"] = _proc_cpu_s(recording[0].pid)
                win["rec_bytes"] = _written(recording[2])
            if os.environ.get("SFU_FANOUT_PROFILE"):  # where the SFU's time goes (top functions to stderr)
                import cProfile
                win["prof"] = cProfile.Profile()
                win["prof"].enable()
        elif kind == "win_end":
            if "prof" in win:
                import pstats
                win["prof"].disable()
                pstats.Stats(win["prof"], stream=sys.stderr).sort_stats("tottime").print_stats(22)
            cpu, fwd, wall = time.process_time() - win["cpu"], forwarded() - win["fwd"], time.monotonic() - win["wall"]
            ch.send("stats", {"cpu_s": cpu, "forwarded": fwd, "wall_s": wall, "rss_mb": _rss_mb(),
                              "kernel_share": round((os.times().system - win["sys"]) / cpu, 2) if cpu else None,
                              "threads": threading.active_count(),
                              "keyframe_requests_from_consumers": kf["requests"] - win["requests"],
                              "plis_to_publisher": kf["plis"] - win["plis"],
                              **(_recording_stats(recording, win, wall) if recording else {})})
    if recording:
        recording[1].close()
        await recording[0].close()
    try:  # bounded clean-up; the parent kills us anyway
        pcs = relay_pcs + ([pub_pc] if pub_pc else [])
        await asyncio.wait_for(asyncio.gather(room.close(), *(p.close() for p in pcs), return_exceptions=True), 3)
    except Exception:  # noqa: BLE001
        pass


# ---------------------------------------------------------------- load process (core 1)

def client_entry(conn, result_conn, mode: str, n: int, window: float, setup_timeout: float) -> None:
    _child_setup(1)
    load_main(result_conn, _client(conn, mode, n, window, setup_timeout))


def _pictures(count: int):
    import av
    from PIL import Image, ImageDraw
    out = []
    for i in range(count):
        img = Image.new("RGB", (WIDTH, HEIGHT), (20 + i % 50, 90, 160))
        d = ImageDraw.Draw(img)
        x = (i * 9) % (WIDTH - 40)
        d.rectangle((x, 40, x + 40, HEIGHT - 40), fill=(250, 250, 250))
        d.ellipse((200 + i % 40, 100, 360 + i % 40, 260), fill=(220, 180, 150))
        for k in range(0, WIDTH, 64):  # some texture so the encoder has work and bits to spend
            d.line((k, 0, (k + i * 3) % WIDTH, HEIGHT), fill=(i * 5 % 255, 200, 40), width=3)
        out.append(av.VideoFrame.from_image(img).reformat(format="yuv420p"))
    return out


async def _client(conn, mode: str, n: int, window: float, setup_timeout: float) -> dict:
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.codecs import vpx
    from aiortc.rtp import RtpPacket, is_rtcp

    from media.keyframe import is_vp8_keyframe

    # The publisher sends 600 kbps whatever REMB says (the relay baseline's SFU receiver sends REMB).
    vpx.DEFAULT_BITRATE = KBPS
    vpx.Vp8Encoder.target_bitrate = property(lambda self: KBPS, lambda self, value: None)

    loop = asyncio.get_running_loop()
    ch = Channel(conn, loop)
    pictures = _pictures(60)
    pictures += pictures[-2:0:-1]  # back and forth: motion without a jump

    sent: dict[bytes, float] = {}  # payload -> monotonic send time
    sent_times: list[float] = []
    keyframes: list[float] = []
    pcs: list = []
    counts = [0] * n
    st = {"t0": None, "t1": None, "until": None, "delivered": 0, "received": 0}
    lat: list[float] = []

    pub = RTCPeerConnection(_config())
    pcs.append(pub)
    pt = pub.addTransceiver(replay_camera(pictures), direction="sendonly")
    _vp8_only(pt)
    await pub.setLocalDescription(await pub.createOffer())
    ch.send("publish", pub.localDescription.sdp)


    async def handle_offer(i: int, sdp: str) -> None:
        pc = RTCPeerConnection(_config())
        pcs.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        for t in pc.getTransceivers():
            async def tap(packet, arrival_time_ms, i=i):
                counts[i] += 1
                record_arrival(st, sent, lat, packet.payload)
            t.receiver._handle_rtp_packet = tap
        await pc.setLocalDescription(await pc.createAnswer())
        ch.send("sub_answer", i, pc.localDescription.sdp)

    stats_future: asyncio.Future = loop.create_future()
    answer_future: asyncio.Future = loop.create_future()

    async def pump() -> None:
        while True:
            msg = await ch.queue.get()
            if msg is None:
                return
            if msg[0] == "pub_answer":
                answer_future.set_result(msg[1])
            elif msg[0] == "sub_offer":
                asyncio.ensure_future(handle_offer(msg[1], msg[2]))
            elif msg[0] == "stats":
                stats_future.set_result(msg[1])

    pump_task = asyncio.ensure_future(pump())
    await pub.setRemoteDescription(RTCSessionDescription(await asyncio.wait_for(answer_future, 15), "answer"))

    dtls = pt.sender.transport
    orig_send = dtls._send_rtp

    async def send_tap(data: bytes) -> None:
        if not is_rtcp(data):
            payload = RtpPacket.parse(data).payload
            now = time.monotonic()
            sent[payload] = now
            sent_times.append(now)
            if is_vp8_keyframe(payload):
                keyframes.append(now)
        await orig_send(data)

    dtls._send_rtp = send_tap

    started = time.monotonic()
    ch.send("subscribe", n)
    while min(counts) == 0 and time.monotonic() - started < setup_timeout:
        await asyncio.sleep(0.1)
    setup_s = time.monotonic() - started
    receiving = sum(1 for c in counts if c)
    await asyncio.sleep(1.0)

    sfu, client_cpu = await measured_window(ch, st, window, stats_future)
    published = sum(1 for s in sent_times if st["t0"] <= s <= st["t1"])
    pub_bytes = sum(len(p) for p, s in sent.items() if st["t0"] <= s <= st["t1"])
    lat.sort()

    us = sfu["cpu_s"] / sfu["forwarded"] * 1e6 if sfu["forwarded"] else None
    result = {
        "mode": mode, "n": n, "window_s": round(sfu["wall_s"], 1), "setup_s": round(setup_s, 1),
        "subscribers_receiving": receiving,
        "published_packets": published, "published_pps": round(published / window, 1),
        "video_kbps": round(pub_bytes * 8 / window / 1000),
        "keyframes_published": sum(1 for k in keyframes if st["t0"] <= k <= st["t1"]),
        "keyframe_requests_from_consumers": sfu.get("keyframe_requests_from_consumers"),
        "plis_to_publisher": sfu.get("plis_to_publisher"),
        "forwarded_packets": sfu["forwarded"],
        "us_per_forwarded_packet": round(us, 1) if us else None,
        "cpu_pct_one_core": round(sfu["cpu_s"] / sfu["wall_s"] * 100, 1),
        # of that CPU, the kernel's part: on loopback, sendto also runs the receiving side's UDP path
        "sfu_kernel_share": sfu.get("kernel_share"),
        # Relay re-encodes, so payloads cannot be matched: count what arrived during the window instead.
        "delivery_ratio": round((st["delivered"] if mode != "relay" else st["received"]) / (published * n), 4)
        if published else None,
        "delivery_method": "payload-matched" if mode != "relay" else "count-in-window",
        "latency_p50_ms": percentile_ms(lat, 0.50), "latency_p99_ms": percentile_ms(lat, 0.99),
        "rss_mb": round(sfu["rss_mb"], 1), "sfu_threads": sfu["threads"],
        "load_process_cpu_pct": round(client_cpu / window * 100, 1),
        **{k: v for k, v in sfu.items() if k.startswith("record")},
    }
    pump_task.cancel()
    try:
        await asyncio.wait_for(asyncio.gather(*(p.close() for p in pcs), return_exceptions=True), 3)
    except Exception:  # noqa: BLE001
        pass
    return result


# ---------------------------------------------------------------- orchestration

def run_phase(mode: str, n: int, window: float, setup_timeout: float) -> dict:
    result = run_pair(sfu_entry, (mode,), client_entry, (mode, n, window, setup_timeout), setup_timeout + window + 25)
    result.setdefault("mode", mode)
    result.setdefault("n", n)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--record", action="store_true",
                    help="N=200 with and without the lecturer's stream being recorded, alternating")
    args = ap.parse_args()
    if args.record:
        return main_record(args.quick)
    if args.quick:
        ns, window, base_n, base_window = [50, 200], 12.0, 10, 8.0
    else:
        ns, window, base_n, base_window = [50, 100, 200, 300], 30.0, 10, 20.0
    per_n = []
    for n in ns:
        r = run_phase("ours", n, window, setup_timeout=10 + n * 0.05)
        per_n.append(r)
        print(f"  ours n={n}: {r}", file=sys.stderr, flush=True)
    base = run_phase("relay", base_n, base_window, setup_timeout=15)
    print(f"  relay n={base_n}: {base}", file=sys.stderr, flush=True)

    cols = [("design", 6), ("N", 4), ("recv", 5), ("pkt/s", 6), ("kbps", 5), ("kf", 3), ("µs/pkt", 7), ("CPU%", 6),
            ("deliv", 7), ("p50ms", 6), ("p99ms", 7), ("RSS MB", 7), ("load CPU%", 9)]
    print(" ".join(f"{c:>{w}}" for c, w in cols))
    for r in per_n + [base]:
        if "error" in r:
            print(f"{r['mode']:>6} {r['n']:>4} error: {r['error']}")
            continue
        vals = [r["mode"], r["n"], r["subscribers_receiving"], r["published_pps"], r["video_kbps"], r["keyframes_published"],
                r["us_per_forwarded_packet"], r["cpu_pct_one_core"], r["delivery_ratio"], r["latency_p50_ms"],
                r["latency_p99_ms"], r["rss_mb"], r["load_process_cpu_pct"]]
        print(" ".join(f"{str(v):>{w}}" for v, (_, w) in zip(vals, cols)))

    r200 = next((r for r in per_n if r.get("n") == 200 and "error" not in r), {})
    ours_us, base_us = r200.get("us_per_forwarded_packet"), base.get("us_per_forwarded_packet")
    print(json.dumps({
        "us_per_forwarded_packet": ours_us,
        "cpu_pct_one_core_n200": r200.get("cpu_pct_one_core"),
        "latency_p50_ms_n200": r200.get("latency_p50_ms"),
        "latency_p99_ms_n200": r200.get("latency_p99_ms"),
        "delivery_ratio_n200": r200.get("delivery_ratio"),
        "rss_mb_n200": r200.get("rss_mb"),
        "baseline_cpu_ratio": round(base_us / ours_us, 1) if ours_us and base_us else None,
        "baseline_mediarelay_us_per_forwarded_packet": base_us,
        "baseline_n": base_n,
        "baseline_cpu_pct_one_core": base.get("cpu_pct_one_core"),
        "per_n": per_n,
        "baseline": base,
        "quick": args.quick,
    }))


def main_record(quick: bool) -> None:
    """REC-1 / issue 5: forwarding p99 at N = 200 with the recorder attached vs without, in
    alternating phases of one run, and the recorder process's CPU per recorded lesson hour."""
    window, rounds = (12.0, 1) if quick else (30.0, 2)
    phases: dict[str, list] = {"ours": [], "ours_rec": []}
    for _ in range(rounds):
        for mode in ("ours", "ours_rec"):
            r = run_phase(mode, 200, window, setup_timeout=20)
            phases[mode].append(r)
            print(f"  {mode} n=200: {r}", file=sys.stderr, flush=True)

    def med(mode: str, key: str):
        vals = sorted(r[key] for r in phases[mode] if r.get(key) is not None)
        return vals[len(vals) // 2] if vals else None
    p99, p99_rec = med("ours", "latency_p99_ms"), med("ours_rec", "latency_p99_ms")
    print(json.dumps({
        "latency_p99_ms_n200": p99, "latency_p99_ms_n200_recording": p99_rec,
        "p99_ratio_recording": round(p99_rec / p99, 2) if p99 and p99_rec else None,
        "us_per_forwarded_packet": med("ours", "us_per_forwarded_packet"),
        "us_per_forwarded_packet_recording": med("ours_rec", "us_per_forwarded_packet"),
        "recorder_cpu_pct_one_core": med("ours_rec", "recorder_cpu_pct_one_core"),
        "recorder_cpu_s_per_lesson_hour": med("ours_rec", "recorder_cpu_s_per_lesson_hour"),
        "recorded_mb_per_lesson_hour": med("ours_rec", "recorded_mb_per_lesson_hour"),
        "recorder_dropped": [r.get("recorder_dropped") for r in phases["ours_rec"]],
        "phases": phases, "quick": quick,
    }))


if __name__ == "__main__":
    main()
