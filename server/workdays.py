"""Chinese working days for the class-plan deadline (CLS-1).

CLS-1 (seeds 000/001: "定点机构应提前5个工作日……提交开班资料"; the lead is the profile's
``submission_lead_workdays``): a plan must be submitted at least N working days before the class
starts, where working days follow the State Council's holiday arrangement — public holidays are not
working days, and make-up workdays (调休上班, e.g. Sunday 2025-09-28) are.

Interpretation of "提前5个工作日": count the working days *after* the submission day up to and
*including* the first lesson day; submission is allowed when that count is ≥ N::

    workdays_between(today, first_lesson_day) >= lead      # days d with today < d <= first_lesson_day

So a plan submitted on Monday 2025-06-09 for a class starting Monday 2025-06-16 is exactly 5 working
days ahead (10, 11, 12, 13, 16 June) and allowed; submitted on Tuesday 2025-06-10 it is 4 and refused.
This reads "N working days ahead" the way "7 days ahead" reads for calendar dates (Monday → next
Monday), and makes the institution's last day to submit the day before the N-th working day counted
back from the first lesson day (:meth:`WorkdayCalendar.submission_deadline`).

Where a day's status comes from, in order:

1. ``overrides`` — rows a platform admin enters (``PUT /api/calendar/overrides``) for years the package
   does not know yet (the State Council publishes each year's arrangement in late autumn);
2. the maintained PyPI package ``chinese_calendar`` (``is_workday`` raises ``NotImplementedError``
   outside the years it covers);
3. a plain Monday–Friday fallback. Days judged by the fallback are *not covered*; they are reported
   (``SubmissionWindow.uncovered_days``) so the decision can be shown as provisional.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Mapping

import chinese_calendar

ONE_DAY = timedelta(days=1)
MAX_SPAN_DAYS = 3660  # guards against runaway loops on absurd inputs (ten years)


@dataclass(frozen=True)
class SubmissionWindow:
    """The CLS-1 verdict for submitting a class plan on ``today``."""

    ok: bool  # workdays >= lead
    workdays: int  # workdays_between(today, first_lesson_day)
    deadline: date  # the last day a plan may be submitted (submission_deadline)
    uncovered_days: tuple[date, ...]  # days behind this verdict that only the Mon–Fri fallback judged


def _as_date(day: date) -> date:
    return day.date() if isinstance(day, datetime) else day


class WorkdayCalendar:
    """Working days in mainland China: overrides → ``chinese_calendar`` → Monday–Friday fallback."""

    def __init__(self, overrides: Mapping[date, bool] | None = None):
        self._overrides: dict[date, bool] = {}
        for day, is_workday in (overrides or {}).items():
            if not isinstance(day, date) or is_workday not in (True, False):  # 0/1 from a database pass
                raise TypeError(f"overrides map dates to booleans, got {day!r}: {is_workday!r}")
            self._overrides[_as_date(day)] = bool(is_workday)

    def _judge(self, day: date) -> tuple[bool, bool]:
        """(is_workday, covered)."""
        day = _as_date(day)
        if day in self._overrides:
            return self._overrides[day], True
        try:
            return bool(chinese_calendar.is_workday(day)), True
        except NotImplementedError:
            return day.weekday() < 5, False

    def is_workday(self, day: date) -> bool:
        return self._judge(day)[0]

    def is_covered(self, day: date) -> bool:
        """True when an override or the package knows the day; False when only the fallback judged it."""
        return self._judge(day)[1]

    def add_workdays(self, start: date, n: int) -> date:
        """The n-th working day after ``start`` (``start`` itself not counted); ``start`` when n == 0."""
        if n < 0:
            raise ValueError(f"n must be ≥ 0, got {n}")
        day = _as_date(start)
        for _ in range(n):
            day += ONE_DAY
            steps = 0
            while not self.is_workday(day):
                day += ONE_DAY
                steps += 1
                if steps > MAX_SPAN_DAYS:
                    raise ValueError("no working day found within ten years")
        return day

    def workdays_between(self, start: date, end: date) -> int:
        """Working days d with start < d <= end (0 when end <= start)."""
        return sum(1 for d in self._days(start, end) if self.is_workday(d))

    def submission_deadline(self, first_lesson_day: date, lead: int) -> date:
        """The last day on which a plan may be submitted: the latest D with add_workdays(D, lead) <= first.

        Equivalently the day before the ``lead``-th working day counted back from the first lesson day
        (which counts if it is a working day). It may fall on a weekend or holiday: the platform accepts
        submissions every day. With lead == 0 it is the first lesson day itself.
        """
        if lead < 0:
            raise ValueError(f"lead must be ≥ 0, got {lead}")
        day = _as_date(first_lesson_day)
        if lead == 0:
            return day
        found = 0
        for _ in range(MAX_SPAN_DAYS):
            if self.is_workday(day):
                found += 1
                if found == lead:
                    return day - ONE_DAY
            day -= ONE_DAY
        raise ValueError("no working day found within ten years")

    def check_submission(self, today: date, first_lesson_day: date, lead: int) -> SubmissionWindow:
        """CLS-1: may a plan whose first lesson is on ``first_lesson_day`` be submitted ``today``?

        ``uncovered_days`` lists, in date order, the fallback-judged days among those that decide the
        verdict and the deadline: every day after min(today, deadline) up to the first lesson day.
        """
        today, first = _as_date(today), _as_date(first_lesson_day)
        workdays = self.workdays_between(today, first)
        deadline = self.submission_deadline(first, lead)
        uncovered = tuple(d for d in self._days(min(today, deadline), first) if not self.is_covered(d))
        return SubmissionWindow(ok=workdays >= lead, workdays=workdays, deadline=deadline, uncovered_days=uncovered)

    @staticmethod
    def _days(start: date, end: date):
        """Days d with start < d <= end."""
        start, end = _as_date(start), _as_date(end)
        if (end - start).days > MAX_SPAN_DAYS:
            raise ValueError(f"range {start}..{end} is longer than ten years")
        day = start + ONE_DAY
        while day <= end:
            yield day
            day += ONE_DAY
