"""Who receives what, over real WebRTC (aiortc peers against the real server on loopback).

LIVE-3: the lecturer publishes two camera layers; a student receives one camera track and the SFU
switches it. LIVE-1/ATT: a student's camera goes to their assistant and to staff who watch it,
never to other students, and its bitrate is capped by the SFU. Resilience: a peer that stops
answering is closed after the ICE consent timeout without disturbing the others; trickled ICE
candidates are accepted.
"""
from __future__ import annotations

import asyncio
import json
import re
import time

import aioice.ice
import av
import websockets
from PIL import Image
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

from tests.test_live_media import live  # noqa: F401 - the fixture
from tests.test_sfu_forwarding import MovingPattern, _vp8_only


class SmallPattern(VideoStreamTrack):
    """A second, smaller camera picture: the low layer (160×120)."""

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame.from_image(Image.new("RGB", (160, 120), (200, 40, 40)))
        frame.pts, frame.time_base = pts, time_base
        return frame


class Peer:
    """A room client: its socket, every message it got, and a downstream connection that answers
    the SFU's offers (``tracks`` is the latest mid → publication map)."""

    def __init__(self, url: str, token: str, name: str, pcs: list):
        self.url, self.token, self.name, self.pcs = url, token, name, pcs
        self.messages: list[dict] = []
        self.tracks: dict = {}
        self.video: asyncio.Queue = asyncio.Queue()
        self.sub: RTCPeerConnection | None = None
        self.offers = 0
        self.trickle = False  # answer without candidates, then send them one by one

    async def __aenter__(self):
        self.ws = await websockets.connect(self.url)
        await self.send({"type": "join", "token": self.token, "session_id": self.name})
        self._reader = asyncio.ensure_future(self._read())
        await self.wait(lambda m: m["type"] == "joined")
        return self

    async def __aexit__(self, *exc):
        self._reader.cancel()
        await self.ws.close()

    async def send(self, msg: dict) -> None:
        await self.ws.send(json.dumps(msg))

    async def _read(self) -> None:
        async for text in self.ws:
            msg = json.loads(text)
            self.messages.append(msg)
            if msg["type"] == "offer":
                await self._answer(msg)
            elif msg["type"] == "tracks":
                self.tracks = msg["tracks"]
            elif msg["type"] == "media_closed" and msg.get("slot") is None:
                self.sub = None

    async def _answer(self, msg: dict) -> None:
        self.offers += 1
        self.tracks = msg.get("tracks", {})
        if self.sub is None:
            self.sub = RTCPeerConnection()
            self.pcs.append(self.sub)
            self.sub.on("track", lambda t: self.video.put_nowait(t) if t.kind == "video" else None)
        await self.sub.setRemoteDescription(RTCSessionDescription(msg["sdp"], "offer"))
        await self.sub.setLocalDescription(await self.sub.createAnswer())
        sdp = self.sub.localDescription.sdp
        if not self.trickle:
            await self.send({"type": "sdp_answer", "sdp": sdp})
            return
        candidates = re.findall(r"a=(candidate:[^\r\n]+)", sdp)
        bare = re.sub(r"a=(candidate:[^\r\n]+|end-of-candidates)\r\n", "", sdp)
        await self.send({"type": "sdp_answer", "sdp": bare})
        for c in candidates:
            await self.send({"type": "candidate", "target": "subscribe",
                             "candidate": {"candidate": c, "sdpMid": "0", "sdpMLineIndex": 0}})
        await self.send({"type": "candidate", "target": "subscribe", "candidate": None})

    async def wait(self, predicate, timeout: float = 15.0, since: int = 0) -> dict:
        deadline = time.monotonic() + timeout
        seen = since
        while time.monotonic() < deadline:
            for msg in self.messages[seen:]:
                if msg["type"] == "error" and not predicate(msg):
                    raise AssertionError(f"{self.name}: {msg}")
                if predicate(msg):
                    return msg
            seen = len(self.messages)
            await asyncio.sleep(0.02)
        raise AssertionError(f"{self.name}: timed out; got {[m['type'] for m in self.messages]}")

    async def publish(self, slot: str, tracks: list, sources: list[str]) -> RTCPeerConnection:
        pc = RTCPeerConnection()
        self.pcs.append(pc)
        for track in tracks:
            _vp8_only(pc.addTransceiver(track, direction="sendonly"))
        await pc.setLocalDescription(await pc.createOffer())
        mids = {t.mid: src for t, src in zip(pc.getTransceivers(), sources)}
        since = len(self.messages)
        await self.send({"type": "publish", "slot": slot, "sdp": pc.localDescription.sdp, "tracks": mids})
        answer = await self.wait(lambda m: m["type"] == "answer" and m.get("slot") == slot, since=since)
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        return pc

    def sources(self) -> set[tuple[int, str]]:
        return {(t["user_id"], t["source"]) for t in self.tracks.values()}

    async def track_of(self, user_id: int, source: str, timeout: float = 15.0):
        """The received track that carries ``user_id``'s ``source`` (per the SFU's mid map)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for mid, pub in self.tracks.items():
                if (pub["user_id"], pub["source"]) == (user_id, source) and self.sub is not None:
                    for t in self.sub.getTransceivers():
                        if t.mid == mid:
                            return t.receiver.track
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name}: no track for {user_id}/{source}; tracks {self.tracks}")


async def _sizes(track, n: int) -> list[tuple[int, int]]:
    out = []
    for _ in range(n):
        frame = await asyncio.wait_for(track.recv(), 15)
        out.append((frame.width, frame.height))
    return out


async def _until_size(track, size: tuple[int, int], within: int = 150) -> None:
    for _ in range(within):
        frame = await asyncio.wait_for(track.recv(), 15)
        if (frame.width, frame.height) == size:
            return
    raise AssertionError(f"no {size} frame within {within} frames")


def _tokens(live):
    return live.tokens["lecturer"], live.student_tokens


def test_live3_two_camera_layers_one_track_switched_per_student(live):
    async def scenario():
        pcs: list = []
        lec_token, (s1, s2) = _tokens(live)
        try:
            async with Peer(live.ws_url, lec_token, "lec", pcs) as lec, Peer(live.ws_url, s1, "s1", pcs) as stu:
                await lec.publish("main", [MovingPattern(), SmallPattern()], ["camera", "camera_low"])
                track = await asyncio.wait_for(stu.video.get(), 15)
                assert [t["source"] for t in stu.tracks.values()] == ["camera"]  # one camera track, two layers
                assert next(iter(stu.tracks.values()))["layers"] == 2
                assert set(await _sizes(track, 5)) == {(320, 240)}  # the high layer first
                await stu.send({"type": "video_quality", "preference": "low"})
                await _until_size(track, (160, 120))
                switch = await lec.wait(lambda m: m["type"] == "event" and m["event"]["kind"] == "layer_switch")
                assert switch["event"]["payload"]["layer"] == "low"
                assert switch["event"]["user_id"] == stu.messages[0]["you"]["user_id"]
                await stu.send({"type": "video_quality", "preference": "auto"})
                await _until_size(track, (320, 240))  # auto on a clean network: back to high
                assert stu.offers == 1  # switching never renegotiated
                await stu.send({"type": "video_quality", "preference": "best"})
                err = await stu.wait(lambda m: m["type"] == "error")
                assert err["error"]["code"] == "PREFERENCE_INVALID" and err["error"]["rule"] == "LIVE-3"
        finally:
            await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)

    asyncio.run(scenario())


def test_a_students_camera_reaches_their_assistant_and_watchers_never_other_students(live):
    async def scenario():
        pcs: list = []
        lec_token, (s1, s2) = _tokens(live)
        assistant = next(k for k in live.ids if k.startswith("alpha_a"))
        asst_token = live.login(assistant)
        try:
            async with Peer(live.ws_url, lec_token, "lec", pcs) as lec, Peer(live.ws_url, s1, "s1", pcs) as a, \
                    Peer(live.ws_url, s2, "s2", pcs) as b, Peer(live.ws_url, asst_token, "asst", pcs) as asst:
                await lec.publish("main", [MovingPattern()], ["camera"])
                await b.wait(lambda m: m["type"] == "offer")
                a_id = a.messages[0]["you"]["user_id"]
                cam = await a.publish("camera", [SmallPattern()], ["camera"])
                await asst.wait(lambda m: m["type"] in ("offer", "tracks") and any(
                    t["user_id"] == a_id for t in m["tracks"].values()))
                track = await asst.track_of(a_id, "camera")
                assert set(await _sizes(track, 3)) == {(160, 120)}  # the assistant decodes the student's picture
                await asyncio.sleep(1.0)
                assert (a_id, "camera") not in b.sources()  # another student: never
                assert (a_id, "camera") not in lec.sources()  # the lecturer: only when watching
                await lec.send({"type": "watch", "user_ids": [a_id]})
                await lec.wait(lambda m: m["type"] == "watching")
                await lec.wait(lambda m: m["type"] in ("offer", "tracks") and any(
                    t["user_id"] == a_id for t in m["tracks"].values()))
                await b.send({"type": "watch", "user_ids": [a_id]})
                err = await b.wait(lambda m: m["type"] == "error")
                assert err["error"]["code"] == "ROOM_ROLE"
                # the SFU holds the phone's encoder to the attendance stream's budget (REMB; aiortc's
                # own encoder stops at 250 kbps, a browser's goes lower)
                rembs = []
                sender = cam.getSenders()[0]
                handle = sender._handle_rtcp_packet

                async def spy(packet):
                    if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                        rembs.append(unpack_remb_fci(packet.fci)[0])
                    await handle(packet)
                sender._handle_rtcp_packet = spy
                for _ in range(40):
                    if rembs:
                        break
                    await asyncio.sleep(0.1)
                assert rembs and max(rembs) <= 150_000
                published = await lec.wait(lambda m: m["type"] == "event" and m["event"]["kind"] == "publish"
                                           and m["event"]["user_id"] == a_id)
                assert published["event"]["payload"] == {"slot": "camera", "sources": ["camera"]}
        finally:
            await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)

    asyncio.run(scenario())


def test_a_silent_peer_is_closed_after_the_ice_timeout_and_others_carry_on(live, monkeypatch):
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.4)
    monkeypatch.setattr(aioice.ice, "CONSENT_FAILURES", 3)

    async def scenario():
        pcs: list = []
        lec_token, (s1, s2) = _tokens(live)
        try:
            async with Peer(live.ws_url, lec_token, "lec", pcs) as lec, Peer(live.ws_url, s1, "s1", pcs) as a, \
                    Peer(live.ws_url, s2, "s2", pcs) as b:
                b.trickle = True  # this one also trickles its candidates
                await lec.publish("main", [MovingPattern()], ["camera"])
                ta = await asyncio.wait_for(a.video.get(), 15)
                tb = await asyncio.wait_for(b.video.get(), 15)
                await _sizes(ta, 3)
                await _sizes(tb, 3)
                # b's phone goes silent: nothing it sends reaches the server any more
                ice = b.sub.getTransceivers()[0].receiver.transport.transport._connection
                for protocol in ice._protocols:
                    protocol.transport.sendto = lambda *args, **kw: None
                lost = await lec.wait(lambda m: m["type"] == "event" and m["event"]["kind"] == "media_lost", 20)
                assert lost["event"]["user_id"] == b.messages[0]["you"]["user_id"]
                assert lost["event"]["payload"]["reason"] == "ice_failed"
                await b.wait(lambda m: m["type"] == "media_closed")
                assert set(await _sizes(ta, 10)) == {(320, 240)}  # a still watches
                # b's socket is alive, so it is offered a fresh connection, and plays again
                await b.wait(lambda m: m["type"] == "offer" and b.offers >= 2)
                tb2 = await asyncio.wait_for(b.video.get(), 15)
                assert set(await _sizes(tb2, 3)) == {(320, 240)}
        finally:
            await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)

    asyncio.run(scenario())


def test_malformed_media_messages_get_clear_errors(live):
    async def scenario():
        pcs: list = []
        lec_token, (s1, _s2) = _tokens(live)
        async with Peer(live.ws_url, lec_token, "lec", pcs) as lec:
            for msg, code in (
                    ({"type": "candidate", "target": "screen", "candidate": None}, "CANDIDATE_TARGET"),
                    ({"type": "candidate", "candidate": "x"}, "CANDIDATE_INVALID"),
                    ({"type": "candidate", "candidate": {"candidate": "candidate:garbage", "sdpMid": "0"}},
                     "CANDIDATE_INVALID"),
                    ({"type": "publish", "slot": "main", "sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n",
                      "tracks": {"0": "mic"}}, "SOURCE_KIND"),
                    ({"type": "publish", "slot": "main", "sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n",
                      "tracks": {"0": "screen"}}, "SOURCE_NOT_ALLOWED"),
                    ({"type": "publish", "slot": "main", "sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n",
                      "tracks": ["camera"]}, "TRACKS_INVALID"),
                    ({"type": "watch", "user_ids": list(range(31))}, "WATCH_TOO_MANY"),
                    ({"type": "watch", "user_ids": "all"}, "USER_IDS_REQUIRED"),
                    ({"type": "unpublish", "slot": "attic"}, "SLOT_INVALID")):
                await lec.send(msg)
                err = await lec.wait(lambda m: m["type"] == "error")
                lec.messages.clear()
                assert err["error"]["code"] == code, (msg, err)
                assert err["error"]["message_zh"] and err["error"]["message_en"]
            await lec.send({"type": "ping", "t": 1})
            await lec.wait(lambda m: m["type"] == "pong")

    asyncio.run(scenario())


def test_screen_share_renegotiates_once_and_reuses_the_sender_when_shared_again(live):
    async def scenario():
        pcs: list = []
        lec_token, (s1, _s2) = _tokens(live)
        try:
            async with Peer(live.ws_url, lec_token, "lec", pcs) as lec, Peer(live.ws_url, s1, "s1", pcs) as stu:
                lec_id = lec.messages[0]["you"]["user_id"]
                await lec.publish("main", [MovingPattern()], ["camera"])
                await stu.track_of(lec_id, "camera")
                await lec.publish("screen", [SmallPattern()], ["screen"])
                screen = await stu.track_of(lec_id, "screen")
                assert set(await _sizes(screen, 3)) == {(160, 120)}
                assert stu.offers == 2  # the share added one track: one renegotiation
                await lec.send({"type": "unpublish", "slot": "screen"})
                await stu.wait(lambda m: m["type"] == "tracks" and all(t["source"] != "screen" for t in m["tracks"].values()))
                await lec.publish("screen", [SmallPattern()], ["screen"])  # shared again: the idle sender is reused
                again = await stu.track_of(lec_id, "screen")
                assert again is screen and set(await _sizes(again, 3)) == {(160, 120)}
                assert stu.offers == 2 and len(stu.sub.getTransceivers()) == 2
                camera = await stu.track_of(lec_id, "camera")
                assert set(await _sizes(camera, 3)) == {(320, 240)}  # the camera never stopped
        finally:
            await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)

    asyncio.run(scenario())
