"""Sink: an internal consumer of a publication — the recorder and the attendance sampler.

It sits in a producer's consumer set exactly like a subscriber's Consumer, so adding one never
touches the forwarding path: it receives the same parsed RTP packets (with the keyframe flag the
producer computed once) and may ask for a keyframe through the same per-producer limiter. What it
does with the packets (write them to a segment file, decode one frame in a while) is its owner's
business; ``on_packet`` runs on the media event loop, so it must be quick or hand off.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiortc.rtp import RtpPacket

from media.ingress import run_now

if TYPE_CHECKING:
    from media.producer import Producer
    from media.publication import Publication

PacketHandler = Callable[[RtpPacket, bool, "Producer"], Awaitable[None] | None]


class Sink:
    def __init__(self, publication: "Publication", on_packet: PacketHandler, *, layer: int = 0,
                 on_close: Callable[["Sink"], Any] | None = None):
        self.publication = publication
        self.producer = publication.layers[max(0, min(layer, len(publication.layers) - 1))]
        self.on_packet = on_packet
        self.on_close = on_close
        self.packets = 0
        self.closed = False
        self.producer.consumers.add(self)

    def push(self, packet: RtpPacket, keyframe: bool, producer: "Producer | None" = None,
             template: bytes | None = None) -> None:
        """Called by the producer for every packet, as for a Consumer. An awaitable ``on_packet``
        result is run at once (media/ingress.run_now): it must not hold the packet up."""
        self.packets += 1
        result = self.on_packet(packet, keyframe, self.producer)
        if result is not None:
            run_now(result)

    async def send(self, packet: RtpPacket, keyframe: bool, producer: "Producer | None" = None,
                   template: bytes | None = None) -> None:
        self.packets += 1
        result = self.on_packet(packet, keyframe, self.producer)
        if result is not None:
            await result

    async def request_keyframe(self) -> None:
        """E.g. the sampler wants a fresh picture; at most one request a second reaches the publisher."""
        await self.producer.request_keyframe()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.producer.consumers.discard(self)
        if self.on_close is not None:
            self.on_close(self)
