"""Classes (班期): planning by the institution, review by HR, the life cycle (CLS-*, REG-3/4/5)."""
from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import AwareDatetime, Field
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import (ClassAssistant, ClassLecturer, ClassTransition, Enrolment, LecturerProfile, Lesson,
                    StudentProfile, TrainingClass, User)
from server.api.common import Name, RegionCode, get_class, get_user_in_institution
from server.api.endpoint import Api, Ctx
from server.api.students import student_dict
from server.auth.scope import scope_classes
from server.coursepackages import planning as packages
from server.domain import classplan
from server.domain.assistants import balanced_split
from server.domain.enrolment import audience_problem, prior_conflicts
from server.domain.venue import venue_dict, venue_problem
from server.domain.workflow import EDITABLE, pending_level, plan_move
from server.errors import ApiError, NotFound, RuleViolations
from server.policy.profiles import COURSE_TYPES
from server.services import CHINA_TZ
from server.validation import Body, Query
from server.workdays import WorkdayCalendar

api = Api()
STAFF = ("institution_admin",)
READERS = ("platform_admin", "institution_admin", "lecturer", "assistant", "supervisor")


class ClassBody(Body):
    name: Name
    course_type: Literal[COURSE_TYPES]  # type: ignore[valid-type]
    delivery_mode: Literal["live", "live_offline", "recorded", "offline"]
    profile: str | None = Field(default=None, max_length=32)
    district_code: RegionCode | None = None
    head_teacher_id: int | None = None


class ClassPatch(Body):
    name: Name | None = None
    delivery_mode: Literal["live", "live_offline", "recorded", "offline"] | None = None
    head_teacher_id: int | None = None


class VenueBody(Body):
    """CLS-6 / ATT-6: where an offline lesson is held; ranges are checked in server/domain/venue.py."""
    name: str = Field(min_length=1, max_length=200)
    address: str | None = Field(default=None, max_length=300)
    latitude: float
    longitude: float
    radius_m: int | None = None  # None: the deployment default (QIHANG_OFFLINE_RADIUS_M, 200 m)
    datum: Literal["wgs84", "gcj02"] = "wgs84"  # gcj02: a point read off a Chinese web map


class LessonBody(Body):
    title: str = Field(min_length=1, max_length=200)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    mode: Literal["live", "offline", "recorded"]
    class_hours: int | None = Field(default=None, ge=1, le=16)  # omitted only with package_id: the package's
    lecturer_id: int | None = None
    venue: VenueBody | None = None  # required for (and only for) offline lessons
    package_id: int | None = Field(default=None, ge=1, le=2**31 - 1)  # a recorded lesson's course package (COURSE-1)


class LessonsBody(Body):
    lessons: list[LessonBody] = Field(max_length=500)


class LecturerRef(Body):
    user_id: int
    is_lead: bool = False


class LecturersBody(Body):
    lecturers: list[LecturerRef] = Field(max_length=20)


class AssistantsBody(Body):
    assistant_ids: list[int] = Field(max_length=20)
    groups: dict[int, list[int]] | None = None


class EnrolBody(Body):
    student_id: int | None = None
    id_number: str | None = Field(default=None, max_length=40)


class CommitmentBody(Body):
    accept: Literal[True]
    signer_name: str = Field(min_length=2, max_length=50)


class TransitionBody(Body):
    action: Literal["submit", "withdraw", "approve", "reject", "open", "start", "finish", "archive"]
    reason: str | None = Field(default=None, max_length=2000)


class ClassQuery(Query):
    status: str | None = None


def _profile(ctx: Ctx, cls: TrainingClass):
    return ctx.svc.profiles[cls.profile]


def _editable(cls: TrainingClass) -> None:
    if cls.status not in EDITABLE:
        raise ApiError("CLASS_NOT_EDITABLE", f"班期状态为 {cls.status}，计划已提交审核，不能修改",
                       f"The class is {cls.status}; its plan can change only as draft or rejected", status=409,
                       rule="CLS-1")


