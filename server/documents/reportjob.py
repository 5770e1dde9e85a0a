"""Generates a class's reports when its last lesson is over (ATT-2), and on demand.

Reports: the attendance report (PDF + XLSX) and the exam score sheet (PDF + XLSX), stored through
store.py. :func:`generate_due` is the automatic pass: a class whose lessons have all ended (and that
was approved and run: open, in progress, finished or archived) and has no current attendance report
gets one; its score sheet follows once every exam paper of the class has closed and no sheet was
generated since. Each class is one transaction under a row lock (PostgreSQL), so nodes of a cluster
running the pass at once write one set. :class:`ReportScheduler` runs the pass every few minutes
(the app's lifespan owns it); ``qihang reports`` runs it, or one class, from the command line.
"""
from __future__ import annotations

import asyncio
import logging
import sys
from datetime import datetime, timezone

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from models import Lesson, TrainingClass
from models.documents import ClassDocument
from models.exams import ExamPaper
from server.documents import attendancepdf, scoresheet, workbook
from server.documents.attendancedata import attendance_report
from server.documents.store import current, keep, system_audit
from server.export import safe_filename
from server.periodic import PeriodicJob

log = logging.getLogger("qihang.reports")
EVERY_SECONDS = 300.0
RUN_STATUSES = ("open", "in_progress", "finished", "archived")  # approved and run: reports make sense
REPORT_KINDS = ("attendance_pdf", "attendance_xlsx", "scores_pdf", "scores_xlsx")


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def attendance_documents(s: Session, svc, cls: TrainingClass, now: datetime, by: int | None) -> list:
    data = attendance_report(s, cls.id, svc.profiles, now)
    stem = f"{cls.name}-考勤报告-attendance-{cls.id}"
    return [keep(s, svc.files, cls, "attendance_pdf", attendancepdf.render(data), safe_filename(stem, "pdf"), now=now, by=by),
            keep(s, svc.files, cls, "attendance_xlsx", workbook.attendance_xlsx(data), safe_filename(stem, "xlsx"),
                 now=now, by=by)]


def score_documents(s: Session, svc, cls: TrainingClass, now: datetime, by: int | None) -> list:
    sheet = scoresheet.score_sheet(s, cls.id)
    stem = f"{cls.name}-成绩单-scores-{cls.id}"
    return [keep(s, svc.files, cls, "scores_pdf", scoresheet.render(sheet), safe_filename(stem, "pdf"), now=now, by=by),
            keep(s, svc.files, cls, "scores_xlsx", workbook.scores_xlsx(sheet), safe_filename(stem, "xlsx"), now=now, by=by)]


def generate_reports(s: Session, svc, cls: TrainingClass, now: datetime, by: int | None) -> list:
    """Every report of the class, now (on demand: the institution admin's regenerate button)."""
    return attendance_documents(s, svc, cls, now, by) + score_documents(s, svc, cls, now, by)


def scores_due(s: Session, class_id: int, now: datetime) -> bool:
    """Every paper of the class has closed and no score sheet was generated since the last closed."""
    closes = [_aware(c) for c in s.scalars(select(ExamPaper.closes_at).where(ExamPaper.class_id == class_id))]
    if not closes or max(closes) > now:
        return False
    doc = current(s, class_id, "scores_pdf")
    return doc is None or _aware(doc.generated_at) < max(closes)


