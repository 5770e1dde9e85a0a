"""The most recent packets of a producer, by sequence number, to answer consumers' NACKs.

Retransmitting from the SFU spares the publisher (often a phone on a weak uplink) one request per
subscriber; a fixed ring keeps memory flat.
"""
from __future__ import annotations

from typing import Any


class PacketCache:
    def __init__(self, size: int = 512):
        if size & (size - 1):
            raise ValueError("size must be a power of two")
        self.size = size
        self._slots: list[tuple[int, Any] | None] = [None] * size

    def put(self, seq: int, packet: Any) -> None:
        self._slots[seq & (self.size - 1)] = (seq, packet)

    def get(self, seq: int) -> Any | None:
        """The packet with this sequence number, or None if never seen or already overwritten."""
        slot = self._slots[seq & (self.size - 1)]
        return slot[1] if slot is not None and slot[0] == seq else None
