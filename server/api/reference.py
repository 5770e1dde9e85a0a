"""Reference data: region policy profiles and the working-day calendar (CLS-1)."""
from __future__ import annotations

from datetime import date, timedelta

from pydantic import Field

from models import CalendarOverride
from server.api.endpoint import Api, Ctx
from server.errors import ApiError, NotFound
from server.validation import Body, Query

api = Api()


@api.route("GET", "/api/profiles", summary="地区政策列表 Policy profiles", tag="reference", public=True)
def list_profiles(ctx: Ctx):
    return {"items": [p.to_dict() for p in ctx.svc.profiles.values()]}


@api.route("GET", "/api/profiles/{key}", summary="地区政策 Policy profile", tag="reference", public=True)
def show_profile(ctx: Ctx, key: str):
    if key not in ctx.svc.profiles:
        raise NotFound("地区政策", "profile")
    return ctx.svc.profiles[key].to_dict()


class WorkdayQuery(Query):
    start: date = Field(alias="from")
    end: date = Field(alias="to")


@api.route("GET", "/api/calendar/workdays", summary="工作日查询 Working days", tag="reference", public=True,
           query=WorkdayQuery)
def workdays(ctx: Ctx, query: WorkdayQuery):
    from server.api.classes import workday_calendar
    if query.end < query.start or (query.end - query.start).days > 366:
        raise ApiError("RANGE", "日期范围须为正且不超过一年", "The range must be forward and at most a year",
                       field="to", status=422)
    cal = workday_calendar(ctx)
    days = []
    d = query.start
    while d <= query.end:
        days.append({"date": d.isoformat(), "workday": cal.is_workday(d), "covered": cal.is_covered(d)})
        d += timedelta(days=1)
    return {"days": days}


class OverrideBody(Body):
    day: date
    is_workday: bool
    note: str = Field(default="", max_length=100)


@api.route("PUT", "/api/calendar/overrides", summary="设置节假日调休 Set a holiday or make-up workday",
           tag="reference", roles=("platform_admin",), body=OverrideBody)
def put_override(ctx: Ctx, body: OverrideBody):
    """For years the calendar package does not know yet (the State Council publishes each December)."""
    row = ctx.s.get(CalendarOverride, body.day) or CalendarOverride(day=body.day)
    row.is_workday, row.note = body.is_workday, body.note
    ctx.s.add(row)
    ctx.audit("calendar.override", target_type="day", target_id=body.day.isoformat(), is_workday=body.is_workday,
              note=body.note)
    return {"day": body.day.isoformat(), "is_workday": body.is_workday, "note": body.note}
