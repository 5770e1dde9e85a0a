"""Face enrolment (ATT-1/2, REG-2, PLAT-3): a student's template from their reference photo.

At registration the 1-inch reference photo must show exactly one clear face; its 128-d descriptor
(media/facecheck.py) becomes the template that attendance samples are compared with. The template
is biometric personal information: stored encrypted with the master key, never returned by the API.

The face models load on first use (about half a second) and are shared by the app's threads under
a lock. Descriptors are cached by the photo's checksum: the same bytes give the same template.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.faces import FaceTemplate
from server.identity.errors import IdentityError

MODEL = "dlib_resnet_v1"  # media/faceembedder.py: templates of another model would not compare
CONTEXT = "face-template"
RULE = "REG-2"
_CACHE_SIZE = 256


class FaceEnrolment:
    def __init__(self, cipher):
        self.cipher = cipher
        self._checker = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def _get_checker(self):
        if self._checker is None:
            from media.facecheck import FaceChecker  # heavy (OpenCV, dlib): only when a photo arrives
            self._checker = FaceChecker()
        return self._checker

    def template_from_photo(self, jpeg: bytes, *, field: str = "reference_photo") -> np.ndarray:
        """The descriptor of the one face in a (validated, re-encoded) JPEG; IdentityError otherwise."""
        import cv2

        from media.facecheck import EnrolmentError
        key = hashlib.sha256(jpeg).hexdigest()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                raise IdentityError("IMAGE_UNREADABLE", "照片无法读取", "the photo cannot be read", field, rule=RULE)
            try:
                template = self._get_checker().enrol(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            except EnrolmentError as exc:
                raise IdentityError(f"FACE_{exc.code}", exc.message_zh, exc.message_en, field, rule=RULE) from None
            self._cache[key] = template
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
            return template

    def save(self, session: Session, user_id: int, template: np.ndarray, *, source: str = "reference",
             photo_file_id: int | None = None) -> FaceTemplate:
        raw = np.asarray(template, dtype="<f4").tobytes()
        row = session.scalars(select(FaceTemplate).filter_by(user_id=user_id, source=source)).first()
        if row is None:
            row = FaceTemplate(user_id=user_id, source=source, model=MODEL, template_encrypted=b"")
            session.add(row)
        row.model, row.photo_file_id = MODEL, photo_file_id
        row.template_encrypted = self.cipher.encrypt(raw, context=f"{CONTEXT}:{user_id}:{source}")
        session.flush()
        return row

    def load(self, session: Session, user_id: int) -> np.ndarray | None:
        """The student's template (the reference photo's, else the ID card's), or None."""
        rows = {r.source: r for r in session.scalars(select(FaceTemplate).filter_by(user_id=user_id, model=MODEL))}
        row = rows.get("reference") or rows.get("id_card")
        if row is None:
            return None
        raw = self.cipher.decrypt(row.template_encrypted, context=f"{CONTEXT}:{user_id}:{row.source}")
        return np.frombuffer(raw, dtype="<f4").copy()
