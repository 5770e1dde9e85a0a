"""Face quality gate: is this face good enough to compare with the enrolled template?

A verdict "mismatch" must mean "another person", not "a blurred, dark or tiny face", so a frame
that fails here is reported as ``poor_quality`` (with its reasons) and not compared. Measured on
the packaged test faces at 320×240 (bench/RESULTS.md): sharpness — the variance of the Laplacian
of the face scaled to 96×96 — is 350–1 400 on sharp faces, 50–240 at a 5-pixel Gaussian blur,
14–32 at 15 pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from media.facedetector import Face


@dataclass(frozen=True)
class QualitySettings:
    min_face_px: int = 40  # face box width in pixels: below, dlib's alignment degrades
    min_sharpness: float = 25.0
    min_brightness: float = 40.0  # mean grey level of the face, 0–255
    max_brightness: float = 225.0


def measure(rgb: np.ndarray, face: Face) -> dict[str, float]:
    x0, y0, x1, y1 = (int(round(v)) for v in face.box)
    crop = rgb[max(0, y0):max(y0 + 1, y1), max(0, x0):max(x0 + 1, x1)]
    if crop.size == 0:
        return {"face_px": 0.0, "sharpness": 0.0, "brightness": 0.0}
    grey = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), (96, 96), interpolation=cv2.INTER_AREA)
    return {"face_px": float(face.width), "sharpness": float(cv2.Laplacian(grey, cv2.CV_64F).var()),
            "brightness": float(grey.mean())}


def problems(rgb: np.ndarray, face: Face, settings: QualitySettings = QualitySettings()) -> list[str]:
    """Empty when the face passes; else the reasons: too_small, blurry, too_dark, too_bright."""
    m = measure(rgb, face)
    out = []
    if m["face_px"] < settings.min_face_px:
        out.append("too_small")
    if m["sharpness"] < settings.min_sharpness:
        out.append("blurry")
    if m["brightness"] < settings.min_brightness:
        out.append("too_dark")
    elif m["brightness"] > settings.max_brightness:
        out.append("too_bright")
    return out
