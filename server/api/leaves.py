"""Leave requests (请假, CLS-8) and each student's absences and leaves (CLS-7).

A student asks for leave for some lessons, or for a whole teaching day, with a reason, before the
first of them starts (CLS-8, seed 004 "应在每日培训前向培训机构请假"); a lesson already under way
cannot be excused after the fact. The class's institution admin, its lecturers and its head teacher
approve or reject (rejection needs a reason); the student may cancel until the first lesson starts.
Every step is audited (SUP-6). Only approved leave excuses a missed lesson, and it still counts
toward the Hohhot limit: a leave of H class-hours on one day counts ceil(H / 4) times
(server/attendance/absences.py explains the choice). Supervisors read within their region (SUP-1).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy import or_, select

from models import ClassAssistant, ClassLecturer, Enrolment, Lesson, StudentProfile, TrainingClass, User
from models.leaves import ACTIVE_LEAVE_STATUSES, LEAVE_STATUSES, LeaveLesson, LeaveRequest
from server.api.common import get_class
from server.api.endpoint import Api, Ctx
from server.attendance import classfigures
from server.attendance.absences import leave_counts
from server.auth.scope import can_see_class, scope_classes
from server.errors import ApiError, Forbidden, NotFound
from server.services import CHINA_TZ
from server.validation import Body, Query

api = Api()
RUNNING = ("open", "in_progress")  # approved and not yet finished: the schedule can no longer change
DECIDERS = ("institution_admin", "lecturer", "assistant")  # an assistant only as the head teacher
READERS = ("platform_admin", "institution_admin", "lecturer", "assistant", "supervisor", "student")
MAX_ID = 2**31 - 1  # PostgreSQL integer: a larger id cannot exist and must not reach the database (a 500)
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]


class LeaveBody(Body):
    lesson_ids: list[int] | None = Field(default=None, min_length=1, max_length=100)
    day: date | None = None
    reason: str = Field(min_length=1, max_length=500)


class DecisionBody(Body):
    action: Literal["approve", "reject"]
    note: str | None = Field(default=None, max_length=500)


class LeaveQuery(Query):
    class_id: DbId | None = None
    student_id: DbId | None = None
    status: Literal[LEAVE_STATUSES] | None = None  # type: ignore[valid-type]
    limit: int = Field(default=200, ge=1, le=1000)


def _cn(moment: datetime | None) -> str | None:
    return moment.astimezone(CHINA_TZ).isoformat() if moment else None


def _day(moment: datetime) -> date:
    return moment.astimezone(CHINA_TZ).date()


def _profile(ctx: Ctx, cls: TrainingClass):
    return ctx.svc.profiles.get(cls.profile)


def _ids(*ids: int) -> None:
    """Path ids beyond the column's range name nothing: 404, as for any unknown id."""
    if any(not 0 < i <= MAX_ID for i in ids):
        raise NotFound()


def _enrolment(ctx: Ctx, class_id: int, student_id: int, *, lock: bool = False) -> Enrolment | None:
    q = ctx.s.query(Enrolment).filter_by(class_id=class_id, student_user_id=student_id, status="enrolled")
    if lock and not ctx.svc.settings.is_sqlite:
        q = q.with_for_update(of=Enrolment)  # one student's requests for a class in turn (no double leave)
    return q.one_or_none()


def _student_class(ctx: Ctx, class_id: int, *, lock: bool = False) -> TrainingClass:
    cls = ctx.s.get(TrainingClass, class_id)
    if cls is None or _enrolment(ctx, class_id, ctx.user.id, lock=lock) is None:
        raise NotFound("班期", "class")
    return cls


def may_decide(ctx: Ctx, cls: TrainingClass) -> bool:
    """The class's institution admin, its lecturers and its head teacher (CLS-8: 向培训机构请假)."""
    u = ctx.user
    if u is None or u.institution_id != cls.institution_id or u.role not in DECIDERS:
        return False
    if u.role == "institution_admin" or cls.head_teacher_user_id == u.id:
        return True
    return u.role == "lecturer" and ctx.s.get(ClassLecturer, (cls.id, u.id)) is not None


