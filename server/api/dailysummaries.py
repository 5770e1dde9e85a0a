"""Daily summaries (ATT-9) on the supervisors' dashboards: read them, and build a past day on demand.

The rows are written each morning by server/attendance/dailyscheduler.py (figures and their
definitions: server/attendance/dailysummary.py). Who reads (SUP-1, PLAT-3): supervisors the classes
whose district lies in their region, institution staff their own institution's, platform admins all;
anything else answers 404. Supervisor reads are audited (SUP-6, endpoint.py).

``POST /api/daily-summaries/build`` (platform admins, supervisors) writes the missing rows of a past
China day now — catch-up after an outage; a supervisor's build stays within their region. Rows are
never rewritten: a day already summarised keeps its figures.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from pydantic import Field
from sqlalchemy import false, func, select

from models import DailySummary, User
from server.api.endpoint import Api, Ctx
from server.attendance.dailysummary import RULE, build_day
from server.auth.scope import STAFF_ROLES, region_prefix
from server.errors import ApiError, Forbidden, NotFound
from server.services import CHINA_TZ
from server.validation import Body, Query

api = Api()
READERS = ("platform_admin", "supervisor") + STAFF_ROLES
BUILDERS = ("platform_admin", "supervisor")
MAX_ID = 2**31 - 1
MAX_BACK_DAYS = 366  # catch-up, not archaeology: a year back at most
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]


class ListQuery(Query):
    class_id: DbId | None = None
    day_from: date | None = None
    day_to: date | None = None
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class BuildBody(Body):
    day: date


def _cn(moment: datetime | None) -> str | None:
    return moment.astimezone(CHINA_TZ).isoformat() if moment else None


def _prefix(u: User) -> str | None:
    if u.role != "supervisor" or not u.region_level or not u.region_code:
        return None
    return region_prefix(u.region_level, u.region_code)


def _scoped(stmt, u: User):
    """SUP-1 / PLAT-3 on the row's own institution and district (kept on it when written)."""
    if u.role == "platform_admin":
        return stmt
    if u.role == "supervisor":
        prefix = _prefix(u)
        return stmt.where(DailySummary.district_code.startswith(prefix)) if prefix else stmt.where(false())
    if u.role in STAFF_ROLES and u.institution_id is not None:
        return stmt.where(DailySummary.institution_id == u.institution_id)
    return stmt.where(false())


def _err(code: str, zh: str, en: str, field: str, **details) -> ApiError:
    return ApiError(code, zh, en, field=field, status=422, rule=RULE, details=details or None)


def summary_dict(row: DailySummary) -> dict:
    f = row.figures or {}
    return {"id": row.id, "class_id": row.class_id, "class_name": f.get("class_name"), "day": row.day.isoformat(),
            "institution_id": row.institution_id, "district_code": row.district_code,
            "created_at": _cn(row.created_at), "figures": f, "rule": RULE}


@api.route("GET", "/api/daily-summaries", summary="每日汇总 Daily summaries (ATT-9)", tag="supervision",
           roles=READERS, query=ListQuery)
def list_daily_summaries(ctx: Ctx, query: ListQuery):
    """The viewer's classes' daily summaries, newest day first, paged (``limit``, ``offset``); narrowed
    by ``class_id`` and the China days ``day_from`` … ``day_to`` (inclusive)."""
    if query.day_from and query.day_to and query.day_to < query.day_from:
        raise _err("DAY_RANGE", "结束日期不能早于开始日期", "day_to is before day_from", "day_to")
    stmt = _scoped(select(DailySummary), ctx.user)
    if query.class_id is not None:
        stmt = stmt.where(DailySummary.class_id == query.class_id)
    if query.day_from is not None:
        stmt = stmt.where(DailySummary.day >= query.day_from)
    if query.day_to is not None:
        stmt = stmt.where(DailySummary.day <= query.day_to)
    total = ctx.s.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = ctx.s.scalars(stmt.order_by(DailySummary.day.desc(), DailySummary.id.desc())
                         .limit(query.limit).offset(query.offset))
    return {"items": [summary_dict(r) for r in rows], "total": total, "limit": query.limit, "offset": query.offset,
            "rule": RULE}


@api.route("GET", "/api/daily-summaries/{summary_id:int}", summary="一份每日汇总 One daily summary (ATT-9)",
           tag="supervision", roles=READERS)
def show_daily_summary(ctx: Ctx, summary_id: int):
    """One class's figures for one day; 404 when it does not exist or lies outside the viewer's scope."""
    if not 0 < summary_id <= MAX_ID:
        raise NotFound("每日汇总", "daily summary")
    row = ctx.s.scalars(_scoped(select(DailySummary).where(DailySummary.id == summary_id), ctx.user)).first()
    if row is None:
        raise NotFound("每日汇总", "daily summary")
    return summary_dict(row)


@api.route("POST", "/api/daily-summaries/build", summary="补做某日汇总 Build a past day's summaries now",
           tag="supervision", roles=BUILDERS, body=BuildBody)
def build_daily_summaries(ctx: Ctx, body: BuildBody):
    """Write the missing summaries of a past China day (a supervisor's: within their region); days
    already summarised are kept as written. ``created`` lists the new rows, ``existing`` counts the
    classes of the day already summarised before."""
    today = ctx.today
    if body.day >= today:
        raise _err("DAY_NOT_PAST", "只能汇总已经过去的日期（今天及以后的不行）",
                   "Only a past day can be summarised (not today or later)", "day", today=today.isoformat())
    if body.day < today - timedelta(days=MAX_BACK_DAYS):
        raise _err("DAY_TOO_OLD", f"只能补做最近 {MAX_BACK_DAYS} 天内的汇总",
                   f"Only the last {MAX_BACK_DAYS} days can be summarised", "day")
    prefix = None
    if ctx.user.role == "supervisor":
        prefix = _prefix(ctx.user)
        if prefix is None:
            raise Forbidden("NO_REGION", "监管账号没有管辖区域", "This supervisor account has no region", rule="SUP-1")
    rows = build_day(ctx.s, body.day, ctx.now, ctx.svc.profiles, prefix=prefix)
    existing = _scoped(select(func.count()).select_from(DailySummary).where(DailySummary.day == body.day), ctx.user)
    total = ctx.s.scalar(existing)
    ctx.audit("daily_summary.build", target_type="daily_summary_day", target_id=body.day.isoformat(),
              region_code=ctx.user.region_code, rule=RULE, created=[r.id for r in rows])
    return {"day": body.day.isoformat(), "created": [summary_dict(r) for r in rows],
            "existing": total - len(rows), "rule": RULE}
