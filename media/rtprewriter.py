"""RtpRewriter: one consumer's continuous RTP numbering over switching sources (LIVE-3 layers).

The lecturer publishes two camera layers, each its own SSRC with its own sequence and timestamp
spaces. A subscriber must see one stream: its own SSRC, sequence numbers without a jump at a
switch (real losses still show as gaps, so its NACKs work), timestamps that keep advancing with
wall-clock time. A switch takes effect only at a keyframe of the new source; until then the old
source keeps flowing, and after it the old source's stragglers are dropped (mediasoup's approach).

Hot path (LIVE-2, 200 consumers per lecturer packet): the producer parses a packet once
(``parse_rtp`` or ``make_template``); each consumer then only maps two ints (``rewrite``) and
patches a copy of a 12-byte header (``forward``) instead of building and serialising an RtpPacket.
"""
from __future__ import annotations

import random
import struct

ANY = object()  # before the first keyframe: take whichever source sends one

_RTP_HEADER = struct.Struct(">BBHII")
_unpack_header = _RTP_HEADER.unpack_from
# byte 1 (marker | payload type), sequence, timestamp, SSRC: the per-consumer fields of a header
_pack_fields = struct.Struct(">BHII").pack_into
_HEADER_STUB = b"\x80" + bytes(11)  # V=2, no padding, no extension, no CSRC; fields patched per consumer


def seq_newer(a: int, b: int) -> bool:
    """Is 16-bit sequence number ``a`` after ``b`` (RFC 1982 serial arithmetic)?"""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


def make_template(payload: bytes) -> bytes:
    """A packet to copy per consumer: a bare 12-byte header (fields patched by ``forward``) + payload.

    Header extensions and CSRCs are not forwarded: their IDs were negotiated with the publisher, not
    with the subscriber. Build it once per source packet, not once per consumer.
    """
    return _HEADER_STUB + payload


def parse_rtp(data: bytes) -> tuple[int, int, int, int, int, bytes] | None:
    """Parse an RTP packet once for all consumers: (ssrc, seq, ts, marker, payload type, template).

    The template is ``make_template(payload)``: CSRCs, header extensions and padding stripped.
    None for what is not a forwardable RTP packet (too short, not version 2, nothing but padding).
    """
    if len(data) < 12:
        return None
    b0, b1, seq, ts, ssrc = _unpack_header(data)
    if b0 & 0xC0 != 0x80:
        return None
    pos = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension: 4-byte profile/length, then length 32-bit words
        if len(data) < pos + 4:
            return None
        pos += 4 + 4 * ((data[pos + 2] << 8) | data[pos + 3])
    end = len(data)
    if b0 & 0x20:  # padding: its length is the last byte
        end -= data[-1]
    if end <= pos:
        return None
    return ssrc, seq, ts, b1 >> 7, b1 & 0x7F, _HEADER_STUB + data[pos:end]


