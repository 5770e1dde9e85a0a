"""Liveness by upload, for the pages that have no live stream to sample (ATT-1, ATT-5, ATT-6).

In a live room the SFU records the challenge from the student's stream (server/live/
faceattendance.py). The offline sign-in page and the recorded-study page have no stream, so the
page asks for a challenge, records the student doing it with the browser's MediaRecorder (starting
when it shows the prompt: time 0 of the clip is the prompt) and uploads the clip; the same judge
(media/clipcheck.py) decides. A challenge is the student's own, single-use, and expires after
``EXPIRES_S``: a clip recorded for another challenge, or earlier, does not answer it. Both the
challenge and the verdict are lesson events (``liveness_challenge``, ``liveness``, ``via: upload``),
so the offline sign-in can require a recent pass (server/api/offlinesignin.py).
"""
from __future__ import annotations

import io
import threading
from datetime import timedelta

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from models import Enrolment, Lesson
from server.api.endpoint import Api, Ctx, Upload
from server.errors import ApiError, Forbidden, NotFound
from server.live import eventlog
from server.live.bus import default_node_id

api = Api()
RULE = "ATT-1"
NODE_ID = f"api:{default_node_id()}"
EXPIRES_S = 120  # from the challenge to its clip's upload
MAX_CLIP_BYTES = 10 * 1024 * 1024
MAX_CLIP_S = 20.0
FRAME_WIDTH = 320  # clips are judged at the live stream's size: the cost stays that of a live check
FIELDS = {"clip": "按提示录制的视频（WebM/MP4，≤10 MB） The clip recorded while doing the challenge (WebM/MP4, ≤ 10 MB)"}
_lock = threading.Lock()
_clips = None


def _checker():
    """One ClipChecker per process, sharing the photo checker's models and lock (not thread-safe)."""
    global _clips
    from media.clipcheck import ClipChecker
    from server.identity import facephoto
    if _clips is None:
        _clips = ClipChecker(facephoto._get_checker())
    return _clips, facephoto._lock


def _roster_lesson(ctx: Ctx, lesson_id: int) -> Lesson:
    lesson = ctx.s.get(Lesson, lesson_id)
    if lesson is None:
        raise NotFound("课次", "lesson")
    enrolled = ctx.s.scalars(select(Enrolment.id).filter_by(class_id=lesson.class_id, student_user_id=ctx.user.id,
                                                            status="enrolled")).first()
    if enrolled is None:
        raise Forbidden("NOT_ON_ROSTER", "你不在本班花名册中", "You are not on this class's roster", rule=RULE)
    return lesson


class ChallengeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Literal["sign_in", "study", "retry"] = "sign_in"


@api.route("POST", "/api/lessons/{lesson_id:int}/liveness", summary="活体检测题目 New liveness challenge",
           tag="attendance", roles=("student",), body=ChallengeBody)
def new_challenge(ctx: Ctx, body: ChallengeBody, lesson_id: int):
    """A random head turn + blink for this student, to record and upload within EXPIRES_S."""
    from media.liveness import new_challenge as make
    lesson = _roster_lesson(ctx, lesson_id)
    reason = body.reason
    challenge = make()
    eventlog.append(ctx.s, lesson.id, "liveness_challenge", user_id=ctx.user.id, role="student", node_id=NODE_ID,
                    payload={"challenge": challenge.as_dict(), "reason": reason, "via": "upload"}, at=ctx.now)
    return {"challenge": challenge.message(), "expires_in": EXPIRES_S}


