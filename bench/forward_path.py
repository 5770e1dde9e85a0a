"""The SFU's per-packet forwarding path against the MediaRelay design, measured in one run.

What it measures: CPU per forwarded packet of the code a subscriber's copy of the lecturer's camera
goes through — ``media.consumer.Consumer.send`` (rewrite SSRC/sequence/timestamp, serialise) plus
SRTP protection (pylibsrtp, AES-CM-SHA1-80) and a UDP ``sendto`` to a sink on loopback — for N
consumers, on real VP8 packets (640×360 moving picture, ~600 kbps, 30 fps).

Baseline in the same run: aiortc's ``MediaRelay`` design, where every viewer's sender re-encodes
the decoded picture (one libvpx VP8 encoder per viewer) before the same send path; measured on a
few viewers and expressed per forwarded packet (encoder cost is linear in viewers).

Not measured here (``bench/sfu_fanout``, still to come, will): DTLS/ICE set-up, RTCP, the
receive side, the event loop under 200 real peer connections, latency.

    python -m bench.forward_path [--quick] [--consumers 200]
"""
from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import socket
import time

import av
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtp import RtpPacket
from PIL import Image, ImageDraw
from pylibsrtp import Policy, Session

from media.consumer import Consumer
from media.keyframe import is_vp8_keyframe
from media.packetcache import PacketCache


def frames(n: int) -> list[av.VideoFrame]:
    out = []
    for i in range(n):
        img = Image.new("RGB", (640, 360), (20 + i % 50, 90, 160))
        d = ImageDraw.Draw(img)
        d.rectangle(((i * 9) % 600, 40, (i * 9) % 600 + 40, 320), fill=(250, 250, 250))
        d.ellipse((200 + i % 40, 100, 360 + i % 40, 260), fill=(220, 180, 150))
        f = av.VideoFrame.from_image(img)
        f.pts, f.time_base = i * 3000, fractions.Fraction(1, 90000)
        out.append(f)
    return out


def encode(pictures: list[av.VideoFrame]) -> list[list[bytes]]:
    enc = Vp8Encoder()
    enc.target_bitrate = 600_000
    return [enc.encode(f)[0] for f in pictures]


class SinkTransport:
    """What a consumer's DTLS transport does per packet: SRTP-protect, then one UDP datagram."""

    state = "connected"

    def __init__(self, sock: socket.socket, addr, ssrc: int):
        self.sock, self.addr = sock, addr
        self.srtp = Session(policy=Policy(key=bytes(range(30)), ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                                          srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80))

    async def _send_rtp(self, data: bytes) -> None:
        self.sock.sendto(self.srtp.protect(data), self.addr)


class Sender:
    def __init__(self, transport: SinkTransport, ssrc: int):
        self._ssrc, self.transport = ssrc, transport


class Producer:
    def __init__(self):
        self.consumers, self.cache, self.clock_rate = set(), PacketCache(), 90000

    async def request_keyframe(self) -> None:
        pass


def packetise(encoded: list[list[bytes]]) -> list[tuple[RtpPacket, bool]]:
    out, seq = [], 1000
    for i, payloads in enumerate(encoded):
        for j, p in enumerate(payloads):
            pkt = RtpPacket(payload_type=97, marker=int(j == len(payloads) - 1), sequence_number=seq & 0xFFFF,
                            timestamp=i * 3000, ssrc=0x5EED, payload=p)
            out.append((pkt, is_vp8_keyframe(p)))
            seq += 1
    return out


async def forward(packets, consumers: int, sock, addr) -> float:
    producer = Producer()
    for i in range(consumers):
        Consumer(producer, Sender(SinkTransport(sock, addr, 0x1000 + i), 0x1000 + i), payload_type=96)
    start = time.process_time()
    for pkt, kf in packets:
        producer.cache.put(pkt.sequence_number, pkt)
        for c in tuple(producer.consumers):
            await c.send(pkt, kf)
    return time.process_time() - start


def relay_baseline(pictures, viewers: int, sock, addr) -> tuple[float, int]:
    """MediaRelay: one encoder per viewer, each encoding every picture, then the same send path."""
    sent = 0
    start = time.process_time()
    for v in range(viewers):
        enc = Vp8Encoder()
        enc.target_bitrate = 600_000
        t = SinkTransport(sock, addr, 0x2000 + v)
        for i, f in enumerate(pictures):
            for j, p in enumerate(enc.encode(f)[0]):
                pkt = RtpPacket(payload_type=96, sequence_number=sent & 0xFFFF, timestamp=i * 3000, ssrc=0x2000 + v,
                                payload=p)
                t.sock.sendto(t.srtp.protect(pkt.serialize()), addr)
                sent += 1
    return time.process_time() - start, sent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--consumers", type=int, default=200)
    args = ap.parse_args()
    n_frames = 90 if args.quick else 300
    pictures = frames(n_frames)
    packets = packetise(encode(pictures))
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addr = sink.getsockname()
    ours_s = asyncio.run(forward(packets, args.consumers, sock, addr))
    forwarded = len(packets) * args.consumers
    viewers = 2 if args.quick else 4
    base_s, base_packets = relay_baseline(pictures, viewers, sock, addr)
    ours_us = ours_s / forwarded * 1e6
    base_us = base_s / base_packets * 1e6
    kbps = sum(len(p.payload) for p, _ in packets) * 8 / (n_frames / 30) / 1000
    print(f"packets per picture stream: {len(packets)} over {n_frames} frames ({kbps:.0f} kbps)")
    print(f"ours:     {ours_us:6.1f} µs CPU per forwarded packet ({args.consumers} consumers)")
    print(f"relay:    {base_us:6.1f} µs CPU per forwarded packet (encoder per viewer, {viewers} viewers)")
    pkt_rate = len(packets) / (n_frames / 30)
    print(json.dumps({
        "us_per_forwarded_packet": round(ours_us, 2),
        "baseline_mediarelay_us_per_forwarded_packet": round(base_us, 2),
        "baseline_cpu_ratio": round(base_us / ours_us, 1),
        "consumers": args.consumers, "packets": len(packets), "video_kbps": round(kbps),
        "cpu_pct_one_core_n200_forwarding_only": round(ours_us * pkt_rate * 200 / 1e4, 1),
    }))


if __name__ == "__main__":
    main()