class RtpRewriter:
    """One per (consumer, track): maps source (SSRC, seq, ts) into the consumer's output stream."""

    def __init__(self, clock_rate: int = 90000, history: int = 512, *, ssrc: int | None = None,
                 payload_type: int | None = None):
        if history & (history - 1):
            raise ValueError("history must be a power of two")
        self.clock_rate = clock_rate
        self.ssrc = ssrc  # output SSRC and payload type, fixed for this consumer
        self.payload_type = payload_type
        self.current: int | None = None  # source SSRC being forwarded
        self.target: object | int | None = ANY  # pending switch (ANY at start)
        self.seq_offset = 0
        self.ts_offset = 0
        self.first_seq = 0  # first source sequence number forwarded since the last switch
        self.max_seq = 0  # highest source sequence number seen from the current source
        self.since_switch = 0  # how far max_seq has advanced past first_seq (unbounded, not mod 2^16)
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

    def rewrite(self, ssrc: int, seq: int, ts: int, marker: int, is_keyframe: bool,
                now: float) -> tuple[int, int] | None:
        """Output (sequence, timestamp) for a source packet, or None if it must not be forwarded."""
        if ssrc != self.current:
            if not is_keyframe or (self.target is not ANY and self.target != ssrc):
                return None
            self._switch(ssrc, seq, ts, now)
            newest = True
        else:
            d = (seq - self.max_seq) & 0xFFFF
            if 0 < d < 0x8000:  # newer than anything seen: the normal case
                self.max_seq = seq
                self.since_switch += d
                newest = True
            elif d and 0x10000 - d > self.since_switch:
                # Older than the switch point. Measured back from the newest packet, not as serial
                # arithmetic against first_seq, which would flip after 32768 packets (7 min of video).
                return None
            else:  # a reordered or duplicated packet from after the switch point
                newest = False
        out_seq = (seq + self.seq_offset) & 0xFFFF
        out_ts = (ts + self.ts_offset) & 0xFFFFFFFF
        if newest:
            self.last_seq, self.last_ts, self.last_time = out_seq, out_ts, now
        self._history[out_seq & self._mask] = (out_seq, ssrc, seq, out_ts)
        return out_seq, out_ts

    def _switch(self, ssrc: int, seq: int, ts: int, now: float) -> None:
        if self.last_seq is None:  # first packet ever: random start, as RFC 3550 asks
            next_seq = random.getrandbits(16)
            next_ts = self.last_ts
        else:  # continue where the previous source stopped, advanced by the wall-clock gap
            next_seq = (self.last_seq + 1) & 0xFFFF
            elapsed = round((now - self.last_time) * self.clock_rate) if self.last_time is not None else 0
            next_ts = (self.last_ts + max(1, elapsed)) & 0xFFFFFFFF
        self.seq_offset = (next_seq - seq) & 0xFFFF
        self.ts_offset = (next_ts - ts) & 0xFFFFFFFF
        self.current, self.target = ssrc, None
        self.first_seq = self.max_seq = seq
        self.since_switch = 0

    def forward(self, template: bytes, ssrc: int, seq: int, ts: int, marker: int, is_keyframe: bool,
                now: float) -> bytearray | None:
        """This consumer's copy of a packet (``template`` from ``parse_rtp``/``make_template``), ready
        for SRTP, or None if it must not be forwarded. Needs ``ssrc`` and ``payload_type`` set."""
        out = self.rewrite(ssrc, seq, ts, marker, is_keyframe, now)
        if out is None:
            return None
        buf = bytearray(template)
        _pack_fields(buf, 1, (marker << 7) | self.payload_type, out[0], out[1], self.ssrc)
        return buf

    def rewrite_packet(self, packet, is_keyframe: bool, now: float) -> bool:
        """Rewrite an ``aiortc.rtp.RtpPacket`` in place; False (packet untouched) if it must be dropped.

        Convenient, not fast: the per-consumer path of a fan-out is ``forward``.
        """
        out = self.rewrite(packet.ssrc, packet.sequence_number, packet.timestamp, packet.marker,
                           is_keyframe, now)
        if out is None:
            return False
        packet.sequence_number, packet.timestamp = out
        if self.ssrc is not None:
            packet.ssrc = self.ssrc
        if self.payload_type is not None:
            packet.payload_type = self.payload_type
        return True

    def source_of(self, out_seq: int) -> tuple[int, int, int] | None:
        """For a subscriber's NACK (output numbering): (source SSRC, source sequence, output
        timestamp) of a packet sent among the most recent ``history``, else None."""
        if self.last_seq is None or ((self.last_seq - out_seq) & 0xFFFF) > self._mask:
            return None  # never sent, or too old: its slot may hold a packet from a previous wrap
        slot = self._history[out_seq & self._mask]
        if slot is None or slot[0] != out_seq:
            return None
        return slot[1], slot[2], slot[3]