def _cls7(profile, cls: TrainingClass) -> dict:
    limit = profile.max_absences_for(cls.course_type) if profile and cls.course_type in profile.courses else None
    return {"rule": "CLS-7" if limit is not None else None, "max_absences": limit,
            "max_absence_class_hours": profile.max_absence_class_hours if profile else None,
            "replay_counts_as_study": bool(profile and profile.replay_counts_as_study)}


def leave_dict(ctx: Ctx, lv: LeaveRequest, cls: TrainingClass | None = None,
               lessons: dict[int, Lesson] | None = None) -> dict:
    cls = cls or ctx.s.get(TrainingClass, lv.class_id)
    if lessons is None:
        lessons = {le.id: le for le in ctx.s.scalars(select(Lesson).where(Lesson.id.in_(lv.lesson_ids)))}
    covered = sorted((lessons[i] for i in lv.lesson_ids if i in lessons), key=lambda le: le.starts_at)
    profile = _profile(ctx, cls)
    by_day: dict[date, int] = {}
    for le in covered:
        by_day[_day(le.starts_at)] = by_day.get(_day(le.starts_at), 0) + le.class_hours
    rule = _cls7(profile, cls)
    student = ctx.s.get(StudentProfile, lv.student_user_id)
    decider = ctx.s.get(User, lv.decided_by) if lv.decided_by else None
    active = lv.status in ACTIVE_LEAVE_STATUSES and ctx.now < lv.first_starts_at
    return {
        "id": lv.id, "class_id": lv.class_id, "class_name": cls.name, "course_type": cls.course_type,
        "student_id": lv.student_user_id, "student_name": student.real_name if student else None,
        "reason": lv.reason, "status": lv.status, "day": lv.day.isoformat() if lv.day else None,
        "lesson_ids": lv.lesson_ids,
        "lessons": [{"id": le.id, "title": le.title, "starts_at": _cn(le.starts_at), "ends_at": _cn(le.ends_at),
                     "class_hours": le.class_hours} for le in covered],
        "first_starts_at": _cn(lv.first_starts_at), "class_hours": lv.class_hours,
        # CLS-7: what this leave counts if every covered lesson is missed (ceil(H / 4) per day in Hohhot)
        "counts_as": leave_counts(by_day, rule["max_absence_class_hours"]), "cls7": rule,
        "requested_at": _cn(lv.requested_at), "decided_at": _cn(lv.decided_at),
        "decided_by": lv.decided_by, "decided_by_name": decider.display_name if decider else None,
        "decided_role": lv.decided_role, "decision_note": lv.decision_note, "cancelled_at": _cn(lv.cancelled_at),
        "can_decide": lv.status == "pending" and may_decide(ctx, cls),
        "can_cancel": active and ctx.user is not None and ctx.user.id == lv.student_user_id,
    }


def _too_late(first: datetime, what_zh: str, what_en: str, code: str, field: str | None) -> ApiError:
    return ApiError(code, f"{what_zh}须在所请课次开始（{_cn(first)}）之前提出",
                    f"{what_en} must come before the first lesson it covers starts ({_cn(first)})",
                    field=field, status=422, rule="CLS-8", details={"first_lesson_starts_at": _cn(first)})


@api.route("POST", "/api/classes/{class_id:int}/leaves", summary="学员请假 Request leave", tag="leave",
           roles=("student",), body=LeaveBody, status=201)
