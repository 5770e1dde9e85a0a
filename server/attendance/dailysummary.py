"""ATT-9 daily summary: one figure sheet per class for one China day, written once the day is over.

Seed 004: "旗县区就业服务局每日需对线上培训前一天培训班学员培训信息进行汇总统计" — each morning the
supervisors see, per class, the previous day's hours done, sign-ins and sign-outs, homework and Q&A.
Every figure is computed from what the other rules already derive, never re-judged here:

* **Lessons and class-hours.** Planned = the lessons starting that China day and their class-hours.
  A lesson counts as *held* when the log shows it took place:

  - live: the lecturer was live (camera or screen published while connected, cut at ``lesson_end``
    — the ATT-3 denominator, server/attendance/lessonattendance.py) for any time at all; its
    delivered class-hours are prorated, class-hours × min(1, live time ÷ scheduled time), so a
    lesson cut short by half delivers half its hours and a no-show lecturer none;
  - offline (ATT-6): at least one accepted sign-in at the venue; it delivers its planned hours (no
    stream measures an offline lesson);
  - recorded (ATT-5): at least one enrolled student earned credited study time; its planned hours.
* **Sign-in / sign-out per half-day** and **study minutes**: ATT-7's daily records
  (server/attendance/daily.py) of the enrolled students; "no sign-in" = no sign-in in any half-day,
  and how many of those had approved leave (CLS-8) for one of the day's lessons.
* **Q&A, chat, hand raises**: counts of ``question`` / ``answer`` / ``chat`` / ``private`` (LIVE-4) /
  ``hand_raise`` events in the day's lessons; a question is *answered* when an ``answer`` names its
  event id.
* **Homework** (LIVE-7, server/coursework/homework.py ``day_counts``): homework set for that lesson day,
  submissions handed in and checks made during the day. A day with none of the three reports ``None``
  and a note saying so, rather than a row of zeros for classes that set no homework.
* **Content warnings** (LIVE-5): the class's screening hits dated that China day.

``build_day`` writes the missing rows for every class that could have held lessons that day; a row
is never rewritten (the unique (class_id, day) decides which node wins a race) and each new row is
handed to the webhook outbox when that module exists.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import ContentWarning, DailySummary, Enrolment, LeaveLesson, LeaveRequest, Lesson, TrainingClass
from server.attendance import daily, offline
from server.attendance.classfigures import REPLAY_KINDS
from server.attendance.lessonattendance import AttendanceRules, attendance
from server.coursework import homework
from server.live import eventlog
from server.services import CHINA_TZ

log = logging.getLogger("qihang.dailysummary")
RULE = "ATT-9"
EVENT_TYPE = "daily_summary"  # the webhook event
# A class that was never opened cannot have held a lesson (server/live/access.py ROOM_STATUSES).
HELD_STATUSES = ("open", "in_progress", "finished", "archived")
HALVES = ("am", "pm")
HOMEWORK_NOTE = {"zh": "当天未布置、提交或批改作业", "en": "No homework was set, submitted or checked that day",
                 "rule": RULE}
HOMEWORK_COUNTED = {"zh": "布置：当天上课日的作业数；提交：当天交来的作业份数（含重交）；批改：当天批改份数",
                    "en": "set: homework for that lesson day; submitted: versions handed in that day (resubmissions "
                          "included); checked: checks made that day", "rule": RULE}


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The China day as an aware half-open interval."""
    start = datetime.combine(day, time(0), CHINA_TZ)
    return start, datetime.combine(day + timedelta(days=1), time(0), CHINA_TZ)


def _minutes(d: timedelta) -> float:
    return round(d.total_seconds() / 60, 1)


def _hours(x: Fraction) -> float:
    return round(float(x), 2)


def _cn(at: datetime | None) -> str | None:
    return at.astimezone(CHINA_TZ).isoformat() if at else None


def _lecturer_live(lesson: Lesson, events: list, found: dict, until: datetime, rules: AttendanceRules) -> timedelta:
    """ATT-3's denominator: the same for every student; with nobody enrolled, asked for a stand-in."""
    if found:
        return next(iter(found.values())).live
    return attendance(events, [0], until=until, rules=rules)[0].live


