"""What a recorded lesson plays: its own uploaded video, or its share of a course package (ATT-5, COURSE-1).

A student's study is measured on one timeline per lesson (server/attendance/recordedstudy.py: the
heartbeat's ``position`` is a point on it, ``video_s`` its length). A lesson with its own video has
that video as the timeline. A lesson that plays a course package (server/coursepackages/planning.py)
has the package's videos end to end, in catalogue order (chapter, then resource) — the page plays them
one after another and reports the position on the joined timeline, so crossing from one video to the
next reads as continuous play, not as a seek.

Several lessons of a class may split one package: in schedule order each takes the next
``class_hours × class_hour_minutes`` of play (45 minutes a class-hour, COURSE-1), and the last one
takes the rest, so together they cover the whole package and each one's hours are really there.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Lesson, LessonVideo, StoredFile
from models.coursepackages import CourseChapter, CoursePackage, CourseResource, LessonCoursePackage

EPSILON = 0.001  # seconds: a part shorter than this is rounding, not content


@dataclass(frozen=True)
class Part:
    """One file's stretch of the lesson's timeline: [start, end) of the file shown at ``offset``."""

    index: int
    title: str
    file_id: int
    content_type: str
    start: float
    end: float
    offset: float
    resource_id: int | None = None

    @property
    def length(self) -> float:
        return self.end - self.start

    def as_dict(self) -> dict:
        return {"index": self.index, "title": self.title, "content_type": self.content_type,
                "start": round(self.start, 3), "end": round(self.end, 3), "offset": round(self.offset, 3),
                "resource_id": self.resource_id}


@dataclass(frozen=True)
class Material:
    parts: tuple[Part, ...]
    package_id: int | None = None

    @property
    def duration(self) -> float:
        return sum(p.length for p in self.parts)

    def part(self, index: int) -> Part | None:
        return self.parts[index] if 0 <= index < len(self.parts) else None


def package_of(s: Session, lesson_id: int) -> CoursePackage | None:
    link = s.get(LessonCoursePackage, lesson_id)
    return s.get(CoursePackage, link.package_id) if link is not None else None


def material_of(s: Session, lesson: Lesson, class_hour_minutes: int = 45) -> Material | None:
    """The lesson's material, or None while it has nothing to play. A package, once planned, is what
    the lesson plays (the plan counted its hours); otherwise the lesson's own uploaded video."""
    pkg = package_of(s, lesson.id)
    if pkg is not None:
        return _package_material(s, lesson, pkg, class_hour_minutes)
    video = s.get(LessonVideo, lesson.id)
    if video is None:
        return None
    row = s.get(StoredFile, video.file_id)
    return Material((Part(0, lesson.title, row.id, row.content_type, 0.0, video.duration_seconds, 0.0),))


def _package_material(s: Session, lesson: Lesson, pkg: CoursePackage, class_hour_minutes: int) -> Material | None:
    rows = s.execute(select(CourseResource, StoredFile.content_type)
                     .join(CourseChapter, CourseChapter.id == CourseResource.chapter_id)
                     .join(StoredFile, StoredFile.id == CourseResource.file_id)
                     .where(CourseChapter.package_id == pkg.id, CourseResource.kind == "video")
                     .order_by(CourseChapter.position, CourseResource.position)).all()
    if not rows:
        return None
    begin, end = _window(s, lesson, pkg, class_hour_minutes, sum(r.duration_seconds for r, _ in rows))
    parts, at = [], 0.0  # ``at``: where the current resource starts on the package's whole timeline
    for resource, ctype in rows:
        lo, hi = max(begin, at), min(end, at + resource.duration_seconds)
        if hi - lo > EPSILON:
            parts.append(Part(len(parts), resource.title, resource.file_id, ctype, lo - at, hi - at, lo - begin,
                              resource.id))
        at += resource.duration_seconds
    return Material(tuple(parts), pkg.id) if parts else None


def _window(s: Session, lesson: Lesson, pkg: CoursePackage, class_hour_minutes: int,
            total: float) -> tuple[float, float]:
    """[begin, end) seconds of the package this lesson plays: its turn among the class's lessons
    that split the package, in schedule order; the last one plays to the end."""
    sharing = s.scalars(select(Lesson).join(LessonCoursePackage, LessonCoursePackage.lesson_id == Lesson.id)
                        .where(Lesson.class_id == lesson.class_id, LessonCoursePackage.package_id == pkg.id)
                        .order_by(Lesson.starts_at, Lesson.id)).all()
    begin = 0.0
    for i, other in enumerate(sharing):
        share = other.class_hours * class_hour_minutes * 60
        if other.id == lesson.id:
            return begin, total if i == len(sharing) - 1 else min(total, begin + share)
        begin += share
    return 0.0, total