def request_leave(ctx: Ctx, body: LeaveBody, class_id: int):
    """CLS-8: leave for some lessons (``lesson_ids``) or a teaching day (``day``), before the first starts."""
    _ids(class_id)
    cls = _student_class(ctx, class_id, lock=True)
    if cls.status not in RUNNING:
        raise ApiError("LEAVE_CLASS_NOT_RUNNING", "班期尚未开班或已结束，不能请假",
                       f"Leave can be requested only while the class is open or in progress (it is {cls.status})",
                       field="class_id", status=422, rule="CLS-8")
    if (body.lesson_ids is None) == (body.day is None):
        raise ApiError("LEAVE_TARGET", "请选择请假的课次（lesson_ids）或日期（day）其中之一",
                       "Give exactly one of lesson_ids or day", field="lesson_ids", status=422)
    lessons = {le.id: le for le in cls.lessons}
    if body.lesson_ids is not None:
        if len(set(body.lesson_ids)) != len(body.lesson_ids):
            raise ApiError("LEAVE_LESSON_TWICE", "课次重复", "A lesson is listed twice", field="lesson_ids", status=422)
        for i, lid in enumerate(body.lesson_ids):
            if lid not in lessons:
                raise ApiError("LEAVE_LESSON_UNKNOWN", f"课次 {lid} 不属于本班期", f"Lesson {lid} is not in this class",
                               field=f"lesson_ids.{i}", status=422)
        covered = [lessons[i] for i in body.lesson_ids]
    else:
        covered = [le for le in cls.lessons if _day(le.starts_at) == body.day]
        if not covered:
            raise ApiError("LEAVE_NO_LESSONS", f"{body.day} 本班期没有课", f"The class has no lesson on {body.day}",
                           field="day", status=422)
    covered.sort(key=lambda le: le.starts_at)
    first = covered[0].starts_at
    if ctx.now >= first:
        raise _too_late(first, "请假", "Leave", "LEAVE_TOO_LATE", "day" if body.day else "lesson_ids")
    ids = [le.id for le in covered]
    clash = ctx.s.execute(
        select(LeaveRequest.id, LeaveLesson.lesson_id).join(LeaveLesson, LeaveLesson.leave_id == LeaveRequest.id)
        .where(LeaveRequest.class_id == cls.id, LeaveRequest.student_user_id == ctx.user.id,
               LeaveRequest.status.in_(ACTIVE_LEAVE_STATUSES), LeaveLesson.lesson_id.in_(ids))).all()
    if clash:
        raise ApiError("LEAVE_OVERLAP", "所选课次已有待审批或已批准的请假", "A chosen lesson already has a pending or approved leave",
                       field="lesson_ids", status=409, rule="CLS-8",
                       details={"leave_ids": sorted({c[0] for c in clash}), "lesson_ids": sorted({c[1] for c in clash})})
    lv = LeaveRequest(class_id=cls.id, student_user_id=ctx.user.id, reason=body.reason, status="pending",
                      day=body.day, first_starts_at=first, class_hours=sum(le.class_hours for le in covered),
                      requested_at=ctx.now, lessons=[LeaveLesson(lesson_id=i) for i in ids])
    ctx.s.add(lv)
    ctx.s.flush()
    ctx.audit("leave.request", target_type="leave", target_id=lv.id, institution_id=cls.institution_id,
              region_code=cls.district_code, class_id=cls.id, lesson_ids=ids, class_hours=lv.class_hours)
    return leave_dict(ctx, lv, cls, lessons)


def _visible_leave(ctx: Ctx, leave_id: int) -> tuple[LeaveRequest, TrainingClass]:
    _ids(leave_id)
    lv = ctx.s.get(LeaveRequest, leave_id)
    cls = ctx.s.get(TrainingClass, lv.class_id) if lv else None
    if lv is None or cls is None:
        raise NotFound("请假申请", "leave request")
    if ctx.user.role == "student":
        if lv.student_user_id != ctx.user.id:
            raise NotFound("请假申请", "leave request")
    elif not can_see_class(ctx.user, cls):
        raise NotFound("请假申请", "leave request")
    return lv, cls