def _own(ctx: Ctx, class_id: int) -> TrainingClass:
    cls = get_class(ctx, class_id, for_update=True)
    if ctx.user.institution_id != cls.institution_id:
        raise NotFound("班期", "class")
    return cls


def _active_roster(ctx: Ctx, cls: TrainingClass) -> list[Enrolment]:
    return ctx.s.query(Enrolment).filter_by(class_id=cls.id, status="enrolled").order_by(Enrolment.id).all()


def _cn(moment) -> str:
    """Times go out in China Standard Time, the zone every rule and user of the platform thinks in."""
    return moment.astimezone(CHINA_TZ).isoformat()


def class_summary(cls: TrainingClass, ctx: Ctx) -> dict:
    lessons = cls.lessons
    return {"id": cls.id, "name": cls.name, "institution_id": cls.institution_id,
            "institution_name": cls.institution.name, "course_type": cls.course_type,
            "delivery_mode": cls.delivery_mode, "profile": cls.profile, "district_code": cls.district_code,
            "status": cls.status, "pending_level": pending_level(cls, _profile(ctx, cls)),
            "first_lesson": _cn(lessons[0].starts_at) if lessons else None,
            "class_hours": sum(l.class_hours for l in lessons), "lesson_count": len(lessons)}


def class_detail(cls: TrainingClass, ctx: Ctx) -> dict:
    d = class_summary(cls, ctx)
    roster = _active_roster(ctx, cls)
    package_ids = packages.package_ids(ctx.s, list(cls.lessons))
    users = {u.id: u for u in ctx.s.scalars(select(User).where(User.id.in_(
        [l.user_id for l in cls.lecturers] + [a.user_id for a in cls.assistants] + [cls.head_teacher_user_id or 0])))}
    d.update({
        "head_teacher_id": cls.head_teacher_user_id,
        "commitment_accepted_at": cls.commitment_accepted_at.isoformat() if cls.commitment_accepted_at else None,
        "lessons": [{"id": l.id, "title": l.title, "starts_at": _cn(l.starts_at), "ends_at": _cn(l.ends_at),
                     "mode": l.mode, "class_hours": l.class_hours, "lecturer_id": l.lecturer_user_id,
                     "venue": venue_dict(l), "package_id": package_ids.get(l.id)}
                    for l in cls.lessons],
        "lecturers": [{"user_id": l.user_id, "is_lead": l.is_lead, "display_name": users[l.user_id].display_name}
                      for l in cls.lecturers],
        "assistants": [{"user_id": a.user_id, "display_name": users[a.user_id].display_name,
                        "students": [e.student_user_id for e in roster if e.assistant_user_id == a.user_id]}
                       for a in cls.assistants],
        "roster": [dict(student_dict(e.student, with_contact=False), assistant_id=e.assistant_user_id)
                   for e in roster],
    })
    return d


@api.route("POST", "/api/classes", summary="新建班期 Create class", tag="classes", roles=STAFF, body=ClassBody,
           status=201)
def create_class(ctx: Ctx, body: ClassBody):
    inst = ctx.user.institution
    profile_key = body.profile or inst.profile
    if profile_key not in ctx.svc.profiles:
        raise ApiError("UNKNOWN_PROFILE", f"未知的地区政策：{profile_key}", f"Unknown policy profile: {profile_key}",
                       field="profile", status=422)
    profile = ctx.svc.profiles[profile_key]
    if body.course_type not in profile.courses:
        raise ApiError("COURSE_NOT_OFFERED", f"{profile.name_zh}政策不含 {body.course_type} 项目",
                       f"The {profile.key} profile has no {body.course_type} program", field="course_type",
                       status=422, rule="CLS-5")
    district = body.district_code or inst.region_code
    if district[:4] != inst.region_code[:4]:
        raise ApiError("DISTRICT_OUTSIDE_CITY", "班期所在区县须与机构在同一城市",
                       "The class's district must lie in the institution's city", field="district_code", status=422)
    if body.head_teacher_id is not None:
        _head_teacher(ctx, body.head_teacher_id)
    cls = TrainingClass(institution_id=inst.id, name=body.name, course_type=body.course_type,
                        delivery_mode=body.delivery_mode, profile=profile_key, district_code=district,
                        head_teacher_user_id=body.head_teacher_id, created_by=ctx.user.id, created_at=ctx.now,
                        updated_at=ctx.now)
    ctx.s.add(cls)
    ctx.s.flush()
    ctx.audit("class.create", target_type="class", target_id=cls.id, institution_id=inst.id, region_code=district)
    return class_detail(cls, ctx)


