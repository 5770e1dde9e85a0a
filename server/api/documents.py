"""Class reports and archives (ATT-2, REC-2).

* ``GET /api/classes/{id}/documents`` — the class's generated documents (current and superseded):
  its institution's admin, lecturers and assistants (assistants: only classes they assist or head,
  LIVE-4), supervisors whose region covers it (SUP-3), platform admins. Never students.
* ``GET /api/class-documents/{id}/file`` — download one; the same readers, except the archive:
  it holds the ID card copies (PLAT-3), so only the institution admin, supervisors and platform
  admins. Every download is audited.
* ``POST /api/classes/{id}/documents/reports`` — the institution admin (or a platform admin)
  regenerates the attendance report and score sheet (PDF + XLSX) now; the automatic job
  (server/documents/reportjob.py) makes them once the last lesson is over.
* ``POST /api/classes/{id}/documents/archive`` — the same people build the REC-2 archive of a
  finished class (409 otherwise). Generation is audited.
"""
from __future__ import annotations

from sqlalchemy import select

from models import ClassAssistant, StoredFile, TrainingClass
from models.documents import ClassDocument
from server.api.common import get_class
from server.api.endpoint import Api, Ctx
from server.documents import classarchive, reportjob
from server.documents.store import media_type
from server.errors import ApiError, Forbidden, NotFound
from server.export import attachment
from server.services import CHINA_TZ

api = Api()
MAX_ID = 2**31 - 1
READERS = ("platform_admin", "institution_admin", "lecturer", "assistant", "supervisor")
MAKERS = ("institution_admin", "platform_admin")
ARCHIVE_READERS = ("institution_admin", "supervisor", "platform_admin")
KIND_ZH = {"attendance_pdf": "考勤报告 PDF", "attendance_xlsx": "考勤报告 Excel", "scores_pdf": "成绩单 PDF",
           "scores_xlsx": "成绩单 Excel", "archive": "班期档案 Class archive"}


def _class(ctx: Ctx, class_id: int) -> TrainingClass:
    if not 0 < class_id <= MAX_ID:
        raise NotFound("班期", "class")
    cls = get_class(ctx, class_id)
    u = ctx.user
    if u.role == "assistant" and cls.head_teacher_user_id != u.id and ctx.s.get(ClassAssistant, (cls.id, u.id)) is None:
        raise Forbidden("NOT_CLASS_ASSISTANT", "助教只能查看自己所带班期的文档",
                        "An assistant may read only the documents of the classes they assist", rule="LIVE-4")
    return cls


def doc_dict(d: ClassDocument) -> dict:
    return {"id": d.id, "class_id": d.class_id, "kind": d.kind, "kind_zh": KIND_ZH.get(d.kind, d.kind),
            "filename": d.filename, "size": d.size, "sha256": d.sha256,
            "generated_at": d.generated_at.astimezone(CHINA_TZ).isoformat(), "generated_by": d.generated_by,
            "automatic": d.generated_by is None, "superseded": d.superseded,
            "download_url": f"/api/class-documents/{d.id}/file"}


@api.route("GET", "/api/classes/{class_id:int}/documents", summary="班期报告与档案 Class reports and archives",
           tag="documents", roles=READERS)
def list_documents(ctx: Ctx, class_id: int):
    """ATT-2 / REC-2: every generated document of the class, newest first; ``superseded`` ones are kept."""
    cls = _class(ctx, class_id)
    docs = ctx.s.scalars(select(ClassDocument).where(ClassDocument.class_id == cls.id).order_by(ClassDocument.id.desc()))
    items = [doc_dict(d) for d in docs]
    if ctx.user.role not in ARCHIVE_READERS:
        items = [i for i in items if i["kind"] != "archive"]
    return {"class_id": cls.id, "status": cls.status, "finished": cls.status in classarchive.FINISHED,
            "items": items}


@api.route("GET", "/api/class-documents/{doc_id:int}/file", summary="下载班期文档 Download a class document",
           tag="documents", roles=READERS)
def download_document(ctx: Ctx, doc_id: int):
    """The file as generated (decrypted from the store, checked against its SHA-256); audited (PLAT-3)."""
    d = ctx.s.get(ClassDocument, doc_id) if 0 < doc_id <= MAX_ID else None
    if d is None:
        raise NotFound("文档", "document")
    cls = _class(ctx, d.class_id)
    if d.kind == "archive" and ctx.user.role not in ARCHIVE_READERS:
        raise Forbidden("ARCHIVE_RESTRICTED", "班期档案含身份证复印件，仅机构管理员、监管人员和平台管理员可下载",
                        "The class archive holds ID card copies: only the institution admin, supervisors and "
                        "platform admins may download it", rule="PLAT-3")
    data = ctx.svc.files.read(ctx.s.get(StoredFile, d.file_id))  # checks the SHA-256
    ctx.audit("documents.download", target_type="class_document", target_id=d.id, institution_id=cls.institution_id,
              region_code=cls.district_code, class_id=cls.id, kind=d.kind, sha256=d.sha256,
              rule="REC-2" if d.kind == "archive" else "ATT-2")
    ascii_name = f"class-{cls.id}-{d.kind}-{d.id}.{d.filename.rsplit('.', 1)[-1]}"
    return attachment(data, media_type(d.filename), d.filename, ascii_name)


@api.route("POST", "/api/classes/{class_id:int}/documents/reports", summary="生成班期报告 Generate the class reports",
           tag="documents", roles=MAKERS, status=201)
def generate_reports(ctx: Ctx, class_id: int):
    """ATT-2: the attendance report and the exam score sheet, PDF and XLSX, as of now; the previous ones
    are kept, marked superseded."""
    cls = _class(ctx, class_id)
    if cls.status not in reportjob.RUN_STATUSES:
        raise ApiError("CLASS_NOT_RUN", "班期尚未开班，暂无可生成的报告",
                       "The class has not opened yet: there is nothing to report", status=409, rule="ATT-2",
                       details={"status": cls.status})
    docs = reportjob.generate_reports(ctx.s, ctx.svc, cls, ctx.now, ctx.user.id)
    ctx.audit("documents.generate", target_type="class", target_id=cls.id, institution_id=cls.institution_id,
              region_code=cls.district_code, kinds=[d.kind for d in docs], document_ids=[d.id for d in docs],
              automatic=False, rule="ATT-2")
    return {"class_id": cls.id, "items": [doc_dict(d) for d in docs]}


@api.route("POST", "/api/classes/{class_id:int}/documents/archive", summary="生成班期档案 Build the class archive",
           tag="documents", roles=MAKERS, status=201)
def build_archive(ctx: Ctx, class_id: int):
    """REC-2: one zip of every document the rules list, for a finished class; kept encrypted and hashed
    into the next backup (REC-3)."""
    cls = _class(ctx, class_id)
    if cls.status not in classarchive.FINISHED:
        raise ApiError("CLASS_NOT_FINISHED", "班期结业后才能生成档案", "A class archive is built only once the class has "
                       "finished", status=409, rule="REC-2", details={"status": cls.status})
    doc, manifest = classarchive.make_archive(ctx.s, ctx.svc, cls, ctx.now, ctx.user.id)
    ctx.audit("documents.archive", target_type="class", target_id=cls.id, institution_id=cls.institution_id,
              region_code=cls.district_code, document_id=doc.id, sha256=doc.sha256, size=doc.size,
              members=len(manifest["members"]), rule="REC-2")
    return {**doc_dict(doc), "sections": manifest["sections"], "members": len(manifest["members"])}
