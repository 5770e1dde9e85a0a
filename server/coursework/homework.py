"""Homework (LIVE-7): set per lesson day by the class's lecturer, submitted by its students, checked by
the lecturer or the student's assistant; day counts for the ATT-9 summary.

Rules kept here (the API in server/api/homework.py only shapes requests and files):

* **Who sets**: a lecturer assigned to the class, or its institution's admin. The lesson day must be a
  China date on which the class has a lesson; the due time must not be before that day starts.
* **Submitting**: a student enrolled in the class (not withdrawn). Every submission is a new version;
  an unchecked earlier version becomes ``superseded`` (kept, not shown as current). Once a version is
  checked, only a ``redo`` mark opens a new version; any other mark is final.
* **Checking**: the class's lecturers and institution admin check anyone; an assistant only the students
  of their own group (``Enrolment.assistant_user_id``, CLS-3/LIVE-4). Only the current, unchecked
  version can be checked.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import ClassAssistant, ClassLecturer, Enrolment, Lesson, TrainingClass, User
from models.coursework import HOMEWORK_MARKS, Homework, HomeworkSubmission
from server.errors import ApiError
from server.services import CHINA_TZ

RULE = "LIVE-7"
MARK_LABELS = {"excellent": "优", "good": "良", "pass": "合格", "fail": "不合格", "redo": "重做"}
CLOSED_CLASS_STATUSES = ("archived", "rejected")
assert set(MARK_LABELS) == set(HOMEWORK_MARKS)


def _err(code: str, zh: str, en: str, *, status: int = 422, field: str | None = None, **details) -> ApiError:
    return ApiError(code, zh, en, field=field, status=status, rule=RULE, details=details or None)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), CHINA_TZ)
    return start, start + timedelta(days=1)


def lesson_days(s: Session, class_id: int) -> list[date]:
    """The China dates on which the class has lessons, in order."""
    starts = s.scalars(select(Lesson.starts_at).where(Lesson.class_id == class_id))
    return sorted({at.astimezone(CHINA_TZ).date() for at in starts})


def is_lecturer(s: Session, class_id: int, user_id: int) -> bool:
    return s.get(ClassLecturer, (class_id, user_id)) is not None


def is_assistant(s: Session, class_id: int, user_id: int) -> bool:
    return s.get(ClassAssistant, (class_id, user_id)) is not None


def is_enrolled(s: Session, class_id: int, user_id: int) -> bool:
    return s.scalars(select(Enrolment.id).where(Enrolment.class_id == class_id, Enrolment.student_user_id == user_id,
                                                Enrolment.status != "withdrawn")).first() is not None


def may_set(s: Session, user: User, cls: TrainingClass) -> bool:
    if user.role == "institution_admin":
        return user.institution_id == cls.institution_id
    return user.role == "lecturer" and is_lecturer(s, cls.id, user.id)


def roster(s: Session, class_id: int, *, assistant_id: int | None = None) -> list[tuple[int, str]]:
    """(student id, display name) of the enrolled students, optionally one assistant's group."""
    q = select(Enrolment.student_user_id, User.display_name).join(User, User.id == Enrolment.student_user_id).where(
        Enrolment.class_id == class_id, Enrolment.status != "withdrawn")
    if assistant_id is not None:
        q = q.where(Enrolment.assistant_user_id == assistant_id)
    return [(r[0], r[1]) for r in s.execute(q.order_by(Enrolment.student_user_id))]


def assistant_of(s: Session, class_id: int, student_id: int) -> int | None:
    return s.scalars(select(Enrolment.assistant_user_id).where(
        Enrolment.class_id == class_id, Enrolment.student_user_id == student_id)).first()


def _open(cls: TrainingClass) -> None:
    if cls.status in CLOSED_CLASS_STATUSES:
        raise _err("CLASS_CLOSED", f"班期状态为 {cls.status}，不能再布置或提交作业",
                   f"The class is {cls.status}; homework can no longer be set or submitted", status=409)


def set_homework(s: Session, cls: TrainingClass, *, user: User, lesson_day: date, title: str, instructions: str,
                 due_at: datetime, now: datetime) -> Homework:
    if not may_set(s, user, cls):
        raise _err("HOMEWORK_NOT_CLASS_LECTURER", "只有本班讲师或本机构管理员可以布置作业",
                   "Only the class's lecturers or its institution admin may set homework", status=403)
    _open(cls)
    days = lesson_days(s, cls.id)
    if lesson_day not in days:
        raise _err("HOMEWORK_NOT_A_LESSON_DAY", f"{lesson_day} 不是本班的上课日",
                   f"{lesson_day} is not a lesson day of this class", field="lesson_day",
                   lesson_days=[d.isoformat() for d in days])
    if due_at < day_bounds(lesson_day)[0]:
        raise _err("HOMEWORK_DUE_BEFORE_DAY", "截止时间不能早于该上课日", "The due time cannot be before the lesson day",
                   field="due_at")
    hw = Homework(class_id=cls.id, lesson_day=lesson_day, title=title, instructions=instructions, due_at=due_at,
                  created_by=user.id, created_at=now)
    s.add(hw)
    s.flush()
    return hw


