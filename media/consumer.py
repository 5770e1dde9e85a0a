"""Consumer: one subscriber's copy of a publication, forwarded as RTP (LiveKit's "down track").

Each packet is rewritten into the consumer's own SSRC, sequence and timestamp space (continuous
across layer switches) by patching a copy of the 12-byte header the producer prepared once, then
written into the subscriber's DTLS transport, which SRTP-protects and sends it. Nothing is decoded
or encoded. The consumer also answers its subscriber's RTCP: NACKs from the producer's packet
cache, PLI/FIR through the producer's keyframe limiter; receiver reports and REMB feed this
subscriber's layer choice (LIVE-3) and end here.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Callable

from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import (RTCP_PSFB_APP, RTCP_PSFB_FIR, RTCP_PSFB_PLI, RTCP_RTPFB_NACK, RtcpPsfbPacket, RtcpRrPacket,
                        RtcpRtpfbPacket, RtcpSrPacket, RtpPacket, unpack_remb_fci)

from media.egress import Egress
from media.ingress import run_now
from media.layerselector import LayerSelector
from media.rtprewriter import ANY, RtpRewriter, make_template

if TYPE_CHECKING:
    from media.producer import Producer

log = logging.getLogger("qihang.media")
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900 (NTP) to 1970 (Unix); aiortc's clock goes via datetime


class Consumer:
    def __init__(self, source, sender: RTCRtpSender, payload_type: int, *, layer: int = 0,
                 on_layer: Callable[["Consumer", int, str], None] | None = None, rewriter: RtpRewriter | None = None):
        """``source``: a Publication (one or more layers) or a single Producer. ``rewriter``: the
        numbering of a previous consumer on the same sender, continued (the sender is reused)."""
        self.publication = source if hasattr(source, "layers") else None
        self.layers: list[Producer] = list(source.layers) if self.publication is not None else [source]
        self.sender = sender
        self.payload_type = payload_type
        self.ssrc = sender._ssrc
        self.layer = min(layer, len(self.layers) - 1)
        self.producer = self.layers[self.layer]  # the layer being forwarded
        self.target: Producer | None = None  # the layer being switched to, until its keyframe
        if rewriter is not None and rewriter.clock_rate == self.producer.clock_rate:
            rewriter.current, rewriter.target = None, ANY  # next keyframe of the new source, numbered on
            rewriter.payload_type = payload_type
            self.rewriter = rewriter
        else:
            self.rewriter = RtpRewriter(self.producer.clock_rate, ssrc=self.ssrc, payload_type=payload_type)
        self.selector = LayerSelector(now=time.monotonic()) if len(self.layers) > 1 else None
        self.on_layer = on_layer
        self.sent = 0
        self.octets = 0
        self.paused = False
        self.closed = False
        self._egress = Egress(sender) if isinstance(sender.transport, RTCDtlsTransport) else None
        self._route_rtcp()
        self.producer.consumers.add(self)

    @property
    def kind(self) -> str:
        return self.producer.kind

    def _route_rtcp(self) -> None:
        """Subscriber feedback goes to the SFU, not to the idle sender's (absent) encoder."""
        sender_rtcp = getattr(self.sender, "_handle_rtcp_packet", None)  # keeps its RTT and remote stats

        async def handle(packet) -> None:
            if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                for seq in packet.lost:
                    await self._retransmit(seq)
            elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                await self.producer.request_keyframe()
            elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                try:
                    bitrate, _ = unpack_remb_fci(packet.fci)
                except ValueError:
                    return
                if self.selector is not None:
                    self.selector.on_remb(bitrate, time.monotonic())
            elif isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
                if sender_rtcp is not None:
                    await sender_rtcp(packet)
                for report in packet.reports:
                    if report.ssrc == self.ssrc:
                        await self.on_receiver_report(report.fraction_lost / 256)
        self.sender._handle_rtcp_packet = handle

    async def on_receiver_report(self, loss: float) -> None:
        self.loss = loss
        if self.selector is None or self.paused:
            return
        layer = self.selector.on_report(time.monotonic(), loss=loss, high_bps=self.layers[0].bitrate())
        if self.on_quality is not None:
            self.on_quality(self)
        if layer is not None:
            await self.select_layer(layer)

    loss: float | None = None
    on_quality: Callable[["Consumer"], None] | None = None

    async def start(self) -> None:
        """A new consumer can only begin at a keyframe: ask for one (rate-limited per producer)."""
        await self.producer.request_keyframe()

    async def prefer(self, preference: str) -> None:
        """The subscriber's own choice: "auto" (follow the network), "high" or "low"."""
        if self.selector is not None:
            await self.select_layer(self.selector.prefer(preference))

    async def select_layer(self, layer: int) -> None:
        """Arm a switch; it happens at the new layer's next keyframe, which is requested for it."""
        layer = max(0, min(layer, len(self.layers) - 1))
        target = self.layers[layer]
        if self.target is not None and self.target is not target:
            self.target.consumers.discard(self)
        if target is self.producer:
            self.target = None
            if self.rewriter.current is not None:
                self.rewriter.switch_to(self.rewriter.current)  # cancels the pending switch
            return
        self.target = target
        target.consumers.add(self)
        if target.ssrc is not None:
            self.rewriter.switch_to(target.ssrc)
        await target.request_keyframe()

    async def set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        if not paused:  # resume at a keyframe of the current source, as after a layer switch
            if self.rewriter.current is not None:
                self.rewriter.switch_to_keyframe()
            await self.producer.request_keyframe()

    def push(self, packet: RtpPacket, keyframe: bool, producer: "Producer | None" = None,
             template: bytes | None = None) -> None:
        """Forward one source packet now: the producer's hot path, called once per consumer per
        packet, so it is synchronous (no coroutine per consumer) and sends through ``Egress``."""
        if self.paused or self.closed:
            return
        if not self.sent and self.sender.transport.state != "connected":
            # Not before the subscriber's DTLS is up: a keyframe written now would be lost, and the
            # inter frames after it could not be decoded until the next keyframe (≥ 1 s away).
            return
        if producer is not None and producer is self.target:
            if not keyframe:
                return  # the old layer keeps flowing until the new one has a keyframe
            self.rewriter.switch_to(packet.ssrc)
        data = self.rewriter.forward(template or make_template(packet.payload), packet.ssrc, packet.sequence_number,
                                     packet.timestamp, packet.marker, keyframe, time.monotonic())
        if data is None:
            return
        if producer is not None and producer is self.target:  # the switch happened at this keyframe
            self._switched(producer)
        self._emit(data, len(packet.payload), self.rewriter.last_ts)

    async def send(self, packet: RtpPacket, keyframe: bool, producer: "Producer | None" = None,
                   template: bytes | None = None) -> None:
        """``push`` for callers that await."""
        self.push(packet, keyframe, producer, template)

    def _switched(self, producer: "Producer") -> None:
        self.producer.consumers.discard(self)
        self.producer, self.target = producer, None
        self.layer = self.layers.index(producer)
        if self.on_layer is not None:
            self.on_layer(self, self.layer, self.selector.reason if self.selector else "")

    def _emit(self, data: bytearray, payload_len: int, ts: int) -> None:
        if self._egress is not None and self._egress.send_rtp(data):
            self._count(payload_len, ts)
        else:  # not connected yet, a TURN-relayed pair, or a test's transport: aiortc's own path
            run_now(self._write(data, payload_len, ts))

    async def _write(self, data: bytearray, payload_len: int, ts: int) -> None:
        try:
            await self.sender.transport._send_rtp(bytes(data))
        except ConnectionError:
            return
        self._count(payload_len, ts)

    def _count(self, payload_len: int, ts: int) -> None:
        self.sent += 1
        self.octets += payload_len
        # Keep the idle sender's RTCP sender reports true (A/V sync, stats in the browser).
        s = self.sender
        s._RTCRtpSender__ntp_timestamp = int((time.time() + NTP_EPOCH_OFFSET) * 4294967296.0)
        s._RTCRtpSender__rtp_timestamp = ts
        s._RTCRtpSender__packet_count = self.sent
        s._RTCRtpSender__octet_count = self.octets

    async def _retransmit(self, out_seq: int) -> None:
        source = self.rewriter.source_of(out_seq)
        if source is None:
            return
        ssrc, src_seq, ts = source
        for producer in self.layers:
            cached = producer.cache.get(src_seq)  # (ssrc, marker, template): see Producer.on_packet
            if cached is not None and cached[0] == ssrc:
                _, marker, template = cached
                data = bytearray(template)
                data[1] = (marker << 7) | self.payload_type
                data[2:4] = out_seq.to_bytes(2, "big")
                data[4:8] = ts.to_bytes(4, "big")
                data[8:12] = self.ssrc.to_bytes(4, "big")
                self._emit(data, len(template) - 12, ts)
                return

    def close(self) -> None:
        self.closed = True
        for producer in self.layers:
            producer.consumers.discard(self)
