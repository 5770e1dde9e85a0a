"""Internal consumers (the recorder's and the attendance sampler's way in): a tap on the room gets
the packets of the publications it picks, present and future, decodable, and nothing of the others;
it goes away with its publication. Real aiortc publisher on loopback, no subscriber needed.
"""
from __future__ import annotations

import asyncio

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.vpx import vp8_depayload

from media.room import MediaRoom
from media.sink import Sink
from tests.test_live_routing import SmallPattern
from tests.test_sfu_forwarding import MovingPattern, _vp8_only


async def _publish(room: MediaRoom, key: str, track, *, user_id: int, role: str, pcs: list) -> None:
    pc = RTCPeerConnection()
    pcs.append(pc)
    _vp8_only(pc.addTransceiver(track, direction="sendonly"))
    await pc.setLocalDescription(await pc.createOffer())
    answer = await room.publish(key, pc.localDescription.sdp, user_id=user_id, role=role,
                                sources={pc.getTransceivers()[0].mid: "camera"})
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))


def test_a_tap_receives_student_cameras_only_and_can_decode_them():
    async def run():
        room, pcs = MediaRoom(), []
        frames: dict[str, list] = {}
        closed = []

        def factory(pub):
            picture: list[bytes] = []

            def on_packet(packet, keyframe, producer):
                if keyframe:
                    picture.clear()
                if keyframe or picture:  # collect one keyframe's packets, then decode it
                    picture.append(vp8_depayload(packet.payload))
                    if packet.marker and pub.pid not in frames:
                        codec = av.CodecContext.create("libvpx", "r")
                        frames[pub.pid] = codec.decode(av.Packet(b"".join(picture)))
            return Sink(pub, on_packet, on_close=closed.append)

        try:
            await _publish(room, "lec/main", MovingPattern(), user_id=1, role="lecturer", pcs=pcs)
            tap = room.add_tap(lambda p: p.role == "student" and p.source == "camera", factory)
            await _publish(room, "s7/camera", SmallPattern(), user_id=7, role="student", pcs=pcs)
            for _ in range(200):
                if "s7/camera/camera" in frames:
                    break
                await asyncio.sleep(0.05)
            assert list(frames) == ["s7/camera/camera"]  # the lecturer's camera was not picked
            assert (frames["s7/camera/camera"][0].width, frames["s7/camera/camera"][0].height) == (160, 120)
            sink = tap.sinks[0]
            assert sink.packets > 0 and sink in sink.producer.consumers
            await room.unpublish("s7/camera")
            assert closed == [sink] and sink.closed
            await _publish(room, "s8/camera", SmallPattern(), user_id=8, role="student", pcs=pcs)
            assert len([s for s in tap.sinks if not s.closed]) == 1
            tap.remove()
            assert all(s.closed for s in tap.sinks) and not room._taps
        finally:
            await room.close()
            await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)

    asyncio.run(run())