def decode_clip(data: bytes) -> list[tuple[float, np.ndarray]]:
    """(seconds from the clip's first frame, RGB) of an uploaded WebM/MP4, scaled to the live
    stream's width; ValueError when it is not a readable video."""
    import av
    frames: list[tuple[float, np.ndarray]] = []
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video:
                raise ValueError("no video track")
            stream = container.streams.video[0]
            first = None
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else len(frames) / 15
                first = t if first is None else first
                if t - first > MAX_CLIP_S:
                    break
                if frame.width > FRAME_WIDTH:
                    frame = frame.reformat(width=FRAME_WIDTH, height=round(frame.height * FRAME_WIDTH / frame.width))
                frames.append((t - first, frame.to_ndarray(format="rgb24")))
    except av.FFmpegError as exc:
        raise ValueError(str(exc)) from None
    if not frames:
        raise ValueError("no frames")
    return frames


@api.route("POST", "/api/lessons/{lesson_id:int}/liveness/{challenge_id}", summary="提交活体检测视频 Answer a liveness "
           "challenge", tag="attendance", roles=("student",), body="multipart", multipart_fields=FIELDS)
def answer_challenge(ctx: Ctx, form: dict, lesson_id: int, challenge_id: str):
    """Judge the uploaded clip against the challenge; the verdict is recorded and returned (200
    whether passed or not: the answer is the verdict)."""
    from media.liveness import REASONS, Challenge
    lesson = _roster_lesson(ctx, lesson_id)
    events = eventlog.events(ctx.s, lesson.id, kinds=["liveness_challenge", "liveness"], limit=None)
    asked = next((e for e in events if e.kind == "liveness_challenge" and e.user_id == ctx.user.id
                  and (e.payload or {}).get("challenge", {}).get("id") == challenge_id), None)
    if asked is None:
        raise NotFound("活体检测题目", "liveness challenge")
    if any(e.kind == "liveness" and (e.payload or {}).get("challenge") == challenge_id for e in events):
        raise ApiError("CHALLENGE_USED", "该活体检测题目已作答，请重新获取", "This challenge has been answered; ask for a new one",
                       field="challenge_id", rule=RULE, status=409)
    if ctx.now - asked.at > timedelta(seconds=EXPIRES_S):
        raise ApiError("CHALLENGE_EXPIRED", "活体检测题目已过期，请重新获取", "This challenge has expired; ask for a new one",
                       field="challenge_id", rule=RULE, status=409)
    clip = form.get("clip")
    if not isinstance(clip, Upload) or not clip.data:
        raise ApiError("VALIDATION_FAILED", "缺少活体检测视频", "Missing the liveness clip", field="clip", rule="missing",
                       status=422)
    if len(clip.data) > MAX_CLIP_BYTES:
        raise ApiError("CLIP_TOO_LARGE", "视频过大（上限 10 MB）", "The clip is larger than 10 MB", field="clip", rule=RULE,
                       status=413)
    try:
        frames = decode_clip(clip.data)
    except ValueError as exc:
        raise ApiError("CLIP_UNREADABLE", "无法读取该视频，请重新录制", f"The clip cannot be read ({exc}); record it again",
                       field="clip", rule=RULE, status=422) from None
    template = ctx.svc.faces.load(ctx.s, ctx.user.id)
    checker, lock = _checker()
    with lock:
        verdict = checker.check(frames, Challenge.from_dict(asked.payload["challenge"]), template)
    payload = {"challenge": challenge_id, "reason": asked.payload.get("reason"), "attempt": 1, "via": "upload",
               **verdict, "reasons_zh": [REASONS.get(r, (r,))[0] for r in verdict["reasons"]]}
    ev = eventlog.append(ctx.s, lesson.id, "liveness", user_id=ctx.user.id, role="student", node_id=NODE_ID,
                         payload=payload, at=ctx.now)
    return dict(payload, event_id=ev.id, reasons_en=[REASONS.get(r, (r, r))[1] for r in verdict["reasons"]])


def recent_pass(events, user_id: int, now, within: timedelta) -> bool:
    """Has the student passed a liveness challenge in this lesson within ``within`` before now?"""
    return any(e.kind == "liveness" and e.user_id == user_id and (e.payload or {}).get("passed")
               and timedelta(0) <= now - e.at <= within for e in events)
