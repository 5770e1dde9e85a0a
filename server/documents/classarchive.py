"""The per-class archive (REC-2): one zip per finished class with every document the rules list.

REC-2 lists: certificate copies, registration forms, ID copies, teaching plan, all teaching data,
attendance records, evaluation forms, business plans. The zip holds, under fixed folders:

* ``reports/`` — the current attendance report and score sheet, PDF and XLSX (generated if missing);
* ``registration/`` — the roster's registration forms (JSON + CSV; the ID number masked, the photo
  copies below are what HR checks) and ``registration/id_copies/`` — each student's ID card front,
  back and eligibility evidence as uploaded (decrypted here; the archive itself is stored encrypted);
* ``teaching_plan.json`` — the class, its lecturers and the lesson schedule;
* ``teaching_data/`` — every lesson with its recording's registry row and the SHA-256 of its signed
  manifest (the media stay in the recording store, proven by that chain), and the chat / Q&A
  transcript of each lesson from its event log;
* ``attendance/`` — the per-lesson attendance rows (server/attendance/report.py) as CSV;
* ``certificates/`` — the issued certificates' records (JSON) and each one's PDF;
* ``business_plans/`` — every plan version's record and its file or form (EXAM-2);
* ``manifest.json`` (written last) — class facts, ``generated_at``, each section's status (for
  evaluation forms: "not kept by the platform"), and every member's name, size and SHA-256.

The archive is kept like any generated document (store.py): an encrypted StoredFile plus a
``class_documents`` row with its SHA-256, so the next REC-3 backup hashes it into the backup chain.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (ClassLecturer, Enrolment, LecturerProfile, Lesson, Recording, StoredFile, StudentProfile,
                    TrainingClass, User)
from models.certificates import Certificate
from server.attendance import report as attendance_report
from server.documents import reportjob
from server.documents.store import current, keep
from server.export import cell_value, safe_filename
from server.live import eventlog
from server.services import CHINA_TZ

log = logging.getLogger("qihang.archive")
FORMAT = "qihang-class-archive/1"
FINISHED = ("finished", "archived")
TRANSCRIPT_KINDS = ("chat", "question", "answer")
EXT = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf", "image/webp": "webp",
       "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
       "application/msword": "doc"}
_UNSAFE = re.compile(r"[^\w\u3400-\u9fff.-]+")


class NotFinished(ValueError):
    pass


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone(CHINA_TZ).isoformat()


def _json(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=1, default=str, sort_keys=False).encode("utf-8")


def _csv(rows: list[dict], keys: list[str]) -> bytes:
    """UTF-8 with BOM for Excel; every cell through export.cell_value (formula guard, PLAT-3)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(keys)
    for r in rows:
        w.writerow([cell_value(r.get(k)) for k in keys])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _part(text: str) -> str:
    return _UNSAFE.sub("_", str(text)).strip("._")[:60] or "x"