def due_classes(s: Session, now: datetime) -> list[int]:
    """Classes in a run status whose last lesson has ended and that lack a current attendance report,
    or whose papers have all closed since their last score sheet (module docstring). Done classes drop
    out in SQL, so the pass stays one query however many finished classes there are."""
    ends = select(Lesson.class_id, func.max(Lesson.ends_at).label("end")).group_by(Lesson.class_id).subquery()
    closes = (select(ExamPaper.class_id, func.max(ExamPaper.closes_at).label("closes"))
              .group_by(ExamPaper.class_id).subquery())
    sheets = (select(ClassDocument.class_id, func.max(ClassDocument.generated_at).label("at"))
              .where(ClassDocument.kind == "scores_pdf", ClassDocument.superseded.is_(False))
              .group_by(ClassDocument.class_id).subquery())
    reported = select(ClassDocument.class_id).where(ClassDocument.kind == "attendance_pdf",
                                                    ClassDocument.superseded.is_(False))
    q = (select(TrainingClass.id).join(ends, ends.c.class_id == TrainingClass.id)
         .outerjoin(closes, closes.c.class_id == TrainingClass.id)
         .outerjoin(sheets, sheets.c.class_id == TrainingClass.id)
         .where(TrainingClass.status.in_(RUN_STATUSES), ends.c.end <= now,
                or_(TrainingClass.id.not_in(reported),
                    and_(closes.c.closes <= now, or_(sheets.c.at.is_(None), sheets.c.at < closes.c.closes))))
         .order_by(TrainingClass.id))
    return list(s.scalars(q))


def generate_class_due(s: Session, svc, class_id: int, now: datetime) -> list:
    """The due documents of one class (locked first, then re-checked)."""
    q = select(TrainingClass).where(TrainingClass.id == class_id)
    if not svc.settings.is_sqlite:
        q = q.with_for_update(of=TrainingClass)
    cls = s.scalars(q).one()
    docs = []
    if current(s, cls.id, "attendance_pdf") is None:
        docs += attendance_documents(s, svc, cls, now, None)
    if scores_due(s, cls.id, now):
        docs += score_documents(s, svc, cls, now, None)
    if docs:
        system_audit(s, "documents.generate", cls, now, kinds=[d.kind for d in docs],
                     document_ids=[d.id for d in docs], automatic=True, rule="ATT-2")
    return docs


def generate_due(svc, now: datetime) -> int:
    """The automatic pass: one transaction per class; the number of documents written."""
    with svc.db.session() as s:
        candidates = due_classes(s, now)
    written = 0
    for class_id in candidates:
        try:
            with svc.db.session() as s:
                written += len(generate_class_due(s, svc, class_id, now))
        except Exception:  # noqa: BLE001 - one class's failure must not stop the others' reports
            log.exception("ATT-2: reports of class %s failed", class_id)
    if written:
        log.info("ATT-2: %d class documents generated", written)
    return written


class ReportScheduler(PeriodicJob):
    """ATT-2: runs :func:`generate_due` every ``every_seconds``; the app's lifespan starts and closes it."""

    name = "class-reports"

    def __init__(self, svc, *, every_seconds: float = EVERY_SECONDS):
        self.svc = svc
        self.every = every_seconds

    async def run_once(self) -> int:
        return await asyncio.to_thread(generate_due, self.svc, self.svc.now())


# --------------------------------------------------------------------------- command line

def add_parsers(sub) -> dict:
    """``qihang reports [--class ID]``: the due reports of every class, or regenerate one class's."""
    p = sub.add_parser("reports", help="generate the due ATT-2 class reports (attendance + score sheet, PDF/XLSX); "
                       "--class regenerates one class's now")
    p.add_argument("--class", dest="class_id", type=int, default=None, help="regenerate this class's reports")
    return {"reports": cmd_reports}


def cmd_reports(settings, args) -> int:
    from server.services import Services
    svc = Services.build(settings)
    now = svc.now()
    if args.class_id is None:
        n = generate_due(svc, now)
        print(f"生成 {n} 份班期报告 / {n} class documents generated (ATT-2)")
        return 0
    with svc.db.session() as s:
        cls = s.get(TrainingClass, args.class_id)
        if cls is None:
            print(f"没有这个班期 / no such class: {args.class_id}", file=sys.stderr)
            return 2
        docs = generate_reports(s, svc, cls, now, None)
        system_audit(s, "documents.generate", cls, now, kinds=[d.kind for d in docs],
                     document_ids=[d.id for d in docs], automatic=False, via="cli", rule="ATT-2")
        for d in docs:
            print(f"{d.kind}\t{d.filename}\t{d.size} B\tsha256 {d.sha256}")
    return 0
