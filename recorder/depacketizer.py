"""Depacketizer: RTP packets of one track back into the codec's frames, timestamped, undecoded.

The recorder keeps what the lecturer sent (REC-1) without transcoding, so it needs whole encoded
frames: a VP8 or H.264 picture spans several packets (same RTP timestamp, the last one marked);
an Opus packet is one frame. A lost packet spoils its picture and every picture after it until
the next keyframe, so a video track drops frames from a gap to the next keyframe (and says so:
``needs_keyframe`` makes the recorder ask the publisher for one). Times are milliseconds on the
wall clock of the first packet: RTP timestamps (wrapping at 2³²) are unwrapped and scaled by the
clock rate, so tracks with different clocks line up in one file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from aiortc.codecs.h264 import h264_depayload
from aiortc.codecs.vpx import vp8_depayload
from aiortc.rtp import RtpPacket

from media.keyframe import is_keyframe

DEPAYLOAD: dict[str, Callable[[bytes], bytes]] = {"video/vp8": vp8_depayload, "video/h264": h264_depayload}


@dataclass
class Frame:
    data: bytes
    ms: float  # presentation time, wall-clock milliseconds (arrival of the track's first packet + RTP time)
    keyframe: bool


@dataclass
class Depacketizer:
    mime: str
    clock_rate: int
    frames: int = 0
    dropped: int = 0  # packets thrown away: a gap before them, or undecodable payloads
    needs_keyframe: bool = True  # video: nothing is written until a keyframe arrives
    _parts: list[bytes] = field(default_factory=list)
    _ts: int | None = None  # RTP timestamp of the picture being gathered
    _key: bool = False
    _next_seq: int | None = None
    _anchor: tuple[float, int] | None = None  # (arrival in ms, unwrapped RTP timestamp) of the first packet
    _last_ts: int | None = None
    _wraps: int = 0

    @property
    def video(self) -> bool:
        return self.mime.startswith("video/")

    def push(self, packet: RtpPacket, arrival_ms: float) -> list[Frame]:
        """Frames completed by this packet (usually none or one)."""
        ts = self._unwrap(packet.timestamp)
        if self._anchor is None:
            self._anchor = (arrival_ms, ts)
        ms = self._anchor[0] + (ts - self._anchor[1]) * 1000.0 / self.clock_rate
        gap = self._next_seq is not None and packet.sequence_number != self._next_seq
        self._next_seq = (packet.sequence_number + 1) & 0xFFFF
        if not self.video:  # Opus: every packet is a frame; a gap is only silence
            self.frames += 1
            return [Frame(packet.payload, ms, True)]
        out: list[Frame] = []
        if gap:
            self._parts, self._ts = [], None
            self.needs_keyframe = True
        if self._ts is not None and ts != self._ts:  # a new picture began without the last one's marker
            self._parts, self._ts = [], None
        key = is_keyframe(self.mime, packet.payload)
        if self._ts is None:
            if self.needs_keyframe and not key:
                self.dropped += 1
                return out
            self._ts, self._key = ts, key
        try:
            self._parts.append(DEPAYLOAD[self.mime](packet.payload))
        except (ValueError, KeyError):
            self._parts, self._ts = [], None
            self.dropped += 1
            self.needs_keyframe = True
            return out
        if packet.marker:
            if self._key:
                self.needs_keyframe = False
            out.append(Frame(b"".join(self._parts), ms, self._key))
            self.frames += 1
            self._parts, self._ts = [], None
        return out

    def _unwrap(self, ts: int) -> int:
        if self._last_ts is not None:
            if ts < self._last_ts and self._last_ts - ts > 0x80000000:
                self._wraps += 1
            elif ts > self._last_ts and ts - self._last_ts > 0x80000000 and self._wraps:
                return ts + ((self._wraps - 1) << 32)  # a late packet from before the wrap
        self._last_ts = ts
        return ts + (self._wraps << 32)
