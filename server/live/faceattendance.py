"""Face attendance in a live room (ATT-1, issue 4 §1/§7): sample, judge, log, tell the staff.

For each lesson's media room on this node, a ``FrameSampler`` takes one keyframe of each student's
camera at random moments; a worker process decodes it and compares the face with the student's
enrolled template (media/faceworker.py). Every result is appended to the lesson event log as
``face_check`` — what attendance is computed from (server/attendance) — and published to the
room's staff (lecturer, assistants, supervisors), whose consoles show each student's state.
Students do not receive other students' checks.

A sample that could not be taken (no keyframe within the wait: camera stalled, network gone) is
logged as verdict ``no_sample``: a check that was due and not passed.

Liveness (media/liveness.py): when a student's first sample in the lesson comes back (sign-in),
at random intervals after that, and when staff ask, the student page is sent a head-turn-and-blink
challenge; the sampler records those seconds of the camera and a worker judges them. Both the
challenge and the verdict (``liveness_challenge``, ``liveness``) go into the log; a failed
challenge is tried once more after ``RETRY_S``.

ATT-7's one study photo per day is the first matching sample of the student's day: the worker
returns that picture, it is stored encrypted with the uploads and logged as ``study_photo``.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing as mp
import os
import random
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import date, datetime, time as dtime
from typing import Any

from starlette.concurrency import run_in_threadpool

from media import faceworker
from media.facecheck import FaceTrack
from media.liveness import REASONS, LivenessSettings, new_challenge
from media.sampler import FrameSampler, Sample
from models import Lesson, LessonEvent, TrainingClass
from server.identity.photos import ProcessedImage
from server.live import eventlog, roomwebhooks
from server.services import CHINA_TZ

log = logging.getLogger("qihang.live")
RETRY_S = 10.0  # a failed liveness challenge is tried once more after this


class FaceAttendance:
    """App-wide: the worker pool and the per-lesson samplers of this node."""

    def __init__(self, svc, hub, node_id: str, *, executor: Executor | None = None,
                 interval: tuple[float, float] = (20.0, 40.0),
                 liveness_every: tuple[float, float] | None = (900.0, 1800.0),
                 liveness: LivenessSettings = LivenessSettings(), liveness_on: bool = True):
        self.svc, self.hub, self.node_id = svc, hub, node_id
        self.liveness_on = liveness_on
        self.interval, self.liveness_every, self.liveness_settings = interval, liveness_every, liveness
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
        self.photo_days: dict[int, date | None] = {}  # user -> the day of their last study photo (ATT-7)
        self.challenging: set[int] = set()  # users with a liveness challenge under way
        self._liveness_tasks: dict[int, asyncio.Task] = {}  # user -> sign-in challenge, then random ones
        self._asked: set[asyncio.Task] = set()  # challenges staff asked for (outlive the asker's socket)
        self.verdicts: dict[int, str | None] = {}  # user -> last face verdict (a webhook on turning to failing)
        self.sampler = FrameSampler(room, self._on_result, None, interval=app.interval, analyse=self._analyse)

    async def _template(self, user_id: int) -> bytes | None:
        if user_id not in self.templates:
            def load() -> bytes | None:
                with self.app.svc.db.session() as s:
                    t = self.app.svc.faces.load(s, user_id)
                return t.astype("<f4").tobytes() if t is not None else None
            self.templates[user_id] = await run_in_threadpool(load)
        return self.templates[user_id]

    async def _wants_photo(self, user_id: int) -> bool:
        """ATT-7: one study photo per student per day — the first matching sample of the day."""
        today = self.app.svc.today()
        if self.photo_days.get(user_id) == today:
            return False
        if user_id not in self.photo_days:  # taken in an earlier lesson today (or on another node)?
            def taken() -> bool:
                midnight = datetime.combine(today, dtime(0), CHINA_TZ)
                with self.app.svc.db.session() as s:
                    return s.query(LessonEvent.id).filter(LessonEvent.kind == "study_photo",
                                                          LessonEvent.user_id == user_id,
                                                          LessonEvent.at >= midnight).first() is not None
            self.photo_days[user_id] = today if await run_in_threadpool(taken) else None
        return self.photo_days[user_id] != today

    async def _save_photo(self, user_id: int, photo: tuple[bytes, int, int], distance) -> None:
        data, width, height = photo
        image = ProcessedImage(data=data, width=width, height=height, sha256=hashlib.sha256(data).hexdigest())

        def save() -> int:
            with self.app.svc.db.session() as s:
                return self.app.svc.files.save_image(s, image, kind="study_photo", owner_user_id=user_id).id
        file_id = await run_in_threadpool(save)
        self.photo_days[user_id] = self.app.svc.today()
        await self._log("study_photo", user_id, {"file_id": file_id, "distance": distance}, "staff")

    async def _analyse(self, pub, data: bytes) -> dict:
        template = await self._template(pub.user_id)
        track = self.tracks.get(pub.user_id) or FaceTrack()
        photo = template is not None and await self._wants_photo(pub.user_id)
        loop = asyncio.get_running_loop()
        result, track = await loop.run_in_executor(self.app.executor, faceworker.check_keyframe, pub.mime, data,
                                                   template, track, time.time(), photo)
        self.tracks[pub.user_id] = track
        self.names[pub.user_id] = pub.display_name
        return {"user_id": pub.user_id, **result}

    async def _on_result(self, result: Any) -> None:
        if isinstance(result, Sample):  # no keyframe came: the check was due and could not be made
            result = {"user_id": result.user_id, "verdict": "no_sample", "faces": 0, "error": result.error}
        user_id = result.pop("user_id")
        photo = result.pop("photo", None)
        payload = {k: v for k, v in result.items() if v not in (None, [], ())}
        if user_id in self.roll_calls:
            payload["roll_call"] = self.roll_calls.pop(user_id)
        await self._log("face_check", user_id, payload, "staff")
        if photo is not None:
            await self._save_photo(user_id, photo, payload.get("distance"))
        if self.app.liveness_on and user_id not in self._liveness_tasks and result.get("verdict") != "no_sample":
            # The first picture of this student in the lesson: sign-in, so a liveness challenge.
            self._liveness_tasks[user_id] = asyncio.ensure_future(self._liveness_loop(user_id))

    async def _log(self, kind: str, user_id: int, payload: dict, audience) -> dict:
        failed = ((kind == "face_check" and roomwebhooks.face_failed(self.verdicts.get(user_id), payload.get("verdict")))
                  or (kind == "liveness" and payload.get("passed") is False))
        if kind == "face_check":
            self.verdicts[user_id] = payload.get("verdict")

        def append() -> dict:
            with self.app.svc.db.session() as s:
                ev = eventlog.append(s, self.lesson_id, kind, user_id=user_id, role="student",
                                     node_id=self.app.node_id, payload=payload, at=self.app.svc.now())
                if failed:  # issue 6 §7: attendance_check_failed, in the same transaction (an outbox)
                    lesson = s.get(Lesson, self.lesson_id)
                    cls = s.get(TrainingClass, lesson.class_id)
                    roomwebhooks.room_event(s, lesson_id=self.lesson_id, class_id=cls.id,
                                            institution_id=cls.institution_id, district_code=cls.district_code,
                                            kind=kind, user_id=user_id, role="student", hidden=False,
                                            display_name=self.names.get(user_id, ""), payload=payload,
                                            event_id=ev.id, now=ev.at)
                return {"id": ev.id, "kind": kind, "at": ev.at.isoformat(), "user_id": user_id,
                        "role": "student", "display_name": self.names.get(user_id, ""), "payload": payload}
        event = await run_in_threadpool(append)
        await self.app.hub.publish(self.lesson_id, {"type": "event", "event": event}, audience)
        return event

    async def _liveness_loop(self, user_id: int) -> None:
        """Sign-in challenge now, then one at a random moment every ``liveness_every``."""
        reason = "sign_in"
        while True:
            try:
                await self.liveness(user_id, reason)
            except Exception:  # noqa: BLE001 - one failed check must not end this student's checks
                log.exception("liveness check of user %s failed", user_id)
            if self.app.liveness_every is None:
                return
            await asyncio.sleep(random.uniform(*self.app.liveness_every))
            reason = "random"

    def start_liveness(self, user_id: int, reason: str, by: int | None = None) -> None:
        task = asyncio.ensure_future(self.liveness(user_id, reason, by))
        self._asked.add(task)
        task.add_done_callback(self._asked.discard)

    async def liveness(self, user_id: int, reason: str, by: int | None = None, attempt: int = 1) -> dict | None:
        """Run one challenge for this student: tell their page, record the clip, judge it, log
        both. None when they have no camera here or a challenge is already under way."""
        if user_id in self.challenging or user_id not in self.sampler.sampling():
            return None
        self.challenging.add(user_id)
        try:
            challenge = new_challenge(self.app.liveness_settings)
            start = {"challenge": challenge.as_dict(), "reason": reason, "attempt": attempt}
            if by is not None:
                start["by"] = by
            await self._log("liveness_challenge", user_id, start, "staff")
            await self.app.hub.publish(self.lesson_id, {"type": "liveness", "challenge": challenge.message()},
                                       {"users": [user_id]})
            clip = await self.sampler.record_clip(user_id, challenge.clip_s)
            if clip is None:
                verdict = {"passed": False, "reasons": ["no_video"], "frames": 0}
            else:
                template = await self._template(user_id)
                loop = asyncio.get_running_loop()
                verdict = await loop.run_in_executor(self.app.executor, faceworker.check_clip, clip[0], clip[1],
                                                     template, challenge.as_dict())
            payload = {"challenge": challenge.id, "reason": reason, "attempt": attempt, **verdict,
                       "reasons_zh": [REASONS.get(r, (r,))[0] for r in verdict["reasons"]]}
            await self._log("liveness", user_id, payload, {"users": [user_id], "staff": True})
        finally:
            self.challenging.discard(user_id)
        if not verdict["passed"] and attempt == 1:
            await asyncio.sleep(RETRY_S)
            return await self.liveness(user_id, "retry", by, attempt=2)
        return payload

    def roll_call(self, roll_call_id: int, user_ids) -> set[int]:
        """ATT-8: check these students now; their results carry ``roll_call``. Returns who had a
        camera to check."""
        found = self.sampler.sample_now(user_ids)
        for uid in found:
            self.roll_calls[uid] = roll_call_id
        return found

    def close(self) -> None:
        for task in [*self._liveness_tasks.values(), *self._asked]:
            task.cancel()
        self._liveness_tasks.clear()
        self.sampler.close()
