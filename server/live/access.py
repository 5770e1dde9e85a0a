"""Who may enter a lesson's live room, and as what (LIVE-1/2, SUP-4).

The room exists only while its class is open or in progress and the lesson is within its window
(by default from 30 minutes before the start to 30 minutes after the end). The role in the room
follows from the account and the class: its lecturers teach, its assistants serve their groups,
rostered students attend, supervisors of the class's region enter as hidden spectators.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from models import ClassAssistant, ClassLecturer, Enrolment, Lesson, TrainingClass, User
from server.auth.scope import region_covers
from server.errors import ApiError, Forbidden, NotFound

ROOM_STATUSES = ("open", "in_progress")
ROOM_EARLY = timedelta(minutes=30)
ROOM_LATE = timedelta(minutes=30)


@dataclass(frozen=True)
class Admission:
    lesson_id: int
    class_id: int
    user_id: int
    display_name: str
    room_role: str  # lecturer | assistant | student | spectator
    hidden: bool  # never shown to students (SUP-4)
    assistant_id: int | None  # a student's assistant (LIVE-4)
    can_chat: bool = True  # a hidden spectator speaks only when their link grants it (SUP-4)
    link_id: int | None = None  # the spectator link used to enter, if any (SUP-6)
    institution_id: int | None = None  # the class's, for webhooks and audit scope
    district_code: str | None = None


def room_open(cls: TrainingClass, lesson: Lesson, now: datetime) -> bool:
    return cls.status in ROOM_STATUSES and lesson.starts_at - ROOM_EARLY <= now <= lesson.ends_at + ROOM_LATE


def admit(s: Session, lesson_id: int, user: User, now: datetime, link=None) -> Admission:
    """``link``: a verified spectator link (server/live/spectatorlinks.verify) for ``user``."""
    lesson = s.get(Lesson, lesson_id)
    if lesson is None:
        raise NotFound("课次", "lesson")
    cls = s.get(TrainingClass, lesson.class_id)
    role, hidden, assistant = _room_role(s, cls, user)
    if not room_open(cls, lesson, now):
        opens = (lesson.starts_at - ROOM_EARLY).isoformat()
        raise ApiError("ROOM_CLOSED", f"直播间未开放：班期须已开班，且在课前 30 分钟至课后 30 分钟内进入（本课开放时间 {opens} 起）",
                       f"The room is closed: the class must be open and you may enter from 30 min before to 30 min "
                       f"after the lesson (opens {opens})", status=409, rule="LIVE-1")
    return Admission(lesson_id=lesson.id, class_id=cls.id, user_id=user.id, display_name=user.display_name,
                     room_role=role, hidden=hidden, assistant_id=assistant,
                     can_chat=not hidden or bool(link is not None and link.can_chat),
                     link_id=link.id if link is not None else None, institution_id=cls.institution_id,
                     district_code=cls.district_code)


def _room_role(s: Session, cls: TrainingClass, user: User) -> tuple[str, bool, int | None]:
    if user.role == "lecturer" and s.get(ClassLecturer, (cls.id, user.id)):
        return "lecturer", False, None
    if user.role == "assistant" and s.get(ClassAssistant, (cls.id, user.id)):
        return "assistant", False, None
    if user.role == "student":
        e = s.query(Enrolment).filter_by(class_id=cls.id, student_user_id=user.id, status="enrolled").one_or_none()
        if e is None:
            raise Forbidden("NOT_ON_ROSTER", "你不在本班花名册中，不能进入直播间；如已报名请联系培训机构",
                            "You are not on this class's roster; contact your training institution", rule="LIVE-1")
        return "student", False, e.assistant_user_id
    if user.role == "supervisor" and region_covers(user, cls.district_code):
        return "spectator", True, None
    if user.role == "supervisor":
        raise NotFound("课次", "lesson")  # outside the region: the class is not visible at all
    raise Forbidden("NOT_IN_CLASS", "你不是本班的讲师、助教或学员", "You are not a lecturer, assistant or student of this class",
                    rule="LIVE-1")
