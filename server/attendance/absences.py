"""Absences, leaves and replay make-up per student (CLS-7, CLS-8), from figures already derived.

Nothing here is stored: like the rest of ``server/attendance``, the figures are recomputed from the
lesson event logs (credited live study, server/attendance/lessonattendance.py), the approved leave
requests (models/leaves.py) and the region profile, so each one can be explained at any time.

The rules, and the choices where the regulations are silent:

1. **Which lessons are judged.** Live and offline lessons are judged once they have ended
   (``now ≥ ends_at``). A live lesson in which the lecturer was never live was not given
   (``not_held``): nobody is absent from it. Recorded lessons are self-paced study, not a session
   to attend: ``not_judged`` here (ATT-5 has its own figures).
2. **Absent** (旷课). In a judged lesson a student is ``present`` when their credited study is at
   least ``absence_min_study_share`` (profile, default 0.5; exact fractions, inclusive) of the
   lesson's held time — the lecturer's live time, or an offline lesson's scheduled time with study
   from its face + location sign-ins (offline.py). Below that they are ``leave`` if an approved leave
   covers the lesson, else ``absent``. An approved leave for a lesson the student attended anyway is
   not used and not counted.
3. **Counting** (CLS-7, seed 002 art. 20 "无故旷课或请假累计不得超过2次（不含2次，每次不能超过4课时）").
   The missed lessons of one China day are grouped into occurrences (次): a run of consecutive
   absent lessons is one absence; the lessons of one approved leave on that day are one leave. An
   occurrence of H class-hours counts ``ceil(H / max_absence_class_hours)`` times — a leave longer
   than 4 class-hours is *counted as several*, not refused (refusing it would only turn the same
   missed hours into unexcused absences, counted the same way). Without that setting each counts 1.
4. **Barred** from the final assessment when absences + leaves > ``max_absences`` for the class's
   course type (Hohhot SYB/IYB/WLC: 2; exactly 2 is still allowed — "超过2次的将不能参加结业考核").
   Other course types and regions have no such limit: the counts are shown, nobody is barred.
5. **Make-up** (CLS-8, seed 004 "通过观看回放等方式完成所缺课时"). Where ``replay_counts_as_study``,
   the unique seconds of a lesson's replay a student watched (the union of the ``replay_progress``
   position ranges, clipped to the lesson's planned length) count as make-up study, at most the
   time they missed in that lesson (live time − credited study). Positions are seconds of the
   recording (server/api/replay.py posts them), which skips the gaps a crash or a break left, so
   they are not matched to the live timeline: the cap keeps a re-watched attended part from
   counting twice in total. Make-up adds study time; it does not undo an absence or a leave, which
   art. 20 counts either way. Where the profile does not allow it, watched seconds are shown and
   credited as zero.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any, Iterable, Mapping

from server.services import CHINA_TZ

STATUSES = ("present", "absent", "leave", "pending", "not_held", "not_judged")
JUDGED_MODES = ("live", "offline")  # recorded lessons are self-paced (ATT-5), not sessions to attend
DEFAULT_MIN_STUDY_SHARE = Fraction(1, 2)


@dataclass(frozen=True)
class AbsenceRules:
    """The profile's numbers for one class (its course type decides whether CLS-7 applies)."""

    min_study_share: Fraction = DEFAULT_MIN_STUDY_SHARE
    max_absences: int | None = None  # CLS-7 limit for this course type; None: no limit applies
    max_class_hours: int | None = None  # CLS-7: one occurrence covers at most this many class-hours
    replay_counts: bool = False  # CLS-8: replay watching counts as study
    region_zh: str = ""

    @classmethod
    def from_profile(cls, profile: Any, course_type: str) -> "AbsenceRules":
        limit = profile.max_absences_for(course_type) if course_type in profile.courses else None
        return cls(min_study_share=Fraction(str(getattr(profile, "absence_min_study_share", 0.5))),
                   max_absences=limit, max_class_hours=profile.max_absence_class_hours,
                   replay_counts=bool(profile.replay_counts_as_study), region_zh=profile.name_zh)


@dataclass(frozen=True)
class LessonFacts:
    """One lesson as these rules see it: plan, live time and each student's study and replay."""

    lesson_id: int
    starts_at: datetime
    ends_at: datetime
    class_hours: int
    mode: str = "live"
    live: timedelta = timedelta(0)  # the lecturer's live time (ATT-3 denominator)
    study: Mapping[int, timedelta] = field(default_factory=dict)  # credited live study per student
    replay: Mapping[int, list] = field(default_factory=dict)  # watched [from_s, to_s] ranges per student

    @property
    def day(self) -> date:
        return self.starts_at.astimezone(CHINA_TZ).date()


