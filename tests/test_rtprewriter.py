"""RtpRewriter: one continuous output stream per consumer over switching camera layers.

LIVE-3: a student is switched between the lecturer's high and low camera layers at a keyframe
without a jump in sequence numbers or timestamps; LIVE-2: one rewriter per (consumer, track), so
its numbering must never break in a 45-minute lesson, and NACKs must map back to the producer.
"""
from __future__ import annotations

import itertools

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket

from media import rtprewriter
from media.rtprewriter import RtpRewriter, make_template, parse_rtp, seq_newer

HIGH, LOW = 0x1111_1111, 0x2222_2222
OUT_SSRC, OUT_PT = 0xC0FFEE01, 96
FPS, TICKS = 30, 3000  # 90 kHz clock, one frame every 3000 ticks


class Layer:
    """A source stream: its own SSRC, sequence space and timestamp base, 3 packets a frame."""

    def __init__(self, ssrc: int, seq: int, ts: int):
        self.ssrc, self.seq, self.ts = ssrc, seq, ts

    def frame(self, keyframe: bool, per_frame: int = 3) -> list[tuple[int, int, int, int, bool]]:
        out = []
        for i in range(per_frame):
            out.append((self.ssrc, self.seq, self.ts, int(i == per_frame - 1), keyframe and i == 0))
            self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + TICKS) & 0xFFFFFFFF
        return out


def _feed(rw: RtpRewriter, packets, now: float):
    return [rw.rewrite(ssrc, seq, ts, m, key, now) for ssrc, seq, ts, m, key in packets]


def _assert_seq_continuous(seqs: list[int]) -> None:
    assert all(((b - a) & 0xFFFF) == 1 for a, b in itertools.pairwise(seqs)), seqs


def test_live3_high_low_high_switch_keeps_output_continuous_across_seq_and_ts_wrap(monkeypatch):
    # The output stream starts 5 short of both wraps, so it wraps during the test as well.
    monkeypatch.setattr(rtprewriter.random, "getrandbits", lambda bits: (1 << bits) - 5)
    rw = RtpRewriter(90000, ssrc=OUT_SSRC, payload_type=OUT_PT)
    high = Layer(HIGH, seq=65533, ts=0xFFFFFFFF - 4000)  # this source wraps too
    low = Layer(LOW, seq=100, ts=123_456)
    sent: list[tuple[int, int, int]] = []  # (out_seq, out_ts, source SSRC) in sending order

    def tick(n: int, *frames: tuple[Layer, bool]) -> list:
        """Frame interval n: each layer publishes one frame (both layers publish all the time)."""
        results = []
        for layer, key in frames:
            outs = _feed(rw, layer.frame(key), now=n / FPS)
            sent.extend((*o, layer.ssrc) for o in outs if o is not None)
            results.append(outs)
        return results

    tick(0, (high, True), (low, False))  # the consumer starts on high's keyframe
    tick(1, (high, False), (low, False))
    rw.switch_to(LOW)
    h, lo = tick(2, (high, False), (low, False))
    assert None not in h and lo == [None, None, None]  # until low's keyframe, high keeps flowing
    before_switch = len(sent)
    tick(3, (low, True), (high, False))  # low's keyframe: switch; high's frame 3 is dropped
    assert rw.current == LOW and not rw.switching
    tick(4, (high, False), (low, False))
    rw.switch_to(HIGH)
    tick(5, (high, False), (low, False))
    back_to_high = len(sent)
    tick(6, (high, True), (low, False))  # high's keyframe: back to high
    tick(7, (high, False), (low, False))

    seqs, tss, srcs = zip(*sent)
    assert srcs == (HIGH,) * 9 + (LOW,) * 9 + (HIGH,) * 6
    assert srcs[before_switch] == LOW and srcs[back_to_high] == HIGH
    _assert_seq_continuous(list(seqs))
    assert seqs[0] == 65531 and 0 in seqs  # the output sequence number wrapped
    assert tss[0] == 0xFFFFFFFB and min(tss) < 100_000  # so did the output timestamp
    steps = [(b - a) & 0xFFFFFFFF for a, b in itertools.pairwise(tss)]
    # one frame = 3000 ticks, and each switch advanced the timestamp by the wall-clock gap since
    # the last forwarded packet (one frame interval): no jump, no step backwards
    assert all(s in (0, TICKS) for s in steps), steps
    assert steps[before_switch - 1] == TICKS and steps[back_to_high - 1] == TICKS


