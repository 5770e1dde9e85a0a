"""What a face-check worker process runs: decode one sampled keyframe and judge it (ATT-1).

Called through a process pool (one worker per core), never on the SFU's event loop. Each worker
loads the models once (``FaceChecker``, ~0.5 s) and keeps one decoder per codec (media/sampler.py).
The caller keeps each student's ``FaceTrack`` and passes it in and back: workers hold no student
state, so any worker can take any sample.
"""
from __future__ import annotations

import threading

import numpy as np

from media.facecheck import FaceChecker, FaceTrack
from media.sampler import decode_keyframe

_CHECKER: FaceChecker | None = None
_LOCK = threading.RLock()  # the decoders, cv2.dnn nets and dlib models are not thread-safe: one at a time


def _checker() -> FaceChecker:
    global _CHECKER  # one per worker process: loading the models per sample would cost 0.5 s each
    if _CHECKER is None:
        _CHECKER = FaceChecker()
    return _CHECKER


def check_keyframe(mime: str, data: bytes, template: bytes | None, track: FaceTrack,
                   now: float) -> tuple[dict, FaceTrack]:
    """(result, updated track). ``template``: the enrolled descriptor as little-endian float32
    bytes, or None. An undecodable picture gives the verdict ``undecodable``."""
    with _LOCK:  # a process pool runs one task at a time anyway; a thread pool (tests) would not
        try:
            width, height, rgb, _ = decode_keyframe(mime, data)
        except ValueError as exc:
            return {"verdict": "undecodable", "faces": 0, "error": str(exc)[:200]}, track
        frame = np.frombuffer(rgb, np.uint8).reshape(height, width, 3)
        tmpl = np.frombuffer(template, dtype="<f4") if template else None
        result = _checker().check(frame, tmpl, track, now)
    return result.as_dict(), track
