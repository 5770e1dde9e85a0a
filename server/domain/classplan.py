"""Checks a class plan must pass before it is submitted (CLS-1..4, CLS-6, LIVE-2/4, REG-4, SUP-7).

Every broken rule is reported at once, each naming its rule ID and the numbers behind it, so an
institution can fix its plan in one pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from models import Institution, LecturerProfile, Lesson, TrainingClass, User
from server.coursepackages import planning as packages
from server.domain import venue
from server.domain.assistants import group_problems
from server.errors import Unprocessable
from server.policy.profiles import PolicyProfile
from server.services import CHINA_TZ
from server.workdays import WorkdayCalendar

ALLOWED_LESSON_MODES = {  # CLS-6
    "live": {"live"},
    "live_offline": {"live", "offline"},
    "recorded": {"recorded", "live"},  # recorded courses keep live Q&A sessions (LIVE-7)
    "offline": {"offline"},
}


def violation(code: str, rule: str, zh: str, en: str, field: str | None = None, **details) -> Unprocessable:
    return Unprocessable(code, zh, en, field=field, rule=rule, details=details or None)


@dataclass
class PlanFacts:
    """What the checks need, loaded by the caller (keeps this module free of queries)."""

    cls: TrainingClass
    institution: Institution
    profile: PolicyProfile
    lessons: list[Lesson]
    lecturers: list[tuple[User, LecturerProfile | None, bool]]  # user, certificate, is_lead
    roster: list[int]  # active students
    groups: dict[int, list[int]]  # assistant → students
    head_teacher: User | None
    prior_conflicts: list[tuple[int, str]]  # (student, "year"|"program") from other classes (REG-4)
    packages: list = field(default_factory=list)  # (lesson, CoursePackage) a recorded lesson plays (COURSE-1)


def lesson_day(lesson: Lesson) -> date:
    return lesson.starts_at.astimezone(CHINA_TZ).date()


def lesson_problems(lesson: Lesson, profile: PolicyProfile, delivery_mode: str) -> list[Unprocessable]:
    out = []
    minutes = (lesson.ends_at - lesson.starts_at).total_seconds() / 60
    need = lesson.class_hours * profile.class_hour_minutes
    if minutes < need:
        out.append(violation(
            "LESSON_TOO_SHORT", "CLS-4",
            f"课次“{lesson.title}”计 {lesson.class_hours} 课时需至少 {need} 分钟，实际 {minutes:g} 分钟",
            f"Lesson '{lesson.title}' counts {lesson.class_hours} class-hours and needs ≥ {need} min; it has {minutes:g}",
            field="lessons", lesson_id=lesson.id, minutes=minutes, required_minutes=need))
    if lesson.mode not in ALLOWED_LESSON_MODES[delivery_mode]:
        out.append(violation(
            "LESSON_MODE_MISMATCH", "CLS-6", f"课次“{lesson.title}”的方式 {lesson.mode} 不符合班期授课方式 {delivery_mode}",
            f"Lesson '{lesson.title}' mode {lesson.mode} does not fit delivery mode {delivery_mode}",
            field="lessons", lesson_id=lesson.id))
    return out


def recorded_share_problem(lessons: list[Lesson], course) -> Unprocessable | None:
    """CLS-4 (Beijing ≤ 50 %): recorded lessons, course-package lessons included, over all class-hours."""
    hours = sum(l.class_hours for l in lessons)
    recorded = sum(l.class_hours for l in lessons if l.mode == "recorded")
    limit = course.max_recorded_share
    if limit is None or not hours or recorded / hours <= limit:
        return None
    return violation("RECORDED_SHARE_EXCEEDED", "CLS-4",
                     f"录播课时 {recorded} / 总课时 {hours}，占比 {recorded / hours:.0%}，不得超过 {limit:.0%}"
                     f"（最多 {int(hours * limit)} 课时）",
                     f"Recorded class-hours are {recorded} of {hours} ({recorded / hours:.0%}), above {limit:.0%} "
                     f"(at most {int(hours * limit)})",
                     field="lessons", recorded=recorded, total=hours, max_share=limit)


def check_plan(f: PlanFacts, calendar: WorkdayCalendar, today: date) -> list[Unprocessable]:
    cls, profile = f.cls, f.profile
    out: list[Unprocessable] = []
    course = profile.course(cls.course_type)

    if f.institution.blacklisted or f.institution.status != "approved":
        out.append(violation("INSTITUTION_NOT_APPROVED", "SUP-7", "机构未获批准或已被列入黑名单，不能开班",
                             "The institution is not approved or is blacklisted", field="institution_id"))
    if cls.head_teacher_user_id is None or f.head_teacher is None:
        out.append(violation("HEAD_TEACHER_MISSING", "CLS-1", "请指定班主任", "Name a head teacher",
                             field="head_teacher_id"))
    if cls.commitment_accepted_at is None:
        out.append(violation("COMMITMENT_MISSING", "CLS-1", "请先签署承诺书", "Accept the commitment letter first",
                             field="commitment"))

    # Schedule and hours (CLS-1, CLS-4, CLS-6).
    if not f.lessons:
        out.append(violation("NO_LESSONS", "CLS-1", "课程表为空", "The schedule has no lessons", field="lessons"))
    else:
        first = min(lesson_day(l) for l in f.lessons)
        window = calendar.check_submission(today, first, profile.submission_lead_workdays)
        if not window.ok:
            out.append(violation(
                "SUBMISSION_TOO_LATE", "CLS-1",
                f"须在开班前至少 {profile.submission_lead_workdays} 个工作日提交，距首课（{first}）仅 {window.workdays} 个工作日；最晚提交日为 {window.deadline}",
                f"Submit ≥ {profile.submission_lead_workdays} working days before the first lesson ({first}); "
                f"only {window.workdays} remain; the last day to submit was {window.deadline}",
                field="lessons", workdays=window.workdays, deadline=window.deadline.isoformat(),
                first_lesson=first.isoformat(),
                uncovered_days=[d.isoformat() for d in window.uncovered_days]))
        hours = sum(l.class_hours for l in f.lessons)
        if hours < course.min_class_hours:
            out.append(violation("HOURS_TOO_FEW", "CLS-4",
                                 f"{cls.course_type} 课程至少 {course.min_class_hours} 课时，计划仅 {hours} 课时",
                                 f"{cls.course_type} needs ≥ {course.min_class_hours} class-hours; the plan has {hours}",
                                 field="lessons", planned=hours, required=course.min_class_hours))
        days = len({lesson_day(l) for l in f.lessons})
        if days < course.min_days:
            out.append(violation("DAYS_TOO_FEW", "CLS-4", f"{cls.course_type} 课程至少 {course.min_days} 天，计划仅 {days} 天",
                                 f"{cls.course_type} needs ≥ {course.min_days} days; the plan has {days}",
                                 field="lessons", planned=days, required=course.min_days))
        share = recorded_share_problem(f.lessons, course)
        if share is not None:
            out.append(share)
        out.extend(packages.plan_problems(f.packages))  # course packages still published, hours within
        ordered = sorted(f.lessons, key=lambda l: l.starts_at)
        for a, b in zip(ordered, ordered[1:]):
            if b.starts_at < a.ends_at:
                out.append(violation("LESSONS_OVERLAP", "CLS-1", f"课次“{a.title}”与“{b.title}”时间重叠",
                                     f"Lessons '{a.title}' and '{b.title}' overlap", field="lessons"))
        for l in f.lessons:
            out.extend(lesson_problems(l, profile, cls.delivery_mode))
            out.extend(venue.plan_problems(l))  # CLS-6: offline lessons have a venue

    # Lecturers (CLS-2).
    if len(f.lecturers) < profile.min_lecturers:
        out.append(violation("LECTURERS_TOO_FEW", "CLS-2", f"每班至少需要 {profile.min_lecturers} 名持证讲师，现有 {len(f.lecturers)} 名",
                             f"A class needs ≥ {profile.min_lecturers} certified lecturers; it has {len(f.lecturers)}",
                             field="lecturers", required=profile.min_lecturers, found=len(f.lecturers)))
    if profile.requires_teaching_lead and f.lecturers and not any(lead for _, _, lead in f.lecturers):
        out.append(violation("TEACHING_LEAD_MISSING", "CLS-2", "请指定一名讲师为教学组长",
                             "Name one lecturer as teaching lead", field="lecturers"))
    if f.lessons:
        first = min(lesson_day(l) for l in f.lessons)
        last = max(l.ends_at.astimezone(CHINA_TZ).date() for l in f.lessons)
        for user, cert, _ in f.lecturers:
            if cert is None or not cert.valid_through(first, last):
                until = cert.valid_until.isoformat() if cert else "无 none"
                out.append(violation("LECTURER_CERTIFICATE_INVALID", "CLS-2",
                                     f"讲师 {user.display_name} 的讲师证在培训期间（{first}–{last}）无效（有效期至 {until}）",
                                     f"Lecturer {user.display_name}'s certificate is not valid for {first}–{last} (valid until {until})",
                                     field="lecturers", lecturer_id=user.id))
            elif cert.certificate_kind not in course.lecturer_certificate_kinds:
                out.append(violation("LECTURER_CERTIFICATE_KIND", "CLS-2",
                                     f"讲师 {user.display_name} 的证书类型 {cert.certificate_kind} 不能讲授 {cls.course_type}",
                                     f"Lecturer {user.display_name}'s {cert.certificate_kind} certificate does not cover {cls.course_type}",
                                     field="lecturers", lecturer_id=user.id,
                                     accepted=list(course.lecturer_certificate_kinds)))

    # Roster and assistants (CLS-3, LIVE-2, LIVE-4).
    n = len(f.roster)
    if n == 0:
        out.append(violation("ROSTER_EMPTY", "CLS-1", "花名册为空", "The roster is empty", field="roster"))
    cap = min(course.class_cap, profile.live_room_max_students)
    if n > cap:
        out.append(violation("ROSTER_OVER_CAP", "CLS-3", f"{cls.course_type} 班每期不超过 {cap} 人，花名册有 {n} 人",
                             f"A {cls.course_type} class takes at most {cap} students; the roster has {n}",
                             field="roster", cap=cap, found=n))
    sizes = [len(v) for v in f.groups.values()]
    for code, zh, en in group_problems(sizes, n, profile.assistant_min_students, profile.assistant_max_students):
        out.append(violation(code, "CLS-3", zh, en, field="assistants", sizes=sizes))

    for student_id, kind in f.prior_conflicts:
        out.append(_reg4(kind, student_id))
    return out


def _reg4(kind: str, student_id: int) -> Unprocessable:
    if kind == "year":
        return violation("ONE_TRAINING_PER_YEAR", "REG-4", "该学员本年度已参加过一次补贴性创业培训",
                         "This student already takes a subsidised training this year", field="student_id",
                         student_id=student_id)
    return violation("PROGRAM_REPEATED", "REG-4", "同一创业培训项目不可重复参加",
                     "The same training program may not be taken twice", field="student_id", student_id=student_id)


def training_year(lessons: list[Lesson], today: date) -> int:
    return min(lesson_day(l) for l in lessons).year if lessons else today.year

