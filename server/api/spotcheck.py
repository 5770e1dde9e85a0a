"""Spot checks of live-lesson video by HR supervisors (SUP-5), every step audited (SUP-6).

Seed 003 四（一）: "区人力资源社会保障部门按照不低于直播培训课时 10% 的比例，对相应班级直播视频进行抽查".

* **Draw** (``POST /api/spot-checks``, supervisors): for a region at or below the drawer's own (a
  district supervisor cannot draw another district; a city one may draw the city or one of its
  districts) and a period of China dates, the population is every live lesson that started in the
  period, has ended, and has a recording with at least one segment. The server makes a random seed
  and draws, weighted by class-hours, until the drawn class-hours reach the share
  (server/domain/spotdraw.py). The share is the highest ``supervisor_spot_check_share`` of the
  profiles in the population (10 % when a profile sets none); a drawer may ask for more, never less.
  The batch keeps the seed, algorithm and population: ``GET /api/spot-checks/{id}`` re-runs the draw
  and says whether it reproduces. A draw is never deleted or changed (database guard, migration 0009).
* **Assign**: the drawer names one supervisor for all items (default: themself) whose region lies
  within the drawer's and covers the whole drawn region; supervisors at or above the batch's region
  may reassign an undecided item to another such supervisor covering the item's district.
* **Watch**: the replay page (``/replay?lesson=ID&spotcheck=ITEM``) reports the second ranges the
  assignee watched (``POST /api/spot-checks/items/{id}/watched``); they are merged, and the unique
  seconds counted.
* **Verdict**: only the assignee; ``ok`` or ``problem`` (a problem needs a note). It needs
  :data:`MIN_WATCH_SECONDS` (5 minutes) watched, or the whole recording when shorter — the seed
  sets no time, and a verdict on a video nobody opened is worthless. A verdict is final.
* **Report** per batch: drawn share against the required one, done / pending, the problems.

Supervisors read only within their region (SUP-1); every read and write is in the audit log.
"""
from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy import or_, select

from models import Lesson, Recording, TrainingClass, User
from models.spotchecks import ITEM_STATUSES, SpotCheckBatch, SpotCheckItem
from server.api.endpoint import Api, Ctx
from server.api.users import check_region_code
from server.auth.scope import region_covers, region_prefix
from server.domain import spotdraw
from server.errors import ApiError, Forbidden, NotFound
from server.services import CHINA_TZ
from server.validation import Body, Query

api = Api()
RULE = "SUP-5"
READERS = ("platform_admin", "supervisor")
MIN_WATCH_SECONDS = 300.0
MAX_PERIOD_DAYS = 366
MAX_ID = 2**31 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
Seconds = Annotated[float, Field(ge=0, le=48 * 3600)]


class DrawBody(Body):
    region_level: Literal["district", "city", "province"] | None = None
    region_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    period_from: date
    period_to: date
    share: float | None = Field(default=None, gt=0, le=1)
    assignee_id: DbId | None = None
    note: str | None = Field(default=None, max_length=1000)


class AssignBody(Body):
    assignee_id: DbId


class WatchedBody(Body):
    ranges: list[tuple[Seconds, Seconds]] = Field(min_length=1, max_length=500)


class VerdictBody(Body):
    verdict: Literal["ok", "problem"]
    note: str | None = Field(default=None, max_length=2000)


class ItemQuery(Query):
    batch_id: DbId | None = None
    mine: bool = False
    status: Literal[ITEM_STATUSES] | None = None  # type: ignore[valid-type]
    limit: int = Field(default=500, ge=1, le=2000)


class AssigneeQuery(Query):
    scope_prefix: str | None = Field(default=None, pattern=r"^\d{2,6}$")


def _cn(moment: datetime | None) -> str | None:
    return moment.astimezone(CHINA_TZ).isoformat() if moment else None


def _prefix(u: User) -> str | None:
    if u.role != "supervisor" or not u.region_level or not u.region_code:
        return None
    return region_prefix(u.region_level, u.region_code)