def test_live3_switch_in_the_same_instant_advances_timestamp_by_at_least_one_tick():
    rw = RtpRewriter()
    _, ts0 = rw.rewrite(HIGH, 10, 5000, 1, True, now=1.0)
    rw.switch_to(LOW)
    _, ts1 = rw.rewrite(LOW, 900, 70, 0, True, now=1.0)
    assert (ts1 - ts0) & 0xFFFFFFFF == 1


def test_live3_switch_after_a_long_gap_advances_timestamp_by_the_elapsed_time():
    rw = RtpRewriter(clock_rate=90000)
    _, ts0 = rw.rewrite(HIGH, 10, 5000, 1, True, now=1.0)
    rw.switch_to(LOW)
    _, ts1 = rw.rewrite(LOW, 900, 70, 0, True, now=3.5)
    assert (ts1 - ts0) & 0xFFFFFFFF == 225_000


def test_live3_switch_waits_for_a_keyframe_of_the_target_layer():
    rw = RtpRewriter()
    assert rw.rewrite(HIGH, 1, 0, 0, True, now=0) is not None
    rw.switch_to(LOW)
    assert rw.switching
    assert rw.rewrite(LOW, 50, 0, 0, False, now=0.1) is None  # not a keyframe: not yet
    assert rw.rewrite(HIGH, 2, 3000, 0, False, now=0.1) is not None  # the old layer still flows
    assert rw.rewrite(HIGH, 3, 6000, 0, True, now=0.13) is not None  # its keyframe does not switch
    assert rw.current == HIGH
    assert rw.rewrite(LOW, 51, 3000, 0, True, now=0.15) is not None
    assert rw.current == LOW and not rw.switching


def test_switch_to_a_third_unexpected_source_is_ignored_and_switch_to_current_cancels():
    rw = RtpRewriter()
    rw.rewrite(HIGH, 1, 0, 0, True, now=0)
    assert rw.rewrite(0x3333, 1, 0, 0, True, now=0) is None  # a keyframe of a source nobody chose
    rw.switch_to(LOW)
    rw.switch_to(HIGH)  # changed our mind before low's keyframe
    assert not rw.switching
    assert rw.rewrite(LOW, 51, 3000, 0, True, now=0.15) is None


def test_live3_late_packets_of_the_old_layer_are_dropped_after_the_switch():
    rw = RtpRewriter()
    for i in range(5):
        rw.rewrite(HIGH, 1000 + i, i * TICKS, 0, i == 0, now=i / FPS)
    rw.switch_to(LOW)
    first = rw.rewrite(LOW, 7000, 0, 0, True, now=5 / FPS)
    assert first is not None
    # High's packet 1005 was sent before the switch but arrives after it; it, a reordered older
    # one and even a high keyframe (no switch armed) must not be forwarded with bogus numbers.
    assert rw.rewrite(HIGH, 1005, 5 * TICKS, 0, False, now=5 / FPS) is None
    assert rw.rewrite(HIGH, 1003, 3 * TICKS, 0, False, now=5 / FPS) is None
    assert rw.rewrite(HIGH, 1006, 6 * TICKS, 0, True, now=6 / FPS) is None
    # low's own packets from before its keyframe (reordered) are older than the switch point
    assert rw.rewrite(LOW, 6999, 0, 0, False, now=6 / FPS) is None
    nxt = rw.rewrite(LOW, 7001, 0, 0, False, now=6 / FPS)
    assert nxt[0] == (first[0] + 1) & 0xFFFF


def test_reordered_packet_after_the_switch_point_keeps_its_own_number():
    rw = RtpRewriter()
    a = rw.rewrite(HIGH, 500, 0, 0, True, now=0)
    c = rw.rewrite(HIGH, 502, 0, 0, False, now=0)
    b = rw.rewrite(HIGH, 501, 0, 0, False, now=0)  # arrives late, still after the start
    assert (b[0] - a[0]) & 0xFFFF == 1 and (c[0] - a[0]) & 0xFFFF == 2
    assert rw.last_seq == c[0]  # a late packet does not move the stream's head backwards


