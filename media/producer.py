"""Producer: one published track, tapped as RTP before aiortc would depacketise or decode it.

The tap keeps what the publisher relies on — receiver statistics for RTCP receiver reports and
NACKs for lost packets — and hands every packet to the producer's consumers, which forward it
without touching the payload (the SFU never decodes or re-encodes per subscriber).
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from aiortc.codecs import is_rtx
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtp import RtpPacket, unwrap_rtx

from media.keyframe import KeyframeRequestLimiter, is_keyframe
from media.packetcache import PacketCache

if TYPE_CHECKING:
    from media.consumer import Consumer

log = logging.getLogger("qihang.media")


class Producer:
    def __init__(self, receiver: RTCRtpReceiver, *, kind: str, mime: str, clock_rate: int, name: str = ""):
        self.receiver = receiver
        self.kind, self.mime, self.clock_rate, self.name = kind, mime.lower(), clock_rate, name
        self.consumers: set[Consumer] = set()
        self.cache = PacketCache()
        self.limiter = KeyframeRequestLimiter()
        self.ssrc: int | None = None
        self.packets = 0
        self._tap()

    def _tap(self) -> None:
        r = self.receiver
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
        # Any audio packet is a valid place to start; video must start at a keyframe.
        keyframe = is_keyframe(self.mime, packet.payload) if self.kind == "video" else True
        now = time.monotonic()
        if keyframe and self.kind == "video":
            self.limiter.on_keyframe(now)
        elif self.limiter.due(now):
            await self._send_pli()
        self.cache.put(packet.sequence_number, packet)
        for consumer in tuple(self.consumers):
            await consumer.send(packet, keyframe)

    async def request_keyframe(self) -> None:
        """Any consumer may ask; the limiter lets at most one request a second reach the publisher."""
        if self.kind == "video" and self.limiter.request(time.monotonic()):
            await self._send_pli()

    async def _send_pli(self) -> None:
        if self.ssrc is not None:
            try:
                await self.receiver._send_rtcp_pli(self.ssrc)
            except ConnectionError:
                pass