def _covers_prefix(u: User, prefix: str) -> bool:
    """The user's region is ``prefix``'s region or above it."""
    mine = _prefix(u)
    return mine is not None and prefix.startswith(mine)


def _ids(*ids: int) -> None:
    if any(not 0 < i <= MAX_ID for i in ids):
        raise NotFound()


def _err(code: str, zh: str, en: str, *, field: str | None = None, status: int = 422, **details) -> ApiError:
    return ApiError(code, zh, en, field=field, status=status, rule=RULE, details=details or None)


# --------------------------------------------------------------------------- look-ups

def _batch(ctx: Ctx, batch_id: int) -> SpotCheckBatch:
    _ids(batch_id)
    b = ctx.s.get(SpotCheckBatch, batch_id)
    if b is None or not _may_see_batch(ctx, b):
        raise NotFound("抽查批次", "spot-check batch")
    return b


def _may_see_batch(ctx: Ctx, b: SpotCheckBatch) -> bool:
    u = ctx.user
    if u.role == "platform_admin" or _covers_prefix(u, b.scope_prefix):
        return True
    return ctx.s.scalars(select(SpotCheckItem.id).where(SpotCheckItem.batch_id == b.id,
                                                        SpotCheckItem.assignee_user_id == u.id).limit(1)).first() is not None


def _item(ctx: Ctx, item_id: int) -> tuple[SpotCheckItem, SpotCheckBatch]:
    _ids(item_id)
    it = ctx.s.get(SpotCheckItem, item_id)
    if it is None or not (ctx.user.role == "platform_admin" or region_covers(ctx.user, it.district_code)):
        raise NotFound("抽查课次", "spot-check item")
    return it, ctx.s.get(SpotCheckBatch, it.batch_id)


def _check_assignee(ctx: Ctx, assignee_id: int, *, within: str, covering: str, field: str = "assignee_id") -> User:
    """An active supervisor whose region lies within ``within`` (the assigner's) and covers ``covering``."""
    a = ctx.s.get(User, assignee_id)
    pa = _prefix(a) if a is not None and a.active else None
    if pa is None or not pa.startswith(within) or not covering.startswith(pa):
        raise _err("SPOTCHECK_ASSIGNEE_SCOPE", "被指派人须是本辖区内、且管辖范围覆盖所抽课次的人社监管账号",
                   "The assignee must be an active supervisor within your region whose region covers the drawn lessons",
                   field=field, assignee_id=assignee_id, must_cover=covering)
    return a


def _min_watch(it: SpotCheckItem) -> float:
    return min(MIN_WATCH_SECONDS, it.media_seconds) if it.media_seconds > 0 else MIN_WATCH_SECONDS


