"""The wire between the SFU (app process) and the recorder process: one message per datagram.

A ``SOCK_SEQPACKET`` Unix socket keeps message boundaries and lets the SFU send without ever
waiting: when the recorder falls behind and the socket buffer is full, the packet is dropped and
counted, never queued on the media event loop (forwarding must not stall for recording, REC-1).

    P  lesson u32, track u16, arrival ms f64, RTP packet bytes      SFU → recorder
    J  JSON control: open / track / untrack / pause / finish        SFU → recorder
    K  lesson u32, track u16: please ask the publisher for a keyframe  recorder → SFU
"""
from __future__ import annotations

import json
import struct

PACKET = struct.Struct(">cIHd")
KEYFRAME = struct.Struct(">cIH")
MAX_MESSAGE = 65536


def packet(lesson: int, track: int, arrival_ms: float, rtp: bytes) -> bytes:
    return PACKET.pack(b"P", lesson, track, arrival_ms) + rtp


def control(message: dict) -> bytes:
    return b"J" + json.dumps(message, separators=(",", ":")).encode()


def keyframe(lesson: int, track: int) -> bytes:
    return KEYFRAME.pack(b"K", lesson, track)


def parse(data: bytes):
    """("P", lesson, track, arrival_ms, rtp) | ("J", dict) | ("K", lesson, track)."""
    kind = data[:1]
    if kind == b"P":
        _, lesson, track, arrival = PACKET.unpack_from(data)
        return "P", lesson, track, arrival, data[PACKET.size:]
    if kind == b"J":
        return "J", json.loads(data[1:])
    if kind == b"K":
        _, lesson, track = KEYFRAME.unpack_from(data)
        return "K", lesson, track
    raise ValueError(f"unknown message kind {kind!r}")
