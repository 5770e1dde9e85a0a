"""This node's live-room connections and their share of the lesson bus.

Each lesson with local peers has one bus subscription (channel ``lesson:{id}``); whatever any node
publishes there reaches every local peer allowed to see it. Students never see what is meant for
staff only, such as a hidden spectator's arrival (SUP-4). Cluster state stays behind the bus: this
object knows only its own sockets.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from server.live.access import Admission
from server.screening import ScreenerCache
from server.live.bus import Bus

log = logging.getLogger("qihang.live")
STAFF_ROLES = ("lecturer", "assistant", "spectator")


@dataclass(eq=False)
class Peer:
    admission: Admission
    session_id: str
    send: Callable[[dict, str | None], Awaitable[None]]  # (message, the same as JSON text)
    hand_raised: bool = False
    floor: bool = False
    recent: list[float] = field(default_factory=list)  # message times, for rate limiting

    @property
    def staff(self) -> bool:
        return self.admission.room_role in STAFF_ROLES

    def may_see(self, audience: Any) -> bool:
        if audience in (None, "all"):
            return True
        if audience == "staff":
            return self.staff
        if audience == "students":
            return not self.staff
        if isinstance(audience, dict):  # {"users": [...], "staff": bool, "hidden": bool (hidden spectators)}
            return (self.admission.user_id in audience.get("users", ()) or bool(audience.get("staff") and self.staff)
                    or bool(audience.get("hidden") and self.admission.hidden))
        return False


def channel(lesson_id: int) -> str:
    return f"lesson:{lesson_id}"


class RoomHub:
    def __init__(self, bus: Bus):
        self.bus = bus
        self.peers: dict[int, set[Peer]] = {}
        self._tasks: dict[int, asyncio.Task] = {}
        self._ready: dict[int, asyncio.Event] = {}
        self._media: dict[int, object] = {}
        self.media_sinks: dict[str, Callable] = {}  # subscriber key -> its socket's media event handler
        self._coalesced: dict[str, asyncio.Task] = {}
        self.cache: dict[str, tuple[float, Any]] = {}  # short-lived per-lesson views, e.g. online lists
        self.faces = None  # server/live/faceattendance.FaceAttendance when ATT-1 sampling is on
        self.recorder = None  # recorder/client.RecorderClient when lessons are recorded (REC-1)
        self._recording: dict[int, object] = {}  # lesson -> its recorder/tap.RecordingTap
        self._closing: set[asyncio.Task] = set()  # recordings being paused or finished
        self.lesson_over: Callable[[int], Awaitable[bool]] | None = None  # past its scheduled end?
        self.screener = ScreenerCache()  # LIVE-5: one screener per word-list version for every room here

    def media(self, lesson_id: int):
        """This node's media room of a lesson (the SFU side), made on first use."""
        from media.room import MediaRoom
        if lesson_id not in self._media:
            self._media[lesson_id] = MediaRoom(on_event=self._media_event)
            if self.faces is not None:
                self.faces.attach(lesson_id, self._media[lesson_id])
            if self.recorder is not None:  # the process starts with the first lecturer track (tap.py)
                from recorder.tap import RecordingTap
                self._recording[lesson_id] = RecordingTap(self.recorder, lesson_id, self._media[lesson_id])
        return self._media[lesson_id]

    def _media_event(self, key: str, kind: str, payload: dict):
        """An SFU event about a connection; publisher keys are ``<subscriber key>/<slot>``."""
        sink = self.media_sinks.get(key.split("/", 1)[0])
        return sink(key, kind, payload) if sink is not None else None

    async def add(self, peer: Peer) -> None:
        lesson_id = peer.admission.lesson_id
        self.peers.setdefault(lesson_id, set()).add(peer)
        if lesson_id not in self._tasks:
            self._ready[lesson_id] = asyncio.Event()
            self._tasks[lesson_id] = asyncio.create_task(self._pump(lesson_id))
        await self._ready[lesson_id].wait()

    async def remove(self, peer: Peer) -> None:
        lesson_id = peer.admission.lesson_id
        peers = self.peers.get(lesson_id, set())
        peers.discard(peer)
        if not peers:
            self.peers.pop(lesson_id, None)
            task = self._tasks.pop(lesson_id, None)
            self._ready.pop(lesson_id, None)
            if task:
                task.cancel()
            for key in [k for k in self.cache if k.endswith(f":{lesson_id}")]:
                del self.cache[key]
            media = self._media.pop(lesson_id, None)
            if self.faces is not None:
                self.faces.detach(lesson_id)
            recording = self._recording.pop(lesson_id, None)
            if recording is not None:
                recording.tap.remove()  # no more packets; whether the recording is final is asked aside
                task = asyncio.ensure_future(self._close_recording(lesson_id, recording))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            if media is not None:
                await media.close()

    async def _close_recording(self, lesson_id: int, recording) -> None:
        try:
            over = self.lesson_over is not None and await self.lesson_over(lesson_id)
        except Exception:  # noqa: BLE001 - unknown: keep the recording open (a later room continues it)
            log.warning("could not tell whether lesson %s is over", lesson_id, exc_info=True)
            over = False
        recording.close(finish=over)

    def local(self, lesson_id: int) -> set[Peer]:
        return self.peers.get(lesson_id, set())

    async def publish(self, lesson_id: int, message: dict, audience: Any = "all") -> None:
        await self.bus.publish(channel(lesson_id), {"audience": audience, "message": message})

    def coalesce(self, key: str, delay: float, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` once, ``delay`` seconds after the first request; requests until then join
        that run, requests during it schedule the next one."""
        if key in self._coalesced:
            return

        async def run() -> None:
            try:
                await asyncio.sleep(delay)
            finally:
                self._coalesced.pop(key, None)
            try:
                await work()
            except Exception:
                log.warning("coalesced %s failed", key, exc_info=True)
        self._coalesced[key] = asyncio.ensure_future(run())

    async def _pump(self, lesson_id: int) -> None:
        try:
            async with self.bus.subscribe(channel(lesson_id)) as sub:
                self._ready[lesson_id].set()
                async for envelope in sub:
                    message, text = envelope["message"], None
                    for peer in list(self.local(lesson_id)):
                        if peer.may_see(envelope.get("audience")):
                            if text is None:  # serialised once for all recipients
                                text = json.dumps(message, ensure_ascii=False, default=str)
                            try:
                                await peer.send(message, text)
                            except Exception:  # a dead socket is closed by its own handler
                                log.debug("send to a closing peer failed", exc_info=True)
        except asyncio.CancelledError:
            pass
        finally:
            if lesson_id in self._ready:
                self._ready[lesson_id].set()

    async def close(self) -> None:
        for task in list(self._coalesced.values()):
            task.cancel()
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        if self.faces is not None:
            self.faces.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        for recording in self._recording.values():
            recording.close()
        self._recording.clear()
        if self.recorder is not None:
            await self.recorder.close()
        for media in self._media.values():
            await media.close()
        self._media.clear()