@api.route("GET", "/api/leaves", summary="请假列表 List leave requests", tag="leave", roles=READERS, query=LeaveQuery)
def list_leaves(ctx: Ctx, query: LeaveQuery):
    """Students see their own; lecturers and assistants their classes'; admins their institution's;
    supervisors their region's (SUP-1)."""
    u = ctx.user
    stmt = select(LeaveRequest).join(TrainingClass, TrainingClass.id == LeaveRequest.class_id)
    if u.role == "student":
        stmt = stmt.where(LeaveRequest.student_user_id == u.id)
    else:
        stmt = scope_classes(stmt, u)
        if u.role in ("lecturer", "assistant"):
            stmt = stmt.where(or_(
                TrainingClass.head_teacher_user_id == u.id,
                TrainingClass.id.in_(select(ClassLecturer.class_id).where(ClassLecturer.user_id == u.id).union(
                    select(ClassAssistant.class_id).where(ClassAssistant.user_id == u.id)))))
    if query.class_id is not None:
        stmt = stmt.where(LeaveRequest.class_id == query.class_id)
    if query.student_id is not None:
        stmt = stmt.where(LeaveRequest.student_user_id == query.student_id)
    if query.status is not None:
        stmt = stmt.where(LeaveRequest.status == query.status)
    rows = list(ctx.s.scalars(stmt.order_by(LeaveRequest.first_starts_at.desc(), LeaveRequest.id.desc())
                              .limit(query.limit)))
    classes = {c.id: c for c in ctx.s.scalars(select(TrainingClass).where(
        TrainingClass.id.in_({lv.class_id for lv in rows})))}
    lessons = {le.id: le for le in ctx.s.scalars(select(Lesson).where(
        Lesson.id.in_({i for lv in rows for i in lv.lesson_ids})))}
    return {"items": [leave_dict(ctx, lv, classes[lv.class_id], lessons) for lv in rows]}


@api.route("GET", "/api/leaves/{leave_id:int}", summary="请假详情 Leave request", tag="leave", roles=READERS)
def show_leave(ctx: Ctx, leave_id: int):
    lv, cls = _visible_leave(ctx, leave_id)
    return leave_dict(ctx, lv, cls)


@api.route("POST", "/api/leaves/{leave_id:int}/decision", summary="审批请假 Approve or reject leave", tag="leave",
           roles=DECIDERS, body=DecisionBody)
def decide_leave(ctx: Ctx, body: DecisionBody, leave_id: int):
    """The institution admin, a lecturer of the class or its head teacher decides; a pending request
    filed in time may still be approved after its lessons (the student asked before them, CLS-8)."""
    lv, cls = _visible_leave(ctx, leave_id)
    if not may_decide(ctx, cls):
        raise Forbidden("LEAVE_NOT_APPROVER", "只有本班期的机构管理员、授课讲师或班主任可以审批请假",
                        "Only the class's institution admin, its lecturers or its head teacher may decide leave",
                        rule="CLS-8")
    if lv.status != "pending":
        raise ApiError("LEAVE_NOT_PENDING", f"该请假已处理（{lv.status}），不能再审批",
                       f"This leave request is already {lv.status}", field="action", status=409, rule="CLS-8")
    if cls.status == "archived":
        raise ApiError("CLASS_ARCHIVED", "班期已归档", "The class is archived", status=409)
    if body.action == "reject" and not body.note:
        raise ApiError("REASON_REQUIRED", "驳回请假须填写原因", "A rejection needs a note", field="note", status=422,
                       rule="CLS-8")
    lv.status = "approved" if body.action == "approve" else "rejected"
    lv.decided_at, lv.decided_by, lv.decided_role, lv.decision_note = ctx.now, ctx.user.id, ctx.user.role, body.note
    ctx.audit(f"leave.{body.action}", target_type="leave", target_id=lv.id, institution_id=cls.institution_id,
              region_code=cls.district_code, class_id=cls.id, student_id=lv.student_user_id, note=body.note)
    return leave_dict(ctx, lv, cls)


@api.route("POST", "/api/leaves/{leave_id:int}/cancel", summary="撤销请假 Cancel leave", tag="leave",
           roles=("student",))
def cancel_leave(ctx: Ctx, leave_id: int):
    """The student withdraws a pending or approved leave, until its first lesson starts (CLS-8)."""
    lv, cls = _visible_leave(ctx, leave_id)
    if lv.status not in ACTIVE_LEAVE_STATUSES:
        raise ApiError("LEAVE_NOT_ACTIVE", f"该请假已是 {lv.status} 状态，不能撤销", f"This leave request is already {lv.status}",
                       status=409, rule="CLS-8")
    if ctx.now >= lv.first_starts_at:
        raise _too_late(lv.first_starts_at, "撤销请假", "Cancelling leave", "LEAVE_CANCEL_TOO_LATE", None)
    previous = lv.status
    lv.status, lv.cancelled_at = "cancelled", ctx.now
    ctx.audit("leave.cancel", target_type="leave", target_id=lv.id, institution_id=cls.institution_id,
              region_code=cls.district_code, class_id=cls.id, previous_status=previous)
    return leave_dict(ctx, lv, cls)


