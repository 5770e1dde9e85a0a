"""Writes ATT-9 daily summaries each morning: once China time is past ``hour`` (06:00), yesterday's.

Every ~5 minutes it asks ``build_day`` for the last :data:`CATCH_UP_DAYS` days that are due — the
days up to yesterday once the hour has passed, up to the day before until then — so a node that was
down for a night or a week catches up when it starts, and nothing is written for yesterday before
the hour. ``build_day`` keeps existing rows, so the check is cheap and every node of a cluster may
run it: the unique (class_id, day) lets exactly one row through per class and day. No global state;
the app's lifespan owns the instance (server/periodic.py: ``start`` / ``close``).

Also the ``qihang daily-summaries`` command (registered by server/cli.py): build a day now.
"""
from __future__ import annotations

import asyncio
import logging
import sys
from datetime import date, timedelta

from server.attendance.dailysummary import build_day
from server.periodic import PeriodicJob
from server.services import CHINA_TZ

log = logging.getLogger("qihang.dailysummary")
CATCH_UP_DAYS = 7
EVERY_SECONDS = 300.0


def due_days(local_now, hour: int) -> list[date]:
    """The China days whose summaries are due at ``local_now`` (China time), oldest first."""
    latest = local_now.date() - timedelta(days=1 if local_now.hour >= hour else 2)
    return [latest - timedelta(days=n) for n in range(CATCH_UP_DAYS - 1, -1, -1)]


class DailySummaryScheduler(PeriodicJob):
    """ATT-9: builds the due days' missing summaries, one transaction per day."""

    name = "daily-summaries"

    def __init__(self, svc, *, hour: int = 6, every_seconds: float = EVERY_SECONDS):
        if not 0 <= hour <= 23:
            raise ValueError("hour must be 0–23 (China time)")
        self.svc = svc
        self.hour = hour
        self.every = every_seconds

    async def run_once(self) -> int:
        """Build what is due now; the number of summaries written."""
        return await asyncio.to_thread(self.build_due)

    def build_due(self) -> int:
        now = self.svc.now()
        written = 0
        for day in due_days(now.astimezone(CHINA_TZ), self.hour):
            with self.svc.db.session() as s:
                rows = build_day(s, day, now, self.svc.profiles)
            written += len(rows)
            if rows:
                log.info("ATT-9: %d daily summaries written for %s", len(rows), day)
        return written


# --------------------------------------------------------------------------- command line

def add_parsers(sub) -> dict:
    """``qihang daily-summaries [--day YYYY-MM-DD]``: build a past day's missing summaries now."""
    p = sub.add_parser("daily-summaries", help="write the missing ATT-9 daily summaries of a past China day "
                       "(default yesterday) and print how many")
    p.add_argument("--day", type=date.fromisoformat, default=None, help="the China day (YYYY-MM-DD)")
    return {"daily-summaries": cmd_daily_summaries}


def cmd_daily_summaries(settings, args) -> int:
    from server.services import Services
    svc = Services.build(settings)
    today = svc.today()
    day = args.day or today - timedelta(days=1)
    if day >= today:
        print(f"只能汇总已过去的日期 / only a past day can be summarised: {day}", file=sys.stderr)
        return 2
    with svc.db.session() as s:
        rows = build_day(s, day, svc.now(), svc.profiles)
    print(f"{day}：新写入 {len(rows)} 份每日汇总 / {len(rows)} daily summaries written (ATT-9)")
    return 0
