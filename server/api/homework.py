"""Homework (LIVE-7): set per lesson day, submitted on the phone, checked by lecturer or assistant.

* ``POST /api/classes/{id}/homework`` — the class's lecturer or institution admin sets homework for a
  lesson day (title, instructions, due time).
* ``GET /api/classes/{id}/homework`` — staff and supervisors: each homework with submitted / checked /
  missing counts (an assistant counts their own group); a student of the class: their status per homework.
* ``GET /api/homework/{id}`` — staff: who has and has not submitted, the current version and history;
  a student: their own versions with marks and comments.
* ``POST /api/homework/{id}/submissions`` — multipart: ``text`` and up to three ``photo``/``photo2``/
  ``photo3`` (JPEG/PNG, re-encoded) and ``file``/``file2``/``file3`` (PDF, DOCX, JPEG, PNG; 10 MB each,
  judged by content). The text is screened (LIVE-5). A new version supersedes an unchecked one.
* ``POST /api/homework-submissions/{id}/check`` — mark (excellent 优 / good 良 / pass 合格 / fail 不合格 /
  redo 重做) and comment; "redo" lets the student submit again.
* ``GET /api/homework-submissions/{id}/files/{file_id}`` — an attachment, to the student and the staff.
* ``GET /api/me/homework`` — a student's homework in all their classes.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from urllib.parse import quote

from pydantic import AwareDatetime, Field
from sqlalchemy import select
from starlette.responses import Response

from models import Enrolment, StoredFile, TrainingClass, User
from models.coursework import HOMEWORK_MARKS, Homework, HomeworkSubmission
from server.api.common import get_class
from server.api.endpoint import Api, Ctx, Upload
from server.coursework import homework as hwk
from server.coursework.uploads import MiB, check_file, prepare, store
from server.errors import ApiError, NotFound
from server.screening.warnings import screen_upload
from server.services import CHINA_TZ
from server.validation import Body

api = Api()
RULE = hwk.RULE
MAX_ID = 2**31 - 1
MAX_FILE_BYTES = 10 * MiB
MAX_TEXT = 20000
STAFF = ("platform_admin", "supervisor", "institution_admin", "lecturer", "assistant")
CHECKERS = ("institution_admin", "lecturer", "assistant")
PHOTO_FIELDS = ("photo", "photo2", "photo3")
FILE_FIELDS = ("file", "file2", "file3")
SUBMIT_FIELDS = {"text": "作业文字 Answer text", **{f: "照片 Photo (JPEG/PNG)" for f in PHOTO_FIELDS},
                 **{f: "文件 File (PDF/DOCX/JPEG/PNG, ≤10 MB)" for f in FILE_FIELDS}}


class SetBody(Body):
    lesson_day: date
    title: str = Field(min_length=1, max_length=200)
    instructions: str = Field(default="", max_length=5000)
    due_at: AwareDatetime


class CheckBody(Body):
    mark: Literal[HOMEWORK_MARKS]  # type: ignore[valid-type]
    comment: str | None = Field(default=None, max_length=2000)


def _cn(at: datetime | None) -> str | None:
    return at.astimezone(CHINA_TZ).isoformat() if at else None


def _id(i: int) -> None:
    if not 0 < i <= MAX_ID:
        raise NotFound()


def hw_dict(h: Homework) -> dict:
    return {"id": h.id, "class_id": h.class_id, "lesson_day": h.lesson_day.isoformat(), "title": h.title,
            "instructions": h.instructions, "due_at": _cn(h.due_at), "created_by": h.created_by,
            "created_at": _cn(h.created_at)}


def sub_dict(x: HomeworkSubmission, hw: Homework, names: dict[int, str] | None = None) -> dict:
    return {"id": x.id, "homework_id": x.homework_id, "student_id": x.student_user_id, "version": x.version,
            "text": x.text, "attachments": x.attachments, "submitted_at": _cn(x.submitted_at),
            "late": x.submitted_at > hw.due_at, "status": x.status, "screening_held": x.screening_held,
            "mark": x.mark, "mark_zh": hwk.MARK_LABELS.get(x.mark) if x.mark else None, "comment": x.comment,
            "checked_by": x.checked_by, "checked_by_name": (names or {}).get(x.checked_by),
            "checked_at": _cn(x.checked_at)}


def _names(ctx: Ctx, ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(ctx.s.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())


def _student_class(ctx: Ctx, class_id: int) -> TrainingClass:
    cls = ctx.s.get(TrainingClass, class_id)
    if cls is None or not hwk.is_enrolled(ctx.s, class_id, ctx.user.id):
        raise NotFound("班期", "class")
    return cls


def _class_for(ctx: Ctx, class_id: int) -> TrainingClass:
    return _student_class(ctx, class_id) if ctx.user.role == "student" else get_class(ctx, class_id)


def _homework(ctx: Ctx, homework_id: int) -> tuple[Homework, TrainingClass]:
    _id(homework_id)
    hw = ctx.s.get(Homework, homework_id)
    if hw is None:
        raise NotFound("作业", "homework")
    try:
        cls = _class_for(ctx, hw.class_id)
    except NotFound:
        raise NotFound("作业", "homework") from None
    return hw, cls


def _group(ctx: Ctx, cls: TrainingClass) -> int | None:
    """An assistant sees their own group (LIVE-4); everyone else the whole roster."""
    return ctx.user.id if ctx.user.role == "assistant" else None


@api.route("POST", "/api/classes/{class_id:int}/homework", summary="布置作业 Set homework", tag="homework",
           roles=("institution_admin", "lecturer"), body=SetBody, status=201)
def set_homework(ctx: Ctx, body: SetBody, class_id: int):
    """LIVE-7: homework for one lesson day of the class, by its lecturer or institution admin."""
    _id(class_id)
    cls = get_class(ctx, class_id)
    hw = hwk.set_homework(ctx.s, cls, user=ctx.user, lesson_day=body.lesson_day, title=body.title,
                          instructions=body.instructions, due_at=body.due_at, now=ctx.now)
    ctx.audit("homework.set", target_type="homework", target_id=hw.id, institution_id=cls.institution_id,
              region_code=cls.district_code, class_id=cls.id, lesson_day=hw.lesson_day.isoformat(), rule=RULE)
    return hw_dict(hw)


@api.route("GET", "/api/classes/{class_id:int}/homework", summary="班期作业 Class homework", tag="homework",
           roles=STAFF + ("student",))
def list_homework(ctx: Ctx, class_id: int):
    """Staff: counts per homework (an assistant: their group). A student: their status per homework."""
    _id(class_id)
    cls = _class_for(ctx, class_id)
    rows = list(ctx.s.scalars(select(Homework).where(Homework.class_id == cls.id)
                              .order_by(Homework.lesson_day, Homework.id)))
    cur = hwk.current(ctx.s, [h.id for h in rows])
    if ctx.user.role == "student":
        return {"class_id": cls.id, "class_name": cls.name, "homework": [_student_item(h, cur.get((h.id, ctx.user.id)))
                                                                         for h in rows]}
    people = [sid for sid, _ in hwk.roster(ctx.s, cls.id, assistant_id=_group(ctx, cls))]
    out = []
    for h in rows:
        st = [hwk.status_of(cur.get((h.id, sid))) for sid in people]
        out.append(hw_dict(h) | {"students": len(people), "not_submitted": st.count("not_submitted"),
                                 "submitted": st.count("submitted"), "checked": st.count("checked"),
                                 "redo": st.count("redo")})
    return {"class_id": cls.id, "class_name": cls.name, "may_set": hwk.may_set(ctx.s, ctx.user, cls),
            "lesson_days": [d.isoformat() for d in hwk.lesson_days(ctx.s, cls.id)], "homework": out}


def _student_item(h: Homework, sub: HomeworkSubmission | None) -> dict:
    return hw_dict(h) | {"my_status": hwk.status_of(sub), "current": sub_dict(sub, h) if sub else None}


@api.route("GET", "/api/homework/{homework_id:int}", summary="作业详情 Homework and submissions", tag="homework",
           roles=STAFF + ("student",))
def homework_detail(ctx: Ctx, homework_id: int):
    """Staff: each student's status, current version and history (who has and hasn't submitted)."""
    hw, cls = _homework(ctx, homework_id)
    if ctx.user.role == "student":
        mine = hwk.versions(ctx.s, hw.id, ctx.user.id)
        names = _names(ctx, [x.checked_by for x in mine])
        return hw_dict(hw) | {"my_status": hwk.status_of(mine[-1] if mine else None),
                              "versions": [sub_dict(x, hw, names) for x in mine]}
    people = hwk.roster(ctx.s, cls.id, assistant_id=_group(ctx, cls))
    allv = hwk.versions(ctx.s, hw.id)
    names = _names(ctx, [x.checked_by for x in allv])
    by_student: dict[int, list] = {}
    for x in allv:
        by_student.setdefault(x.student_user_id, []).append(x)
    may_all = hwk.may_set(ctx.s, ctx.user, cls)
    students = []
    for sid, name in people:
        vs = by_student.get(sid, [])
        cur = vs[-1] if vs else None
        students.append({"student_id": sid, "name": name, "status": hwk.status_of(cur),
                         "current": sub_dict(cur, hw, names) if cur else None,
                         "history": [sub_dict(x, hw, names) for x in vs[:-1]],
                         "may_check": may_all or (ctx.user.role == "assistant"
                                                  and hwk.is_assistant(ctx.s, cls.id, ctx.user.id))})
    return hw_dict(hw) | {"class_name": cls.name, "students": students,
                          "not_submitted": [x["student_id"] for x in students if x["status"] == "not_submitted"]}


def _uploads(ctx: Ctx, form: dict, cls: TrainingClass) -> list[dict]:
    out = []
    for field in PHOTO_FIELDS + FILE_FIELDS:
        up = form.get(field)
        if up is None or (isinstance(up, str) and not up) or (isinstance(up, Upload) and not up.filename
                                                              and not up.data):
            continue  # an empty file input of a plain HTML form
        if not isinstance(up, Upload):
            raise ApiError("FILE_EXPECTED", f"字段 {field} 应为文件", f"{field} must be a file", field=field,
                           status=422, rule=RULE)
        allowed = ("jpeg", "png") if field in PHOTO_FIELDS else ("pdf", "docx", "jpeg", "png")
        checked = check_file(up.data, up.filename, allowed=allowed, max_bytes=MAX_FILE_BYTES, field=field, rule=RULE)
        out.append(prepare(checked, field=field, rule=RULE))
    return [store(ctx.svc.files, ctx.s, p, kind="homework", owner_user_id=ctx.user.id,
                  institution_id=cls.institution_id) for p in out]


@api.route("POST", "/api/homework/{homework_id:int}/submissions", summary="提交作业 Submit homework",
           tag="homework", roles=("student",), body="multipart", status=201, multipart_fields=SUBMIT_FIELDS)
def submit_homework(ctx: Ctx, form: dict, homework_id: int):
    """LIVE-7: text and/or photos and files; a new version replaces an unchecked one (history kept)."""
    hw, cls = _homework(ctx, homework_id)
    text = form.get("text")
    if text is not None and not isinstance(text, str):
        raise ApiError("TEXT_EXPECTED", "作业文字应为文本", "text must be text", field="text", status=422, rule=RULE)
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise ApiError("HOMEWORK_TEXT_TOO_LONG", f"作业文字不能超过 {MAX_TEXT} 字",
                       f"The answer text is limited to {MAX_TEXT} characters", field="text", status=422, rule=RULE)
    # refusals that need no file first, so a refused student leaves no stored file behind
    if not hwk.is_enrolled(ctx.s, cls.id, ctx.user.id):
        raise NotFound("作业", "homework")
    hwk.ensure_may_submit(ctx.s, hw, cls, ctx.user)
    held = False
    if text:
        held = screen_upload(ctx.s, text, now=ctx.now, class_id=cls.id, user_id=ctx.user.id,
                             context={"kind": "homework", "homework_id": hw.id}).held
    files = _uploads(ctx, form, cls)
    sub = hwk.submit(ctx.s, hw, cls, student=ctx.user, text=text, attachments=files, screening_held=held, now=ctx.now)
    ctx.audit("homework.submit", target_type="homework_submission", target_id=sub.id,
              institution_id=cls.institution_id, region_code=cls.district_code, homework_id=hw.id,
              version=sub.version, files=len(files), rule=RULE)
    return sub_dict(sub, hw)


@api.route("POST", "/api/homework-submissions/{submission_id:int}/check", summary="批改作业 Check homework",
           tag="homework", roles=CHECKERS, body=CheckBody)
def check_homework(ctx: Ctx, body: CheckBody, submission_id: int):
    """LIVE-7: the class's lecturer / institution admin, or the student's own assistant."""
    _id(submission_id)
    sub = ctx.s.get(HomeworkSubmission, submission_id)
    if sub is None:
        raise NotFound("作业提交", "submission")
    hw, cls = _homework(ctx, sub.homework_id)
    hwk.check(ctx.s, sub, cls, user=ctx.user, mark=body.mark, comment=body.comment, now=ctx.now)
    ctx.audit("homework.check", target_type="homework_submission", target_id=sub.id,
              institution_id=cls.institution_id, region_code=cls.district_code, mark=sub.mark, rule=RULE)
    return sub_dict(sub, hw, _names(ctx, [sub.checked_by]))


@api.route("GET", "/api/homework-submissions/{submission_id:int}/files/{file_id:int}",
           summary="作业附件 Homework attachment", tag="homework", roles=STAFF + ("student",))
def attachment(ctx: Ctx, submission_id: int, file_id: int):
    _id(submission_id)
    _id(file_id)
    sub = ctx.s.get(HomeworkSubmission, submission_id)
    if sub is None or (ctx.user.role == "student" and sub.student_user_id != ctx.user.id):
        raise NotFound("附件", "attachment")
    _homework(ctx, sub.homework_id)
    if file_id not in {a.get("file_id") for a in sub.attachments or []}:
        raise NotFound("附件", "attachment")
    row = ctx.s.get(StoredFile, file_id)
    if row is None:
        raise NotFound("附件", "attachment")
    entry = next(a for a in sub.attachments if a.get("file_id") == file_id)
    name = entry.get("name")
    return Response(ctx.svc.files.read(row), media_type=entry.get("content_type") or row.content_type,
                    headers={"Cache-Control": "private, no-store",
                             "Content-Disposition": f"inline; filename*=UTF-8''{quote(name or 'file')}"})


@api.route("GET", "/api/me/homework", summary="我的作业 My homework", tag="homework", roles=("student",))
def my_homework(ctx: Ctx):
    """The phone page's list: every homework of the student's classes with its status, newest day first."""
    classes = list(ctx.s.scalars(select(TrainingClass).join(Enrolment, Enrolment.class_id == TrainingClass.id).where(
        Enrolment.student_user_id == ctx.user.id, Enrolment.status != "withdrawn").order_by(TrainingClass.id)))
    out = []
    for cls in classes:
        rows = list(ctx.s.scalars(select(Homework).where(Homework.class_id == cls.id)
                                  .order_by(Homework.lesson_day.desc(), Homework.id)))
        cur = hwk.current(ctx.s, [h.id for h in rows])
        out.append({"class_id": cls.id, "class_name": cls.name, "course_type": cls.course_type,
                    "homework": [_student_item(h, cur.get((h.id, ctx.user.id))) for h in rows]})
    return {"classes": out}