@api.route("GET", "/api/me/leaves", summary="我的请假 My leave and lessons I may ask leave for", tag="leave",
           roles=("student",))
def my_leaves(ctx: Ctx):
    """The student's leave requests, and per running class the lessons not yet started (the form's choices)."""
    rows = list(ctx.s.scalars(select(LeaveRequest).where(LeaveRequest.student_user_id == ctx.user.id)
                              .order_by(LeaveRequest.first_starts_at.desc(), LeaveRequest.id.desc()).limit(500)))
    classes = list(ctx.s.scalars(select(TrainingClass).join(Enrolment, Enrolment.class_id == TrainingClass.id).where(
        Enrolment.student_user_id == ctx.user.id, Enrolment.status == "enrolled").order_by(TrainingClass.id)))
    by_id = {c.id: c for c in classes}
    for lv in rows:
        by_id.setdefault(lv.class_id, ctx.s.get(TrainingClass, lv.class_id))
    out_classes = []
    for cls in classes:
        upcoming = [le for le in cls.lessons if le.starts_at > ctx.now] if cls.status in RUNNING else []
        out_classes.append({"id": cls.id, "name": cls.name, "course_type": cls.course_type, "status": cls.status,
                            "accepts_leave": cls.status in RUNNING, "cls7": _cls7(_profile(ctx, cls), cls),
                            "lessons": [{"id": le.id, "title": le.title, "starts_at": _cn(le.starts_at),
                                         "ends_at": _cn(le.ends_at), "day": _day(le.starts_at).isoformat(),
                                         "class_hours": le.class_hours, "mode": le.mode} for le in upcoming]})
    return {"items": [leave_dict(ctx, lv, by_id[lv.class_id]) for lv in rows], "classes": out_classes}


def _absence_class(ctx: Ctx, class_id: int) -> TrainingClass:
    _ids(class_id)
    if ctx.user.role == "student":
        return _student_class(ctx, class_id)
    return get_class(ctx, class_id)


@api.route("GET", "/api/classes/{class_id:int}/absences", summary="缺勤与请假统计 Absences and leaves",
           tag="leave", roles=READERS)
def class_absences(ctx: Ctx, class_id: int):
    """CLS-7 per student: absences, leaves, the limit and whether they are barred from the final
    assessment, with the numbers behind it; CLS-8 replay make-up. Students get their own row only."""
    cls = _absence_class(ctx, class_id)
    only = [ctx.user.id] if ctx.user.role == "student" else None
    figures = classfigures.load(ctx.s, cls.id, ctx.svc.profiles, ctx.now, students=only)
    found = figures.absences()
    return {"class_id": cls.id, "course_type": cls.course_type, "profile": cls.profile,
            "cls7": _cls7(_profile(ctx, cls), cls), "as_of": _cn(ctx.now),
            "items": [dict(found[uid].summary(), student_name=name) for uid, name in figures.roster]}


@api.route("GET", "/api/classes/{class_id:int}/absences/{student_id:int}",
           summary="学员缺勤明细 A student's absences, lesson by lesson", tag="leave", roles=READERS)
def student_absences(ctx: Ctx, class_id: int, student_id: int):
    """Every lesson's verdict (present / absent / leave / pending / not held) and the occurrences
    CLS-7 counts, so each figure can be traced to its lesson."""
    cls = _absence_class(ctx, class_id)
    _ids(student_id)
    if ctx.user.role == "student" and student_id != ctx.user.id:
        raise NotFound("学员", "student")
    figures = classfigures.load(ctx.s, cls.id, ctx.svc.profiles, ctx.now, students=[student_id])
    if not figures.roster:
        raise NotFound("学员", "student")
    result = figures.absences()[student_id].as_dict()
    titles = {h.lesson.id: (h.lesson.title, h.starts_at) for h in figures.lessons}
    for mark in result["lessons"]:
        mark["title"], mark["starts_at"] = titles[mark["lesson_id"]][0], _cn(titles[mark["lesson_id"]][1])
    return dict(result, class_id=cls.id, student_name=figures.roster[0][1], as_of=_cn(ctx.now))