def _head_teacher(ctx: Ctx, user_id: int) -> User:
    u = ctx.s.get(User, user_id)
    if u is None or u.institution_id != ctx.user.institution_id or u.role not in ("lecturer", "assistant",
                                                                                   "institution_admin"):
        raise ApiError("HEAD_TEACHER_INVALID", "班主任须为本机构的教职人员", "The head teacher must be staff of this institution",
                       field="head_teacher_id", status=422, rule="CLS-1")
    return u


@api.route("GET", "/api/classes", summary="班期列表 List classes", tag="classes", roles=READERS + ("student",),
           query=ClassQuery)
def list_classes(ctx: Ctx, query: ClassQuery):
    """Staff see their institution's classes, supervisors their region's, students the ones they are in."""
    if ctx.user.role == "student":
        stmt = select(TrainingClass).join(Enrolment, Enrolment.class_id == TrainingClass.id).where(
            Enrolment.student_user_id == ctx.user.id, Enrolment.status != "withdrawn").order_by(TrainingClass.id.desc())
    else:
        stmt = scope_classes(select(TrainingClass).order_by(TrainingClass.id.desc()), ctx.user)
    if ctx.user.role in ("lecturer", "assistant"):
        stmt = stmt.where(TrainingClass.id.in_(
            select(ClassLecturer.class_id).where(ClassLecturer.user_id == ctx.user.id).union(
                select(ClassAssistant.class_id).where(ClassAssistant.user_id == ctx.user.id))))
    if query.status:
        stmt = stmt.where(TrainingClass.status == query.status)
    stmt = stmt.options(selectinload(TrainingClass.lessons))
    return {"items": [class_summary(c, ctx) for c in ctx.s.scalars(stmt).unique()]}


@api.route("GET", "/api/classes/{class_id:int}", summary="班期详情 Class detail", tag="classes", roles=READERS)
def show_class(ctx: Ctx, class_id: int):
    return class_detail(get_class(ctx, class_id), ctx)


@api.route("PATCH", "/api/classes/{class_id:int}", summary="修改班期 Edit class", tag="classes", roles=STAFF,
           body=ClassPatch)
def patch_class(ctx: Ctx, body: ClassPatch, class_id: int):
    cls = _own(ctx, class_id)
    _editable(cls)
    changes = body.model_dump(exclude_unset=True)
    if "head_teacher_id" in changes:
        if body.head_teacher_id is not None:
            _head_teacher(ctx, body.head_teacher_id)
        cls.head_teacher_user_id = body.head_teacher_id
    if body.name is not None:
        cls.name = body.name
    if body.delivery_mode is not None:
        cls.delivery_mode = body.delivery_mode
    ctx.audit("class.update", target_type="class", target_id=cls.id, institution_id=cls.institution_id, region_code=cls.district_code,
              changes={k: v for k, v in changes.items()})
    return class_detail(cls, ctx)


@api.route("PUT", "/api/classes/{class_id:int}/lessons", summary="设置课程表 Set schedule", tag="classes",
           roles=STAFF, body=LessonsBody)
