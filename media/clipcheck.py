"""ClipCheck: a liveness challenge's few seconds of camera judged — alive, and the right person.

Every frame is measured (one face? its yaw and eye ratio, media/facemesh.py) and the sequence goes
to the judge (media/liveness.py). Liveness without identity would let a live stand-in pass, so
the most frontal open-eyed frame is also compared with the enrolled template (one embedding).
To save work the face box of the previous frame seeds the next mesh, as MediaPipe's tracker
does; detection runs again every ``redetect`` frames and whenever the mesh loses the face.
"""
from __future__ import annotations

import numpy as np

from media.facecheck import MATCH, MISMATCH, NO_TEMPLATE, FaceChecker
from media.facedetector import Face
from media.faceembedder import distance
from media.facemesh import FaceMesh, Mesh
from media.liveness import Challenge, LivenessSettings, Observation, judge


class ClipChecker:
    def __init__(self, checker: FaceChecker | None = None, mesh: FaceMesh | None = None,
                 settings: LivenessSettings = LivenessSettings(), redetect: int = 5):
        self.checker = checker or FaceChecker()
        self.mesh = mesh or FaceMesh()
        self.settings, self.redetect = settings, redetect

    def check(self, frames: list[tuple[float, np.ndarray]], challenge: Challenge,
              template: np.ndarray | None) -> dict:
        """``frames``: (seconds after the prompt, RGB frame). Returns the liveness verdict and the
        identity verdict of the best frame: {"passed", "reasons", ..., "identity", "distance"}."""
        seen: list[Observation] = []
        best: tuple[float, np.ndarray, Face] | None = None  # (|yaw| + closed-eye penalty, frame, face)
        face: Face | None = None
        for i, (t, rgb) in enumerate(frames):
            faces = None
            if face is None or i % self.redetect == 0:
                faces = self.checker.detector.detect(rgb)
                if len(faces) != 1:
                    seen.append(Observation(t, len(faces)))
                    face = None
                    continue
                face = faces[0]
            mesh = self.mesh.landmarks(rgb, face)
            if mesh is None:
                seen.append(Observation(t, 0))
                face = None
                continue
            seen.append(Observation(t, 1, mesh.yaw, mesh.ear))
            face = _face_of(mesh, face)
            score = abs(mesh.yaw) - 100 * mesh.ear
            if faces is not None and (best is None or score < best[0]):
                best = (score, rgb, faces[0])
        verdict = judge(challenge, seen, self.settings).as_dict()
        verdict["identity"], verdict["distance"] = self._identity(best, template)
        if verdict["identity"] == MISMATCH:
            verdict["passed"] = False
            verdict["reasons"].append("mismatch")
        return verdict

    def _identity(self, best, template) -> tuple[str | None, float | None]:
        if best is None:
            return None, None
        if template is None:
            return NO_TEMPLATE, None
        d = distance(self.checker.embedder.embed(best[1], best[2]), template)
        return (MATCH if d <= self.checker.settings.match_distance else MISMATCH), round(d, 3)


def _face_of(mesh: Mesh, previous: Face) -> Face:
    """A detector-like box and eye keypoints from the mesh, to crop the next frame (the box is the
    mesh's extent shrunk to the detector's usual framing)."""
    p = mesh.points
    x0, y0 = p[:, 0].min(), p[:, 1].min()
    x1, y1 = p[:, 0].max(), p[:, 1].max()
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * 0.9
    right_eye = tuple(p[[33, 133], :2].mean(0))
    left_eye = tuple(p[[263, 362], :2].mean(0))
    return Face((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2), previous.score,
                (right_eye, left_eye) + previous.keypoints[2:])
