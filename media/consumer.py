"""Consumer: one subscriber's copy of a producer's stream, forwarded as RTP.

Each packet is rewritten into the consumer's own SSRC, sequence and timestamp space (continuous
across layer switches), serialised once for this consumer and written into the subscriber's DTLS
transport, which SRTP-protects and sends it. Nothing is decoded or encoded. The consumer also
answers its subscriber's RTCP: NACKs from the producer's packet cache, PLI/FIR through the
producer's keyframe limiter; receiver reports end here.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from aiortc.rtcrtpsender import RTCRtpSender
from aiortc import clock
from aiortc.rtp import (RTCP_PSFB_FIR, RTCP_PSFB_PLI, RTCP_RTPFB_NACK, HeaderExtensionsMap, RtcpPsfbPacket,
                        RtcpRtpfbPacket, RtpPacket)

from media.rtprewriter import RtpRewriter

if TYPE_CHECKING:
    from media.producer import Producer

log = logging.getLogger("qihang.media")


class Consumer:
    def __init__(self, producer: "Producer", sender: RTCRtpSender, payload_type: int):
        self.producer = producer
        self.sender = sender
        self.payload_type = payload_type
        self.ssrc = sender._ssrc
        self.rewriter = RtpRewriter(producer.clock_rate)
        self.extensions = HeaderExtensionsMap()  # forwarded packets carry no header extensions
        self.sent = 0
        self.octets = 0
        self.paused = False
        self._route_rtcp()
        producer.consumers.add(self)

    def _route_rtcp(self) -> None:
        """Subscriber feedback goes to the SFU, not to the idle sender's (absent) encoder."""
        async def handle(packet) -> None:
            if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                for seq in packet.lost:
                    await self._retransmit(seq)
            elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                await self.producer.request_keyframe()
        self.sender._handle_rtcp_packet = handle

    async def start(self) -> None:
        """A new consumer can only begin at a keyframe: ask for one (rate-limited per producer)."""
        await self.producer.request_keyframe()

    async def set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        if not paused:  # resume at a keyframe of the current source, as after a layer switch
            if self.rewriter.current is not None:
                self.rewriter.switch_to_keyframe()
            await self.producer.request_keyframe()

    async def send(self, packet: RtpPacket, keyframe: bool) -> None:
        if self.paused:
            return
        out = self.rewriter.rewrite(packet.ssrc, packet.sequence_number, packet.timestamp, packet.marker,
                                    keyframe, time.monotonic())
        if out is None:
            return
        await self._write(packet, *out)

    async def _write(self, packet: RtpPacket, seq: int, ts: int) -> None:
        copy = RtpPacket(payload_type=self.payload_type, marker=packet.marker, sequence_number=seq, timestamp=ts,
                         ssrc=self.ssrc, payload=packet.payload)
        try:
            await self.sender.transport._send_rtp(copy.serialize(self.extensions))
        except ConnectionError:
            return
        self.sent += 1
        self.octets += len(packet.payload)
        # Keep the idle sender's RTCP sender reports true (A/V sync, stats in the browser).
        self.sender._RTCRtpSender__ntp_timestamp = clock.current_ntp_time()
        self.sender._RTCRtpSender__rtp_timestamp = ts
        self.sender._RTCRtpSender__packet_count = self.sent
        self.sender._RTCRtpSender__octet_count = self.octets

    async def _retransmit(self, out_seq: int) -> None:
        source = self.rewriter.source_of(out_seq)
        if source is None:
            return
        ssrc, src_seq, ts = source
        packet = self.producer.cache.get(src_seq)
        if packet is not None and packet.ssrc == ssrc:
            await self._write(packet, out_seq, ts)

    def close(self) -> None:
        self.producer.consumers.discard(self)
