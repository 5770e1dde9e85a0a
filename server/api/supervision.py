"""Supervisor dashboards over HTTP (SUP-1/2/3, PLAT-3; issue 6 §4), page client_web/supervise.html.

``GET /api/supervision/...``: ``overview``, ``institutions``, ``classes`` (filters ``status``,
``institution_id``, ``live_now``), ``classes/{id}`` (everything about one class in one answer),
``classes/{id}/roster``, ``/teachers``, ``/lessons`` and ``/attendance`` (``view=students|lessons``).

* **Who**: supervisors see their region (server/auth/scope.py), platform admins everything,
  institution admins their own institution. A class outside one's scope answers 404, as everywhere.
* **Tables**: every table answers ``{"columns": [{key, zh, en, kind}], "items": [...]}``, or with
  ``?format=csv|xlsx`` the same rows as a download (server/export.py: UTF-8 BOM CSV, XLSX, formula
  guard) named in Chinese (RFC 5987 ``filename*``). Any other format is a 422 naming ``format``.
* **Records** (SUP-6, PLAT-3): the endpoint layer audits every supervisor read (``supervisor.read``);
  every export, by any role, is audited here too (``supervision.export``: table, format, rows), since a
  file with personal data leaves the platform. The roster is masked (server/supervision/dashboard.py).
* Numbers come from server/supervision/dashboard.py, attendance from server/attendance (the same
  figures as the attendance page).
"""
from __future__ import annotations

from typing import Annotated, Literal, Sequence

from pydantic import Field

from models import TrainingClass
from models.classes import CLASS_STATUSES
from server.api.common import get_class
from server.api.endpoint import Api, Ctx
from server.errors import NotFound
from server.export import Column, attachment, columns_json, render, safe_filename
from server.supervision import dashboard as db
from server.validation import Query

api = Api()
TAG = "supervision"
ROLES = ("supervisor", "platform_admin", "institution_admin")
MAX_ID = 2**31 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]


class TableQuery(Query):
    format: Literal["json", "csv", "xlsx"] = "json"


class ClassesQuery(TableQuery):
    status: Literal[CLASS_STATUSES] | None = None  # type: ignore[valid-type]
    institution_id: DbId | None = None
    live_now: bool | None = None


class AttendanceQuery(TableQuery):
    view: Literal["students", "lessons"] = "students"


def _class(ctx: Ctx, class_id: int) -> TrainingClass:
    if not 0 < class_id <= MAX_ID:
        raise NotFound("班期", "class")
    return get_class(ctx, class_id)


def _table(ctx: Ctx, query: TableQuery, columns: Sequence[Column], rows: list[dict], *, name_zh: str,
           name_en: str, cls: TrainingClass | None = None, **extra):
    """JSON with the column spec, or the download the query asks for (module docstring)."""
    if query.format == "json":
        return {"columns": columns_json(columns), "items": rows, **extra}
    day = ctx.today.isoformat()
    stem_zh = f"{name_zh}-{cls.name}-{day}" if cls else f"{name_zh}-{day}"
    stem_en = f"{name_en}-class-{cls.id}-{day}" if cls else f"{name_en}-{day}"
    data, media_type = render(rows, columns, query.format, title=name_zh)
    ctx.audit("supervision.export", target_type="class" if cls else "table", target_id=cls.id if cls else name_en,
              institution_id=cls.institution_id if cls else ctx.user.institution_id,
              region_code=cls.district_code if cls else ctx.user.region_code,
              table=name_en, format=query.format, rows=len(rows), rule="PLAT-3")
    return attachment(data, media_type, safe_filename(stem_zh, query.format), safe_filename(stem_en, query.format))


@api.route("GET", "/api/supervision/overview", summary="监管总览 Region overview", tag=TAG, roles=ROLES)
def overview(ctx: Ctx):
    """SUP-1: institutions, classes by status, enrolled students, today's lessons, live lessons now and
    planned / elapsed class-hours, over the caller's region (or institution)."""
    return db.overview(ctx.s, ctx.user, ctx.now)


@api.route("GET", "/api/supervision/institutions", summary="辖区机构 Institutions in scope", tag=TAG, roles=ROLES,
           query=TableQuery)
def institutions(ctx: Ctx, query: TableQuery):
    """SUP-1: the region's institutions, and those running a class in it, with class and student counts."""
    return _table(ctx, query, db.INSTITUTION_COLUMNS, db.institutions(ctx.s, ctx.user, ctx.now),
                  name_zh="培训机构", name_en="institutions")


@api.route("GET", "/api/supervision/classes", summary="辖区班期 Classes in scope", tag=TAG, roles=ROLES,
           query=ClassesQuery)
def classes(ctx: Ctx, query: ClassesQuery):
    """SUP-1/2: classes with status, planned and elapsed class-hours, and the lesson live now (SUP-4:
    ``spectate_lesson_id`` is a live room open to spectators). Live classes first."""
    rows = db.classes(ctx.s, ctx.user, ctx.now, status=query.status, institution_id=query.institution_id,
                      live_now=query.live_now)
    return _table(ctx, query, db.CLASS_COLUMNS, rows, name_zh="班期列表", name_en="classes", as_of=db.cn(ctx.now))


