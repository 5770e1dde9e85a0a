"""A student's lessons, with where to go for each right now (LIVE-1, ATT-5, ATT-6).

The phone's home page lists the lessons of the student's running classes: a live lesson links to
its room while the room is open (server/live/access.py), a recorded lesson to its study page from
its start for as long as the class runs (server/api/study.py; a package lesson plays its share of
the package, server/study/material.py), an offline lesson to the sign-in page within its sign-in
and sign-out windows (server/attendance/offline.py). A lesson covered by an approved or pending
leave says so. The same rules decide at the door; this list only saves the student from guessing.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from models import Enrolment, Lesson, TrainingClass
from models.coursepackages import LessonCoursePackage
from models.leaves import ACTIVE_LEAVE_STATUSES, LeaveLesson, LeaveRequest
from models.videos import LessonVideo
from server.api.endpoint import Api, Ctx
from server.attendance import offline
from server.live.access import ROOM_EARLY, ROOM_STATUSES, room_open
from server.services import CHINA_TZ

api = Api()
PAGES = {"live": "/room", "recorded": "/study", "offline": "/signin"}


def _cn(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).isoformat()


def _open_now(cls: TrainingClass, lesson: Lesson, now: datetime, playable: bool) -> bool:
    if cls.status not in ROOM_STATUSES:
        return False
    if lesson.mode == "live":
        return room_open(cls, lesson, now)
    if lesson.mode == "recorded":
        return playable and now >= lesson.starts_at - ROOM_EARLY
    opens, _ = offline.window(lesson, "sign_in")
    _, closes = offline.window(lesson, "sign_out")
    return opens <= now <= closes


def lesson_state(cls: TrainingClass, lesson: Lesson, now: datetime, playable: bool) -> str:
    """``open`` (go now), ``upcoming``, ``done``, or ``no_material`` (a recorded lesson with nothing to play yet)."""
    if _open_now(cls, lesson, now, playable):
        return "open"
    if lesson.mode == "recorded" and not playable and cls.status in ROOM_STATUSES and now >= lesson.starts_at:
        return "no_material"
    return "upcoming" if now < lesson.starts_at else "done"


@api.route("GET", "/api/me/lessons", summary="我的课程表 My lessons and where to go", tag="students",
           roles=("student",))
def my_lessons(ctx: Ctx):
    """Every lesson of the student's running classes in time order, each with its state and, when
    open, the page to go to; ``next`` is the first lesson open now or coming up."""
    classes = list(ctx.s.scalars(select(TrainingClass).join(Enrolment, Enrolment.class_id == TrainingClass.id).where(
        Enrolment.student_user_id == ctx.user.id, Enrolment.status == "enrolled",
        TrainingClass.status.in_(ROOM_STATUSES)).order_by(TrainingClass.id)))
    lessons = [(cls, le) for cls in classes for le in cls.lessons]
    ids = [le.id for _, le in lessons]
    playable = set()
    leaves: dict[int, str] = {}
    if ids:
        playable = set(ctx.s.scalars(select(LessonVideo.lesson_id).where(LessonVideo.lesson_id.in_(ids)))) | \
            set(ctx.s.scalars(select(LessonCoursePackage.lesson_id).where(LessonCoursePackage.lesson_id.in_(ids))))
        leaves = dict(ctx.s.execute(select(LeaveLesson.lesson_id, LeaveRequest.status).join(
            LeaveRequest, LeaveRequest.id == LeaveLesson.leave_id).where(
            LeaveRequest.student_user_id == ctx.user.id, LeaveRequest.status.in_(ACTIVE_LEAVE_STATUSES),
            LeaveLesson.lesson_id.in_(ids))).all())
    items = []
    for cls, le in sorted(lessons, key=lambda p: (p[1].starts_at, p[1].id)):
        state = lesson_state(cls, le, ctx.now, le.id in playable)
        items.append({"id": le.id, "title": le.title, "mode": le.mode, "class_hours": le.class_hours,
                      "starts_at": _cn(le.starts_at), "ends_at": _cn(le.ends_at), "class_id": cls.id,
                      "class_name": cls.name, "state": state, "leave": leaves.get(le.id),
                      "url": f"{PAGES[le.mode]}?lesson={le.id}" if state == "open" else None})
    upcoming = [i for i in items if i["state"] in ("open", "upcoming")]
    return {"items": items, "next": upcoming[0] if upcoming else None, "now": _cn(ctx.now)}
