"""SUB-3 public disclosure (公示) of a submitted roster, with personal data masked (PLAT-3).

Only what the public needs to object to a claim is shown: the masked name (server/identity/contact.py
``mask_name``: 张三 → 张*, 张小三 → 张*三), the masked ID number as stored at registration
(``StudentProfile.id_masked``, first 4 + last 4, the same everywhere on the platform), the masked mobile
(138****5678), the course and the amount. The rows are made once, when the claim is submitted, and
stored with it, so later changes to the class do not alter what was disclosed.

The window: ``public_disclosure_workdays`` working days (Chinese holidays and make-up workdays, via
server/workdays.py) beginning on the submission day — counted if it is a working day, else from the
next working day.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from server.identity.contact import mask_name
from server.workdays import WorkdayCalendar


@dataclass(frozen=True)
class Window:
    starts_on: date
    ends_on: date


def window(cal: WorkdayCalendar, published_on: date, workdays: int) -> Window:
    """The disclosure period: the first ``workdays`` working days from ``published_on`` (inclusive)."""
    n = max(int(workdays), 1)
    if cal.is_workday(published_on):
        return Window(published_on, cal.add_workdays(published_on, n - 1))
    return Window(published_on, cal.add_workdays(published_on, n))


def status(w_start: date, w_end: date, today: date) -> str:
    return "upcoming" if today < w_start else ("open" if today <= w_end else "ended")


def public_rows(roster_rows: list[dict], course_name: str) -> list[dict]:
    """Masked rows for every student claimed for (rows with no money are not disclosed)."""
    return [{"name_masked": mask_name(r["name"]), "id_number_masked": r["id_number_masked"],
             "mobile_masked": r["mobile_masked"], "course_name": course_name, "amount_cny": r["amount_cny"]}
            for r in roster_rows if r["claimed"]]
