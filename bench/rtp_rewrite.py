"""Per-consumer RTP rewriting: our header patch against a naive aiortc parse/edit/serialise, one run.

What it measures: CPU (``time.process_time``) per forwarded packet — one incoming lecturer packet
sent to one consumer — of the rewrite step only: no SRTP, no ``sendto``, no event loop (those come
on top; the whole forward must stay ≤ 20 µs, issue 3). Real VP8 (libvpx, 640×360, 30 fps, 600 kbps,
packetised by aiortc) with the header extensions a browser sends (mid, abs-send-time).

- ours: ``parse_rtp`` once per incoming packet (plus VP8 keyframe detection), then for each of N
  consumers ``RtpRewriter.forward``: map (seq, ts) with the layer-switch logic, copy the parsed
  packet and patch its 11 header bytes with one ``struct.pack_into``.
- baseline (a naive forwarder): for each consumer ``RtpPacket.parse`` + attribute edits +
  ``serialize()``.
- informational: what ``media.consumer.Consumer`` does today per consumer (``RtpRewriter.rewrite``,
  a new ``RtpPacket``, ``serialize()``).

Rounds of the three paths alternate, and each figure is the median round, since these shared
machines drift ±25 % (compare only within one run). ``ratio`` = baseline / ours.

    python -m bench.rtp_rewrite [--quick] [--consumers 200]
"""
from __future__ import annotations

import argparse
import fractions
import json
import statistics
import time

import av
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket
from PIL import Image, ImageDraw

from media.keyframe import is_vp8_keyframe
from media.rtprewriter import RtpRewriter, parse_rtp

SOURCE_SSRC, SOURCE_PT, OUT_PT, FPS = 0x5EED5EED, 100, 96, 30


def extension_map() -> HeaderExtensionsMap:
    m = HeaderExtensionsMap()
    m.configure(RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=4, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
        RTCRtpHeaderExtensionParameters(id=2, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
    ]))
    return m


