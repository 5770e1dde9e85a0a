"""RtpRewriter: one consumer's continuous RTP numbering over switching sources (LIVE-3 layers).

The lecturer publishes two camera layers, each its own SSRC with its own sequence and timestamp
spaces. A subscriber must see one stream: its own SSRC, sequence numbers without a jump at a
switch (real losses still show as gaps, so its NACKs work), timestamps that keep advancing with
wall-clock time. A switch takes effect only at a keyframe of the new source; until then the old
source keeps flowing, and after it the old source's stragglers are dropped (mediasoup's approach).
"""
from __future__ import annotations

import random

ANY = object()  # before the first keyframe: take whichever source sends one


def seq_newer(a: int, b: int) -> bool:
    """Is 16-bit sequence number ``a`` after ``b`` (RFC 1982 serial arithmetic)?"""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


class RtpRewriter:
    def __init__(self, clock_rate: int = 90000, history: int = 1024):
        self.clock_rate = clock_rate
        self.current: int | None = None  # source SSRC being forwarded
        self.target: object | int | None = ANY  # pending switch (ANY at start)
        self.seq_offset = 0
        self.ts_offset = 0
        self.first_seq = 0  # first source sequence number forwarded since the last switch
        self.last_seq: int | None = None  # highest output sequence number sent
        self.last_ts = random.getrandbits(32)
        self.last_time: float | None = None
        self._mask = history - 1
        self._history: list[tuple[int, int, int, int] | None] = [None] * history

    def switch_to(self, ssrc: int) -> None:
        """Arm a switch to another source; it happens at that source's next keyframe."""
        self.target = None if ssrc == self.current else ssrc

    def switch_to_keyframe(self) -> None:
        """Resume the current source only from its next keyframe (after a pause): the decoder
        lost its reference pictures while nothing was forwarded."""
        if self.current is not None:
            self.target, self.current = self.current, None

    @property
    def switching(self) -> bool:
        return self.target is not None

    def rewrite(self, ssrc: int, seq: int, ts: int, marker: int, is_keyframe: bool, now: float) -> tuple[int, int] | None:
        """Output (sequence, timestamp) for a source packet, or None if it must not be forwarded."""
        if ssrc != self.current:
            if not is_keyframe or (self.target is not ANY and self.target != ssrc):
                return None
            self._switch(ssrc, seq, ts, now)
        elif not (seq == self.first_seq or seq_newer(seq, self.first_seq)):
            return None  # older than the switch point: its numbering belongs to nothing we sent
        out_seq = (seq + self.seq_offset) & 0xFFFF
        out_ts = (ts + self.ts_offset) & 0xFFFFFFFF
        if self.last_seq is None or seq_newer(out_seq, self.last_seq):
            self.last_seq, self.last_ts, self.last_time = out_seq, out_ts, now
        self._history[out_seq & self._mask] = (out_seq, ssrc, seq, out_ts)
        return out_seq, out_ts

    def _switch(self, ssrc: int, seq: int, ts: int, now: float) -> None:
        if self.last_seq is None:  # first packet ever: random start, as RFC 3550 asks
            next_seq = random.getrandbits(16)
            next_ts = self.last_ts
        else:
            next_seq = (self.last_seq + 1) & 0xFFFF
            elapsed = round((now - self.last_time) * self.clock_rate) if self.last_time is not None else 0
            next_ts = (self.last_ts + max(1, elapsed)) & 0xFFFFFFFF
        self.seq_offset = (next_seq - seq) & 0xFFFF
        self.ts_offset = (next_ts - ts) & 0xFFFFFFFF
        self.current, self.target, self.first_seq = ssrc, None, seq

    def source_of(self, out_seq: int) -> tuple[int, int, int] | None:
        """For a subscriber's NACK: (source SSRC, source sequence, output timestamp) of a sent packet."""
        slot = self._history[out_seq & self._mask]
        if slot is None or slot[0] != out_seq:
            return None
        return slot[1], slot[2], slot[3]