@dataclass(frozen=True)
class LeaveFacts:
    leave_id: int
    student_id: int
    lesson_ids: frozenset[int]


@dataclass
class LessonMark:
    lesson_id: int
    day: date
    class_hours: int
    status: str  # STATUSES
    study: timedelta = timedelta(0)
    live: timedelta = timedelta(0)
    leave_id: int | None = None  # the approved leave covering the lesson, if any
    replay_watched: float = 0.0  # unique replay seconds watched
    makeup: float = 0.0  # of those, credited as make-up study (CLS-8)

    @property
    def missed(self) -> timedelta:
        return max(self.live - self.study, timedelta(0)) if self.status not in ("pending", "not_held",
                                                                                 "not_judged") else timedelta(0)

    def as_dict(self) -> dict:
        return {"lesson_id": self.lesson_id, "day": self.day.isoformat(), "class_hours": self.class_hours,
                "status": self.status, "study_seconds": round(self.study.total_seconds()),
                "live_seconds": round(self.live.total_seconds()), "missed_seconds": round(self.missed.total_seconds()),
                "leave_id": self.leave_id, "replay_watched_seconds": round(self.replay_watched),
                "makeup_seconds": round(self.makeup)}


@dataclass
class Occurrence:
    """One absence or one leave (次) as CLS-7 counts it."""

    kind: str  # "absence" | "leave"
    day: date
    lesson_ids: list[int]
    class_hours: int
    counts: int
    leave_id: int | None = None

    def as_dict(self) -> dict:
        return {"kind": self.kind, "day": self.day.isoformat(), "lesson_ids": self.lesson_ids,
                "class_hours": self.class_hours, "counts": self.counts, "leave_id": self.leave_id}


@dataclass
class StudentAbsences:
    student_id: int
    rules: AbsenceRules
    marks: list[LessonMark] = field(default_factory=list)
    occurrences: list[Occurrence] = field(default_factory=list)

    @property
    def absences(self) -> int:
        return sum(o.counts for o in self.occurrences if o.kind == "absence")

    @property
    def leaves(self) -> int:
        return sum(o.counts for o in self.occurrences if o.kind == "leave")

    @property
    def barred(self) -> bool:
        """CLS-7: more than the limit bars the final assessment; exactly the limit does not."""
        return self.rules.max_absences is not None and self.absences + self.leaves > self.rules.max_absences

    @property
    def makeup_seconds(self) -> float:
        return sum(m.makeup for m in self.marks)

    def explanation(self) -> dict[str, str]:
        """The numbers behind the verdict, in a sentence each (zh first)."""
        a, lv, total = self.absences, self.leaves, self.absences + self.leaves
        limit = self.rules.max_absences
        if limit is None:
            return {"zh": f"缺勤 {a} 次、请假 {lv} 次；本班项目不适用缺勤次数上限（CLS-7）。",
                    "en": f"{a} absence(s), {lv} leave(s); no absence limit applies to this course (CLS-7)."}
        per = self.rules.max_class_hours
        each_zh = f"（每次最多 {per} 课时，超出按多次计）" if per else ""
        each_en = f" (at most {per} class-hours each; longer ones count several times)" if per else ""
        if self.barred:
            return {"zh": f"缺勤 {a} 次＋请假 {lv} 次＝{total} 次{each_zh}，超过上限 {limit} 次，不能参加结业考核（CLS-7）。",
                    "en": f"{a} absence(s) + {lv} leave(s) = {total}{each_en}, more than the limit of {limit}: "
                          f"barred from the final assessment (CLS-7)."}
        return {"zh": f"缺勤 {a} 次＋请假 {lv} 次＝{total} 次{each_zh}，未超过上限 {limit} 次，可参加结业考核（CLS-7）。",
                "en": f"{a} absence(s) + {lv} leave(s) = {total}{each_en}, within the limit of {limit}: "
                      f"may take the final assessment (CLS-7)."}

    def summary(self) -> dict:
        return {"student_id": self.student_id, "absences": self.absences, "leaves": self.leaves,
                "total": self.absences + self.leaves, "max_absences": self.rules.max_absences,
                "max_absence_class_hours": self.rules.max_class_hours,
                "barred_from_exam": self.barred, "rule": "CLS-7" if self.rules.max_absences is not None else None,
                "makeup_seconds": round(self.makeup_seconds), "replay_counts_as_study": self.rules.replay_counts,
                "min_study_share": float(self.rules.min_study_share), "explanation": self.explanation()}

    def as_dict(self) -> dict:
        return dict(self.summary(), occurrences=[o.as_dict() for o in self.occurrences],
                    lessons=[m.as_dict() for m in self.marks])