def versions(s: Session, homework_id: int, student_id: int | None = None) -> list[HomeworkSubmission]:
    q = select(HomeworkSubmission).where(HomeworkSubmission.homework_id == homework_id)
    if student_id is not None:
        q = q.where(HomeworkSubmission.student_user_id == student_id)
    return list(s.scalars(q.order_by(HomeworkSubmission.student_user_id, HomeworkSubmission.version)))


def current(s: Session, homework_ids: list[int]) -> dict[tuple[int, int], HomeworkSubmission]:
    """(homework id, student id) → that student's newest version."""
    if not homework_ids:
        return {}
    rows = s.scalars(select(HomeworkSubmission).where(HomeworkSubmission.homework_id.in_(homework_ids))
                     .order_by(HomeworkSubmission.version))
    return {(r.homework_id, r.student_user_id): r for r in rows}


def status_of(sub: HomeworkSubmission | None) -> str:
    """not_submitted | submitted | checked | redo (checked with "redo": awaiting a new version)."""
    if sub is None:
        return "not_submitted"
    if sub.status == "checked":
        return "redo" if sub.mark == "redo" else "checked"
    return "submitted"


def ensure_may_submit(s: Session, hw: Homework, cls: TrainingClass, student: User) -> HomeworkSubmission | None:
    """Refuse a submission before any file is stored; returns the student's newest version, if any."""
    if not is_enrolled(s, cls.id, student.id):
        raise _err("HOMEWORK_NOT_ENROLLED", "你不是本班学员", "You are not a student of this class", status=403)
    _open(cls)
    mine = versions(s, hw.id, student.id)
    last = mine[-1] if mine else None
    if last is not None and last.status == "checked" and last.mark != "redo":
        raise _err("HOMEWORK_ALREADY_CHECKED", "作业已批改，不能再次提交（除非老师要求重做）",
                   "This homework is already checked; resubmit only when asked to redo it", status=409)
    return last


def submit(s: Session, hw: Homework, cls: TrainingClass, *, student: User, text: str | None, attachments: list[dict],
           screening_held: bool, now: datetime) -> HomeworkSubmission:
    """A new version; the unchecked previous one is superseded, a checked one must have been marked redo."""
    last = ensure_may_submit(s, hw, cls, student)
    if not (text or "").strip() and not attachments:
        raise _err("HOMEWORK_EMPTY", "请填写作业内容或上传照片/文件", "Write an answer or attach a photo or file",
                   field="text")
    if last is not None and last.status == "submitted":
        last.status = "superseded"
    sub = HomeworkSubmission(homework_id=hw.id, student_user_id=student.id, version=(last.version + 1) if last else 1,
                             text=(text or "").strip() or None, attachments=attachments, submitted_at=now,
                             status="submitted", screening_held=screening_held)
    s.add(sub)
    s.flush()
    return sub


def may_check(s: Session, user: User, cls: TrainingClass, student_id: int) -> bool:
    if may_set(s, user, cls):
        return True
    return (user.role == "assistant" and is_assistant(s, cls.id, user.id)
            and assistant_of(s, cls.id, student_id) == user.id)


def check(s: Session, sub: HomeworkSubmission, cls: TrainingClass, *, user: User, mark: str, comment: str | None,
          now: datetime) -> HomeworkSubmission:
    if not may_check(s, user, cls, sub.student_user_id):
        if user.role == "assistant":
            raise _err("HOMEWORK_NOT_YOUR_GROUP", "只能批改自己负责小组学员的作业",
                       "Assistants check only the students of their own group", status=403)
        raise _err("HOMEWORK_NOT_CHECKER", "只有本班讲师、机构管理员或该学员的助教可以批改",
                   "Only the class's lecturers, its institution admin or the student's assistant may check", status=403)
    if mark not in HOMEWORK_MARKS:
        raise _err("HOMEWORK_MARK", f"评定须为：{'、'.join(MARK_LABELS.values())}",
                   f"mark must be one of {', '.join(HOMEWORK_MARKS)}", field="mark")
    if sub.status != "submitted":
        raise _err("HOMEWORK_NOT_CHECKABLE", "只能批改最新且尚未批改的提交",
                   "Only the newest, unchecked submission can be checked", status=409, status_now=sub.status)
    sub.status, sub.mark, sub.comment, sub.checked_by, sub.checked_at = "checked", mark, comment or None, user.id, now
    s.flush()
    return sub


def day_counts(s: Session, class_id: int, day: date) -> dict:
    """ATT-9 figures for one China day: homework set for that lesson day, submissions made that day
    (each version counts, superseded ones included: each was handed in) and checks made that day."""
    start, end = day_bounds(day)
    hw_ids = select(Homework.id).where(Homework.class_id == class_id).scalar_subquery()
    n_set = s.scalar(select(func.count(Homework.id)).where(Homework.class_id == class_id, Homework.lesson_day == day))
    submitted = s.scalar(select(func.count(HomeworkSubmission.id)).where(
        HomeworkSubmission.homework_id.in_(hw_ids), HomeworkSubmission.submitted_at >= start,
        HomeworkSubmission.submitted_at < end))
    checked = s.scalar(select(func.count(HomeworkSubmission.id)).where(
        HomeworkSubmission.homework_id.in_(hw_ids), HomeworkSubmission.checked_at >= start,
        HomeworkSubmission.checked_at < end))
    return {"set": int(n_set or 0), "submitted": int(submitted or 0), "checked": int(checked or 0), "rule": RULE}
