"""PacketCache: the most recent packets of a producer, by sequence number, to answer consumers' NACKs.

Retransmitting from the SFU spares the publisher (often a phone on a weak uplink) one request per
subscriber; a fixed ring keeps memory flat. Slots remember an unwrapped sequence number, and only
the newest ``size`` numbers are answered, so a packet from a previous 16-bit wrap (left in a slot
because the packets that should have replaced it were lost) is never returned as a current one.
"""
from __future__ import annotations

from typing import Any


class PacketCache:
    def __init__(self, size: int = 512):
        if size < 1 or size & (size - 1):
            raise ValueError("size must be a power of two")
        self.size = size
        self._mask = size - 1
        self._slots: list[tuple[int, Any] | None] = [None] * size
        self._top: int | None = None  # newest sequence number, 16-bit
        self._top_ext = 0  # the same, unwrapped: counts every wrap since the first packet

    def put(self, seq: int, packet: Any) -> None:
        """Store a packet under its 16-bit sequence number. Keep values immutable and untracked by the
        garbage collector (bytes, tuples of ints and bytes): caches are long-lived and large."""
        if self._top is None:
            self._top, self._top_ext = seq, seq
            ext = seq
        else:
            d = (seq - self._top) & 0xFFFF
            if d < 0x8000:  # newer (or the same)
                ext = self._top_ext + d
                self._top, self._top_ext = seq, ext
            else:  # older: a reordered or retransmitted packet
                back = 0x10000 - d
                if back >= self.size:
                    # Older than the window: a packet too late to matter, or the publisher restarted
                    # its numbering. Either way the ring starts afresh from this packet.
                    self.clear()
                    self.put(seq, packet)
                    return
                ext = self._top_ext - back
        self._slots[ext & self._mask] = (ext, packet)

    def get(self, seq: int) -> Any | None:
        """The packet with this sequence number, or None if never seen or no longer in the window."""
        if self._top is None:
            return None
        back = (self._top - seq) & 0xFFFF
        if back >= self.size:
            return None
        ext = self._top_ext - back
        slot = self._slots[ext & self._mask]
        return slot[1] if slot is not None and slot[0] == ext else None

    def clear(self) -> None:
        """Forget everything (e.g. the producer's SSRC changed)."""
        self._slots = [None] * self.size
        self._top, self._top_ext = None, 0
