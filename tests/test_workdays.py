"""CLS-1: class plans are submitted ≥ 5 working days ahead, counting Chinese holidays and make-up days."""
from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest

from server.workdays import SubmissionWindow, WorkdayCalendar

LEAD = 5  # every shipped profile's submission_lead_workdays (CLS-1); the calendar takes it as an argument


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(n) for n in range((end - start).days + 1)]


def uncovered_year() -> int:
    """The first year the installed chinese_calendar does not know."""
    year = date.today().year
    while True:
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return year
        year += 1


def test_cls1_national_day_2025_holidays_and_makeup_workdays():
    cal = WorkdayCalendar()
    for d in days(date(2025, 10, 1), date(2025, 10, 8)):
        assert not cal.is_workday(d), d
        assert not chinese_calendar.is_workday(d) and chinese_calendar.is_holiday(d)
    for d in (date(2025, 9, 28), date(2025, 10, 11)):  # Sunday, Saturday make-up workdays (调休上班)
        assert d.weekday() >= 5 and cal.is_workday(d) and chinese_calendar.is_workday(d)
    assert cal.is_workday(date(2025, 10, 9)) and not cal.is_workday(date(2025, 10, 12))
    assert all(cal.is_covered(d) for d in days(date(2025, 9, 1), date(2025, 10, 31)))


def test_cls1_spring_festival_2026():
    cal = WorkdayCalendar()
    for d in days(date(2026, 2, 15), date(2026, 2, 23)):  # 春节 15–23 February 2026
        assert not cal.is_workday(d) and chinese_calendar.is_holiday(d), d
    for d in (date(2026, 2, 14), date(2026, 2, 28)):  # Saturdays worked
        assert d.weekday() == 5 and cal.is_workday(d) and chinese_calendar.is_workday(d)
    # Plan for a class starting Tuesday 24 Feb: counting back 24, 14, 13, 12, 11 → last day 10 Feb.
    assert cal.submission_deadline(date(2026, 2, 24), LEAD) == date(2026, 2, 10)
    assert cal.check_submission(date(2026, 2, 10), date(2026, 2, 24), LEAD).ok
    w = cal.check_submission(date(2026, 2, 11), date(2026, 2, 24), LEAD)
    assert not w.ok and w.workdays == 4


def test_cls1_monday_is_exactly_five_workdays_tuesday_is_four():
    cal = WorkdayCalendar()
    first = date(2025, 6, 16)  # Monday
    monday = cal.check_submission(date(2025, 6, 9), first, LEAD)
    assert monday == SubmissionWindow(ok=True, workdays=5, deadline=date(2025, 6, 9), uncovered_days=())
    tuesday = cal.check_submission(date(2025, 6, 10), first, LEAD)
    assert not tuesday.ok and tuesday.workdays == 4 and tuesday.deadline == date(2025, 6, 9)
    assert cal.add_workdays(date(2025, 6, 9), 5) == first
    assert cal.workdays_between(date(2025, 6, 9), first) == 5


def test_cls1_window_crossing_national_day_2025():
    cal = WorkdayCalendar()
    # Friday 26 Sep for Thursday 9 Oct: 28, 29, 30 Sep and 9 Oct → 4, refused; last day was 25 Sep.
    w = cal.check_submission(date(2025, 9, 26), date(2025, 10, 9), LEAD)
    assert (w.ok, w.workdays, w.deadline, w.uncovered_days) == (False, 4, date(2025, 9, 25), ())
    # For Friday 10 Oct the make-up Sunday makes it exactly 5 (28, 29, 30 Sep, 9, 10 Oct).
    w = cal.check_submission(date(2025, 9, 26), date(2025, 10, 10), LEAD)
    assert w.ok and w.workdays == 5 and w.deadline == date(2025, 9, 27)
    assert cal.add_workdays(date(2025, 9, 26), 5) == date(2025, 10, 10)
    assert cal.add_workdays(date(2025, 9, 30), 1) == date(2025, 10, 9)
    assert cal.workdays_between(date(2025, 9, 30), date(2025, 10, 8)) == 0


