"""MediaRoom: one lesson's media on this node — who publishes what, and who receives it.

A publisher sends an offer; its tracks become producers, grouped into publications (the lecturer's
two camera layers are one publication). Every subscriber has one downstream peer connection from
the SFU; each publication it ``wants`` gets a consumer on it, added by renegotiation (the SFU
offers, the client answers). A transceiver whose publication went away is kept idle and reused for
the next one of the same kind, numbering continued, so screen shares coming and going do not grow
the connection. Forwarding is RTP-level (see consumer.py); nothing here decodes or encodes.

What a subscriber may receive is the caller's decision (server/live/signalling.py): the room only
asks the subscriber's ``wants`` predicate. Peers that stop answering are closed when ICE consent
expires (RFC 7675, aioice) and reported through ``on_event`` without disturbing anyone else.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from media import ingress
from media.consumer import Consumer
from media.producer import Producer
from media.publication import LAYER_OF, SOURCES, Publication
from media.sink import Sink
from media.track import ForwardedTrack

log = logging.getLogger("qihang.media")
EventSink = Callable[[str, str, dict], Any]  # (peer key, kind, payload)


def _same_codec(transceiver, pub: Publication) -> None:
    """A consumer forwards the producer's packets untouched, so it must negotiate the same codec."""
    caps = RTCRtpSender.getCapabilities(pub.kind).codecs
    chosen = [c for c in caps if c.mimeType.lower() == pub.mime]
    if chosen:
        transceiver.setCodecPreferences(chosen)


def _everything(pub: Publication) -> bool:
    return True


@dataclass(eq=False)
class Subscriber:
    key: str
    user_id: int
    pc: RTCPeerConnection
    send_offer: Callable[[str], Awaitable[None]]
    wants: Callable[[Publication], bool] = _everything
    send_tracks: Callable[[dict], Awaitable[None]] | None = None
    consumers: dict[int, Consumer] = field(default_factory=dict)  # id(publication) -> consumer
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    video: bool = True  # False: audio only
    preference: str = "auto"
    quality: str = "unknown"


@dataclass(eq=False)
class Publisher:
    key: str
    user_id: int
    pc: RTCPeerConnection
    publications: list[Publication] = field(default_factory=list)

    @property
    def producers(self) -> list[Producer]:
        return [p for pub in self.publications for p in pub.layers]


