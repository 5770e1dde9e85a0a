"""FaceMesh: MediaPipe's 468-point face landmark model run through OpenCV, for liveness (ATT-1).

The model takes a 192×192 RGB crop in [0, 1] of a face that is upright and centred (MediaPipe
crops the detector's box, enlarged 1.5×, rotated so the eyes are level) and returns 468 points
(x, y in crop pixels, z relative depth in the same scale) and a face-presence logit. We map the
points back to the frame and derive the two signals liveness needs: the head's yaw (turn left or
right) and each eye's aspect ratio (blink). ~1.5 ms a face on one core, after detection.

Yaw is measured from the 2-D layout of the points, not from the model's z: the nose tip's place
between the two cheek contours. A flat photo turned in front of the camera squeezes the whole
face evenly, so the nose stays midway and the yaw stays near zero; a real head turn moves the nose
towards one cheek (see media/liveness.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from media import facemodels
from media.facedetector import Face

INPUT = 192
ROI_SCALE = 1.5  # MediaPipe's face_landmark ROI: the detection box enlarged 1.5×, square
MIN_PRESENCE = 0.5

# Mesh indices (MediaPipe's canonical face mesh). "Right"/"left" are the person's own sides.
NOSE_TIP = 1
CHEEK_RIGHT, CHEEK_LEFT = 234, 454  # contour points level with the eyes
# Eye aspect ratio (Soukupová & Čech 2016) on six points per eye: corners, two upper, two lower.
EYE_RIGHT = (33, 133, 160, 158, 144, 153)  # outer, inner, upper1, upper2, lower1, lower2
EYE_LEFT = (263, 362, 387, 385, 373, 380)
# Nose protrusion against half the face width at the cheek points, for the yaw estimate below
# (a head modelled as nose tip d in front of two cheek points ±w: tan(yaw) = (2r - 1) · w / d).
WIDTH_OVER_DEPTH = 1.4


@dataclass(frozen=True)
class Mesh:
    """The 468 points of one face in frame pixels (x, y; z in the same scale), and what liveness reads."""
    points: np.ndarray  # (468, 3)
    presence: float

    @property
    def yaw(self) -> float:
        """Degrees, positive when the person turns to their left (the nose moves to the frame's
        right in an unmirrored camera picture), from the nose's place between the cheeks."""
        p = self.points
        x_r, x_l, x_n = p[CHEEK_RIGHT, 0], p[CHEEK_LEFT, 0], p[NOSE_TIP, 0]
        span = x_l - x_r
        if abs(span) < 1e-6:
            return 0.0
        r = (x_n - x_r) / span  # 0.5 when frontal
        return math.degrees(math.atan((2 * r - 1) * WIDTH_OVER_DEPTH))

    @property
    def ear(self) -> float:
        """Mean eye aspect ratio of both eyes: ~0.25–0.35 open, below ~0.15 closed."""
        return (_ear(self.points, EYE_RIGHT) + _ear(self.points, EYE_LEFT)) / 2

    @property
    def width(self) -> float:
        return float(np.linalg.norm(self.points[CHEEK_LEFT, :2] - self.points[CHEEK_RIGHT, :2]))


def _ear(p: np.ndarray, eye: tuple[int, ...]) -> float:
    outer, inner, u1, u2, l1, l2 = (p[i, :2] for i in eye)
    horizontal = float(np.linalg.norm(outer - inner))
    if horizontal < 1e-6:
        return 0.0
    return float(np.linalg.norm(u1 - l1) + np.linalg.norm(u2 - l2)) / (2 * horizontal)


class FaceMesh:
    def __init__(self):
        self.net = cv2.dnn.readNetFromTFLite(str(facemodels.tflite_path("face_landmark")))
        self._outputs = self.net.getUnconnectedOutLayersNames()

    def landmarks(self, rgb: np.ndarray, face: Face) -> Mesh | None:
        """The mesh of ``face`` (from FaceDetector) in an RGB frame, or None when the model sees
        no face in the crop."""
        matrix = roi_matrix(face)
        crop = cv2.warpAffine(rgb, matrix, (INPUT, INPUT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        blob = (crop.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]  # NCHW, [0, 1]
        self.net.setInput(blob)
        outs = self.net.forward(self._outputs)
        points = presence = None
        for o in outs:
            a = np.asarray(o, dtype=np.float32).reshape(-1)
            if a.size == 468 * 3:
                points = a.reshape(468, 3)
            elif a.size == 1:
                presence = 1.0 / (1.0 + math.exp(-float(np.clip(a[0], -50, 50))))
        if points is None or presence is None:
            raise RuntimeError("unexpected face mesh outputs")
        if presence < MIN_PRESENCE:
            return None
        inverse = cv2.invertAffineTransform(matrix)
        xy = points[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        scale = float(np.hypot(*inverse[:, 0]))  # crop pixel -> frame pixel, for z too
        return Mesh(np.column_stack([xy, points[:, 2] * scale]), presence)


def roi_matrix(face: Face) -> np.ndarray:
    """The affine map from frame to the 192×192 crop: the box centre, side ×1.5, rotated so the
    eyes (detector keypoints 0 and 1: the person's right and left eye) lie level."""
    x0, y0, x1, y1 = face.box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = max(x1 - x0, y1 - y0) * ROI_SCALE
    (rx, ry), (lx, ly) = face.keypoints[0], face.keypoints[1]
    angle = math.degrees(math.atan2(ly - ry, lx - rx))  # eyes' tilt in the frame
    m = cv2.getRotationMatrix2D((cx, cy), angle, INPUT / side)
    m[0, 2] += INPUT / 2 - cx
    m[1, 2] += INPUT / 2 - cy
    return m
