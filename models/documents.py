"""Generated class documents: reports and archives (ATT-2, REC-2).

One row per generated file: the attendance report and the exam score sheet (PDF and XLSX, ATT-2 /
EXAM-1) and the per-class archive (REC-2). The bytes are a :class:`StoredFile` (encrypted in the
uploads dir), so every backup's manifest hashes them (REC-3 backup chain). ``sha256``/``size`` are of
the plaintext, as the stored file's. Regenerating keeps the old row with ``superseded = True``: what
was handed out stays traceable; the current document of a kind is the one not superseded.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

DOCUMENT_KINDS = ("attendance_pdf", "attendance_xlsx", "scores_pdf", "scores_xlsx", "archive")


class ClassDocument(Base):
    __tablename__ = "class_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column()
    generated_at: Mapped[datetime] = mapped_column(default=utcnow)
    generated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the automatic job
    superseded: Mapped[bool] = mapped_column(default=False, index=True)
