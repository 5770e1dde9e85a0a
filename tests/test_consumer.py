"""Consumer: one subscriber's copy of a producer's stream (LIVE-2, LIVE-3).

It answers the subscriber's NACKs from the producer's cache, routes PLIs upstream through the
limiter, and pauses (audio only) and resumes at a keyframe without a gap in its numbering. The
RtpRewriter, keyframe detection and packet cache have their own test files; two-layer switching
is in test_layers.py.
"""
from __future__ import annotations

import asyncio
import fractions

import av
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtp import RTCP_PSFB_PLI, RTCP_RTPFB_NACK, RtcpPsfbPacket, RtcpRtpfbPacket, RtpPacket
from PIL import Image, ImageDraw

from media.packetcache import PacketCache
from media.rtprewriter import make_template

HIGH = 0x1111


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


# ---------------------------------------------------------------- consumer RTCP

class _Transport:
    state = "connected"  # the subscriber's DTLS is up

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
            producer.cache.put(p.sequence_number, (p.ssrc, p.marker, make_template(p.payload)))  # as Producer does
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


class _Feeder:
    """Sends pictures to one consumer as a producer would: consecutive sequence numbers, keyframe
    flag on a key picture's first packet."""

    def __init__(self, consumer):
        self.consumer, self.seq = consumer, 0

    async def __call__(self, payloads, key: bool) -> None:
        for i, p in enumerate(payloads):
            pkt = RtpPacket(payload_type=100, sequence_number=self.seq, timestamp=self.seq * 100, ssrc=HIGH, payload=p)
            self.seq += 1
            await self.consumer.send(pkt, keyframe=key and i == 0)


def test_live3_audio_only_pauses_video_and_resumes_at_a_keyframe():
    from media.consumer import Consumer

    async def run():
        producer, sender = _Producer(), _Sender()
        consumer = Consumer(producer, sender, payload_type=96)
        frames = _vp8_frames(3)
        feed = _Feeder(consumer)

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


def test_a_consumer_starts_only_once_its_subscriber_can_receive():
    """A keyframe written before DTLS is up is lost; the consumer must not lock onto it and then
    forward undecodable inter frames."""
    from media.consumer import Consumer

    async def run():
        producer, sender = _Producer(), _Sender()
        sender.transport.state = "connecting"
        consumer = Consumer(producer, sender, payload_type=96)
        frames = _vp8_frames(3)
        feed = _Feeder(consumer)

        await feed(frames[0], True)  # arrives while connecting: not taken as the start
        sender.transport.state = "connected"
        await feed(frames[1], False)
        assert sender.transport.sent == []  # no inter frame without its keyframe
        await feed(frames[0], True)
        assert len(sender.transport.sent) == len(frames[0])

    asyncio.run(run())
