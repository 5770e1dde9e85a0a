"""FaceCheck: one sampled frame of a student's camera judged against the enrolled template.

Verdicts (ATT-1/2, PLAT-1): ``absent`` (no face), ``several`` (more than one face: someone may be
helping or sitting in), ``poor_quality`` (a face too small, blurred, dark or bright to compare),
``match`` / ``mismatch`` (one face, compared with the template), ``no_template`` (nothing enrolled
to compare with). Detection runs on every sample (~3 ms); the 128-d embedding (~100 ms) only when
it can change the answer (../shared/notes/face-pipeline.md: 5–8 % of 2 cores for 200 students
instead of 36 %): on a student's first sample, when the face count or the face's place changed,
when several faces appear, after anything but a match, and at least every ``reembed_s``.

Enrolment (REG, ATT-2): the 1-inch reference photo, and once the ID-card photo, give the
template; a photo with no face or several faces is refused (``EnrolmentError``).

Threshold: dlib's descriptor separates people at 0.6 on LFW (mostly non-Asian faces); its
maintainer advises 0.5 for East-Asian faces, where 0.6 gave about one wrong match in ten, and
deployments in China report 0.40–0.50. The default 0.45 sits between the same-person distances
measured here (0.11–0.41 across framing, lighting and different photos) and different people
(≥ 0.67); it is a region setting, and bench/RESULTS.md has the false accept/reject counts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from media.facedetector import Face, FaceDetector
from media.faceembedder import FaceEmbedder, distance
from media.facequality import QualitySettings, problems

ABSENT, SEVERAL, POOR, MATCH, MISMATCH, NO_TEMPLATE = (
    "absent", "several", "poor_quality", "match", "mismatch", "no_template")


PROBLEMS_ZH = {"too_small": "人脸过小", "blurry": "模糊", "too_dark": "过暗", "too_bright": "过亮"}


@dataclass(frozen=True)
class FaceSettings:
    match_distance: float = 0.45
    reembed_s: float = 300.0  # at least every 5 minutes, whatever else
    moved_iou: float = 0.5  # the face box overlaps its last place less than this: embed again
    quality: QualitySettings = QualitySettings()


@dataclass(frozen=True)
class CheckResult:
    verdict: str
    faces: int
    distance: float | None = None  # set when this sample was embedded
    embedded: bool = False
    problems: tuple[str, ...] = ()
    box: tuple[float, float, float, float] | None = None
    score: float | None = None

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "faces": self.faces, "distance": self.distance,
                "embedded": self.embedded, "problems": list(self.problems),
                "box": [round(v, 1) for v in self.box] if self.box else None,
                "score": round(self.score, 3) if self.score is not None else None}


@dataclass
class FaceTrack:
    """What the checker remembers of one student between samples (kept by the caller)."""
    faces: int | None = None
    box: tuple[float, float, float, float] | None = None
    verdict: str | None = None
    distance: float | None = None
    embedded_at: float | None = None
    history: list[str] = field(default_factory=list)


class EnrolmentError(ValueError):
    """A reference photo that cannot give a template; ``code`` names the rule broken."""

    def __init__(self, code: str, message_zh: str, message_en: str):
        super().__init__(message_en)
        self.code, self.message_zh, self.message_en = code, message_zh, message_en


class FaceChecker:
    def __init__(self, settings: FaceSettings = FaceSettings(), *, detector: FaceDetector | None = None,
                 embedder: FaceEmbedder | None = None):
        self.settings = settings
        self.detector = detector or FaceDetector()
        self._embedder = embedder

    @property
    def embedder(self) -> FaceEmbedder:
        if self._embedder is None:
            self._embedder = FaceEmbedder()
        return self._embedder

    def enrol(self, rgb: np.ndarray) -> np.ndarray:
        """The template (128 floats) from a reference photo with exactly one good face."""
        faces = self.detector.detect(_rgb(rgb))
        if not faces:
            raise EnrolmentError("NO_FACE", "照片中未检测到人脸", "no face was found in the photo")
        if len(faces) > 1:
            raise EnrolmentError("SEVERAL_FACES", "照片中有多张人脸，请使用本人单人照片",
                                 "the photo shows several faces; use a photo of the student alone")
        bad = problems(rgb, faces[0], self.settings.quality)
        if bad:
            raise EnrolmentError("POOR_QUALITY", "照片中人脸不清晰（" + "、".join(PROBLEMS_ZH.get(b, b) for b in bad) + "）",
                                 "the face in the photo is not clear enough (" + ", ".join(bad) + ")")
        return self.embedder.embed(rgb, faces[0])

    def check(self, rgb: np.ndarray, template: np.ndarray | None, track: FaceTrack, now: float) -> CheckResult:
        """Judge one frame; ``track`` is updated (the caller keeps one per student)."""
        rgb = _rgb(rgb)
        faces = self.detector.detect(rgb)
        result = self._judge(rgb, faces, template, track, now)
        track.faces = len(faces)
        track.box = faces[0].box if faces else None
        track.verdict = result.verdict
        if result.embedded:
            track.embedded_at, track.distance = now, result.distance
        track.history = (track.history + [result.verdict])[-20:]
        return result

    def _judge(self, rgb, faces: list[Face], template, track: FaceTrack, now: float) -> CheckResult:
        if not faces:
            return CheckResult(ABSENT, 0)
        face = faces[0]
        base = {"faces": len(faces), "box": face.box, "score": face.score}
        if len(faces) > 1:
            # Who is in front? Embed the biggest face: a mismatch there is worth recording too.
            big = max(faces, key=lambda f: f.width * f.height)
            dist = self._distance(rgb, big, template)
            return CheckResult(SEVERAL, distance=dist, embedded=dist is not None, **base)
        bad = problems(rgb, face, self.settings.quality)
        if bad:
            return CheckResult(POOR, problems=tuple(bad), **base)
        if template is None:
            return CheckResult(NO_TEMPLATE, **base)
        if not self._needs_embedding(face, track, now):
            return CheckResult(MATCH, distance=None, embedded=False, **base)
        dist = self._distance(rgb, face, template)
        return CheckResult(MATCH if dist <= self.settings.match_distance else MISMATCH, distance=dist,
                           embedded=True, **base)

    def _needs_embedding(self, face: Face, track: FaceTrack, now: float) -> bool:
        if track.verdict != MATCH or track.faces != 1 or track.box is None or track.embedded_at is None:
            return True  # first sample, or the last one was anything but a clean match
        if now - track.embedded_at >= self.settings.reembed_s:
            return True
        return _iou(face.box, track.box) < self.settings.moved_iou

    def _distance(self, rgb, face: Face, template) -> float | None:
        if template is None:
            return None
        return distance(self.embedder.embed(rgb, face), template)


def _rgb(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 \
            or image.shape[0] < 16 or image.shape[1] < 16:
        raise ValueError("expected an RGB uint8 frame of at least 16×16 pixels")
    return image


def _iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