def test_loss_gap_is_preserved_so_the_subscriber_can_nack():
    rw = RtpRewriter()
    a = rw.rewrite(HIGH, 65534, 0, 0, True, now=0)
    b = rw.rewrite(HIGH, 2, 3000, 0, False, now=0.03)  # 65535, 0 and 1 lost upstream (wrap)
    assert (b[0] - a[0]) & 0xFFFF == 4
    rw.switch_to(LOW)
    c = rw.rewrite(LOW, 40, 0, 0, True, now=0.06)
    d = rw.rewrite(LOW, 43, 3000, 0, False, now=0.09)  # 41 and 42 lost after the switch
    assert (c[0] - b[0]) & 0xFFFF == 1 and (d[0] - c[0]) & 0xFFFF == 3


def test_consumer_starts_only_at_a_keyframe():
    rw = RtpRewriter()
    assert rw.rewrite(HIGH, 50, 0, 0, False, now=0) is None
    assert rw.rewrite(HIGH, 51, 0, 0, True, now=0) is not None
    assert rw.rewrite(HIGH, 49, 0, 0, False, now=0) is None  # reordered, from before the start


def test_live2_stream_keeps_flowing_for_a_whole_lesson_without_a_switch():
    # 200 000 packets: 45 minutes of 74 pkt/s video, three wraps of the 16-bit sequence number.
    # (Comparing against the switch point with serial arithmetic would drop half of every wrap.)
    rw = RtpRewriter()
    prev = rw.rewrite(HIGH, 0, 0, 0, True, now=0)
    for i in range(1, 200_000):
        out = rw.rewrite(HIGH, i & 0xFFFF, (i * 1216) & 0xFFFFFFFF, 0, False, now=i / 74)
        assert out is not None and (out[0] - prev[0]) & 0xFFFF == 1, i
        prev = out
    # and the switch point is still honoured later: a packet from before it is still refused
    assert rw.rewrite(HIGH, (200_000 - 40_000) & 0xFFFF, 0, 0, False, now=0) is not None  # reorder window
    rw.switch_to(LOW)
    rw.rewrite(LOW, 9, 0, 0, True, now=3000)
    assert rw.rewrite(LOW, 8, 0, 0, False, now=3000) is None


def test_pause_then_resume_waits_for_a_keyframe_of_the_same_layer():
    rw = RtpRewriter()
    a = rw.rewrite(HIGH, 10, 0, 0, True, now=0)
    rw.switch_to_keyframe()
    assert rw.rewrite(HIGH, 300, 90_000, 0, False, now=4) is None
    b = rw.rewrite(HIGH, 301, 93_000, 0, True, now=4.0)
    assert (b[0] - a[0]) & 0xFFFF == 1 and (b[1] - a[1]) & 0xFFFFFFFF == 360_000


def test_nack_in_output_numbering_translates_back_to_the_producer_across_a_switch():
    rw = RtpRewriter()
    out = {}
    for i in range(10):
        out[(HIGH, 60000 + i)] = rw.rewrite(HIGH, 60000 + i, i * TICKS, 0, i == 0, now=i / FPS)
    rw.switch_to(LOW)
    for i in range(10):
        out[(LOW, 65530 + i & 0xFFFF)] = rw.rewrite(LOW, 65530 + i & 0xFFFF, i, 0, i == 0, now=(10 + i) / FPS)
    for (ssrc, seq), (out_seq, out_ts) in out.items():
        assert rw.source_of(out_seq) == (ssrc, seq, out_ts)
    head = rw.last_seq
    assert rw.source_of((head + 1) & 0xFFFF) is None  # not sent yet
    lost_seq = (head + 2) & 0xFFFF
    rw.rewrite(LOW, 10, 0, 0, False, now=1)  # 8 and 9 lost upstream: their output numbers never sent
    assert rw.source_of((lost_seq - 1) & 0xFFFF) is None


