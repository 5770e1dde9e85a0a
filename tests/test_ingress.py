"""The SFU's lean paths: SRTP handled where the datagram arrives (media/ingress.py) and forwarded
RTP sent without aiortc's coroutine chain (media/egress.py).

LIVE-2: a full lesson only fits with lean upload and fan-out paths. These tests show both are taken
on the two event loops the platform runs on (stock asyncio, uvloop under uvicorn), that media still
reaches viewers intact (they decode it) with the DTLS transports' statistics kept, and that the
eager runner behaves like a task when a handler does suspend.
"""
from __future__ import annotations

import asyncio
import logging

import pytest
import uvloop
from aiortc import RTCPeerConnection, RTCSessionDescription

from media import ingress
from media.room import MediaRoom
from tests.test_sfu_forwarding import MovingPattern, _vp8_only


def test_run_now_finishes_a_coroutine_that_never_suspends_without_a_task():
    done = []

    async def handler():
        done.append(1)

    async def main():
        tasks = len(asyncio.all_tasks())
        ingress.run_now(handler())
        assert done == [1] and len(asyncio.all_tasks()) == tasks  # ran on the spot

    asyncio.run(main())


def test_run_now_carries_on_a_coroutine_that_suspends_and_logs_failures(caplog):
    steps = []

    async def slow(fut):
        steps.append("start")
        await asyncio.sleep(0)
        steps.append(await fut)

    async def broken():
        raise RuntimeError("bad packet")

    async def main():
        fut = asyncio.get_running_loop().create_future()
        ingress.run_now(slow(fut))
        assert steps == ["start"]
        fut.set_result("resumed")
        for _ in range(5):
            await asyncio.sleep(0)
        assert steps == ["start", "resumed"]
        with caplog.at_level(logging.ERROR, logger="qihang.media"):
            ingress.run_now(broken())  # logged, not raised into the socket callback
        assert "handling a packet failed" in caplog.text

    asyncio.run(main())


async def _publish_and_view(frames: int) -> tuple[MediaRoom, list[int], list]:
    room = MediaRoom()
    publisher, viewer = RTCPeerConnection(), RTCPeerConnection()
    try:
        _vp8_only(publisher.addTransceiver(MovingPattern(), direction="sendonly"))
        await publisher.setLocalDescription(await publisher.createOffer())
        answer = await room.publish("lecturer", publisher.localDescription.sdp, user_id=1, role="lecturer")
        await publisher.setRemoteDescription(RTCSessionDescription(answer, "answer"))

        tracks: asyncio.Queue = asyncio.Queue()
        viewer.on("track", tracks.put_nowait)

        async def send_offer(sdp: str) -> None:
            await viewer.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            await viewer.setLocalDescription(await viewer.createAnswer())
            await room.answer("viewer", viewer.localDescription.sdp)

        await room.subscribe("viewer", send_offer, user_id=2)
        stock_rtp = []  # forwarded RTP that went aiortc's own way instead of the Egress
        dtls = room.subscribers["viewer"].pc.getTransceivers()[0].sender.transport
        stock_send = dtls._send_rtp

        async def counted(data: bytes) -> None:
            if not 192 <= data[1] <= 223:  # RTCP packet types 192–223; the rest is RTP
                stock_rtp.append(data)
            await stock_send(data)
        dtls._send_rtp = counted
        track = await asyncio.wait_for(tracks.get(), 10)
        sizes = []
        for _ in range(frames):
            frame = await asyncio.wait_for(track.recv(), 10)
            sizes.append((frame.width, frame.height))
        pcs = [room.publishers["lecturer"].pc, room.subscribers["viewer"].pc]
        flags = [all(getattr(t, "_qihang_ingress", False) for t in ingress._dtls_transports(pc)) for pc in pcs]
        stats = await room.publishers["lecturer"].pc.getStats()
        received = [s.packetsReceived for s in stats.values() if s.type == "transport"]
        stats = await room.subscribers["viewer"].pc.getStats()
        sent = [s.packetsSent for s in stats.values() if s.type == "transport"]
        forwarded = sum(c.sent for c in room.subscribers["viewer"].consumers.values())
        return flags, sizes, received, sent, forwarded, len(stock_rtp)
    finally:
        await asyncio.gather(publisher.close(), viewer.close(), room.close(), return_exceptions=True)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_live2_srtp_takes_the_lean_paths_on_both_loops_and_viewers_decode_it(loop):
    run = uvloop.run if loop == "uvloop" else asyncio.run
    flags, sizes, received, sent, forwarded, stock_rtp = run(_publish_and_view(frames=40))
    assert flags == [True, True]  # the publisher's upload and the viewer's download connection
    assert set(sizes) == {(320, 240)} and len(sizes) == 40
    assert received and received[0] >= 40  # getStats still counts what the short circuit took
    assert forwarded >= 40 and stock_rtp == 0  # every forwarded packet left through the Egress
    assert sent and sent[0] >= forwarded  # and the transport's counters include them
