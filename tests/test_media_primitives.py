"""SFU building blocks: RTP rewriting, keyframe detection and limiting, the NACK packet cache.

LIVE-2: one lecturer stream fans out to 200 students, so these run per forwarded packet; LIVE-3:
two camera layers are switched per student without breaking the stream.
"""
from __future__ import annotations

import asyncio
import fractions

import av
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtp import RTCP_PSFB_PLI, RTCP_RTPFB_NACK, RtcpPsfbPacket, RtcpRtpfbPacket, RtpPacket
from PIL import Image, ImageDraw

from media.keyframe import KeyframeRequestLimiter, is_h264_keyframe, is_keyframe, is_vp8_keyframe
from media.packetcache import PacketCache
from media.rtprewriter import RtpRewriter, seq_newer

HIGH, LOW = 0x1111, 0x2222


# ---------------------------------------------------------------- RtpRewriter

def test_live3_layer_switch_keeps_sequence_and_timestamps_continuous_across_wraps():
    rw = RtpRewriter(clock_rate=90000)
    out = []
    # high layer near the end of both number spaces
    for i in range(10):
        seq, ts = (65530 + i) & 0xFFFF, (0xFFFFFFFF - 3000 + i * 3000) & 0xFFFFFFFF
        out.append(rw.rewrite(HIGH, seq, ts, 0, i == 0, now=i / 30))
    assert None not in out
    rw.switch_to(LOW)
    # the low layer's inter frames are not forwarded yet; high keeps flowing until low's keyframe
    assert rw.rewrite(LOW, 100, 5000, 0, False, now=10 / 30) is None
    out.append(rw.rewrite(HIGH, 4, 27000, 0, False, now=10 / 30))
    out.append(rw.rewrite(LOW, 101, 8000, 0, True, now=11 / 30))  # keyframe: switch
    out.append(rw.rewrite(LOW, 102, 11000, 0, False, now=12 / 30))
    seqs = [s for s, _ in out]
    assert all(((b - a) & 0xFFFF) == 1 for a, b in zip(seqs, seqs[1:])), seqs
    tss = [t for _, t in out]
    assert all(0 < ((b - a) & 0xFFFFFFFF) < 0x80000000 for a, b in zip(tss, tss[1:])), tss
    # the switch advanced the timestamp by the elapsed wall-clock time (1/30 s = 3000 ticks)
    assert ((tss[-2] - tss[-3]) & 0xFFFFFFFF) == 3000
    # a straggler of the old layer is dropped after the switch
    assert rw.rewrite(HIGH, 5, 30000, 0, False, now=12 / 30) is None


def test_real_losses_stay_visible_as_gaps():
    rw = RtpRewriter()
    a = rw.rewrite(HIGH, 10, 0, 0, True, now=0)
    b = rw.rewrite(HIGH, 13, 9000, 0, False, now=0.1)  # 11 and 12 lost upstream
    assert ((b[0] - a[0]) & 0xFFFF) == 3


def test_consumer_starts_only_at_a_keyframe_and_drops_older_packets():
    rw = RtpRewriter()
    assert rw.rewrite(HIGH, 50, 0, 0, False, now=0) is None
    assert rw.rewrite(HIGH, 51, 0, 0, True, now=0) is not None
    assert rw.rewrite(HIGH, 49, 0, 0, False, now=0) is None  # reordered, from before the start


def test_nack_translation_back_to_the_source():
    rw = RtpRewriter()
    out_seq, out_ts = rw.rewrite(HIGH, 700, 123, 0, True, now=0)
    assert rw.source_of(out_seq) == (HIGH, 700, out_ts)
    assert rw.source_of((out_seq + 1) & 0xFFFF) is None


def test_seq_newer_serial_arithmetic():
    assert seq_newer(1, 65535) and not seq_newer(65535, 1) and not seq_newer(5, 5)


# ---------------------------------------------------------------- keyframes

def _vp8_frames(n: int) -> list[list[bytes]]:
    enc = Vp8Encoder()
    out = []
    for i in range(n):
        img = Image.new("RGB", (320, 240), (30, 90, 160))
        ImageDraw.Draw(img).rectangle((i * 5, 10, i * 5 + 40, 200), fill=(250, 250, 250))
        frame = av.VideoFrame.from_image(img)
        frame.pts, frame.time_base = i * 3000, fractions.Fraction(1, 90000)
        payloads, _ = enc.encode(frame)
        out.append(payloads)
    return out


def test_vp8_keyframe_detected_on_a_real_bitstream():
    frames = _vp8_frames(5)
    assert is_vp8_keyframe(frames[0][0]) and is_keyframe("video/VP8", frames[0][0])
    assert not any(is_vp8_keyframe(p) for p in frames[0][1:])  # continuation packets
    assert not any(is_vp8_keyframe(p) for f in frames[1:] for p in f)  # inter frames


