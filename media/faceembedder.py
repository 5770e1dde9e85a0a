"""FaceEmbedder: dlib's 128-d face descriptor, and the distance that decides "same person".

dlib's ResNet maps an aligned face to 128 numbers; two photos of one person land close together
(Euclidean distance), different people far apart. Alignment uses dlib's 5-point landmark model
(its 68-point model's training data forbids commercial use). The face box comes from BlazeFace
(media/facedetector.py), widened to the framing dlib's own detector gives, which the landmark
model was trained on. ~100 ms per face with the prebuilt ``dlib-bin`` (no BLAS): the attendance
check embeds only when something changed and at least every 5 minutes (media/facecheck.py).
"""
from __future__ import annotations

import numpy as np

from media import facemodels
from media.facedetector import Face

# dlib's HOG boxes are squarer and a little larger than BlazeFace's (forehead to chin, ear to ear).
BOX_SCALE = 1.15


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two descriptors: lower is more alike (0 = identical)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


class FaceEmbedder:
    def __init__(self):
        import dlib  # dlib-bin: imported here so processes that never embed do not load it
        self._dlib = dlib
        self.shape = dlib.shape_predictor(str(facemodels.dlib_path("shape_predictor_5_face_landmarks.dat")))
        self.net = dlib.face_recognition_model_v1(str(facemodels.dlib_path("dlib_face_recognition_resnet_model_v1.dat")))

    def embed(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        """The 128-d descriptor of ``face`` in an RGB uint8 frame."""
        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = face.box
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        half = max(x1 - x0, y1 - y0) * BOX_SCALE / 2
        rect = self._dlib.rectangle(int(max(0, cx - half)), int(max(0, cy - half)),
                                    int(min(w - 1, cx + half)), int(min(h - 1, cy + half)))
        shape = self.shape(np.ascontiguousarray(rgb), rect)
        return np.asarray(self.net.compute_face_descriptor(np.ascontiguousarray(rgb), shape), dtype=np.float32)
