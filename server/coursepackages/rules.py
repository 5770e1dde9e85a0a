"""What a course package must satisfy before it is published (COURSE-1/2/3).

Play time is the sum of the resources' video durations as PyAV read them from the uploaded files;
nothing the client declares counts. Documents are not resources here: a reading time cannot be
measured, so only video play time makes class-hours. Class-hours are ``floor(play minutes /
class_hour_minutes)`` (the profile's, 45 everywhere so far): "每播放45分钟计1学时", a started
45 minutes does not count. The declared ``total_hours`` of the introduction must equal that figure,
so the introduction a student or supervisor reads never promises more than the package plays.
Every problem is reported at once, each naming its rule and numbers.
"""
from __future__ import annotations

import math
from datetime import date

from models.coursepackages import CoursePackage, CourseResource
from server.errors import Unprocessable

INTRO_FIELDS = {  # COURSE-2
    "name": ("课程名称", "name"),
    "total_hours": ("总课时", "total hours"),
    "audience": ("适用对象", "audience"),
    "content": ("课程内容", "content"),
    "objectives": ("培训目标", "objectives"),
}


def problem(code: str, rule: str, zh: str, en: str, field: str | None = None, **details) -> Unprocessable:
    return Unprocessable(code, zh, en, field=field, rule=rule, details=details or None)


def missing_intro_field(name: str) -> Unprocessable:
    zh, en = INTRO_FIELDS[name]
    return problem("INTRO_FIELD_MISSING", "COURSE-2", f"课程简介须填写“{zh}”（{name}）",
                   f"The introduction needs its {en} ({name})", field=name, missing=name)


def intro_problems(values: dict) -> list[Unprocessable]:
    """COURSE-2: every introduction field present and not blank."""
    out = []
    for name in INTRO_FIELDS:
        v = values.get(name)
        if v is None or (isinstance(v, str) and not v.strip()):
            out.append(missing_intro_field(name))
    return out


def class_hours_of(play_seconds: float, class_hour_minutes: int) -> int:
    """COURSE-1: every full ``class_hour_minutes`` of play is one class-hour (a small tolerance absorbs
    container rounding: 2699.999 s is 45 minutes)."""
    return math.floor((play_seconds + 0.5) / (class_hour_minutes * 60))


def play_seconds(package: CoursePackage) -> float:
    return round(sum(r.duration_seconds for c in package.chapters for r in c.resources), 3)


def proof_state(r: CourseResource, today: date) -> str:
    """COURSE-3: ``file`` (a proof document), ``licence`` (a current licence record), ``expired`` or ``missing``."""
    if r.proof_file_id is not None:
        return "file"
    if r.licence_holder and r.licence_type:
        if r.licence_valid_until is not None and r.licence_valid_until < today:
            return "expired"
        return "licence"
    return "missing"


def publish_problems(package: CoursePackage, class_hour_minutes: int, today: date) -> list[Unprocessable]:
    out = intro_problems({k: getattr(package, k) for k in INTRO_FIELDS})
    resources = [r for c in package.chapters for r in c.resources]
    if not package.chapters:
        out.append(problem("CATALOGUE_EMPTY", "COURSE-1", "课程包须有课程目录（至少一个章节）",
                           "The package needs a catalogue (at least one chapter)", field="chapters"))
    for c in package.chapters:
        if not c.resources:
            out.append(problem("CHAPTER_EMPTY", "COURSE-1", f"章节“{c.title}”没有课程资源",
                               f"Chapter '{c.title}' has no resources", field="chapters", chapter_id=c.id))
    seconds = play_seconds(package)
    if seconds < class_hour_minutes * 60:
        out.append(problem("PLAY_TIME_TOO_SHORT", "COURSE-1",
                           f"课程包播放时长须至少 {class_hour_minutes} 分钟，实测 {seconds / 60:.1f} 分钟",
                           f"A package must play ≥ {class_hour_minutes} min; its videos measure {seconds / 60:.1f} min",
                           field="resources", play_minutes=round(seconds / 60, 2), required_minutes=class_hour_minutes))
    hours = class_hours_of(seconds, class_hour_minutes)
    if package.total_hours != hours and seconds >= class_hour_minutes * 60:
        out.append(problem("TOTAL_HOURS_MISMATCH", "COURSE-1",
                           f"简介中的总课时 {package.total_hours} 与实测播放时长 {seconds / 60:.1f} 分钟折算的 {hours} 课时"
                           f"（每 {class_hour_minutes} 分钟 1 课时）不符",
                           f"The introduction declares {package.total_hours} class-hours but {seconds / 60:.1f} min "
                           f"of play count {hours} (1 per {class_hour_minutes} min)",
                           field="total_hours", declared=package.total_hours, computed=hours,
                           play_minutes=round(seconds / 60, 2)))
    for r in resources:
        state = proof_state(r, today)
        if state == "missing":
            out.append(problem("RESOURCE_PROOF_MISSING", "COURSE-3", f"资源“{r.title}”缺少版权或授权证明",
                               f"Resource '{r.title}' has no proof of copyright or licence", field="resources",
                               resource_id=r.id))
        elif state == "expired":
            out.append(problem("RESOURCE_LICENCE_EXPIRED", "COURSE-3",
                               f"资源“{r.title}”的授权已于 {r.licence_valid_until} 到期",
                               f"Resource '{r.title}''s licence expired on {r.licence_valid_until}", field="resources",
                               resource_id=r.id, valid_until=r.licence_valid_until.isoformat()))
    return out
