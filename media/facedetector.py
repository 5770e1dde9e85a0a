"""FaceDetector: MediaPipe's BlazeFace (short range) run through OpenCV's TFLite importer.

BlazeFace takes a 128×128 RGB picture scaled to [-1, 1] and scores 896 fixed anchors (a 16×16 grid
with 2 anchors per cell, then an 8×8 grid with 6); each anchor regresses a box and six keypoints
(eyes, nose, mouth, ears). Decoding and the weighted non-maximum suppression follow MediaPipe's
``face_detection_short_range`` graph. ~2.5 ms a frame on one core here, whatever the frame size
(see ../shared/notes/face-pipeline.md); the weights come from media/facemodels.py. The short-range
model is made for selfie framing (a face within ~2 m of the camera): faces smaller than about a
tenth of the frame's longer side may be missed, which is what a phone held by the student gives.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from media import facemodels

INPUT = 128
MIN_SCORE = 0.5  # MediaPipe's min_score_thresh for this model
NMS_IOU = 0.3  # MediaPipe's min_suppression_threshold


def _anchors() -> np.ndarray:
    """(896, 2) anchor centres in [0, 1]: SSD anchors with strides 8, 16, 16, 16 (the three 16s
    share one 8×8 grid, so 6 anchors per cell there), fixed size 1, offset 0.5."""
    centres = []
    for grid, per_cell in ((16, 2), (8, 6)):
        for y in range(grid):
            for x in range(grid):
                centres += [((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell
    return np.asarray(centres, dtype=np.float32)


ANCHORS = _anchors()


@dataclass(frozen=True)
class Face:
    """A detected face in pixels of the frame: box (x0, y0, x1, y1), score, six keypoints."""
    box: tuple[float, float, float, float]
    score: float
    keypoints: tuple[tuple[float, float], ...]

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


class FaceDetector:
    def __init__(self, min_score: float = MIN_SCORE):
        self.net = cv2.dnn.readNetFromTFLite(str(facemodels.tflite_path("face_detection_short_range")))
        self.min_score = min_score
        self._outputs = self.net.getUnconnectedOutLayersNames()

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an RGB (H, W, 3) uint8 frame, best first."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError("expected an RGB uint8 image of shape (H, W, 3)")
        h, w = rgb.shape[:2]
        # Letterbox to a square (MediaPipe keeps the aspect ratio), then scale to 128×128.
        side = max(h, w)
        pad_y, pad_x = (side - h) // 2, (side - w) // 2
        square = cv2.copyMakeBorder(rgb, pad_y, side - h - pad_y, pad_x, side - w - pad_x, cv2.BORDER_CONSTANT)
        small = cv2.resize(square, (INPUT, INPUT), interpolation=cv2.INTER_AREA)
        blob = (small.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]  # NCHW (OpenCV), [-1, 1]
        self.net.setInput(blob)
        outs = self.net.forward(self._outputs)
        regressors, scores = _split(outs)
        faces = _decode(regressors, scores, self.min_score)
        # back from the 128 square to frame pixels
        out = []
        for box, score, kps in faces:
            x0, y0, x1, y1 = (box * side - np.array([pad_x, pad_y, pad_x, pad_y])).tolist()
            points = tuple((float(px * side - pad_x), float(py * side - pad_y)) for px, py in kps)
            out.append(Face((max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)), float(score), points))
        return out


def _split(outs) -> tuple[np.ndarray, np.ndarray]:
    """The model's two outputs, whatever order the importer gives them: (896, 16) and (896,)."""
    regressors = scores = None
    for o in outs:
        a = np.asarray(o, dtype=np.float32).reshape(-1, o.shape[-1] if o.ndim else 1)
        if a.shape[-1] == 16:
            regressors = a.reshape(-1, 16)
        else:
            scores = a.reshape(-1)
    if regressors is None or scores is None or len(regressors) != len(ANCHORS):
        raise RuntimeError("unexpected BlazeFace outputs")
    return regressors, scores


def _decode(regressors: np.ndarray, raw_scores: np.ndarray, min_score: float):
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.astype(np.float64), -100, 100)))
    keep = np.nonzero(scores >= min_score)[0]
    if not len(keep):
        return []
    r = regressors[keep] / INPUT
    a = ANCHORS[keep]
    cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
    bw, bh = r[:, 2], r[:, 3]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    kps = r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]
    return _weighted_nms(boxes, scores[keep], kps)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, kps: np.ndarray):
    """MediaPipe's weighted NMS: overlapping detections are averaged, weighted by score."""
    order = np.argsort(-scores)
    boxes, scores, kps = boxes[order], scores[order], kps[order]
    result = []
    remaining = np.arange(len(scores))
    while len(remaining):
        first = remaining[0]
        overlap = _iou(boxes[first], boxes[remaining]) > NMS_IOU
        group = remaining[overlap]
        weights = scores[group][:, None]
        box = (boxes[group] * weights).sum(0) / weights.sum()
        points = (kps[group] * weights[:, :, None]).sum(0) / weights.sum()
        result.append((box, scores[first], points))
        remaining = remaining[~overlap]
    return result