def put_lessons(ctx: Ctx, body: LessonsBody, class_id: int):
    """CLS-4: each lesson's class-hours must fit its length (1 class-hour ≥ the profile's minutes), and
    recorded lessons (course-package lessons included) stay within the profile's recorded share.
    COURSE-1: a recorded lesson may play a published course package and count its class-hours."""
    cls = _own(ctx, class_id)
    _editable(cls)
    profile = _profile(ctx, cls)
    lecturer_ids = {l.user_id for l in cls.lecturers}
    new, links = [], []
    for i, lb in enumerate(body.lessons):
        field = f"lessons.{i}"
        if lb.ends_at <= lb.starts_at or lb.ends_at - lb.starts_at > timedelta(hours=12):
            raise ApiError("LESSON_TIMES", "课次结束时间须晚于开始时间，且单次不超过 12 小时",
                           "A lesson must end after it starts and last at most 12 hours", field=f"{field}.ends_at",
                           status=422)
        if lb.lecturer_id is not None and lb.lecturer_id not in lecturer_ids:
            raise ApiError("LESSON_LECTURER", "授课讲师须先加入本班期讲师名单", "The lesson's lecturer must be one of the class's lecturers",
                           field=f"{field}.lecturer_id", status=422, rule="CLS-2")
        package, hours = None, lb.class_hours
        if lb.package_id is not None:
            package, hours = packages.resolve(ctx.s, cls, lb.package_id, lb.mode, lb.class_hours, field)
        elif hours is None:
            raise ApiError("LESSON_HOURS_MISSING", "请填写课次课时（引用课程包的录播课次可省略）",
                           "Give the lesson's class_hours (a lesson playing a course package may omit it)",
                           field=f"{field}.class_hours", status=422, rule="CLS-4")
        lesson = Lesson(title=lb.title, starts_at=lb.starts_at, ends_at=lb.ends_at, mode=lb.mode,
                        class_hours=hours, lecturer_user_id=lb.lecturer_id)
        if package is not None:
            links.append((lesson, package))
        for problem in classplan.lesson_problems(lesson, profile, cls.delivery_mode):
            problem.field = field
            raise problem
        venue, problem = venue_problem(lb.mode, lb.venue, field, ctx.svc.settings.offline_radius_m)  # CLS-6, ATT-6
        if problem is not None:
            raise problem
        if venue is not None:
            venue.apply(lesson)
        new.append(lesson)
    for problem in packages.hours_problems(links):
        raise problem
    share = classplan.recorded_share_problem(new, profile.course(cls.course_type))  # CLS-4
    if share is not None:
        raise share
    packages.unlink(ctx.s, list(cls.lessons))
    cls.lessons = new
    ctx.s.flush()
    packages.link(ctx.s, links)
    year = classplan.training_year(new, ctx.today)
    for e in ctx.s.query(Enrolment).filter_by(class_id=cls.id):
        e.year = year
    ctx.audit("class.lessons", target_type="class", target_id=cls.id, institution_id=cls.institution_id, region_code=cls.district_code,
              lessons=len(new), class_hours=sum(l.class_hours for l in new))
    return class_detail(cls, ctx)


@api.route("PUT", "/api/classes/{class_id:int}/lecturers", summary="设置讲师 Set lecturers", tag="classes",
           roles=STAFF, body=LecturersBody)
def put_lecturers(ctx: Ctx, body: LecturersBody, class_id: int):
    cls = _own(ctx, class_id)
    _editable(cls)
    ids = [l.user_id for l in body.lecturers]
    if len(set(ids)) != len(ids):
        raise ApiError("DUPLICATE_LECTURER", "讲师重复", "A lecturer is listed twice", field="lecturers", status=422)
    if sum(l.is_lead for l in body.lecturers) > 1:
        raise ApiError("ONE_LEAD", "只能指定一名教学组长", "Name at most one teaching lead", field="lecturers",
                       status=422, rule="CLS-2")
    for i, ref in enumerate(body.lecturers):
        get_user_in_institution(ctx, ref.user_id, cls.institution_id, "lecturer", f"lecturers.{i}.user_id")
    cls.lecturers = [ClassLecturer(user_id=l.user_id, is_lead=l.is_lead) for l in body.lecturers]
    for lesson in cls.lessons:
        if lesson.lecturer_user_id is not None and lesson.lecturer_user_id not in ids:
            lesson.lecturer_user_id = None
    ctx.audit("class.lecturers", target_type="class", target_id=cls.id, institution_id=cls.institution_id, region_code=cls.district_code,
              lecturers=ids)
    return class_detail(cls, ctx)


