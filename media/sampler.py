"""FrameSampler: one decoded picture of each student's camera now and then, for attendance (ATT).

Decoding every frame of 200 student streams would take most of both cores before any face work, so
the sampler decodes only what it samples: at a random moment per student (default every 20–40 s,
so students cannot predict the check), it asks the publisher for a keyframe (through the producer's
limiter, as any consumer would), collects that keyframe's packets from a ``Sink`` — the SFU's
internal consumer, so forwarding is untouched — and hands the encoded picture to a worker process
pool for decoding. Only the collection runs on the media event loop; results come back to
``on_sample``. The face pipeline (issue 4) consumes these samples.

A liveness challenge needs motion, so ``record_clip`` collects every frame of one student for a
few seconds (from a keyframe on, still encoded); the worker decodes the whole clip.
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiortc.codecs.h264 import h264_depayload
from aiortc.codecs.vpx import vp8_depayload

from media.publication import Publication
from media.sink import Sink

log = logging.getLogger("qihang.media")
DEPAYLOAD = {"video/vp8": vp8_depayload, "video/h264": h264_depayload}


@dataclass
class Sample:
    """One sampled picture (RGB, row-major) or why there is none."""
    user_id: int
    pid: str
    width: int = 0
    height: int = 0
    rgb: bytes = b""
    error: str | None = None  # "no_keyframe" (the phone sent none in time), "undecodable: …"
    worker_pid: int | None = None


def decode_keyframe(mime: str, data: bytes) -> tuple[int, int, bytes, int]:
    """Decode one encoded keyframe in a worker process: (width, height, RGB bytes, worker pid).

    One decoder per codec per worker is reused: a keyframe decodes on its own, and a fresh libvpx
    context per sample leaks (see the face-pipeline notes)."""
    import av
    decoders = _DECODERS
    with _DECODE_LOCK:  # one decoder per codec: never two pictures at once (a thread pool would)
        if mime not in decoders:
            decoders[mime] = av.CodecContext.create("libvpx" if mime == "video/vp8" else "h264", "r")
        try:
            frames = decoders[mime].decode(av.Packet(data))
        except av.FFmpegError as exc:
            del decoders[mime]  # a decoder that failed may stay broken: the next sample gets a new one
            raise ValueError(f"undecodable: {exc}") from None
        if not frames:
            raise ValueError("undecodable: no picture in the keyframe")
        image = frames[0].to_image()  # RGB
    return image.width, image.height, image.tobytes(), os.getpid()


def decode_clip(mime: str, frames: list[tuple[float, bytes]]) -> list[tuple[float, Any]]:
    """Decode a clip (a keyframe, then every frame after it, in order) in a worker process:
    [(time, RGB ndarray)]; a frame that does not decode is left out."""
    import av
    out = []
    with _DECODE_LOCK:
        if mime not in _DECODERS:
            _DECODERS[mime] = av.CodecContext.create("libvpx" if mime == "video/vp8" else "h264", "r")
        decoder = _DECODERS[mime]
        for t, data in frames:
            try:
                pictures = decoder.decode(av.Packet(data))
            except av.FFmpegError:
                decoder = _DECODERS[mime] = av.CodecContext.create("libvpx" if mime == "video/vp8" else "h264", "r")
                continue  # a failed decoder may stay broken; the frames up to the next keyframe are lost
            out += [(t, p.to_ndarray(format="rgb24")) for p in pictures]
    return out


_DECODERS: dict[str, Any] = {}  # used only inside worker processes: each has its own decoders
_DECODE_LOCK = threading.Lock()


class _Collector:
    """Collects the packets of the next keyframe of one stream once armed."""

    def __init__(self, depayload: Callable[[bytes], bytes]):
        self.depayload = depayload
        self.waiting: asyncio.Future | None = None
        self.parts: list[bytes] = []
        self.next_seq: int | None = None

    def arm(self) -> asyncio.Future:
        self.waiting = asyncio.get_running_loop().create_future()
        self.parts, self.next_seq = [], None
        return self.waiting

    def on_packet(self, packet, keyframe: bool, producer) -> None:
        if self.waiting is None or self.waiting.done():
            return
        if keyframe:
            self.parts, self.next_seq = [], packet.sequence_number
        elif self.next_seq is None:
            return
        if packet.sequence_number != self.next_seq:  # a packet of the picture was lost: wait for the next
            self.parts, self.next_seq = [], None
            return
        try:
            self.parts.append(self.depayload(packet.payload))
        except ValueError:
            self.parts, self.next_seq = [], None
            return
        self.next_seq = (packet.sequence_number + 1) & 0xFFFF
        if packet.marker:
            self.waiting.set_result(b"".join(self.parts))
            self.parts, self.next_seq = [], None


class _ClipCollector:
    """Collects every frame of one stream for a few seconds, from a keyframe on (a liveness
    challenge, media/liveness.py): encoded frames with their arrival times, decoded later in a
    worker. A lost packet breaks the chain of frames: collection waits for the next keyframe."""

    def __init__(self, depayload: Callable[[bytes], bytes], seconds: float, on_gap: Callable[[], Any]):
        loop = asyncio.get_running_loop()
        self.depayload, self.on_gap = depayload, on_gap
        self.t0, self.until = loop.time(), loop.time() + seconds
        self.done = loop.create_future()
        self.frames: list[tuple[float, bytes]] = []
        self.parts: list[bytes] = []
        self.next_seq: int | None = None
        self.started = False

    def on_packet(self, packet, keyframe: bool, producer) -> None:
        if self.done.done():
            return
        now = asyncio.get_running_loop().time()
        if now >= self.until:
            self.done.set_result(self.frames)
            return
        if keyframe and not self.parts:
            self.started, self.next_seq = True, packet.sequence_number
        if not self.started:
            return
        if packet.sequence_number != self.next_seq:  # lost: skip to the next keyframe
            self.started, self.parts, self.next_seq = False, [], None
            self.on_gap()
            return
        try:
            self.parts.append(self.depayload(packet.payload))
        except ValueError:
            self.started, self.parts, self.next_seq = False, [], None
            return
        self.next_seq = (packet.sequence_number + 1) & 0xFFFF
        if packet.marker:
            self.frames.append((now - self.t0, b"".join(self.parts)))
            self.parts = []

    def finish(self) -> list[tuple[float, bytes]]:
        if not self.done.done():
            self.done.set_result(self.frames)
        return self.frames


class FrameSampler:
    def __init__(self, room, on_sample: Callable[[Any], Any], executor: Executor | None, *,
                 interval: tuple[float, float] = (20.0, 40.0), keyframe_wait: float = 5.0,
                 wants: Callable[[Publication], bool] | None = None,
                 analyse: Callable[[Publication, bytes], Awaitable[Any]] | None = None):
        """``analyse``: what to do with a collected keyframe instead of decoding it here (e.g.
        decode and check the face in one worker hop); its result goes to ``on_sample``. A keyframe
        that did not come still gives ``on_sample`` a Sample with ``error="no_keyframe"``."""
        self.room, self.on_sample, self.executor = room, on_sample, executor
        self.analyse = analyse
        self.interval, self.keyframe_wait = interval, keyframe_wait
        self.wants = wants or (lambda pub: pub.role == "student" and pub.source == "camera" and pub.kind == "video")
        self._tasks: dict[int, asyncio.Task] = {}
        self._wake: dict[int, tuple[int, asyncio.Event]] = {}  # id(sink) -> (user_id, "sample now")
        self._clips: dict[int, tuple] = {}  # id(sink) -> (publication, sink, depayload, clips being taken)
        self.tap = room.add_tap(self.wants, self._attach)

    def _attach(self, pub: Publication) -> Sink | None:
        depayload = DEPAYLOAD.get(pub.mime)
        if depayload is None:
            log.warning("cannot sample %s: codec %s", pub.pid, pub.mime)
            return None
        collector = _Collector(depayload)
        clips: list[_ClipCollector] = []

        def on_packet(packet, keyframe: bool, producer) -> None:
            collector.on_packet(packet, keyframe, producer)
            for clip in clips:
                clip.on_packet(packet, keyframe, producer)
        sink = Sink(pub, on_packet, on_close=lambda s: self._detach(s))
        self._clips[id(sink)] = (pub, sink, depayload, clips)
        self._wake[id(sink)] = (pub.user_id, asyncio.Event())
        self._tasks[id(sink)] = asyncio.ensure_future(self._run(pub, sink, collector))
        return sink

    def sampling(self) -> set[int]:
        """The users whose cameras are being sampled now."""
        return {uid for uid, _ in self._wake.values()}

    def sample_now(self, user_ids) -> set[int]:
        """Take the next sample of these users now instead of at their random moment (a roll call,
        ATT-8); returns those who have a camera to sample."""
        wanted, found = set(user_ids), set()
        for uid, event in self._wake.values():
            if uid in wanted:
                event.set()
                found.add(uid)
        return found

    async def record_clip(self, user_id: int, seconds: float) -> tuple[str, list[tuple[float, bytes]]] | None:
        """Every frame of this user's camera for ``seconds`` from now (time 0), from the next
        keyframe on, asked for at once: (codec, [(seconds, encoded frame)]), or None when the user
        has no camera here. Only the collection runs here; decoding is the caller's, in a worker."""
        entry = next((e for e in self._clips.values() if e[0].user_id == user_id), None)
        if entry is None:
            return None
        pub, sink, depayload, clips = entry

        def gap() -> None:
            asyncio.ensure_future(sink.request_keyframe())
        clip = _ClipCollector(depayload, seconds, gap)
        clips.append(clip)
        try:
            await sink.request_keyframe()
            try:
                await asyncio.wait_for(asyncio.shield(clip.done), seconds + 0.5)
            except asyncio.TimeoutError:  # the stream stopped: what came is all there is
                pass
            return pub.mime, clip.finish()
        finally:
            clips.remove(clip)

    def _detach(self, sink: Sink) -> None:
        self._wake.pop(id(sink), None)
        entry = self._clips.pop(id(sink), None)
        if entry is not None:
            for clip in entry[3]:
                clip.finish()
        task = self._tasks.pop(id(sink), None)
        if task is not None:
            task.cancel()

    async def _run(self, pub: Publication, sink: Sink, collector: _Collector) -> None:
        loop = asyncio.get_running_loop()
        wake = self._wake[id(sink)][1]
        # The first sample soon after the camera starts (it signs the student in, ATT-7), at a
        # random moment so a class joining at once is not sampled at once; then every interval.
        wait = random.uniform(min(1.0, self.interval[0]), self.interval[0])
        while not sink.closed:
            try:
                await asyncio.wait_for(wake.wait(), wait)
            except asyncio.TimeoutError:
                pass
            wake.clear()
            wait = random.uniform(*self.interval)
            waiting = collector.arm()
            await sink.request_keyframe()
            try:
                data = await asyncio.wait_for(waiting, self.keyframe_wait)
            except asyncio.TimeoutError:
                await self._deliver(Sample(pub.user_id, pub.pid, error="no_keyframe"))
                continue
            if self.analyse is not None:
                try:
                    await self._deliver(await self.analyse(pub, data))
                except Exception:  # noqa: BLE001 - one failed analysis must not stop sampling
                    log.exception("analysing a sample of %s failed", pub.pid)
                continue
            try:
                w, h, rgb, worker = await loop.run_in_executor(self.executor, decode_keyframe, pub.mime, data)
                sample = Sample(pub.user_id, pub.pid, w, h, rgb, worker_pid=worker)
            except ValueError as exc:
                sample = Sample(pub.user_id, pub.pid, error=str(exc))
            await self._deliver(sample)

    async def _deliver(self, sample: Any) -> None:
        try:
            result = self.on_sample(sample)
            if asyncio.iscoroutine(result):
                await result
        except Exception:  # the consumer's failure must not stop sampling
            log.exception("attendance sample handler failed")

    def close(self) -> None:
        self.tap.remove()
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
