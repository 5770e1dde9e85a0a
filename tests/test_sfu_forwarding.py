"""RTP-level forwarding through the SFU between real WebRTC peers (aiortc on loopback).

publisher (VP8 encoder) → SFU producer → N consumers → subscribers, which decode what they get:
the stream stays valid although the SFU never decodes or encodes it (LIVE-1, LIVE-2).
"""
from __future__ import annotations

import asyncio

import av
from PIL import Image, ImageDraw
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import VideoStreamTrack

from media.consumer import Consumer
from media.producer import Producer
from media.track import ForwardedTrack


class MovingPattern(VideoStreamTrack):
    """A synthetic camera: a bar moving over a gradient, 320×240."""

    def __init__(self):
        super().__init__()
        self.n = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        img = Image.new("RGB", (320, 240), (20, 120, 60))
        x = (self.n * 7) % 300
        ImageDraw.Draw(img).rectangle((x, 0, x + 20, 239), fill=(255, 255, 255))
        self.n += 1
        frame = av.VideoFrame.from_image(img)
        frame.pts, frame.time_base = pts, time_base
        return frame


def _vp8_only(transceiver):
    caps = RTCRtpSender.getCapabilities("video")
    transceiver.setCodecPreferences([c for c in caps.codecs if c.mimeType == "video/VP8"])


async def _negotiate(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


async def subscribe_viewer(producer: Producer, pcs: list) -> object:
    """An SFU downstream connection with one consumer of ``producer`` and an aiortc viewer on the
    other end; returns the viewer's track once the consumer has asked for a keyframe."""
    sfu_out, viewer = RTCPeerConnection(), RTCPeerConnection()
    pcs.extend([sfu_out, viewer])
    t_out = sfu_out.addTransceiver(ForwardedTrack("video"), direction="sendonly")
    _vp8_only(t_out)
    tracks: asyncio.Queue = asyncio.Queue()
    viewer.on("track", lambda track: tracks.put_nowait(track))
    await _negotiate(sfu_out, viewer)
    consumer = Consumer(producer, t_out.sender, payload_type=t_out._codecs[0].payloadType)
    track = await asyncio.wait_for(tracks.get(), 10)
    while sfu_out.connectionState != "connected":
        await asyncio.sleep(0.05)
    await consumer.start()
    return track


async def _forward(subscribers: int, frames_wanted: int) -> list[int]:
    publisher, sfu_in = RTCPeerConnection(), RTCPeerConnection()
    pcs = [publisher, sfu_in]
    try:
        _vp8_only(publisher.addTransceiver(MovingPattern(), direction="sendonly"))
        got_track = asyncio.Event()
        sfu_in.on("track", lambda track: got_track.set())
        await _negotiate(publisher, sfu_in)
        await asyncio.wait_for(got_track.wait(), 10)
        t_in = sfu_in.getTransceivers()[0]
        codec = t_in._codecs[0]
        producer = Producer(t_in.receiver, kind="video", mime=codec.mimeType, clock_rate=codec.clockRate)

        counts = [0] * subscribers
        sizes: set[tuple[int, int]] = set()

        async def subscribe(i: int) -> None:
            track = await subscribe_viewer(producer, pcs)
            while counts[i] < frames_wanted:
                frame = await asyncio.wait_for(track.recv(), 10)
                sizes.add((frame.width, frame.height))
                counts[i] += 1

        await asyncio.wait_for(asyncio.gather(*(subscribe(i) for i in range(subscribers))), 60)
        assert sizes == {(320, 240)}
        return counts
    finally:
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)


def test_live2_one_publisher_forwarded_to_three_subscribers_who_decode_it():
    counts = asyncio.run(_forward(subscribers=3, frames_wanted=30))
    assert counts == [30, 30, 30]