class MediaRoom:
    def __init__(self, config: RTCConfiguration | None = None, *, on_event: EventSink | None = None,
                 lean_ingress: bool = True):
        """``lean_ingress``: handle SRTP where it arrives (media/ingress.py); off only to measure."""
        self.config = config or RTCConfiguration(iceServers=[])
        self.lean_ingress = lean_ingress
        self.publishers: dict[str, Publisher] = {}
        self.subscribers: dict[str, Subscriber] = {}
        self.on_event = on_event
        self._closing = False
        self._taps: list[Tap] = []

    def _emit(self, key: str, kind: str, payload: dict) -> None:
        if self.on_event is not None:
            try:
                result = self.on_event(key, kind, payload)
                if asyncio.iscoroutine(result):
                    asyncio.ensure_future(result)
            except Exception:  # a listener's failure must not break the media path
                log.exception("media event listener failed")

    @property
    def publications(self) -> list[Publication]:
        return [p for pub in self.publishers.values() for p in pub.publications]

    def producers_for(self, sub: Subscriber) -> list[Publication]:
        """What a subscriber receives: the publications it wants, never its own."""
        return [p for p in self.publications if p.user_id != sub.user_id and sub.wants(p)]

    # -- publishing

    async def publish(self, key: str, offer_sdp: str, *, user_id: int, role: str = "lecturer",
                      sources: dict[str, str] | None = None, display_name: str = "",
                      max_bitrate: dict[str, int] | None = None, tags: dict | None = None) -> str:
        """Take a publisher's offer and answer it. ``sources`` maps the offer's mids to what each
        track is (camera, camera_low, mic, screen, screen_audio); without it, the first video is
        the camera, a second video its low layer, audio the microphone."""
        await self.unpublish(key)
        pc = RTCPeerConnection(self.config)
        pub = Publisher(key, user_id, pc)
        self.publishers[key] = pub
        self._watch(pc, key, "up")
        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        groups: dict[str, Publication] = {}
        videos = 0
        for t in pc.getTransceivers():
            if t.receiver is None or not t._codecs:
                continue
            source = (sources or {}).get(t.mid)
            if source is None:
                source = "mic" if t.kind == "audio" else ("camera" if videos == 0 else "camera_low")
            videos += t.kind == "video"
            codec = t._codecs[0]
            producer = Producer(t.receiver, kind=t.kind, mime=codec.mimeType, clock_rate=codec.clockRate,
                                name=f"{key}:{t.mid}", source=source, max_bitrate=(max_bitrate or {}).get(source))
            name = SOURCES.get(source, source)
            group = groups.get(name)
            if group is None:
                group = groups[name] = Publication(user_id=user_id, role=role, source=name, kind=t.kind,
                                                   display_name=display_name, pid=f"{key}/{name}",
                                                   tags=dict(tags or {}))
            group.layers.append(producer)
        for group in groups.values():  # best layer first
            group.layers.sort(key=lambda p: LAYER_OF.get(p.source, 0))
        pub.publications = list(groups.values())
        for tap in self._taps:
            for publication in pub.publications:
                tap.offer(publication)
        self._renegotiate_all()
        return pc.localDescription.sdp

    async def unpublish(self, key: str) -> None:
        pub = self.publishers.pop(key, None)
        if pub is None:
            return
        for producer in pub.producers:
            producer.close()
            for consumer in list(producer.consumers):
                consumer.close()
        await pub.pc.close()
        self._renegotiate_all()

    def publishing(self, key: str) -> bool:
        return key in self.publishers

    # -- subscribing

    async def subscribe(self, key: str, send_offer: Callable[[str], Awaitable[None]], *, user_id: int,
                        wants: Callable[[Publication], bool] | None = None,
                        send_tracks: Callable[[dict], Awaitable[None]] | None = None) -> None:
        """Open the subscriber's downstream connection with every publication it wants."""
        await self.unsubscribe(key)
        sub = Subscriber(key, user_id, RTCPeerConnection(self.config), send_offer, wants or _everything, send_tracks)
        self.subscribers[key] = sub
        self._watch(sub.pc, key, "down")
        await self._renegotiate(sub)

    def tracks(self, key: str) -> dict[str, dict]:
        """mid → publication, for the client to place each incoming track (and hide idle ones)."""
        sub = self.subscribers.get(key)
        if sub is None:
            return {}
        return {t.mid: t._qihang_pub.describe() for t in sub.pc.getTransceivers()
                if t.mid is not None and getattr(t, "_qihang_pub", None) is not None}

    def refresh(self, key: str | None = None) -> None:
        """Re-ask ``wants`` (a subscriber's permissions or watch list changed) and renegotiate, in
        the background: the answer arrives through the same socket that asked."""
        for sub in [self.subscribers[key]] if key in self.subscribers else list(self.subscribers.values()):
            asyncio.ensure_future(self._renegotiate(sub))

    async def answer(self, key: str, answer_sdp: str) -> None:
        sub = self.subscribers.get(key)
        if sub is None:
            raise KeyError(key)
        await sub.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))
        self._attach_consumers(sub)
        sub.answered.set()

    def _attach_consumers(self, sub: Subscriber) -> None:
        for t in sub.pc.getTransceivers():
            pub = getattr(t, "_qihang_pub", None)
            if pub is None or id(pub) in sub.consumers or not t._codecs or t.mid is None:
                continue
            old = getattr(t, "_qihang_rewriter", None)
            consumer = Consumer(pub, t.sender, payload_type=t._codecs[0].payloadType, rewriter=old,
                                layer=1 if sub.preference == "low" else 0,
                                on_layer=lambda c, layer, reason, sub=sub: self._on_layer(sub, c, layer, reason))
            consumer.on_quality = lambda c, sub=sub: self._on_quality(sub, c)
            t._qihang_consumer = consumer
            sub.consumers[id(pub)] = consumer
            if consumer.selector is not None and sub.preference != "auto":
                consumer.selector.prefer(sub.preference)
            if pub.kind == "video" and not sub.video:
                consumer.paused = True
            asyncio.ensure_future(self._start_when_connected(sub, consumer))

    def _on_layer(self, sub: Subscriber, consumer: Consumer, layer: int, reason: str) -> None:
        self._emit(sub.key, "layer_switch", {"pid": consumer.publication.pid if consumer.publication else None,
                                             "layer": "high" if layer == 0 else "low", "reason": reason})

    def _on_quality(self, sub: Subscriber, consumer: Consumer) -> None:
        quality = consumer.selector.quality if consumer.selector else "unknown"
        if quality != sub.quality:
            sub.quality = quality
            self._emit(sub.key, "network_quality", {"quality": quality, "loss": round(consumer.loss or 0, 3),
                                                    "layer": "high" if consumer.layer == 0 else "low"})

    async def _start_when_connected(self, sub: Subscriber, consumer: Consumer) -> None:
        """Ask for a keyframe once the subscriber can receive it (a request before that is wasted)."""
        for _ in range(400):
            if consumer.closed or sub.pc.connectionState in ("failed", "closed"):
                return
            if sub.pc.connectionState == "connected":
                await consumer.start()
                return
            await asyncio.sleep(0.05)

    def _renegotiate_all(self) -> None:
        for sub in list(self.subscribers.values()):
            asyncio.ensure_future(self._renegotiate(sub))

    async def _renegotiate(self, sub: Subscriber) -> None:
        async with sub.lock:
            if self.subscribers.get(sub.key) is not sub or sub.pc.connectionState == "closed":
                return
            wanted = self.producers_for(sub)
            changed = False
            idle = []
            for t in sub.pc.getTransceivers():
                pub = getattr(t, "_qihang_pub", None)
                if pub is not None and pub not in wanted:  # gone, or no longer allowed: free the sender
                    consumer = sub.consumers.pop(id(pub), None)
                    if consumer is not None:
                        consumer.close()
                        t._qihang_rewriter = consumer.rewriter
                    t._qihang_pub = None
                    changed = True
                if getattr(t, "_qihang_pub", None) is None:
                    idle.append(t)
            attached = {id(getattr(t, "_qihang_pub", None)) for t in sub.pc.getTransceivers()}
            added = False
            for pub in wanted:
                if id(pub) in attached:
                    continue
                reuse = next((t for t in idle if t.kind == pub.kind and t._codecs
                              and t._codecs[0].mimeType.lower() == pub.mime), None)
                if reuse is not None:
                    idle.remove(reuse)
                    reuse._qihang_pub = pub
                    changed = True
                    continue
                t = sub.pc.addTransceiver(ForwardedTrack(pub.kind), direction="sendonly")
                ingress.drop_estimator(t.receiver)
                _same_codec(t, pub)
                t._qihang_pub = pub
                added = True
            if not added:
                if changed:  # reused or freed senders: new consumers now, and tell the client
                    self._attach_consumers(sub)
                    if sub.send_tracks is not None:
                        await sub.send_tracks(self.tracks(sub.key))
                return  # nothing new to negotiate (yet): no offer
            sub.answered.clear()
            await sub.pc.setLocalDescription(await sub.pc.createOffer())
            await sub.send_offer(sub.pc.localDescription.sdp)
            try:
                await asyncio.wait_for(sub.answered.wait(), 15)
            except asyncio.TimeoutError:
                log.warning("subscriber %s did not answer an offer", sub.key)

    # -- internal consumers (recorder, attendance sampler)

    def add_tap(self, wants: Callable[[Publication], bool], factory: Callable[[Publication], Sink | None]) -> "Tap":
        """Give every publication ``wants`` picks, present and future, an internal consumer made by
        ``factory`` (see sink.py). A sink is closed when its publication goes; ``tap.remove()``
        closes them all. The forwarding path does not change."""
        tap = Tap(self, wants, factory)
        self._taps.append(tap)
        for publication in self.publications:
            tap.offer(publication)
        return tap

    # -- per-subscriber controls

    async def set_video(self, key: str, enabled: bool) -> None:
        """Audio only (a weak network, or the student's choice): pause this subscriber's video
        consumers; resuming waits for a keyframe, which is requested (rate-limited) for it."""
        sub = self.subscribers.get(key)
        if sub is None:
            return
        sub.video = enabled
        for consumer in sub.consumers.values():
            if consumer.kind == "video":
                await consumer.set_paused(not enabled)

    async def prefer_layer(self, key: str, preference: str) -> None:
        """The subscriber's own choice of camera quality: auto, high or low (LIVE-3)."""
        sub = self.subscribers.get(key)
        if sub is None:
            return
        sub.preference = preference
        for consumer in sub.consumers.values():
            await consumer.prefer(preference)

    async def add_candidate(self, key: str, candidate: dict | None) -> None:
        """A trickled ICE candidate from the client for its peer connection ``key`` (a subscriber or
        a publisher key); None or an empty candidate means end of candidates."""
        peer = self.subscribers.get(key) or self.publishers.get(key)
        if peer is None:
            raise KeyError(key)
        text = (candidate or {}).get("candidate") or ""
        if not text:
            await peer.pc.addIceCandidate(None)
            return
        try:
            c = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
        except Exception as exc:  # aiortc's parser fails in several ways on garbage
            raise ValueError(f"unreadable candidate {text[:80]!r}") from exc
        c.sdpMid, c.sdpMLineIndex = candidate.get("sdpMid"), candidate.get("sdpMLineIndex")
        if c.sdpMid is None and c.sdpMLineIndex is None:
            c.sdpMLineIndex = 0
        await peer.pc.addIceCandidate(c)

    # -- lifecycle

    def _watch(self, pc: RTCPeerConnection, key: str, direction: str) -> None:
        """A peer that stops answering (phone gone, network changed) fails ICE consent checks after
        ~30 s: close just that peer and tell the caller, who may offer the client a new connection."""
        @pc.on("connectionstatechange")
        async def changed() -> None:
            if pc.connectionState == "connected" and self.lean_ingress:
                ingress.install(pc)
                return
            # aiortc closes the whole connection when ICE consent expires ("closed" rather than
            # "failed"); a close we asked for has already removed the peer, so it is ignored here.
            if pc.connectionState not in ("failed", "closed") or self._closing:
                return
            if direction == "down" and (sub := self.subscribers.get(key)) is not None and sub.pc is pc:
                await self.unsubscribe(key)
            elif direction == "up" and (pub := self.publishers.get(key)) is not None and pub.pc is pc:
                await self.unpublish(key)
            else:
                return
            self._emit(key, "media_lost", {"direction": direction, "reason": "ice_failed"})

    async def unsubscribe(self, key: str) -> None:
        sub = self.subscribers.pop(key, None)
        if sub is None:
            return
        for consumer in sub.consumers.values():
            consumer.close()
        await sub.pc.close()

    async def close(self) -> None:
        self._closing = True
        for key in list(self.subscribers):
            await self.unsubscribe(key)
        for key in list(self.publishers):
            await self.unpublish(key)


class Tap:
    """One internal consumer registration of a room (see ``MediaRoom.add_tap``)."""

    def __init__(self, room: MediaRoom, wants: Callable[[Publication], bool],
                 factory: Callable[[Publication], Sink | None]):
        self.room, self.wants, self.factory = room, wants, factory
        self.sinks: list[Sink] = []

    def offer(self, publication: Publication) -> None:
        if self.wants(publication):
            sink = self.factory(publication)
            if sink is not None:
                self.sinks = [s for s in self.sinks if not s.closed] + [sink]

    def remove(self) -> None:
        if self in self.room._taps:
            self.room._taps.remove(self)
        for sink in self.sinks:
            sink.close()
        self.sinks = []