@api.route("PUT", "/api/classes/{class_id:int}/assistants", summary="设置助教与分组 Set assistants and groups",
           tag="classes", roles=STAFF, body=AssistantsBody)
def put_assistants(ctx: Ctx, body: AssistantsBody, class_id: int):
    """LIVE-4: without explicit groups, the roster is dealt evenly to the assistants."""
    cls = _own(ctx, class_id)
    _editable(cls)
    ids = list(dict.fromkeys(body.assistant_ids))
    for i, aid in enumerate(ids):
        get_user_in_institution(ctx, aid, cls.institution_id, "assistant", f"assistant_ids.{i}")
    roster = _active_roster(ctx, cls)
    enrolled = {e.student_user_id: e for e in roster}
    if body.groups is None:
        groups = balanced_split(list(enrolled), ids) if ids else {}
    else:
        groups = body.groups
        if set(groups) - set(ids):
            raise ApiError("GROUP_ASSISTANT_UNKNOWN", "分组中的助教不在助教名单中", "A group names an assistant not in assistant_ids",
                           field="groups", status=422)
        seen = [sid for members in groups.values() for sid in members]
        if len(seen) != len(set(seen)) or set(seen) - set(enrolled):
            raise ApiError("GROUP_STUDENTS", "分组中的学员须在花名册中且只出现一次",
                           "Group members must be on the roster, each once", field="groups", status=422)
    cls.assistants = [ClassAssistant(user_id=a) for a in ids]
    for e in roster:
        e.assistant_user_id = None
    for aid, members in groups.items():
        for sid in members:
            enrolled[sid].assistant_user_id = aid
    ctx.audit("class.assistants", target_type="class", target_id=cls.id, institution_id=cls.institution_id, region_code=cls.district_code,
              groups={str(a): len(m) for a, m in groups.items()})
    return class_detail(cls, ctx)


def _find_student(ctx: Ctx, body: EnrolBody) -> StudentProfile:
    if (body.student_id is None) == (body.id_number is None):
        raise ApiError("STUDENT_REF", "请提供 student_id 或 id_number 其中之一", "Give exactly one of student_id or id_number",
                       field="student_id", status=422)
    if body.id_number is not None:
        from server.identity.resident_id import parse_resident_id
        rid = parse_resident_id(body.id_number, today=ctx.today)
        p = ctx.s.query(StudentProfile).filter_by(
            id_index=ctx.svc.cipher.blind_index(rid.number, purpose="resident-id")).one_or_none()
    else:
        p = ctx.s.get(StudentProfile, body.student_id)
        if p is not None and p.registered_via_institution_id != ctx.user.institution_id:
            p = None  # other institutions' registrants are found by their ID number only
    if p is None:
        raise ApiError("STUDENT_NOT_REGISTERED", "未找到该学员，请先让学员完成实名注册",
                       "No such registered student; the student must register first", field="student_id",
                       status=422, rule="REG-1")
    return p


@api.route("POST", "/api/classes/{class_id:int}/enrolments", summary="学员入班 Enrol a student", tag="classes",
           roles=STAFF, body=EnrolBody, status=201)