def test_nack_history_keeps_the_most_recent_512_packets_only():
    rw = RtpRewriter()
    sent = [rw.rewrite(HIGH, i & 0xFFFF, 0, 0, i == 0, now=0)[0] for i in range(70_000)]
    assert rw.source_of(sent[-1])[:2] == (HIGH, (70_000 - 1) & 0xFFFF)
    assert rw.source_of(sent[-512])[1] == (70_000 - 512) & 0xFFFF
    assert rw.source_of(sent[-513]) is None
    assert rw.source_of(sent[-65536]) is None  # same 16-bit output number, a previous wrap


def test_forward_patches_a_copy_of_the_parsed_header_for_each_consumer():
    # A browser-like packet: CSRC, two header extensions (mid, abs-send-time) and padding.
    params = RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=4, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
        RTCRtpHeaderExtensionParameters(id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
    ])
    ext_map = HeaderExtensionsMap()
    ext_map.configure(params)
    src = RtpPacket(payload_type=100, marker=1, sequence_number=4242, timestamp=777_777, ssrc=HIGH,
                    payload=bytes([0x90, 0x80, 0x81, 0x23, 0x10, 0x02, 0x00]) + b"vp8" * 300)
    src.csrc = [0xAAAA]
    src.extensions = HeaderExtensions(mid="0", abs_send_time=123456)
    src.padding_size = 7
    data = src.serialize(ext_map)
    ssrc, seq, ts, marker, pt, template = parse_rtp(data)
    assert (ssrc, seq, ts, marker, pt) == (HIGH, 4242, 777_777, 1, 100)
    assert template == make_template(src.payload)

    consumers = [RtpRewriter(ssrc=0x5000 + i, payload_type=96 + i % 2) for i in range(200)]  # LIVE-2
    copies = [c.forward(template, ssrc, seq, ts, marker, True, now=0.0) for c in consumers]
    for c, buf in zip(consumers, copies):
        pkt = RtpPacket.parse(bytes(buf), ext_map)
        assert (pkt.ssrc, pkt.payload_type, pkt.marker) == (c.ssrc, c.payload_type, 1)
        assert (pkt.sequence_number, pkt.timestamp) == (c.last_seq, c.last_ts)
        assert pkt.payload == src.payload and pkt.csrc == [] and pkt.padding_size == 0
        assert pkt.extensions == HeaderExtensions()  # the publisher's extension IDs are not forwarded
    assert copies[0] is not copies[1] and template[1:12] == bytes(11)  # the template is never written
    assert consumers[0].forward(template, LOW, 1, 0, 0, True, now=0.1) is None  # no switch armed


def test_parse_rtp_refuses_what_is_not_forwardable():
    assert parse_rtp(b"\x80\x60\x00") is None  # too short
    assert parse_rtp(b"\x40" + bytes(20)) is None  # version 1
    only_padding = RtpPacket(payload_type=96, sequence_number=1, ssrc=1)
    only_padding.padding_size = 200  # a bandwidth probe: nothing to forward
    assert parse_rtp(only_padding.serialize()) is None
    assert parse_rtp(b"\x90\x60" + bytes(10) + b"\xbe\xde") is None  # truncated extension header


def test_rewrite_packet_in_place_sets_the_consumer_ssrc_and_payload_type():
    rw = RtpRewriter(ssrc=OUT_SSRC, payload_type=OUT_PT)
    pkt = RtpPacket(payload_type=100, marker=1, sequence_number=9, timestamp=90, ssrc=HIGH, payload=b"x")
    assert rw.rewrite_packet(pkt, True, now=0)
    assert (pkt.ssrc, pkt.payload_type, pkt.sequence_number, pkt.timestamp, pkt.marker) == (
        OUT_SSRC, OUT_PT, rw.last_seq, rw.last_ts, 1)
    late = RtpPacket(payload_type=100, sequence_number=8, timestamp=0, ssrc=HIGH, payload=b"y")
    assert not rw.rewrite_packet(late, False, now=0)
    assert (late.ssrc, late.sequence_number) == (HIGH, 8)  # a dropped packet is left untouched


def test_seq_newer_is_serial_arithmetic():
    assert seq_newer(1, 65535) and not seq_newer(65535, 1) and not seq_newer(5, 5)
