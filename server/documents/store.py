"""Keeping a generated class document: encrypted StoredFile + a ``class_documents`` row (ATT-2, REC-2).

A new document of a kind supersedes the class's current one of that kind (the old row and file are
kept: what was handed out stays traceable). The file lies in the uploads dir and its row in the
database, so the next backup hashes both into the REC-3 chain (recorder/backup.py).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import AuditLog, TrainingClass
from models.documents import ClassDocument

MEDIA = {"pdf": "application/pdf",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "zip": "application/zip"}


def media_type(filename: str) -> str:
    return MEDIA.get(filename.rsplit(".", 1)[-1], "application/octet-stream")


def current(s: Session, class_id: int, kind: str) -> ClassDocument | None:
    return s.scalars(select(ClassDocument).where(ClassDocument.class_id == class_id, ClassDocument.kind == kind,
                                                 ClassDocument.superseded.is_(False))
                     .order_by(ClassDocument.id.desc())).first()


def keep(s: Session, files, cls: TrainingClass, kind: str, data: bytes, filename: str, *, now: datetime,
         by: int | None) -> ClassDocument:
    """Store ``data`` encrypted and record it as the class's current ``kind``."""
    ext = filename.rsplit(".", 1)[-1]
    row = files.save_bytes(s, data, kind=f"class_{kind}"[:32], content_type=MEDIA.get(ext, "application/octet-stream"),
                           owner_user_id=by, institution_id=cls.institution_id)
    s.execute(update(ClassDocument).where(ClassDocument.class_id == cls.id, ClassDocument.kind == kind,
                                          ClassDocument.superseded.is_(False)).values(superseded=True))
    doc = ClassDocument(class_id=cls.id, kind=kind, file_id=row.id, filename=filename, sha256=row.sha256,
                        size=row.size, generated_at=now, generated_by=by, superseded=False)
    s.add(doc)
    s.flush()
    return doc


def system_audit(s: Session, action: str, cls: TrainingClass, now: datetime, **detail) -> None:
    """What the automatic job did, in the audit log like a person's action (SUP-6), actor ``system``."""
    s.add(AuditLog(at=now, actor_user_id=None, actor_role="system", action=action, target_type="class",
                   target_id=str(cls.id), institution_id=cls.institution_id, region_code=cls.district_code,
                   detail=detail))
