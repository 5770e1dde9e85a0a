"""Keyframe detection on RTP payloads, and the per-producer keyframe request limiter.

A consumer starts, resumes and switches layers (LIVE-3) only at a keyframe, recognised without
decoding; and when 200 students join (LIVE-2) their requests must reach the lecturer's browser
at most once a second. VP8 and H.264 are detected on real bitstreams (libvpx / libx264 through
PyAV, packetised by aiortc's own packetisers), checked against the encoder's own keyframe flag.
"""
from __future__ import annotations

import fractions
import itertools
import random

import av
import pytest
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder, VpxPayloadDescriptor, vp8_depayload
from PIL import Image

from media.keyframe import (
    KeyframeRequestLimiter,
    is_h264_keyframe,
    is_keyframe,
    is_vp8_keyframe,
)

W, H = 320, 240


def _pictures(n: int) -> list[av.VideoFrame]:
    """Noise: every frame is big enough to span several RTP packets."""
    rng = random.Random(7)
    out = []
    for i in range(n):
        frame = av.VideoFrame.from_image(Image.frombytes("RGB", (W, H), rng.randbytes(W * H * 3)))
        frame.pts, frame.time_base = i, fractions.Fraction(1, 30)
        out.append(frame)
    return out


def _encode(codec_name: str, n: int, forced_keyframes: set[int], options: dict[str, str],
            packetise) -> list[tuple[bool, list[bytes]]]:
    """(encoder says keyframe, RTP payloads) for each encoded frame."""
    codec = av.CodecContext.create(codec_name, "w")
    codec.width, codec.height, codec.pix_fmt = W, H, "yuv420p"
    codec.bit_rate, codec.gop_size = 2_000_000, 1000
    codec.time_base = fractions.Fraction(1, 30)
    codec.framerate = fractions.Fraction(30, 1)
    codec.options = options
    out = []
    for i, frame in enumerate(_pictures(n)):
        if i in forced_keyframes:
            frame.pict_type = av.video.frame.PictureType.I
        for packet in codec.encode(frame):
            out.append((packet.is_keyframe, packetise(packet)))
    for packet in codec.encode(None):
        out.append((packet.is_keyframe, packetise(packet)))
    return out