def test_cls1_deadline_is_the_latest_day_that_still_works():
    cal = WorkdayCalendar()
    for first in days(date(2025, 9, 20), date(2025, 10, 31)) + days(date(2026, 2, 1), date(2026, 3, 10)):
        deadline = cal.submission_deadline(first, LEAD)
        assert cal.add_workdays(deadline, LEAD) <= first
        assert cal.add_workdays(deadline + timedelta(1), LEAD) > first
        assert cal.check_submission(deadline, first, LEAD).ok
        assert not cal.check_submission(deadline + timedelta(1), first, LEAD).ok
    assert cal.submission_deadline(date(2025, 6, 16), 0) == date(2025, 6, 16)


def test_cls1_edge_cases():
    cal = WorkdayCalendar()
    assert cal.add_workdays(date(2025, 6, 13), 0) == date(2025, 6, 13)
    assert cal.add_workdays(date(2025, 6, 13), 1) == date(2025, 6, 16)  # Friday → Monday
    assert cal.workdays_between(date(2025, 6, 16), date(2025, 6, 9)) == 0  # backwards
    w = cal.check_submission(date(2025, 6, 20), date(2025, 6, 16), LEAD)  # after the start
    assert not w.ok and w.workdays == 0
    with pytest.raises(ValueError):
        cal.add_workdays(date(2025, 6, 13), -1)
    with pytest.raises(ValueError):
        cal.submission_deadline(date(2025, 6, 13), -1)


def test_cls1_admin_overrides_win_over_the_package():
    # A platform admin corrects the calendar, e.g. an extra holiday on 2025-06-12, a worked Saturday 06-14.
    cal = WorkdayCalendar({date(2025, 6, 12): False, date(2025, 6, 14): True, date(2025, 10, 1): True})
    assert not cal.is_workday(date(2025, 6, 12)) and cal.is_workday(date(2025, 6, 14))
    assert cal.is_workday(date(2025, 10, 1))  # wins even over a public holiday the package knows
    assert cal.workdays_between(date(2025, 6, 9), date(2025, 6, 16)) == 5  # 10, 11, 13, 14, 16
    with pytest.raises(TypeError):
        WorkdayCalendar({date(2025, 6, 12): None})  # type: ignore[dict-item]


def test_cls1_uncovered_year_falls_back_to_monday_friday_and_is_reported():
    year = uncovered_year()
    cal = WorkdayCalendar()
    jan = days(date(year, 1, 5), date(year, 1, 20))
    assert not any(cal.is_covered(d) for d in jan)
    assert all(cal.is_workday(d) == (d.weekday() < 5) for d in jan)
    first = next(d for d in jan if d.weekday() == 0 and d.day >= 12)  # a Monday
    w = cal.check_submission(first - timedelta(7), first, LEAD)
    assert w.ok and w.workdays == 5 and w.deadline == first - timedelta(7)
    assert w.uncovered_days == tuple(days(first - timedelta(6), first))
    # Once an admin enters the year's days they count as covered and win over the fallback.
    overrides = {d: d.weekday() < 5 for d in days(first - timedelta(10), first)}
    overrides[first - timedelta(3)] = False  # an extra day off on the Friday
    cal = WorkdayCalendar(overrides)
    w = cal.check_submission(first - timedelta(7), first, LEAD)
    assert not w.ok and w.workdays == 4 and w.uncovered_days == ()
    assert w.deadline == first - timedelta(8)


def test_cls1_uncovered_days_reported_across_the_year_boundary():
    year = uncovered_year()
    cal = WorkdayCalendar()
    today, first = date(year - 1, 12, 29), date(year, 1, 8)
    w = cal.check_submission(today, first, LEAD)
    assert w.uncovered_days and all(d.year == year for d in w.uncovered_days)
    assert w.uncovered_days == tuple(days(date(year, 1, 1), first))
