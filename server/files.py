"""Encrypted file store for uploads: ID card photos are personal data (PLAT-3), so never kept in clear."""
from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from sqlalchemy.orm import Session

from models import StoredFile
from server.identity.fieldcrypto import FieldCipher
from server.identity.photos import ProcessedImage


class FileStore:
    def __init__(self, root: Path, cipher: FieldCipher):
        self.root = root
        self.cipher = cipher

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def save_image(self, s: Session, image: ProcessedImage, *, kind: str, owner_user_id: int | None = None,
                   institution_id: int | None = None) -> StoredFile:
        return self._save(s, image.data, kind=kind, content_type="image/jpeg", width=image.width,
                          height=image.height, sha256=image.sha256, owner_user_id=owner_user_id,
                          institution_id=institution_id)

    def save_bytes(self, s: Session, data: bytes, *, kind: str, content_type: str, owner_user_id: int | None = None,
                   institution_id: int | None = None) -> StoredFile:
        """Any other upload or generated document (homework, business plans, evidence, reports, archives),
        encrypted like the photos; the caller has checked its type and size."""
        return self._save(s, data, kind=kind, content_type=content_type, width=None, height=None,
                          sha256=hashlib.sha256(data).hexdigest(), owner_user_id=owner_user_id,
                          institution_id=institution_id)

    def _save(self, s: Session, data: bytes, *, kind: str, content_type: str, width, height, sha256: str,
              owner_user_id: int | None, institution_id: int | None) -> StoredFile:
        key = secrets.token_hex(16)
        blob = self.cipher.encrypt(data, context=f"file:{key}")
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        row = StoredFile(kind=kind, storage_key=key, content_type=content_type, size=len(data), width=width,
                         height=height, sha256=sha256, owner_user_id=owner_user_id, institution_id=institution_id)
        s.add(row)
        s.flush()
        return row

    def read(self, row: StoredFile) -> bytes:
        data = self.cipher.decrypt(self._path(row.storage_key).read_bytes(), context=f"file:{row.storage_key}")
        if hashlib.sha256(data).hexdigest() != row.sha256:
            raise ValueError(f"stored file {row.id} fails its checksum")
        return data