def _names(ctx: Ctx, ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    return {u.id: u.display_name for u in ctx.s.scalars(select(User).where(User.id.in_(ids)))} if ids else {}


def item_dict(ctx: Ctx, it: SpotCheckItem, lesson: Lesson, cls: TrainingClass, names: dict[int, str]) -> dict:
    need = _min_watch(it)
    mine = ctx.user.id == it.assignee_user_id
    return {
        "id": it.id, "batch_id": it.batch_id, "rank": it.rank, "lesson_id": it.lesson_id, "lesson_title": lesson.title,
        "starts_at": _cn(lesson.starts_at), "ends_at": _cn(lesson.ends_at), "class_id": it.class_id,
        "class_name": cls.name, "institution_id": it.institution_id, "institution_name": cls.institution.name,
        "district_code": it.district_code, "class_hours": it.class_hours, "media_seconds": it.media_seconds,
        "assignee_id": it.assignee_user_id, "assignee_name": names.get(it.assignee_user_id),
        "assigned_at": _cn(it.assigned_at), "status": it.status, "watched_seconds": round(it.watched_seconds, 1),
        "watched_ranges": it.watched_ranges, "min_watch_seconds": need, "last_watched_at": _cn(it.last_watched_at),
        "verdict": it.verdict, "note": it.note, "decided_at": _cn(it.decided_at), "decided_by": it.decided_by,
        "decided_by_name": names.get(it.decided_by), "mine": mine,
        "can_decide": mine and it.verdict is None and it.watched_seconds >= need,
        "replay_url": f"/replay?lesson={it.lesson_id}&spotcheck={it.id}",
    }


def _items_out(ctx: Ctx, items: list[SpotCheckItem]) -> list[dict]:
    lessons = {le.id: le for le in ctx.s.scalars(select(Lesson).where(Lesson.id.in_({i.lesson_id for i in items})))}
    classes = {c.id: c for c in ctx.s.scalars(select(TrainingClass).where(TrainingClass.id.in_({i.class_id for i in items})))}
    names = _names(ctx, [i.assignee_user_id for i in items] + [i.decided_by for i in items])
    return [item_dict(ctx, i, lessons[i.lesson_id], classes[i.class_id], names) for i in items]


def batch_dict(ctx: Ctx, b: SpotCheckBatch, items: list[SpotCheckItem] | None = None) -> dict:
    items = items if items is not None else _batch_items(ctx, b)
    done = [i for i in items if i.status == "done"]
    names = _names(ctx, [b.drawn_by])
    return {
        "id": b.id, "region_level": b.region_level, "region_code": b.region_code, "scope_prefix": b.scope_prefix,
        "period_from": b.period_from.isoformat(), "period_to": b.period_to.isoformat(),
        "required_share": b.required_share, "share": b.share, "population_lessons": b.population_lessons,
        "population_class_hours": b.population_class_hours, "target_class_hours": b.target_class_hours,
        "drawn_lessons": b.drawn_lessons, "drawn_class_hours": b.drawn_class_hours,
        "drawn_share": round(b.drawn_class_hours / b.population_class_hours, 4) if b.population_class_hours else None,
        "drawn_by": b.drawn_by, "drawn_by_name": names.get(b.drawn_by), "drawn_at": _cn(b.drawn_at), "note": b.note,
        "done": len(done), "pending": len(items) - len(done),
        "problems": sum(1 for i in items if i.verdict == "problem"),
        "can_assign": _covers_prefix(ctx.user, b.scope_prefix), "rule": RULE,
    }


def _batch_items(ctx: Ctx, b: SpotCheckBatch) -> list[SpotCheckItem]:
    return list(ctx.s.scalars(select(SpotCheckItem).where(SpotCheckItem.batch_id == b.id).order_by(SpotCheckItem.rank)))


# --------------------------------------------------------------------------- draw

def _population(ctx: Ctx, prefix: str, start: date, end: date) -> list[tuple[Lesson, TrainingClass, Recording]]:
    lo = datetime.combine(start, time(0), CHINA_TZ)
    hi = datetime.combine(end + timedelta(days=1), time(0), CHINA_TZ)
    rows = ctx.s.execute(
        select(Lesson, TrainingClass, Recording)
        .join(TrainingClass, TrainingClass.id == Lesson.class_id)
        .join(Recording, Recording.lesson_id == Lesson.id)
        .where(Lesson.mode == "live", Lesson.starts_at >= lo, Lesson.starts_at < hi, Lesson.ends_at <= ctx.now,
               Recording.status != "deleted", Recording.segments > 0,
               TrainingClass.district_code.startswith(prefix))
        .order_by(Lesson.id)).all()
    return [tuple(r) for r in rows]


@api.route("POST", "/api/spot-checks", summary="抽取直播课时抽查 Draw a spot check", tag="spotcheck",
           roles=("supervisor",), body=DrawBody, status=201)
def draw_batch(ctx: Ctx, body: DrawBody):
    """SUP-5: draw ≥ the share of the live class-hours held in a region and period; assign them."""
    me = ctx.user
    mine = _prefix(me)
    if mine is None:
        raise Forbidden("NO_REGION", "监管账号没有管辖区域", "This supervisor account has no region", rule=RULE)
    level, code = body.region_level or me.region_level, body.region_code or me.region_code
    if (body.region_level is None) != (body.region_code is None):
        raise _err("SPOTCHECK_REGION", "请同时给出区域层级与区划代码", "Give region_level and region_code together",
                   field="region_code")
    check_region_code(level, code)
    prefix = region_prefix(level, code)
    if not prefix.startswith(mine):
        raise Forbidden("SPOTCHECK_OUT_OF_REGION", f"只能在本辖区（{me.region_code}）内抽查",
                        f"You may draw only within your own region ({me.region_level} {me.region_code})",
                        field="region_code", rule=RULE)
    if body.period_to < body.period_from:
        raise _err("SPOTCHECK_PERIOD", "结束日期不能早于开始日期", "period_to is before period_from", field="period_to")
    if body.period_to > ctx.today:
        raise _err("SPOTCHECK_PERIOD_FUTURE", "抽查期间不能包含未来日期", "The period cannot end after today",
                   field="period_to")
    if (body.period_to - body.period_from).days >= MAX_PERIOD_DAYS:
        raise _err("SPOTCHECK_PERIOD_LONG", f"抽查期间不能超过 {MAX_PERIOD_DAYS} 天",
                   f"The period cannot span more than {MAX_PERIOD_DAYS} days", field="period_to")
    assignee = _check_assignee(ctx, body.assignee_id, within=mine, covering=prefix) if body.assignee_id else me
    rows = _population(ctx, prefix, body.period_from, body.period_to)
    if not rows:
        raise _err("SPOTCHECK_NOTHING_TO_DRAW", "该区域与期间内没有已结束且有录像的直播课次",
                   "No ended live lesson with a recording in this region and period", field="period_from")
    shares = {cls.profile: (getattr(ctx.svc.profiles.get(cls.profile), "supervisor_spot_check_share", None)
                            or spotdraw.DEFAULT_SHARE) for _, cls, _ in rows}
    required = max(shares.values())
    share = body.share if body.share is not None else required
    if share < required:
        raise _err("SPOTCHECK_SHARE_BELOW_RULE", f"抽查比例不得低于 {required:.0%}（{RULE}）",
                   f"The share cannot be below the rule's {required:.0%} ({RULE})", field="share",
                   required_share=required, profiles=shares)
    population = [[le.id, le.class_hours] for le, _, _ in rows]
    seed = secrets.token_hex(16)
    drawn = spotdraw.draw(seed, population, share)
    by_id = {le.id: (le, cls, rec) for le, cls, rec in rows}
    b = SpotCheckBatch(
        region_level=level, region_code=code, scope_prefix=prefix, period_from=body.period_from,
        period_to=body.period_to, required_share=required, share=share, algorithm=spotdraw.ALGORITHM, seed=seed,
        population=population, population_hash=spotdraw.population_hash(population),
        population_lessons=len(population), population_class_hours=sum(h for _, h in population),
        target_class_hours=spotdraw.target_class_hours(sum(h for _, h in population), share),
        drawn_lessons=len(drawn), drawn_class_hours=sum(h for _, h in drawn), drawn_by=me.id, drawn_at=ctx.now,
        note=body.note)
    ctx.s.add(b)
    ctx.s.flush()
    items = []
    for rank, (lesson_id, hours) in enumerate(drawn, start=1):
        le, cls, rec = by_id[lesson_id]
        scheduled = (le.ends_at - le.starts_at).total_seconds()
        items.append(SpotCheckItem(
            batch_id=b.id, rank=rank, lesson_id=le.id, class_id=cls.id, institution_id=cls.institution_id,
            district_code=cls.district_code, class_hours=hours,
            media_seconds=round(rec.duration_s if rec.duration_s and rec.duration_s > 0 else scheduled, 3),
            assignee_user_id=assignee.id, assigned_by=me.id, assigned_at=ctx.now, status="pending",
            watched_ranges=[], watched_seconds=0.0))
    ctx.s.add_all(items)
    ctx.s.flush()
    ctx.audit("spotcheck.draw", target_type="spot_check_batch", target_id=b.id, region_code=code, rule=RULE,
              region_level=level, period_from=b.period_from.isoformat(), period_to=b.period_to.isoformat(),
              share=share, required_share=required, seed=seed, algorithm=b.algorithm,
              population_hash=b.population_hash, population_class_hours=b.population_class_hours,
              drawn_lessons=[i for i, _ in drawn], drawn_class_hours=b.drawn_class_hours, assignee_id=assignee.id)
    return dict(batch_dict(ctx, b, items), items=_items_out(ctx, items))


# --------------------------------------------------------------------------- reading

@api.route("GET", "/api/spot-checks", summary="抽查批次列表 Spot-check batches", tag="spotcheck", roles=READERS)
def list_batches(ctx: Ctx):
    """Batches of the viewer's region and below, and batches the viewer has items in."""
    stmt = select(SpotCheckBatch).order_by(SpotCheckBatch.drawn_at.desc(), SpotCheckBatch.id.desc()).limit(500)
    if ctx.user.role != "platform_admin":
        mine = _prefix(ctx.user) or "-"
        stmt = stmt.where(or_(SpotCheckBatch.scope_prefix.startswith(mine), SpotCheckBatch.id.in_(
            select(SpotCheckItem.batch_id).where(SpotCheckItem.assignee_user_id == ctx.user.id))))
    batches = list(ctx.s.scalars(stmt))
    all_items = list(ctx.s.scalars(select(SpotCheckItem).where(SpotCheckItem.batch_id.in_({b.id for b in batches}))))
    return {"items": [batch_dict(ctx, b, [i for i in all_items if i.batch_id == b.id]) for b in batches]}


@api.route("GET", "/api/spot-checks/{batch_id:int}", summary="抽查批次与抽取记录 A batch and its draw record",
           tag="spotcheck", roles=READERS)
def show_batch(ctx: Ctx, batch_id: int):
    """The batch, its items and the draw record, re-run now from the recorded seed and population."""
    b = _batch(ctx, batch_id)
    items = _batch_items(ctx, b)
    again = [i for i, _ in spotdraw.draw(b.seed, b.population, b.share)]
    draw_record = {"algorithm": b.algorithm, "seed": b.seed, "population": b.population,
                   "population_hash": b.population_hash,
                   "population_hash_ok": spotdraw.population_hash(b.population) == b.population_hash,
                   "drawn_lesson_ids": [i.lesson_id for i in items], "redrawn_lesson_ids": again,
                   "reproduced": again == [i.lesson_id for i in items]}
    visible = [i for i in items if ctx.user.role == "platform_admin" or region_covers(ctx.user, i.district_code)]
    return dict(batch_dict(ctx, b, items), items=_items_out(ctx, visible), draw=draw_record)


@api.route("GET", "/api/spot-checks/{batch_id:int}/report", summary="抽查报告 Spot-check report", tag="spotcheck",
           roles=READERS)
def batch_report(ctx: Ctx, batch_id: int):
    """Drawn share against the rule, what is done and pending, and every problem found."""
    b = _batch(ctx, batch_id)
    items = _batch_items(ctx, b)
    pop = b.population_class_hours
    done = [i for i in items if i.status == "done"]
    required_hours = spotdraw.target_class_hours(pop, b.required_share)
    done_hours = sum(i.class_hours for i in done)
    by_assignee: dict[int, dict] = {}
    for i in items:
        row = by_assignee.setdefault(i.assignee_user_id, {"assignee_id": i.assignee_user_id, "items": 0, "done": 0,
                                                          "class_hours": 0})
        row["items"] += 1
        row["done"] += i.status == "done"
        row["class_hours"] += i.class_hours
    names = _names(ctx, by_assignee)
    for row in by_assignee.values():
        row["assignee_name"] = names.get(row["assignee_id"])
    problems = [i for i in items if i.verdict == "problem"]
    return {
        "batch": batch_dict(ctx, b, items), "rule": RULE,
        "required_share": b.required_share, "required_class_hours": required_hours,
        "population_class_hours": pop, "drawn_class_hours": b.drawn_class_hours,
        "drawn_share": round(b.drawn_class_hours / pop, 4) if pop else None,
        "drawn_meets_rule": b.drawn_class_hours >= required_hours,
        "done": {"items": len(done), "class_hours": done_hours},
        "pending": {"items": len(items) - len(done), "class_hours": b.drawn_class_hours - done_hours},
        "checked_share": round(done_hours / pop, 4) if pop else None,
        "checked_meets_rule": done_hours >= required_hours,
        "verdicts": {"ok": sum(1 for i in done if i.verdict == "ok"), "problem": len(problems)},
        "problems": _items_out(ctx, problems), "by_assignee": sorted(by_assignee.values(), key=lambda r: r["assignee_id"]),
    }


@api.route("GET", "/api/spot-checks/items", summary="抽查课次 Spot-check items", tag="spotcheck", roles=READERS,
           query=ItemQuery)
def list_items(ctx: Ctx, query: ItemQuery):
    """Items in the viewer's region; ``mine=1``: those assigned to the viewer."""
    stmt = select(SpotCheckItem).order_by(SpotCheckItem.batch_id.desc(), SpotCheckItem.rank).limit(query.limit)
    if ctx.user.role != "platform_admin":
        stmt = stmt.where(SpotCheckItem.district_code.startswith(_prefix(ctx.user) or "-"))
    if query.mine:
        stmt = stmt.where(SpotCheckItem.assignee_user_id == ctx.user.id)
    if query.batch_id is not None:
        stmt = stmt.where(SpotCheckItem.batch_id == query.batch_id)
    if query.status is not None:
        stmt = stmt.where(SpotCheckItem.status == query.status)
    return {"items": _items_out(ctx, list(ctx.s.scalars(stmt)))}


@api.route("GET", "/api/spot-checks/assignees", summary="可指派的监管人员 Supervisors one may assign",
           tag="spotcheck", roles=("supervisor",), query=AssigneeQuery)
def list_assignees(ctx: Ctx, query: AssigneeQuery):
    """Active supervisors within the viewer's region (and covering ``scope_prefix`` when given)."""
    mine = _prefix(ctx.user) or "-"
    out = []
    for u in ctx.s.scalars(select(User).where(User.role == "supervisor", User.active.is_(True)).order_by(User.id)):
        p = _prefix(u)
        if p and p.startswith(mine) and (query.scope_prefix is None or query.scope_prefix.startswith(p)):
            out.append({"id": u.id, "display_name": u.display_name, "region_level": u.region_level,
                        "region_code": u.region_code, "me": u.id == ctx.user.id})
    return {"items": out}


# --------------------------------------------------------------------------- writes on an item

@api.route("POST", "/api/spot-checks/items/{item_id:int}/assign", summary="指派/改派抽查 Assign or reassign",
           tag="spotcheck", roles=("supervisor",), body=AssignBody)
def assign_item(ctx: Ctx, body: AssignBody, item_id: int):
    """Supervisors at or above the batch's region reassign an undecided item within their region."""
    it, b = _item(ctx, item_id)
    if not _covers_prefix(ctx.user, b.scope_prefix):
        raise Forbidden("SPOTCHECK_NOT_ASSIGNER", "只有抽查区域的（或上级）人社监管可以改派",
                        "Only supervisors of the batch's region or above may reassign", rule=RULE)
    if it.verdict is not None:
        raise _err("SPOTCHECK_DECIDED", "该课次已有抽查结论，不能改派", "This item has a verdict; it cannot be reassigned",
                   status=409)
    new = _check_assignee(ctx, body.assignee_id, within=_prefix(ctx.user), covering=it.district_code)
    previous = it.assignee_user_id
    it.assignee_user_id, it.assigned_by, it.assigned_at = new.id, ctx.user.id, ctx.now
    ctx.audit("spotcheck.assign", target_type="spot_check_item", target_id=it.id, institution_id=it.institution_id,
              region_code=it.district_code, rule=RULE, batch_id=b.id, lesson_id=it.lesson_id,
              previous_assignee_id=previous, assignee_id=new.id)
    return _items_out(ctx, [it])[0]


def _own_undecided(ctx: Ctx, item_id: int) -> tuple[SpotCheckItem, SpotCheckBatch]:
    it, b = _item(ctx, item_id)
    if it.assignee_user_id != ctx.user.id:
        raise Forbidden("SPOTCHECK_NOT_ASSIGNEE", "只有被指派的监管人员可以记录观看与结论",
                        "Only the assigned supervisor records watching and the verdict", rule=RULE)
    if it.verdict is not None:
        raise _err("SPOTCHECK_DECIDED", "该课次的抽查结论已记录，不能更改", "The verdict is recorded and final",
                   status=409)
    return it, b


def merge_ranges(old: list, new: list, limit: float | None) -> list[list[float]]:
    """Union of second ranges, clipped to [0, limit]; touching ranges join."""
    spans = sorted((max(0.0, float(a)), float(b) if limit is None else min(float(b), limit))
                   for a, b in list(old) + list(new))
    out: list[list[float]] = []
    for a, b in spans:
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([round(a, 3), round(b, 3)])
    return [[a, round(b, 3)] for a, b in out]


@api.route("POST", "/api/spot-checks/items/{item_id:int}/watched", summary="上报观看区间 Report watched ranges",
           tag="spotcheck", roles=("supervisor",), body=WatchedBody)
def report_watched(ctx: Ctx, body: WatchedBody, item_id: int):
    """The replay page reports ``ranges`` ([from_s, to_s] of the recording) the assignee watched."""
    it, b = _own_undecided(ctx, item_id)
    for n, (a, z) in enumerate(body.ranges):
        if z <= a:
            raise _err("SPOTCHECK_RANGE", "观看区间的结束须晚于开始", "A range must end after it starts",
                       field=f"ranges.{n}")
    before = it.watched_seconds
    it.watched_ranges = merge_ranges(it.watched_ranges or [], body.ranges, it.media_seconds or None)
    it.watched_seconds = round(sum(z - a for a, z in it.watched_ranges), 3)
    it.last_watched_at = ctx.now
    if it.status == "pending":
        it.status = "watching"
    ctx.audit("spotcheck.watched", target_type="spot_check_item", target_id=it.id, institution_id=it.institution_id,
              region_code=it.district_code, rule=RULE, batch_id=b.id, lesson_id=it.lesson_id,
              ranges=[list(r) for r in body.ranges], watched_seconds=it.watched_seconds,
              added_seconds=round(it.watched_seconds - before, 3))
    return _items_out(ctx, [it])[0]


@api.route("POST", "/api/spot-checks/items/{item_id:int}/verdict", summary="记录抽查结论 Record the verdict",
           tag="spotcheck", roles=("supervisor",), body=VerdictBody)
def record_verdict(ctx: Ctx, body: VerdictBody, item_id: int):
    """Only the assignee, after watching ≥ 5 minutes (or the whole recording when shorter); final."""
    it, b = _own_undecided(ctx, item_id)
    need = _min_watch(it)
    if it.watched_seconds < need:
        raise _err("SPOTCHECK_NOT_WATCHED",
                   f"须至少观看 {need / 60:.1f} 分钟录像后才能记录结论（已观看 {it.watched_seconds / 60:.1f} 分钟）",
                   f"Watch at least {need / 60:.1f} min of the recording before the verdict "
                   f"({it.watched_seconds / 60:.1f} min so far)", field="verdict",
                   min_watch_seconds=need, watched_seconds=it.watched_seconds)
    note = (body.note or "").strip() or None
    if body.verdict == "problem" and not note:
        raise _err("SPOTCHECK_NOTE_REQUIRED", "发现问题须填写说明", "A problem verdict needs a note", field="note")
    it.verdict, it.note, it.status = body.verdict, note, "done"
    it.decided_at, it.decided_by = ctx.now, ctx.user.id
    ctx.audit("spotcheck.verdict", target_type="spot_check_item", target_id=it.id, institution_id=it.institution_id,
              region_code=it.district_code, rule=RULE, batch_id=b.id, lesson_id=it.lesson_id, verdict=body.verdict,
              note=note, watched_seconds=it.watched_seconds, watched_ranges=it.watched_ranges)
    return _items_out(ctx, [it])[0]
