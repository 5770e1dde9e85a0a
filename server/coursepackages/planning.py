"""Recorded lessons that play a course package (COURSE-1, CLS-4, CLS-6).

A recorded lesson may name a published package of its own institution or a shared one (platform
admins' packages), under the class's policy profile. The lesson then counts class-hours out of the
package: by default all of them; several lessons may split one package, but together they never count
more class-hours than its measured play time gives. Those lessons are ``recorded`` lessons, so they
feed the plan's recorded share (CLS-4, Beijing ≤ 50 %) like any other recorded lesson.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models import Lesson, TrainingClass
from models.coursepackages import CoursePackage, LessonCoursePackage
from server.errors import ApiError, Unprocessable

MAX_LESSON_HOURS = 16  # the schedule's own limit on one lesson (server/api/classes.py LessonBody)


def _refuse(code: str, zh: str, en: str, field: str, rule: str, **details) -> ApiError:
    return ApiError(code, zh, en, field=field, status=422, rule=rule, details=details or None)


def resolve(s: Session, cls: TrainingClass, package_id: int, mode: str, class_hours: int | None,
            field: str) -> tuple[CoursePackage, int]:
    """The package a lesson of ``cls`` names and the class-hours the lesson counts; refusals name the field."""
    pkg = s.get(CoursePackage, package_id)
    if pkg is None or pkg.institution_id not in (None, cls.institution_id):
        raise _refuse("PACKAGE_NOT_FOUND", "课程包不存在，或不属于本机构也非平台共享课程包",
                      "No such package of this institution or shared by the platform", f"{field}.package_id",
                      "COURSE-1")
    if mode != "recorded":
        raise _refuse("PACKAGE_NEEDS_RECORDED", "只有录播课次可以引用课程包", "Only a recorded lesson plays a course package",
                      f"{field}.mode", "CLS-6")
    if pkg.status != "published":
        raise _refuse("PACKAGE_NOT_PUBLISHED", f"课程包“{pkg.name}”状态为 {pkg.status}，只能引用已发布的课程包",
                      f"Package '{pkg.name}' is {pkg.status}; only a published package may be planned",
                      f"{field}.package_id", "COURSE-1", package_status=pkg.status)
    if pkg.profile != cls.profile:
        raise _refuse("PACKAGE_PROFILE_MISMATCH", f"课程包按 {pkg.profile} 政策计课时，班期适用 {cls.profile} 政策",
                      f"The package counts hours under the {pkg.profile} profile; the class is under {cls.profile}",
                      f"{field}.package_id", "COURSE-1")
    hours = class_hours if class_hours is not None else pkg.class_hours
    if hours > pkg.class_hours:
        raise _refuse("PACKAGE_HOURS_EXCEEDED",
                      f"课次计 {hours} 课时，超过课程包“{pkg.name}”实测的 {pkg.class_hours} 课时",
                      f"The lesson counts {hours} class-hours, more than package '{pkg.name}' plays "
                      f"({pkg.class_hours})",
                      f"{field}.class_hours", "COURSE-1", planned=hours, package_hours=pkg.class_hours)
    if hours > MAX_LESSON_HOURS:
        raise _refuse("PACKAGE_SPLIT_NEEDED",
                      f"课程包计 {hours} 课时，单个课次最多 {MAX_LESSON_HOURS} 课时：请分成几个课次并填写各自课时",
                      f"The package counts {hours} class-hours; one lesson takes at most {MAX_LESSON_HOURS}: "
                      "split it over several lessons, each with its class_hours", f"{field}.class_hours", "CLS-4",
                      package_hours=hours)
    return pkg, hours


def hours_problems(links: list[tuple[Lesson, CoursePackage]]) -> list[Unprocessable]:
    """Lessons sharing a package count at most its class-hours between them (COURSE-1)."""
    used: dict[int, int] = defaultdict(int)
    pkgs: dict[int, CoursePackage] = {}
    for lesson, pkg in links:
        used[pkg.id] += lesson.class_hours
        pkgs[pkg.id] = pkg
    return [Unprocessable("PACKAGE_HOURS_EXCEEDED",
                          f"引用课程包“{pkgs[p].name}”的课次共计 {n} 课时，超过其实测的 {pkgs[p].class_hours} 课时",
                          f"Lessons playing package '{pkgs[p].name}' count {n} class-hours, more than it plays "
                          f"({pkgs[p].class_hours})", field="lessons", rule="COURSE-1",
                          details={"package_id": p, "planned": n, "package_hours": pkgs[p].class_hours})
            for p, n in used.items() if n > (pkgs[p].class_hours or 0)]


def plan_problems(links: list[tuple[Lesson, CoursePackage]]) -> list[Unprocessable]:
    """At submission: a package retired since it was planned no longer counts (COURSE-1)."""
    out = hours_problems(links)
    for lesson, pkg in links:
        if pkg.status != "published":
            out.append(Unprocessable("PACKAGE_NOT_PUBLISHED",
                                     f"课次“{lesson.title}”引用的课程包“{pkg.name}”状态为 {pkg.status}",
                                     f"Lesson '{lesson.title}' plays package '{pkg.name}', which is {pkg.status}",
                                     field="lessons", rule="COURSE-1",
                                     details={"lesson_id": lesson.id, "package_id": pkg.id}))
    return out


def links_of(s: Session, lessons: list[Lesson]) -> list[tuple[Lesson, CoursePackage]]:
    by_id = {l.id: l for l in lessons if l.id is not None}
    if not by_id:
        return []
    rows = s.execute(select(LessonCoursePackage.lesson_id, CoursePackage).join(
        CoursePackage, CoursePackage.id == LessonCoursePackage.package_id).where(
        LessonCoursePackage.lesson_id.in_(by_id))).all()
    return [(by_id[lid], pkg) for lid, pkg in rows]


def package_ids(s: Session, lessons: list[Lesson]) -> dict[int, int]:
    """lesson id → package id, for the schedule's view."""
    return {l.id: p.id for l, p in links_of(s, lessons)}


def unlink(s: Session, lessons: list[Lesson]) -> None:
    ids = [l.id for l in lessons if l.id is not None]
    if ids:
        s.execute(delete(LessonCoursePackage).where(LessonCoursePackage.lesson_id.in_(ids)))


def link(s: Session, links: list[tuple[Lesson, CoursePackage]]) -> None:
    for lesson, pkg in links:
        s.add(LessonCoursePackage(lesson_id=lesson.id, package_id=pkg.id))
    s.flush()