def occurrences_count(class_hours: int, max_class_hours: int | None) -> int:
    """CLS-7: how many times (次) a stretch of ``class_hours`` counts — one per started block."""
    if not max_class_hours:
        return 1
    return max(1, math.ceil(class_hours / max_class_hours))


def leave_counts(lesson_hours_by_day: Mapping[date, int], max_class_hours: int | None) -> int:
    """What a leave would count if every covered lesson is missed (shown when it is requested)."""
    return sum(occurrences_count(h, max_class_hours) for h in lesson_hours_by_day.values() if h > 0)


def watched_seconds(ranges: Iterable, length: float) -> float:
    """Unique seconds covered by ``[from, to]`` position ranges within ``[0, length]``; bad ranges are skipped."""
    spans = []
    for r in ranges:
        try:
            a, b = float(r[0]), float(r[1])
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        if not (math.isfinite(a) and math.isfinite(b)):
            continue
        a, b = max(a, 0.0), min(b, length)
        if b > a:
            spans.append((a, b))
    spans.sort()
    out, end = 0.0, None
    for a, b in spans:
        if end is None or a > end:
            out += b - a
            end = b
        elif b > end:
            out += b - end
            end = b
    return out


def _share(study: timedelta, live: timedelta) -> Fraction:
    us = lambda d: (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds  # noqa: E731
    return Fraction(us(study), us(live))


def judge(lessons: Iterable[LessonFacts], students: Iterable[int], leaves: Iterable[LeaveFacts], *,
          now: datetime, rules: AbsenceRules) -> dict[int, StudentAbsences]:
    """Each student's marks, occurrences and CLS-7 verdict (rules in the module docstring)."""
    lessons = sorted(lessons, key=lambda lf: (lf.starts_at, lf.lesson_id))
    covering: dict[tuple[int, int], int] = {}
    for lv in sorted(leaves, key=lambda x: x.leave_id):
        for lid in lv.lesson_ids:
            covering.setdefault((lv.student_id, lid), lv.leave_id)
    out: dict[int, StudentAbsences] = {}
    for uid in students:
        result = StudentAbsences(uid, rules)
        for lf in lessons:
            mark = LessonMark(lf.lesson_id, lf.day, lf.class_hours, "pending",
                              leave_id=covering.get((uid, lf.lesson_id)))
            if lf.mode not in JUDGED_MODES:
                mark.status = "not_judged"
            elif now < lf.ends_at:
                mark.status = "pending"
            elif lf.live <= timedelta(0):
                mark.status = "not_held"
            else:
                mark.live, mark.study = lf.live, min(lf.study.get(uid, timedelta(0)), lf.live)
                if _share(mark.study, mark.live) >= rules.min_study_share:
                    mark.status = "present"
                else:
                    mark.status = "leave" if mark.leave_id is not None else "absent"
                length = (lf.ends_at - lf.starts_at).total_seconds()
                mark.replay_watched = watched_seconds(lf.replay.get(uid, ()), length)
                if rules.replay_counts:
                    mark.makeup = min(mark.replay_watched, mark.missed.total_seconds())
            result.marks.append(mark)
        result.occurrences = _occurrences(result.marks, rules.max_class_hours)
        out[uid] = result
    return out


def _occurrences(marks: list[LessonMark], max_class_hours: int | None) -> list[Occurrence]:
    found: list[Occurrence] = []
    run: list[LessonMark] = []
    leave_groups: dict[tuple[int, date], list[LessonMark]] = {}

    def close_run():
        if run:
            hours = sum(m.class_hours for m in run)
            found.append(Occurrence("absence", run[0].day, [m.lesson_id for m in run], hours,
                                    occurrences_count(hours, max_class_hours)))
            run.clear()

    for m in marks:
        if run and m.day != run[-1].day:
            close_run()
        if m.status == "absent":
            run.append(m)
            continue
        close_run()
        if m.status == "leave":
            leave_groups.setdefault((m.leave_id, m.day), []).append(m)
    close_run()
    for (leave_id, day), group in leave_groups.items():
        hours = sum(m.class_hours for m in group)
        found.append(Occurrence("leave", day, [m.lesson_id for m in group], hours,
                                occurrences_count(hours, max_class_hours), leave_id))
    found.sort(key=lambda o: (o.day, o.lesson_ids[0]))
    return found