@pytest.fixture(scope="module")
def vp8_frames():
    packer = Vp8Encoder()  # aiortc's VP8 packetiser (payload descriptor with a 15-bit PictureID)
    return _encode("libvpx", 8, {5}, {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"},
                   lambda p: packer.pack(p)[0])


@pytest.fixture(scope="module")
def h264_frames():
    return _encode("libx264", 8, {5}, {"preset": "ultrafast", "tune": "zerolatency"},
                   lambda p: H264Encoder()._packetize(H264Encoder._split_bitstream(bytes(p))))


# ---------------------------------------------------------------- VP8

def test_vp8_real_bitstream_first_packet_of_each_keyframe_is_detected(vp8_frames):
    keys = [key for key, _ in vp8_frames]
    assert keys[0] and keys[5] and keys.count(True) == 2  # the encoder's own view
    assert all(len(payloads) > 1 for _, payloads in vp8_frames)  # so there are continuation packets
    for key, payloads in vp8_frames:
        assert is_vp8_keyframe(payloads[0]) == key
        assert is_keyframe("video/VP8", payloads[0]) == key


def test_vp8_continuation_packets_and_inter_frames_are_not_keyframes(vp8_frames):
    for key, payloads in vp8_frames:
        assert not any(is_vp8_keyframe(p) for p in payloads[1:])
        if not key:
            assert not any(is_vp8_keyframe(p) for p in payloads)


@pytest.mark.parametrize("variant", ["no extension", "7-bit PictureID", "15-bit PictureID",
                                     "TL0PICIDX", "TID", "KEYIDX", "all of I/L/T/K", "X without fields"])
def test_vp8_payload_descriptor_variants(vp8_frames, variant):
    """Browsers send other descriptor layouts than aiortc's: the P bit must be found after each."""
    def rewrap(payload: bytes) -> bytes:
        d, data = VpxPayloadDescriptor.parse(payload)
        b0 = (d.partition_start << 4) | d.partition_id
        if variant == "no extension":
            return bytes([b0]) + data
        if variant == "7-bit PictureID":
            return bytes([0x80 | b0, 0x80, d.picture_id & 0x7F]) + data
        if variant == "X without fields":
            return bytes([0x80 | b0, 0x00]) + data
        kwargs = {"15-bit PictureID": {"picture_id": d.picture_id},
                  "TL0PICIDX": {"tl0picidx": 7},
                  "TID": {"tid": (1, 1)},
                  "KEYIDX": {"keyidx": 5},
                  "all of I/L/T/K": {"picture_id": d.picture_id, "tl0picidx": 7, "tid": (2, 0), "keyidx": 5}}
        return bytes(VpxPayloadDescriptor(d.partition_start, d.partition_id, **kwargs[variant])) + data

    for key, payloads in vp8_frames:
        wrapped = [rewrap(p) for p in payloads]
        assert vp8_depayload(wrapped[0]) == vp8_depayload(payloads[0])
        assert [is_vp8_keyframe(p) for p in wrapped] == [key] + [False] * (len(wrapped) - 1)


def test_vp8_start_of_a_later_partition_is_not_a_keyframe(vp8_frames):
    first = vp8_frames[0][1][0]
    assert is_vp8_keyframe(first)
    assert not is_vp8_keyframe(bytes([first[0] | 0x01]) + first[1:])  # PID 1 with S set


@pytest.mark.parametrize("payload", [b"", b"\x10", b"\x90", b"\x90\x80", b"\x90\x80\x80", b"\x90\xf0\x01\x02"])
def test_vp8_truncated_payloads_are_not_keyframes_and_do_not_raise(payload):
    assert not is_vp8_keyframe(payload)


# ---------------------------------------------------------------- H.264

def test_h264_real_bitstream_keyframes_are_detected(h264_frames):
    keys = [key for key, _ in h264_frames]
    assert keys[0] and keys[5] and keys.count(True) == 2
    for key, payloads in h264_frames:
        assert is_h264_keyframe(payloads[0]) == key and is_keyframe("video/H264", payloads[0]) == key
        if not key:
            assert not any(is_h264_keyframe(p) for p in payloads)


def test_h264_fu_a_continuations_of_an_idr_are_not_keyframes(h264_frames):
    payloads = h264_frames[0][1]
    fu_a = [p for p in payloads if p[0] & 0x1F == 28 and p[1] & 0x1F == 5]
    starts = [bool(p[1] & 0x80) for p in fu_a]
    assert starts[0] and starts.count(False) > starts.count(True)  # IDR slices, fragmented
    # the start of each fragmented IDR slice is a place to begin; its continuations are not
    assert [is_h264_keyframe(p) for p in fu_a] == starts


NAL_SPS, NAL_PPS, NAL_IDR, NAL_SLICE, NAL_SEI = (bytes([0x67, 0x42, 0xC0, 0x1E]), bytes([0x68, 0xCE, 0x3C]),
                                                  bytes([0x65, 0x88, 0x84]), bytes([0x41, 0x9A, 0x02]),
                                                  bytes([0x06, 0x05, 0x01]))


def _stap_a(*nals: bytes) -> bytes:
    return bytes([0x78]) + b"".join(len(n).to_bytes(2, "big") + n for n in nals)


@pytest.mark.parametrize("payload,expected", [
    (NAL_IDR, True),
    (NAL_SPS, True),
    (NAL_PPS, False),
    (NAL_SLICE, False),
    (NAL_SEI, False),
    (_stap_a(NAL_SPS, NAL_PPS), True),
    (_stap_a(NAL_SEI, NAL_PPS, NAL_IDR), True),
    (_stap_a(NAL_SEI, NAL_SLICE), False),
    (_stap_a(NAL_SEI)[:-2], False),  # truncated aggregate
    (bytes([0x7C, 0x85, 0xB8]), True),  # FU-A, start bit, IDR
    (bytes([0x7C, 0x05, 0xB8]), False),  # FU-A middle of an IDR
    (bytes([0x7C, 0x45, 0xB8]), False),  # FU-A end of an IDR
    (bytes([0x7C, 0x87, 0x42]), True),  # FU-A start of an SPS
    (bytes([0x5C, 0x81, 0x9A]), False),  # FU-A start of a non-IDR slice
    (bytes([0x7C]), False),
    (b"", False),
])
def test_h264_handcrafted_nal_units(payload, expected):
    assert is_h264_keyframe(payload) is expected


def test_is_keyframe_dispatches_on_mime_type_and_audio_never_is():
    assert is_keyframe("video/h264", NAL_IDR) and is_keyframe("VIDEO/H264", NAL_IDR)
    assert not is_keyframe("audio/opus", NAL_IDR) and not is_keyframe("video/VP9", NAL_IDR)


# ---------------------------------------------------------------- keyframe request limiter

def test_live2_200_consumers_asking_within_a_second_make_one_request_now_and_one_deferred():
    lim = KeyframeRequestLimiter(interval=1.0)
    rng = random.Random(3)
    asks = sorted(rng.uniform(0, 0.99) for _ in range(200))
    asks[0] = 0.0
    sent_now = [lim.request(now=t) for t in asks]
    assert sent_now == [True] + [False] * 199  # one upstream request now
    assert not lim.due(0.5) and not lim.due(0.999)
    assert lim.due(1.0)  # the deferred one, once the interval has passed (not dropped)...
    assert not lim.due(1.01) and not lim.due(5.0)  # ...and only once


def test_live2_deferred_request_is_cancelled_by_a_keyframe():
    lim = KeyframeRequestLimiter(interval=1.0)
    assert lim.request(0.0)
    assert not any(lim.request(0.2 + i / 1000) for i in range(200))
    lim.on_keyframe(0.3)  # the keyframe answering the first request serves all of them
    assert not lim.due(1.0) and not lim.due(2.0)
    assert lim.request(2.1)  # a new request after the interval goes straight upstream


def test_live2_upstream_requests_are_never_closer_than_the_interval_under_steady_demand():
    lim = KeyframeRequestLimiter(interval=1.0)
    rng = random.Random(11)
    asks = sorted(rng.uniform(0, 10) for _ in range(2000))  # 200 consumers, 10 requests each, 10 s
    upstream = []
    t, i = 0.0, 0
    while t < 12:  # the producer checks due() on every packet (74 pkt/s)
        while i < len(asks) and asks[i] <= t:
            if lim.request(asks[i]):
                upstream.append(asks[i])
            i += 1
        if lim.due(t):
            upstream.append(t)
        t += 1 / 74
    gaps = [b - a for a, b in itertools.pairwise(upstream)]
    assert min(gaps) >= 1.0 - 1e-9
    assert 9 <= len(upstream) <= 11  # ~one a second while asked: none dropped, none extra
    assert upstream[-1] >= asks[-1]  # the last request was honoured, not dropped


def test_limiter_interval_is_configurable():
    lim = KeyframeRequestLimiter(interval=0.25)
    assert lim.request(0) and not lim.request(0.2) and lim.due(0.25)