def _lesson_figures(lesson: Lesson, events: list, found: dict, until: datetime,
                    rules: AttendanceRules) -> tuple[dict, Fraction]:
    """One lesson's line and its delivered class-hours, exact (module docstring: when a lesson is held)."""
    scheduled = lesson.ends_at - lesson.starts_at
    out = {"lesson_id": lesson.id, "title": lesson.title, "mode": lesson.mode, "starts_at": _cn(lesson.starts_at),
           "ends_at": _cn(lesson.ends_at), "class_hours": lesson.class_hours,
           "scheduled_minutes": _minutes(scheduled), "lecturer_live_minutes": None}
    delivered = Fraction(0)
    if offline.is_offline(lesson):
        held = any(a.checks_passed for a in found.values())  # an accepted sign-in at the venue
        delivered = Fraction(lesson.class_hours) if held else Fraction(0)
    elif lesson.mode == "recorded":
        held = any(a.study > timedelta(0) for a in found.values())
        delivered = Fraction(lesson.class_hours) if held else Fraction(0)
    else:
        live = _lecturer_live(lesson, events, found, until, rules)
        out["lecturer_live_minutes"] = _minutes(live)
        held = live > timedelta(0)
        if held and scheduled > timedelta(0):
            us = timedelta(microseconds=1)
            share = min(Fraction(1), Fraction(live // us, scheduled // us))
            delivered = lesson.class_hours * share
    out.update(held=held, class_hours_delivered=_hours(delivered))
    return out, delivered


def _qa(events: list) -> dict:
    questions = {ev.id for ev in events if ev.kind == "question"}
    answers = [ev for ev in events if ev.kind == "answer"]
    answered = {(ev.payload or {}).get("question_id") for ev in answers} & questions
    return {"questions": len(questions), "answered": len(answered), "unanswered": len(questions - answered),
            "answers": len(answers)}


def _roster(s: Session, class_id: int) -> list[int]:
    """The enrolled students, as ATT-2's tables count them (classfigures.load)."""
    return list(s.scalars(select(Enrolment.student_user_id).where(
        Enrolment.class_id == class_id, Enrolment.status == "enrolled").order_by(Enrolment.student_user_id)))


def _on_leave(s: Session, lesson_ids: list[int]) -> set[int]:
    if not lesson_ids:
        return set()
    return set(s.scalars(select(LeaveRequest.student_user_id).join(LeaveLesson, LeaveLesson.leave_id == LeaveRequest.id)
                         .where(LeaveRequest.status == "approved", LeaveLesson.lesson_id.in_(lesson_ids))))


def _warnings(s: Session, class_id: int, start: datetime, end: datetime) -> dict:
    rows = s.execute(select(ContentWarning.status, func.count()).where(
        ContentWarning.class_id == class_id, ContentWarning.at >= start, ContentWarning.at < end)
        .group_by(ContentWarning.status)).all()
    counts = {status: n for status, n in rows}
    return {"total": sum(counts.values()), "open": counts.get("open", 0), "reviewed": counts.get("reviewed", 0),
            "rule": "LIVE-5"}


def _homework(s: Session, class_id: int, day: date) -> dict:
    """LIVE-7 counts of the day, or None with a note when nothing happened."""
    counts = homework.day_counts(s, class_id, day)
    if not (counts["set"] or counts["submitted"] or counts["checked"]):
        return {"homework": None, "homework_note": HOMEWORK_NOTE}
    return {"homework": counts, "homework_note": HOMEWORK_COUNTED}


def summarise(s: Session, cls: TrainingClass, day: date, profile: Any, now: datetime) -> dict:
    """The ATT-9 figures of ``cls`` for the China ``day``, as of ``now`` (module docstring: definitions)."""
    start, end = day_bounds(day)
    rules = AttendanceRules.from_profile(profile) if profile is not None else AttendanceRules()
    share = getattr(profile, "daily_study_threshold", None)
    threshold = Fraction(str(share)) if share is not None else None
    roster = _roster(s, cls.id)
    lessons = list(s.scalars(select(Lesson).where(Lesson.class_id == cls.id, Lesson.starts_at >= start,
                                                  Lesson.starts_at < end).order_by(Lesson.starts_at, Lesson.id)))
    items, held_for_daily, day_events, delivered = [], [], [], Fraction(0)
    for lesson in lessons:
        started = lesson.starts_at <= now
        events, found, until = [], {}, now
        if started:
            events = [ev for ev in eventlog.events(s, lesson.id, limit=None) if ev.kind not in REPLAY_KINDS]
            until = min(now, max(lesson.ends_at, events[-1].at if events else lesson.ends_at))
            found = offline.lesson_attendance(lesson, events, roster, until=until, rules=rules)
            held_for_daily.append((lesson, events, found))
            day_events += events
        line, hours = _lesson_figures(lesson, events, found, until, rules)
        items.append(line | {"started": started})
        delivered += hours
    records = daily.daily(held_for_daily, roster, now=now, rules=rules)
    days = {uid: next((d for d in records.get(uid, []) if d.day == day), None) for uid in roster}

    halves = {}
    for half in HALVES:
        n = sum(1 for le in lessons if daily.half_of(le.starts_at)[1] == half)
        if not n:
            continue
        marks = [d.halves.get(half) for d in days.values() if d is not None]
        signed_in = sum(1 for m in marks if m is not None and m.sign_in is not None)
        halves[half] = {"lessons": n, "signed_in": signed_in,
                        "signed_out": sum(1 for m in marks if m is not None and m.sign_out is not None),
                        "not_signed_in": len(roster) - signed_in}
    unsigned = [uid for uid in roster if not (days[uid] and any(h.signed for h in days[uid].halves.values()))]
    leave = _on_leave(s, [le.id for le in lessons]) & set(roster)
    study = sum((d.study for d in days.values() if d is not None), timedelta(0))
    planned = max((d.planned for d in days.values() if d is not None), default=timedelta(0))
    meeting = None  # ATT-7's daily share, where the region sets one (Baotou)
    if threshold is not None and any(days.values()):
        meeting = sum(1 for d in days.values() if d is not None and d.meets(threshold))
    return {
        "rule": RULE, "day": day.isoformat(), "as_of": _cn(now), "class_id": cls.id, "class_name": cls.name,
        "course_type": cls.course_type, "institution_id": cls.institution_id, "district_code": cls.district_code,
        "lessons": {"planned": len(lessons), "held": sum(1 for it in items if it["held"]),
                    "class_hours_planned": sum(le.class_hours for le in lessons),
                    "class_hours_delivered": _hours(delivered), "items": items},
        "students": {"enrolled": len(roster), "signed_in": len(roster) - len(unsigned), "no_sign_in": len(unsigned),
                     "no_sign_in_on_leave": len(set(unsigned) & leave), "on_leave": len(leave),
                     "no_sign_in_ids": unsigned},
        "halves": halves,
        "study": {"planned_minutes_per_student": _minutes(planned), "total_minutes": _minutes(study),
                  "average_minutes": _minutes(study / len(roster)) if roster else None,
                  "daily_threshold_ATT7": share, "students_meeting_ATT7": meeting},
        "qa": _qa(day_events),
        "chat_messages": sum(1 for ev in day_events if ev.kind == "chat"),
        "private_messages": sum(1 for ev in day_events if ev.kind == "private"),  # LIVE-4 assistant ↔ student
        "hand_raises": sum(1 for ev in day_events if ev.kind == "hand_raise"),
        **_homework(s, cls.id, day),
        "content_warnings": _warnings(s, cls.id, start, end),
    }


def classes_of_day(s: Session, day: date, *, prefix: str | None = None) -> list[TrainingClass]:
    """Classes that could have held lessons on ``day`` (opened, with a lesson starting that day)."""
    start, end = day_bounds(day)
    q = (select(TrainingClass).where(TrainingClass.status.in_(HELD_STATUSES), TrainingClass.id.in_(
        select(Lesson.class_id).where(Lesson.starts_at >= start, Lesson.starts_at < end))).order_by(TrainingClass.id))
    if prefix:
        q = q.where(TrainingClass.district_code.startswith(prefix))
    return list(s.scalars(q))


def _emit(s: Session, row: DailySummary, cls: TrainingClass, now: datetime) -> None:
    """Hand the new row to the webhook outbox, in the row's transaction; a missing outbox module is
    fine, a failing one loses only the webhook (logged), never the summary."""
    try:
        from server.webhooks.outbox import emit
    except ImportError:
        return
    try:
        with s.begin_nested():
            emit(s, EVENT_TYPE, {"class_id": cls.id, "class_name": cls.name, "day": row.day.isoformat(),
                                 "figures": row.figures},
                 institution_id=row.institution_id, district_code=row.district_code, now=now)
    except Exception:  # noqa: BLE001 - the summary stands whatever the outbox does
        log.exception("daily summary %s: webhook not queued", row.id)


def build_day(s: Session, day: date, now: datetime, profiles: Mapping[str, Any], *,
              prefix: str | None = None, notify: bool = True) -> list[DailySummary]:
    """Write the missing ATT-9 rows of ``day`` (only classes in districts under ``prefix`` when given);
    the new rows, in class order. Existing rows are kept as written. Each row gets its own savepoint:
    when another node wrote the same (class, day) first, the unique constraint refuses ours and we
    move on; a class whose figures fail is logged and left for the next run. The caller commits."""
    have = set(s.scalars(select(DailySummary.class_id).where(DailySummary.day == day)))
    created = []
    for cls in classes_of_day(s, day, prefix=prefix):
        if cls.id in have:
            continue
        try:
            with s.begin_nested():
                figures = summarise(s, cls, day, profiles.get(cls.profile), now)
                row = DailySummary(class_id=cls.id, day=day, institution_id=cls.institution_id,
                                   district_code=cls.district_code, figures=figures, created_at=now)
                s.add(row)
                s.flush()
        except IntegrityError:
            log.info("daily summary of class %s for %s written by another node", cls.id, day)
            continue
        except Exception:  # noqa: BLE001 - one class's bad data must not hold back the others
            log.exception("daily summary of class %s for %s failed", cls.id, day)
            continue
        if notify:
            _emit(s, row, cls, now)
        created.append(row)
    return created
