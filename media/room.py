"""MediaRoom: one lesson's media on this node — who publishes what, and who receives it.

A publisher (the lecturer) sends an offer; its tracks become producers. Every subscriber has one
downstream peer connection from the SFU; each visible producer gets a consumer on it, added by
renegotiation (the SFU offers, the client answers). Forwarding is RTP-level (see consumer.py);
nothing here decodes or encodes.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from media.consumer import Consumer
from media.producer import Producer
from media.track import ForwardedTrack

log = logging.getLogger("qihang.media")


def _same_codec(transceiver, producer: Producer) -> None:
    """A consumer forwards the producer's packets untouched, so it must negotiate the same codec."""
    caps = RTCRtpSender.getCapabilities(producer.kind).codecs
    chosen = [c for c in caps if c.mimeType.lower() == producer.mime]
    if chosen:
        transceiver.setCodecPreferences(chosen)


@dataclass
class Subscriber:
    key: str
    user_id: int
    pc: RTCPeerConnection
    send_offer: Callable[[str], Awaitable[None]]
    consumers: dict[int, Consumer] = field(default_factory=dict)  # producer id -> consumer
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class Publisher:
    key: str
    user_id: int
    pc: RTCPeerConnection
    producers: list[Producer] = field(default_factory=list)


class MediaRoom:
    def __init__(self, config: RTCConfiguration | None = None):
        self.config = config or RTCConfiguration(iceServers=[])
        self.publishers: dict[str, Publisher] = {}
        self.subscribers: dict[str, Subscriber] = {}

    def producers_for(self, sub: Subscriber) -> list[Producer]:
        """What a subscriber receives: everyone's published media except its own."""
        return [p for pub in self.publishers.values() if pub.user_id != sub.user_id for p in pub.producers]

    async def publish(self, key: str, offer_sdp: str, *, user_id: int) -> str:
        """Take a publisher's offer, answer it; each arriving track becomes a producer."""
        await self.unpublish(key)
        pc = RTCPeerConnection(self.config)
        pub = Publisher(key, user_id, pc)
        self.publishers[key] = pub
        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        for t in pc.getTransceivers():
            if t.receiver is None or not t._codecs:
                continue
            codec = t._codecs[0]
            producer = Producer(t.receiver, kind=t.kind, mime=codec.mimeType, clock_rate=codec.clockRate,
                                name=f"{key}:{t.mid}")
            pub.producers.append(producer)
        for sub in list(self.subscribers.values()):
            asyncio.ensure_future(self._renegotiate(sub))
        return pc.localDescription.sdp

    async def unpublish(self, key: str) -> None:
        pub = self.publishers.pop(key, None)
        if pub is None:
            return
        for producer in pub.producers:
            for consumer in list(producer.consumers):
                consumer.close()
        await pub.pc.close()

    def publishing(self, key: str) -> bool:
        return key in self.publishers

    async def subscribe(self, key: str, send_offer: Callable[[str], Awaitable[None]], *, user_id: int) -> None:
        """Open the subscriber's downstream connection with every current producer."""
        await self.unsubscribe(key)
        sub = Subscriber(key, user_id, RTCPeerConnection(self.config), send_offer)
        self.subscribers[key] = sub
        await self._renegotiate(sub)

    async def answer(self, key: str, answer_sdp: str) -> None:
        sub = self.subscribers.get(key)
        if sub is None:
            raise KeyError(key)
        await sub.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))
        for t in sub.pc.getTransceivers():
            producer = getattr(t, "_qihang_producer", None)
            if producer is not None and id(producer) not in sub.consumers and t._codecs:
                consumer = Consumer(producer, t.sender, payload_type=t._codecs[0].payloadType)
                sub.consumers[id(producer)] = consumer
                asyncio.ensure_future(self._start_when_connected(sub, consumer))
        sub.answered.set()

    async def _start_when_connected(self, sub: Subscriber, consumer: Consumer) -> None:
        """Ask for a keyframe once the subscriber can receive it (a request before that is wasted)."""
        for _ in range(200):
            if sub.pc.connectionState == "connected":
                await consumer.start()
                return
            if sub.pc.connectionState in ("failed", "closed"):
                return
            await asyncio.sleep(0.05)

    async def _renegotiate(self, sub: Subscriber) -> None:
        async with sub.lock:
            have = {id(getattr(t, "_qihang_producer", None)) for t in sub.pc.getTransceivers()}
            added = False
            for producer in self.producers_for(sub):
                if id(producer) in have:
                    continue
                t = sub.pc.addTransceiver(ForwardedTrack(producer.kind), direction="sendonly")
                _same_codec(t, producer)
                t._qihang_producer = producer
                added = True
            if not added:
                return  # nothing new to receive (yet): no offer
            sub.answered.clear()
            await sub.pc.setLocalDescription(await sub.pc.createOffer())
            await sub.send_offer(sub.pc.localDescription.sdp)
            try:
                await asyncio.wait_for(sub.answered.wait(), 15)
            except asyncio.TimeoutError:
                log.warning("subscriber %s did not answer an offer", sub.key)

    async def set_video(self, key: str, enabled: bool) -> None:
        """Audio only (a weak network, or the student's choice): pause this subscriber's video
        consumers; resuming waits for a keyframe, which is requested (rate-limited) for it."""
        sub = self.subscribers.get(key)
        if sub is None:
            return
        for consumer in sub.consumers.values():
            if consumer.producer.kind == "video":
                await consumer.set_paused(not enabled)

    async def unsubscribe(self, key: str) -> None:
        sub = self.subscribers.pop(key, None)
        if sub is None:
            return
        for consumer in sub.consumers.values():
            consumer.close()
        await sub.pc.close()

    async def close(self) -> None:
        for key in list(self.subscribers):
            await self.unsubscribe(key)
        for key in list(self.publishers):
            await self.unpublish(key)
