"""LIVE-3: two camera layers, one subscriber stream; each subscriber is switched by its own feedback.

The selector is pure logic (loss and REMB in, a layer out); the consumer tests drive a two-layer
publication with real VP8 payloads and check that a switch happens only at the new layer's
keyframe, with sequence numbers continuous at the subscriber.
"""
from __future__ import annotations

import asyncio

from aiortc.rtp import (RTCP_PSFB_APP, RTCP_RTPFB_NACK, RtcpPsfbPacket, RtcpReceiverInfo, RtcpRrPacket, RtcpRtpfbPacket,
                        RtpPacket, pack_remb_fci)

from media.consumer import Consumer
from media.layerselector import HIGH, LOW, LayerSelector
from media.packetcache import PacketCache
from media.publication import Publication
from media.rtprewriter import make_template
from tests.test_consumer import _Sender, _vp8_frames

HIGH_BPS = 500_000


# ---------------------------------------------------------------- LayerSelector

def test_live3_selector_drops_to_low_on_sustained_loss_and_comes_back_after_the_hold():
    sel = LayerSelector(hold=8)
    assert sel.layer == HIGH
    assert sel.on_report(0, loss=0.12, high_bps=HIGH_BPS) is None  # one lossy report is not yet congestion
    assert sel.on_report(1, loss=0.12, high_bps=HIGH_BPS) == LOW
    assert sel.reason == "loss" and sel.quality == "poor"
    assert sel.on_report(2, loss=0.0, high_bps=HIGH_BPS) is None  # clean, but within the hold time
    assert sel.on_report(8.9, loss=0.0, high_bps=HIGH_BPS) is None
    assert sel.on_report(9.1, loss=0.0, high_bps=HIGH_BPS) == HIGH
    assert sel.quality == "good"


def test_live3_selector_reacts_at_once_to_heavy_loss_and_doubles_the_hold_when_it_flaps():
    sel = LayerSelector(hold=8)
    assert sel.on_report(0, loss=0.4, high_bps=HIGH_BPS) == LOW
    assert sel.on_report(8.5, loss=0.0, high_bps=HIGH_BPS) == HIGH
    assert sel.on_report(10, loss=0.5, high_bps=HIGH_BPS) == LOW  # failed again soon after going up
    assert sel.hold == 16
    assert sel.on_report(20, loss=0.0, high_bps=HIGH_BPS) is None
    assert sel.on_report(26.5, loss=0.0, high_bps=HIGH_BPS) == HIGH


def test_live3_selector_follows_the_browsers_bandwidth_estimate_down_and_probes_up():
    sel = LayerSelector(hold=4, now=0)
    sel.on_remb(200_000, now=1)  # the browser's estimator is still starting: ignored
    assert sel.on_report(1.5, loss=0.0, high_bps=HIGH_BPS) is None
    sel.on_remb(300_000, now=10)  # settled at 300 kbps: the 500 kbps layer does not fit
    assert sel.on_report(10.5, loss=0.0, high_bps=HIGH_BPS) == LOW
    assert sel.reason == "bandwidth"
    # on the low layer the estimate cannot rise far (it follows what arrives): going up after the
    # hold is the probe, and REMB does not block it
    sel.on_remb(250_000, now=12)
    assert sel.on_report(12.5, loss=0.0, high_bps=HIGH_BPS) is None
    assert sel.on_report(14.6, loss=0.0, high_bps=HIGH_BPS) == HIGH
    sel.on_remb(280_000, now=15)  # the probe failed: down again, and wait twice as long next time
    assert sel.on_report(15.5, loss=0.0, high_bps=HIGH_BPS) == LOW and sel.hold == 8


def test_live3_a_pinned_preference_overrides_the_network():
    sel = LayerSelector()
    assert sel.prefer("low") == LOW
    assert sel.on_report(100, loss=0.0, high_bps=HIGH_BPS) is None and sel.layer == LOW
    assert sel.prefer("high") == HIGH
    assert sel.on_report(101, loss=0.5, high_bps=HIGH_BPS) is None and sel.layer == HIGH
    sel.prefer("auto")
    assert sel.on_report(102, loss=0.5, high_bps=HIGH_BPS) == LOW


# ---------------------------------------------------------------- Consumer over two layers

