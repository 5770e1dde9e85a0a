"""Producer: one published track, tapped as RTP before aiortc would depacketise or decode it.

The tap keeps what the publisher relies on — receiver statistics for RTCP receiver reports and
NACKs for lost packets — and hands every packet to the producer's consumers, which forward it
without touching the payload (the SFU never decodes or re-encodes per subscriber).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

from aiortc.codecs import is_rtx
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtpPacket, pack_remb_fci, unwrap_rtx

from media import ingress
from media.keyframe import KeyframeRequestLimiter, is_keyframe
from media.packetcache import PacketCache
from media.rtprewriter import make_template

if TYPE_CHECKING:
    from media.consumer import Consumer

log = logging.getLogger("qihang.media")
# Browsers keep a REMB ceiling until told otherwise; repeating it now and then covers a lost one
# without an RTCP packet per student per second (200 students: 200 packets/s saved).
REMB_INTERVAL = 5.0
# Consumers served per loop iteration when fanning out one packet (~1.5 ms of sending): up to this
# many, a packet goes to all at once; beyond, slices let other producers' packets in between.
FANOUT_SLICE = 64


class Producer:
    def __init__(self, receiver: RTCRtpReceiver, *, kind: str, mime: str, clock_rate: int, name: str = "",
                 source: str = "", max_bitrate: int | None = None):
        self.receiver = receiver
        self.kind, self.mime, self.clock_rate, self.name = kind, mime.lower(), clock_rate, name
        self.source = source
        self.consumers: set[Consumer] = set()
        self.cache = PacketCache()
        self.limiter = KeyframeRequestLimiter()
        self.ssrc: int | None = None
        self.packets = 0
        self.octets = 0
        self.last_packet_at: float | None = None
        # A ceiling the SFU asks the publisher's encoder to respect (REMB, every REMB_INTERVAL): a
        # student's attendance camera needs no more than ~150 kbps, whatever the phone would send.
        self.max_bitrate = max_bitrate
        self._remb_at = -REMB_INTERVAL
        self._rate, self._rate_at, self._rate_octets = 0.0, time.monotonic(), 0
        self._backlog: deque[list] = deque()  # packets still being fanned out (see _drain)
        self._drainer: asyncio.Future | None = None
        self._tap()

    def _tap(self) -> None:
        r = self.receiver
        ingress.drop_estimator(r)  # the tap below replaces the path that would feed it
        streams = r._RTCRtpReceiver__remote_streams  # noqa: SLF001 - feeds aiortc's receiver reports
        codecs = r._RTCRtpReceiver__codecs
        nack = r._RTCRtpReceiver__nack_generator

        rtx_ssrc = r._RTCRtpReceiver__rtx_ssrc

        async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
            codec = codecs.get(packet.payload_type)
            if codec is None:
                return
            if is_rtx(codec):  # a retransmission the publisher sent on our NACK: unwrap, then forward
                apt, original = codec.parameters.get("apt"), rtx_ssrc.get(packet.ssrc)
                if original is None or apt not in codecs or len(packet.payload) < 2:
                    return
                packet = unwrap_rtx(packet, payload_type=apt, ssrc=original)
                codec = codecs[apt]
            if packet.ssrc not in streams:
                streams[packet.ssrc] = StreamStatistics(codec.clockRate)
            streams[packet.ssrc].add(packet)
            self.ssrc = packet.ssrc
            if nack is not None and nack.add(packet):
                await r._send_rtcp_nack(packet.ssrc, sorted(nack.missing))
            await self.on_packet(packet)

        r._handle_rtp_packet = handle

    async def on_packet(self, packet: RtpPacket) -> None:
        self.packets += 1
        self.octets += len(packet.payload)
        # Any audio packet is a valid place to start; video must start at a keyframe.
        keyframe = is_keyframe(self.mime, packet.payload) if self.kind == "video" else True
        now = self.last_packet_at = time.monotonic()
        if keyframe and self.kind == "video":
            self.limiter.on_keyframe(now)
            self._pli_pending = False
        elif self.limiter.due(now) or self._pli_pending:
            await self._send_pli()
        if self.max_bitrate and now - self._remb_at >= REMB_INTERVAL:
            self._remb_at = now
            await self._send_remb(self.max_bitrate)
        # Once per packet; each consumer patches a copy. The cache keeps only immutable values (no
        # RtpPacket objects): a few hundred caches of 512 packets would otherwise fill the garbage
        # collector's oldest generation, whose full passes stalled forwarding for 100s of ms.
        template = make_template(packet.payload)
        self.cache.put(packet.sequence_number, (packet.ssrc, packet.marker, template))
        if not self.consumers:
            return
        consumers = tuple(self.consumers)
        if not self._backlog and len(consumers) <= FANOUT_SLICE:
            for consumer in consumers:
                consumer.push(packet, keyframe, self, template)
            return
        self._backlog.append([packet, keyframe, template, consumers, 0])
        if self._drainer is None:
            self._drainer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        """Fan a packet out in slices of FANOUT_SLICE consumers, one slice per loop iteration, so
        one producer's burst (a keyframe of the screen share: ~40 packets × 200 subscribers, ~0.2 s
        of sending) does not hold up every other producer's packets behind it. Each producer keeps
        its own packet order (one FIFO); producers take turns."""
        backlog = self._backlog
        try:
            while backlog:
                job = backlog[0]
                packet, keyframe, template, consumers, start = job
                end = start + FANOUT_SLICE
                for consumer in consumers[start:end]:
                    consumer.push(packet, keyframe, self, template)
                if end >= len(consumers):
                    backlog.popleft()
                else:
                    job[4] = end
                await asyncio.sleep(0)
        finally:
            self._drainer = None

    def close(self) -> None:
        """The publication went away: forget packets still waiting to be fanned out."""
        self._backlog.clear()
        if self._drainer is not None:
            self._drainer.cancel()

    def bitrate(self, now: float | None = None) -> float:
        """Payload bits per second over the last second or so (what a layer costs a subscriber)."""
        now = time.monotonic() if now is None else now
        if now - self._rate_at >= 1.0:
            self._rate = (self.octets - self._rate_octets) * 8 / (now - self._rate_at)
            self._rate_at, self._rate_octets = now, self.octets
        return self._rate

    async def request_keyframe(self) -> None:
        """Any consumer may ask; the limiter lets at most one request a second reach the publisher."""
        if self.kind == "video" and self.limiter.request(time.monotonic()):
            await self._send_pli()

    async def _send_remb(self, bitrate: int) -> None:
        rtcp_ssrc = self.receiver._RTCRtpReceiver__rtcp_ssrc  # noqa: SLF001
        if self.ssrc is None or rtcp_ssrc is None:
            return
        await self.receiver._send_rtcp(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0,
                                                      fci=pack_remb_fci(bitrate, [self.ssrc])))

    _pli_pending = False  # asked for before the first packet told us the publisher's SSRC

    async def _send_pli(self) -> None:
        self._pli_pending = self.ssrc is None
        if self.ssrc is not None:
            try:
                await self.receiver._send_rtcp_pli(self.ssrc)
            except ConnectionError:
                pass