def enrol(ctx: Ctx, body: EnrolBody, class_id: int):
    """REG-4 across all institutions, REG-3 audience, CLS-3 class cap."""
    cls = _own(ctx, class_id)
    _editable(cls)
    profile = _profile(ctx, cls)
    course = profile.course(cls.course_type)
    p = _find_student(ctx, body)
    q = ctx.s.query(StudentProfile).filter_by(user_id=p.user_id)
    if not ctx.svc.settings.is_sqlite:
        q = q.with_for_update(of=StudentProfile)  # serialise enrolments of one person across institutions (REG-4)
    q.one()
    existing = ctx.s.query(Enrolment).filter_by(class_id=cls.id, student_user_id=p.user_id).one_or_none()
    if existing is not None and existing.status == "enrolled":
        raise ApiError("ALREADY_ENROLLED", "该学员已在本班", "The student is already on this roster", field="student_id",
                       status=409)
    roster = _active_roster(ctx, cls)
    cap = min(course.class_cap, profile.live_room_max_students)
    if len(roster) >= cap:
        raise ApiError("ROSTER_FULL", f"本班已满 {cap} 人", f"The class is full ({cap} students)", field="student_id",
                       status=422, rule="CLS-3")
    year = classplan.training_year(cls.lessons, ctx.today)
    first_day = classplan.lesson_day(cls.lessons[0]) if cls.lessons else ctx.today
    problem = audience_problem(course, p, first_day)
    if problem is not None:
        raise problem
    for kind in prior_conflicts(ctx.s, profile, p.user_id, year, cls.course_type, cls.id):
        raise classplan._reg4(kind, p.user_id)
    if existing is None:
        existing = Enrolment(class_id=cls.id, student_user_id=p.user_id)
        ctx.s.add(existing)
    existing.status, existing.year, existing.course_type = "enrolled", year, cls.course_type
    existing.subsidised, existing.enrolled_at, existing.withdrawn_at = cls.subsidised, ctx.now, None
    existing.assistant_user_id = _smallest_group(cls, roster)
    ctx.s.flush()
    ctx.audit("class.enrol", target_type="class", target_id=cls.id, institution_id=cls.institution_id, region_code=cls.district_code,
              student_id=p.user_id)
    return dict(student_dict(p, with_contact=False), assistant_id=existing.assistant_user_id)


def _smallest_group(cls: TrainingClass, roster: list[Enrolment]) -> int | None:
    if not cls.assistants:
        return None
    sizes = {a.user_id: 0 for a in cls.assistants}
    for e in roster:
        if e.assistant_user_id in sizes:
            sizes[e.assistant_user_id] += 1
    return min(sizes, key=lambda a: (sizes[a], a))


@api.route("DELETE", "/api/classes/{class_id:int}/enrolments/{student_id:int}", summary="学员退班 Withdraw a student",
           tag="classes", roles=STAFF)
def withdraw(ctx: Ctx, class_id: int, student_id: int):
    cls = _own(ctx, class_id)
    if cls.status in ("finished", "archived"):
        raise ApiError("CLASS_CLOSED", "班期已结业，不能退班", "The class has finished", status=409)
    e = ctx.s.query(Enrolment).filter_by(class_id=cls.id, student_user_id=student_id, status="enrolled").one_or_none()
    if e is None:
        raise NotFound("学员", "enrolment")
    e.status, e.withdrawn_at, e.assistant_user_id = "withdrawn", ctx.now, None
    ctx.audit("class.withdraw", target_type="class", target_id=cls.id, institution_id=cls.institution_id, region_code=cls.district_code,
              student_id=student_id)
    return {"ok": True}


@api.route("POST", "/api/classes/{class_id:int}/commitment", summary="签署承诺书 Accept commitment letter",
           tag="classes", roles=STAFF, body=CommitmentBody)
def commitment(ctx: Ctx, body: CommitmentBody, class_id: int):
    """CLS-1: the institution vouches for the trainees' identity, the plan and its records."""
    cls = _own(ctx, class_id)
    _editable(cls)
    cls.commitment_accepted_at, cls.commitment_accepted_by = ctx.now, ctx.user.id
    ctx.audit("class.commitment", target_type="class", target_id=cls.id, institution_id=cls.institution_id, region_code=cls.district_code,
              signer_name=body.signer_name)
    return class_detail(cls, ctx)