def test_h264_keyframes():
    idr, sps, p_slice = bytes([0x65, 0x88]), bytes([0x67, 0x42]), bytes([0x41, 0x9a])
    assert is_h264_keyframe(idr) and is_h264_keyframe(sps) and not is_h264_keyframe(p_slice)
    stap = bytes([0x78]) + len(sps).to_bytes(2, "big") + sps + len(idr).to_bytes(2, "big") + idr
    assert is_h264_keyframe(stap)
    assert is_h264_keyframe(bytes([0x7C, 0x85, 0x00]))  # FU-A start of an IDR
    assert not is_h264_keyframe(bytes([0x7C, 0x05, 0x00]))  # FU-A continuation
    assert not is_keyframe("audio/opus", idr)


def test_live2_keyframe_requests_from_200_consumers_reach_the_publisher_once_a_second():
    lim = KeyframeRequestLimiter(interval=1.0)
    sent = [lim.request(now=i * 0.004) for i in range(200)]  # 200 students join within 0.8 s
    assert sent.count(True) == 1
    assert not lim.due(0.9) and lim.due(1.0) and not lim.due(1.5)  # one deferred request, once
    lim.request(1.2)
    lim.on_keyframe(1.3)  # a keyframe arrived: the deferred request is cancelled
    assert not lim.due(2.5)


# ---------------------------------------------------------------- packet cache

def test_packet_cache_returns_recent_packets_only():
    cache = PacketCache(size=512)
    for seq in range(65000, 65536):
        cache.put(seq, f"p{seq}")
    for seq in range(0, 100):  # wrap
        cache.put(seq, f"p{seq}")
    assert cache.get(99) == "p99" and cache.get(65535) == "p65535"
    assert cache.get(65000) is None  # overwritten by a newer packet in its slot
    assert cache.get(200) is None  # never seen


# ---------------------------------------------------------------- consumer RTCP

class _Transport:
    def __init__(self):
        self.sent: list[bytes] = []

    async def _send_rtp(self, data: bytes) -> None:
        self.sent.append(data)


class _Sender:
    def __init__(self):
        self._ssrc = 0xABCDEF
        self.transport = _Transport()


class _Producer:
    def __init__(self):
        self.consumers = set()
        self.cache = PacketCache()
        self.clock_rate = 90000
        self.keyframe_requests = 0

    async def request_keyframe(self):
        self.keyframe_requests += 1


def test_consumer_answers_nack_from_the_cache_and_routes_pli_upstream():
    from media.consumer import Consumer

    async def run():
        producer, sender = _Producer(), _Sender()
        consumer = Consumer(producer, sender, payload_type=96)
        frames = _vp8_frames(2)
        packets = [RtpPacket(payload_type=100, sequence_number=1000 + i, timestamp=9000, ssrc=HIGH, payload=p)
                   for i, p in enumerate(frames[0] + frames[1])]
        for i, p in enumerate(packets):
            producer.cache.put(p.sequence_number, p)
            await consumer.send(p, keyframe=(i == 0))
        assert len(sender.transport.sent) == len(packets)
        first = RtpPacket.parse(sender.transport.sent[1])
        assert first.ssrc == 0xABCDEF and first.payload_type == 96
        await sender._handle_rtcp_packet(RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=0xABCDEF,
                                                         lost=[first.sequence_number]))
        again = RtpPacket.parse(sender.transport.sent[-1])
        assert (again.sequence_number, again.timestamp, again.payload) == (
            first.sequence_number, first.timestamp, first.payload)
        await sender._handle_rtcp_packet(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=0xABCDEF))
        assert producer.keyframe_requests == 1

    asyncio.run(run())


def test_live3_audio_only_pauses_video_and_resumes_at_a_keyframe():
    from media.consumer import Consumer

    async def run():
        producer, sender = _Producer(), _Sender()
        consumer = Consumer(producer, sender, payload_type=96)
        frames = _vp8_frames(3)
        seq = 0

        async def feed(payloads, key):
            nonlocal seq
            for i, p in enumerate(payloads):
                pkt = RtpPacket(payload_type=100, sequence_number=seq, timestamp=seq * 100, ssrc=HIGH, payload=p)
                seq += 1
                await consumer.send(pkt, keyframe=key and i == 0)

        await feed(frames[0], True)
        sent = len(sender.transport.sent)
        await consumer.set_paused(True)
        await feed(frames[1], False)
        assert len(sender.transport.sent) == sent  # nothing forwarded while audio-only
        await consumer.set_paused(False)
        assert producer.keyframe_requests == 1
        await feed(frames[2], False)  # an inter frame cannot resume the stream
        assert len(sender.transport.sent) == sent
        await feed(frames[0], True)  # the requested keyframe does
        assert len(sender.transport.sent) == sent + len(frames[0])
        seqs = [RtpPacket.parse(d).sequence_number for d in sender.transport.sent]
        assert all(((b - a) & 0xFFFF) == 1 for a, b in zip(seqs, seqs[1:]))  # no gap across the pause

    asyncio.run(run())