def vp8_packets(n_frames: int, ext_map: HeaderExtensionsMap) -> list[tuple[bytes, float]]:
    """(raw RTP packet as it arrives from the lecturer, arrival time) for a moving 640×360 picture."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = 640, 360, "yuv420p"
    codec.bit_rate, codec.gop_size = 600_000, 3000
    codec.time_base = fractions.Fraction(1, FPS)
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                     "minrate": "600000", "maxrate": "600000", "bufsize": "600000", "partitions": "0"}
    packer = Vp8Encoder()
    out, seq = [], 65000  # the source wraps its sequence number during the run
    for i in range(n_frames):
        img = Image.new("RGB", (640, 360), (20 + i % 50, 90, 160))
        d = ImageDraw.Draw(img)
        d.rectangle(((i * 9) % 600, 40, (i * 9) % 600 + 40, 320), fill=(250, 250, 250))
        d.ellipse((200 + i % 40, 100, 360 + i % 40, 260), fill=(220, 180, 150))
        for j in range(0, 640, 80):
            d.line((j, 0, (j + i * 3) % 640, 360), fill=(i * 7 % 255, 40, 90), width=3)
        frame = av.VideoFrame.from_image(img)
        frame.pts, frame.time_base = i, fractions.Fraction(1, FPS)
        for encoded in codec.encode(frame):
            payloads, ts = packer.pack(encoded)
            for k, payload in enumerate(payloads):
                pkt = RtpPacket(payload_type=SOURCE_PT, marker=int(k == len(payloads) - 1),
                                sequence_number=seq & 0xFFFF, timestamp=(ts + 0xFFFF0000) & 0xFFFFFFFF,
                                ssrc=SOURCE_SSRC, payload=payload)
                pkt.extensions = HeaderExtensions(mid="0", abs_send_time=(i * 8738) & 0xFFFFFF)
                out.append((pkt.serialize(ext_map), i / FPS))
                seq += 1
    return out


def run_ours(packets, consumers: int) -> float:
    rewriters = [RtpRewriter(90000, ssrc=0x1000 + i, payload_type=OUT_PT) for i in range(consumers)]
    start = time.process_time()
    for data, now in packets:
        parsed = parse_rtp(data)
        if parsed is None:
            continue
        ssrc, seq, ts, marker, _pt, template = parsed
        key = is_vp8_keyframe(memoryview(template)[12:])
        for rw in rewriters:
            buf = rw.forward(template, ssrc, seq, ts, marker, key, now)  # noqa: F841 - next: SRTP, sendto
    return time.process_time() - start


def run_baseline(packets, consumers: int, ext_map: HeaderExtensionsMap) -> float:
    offsets = [(0x1000 + i, (i * 7919) & 0xFFFF, (i * 104729) & 0xFFFFFFFF) for i in range(consumers)]
    parse = RtpPacket.parse
    start = time.process_time()
    for data, _now in packets:
        for out_ssrc, seq_off, ts_off in offsets:
            p = parse(data, ext_map)
            p.ssrc, p.payload_type = out_ssrc, OUT_PT
            p.sequence_number = (p.sequence_number + seq_off) & 0xFFFF
            p.timestamp = (p.timestamp + ts_off) & 0xFFFFFFFF
            buf = p.serialize(ext_map)  # noqa: F841
    return time.process_time() - start


def run_consumer_style(packets, consumers: int) -> float:
    rewriters = [(RtpRewriter(90000), 0x1000 + i) for i in range(consumers)]
    no_extensions = HeaderExtensionsMap()
    start = time.process_time()
    for data, now in packets:
        pkt = RtpPacket.parse(data)
        key = is_vp8_keyframe(pkt.payload)
        for rw, out_ssrc in rewriters:
            out = rw.rewrite(pkt.ssrc, pkt.sequence_number, pkt.timestamp, pkt.marker, key, now)
            if out is None:
                continue
            copy = RtpPacket(payload_type=OUT_PT, marker=pkt.marker, sequence_number=out[0], timestamp=out[1],
                             ssrc=out_ssrc, payload=pkt.payload)
            buf = copy.serialize(no_extensions)  # noqa: F841
    return time.process_time() - start


def check(packets, ext_map: HeaderExtensionsMap) -> None:
    """Our output is what a subscriber must get: same payloads, its SSRC/PT, continuous numbers."""
    rw = RtpRewriter(90000, ssrc=0xABC, payload_type=OUT_PT)
    prev = None
    for data, now in packets:
        ssrc, seq, ts, marker, _pt, template = parse_rtp(data)
        out = rw.forward(template, ssrc, seq, ts, marker, is_vp8_keyframe(template[12:]), now)
        got, src = RtpPacket.parse(bytes(out)), RtpPacket.parse(data, ext_map)
        assert (got.payload, got.marker, got.ssrc, got.payload_type) == (src.payload, src.marker, 0xABC, OUT_PT)
        assert prev is None or (got.sequence_number - prev) & 0xFFFF == 1
        prev = got.sequence_number


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a shorter run (a few seconds)")
    ap.add_argument("--consumers", type=int, default=200)
    args = ap.parse_args()
    n_frames, rounds = (60, 5) if args.quick else (300, 9)
    ext_map = extension_map()
    packets = vp8_packets(n_frames, ext_map)
    check(packets, ext_map)
    forwards = len(packets) * args.consumers
    times: dict[str, list[float]] = {"ours": [], "baseline": [], "consumer": []}
    for _ in range(rounds):
        times["ours"].append(run_ours(packets, args.consumers))
        times["baseline"].append(run_baseline(packets, args.consumers, ext_map))
        times["consumer"].append(run_consumer_style(packets, args.consumers))
    us = {k: statistics.median(v) / forwards * 1e6 for k, v in times.items()}
    kbps = sum(len(d) for d, _ in packets) * 8 / (n_frames / FPS) / 1000
    print(f"{len(packets)} real VP8 RTP packets ({n_frames} frames, {kbps:.0f} kbps incl. headers), "
          f"{args.consumers} consumers, {rounds} rounds (median)")
    print(f"{'path (per consumer)':58} {'µs/forwarded pkt':>17} {'vs ours':>8}")
    rows = [("ours: parse once, RtpRewriter.forward (header patch)", "ours"),
            ("baseline: RtpPacket.parse + edits + serialize()", "baseline"),
            ("media.consumer today: rewrite + RtpPacket() + serialize()", "consumer")]
    for label, key in rows:
        print(f"{label:58} {us[key]:17.2f} {us[key] / us['ours']:7.1f}×")
    print(json.dumps({
        "us_per_forwarded_packet": round(us["ours"], 3),
        "baseline_us_per_forwarded_packet": round(us["baseline"], 3),
        "ratio": round(us["baseline"] / us["ours"], 2),
        "consumers": args.consumers,
        "packets": len(packets),
    }))


if __name__ == "__main__":
    main()