def plan_facts(ctx: Ctx, cls: TrainingClass) -> classplan.PlanFacts:
    profile = _profile(ctx, cls)
    roster = _active_roster(ctx, cls)
    lecturers = []
    for cl in cls.lecturers:
        lecturers.append((ctx.s.get(User, cl.user_id), ctx.s.get(LecturerProfile, cl.user_id), cl.is_lead))
    groups: dict[int, list[int]] = {a.user_id: [] for a in cls.assistants}
    for e in roster:
        if e.assistant_user_id in groups:
            groups[e.assistant_user_id].append(e.student_user_id)
    year = classplan.training_year(cls.lessons, ctx.today)
    conflicts = [(e.student_user_id, kind) for e in roster
                 for kind in prior_conflicts(ctx.s, profile, e.student_user_id, year, cls.course_type, cls.id)]
    head = ctx.s.get(User, cls.head_teacher_user_id) if cls.head_teacher_user_id else None
    return classplan.PlanFacts(cls=cls, institution=cls.institution, profile=profile, lessons=list(cls.lessons),
                               lecturers=lecturers, roster=[e.student_user_id for e in roster], groups=groups,
                               head_teacher=head, prior_conflicts=conflicts,
                               packages=packages.links_of(ctx.s, list(cls.lessons)))


def workday_calendar(ctx: Ctx) -> WorkdayCalendar:
    from models import CalendarOverride
    return WorkdayCalendar({o.day: o.is_workday for o in ctx.s.query(CalendarOverride)})


@api.route("GET", "/api/classes/{class_id:int}/checks", summary="提交前检查 Pre-submission checks", tag="classes",
           roles=READERS)
def checks(ctx: Ctx, class_id: int):
    cls = get_class(ctx, class_id)
    problems = classplan.check_plan(plan_facts(ctx, cls), workday_calendar(ctx), ctx.today)
    return {"ok": not problems, "violations": [p.body()["error"] for p in problems]}


@api.route("POST", "/api/classes/{class_id:int}/transitions", summary="审批流转 Workflow step", tag="classes",
           roles=("institution_admin", "supervisor"), body=TransitionBody)
def transition(ctx: Ctx, body: TransitionBody, class_id: int):
    """CLS-1: submit, withdraw, approve, reject, open, start, finish, archive — each by its role, logged."""
    cls = get_class(ctx, class_id, for_update=True)
    profile = _profile(ctx, cls)
    move = plan_move(cls, profile, ctx.user, body.action)
    if move.action == "reject" and not body.reason:
        raise ApiError("REASON_REQUIRED", "退回须填写原因", "A rejection needs a reason", field="reason", status=422,
                       rule="CLS-1")
    if move.action in ("submit", "open"):
        problems = classplan.check_plan(plan_facts(ctx, cls), workday_calendar(ctx), ctx.today)
        if move.action == "open":  # the calendar window only binds the submission
            problems = [p for p in problems if p.code != "SUBMISSION_TOO_LATE"]
        if problems:
            raise RuleViolations(problems, f"班期计划有 {len(problems)} 项不符合规定",
                                 f"The class plan breaks {len(problems)} rule(s)")
    if move.action == "submit":
        cls.submitted_at = ctx.now
    cls.status = move.to_status
    cls.updated_at = ctx.now
    ctx.s.add(ClassTransition(class_id=cls.id, action=move.action, from_status=move.from_status,
                              to_status=move.to_status, actor_user_id=ctx.user.id, actor_role=ctx.user.role,
                              reason=body.reason, at=ctx.now))
    ctx.audit(f"class.{move.action}", target_type="class", target_id=cls.id, institution_id=cls.institution_id, region_code=cls.district_code,
              from_status=move.from_status, to_status=move.to_status,
              reason=body.reason)
    return class_summary(cls, ctx)


@api.route("GET", "/api/classes/{class_id:int}/history", summary="审批记录 Workflow history", tag="classes",
           roles=READERS)
def history(ctx: Ctx, class_id: int):
    cls = get_class(ctx, class_id)
    rows = ctx.s.query(ClassTransition).filter_by(class_id=cls.id).order_by(ClassTransition.id)
    return {"items": [{"action": t.action, "from": t.from_status, "to": t.to_status, "actor_id": t.actor_user_id,
                       "actor_role": t.actor_role, "reason": t.reason, "at": t.at.isoformat()} for t in rows]}
