"""One still photo judged against a student's enrolled face (ATT-6 offline sign-in).

The live room samples cameras in worker processes (server/live/faceattendance.py); a sign-in is a
single photo posted over HTTP, judged in the request's worker thread by the same ``FaceChecker``
(media/facecheck.py: verdicts absent / several / poor_quality / match / mismatch / no_template).
The checker is made on first use (its models take ~0.5 s to load) and shared by the app's threads
under a lock: the cv2.dnn nets and dlib models are not thread-safe, and one check takes ~0.1 s.
"""
from __future__ import annotations

import threading
import time

import numpy as np

_checker = None
_lock = threading.Lock()


def _get_checker():
    global _checker  # one per process: loading the models per photo would cost 0.5 s each
    if _checker is None:
        from media.facecheck import FaceChecker  # heavy (OpenCV, dlib): only when a photo arrives
        _checker = FaceChecker()
    return _checker


def check_photo(jpeg: bytes, template: np.ndarray | None) -> dict:
    """The verdict for one (already validated, re-encoded) JPEG: ``CheckResult.as_dict()``, or the
    verdict ``undecodable``. A fresh track each time, so the face is always embedded and compared."""
    import cv2

    from media.facecheck import FaceTrack
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.shape[0] < 16 or bgr.shape[1] < 16:
        return {"verdict": "undecodable", "faces": 0, "distance": None}
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    with _lock:
        return _get_checker().check(rgb, template, FaceTrack(), time.time()).as_dict()
