"""Synthetic camera clips of the packaged faces, for liveness tests and benchmarks.

A head turn and a blink are made from one still photo by moving its face mesh (media/facemesh.py)
and warping the picture piece by piece: the mesh's points are turned about a vertical axis behind
the face (the nose swings towards one cheek, the far cheek narrows) and the upper eyelids are
lowered onto the lower ones. The result is no deepfake, but it moves the way liveness measures a
live person, which is what the judge needs to be tested against; the same photo unwarped is the
still-photo attack.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from media.facedetector import FaceDetector
from media.facemesh import FaceMesh, Mesh

# Eye contours (upper lid from outer to inner corner, lower lid likewise), person's right then left.
UPPER_LIDS = ((246, 161, 160, 159, 158, 157, 173), (466, 388, 387, 386, 385, 384, 398))
LOWER_LIDS = ((7, 163, 144, 145, 153, 154, 155), (249, 390, 373, 374, 380, 381, 382))


class FaceAnimator:
    """Poses one face photo: ``frame(yaw_deg, eyes_closed)`` gives the picture with the head
    turned by ``yaw_deg`` (positive: to the person's left) and the eyes closed by a share 0–1."""

    def __init__(self, rgb: np.ndarray, detector: FaceDetector | None = None, mesh: FaceMesh | None = None):
        detector = detector or FaceDetector()
        faces = detector.detect(rgb)
        if not faces:
            raise ValueError("no face in the picture to animate")
        found = (mesh or FaceMesh()).landmarks(rgb, faces[0])
        if found is None:
            raise ValueError("no face mesh in the picture to animate")
        self.rgb, self.mesh = rgb, found
        h, w = rgb.shape[:2]
        border = [(x, y) for x in np.linspace(0, w - 1, 5) for y in (0, h - 1)]
        border += [(x, y) for y in np.linspace(0, h - 1, 5)[1:-1] for x in (0, w - 1)]
        # A ring around the face, fixed: the warp stays inside it and the background never moves.
        pts = found.points
        centre = pts[:, :2].mean(0)
        ring = [tuple(centre + (p - centre) * 1.35) for p in pts[_hull(pts[:, :2]), :2]]
        self.fixed = np.array(border + ring, np.float32)
        self.source = np.vstack([pts[:, :2], self.fixed]).astype(np.float32)
        self.triangles = _delaunay(self.source, w, h)

    def frame(self, yaw_deg: float = 0.0, eyes_closed: float = 0.0) -> np.ndarray:
        if eyes_closed < 1.0:  # lids part-way down: move them
            moved = self._pose(yaw_deg, eyes_closed)
            return _warp(self.rgb, self.source, np.vstack([moved, self.fixed]).astype(np.float32), self.triangles)
        # closed: paint skin over each eye opening and draw the lash line along the lower lid
        moved = self._pose(yaw_deg, 0.0)
        out = _warp(self.rgb, self.source, np.vstack([moved, self.fixed]).astype(np.float32), self.triangles)
        for upper, lower in zip(UPPER_LIDS, LOWER_LIDS):
            up, low = moved[list(upper)], moved[list(lower)]
            eye_h = float(np.linalg.norm(up - low, axis=1).max())
            above = np.vstack([up - (0, 2.0 * eye_h), up[::-1] - (0, 0.8 * eye_h)])  # the lid skin
            band = np.zeros(out.shape[:2], np.uint8)
            cv2.fillPoly(band, [np.round(above).astype(np.int32)], 255)
            skin = np.median(out[band > 0], axis=0) if band.any() else out[int(up[3, 1]), int(up[3, 0])]
            opening = np.vstack([up - (0, 0.3 * eye_h), low[::-1]])
            mask = np.zeros(out.shape[:2], np.uint8)
            cv2.fillPoly(mask, [np.round(opening).astype(np.int32)], 255)
            mask = cv2.GaussianBlur(cv2.dilate(mask, np.ones((3, 3), np.uint8)), (5, 5), 0)[..., None] / 255.0
            out = (out * (1 - mask) + np.asarray(skin, np.float32) * 0.96 * mask).astype(np.uint8)
            lash = tuple(int(v) for v in np.asarray(skin) * 0.3)
            cv2.polylines(out, [np.round(low).astype(np.int32)], False, lash, 1, cv2.LINE_AA)
        return out

    def _pose(self, yaw_deg: float, eyes_closed: float) -> np.ndarray:
        pts = self.mesh.points.copy()
        if eyes_closed:
            for upper, lower in zip(UPPER_LIDS, LOWER_LIDS):
                pts[list(upper), :2] += (pts[list(lower), :2] - pts[list(upper), :2]) * min(1.0, eyes_closed)
        if yaw_deg:
            theta = math.radians(yaw_deg)
            cx = pts[:, 0].mean()
            # the turning axis: behind the face, at the depth of the ears (the cheeks' z plus a bit)
            zc = max(pts[234, 2], pts[454, 2]) + 0.25 * self.mesh.width
            x, z = pts[:, 0] - cx, pts[:, 2] - zc
            # nose (z < zc, towards the camera) moves to +x for a turn to the person's left
            pts[:, 0] = cx + x * math.cos(theta) - z * math.sin(theta)
        return pts[:, :2]


def _hull(xy: np.ndarray) -> np.ndarray:
    return cv2.convexHull(xy.astype(np.float32), returnPoints=False).reshape(-1)


def _delaunay(points: np.ndarray, w: int, h: int) -> np.ndarray:
    subdiv = cv2.Subdiv2D((0, 0, w, h))
    index = {}
    for i, (x, y) in enumerate(points):
        x, y = float(min(max(x, 0), w - 1)), float(min(max(y, 0), h - 1))
        index.setdefault((round(x, 3), round(y, 3)), i)
        subdiv.insert((x, y))
    tris = []
    for t in subdiv.getTriangleList():
        ids = [index.get((round(float(t[k]), 3), round(float(t[k + 1]), 3))) for k in (0, 2, 4)]
        if None not in ids:
            tris.append(ids)
    return np.array(tris, np.int32)


def _warp(rgb: np.ndarray, source: np.ndarray, target: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Piecewise-affine warp: each target triangle takes its pixels from its source triangle."""
    h, w = rgb.shape[:2]
    owner = np.full((h, w), -1, np.int32)
    for i, tri in enumerate(triangles):
        cv2.fillConvexPoly(owner, np.round(target[tri]).astype(np.int32), int(i))
    maps = np.zeros((len(triangles), 2, 3), np.float32)
    for i, tri in enumerate(triangles):
        maps[i] = cv2.getAffineTransform(target[tri], source[tri])
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    m = maps[np.clip(owner, 0, None)]
    map_x = m[..., 0, 0] * xs + m[..., 0, 1] * ys + m[..., 0, 2]
    map_y = m[..., 1, 0] * xs + m[..., 1, 1] * ys + m[..., 1, 2]
    map_x[owner < 0], map_y[owner < 0] = xs[owner < 0], ys[owner < 0]
    return cv2.remap(rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def compliant_pose(challenge, t: float, *, react: float = 0.5, turn_deg: float = 25.0,
                   direction: str | None = None, blink: bool = True) -> tuple[float, float]:
    """(yaw, eyes_closed) at ``t`` seconds after the prompt of a person doing what ``challenge``
    (media/liveness.Challenge) asks: each step ``react`` seconds after it is shown, the head
    turned ``turn_deg`` and back over 1.8 s, a blink of 0.3 s. ``direction`` overrides the side."""
    from media.liveness import BLINK, LEFT
    yaw = closed = 0.0
    for step in challenge.steps:
        u = t - step.start - react
        if step.action == BLINK:
            if blink and 0 <= u < 0.3:
                closed = 1.0 if 0.08 <= u < 0.22 else 0.5
        elif 0 <= u < 1.8:
            side = 1.0 if (direction or step.action) == LEFT else -1.0
            yaw = side * turn_deg * min(1.0, u / 0.6, (1.8 - u) / 0.6)
    return yaw, closed


def wandering_pose(t: float, *, turn_deg: float = 25.0, period: float = 4.0) -> tuple[float, float]:
    """A recorded video of someone looking left and right and blinking now and then, whatever
    is asked: what a looped replay shows."""
    yaw = turn_deg * math.sin(2 * math.pi * t / period)
    closed = 1.0 if (t % 2.0) < 0.15 else 0.0
    return yaw, closed


def camera_frame(name: str = "astronaut.png", face_px: int = 120) -> np.ndarray:
    """A 320×240 selfie frame of a packaged face, about ``face_px`` wide, as a phone held at arm's
    length shows it."""
    from media import samplefaces
    img = samplefaces.load_rgb(name)
    face = FaceDetector().detect(img)[0]
    x0, y0, x1, y1 = face.box
    s = face_px / (x1 - x0)
    big = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    cx, cy = int((x0 + x1) / 2 * s), int((y0 + y1) / 2 * s)
    frame = np.full((240, 320, 3), 90, np.uint8)
    left, top = cx - 160, cy - 110
    sub = big[max(top, 0):top + 240, max(left, 0):left + 320]
    frame[max(-top, 0):max(-top, 0) + sub.shape[0], max(-left, 0):max(-left, 0) + sub.shape[1]] = sub
    return frame