@api.route("GET", "/api/supervision/classes/{class_id:int}", summary="班期监管详情 Class detail for supervision",
           tag=TAG, roles=ROLES)
def class_detail(ctx: Ctx, class_id: int):
    """SUP-1/2/3: roster (masked), teachers and certificates, schedule with each lesson's status and the
    progress, attendance per student and per lesson, exams and certificates (not available yet)."""
    cls = _class(ctx, class_id)
    figures = db.load_figures(ctx.s, cls, ctx.svc.profiles, ctx.now)
    lessons, prog = db.schedule(ctx.s, cls, ctx.now, ctx.svc.profiles, figures)
    att = db.attendance(cls, figures, lessons)
    live = next((r for r in lessons if r["status"] == "live"), None)
    enter = next((r for r in lessons if r["room_open"]), None)
    return {
        "class": db.class_summary(cls, db.enrolled_count(ctx.s, cls)), "as_of": db.cn(ctx.now),
        "progress": prog, "live_lesson_id": live["lesson_id"] if live else None,
        "spectate_lesson_id": enter["lesson_id"] if enter else None,
        "roster": {"columns": columns_json(db.ROSTER_COLUMNS), "items": db.roster(ctx.s, cls)},
        "teachers": {"columns": columns_json(db.TEACHER_COLUMNS), "items": db.teachers(ctx.s, cls, ctx.today)},
        "lessons": {"columns": columns_json(db.LESSON_COLUMNS), "items": lessons},
        "attendance": {"thresholds": att["thresholds"], "lessons_started": att["lessons_started"],
                       "lessons_total": att["lessons_total"],
                       "students": {"columns": columns_json(db.STUDENT_ATTENDANCE_COLUMNS), "items": att["students"]},
                       "lessons": {"columns": columns_json(db.LESSON_ATTENDANCE_COLUMNS), "items": att["lessons"]}},
        "exams": db.exams(ctx.s, cls), "certificates": db.certificates(ctx.s, cls),
    }


@api.route("GET", "/api/supervision/classes/{class_id:int}/roster", summary="花名册（脱敏） Roster, masked", tag=TAG,
           roles=ROLES, query=TableQuery)
def roster(ctx: Ctx, query: TableQuery, class_id: int):
    """SUP-1 / PLAT-3: every enrolment with masked name, ID number and mobile only."""
    cls = _class(ctx, class_id)
    return _table(ctx, query, db.ROSTER_COLUMNS, db.roster(ctx.s, cls), name_zh="花名册", name_en="roster", cls=cls)


@api.route("GET", "/api/supervision/classes/{class_id:int}/teachers", summary="师资与证书 Teachers and certificates",
           tag=TAG, roles=ROLES, query=TableQuery)
def teachers(ctx: Ctx, query: TableQuery, class_id: int):
    """SUP-1 / CLS-2: lecturers with certificate number, kind, issuer and validity; assistants; head teacher."""
    cls = _class(ctx, class_id)
    return _table(ctx, query, db.TEACHER_COLUMNS, db.teachers(ctx.s, cls, ctx.today), name_zh="师资",
                  name_en="teachers", cls=cls)


@api.route("GET", "/api/supervision/classes/{class_id:int}/lessons", summary="课表与进度 Schedule and progress",
           tag=TAG, roles=ROLES, query=TableQuery)
def lessons(ctx: Ctx, query: TableQuery, class_id: int):
    """SUP-2: each lesson's status (a live lesson is delivered only if its log shows the lecturer live) and
    class-hours delivered against planned."""
    cls = _class(ctx, class_id)
    figures = db.load_figures(ctx.s, cls, ctx.svc.profiles, ctx.now)
    rows, prog = db.schedule(ctx.s, cls, ctx.now, ctx.svc.profiles, figures)
    return _table(ctx, query, db.LESSON_COLUMNS, rows, name_zh="课表", name_en="schedule", cls=cls, progress=prog)


@api.route("GET", "/api/supervision/classes/{class_id:int}/attendance", summary="考勤汇总 Attendance so far",
           tag=TAG, roles=ROLES, query=AttendanceQuery)
def attendance(ctx: Ctx, query: AttendanceQuery, class_id: int):
    """SUP-1 / ATT-2: per student (``view=students``, the attendance page's figures, names masked) or per
    lesson (``view=lessons``: present / absent / on leave, ATT-3 and ATT-4 met)."""
    cls = _class(ctx, class_id)
    figures = db.load_figures(ctx.s, cls, ctx.svc.profiles, ctx.now)
    rows, _ = db.schedule(ctx.s, cls, ctx.now, ctx.svc.profiles, figures)
    att = db.attendance(cls, figures, rows)
    extra = {"thresholds": att["thresholds"], "lessons_started": att["lessons_started"],
             "lessons_total": att["lessons_total"], "view": query.view}
    if query.view == "lessons":
        return _table(ctx, query, db.LESSON_ATTENDANCE_COLUMNS, att["lessons"], name_zh="课次考勤",
                      name_en="lesson-attendance", cls=cls, **extra)
    return _table(ctx, query, db.STUDENT_ATTENDANCE_COLUMNS, att["students"], name_zh="学员考勤",
                  name_en="student-attendance", cls=cls, **extra)