class _Layer:
    def __init__(self, ssrc: int, source: str):
        self.ssrc, self.source = ssrc, source
        self.kind, self.mime, self.clock_rate = "video", "video/vp8", 90000
        self.consumers: set = set()
        self.cache = PacketCache()
        self.keyframe_requests = 0
        self.seq = 0

    async def request_keyframe(self):
        self.keyframe_requests += 1

    def bitrate(self, now=None):
        return HIGH_BPS if self.source == "camera" else 150_000

    async def feed(self, payloads, keyframe: bool):
        """Send one picture's packets to this layer's consumers, as Producer.on_packet does."""
        for i, payload in enumerate(payloads):
            pkt = RtpPacket(payload_type=100, sequence_number=self.seq, timestamp=self.seq * 3000, ssrc=self.ssrc,
                            payload=payload, marker=int(i == len(payloads) - 1))
            self.seq += 1
            self.cache.put(pkt.sequence_number, (pkt.ssrc, pkt.marker, make_template(payload)))
            for consumer in tuple(self.consumers):
                await consumer.send(pkt, keyframe and i == 0, self)


def _two_layers():
    high, low = _Layer(0x1111, "camera"), _Layer(0x2222, "camera_low")
    pub = Publication(user_id=1, role="lecturer", source="camera", kind="video", layers=[high, low], pid="l/camera")
    return pub, high, low


def _rr(consumer: Consumer, loss: float) -> RtcpRrPacket:
    return RtcpRrPacket(ssrc=9, reports=[RtcpReceiverInfo(
        ssrc=consumer.ssrc, fraction_lost=int(loss * 256), packets_lost=0, highest_sequence=0, jitter=0, lsr=0,
        dlsr=0)])


def test_live3_loss_reports_switch_a_subscriber_to_the_low_layer_at_its_keyframe():
    async def run():
        pub, high, low = _two_layers()
        sender = _Sender()
        switches = []
        consumer = Consumer(pub, sender, payload_type=96, on_layer=lambda c, layer, reason: switches.append(
            (layer, reason)))
        key, inter = _vp8_frames(2)
        assert consumer in high.consumers and consumer not in low.consumers
        await high.feed(key, True)
        await high.feed(inter, False)
        sent = len(sender.transport.sent)
        # two lossy receiver reports from this subscriber: switch armed, a keyframe asked of the low layer
        for _ in range(2):
            await sender._handle_rtcp_packet(_rr(consumer, 0.2))
        assert consumer.target is low and low.keyframe_requests == 1
        await low.feed(inter, False)  # the low layer's inter frame cannot start the switch
        await high.feed(inter, False)  # meanwhile the high layer keeps flowing
        assert len(sender.transport.sent) == sent + len(inter)
        await low.feed(key, True)  # the switch happens here
        await high.feed(inter, False)  # a straggler of the old layer: not forwarded
        await low.feed(inter, False)
        assert switches == [(1, "loss")]
        assert consumer not in high.consumers and consumer in low.consumers
        packets = [RtpPacket.parse(d) for d in sender.transport.sent]
        assert {p.ssrc for p in packets} == {sender._ssrc}
        seqs = [p.sequence_number for p in packets]
        assert all(((b - a) & 0xFFFF) == 1 for a, b in zip(seqs, seqs[1:])), seqs
        assert len(packets) == sent + len(inter) + len(key) + len(inter)
        # a NACK for a packet of the low layer is answered from that layer's cache
        await sender._handle_rtcp_packet(RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=9, media_ssrc=sender._ssrc,
                                                         lost=[seqs[-1]]))
        again = RtpPacket.parse(sender.transport.sent[-1])
        assert (again.sequence_number, again.payload) == (seqs[-1], packets[-1].payload)

    asyncio.run(run())


def test_live3_remb_and_the_subscribers_choice_drive_the_layer():
    async def run():
        pub, high, low = _two_layers()
        sender = _Sender()
        consumer = Consumer(pub, sender, payload_type=96)
        key, inter = _vp8_frames(2)
        await high.feed(key, True)
        remb = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=9, media_ssrc=0, fci=pack_remb_fci(200_000, [sender._ssrc]))
        consumer.selector.started -= consumer.selector.WARMUP  # past the estimator's start-up
        await sender._handle_rtcp_packet(remb)
        await sender._handle_rtcp_packet(_rr(consumer, 0.0))
        assert consumer.target is low
        await low.feed(key, True)
        assert consumer.producer is low
        await consumer.prefer("high")  # the student asks for the sharp picture whatever the network says
        assert consumer.target is high
        await high.feed(key, True)
        assert consumer.producer is high and consumer.layer == 0
        await sender._handle_rtcp_packet(_rr(consumer, 0.5))
        assert consumer.target is None  # pinned: feedback no longer moves it

    asyncio.run(run())
