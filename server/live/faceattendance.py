"""Face attendance in a live room (ATT-1, issue 4 §1/§7): sample, judge, log, tell the staff.

For each lesson's media room on this node, a ``FrameSampler`` takes one keyframe of each student's
camera at random moments; a worker process decodes it and compares the face with the student's
enrolled template (media/faceworker.py). Every result is appended to the lesson event log as
``face_check`` — what attendance is computed from (server/attendance) — and published to the
room's staff (lecturer, assistants, supervisors), whose consoles show each student's state.
Students do not receive other students' checks.

A sample that could not be taken (no keyframe within the wait: camera stalled, network gone) is
logged as verdict ``no_sample``: a check that was due and not passed.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

from starlette.concurrency import run_in_threadpool

from media import faceworker
from media.facecheck import FaceTrack
from media.sampler import FrameSampler, Sample
from server.live import eventlog

log = logging.getLogger("qihang.live")


class FaceAttendance:
    """App-wide: the worker pool and the per-lesson samplers of this node."""

    def __init__(self, svc, hub, node_id: str, *, executor: Executor | None = None,
                 interval: tuple[float, float] = (20.0, 40.0)):
        self.svc, self.hub, self.node_id = svc, hub, node_id
        self.interval = interval
        self._executor = executor
        self._own_executor = executor is None
        self.lessons: dict[int, LessonFaceAttendance] = {}

    @property
    def executor(self) -> Executor:
        if self._executor is None:  # spawn: forking a process that runs aiortc's threads is unsafe
            self._executor = ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=mp.get_context("spawn"))
        return self._executor

    def attach(self, lesson_id: int, room) -> "LessonFaceAttendance":
        lesson = LessonFaceAttendance(self, lesson_id, room)
        self.lessons[lesson_id] = lesson
        return lesson

    def detach(self, lesson_id: int) -> None:
        lesson = self.lessons.pop(lesson_id, None)
        if lesson is not None:
            lesson.close()

    def close(self) -> None:
        for lesson_id in list(self.lessons):
            self.detach(lesson_id)
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


class LessonFaceAttendance:
    def __init__(self, app: FaceAttendance, lesson_id: int, room):
        self.app, self.lesson_id = app, lesson_id
        self.tracks: dict[int, FaceTrack] = {}
        self.templates: dict[int, bytes | None] = {}
        self.names: dict[int, str] = {}
        self.roll_calls: dict[int, int] = {}  # user -> the roll call (event id) their next sample answers
        self.sampler = FrameSampler(room, self._on_result, None, interval=app.interval, analyse=self._analyse)

    async def _template(self, user_id: int) -> bytes | None:
        if user_id not in self.templates:
            def load() -> bytes | None:
                with self.app.svc.db.session() as s:
                    t = self.app.svc.faces.load(s, user_id)
                return t.astype("<f4").tobytes() if t is not None else None
            self.templates[user_id] = await run_in_threadpool(load)
        return self.templates[user_id]

    async def _analyse(self, pub, data: bytes) -> dict:
        template = await self._template(pub.user_id)
        track = self.tracks.get(pub.user_id) or FaceTrack()
        loop = asyncio.get_running_loop()
        result, track = await loop.run_in_executor(self.app.executor, faceworker.check_keyframe, pub.mime, data,
                                                   template, track, time.time())
        self.tracks[pub.user_id] = track
        self.names[pub.user_id] = pub.display_name
        return {"user_id": pub.user_id, **result}

    async def _on_result(self, result: Any) -> None:
        if isinstance(result, Sample):  # no keyframe came: the check was due and could not be made
            result = {"user_id": result.user_id, "verdict": "no_sample", "faces": 0, "error": result.error}
        user_id = result.pop("user_id")
        payload = {k: v for k, v in result.items() if v not in (None, [], ())}
        if user_id in self.roll_calls:
            payload["roll_call"] = self.roll_calls.pop(user_id)

        def append() -> dict:
            with self.app.svc.db.session() as s:
                ev = eventlog.append(s, self.lesson_id, "face_check", user_id=user_id, role="student",
                                     node_id=self.app.node_id, payload=payload, at=self.app.svc.now())
                return {"id": ev.id, "kind": "face_check", "at": ev.at.isoformat(), "user_id": user_id,
                        "role": "student", "display_name": self.names.get(user_id, ""), "payload": payload}
        event = await run_in_threadpool(append)
        await self.app.hub.publish(self.lesson_id, {"type": "event", "event": event}, "staff")

    def roll_call(self, roll_call_id: int, user_ids) -> set[int]:
        """ATT-8: check these students now; their results carry ``roll_call``. Returns who had a
        camera to check."""
        found = self.sampler.sample_now(user_ids)
        for uid in found:
            self.roll_calls[uid] = roll_call_id
        return found

    def close(self) -> None:
        self.sampler.close()
