"""Keyframe detection from RTP payloads, and the per-producer keyframe request limiter.

A consumer may start (or switch layers) only at a keyframe, so the SFU must recognise one without
decoding, and must not flood the publisher with requests when 200 subscribers ask at once.
"""
from __future__ import annotations


def is_vp8_keyframe(payload: bytes) -> bool:
    """First packet of a VP8 key frame (RFC 7741: S=1, PID=0, then the frame header's P bit clear)."""
    if len(payload) < 1:
        return False
    b0 = payload[0]
    if not b0 & 0x10 or b0 & 0x07:  # S bit set and partition index 0
        return False
    i = 1
    if b0 & 0x80:  # X: extension byte follows
        if len(payload) < 2:
            return False
        x = payload[1]
        i = 2
        if x & 0x80:  # I: PictureID, 7 or 15 bits
            if len(payload) <= i:
                return False
            i += 2 if payload[i] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            i += 1
        if x & 0x30:  # T or K: TID/Y/KEYIDX byte
            i += 1
    return len(payload) > i and not payload[i] & 0x01  # P bit 0 = key frame


def is_h264_keyframe(payload: bytes) -> bool:
    """An IDR slice or SPS in a single NAL unit, a STAP-A aggregate, or the start of an FU-A."""
    if len(payload) < 1:
        return False
    nal = payload[0] & 0x1F
    if nal in (5, 7):
        return True
    if nal == 24:  # STAP-A: [size16][nal]...
        i = 1
        while i + 2 < len(payload):
            size = int.from_bytes(payload[i:i + 2], "big")
            if size and payload[i + 2] & 0x1F in (5, 7):
                return True
            i += 2 + size
        return False
    if nal == 28 and len(payload) >= 2:  # FU-A: start bit and the fragmented NAL type
        return bool(payload[1] & 0x80) and payload[1] & 0x1F in (5, 7)
    return False


def is_keyframe(mime: str, payload: bytes) -> bool:
    mime = mime.lower()
    if mime == "video/vp8":
        return is_vp8_keyframe(payload)
    if mime == "video/h264":
        return is_h264_keyframe(payload)
    return False


class KeyframeRequestLimiter:
    """At most one keyframe request per ``interval`` reaches a publisher (mediasoup's rule).

    A request inside the interval is not dropped but deferred: it is sent once when the interval
    has passed, unless a keyframe arrives first. Time is passed in, so the rule is testable.
    """

    def __init__(self, interval: float = 1.0):
        self.interval = interval
        self.last_sent: float | None = None
        self.pending = False

    def request(self, now: float) -> bool:
        """A consumer wants a keyframe: True means send the request upstream now."""
        if self.last_sent is None or now - self.last_sent >= self.interval:
            self.last_sent, self.pending = now, False
            return True
        self.pending = True
        return False

    def due(self, now: float) -> bool:
        """A deferred request whose time has come (checked as packets flow): True means send it now."""
        if self.pending and now - self.last_sent >= self.interval:
            self.last_sent, self.pending = now, False
            return True
        return False

    def on_keyframe(self, now: float) -> None:
        self.pending = False