class _Zip:
    """Members with fixed timestamps (the archive's time) and their hashes for the manifest."""

    def __init__(self, at: datetime):
        self.buf = io.BytesIO()
        self.zip = zipfile.ZipFile(self.buf, "w", compression=zipfile.ZIP_DEFLATED)
        self.stamp = at.astimezone(CHINA_TZ).timetuple()[:6]
        self.members: list[dict] = []

    def add(self, name: str, data: bytes, *, listed: bool = True) -> None:
        info = zipfile.ZipInfo(name, date_time=self.stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        self.zip.writestr(info, data)
        if listed:
            self.members.append({"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    def close(self) -> bytes:
        self.zip.close()
        return self.buf.getvalue()


def _stored(s: Session, files, file_id: int | None) -> tuple[StoredFile, bytes] | None:
    row = s.get(StoredFile, file_id) if file_id else None
    return (row, files.read(row)) if row is not None else None


# --------------------------------------------------------------------------- the sections

def _reports(z: _Zip, s: Session, svc, cls: TrainingClass, now: datetime, by: int | None) -> dict:
    kinds = reportjob.REPORT_KINDS
    docs = {k: current(s, cls.id, k) for k in kinds}
    if any(d is None for d in docs.values()):
        for d in reportjob.generate_reports(s, svc, cls, now, by):
            docs[d.kind] = d
    for kind, d in docs.items():
        row = s.get(StoredFile, d.file_id)
        z.add(f"reports/{kind}.{d.filename.rsplit('.', 1)[-1]}", svc.files.read(row))
    return {"status": "included", "documents": {k: {"id": d.id, "sha256": d.sha256, "generated_at": _iso(d.generated_at)}
                                                for k, d in docs.items()}}


REG_KEYS = ["student_id", "real_name", "id_masked", "gender", "birth_date", "mobile", "household_registration",
            "target_group", "graduation_year", "business_registered_on", "enrolment_status", "enrolled_at",
            "withdrawn_at", "subsidised", "registered_at"]


def _registration(z: _Zip, s: Session, files, cls: TrainingClass) -> dict:
    rows, copies, missing = [], 0, []
    q = (select(Enrolment, StudentProfile).join(StudentProfile, StudentProfile.user_id == Enrolment.student_user_id)
         .where(Enrolment.class_id == cls.id).order_by(StudentProfile.real_name, Enrolment.student_user_id))
    for e, p in s.execute(q).all():
        rows.append({"student_id": p.user_id, "real_name": p.real_name, "id_masked": p.id_masked, "gender": p.gender,
                     "birth_date": p.birth_date.isoformat(), "mobile": p.mobile,
                     "household_registration": p.household_registration, "target_group": p.target_group,
                     "graduation_year": p.graduation_year,
                     "business_registered_on": p.business_registered_on.isoformat() if p.business_registered_on else None,
                     "enrolment_status": e.status, "enrolled_at": _iso(e.enrolled_at), "withdrawn_at": _iso(e.withdrawn_at),
                     "subsidised": e.subsidised, "registered_at": _iso(p.created_at)})
        for label, fid in (("id_front", p.id_front_file_id), ("id_back", p.id_back_file_id), ("evidence", p.evidence_file_id)):
            if fid is None:
                continue
            try:
                got = _stored(s, files, fid)
            except (OSError, ValueError) as exc:  # a lost or damaged upload: say so rather than fail the archive
                missing.append({"student_id": p.user_id, "file": label, "problem": str(exc)})
                continue
            if got is None:
                missing.append({"student_id": p.user_id, "file": label, "problem": "no stored file"})
                continue
            row, data = got
            z.add(f"registration/id_copies/{p.user_id}-{_part(p.real_name)}-{label}.{EXT.get(row.content_type, 'bin')}", data)
            copies += 1
    z.add("registration/registration_forms.json", _json(rows))
    z.add("registration/registration_forms.csv", _csv(rows, REG_KEYS))
    return {"status": "included", "students": len(rows), "id_copies": copies, "missing_files": missing,
            "note": "身份证号仅存掩码，证件原件见 id_copies / ID numbers masked; the ID copies are the uploaded photos"}


def _teaching_plan(z: _Zip, s: Session, cls: TrainingClass) -> tuple[dict, list[Lesson]]:
    lessons = list(s.scalars(select(Lesson).where(Lesson.class_id == cls.id).order_by(Lesson.starts_at, Lesson.id)))
    lecturers = []
    for cl, u, lp in s.execute(select(ClassLecturer, User, LecturerProfile).join(User, User.id == ClassLecturer.user_id)
                               .outerjoin(LecturerProfile, LecturerProfile.user_id == ClassLecturer.user_id)
                               .where(ClassLecturer.class_id == cls.id).order_by(User.id)).all():
        lecturers.append({"user_id": u.id, "name": u.display_name, "is_lead": cl.is_lead,
                          "certificate_no": lp.certificate_no if lp else None,
                          "certificate_kind": lp.certificate_kind if lp else None,
                          "valid_until": lp.valid_until.isoformat() if lp else None})
    head = s.get(User, cls.head_teacher_user_id) if cls.head_teacher_user_id else None
    plan = {"class": _class_facts(cls), "head_teacher": head.display_name if head else None, "lecturers": lecturers,
            "lessons": [{"lesson_id": le.id, "title": le.title, "mode": le.mode, "starts_at": _iso(le.starts_at),
                         "ends_at": _iso(le.ends_at), "class_hours": le.class_hours, "lecturer_user_id": le.lecturer_user_id,
                         "venue_name": le.venue_name, "venue_address": le.venue_address} for le in lessons],
            "total_class_hours": sum(le.class_hours for le in lessons)}
    z.add("teaching_plan.json", _json(plan))
    return {"status": "included", "lessons": len(lessons)}, lessons


def _teaching_data(z: _Zip, s: Session, settings, lessons: list[Lesson]) -> dict:
    recs = {r.lesson_id: r for r in s.scalars(select(Recording).where(Recording.lesson_id.in_([le.id for le in lessons] or [0])))}
    out, lines = [], 0
    for le in lessons:
        r = recs.get(le.id)
        manifest = Path(settings.recordings_root) / str(le.id) / "manifest.json"
        entry = {"lesson_id": le.id, "title": le.title, "starts_at": _iso(le.starts_at), "recording": None}
        if r is not None:
            entry["recording"] = {"status": r.status, "segments": r.segments, "bytes": r.bytes, "duration_s": r.duration_s,
                                  "head_hash": r.head_hash, "key_id": r.key_id, "retain_until": _iso(r.retain_until),
                                  "verified_at": _iso(r.verified_at), "storage_kind": r.storage_kind,
                                  "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest()
                                  if manifest.is_file() else None}
        transcript = [{"at": _iso(ev.at), "kind": ev.kind, "user_id": ev.user_id, "role": ev.role,
                       "text": (ev.payload or {}).get("text"), **{k: v for k, v in (ev.payload or {}).items() if k != "text"}}
                      for ev in eventlog.events(s, le.id, kinds=TRANSCRIPT_KINDS, limit=None)]
        if transcript:
            z.add(f"teaching_data/transcripts/lesson-{le.id}.json", _json(transcript))
        entry["transcript_lines"] = len(transcript)
        lines += len(transcript)
        out.append(entry)
    z.add("teaching_data/lessons.json", _json(out))
    return {"status": "included", "recordings": len(recs), "transcript_lines": lines,
            "note": "录像媒体保存在录像存储中，由签名清单的哈希链证明 / media stay in the recording store, "
                    "proven by their signed manifests (hashes listed)"}


def _attendance(z: _Zip, s: Session, svc, cls: TrainingClass, now: datetime) -> dict:
    rows = attendance_report.class_attendance(s, cls.id, svc.profiles, now)
    z.add("attendance/attendance_per_lesson.csv", _csv(rows, list(attendance_report.COLUMNS)))
    return {"status": "included", "rows": len(rows), "rule": "ATT-2"}


def _certificates(z: _Zip, s: Session, svc, cls: TrainingClass) -> dict:
    certs = list(s.scalars(select(Certificate).where(Certificate.class_id == cls.id).order_by(Certificate.number)))
    z.add("certificates/certificates.json", _json([
        {"id": c.id, "number": c.number, "student_user_id": c.student_user_id, "student_name": c.student_name,
         "course_type": c.course_type, "course_name": c.course_name, "class_hours": c.class_hours,
         "start_date": c.start_date.isoformat(), "end_date": c.end_date.isoformat(), "institution_name": c.institution_name,
         "issued_at": _iso(c.issued_at), "issued_by": c.issued_by, "status": c.status, "revoked_at": _iso(c.revoked_at),
         "revoke_reason": c.revoke_reason, "key_id": c.key_id, "signature": c.signature, "payload": c.payload}
        for c in certs]))
    pdfs, problems = 0, []
    try:
        from recorder.signing import load_platform_key
        from server.certificates import document
    except ImportError as exc:  # the PDF renderer is optional: the signed records above are the copies
        return {"status": "records only", "certificates": len(certs), "pdf_problem": str(exc)}
    platform = load_platform_key(svc.settings).public if certs else None
    for c in certs:
        try:
            data = document.render(s, c, secret=svc.settings.secret_key, base_url=svc.settings.base_url,
                                   issuer_zh=None, platform=platform)
        except Exception as exc:  # noqa: BLE001 - one certificate's PDF failing keeps its record in the archive
            problems.append({"number": c.number, "problem": repr(exc)})
            continue
        z.add(f"certificates/{_part(c.number)}-{_part(c.student_name)}.pdf", data)
        pdfs += 1
    return {"status": "included", "certificates": len(certs), "pdfs": pdfs, "problems": problems}


def _business_plans(z: _Zip, s: Session, files, cls: TrainingClass) -> dict:
    try:
        from server.coursework.businessplans import plan_documents
    except ImportError:
        return {"status": "pending", "note": "商业计划书模块尚未提供 / business plans module not available"}
    plans = plan_documents(s, cls.id)
    included = 0
    for p in plans:
        stem = f"business_plans/{p['student_id']}-v{p['version']}-plan{p['plan_id']}"
        if p.get("file_id"):
            got = _stored(s, files, p["file_id"])
            if got is not None:
                row, data = got
                ext = (p.get("file_name") or "").rsplit(".", 1)[-1] if "." in (p.get("file_name") or "") else \
                    EXT.get(row.content_type, "bin")
                z.add(f"{stem}.{_part(ext)}", data)
                included += 1
        if p.get("form") is not None:
            z.add(f"{stem}-form.json", _json(p["form"]))
            included += 1
    z.add("business_plans/plans.json", _json(plans))
    return {"status": "included", "plans": len(plans), "files": included, "rule": "EXAM-2"}


def _class_facts(cls: TrainingClass) -> dict:
    return {"id": cls.id, "name": cls.name, "course_type": cls.course_type, "delivery_mode": cls.delivery_mode,
            "profile": cls.profile, "district_code": cls.district_code, "status": cls.status,
            "institution_id": cls.institution_id, "institution": cls.institution.name if cls.institution else None,
            "subsidised": cls.subsidised}


# --------------------------------------------------------------------------- the archive

def build_archive(s: Session, svc, cls: TrainingClass, now: datetime, by: int | None) -> tuple[bytes, dict]:
    """The zip's bytes and its manifest (also inside, as ``manifest.json``)."""
    if cls.status not in FINISHED:
        raise NotFinished(cls.status)
    z = _Zip(now)
    sections = {"reports": _reports(z, s, svc, cls, now, by),
                "registration_forms_and_id_copies": _registration(z, s, svc.files, cls)}
    plan, lessons = _teaching_plan(z, s, cls)
    sections["teaching_plan"] = plan
    sections["teaching_data"] = _teaching_data(z, s, svc.settings, lessons)
    sections["attendance_records"] = _attendance(z, s, svc, cls, now)
    sections["certificates"] = _certificates(z, s, svc, cls)
    sections["business_plans"] = _business_plans(z, s, svc.files, cls)
    sections["evaluation_forms"] = {"status": "not kept by the platform",
                                    "note": "平台不保存评估表，请机构另行归档 / the platform keeps no evaluation forms"}
    manifest = {"format": FORMAT, "rule": "REC-2", "class": _class_facts(cls), "generated_at": _iso(now),
                "generated_by": by, "sections": sections, "members": list(z.members)}
    z.add("manifest.json", _json(manifest), listed=False)
    return z.close(), manifest


def make_archive(s: Session, svc, cls: TrainingClass, now: datetime, by: int | None):
    """Build and keep the archive: the ``class_documents`` row (kind ``archive``)."""
    data, manifest = build_archive(s, svc, cls, now, by)
    name = safe_filename(f"{cls.name}-班期档案-archive-{cls.id}-{now.astimezone(CHINA_TZ):%Y%m%d}", "zip")
    return keep(s, svc.files, cls, "archive", data, name, now=now, by=by), manifest
