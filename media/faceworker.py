"""What a face-check worker process runs: decode one sampled keyframe and judge it (ATT-1), or
decode a liveness challenge's clip and judge that (media/clipcheck.py).

Called through a process pool (one worker per core), never on the SFU's event loop. Each worker
loads the models once (``FaceChecker``, ~0.5 s) and keeps one decoder per codec (media/sampler.py).
The caller keeps each student's ``FaceTrack`` and passes it in and back: workers hold no student
state, so any worker can take any sample.
"""
from __future__ import annotations

import threading

import numpy as np

from media.clipcheck import ClipChecker
from media.facecheck import FaceChecker, FaceTrack
from media.liveness import Challenge
from media.sampler import decode_clip, decode_keyframe

_CHECKER: FaceChecker | None = None
_CLIPS: ClipChecker | None = None
_LOCK = threading.RLock()  # the decoders, cv2.dnn nets and dlib models are not thread-safe: one at a time


def _checker() -> FaceChecker:
    global _CHECKER  # one per worker process: loading the models per sample would cost 0.5 s each
    if _CHECKER is None:
        _CHECKER = FaceChecker()
    return _CHECKER


def check_keyframe(mime: str, data: bytes, template: bytes | None, track: FaceTrack,
                   now: float, photo: bool = False) -> tuple[dict, FaceTrack]:
    """(result, updated track). ``template``: the enrolled descriptor as little-endian float32
    bytes, or None. An undecodable picture gives the verdict ``undecodable``. ``photo``: when the
    face matches, also return the picture as JPEG (``photo``: the day's study photo, ATT-7)."""
    with _LOCK:  # a process pool runs one task at a time anyway; a thread pool (tests) would not
        try:
            width, height, rgb, _ = decode_keyframe(mime, data)
        except ValueError as exc:
            return {"verdict": "undecodable", "faces": 0, "error": str(exc)[:200]}, track
        frame = np.frombuffer(rgb, np.uint8).reshape(height, width, 3)
        tmpl = np.frombuffer(template, dtype="<f4") if template else None
        result = _checker().check(frame, tmpl, track, now).as_dict()
        if photo and result["verdict"] == "match":
            import cv2
            ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
            if ok:
                result["photo"] = (jpeg.tobytes(), width, height)
    return result, track


def check_clip(mime: str, frames: list[tuple[float, bytes]], template: bytes | None, challenge: dict) -> dict:
    """Judge a liveness challenge (media/liveness.py) from the clip the sampler recorded:
    decode every frame, measure, judge, and compare the best frame with the template."""
    global _CLIPS
    with _LOCK:
        if _CLIPS is None:
            _CLIPS = ClipChecker(_checker())
        pictures = decode_clip(mime, frames)
        tmpl = np.frombuffer(template, dtype="<f4") if template else None
        return _CLIPS.check(pictures, Challenge.from_dict(challenge), tmpl)
