"""WebRTC through the lesson socket: the lecturer publishes, students receive forwarded media (LIVE-1/2).

Real peers (aiortc) against the real server (uvicorn) on loopback; the SFU forwards RTP and the
students decode it.
"""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest
import uvicorn
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription

from tests.test_sfu_forwarding import MovingPattern, _vp8_only


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live(world, client, svc):
    """An open class whose first lesson runs now, served by a real uvicorn on loopback."""
    from server.app import create_app
    w = world
    w.institution("alpha")
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("hohhot", "city", "150100")
    detail = w.running_lesson("alpha", district="yuquan", city="hohhot")
    w.lesson_id = detail["lesson_id"]
    w.tokens["lecturer"] = w.login(detail["lecturer_username"])
    w.student_tokens = [w.login(w.mobiles[s["id"]]) for s in detail["roster"][:2]]
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(services=svc), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    w.ws_url = f"ws://127.0.0.1:{port}/ws/lessons/{w.lesson_id}"
    yield w
    server.should_exit = True
    thread.join(10)


async def _until(ws, predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        if msg["type"] == "error":
            raise AssertionError(msg)
        if predicate(msg):
            return msg


def test_live1_lecturer_publishes_and_students_decode_forwarded_video(live):
    async def scenario():
        pcs = []
        try:
            async with websockets.connect(live.ws_url) as lec:
                await lec.send(json.dumps({"type": "join", "token": live.tokens["lecturer"], "session_id": "lec"}))
                await _until(lec, lambda m: m["type"] == "joined")
                pub = RTCPeerConnection()
                pcs.append(pub)
                _vp8_only(pub.addTransceiver(MovingPattern(), direction="sendonly"))
                await pub.setLocalDescription(await pub.createOffer())
                await lec.send(json.dumps({"type": "publish", "sdp": pub.localDescription.sdp}))
                answer = await _until(lec, lambda m: m["type"] == "answer")
                await pub.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

                async def student(token: str) -> int:
                    async with websockets.connect(live.ws_url) as ws:
                        await ws.send(json.dumps({"type": "join", "token": token, "session_id": token[:8]}))
                        await _until(ws, lambda m: m["type"] == "joined")
                        offer = await _until(ws, lambda m: m["type"] == "offer")
                        pc = RTCPeerConnection()
                        pcs.append(pc)
                        tracks: asyncio.Queue = asyncio.Queue()
                        pc.on("track", lambda t: tracks.put_nowait(t))
                        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
                        await pc.setLocalDescription(await pc.createAnswer())
                        await ws.send(json.dumps({"type": "sdp_answer", "sdp": pc.localDescription.sdp}))
                        track = await asyncio.wait_for(tracks.get(), 15)
                        frames = 0
                        while frames < 20:
                            frame = await asyncio.wait_for(track.recv(), 15)
                            assert (frame.width, frame.height) == (320, 240)
                            frames += 1
                        return frames

                counts = await asyncio.gather(*(student(t) for t in live.student_tokens))
                assert counts == [20, 20]
        finally:
            await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)

    asyncio.run(scenario())


def test_bad_sdp_gets_a_clear_error(live):
    async def scenario():
        async with websockets.connect(live.ws_url) as lec:
            await lec.send(json.dumps({"type": "join", "token": live.tokens["lecturer"], "session_id": "lec"}))
            await _until(lec, lambda m: m["type"] == "joined")
            await lec.send(json.dumps({"type": "publish", "sdp": "hello"}))
            while True:
                msg = json.loads(await asyncio.wait_for(lec.recv(), 10))
                if msg["type"] == "error":
                    assert msg["error"]["code"] == "SDP_INVALID"
                    break
            for sdp, code in (("v=0\r\nnonsense\r\n", "SDP_NO_MEDIA"), ("v=0\r\nm=video x y\r\n", "SDP_REFUSED")):
                await lec.send(json.dumps({"type": "publish", "sdp": sdp}))
                while True:
                    msg = json.loads(await asyncio.wait_for(lec.recv(), 10))
                    if msg["type"] == "error":
                        assert msg["error"]["code"] == code
                        break
            await lec.send(json.dumps({"type": "ping", "t": 7}))
            while json.loads(await asyncio.wait_for(lec.recv(), 10)).get("type") != "pong":
                pass

    asyncio.run(scenario())
