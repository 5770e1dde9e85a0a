"""Webhook endpoints and their delivery log (PLAT-1), like LiveKit's and BigBlueButton's.

Platform admins may register an endpoint of any scope; an institution admin's endpoint hears only
its own institution's events; a supervisor's only events in their region (or a part of it, SUP-1).
Each sees and manages only endpoints within that scope — anything else answers 404 (PLAT-3).
The signing secret is made here, returned once in the create response and stored encrypted.
Deliveries are sent by server/webhooks/dispatcher.py; the log shows every row with its last
outcome, and a delivered or failed row may be sent again. Every write is audited (SUP-6).
"""
from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import Field
from sqlalchemy import delete, false, func, select

from models import Institution, User
from models.webhooks import WebhookDelivery, WebhookEndpoint
from server.api.endpoint import Api, Ctx
from server.auth.scope import can_see_institution, region_prefix
from server.errors import ApiError, Conflict, Forbidden, NotFound
from server.services import CHINA_TZ
from server.validation import Body, Query
from server.webhooks.dispatcher import LEASE, MAX_ATTEMPTS
from server.webhooks.outbox import EVENT_TYPES, enqueue, seal_secret

api = Api()
RULE = "PLAT-1"
ROLES = ("platform_admin", "institution_admin", "supervisor")
MAX_ID = 2**31 - 1
MAX_ENDPOINTS = 20  # per institution or supervisor region; platform admins are not limited
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
Prefix = Annotated[str, Field(pattern=r"^(\d{2}|\d{4}|\d{6})$")]
DELIVERY_STATUSES = ("pending", "delivered", "failed")


class CreateBody(Body):
    url: str = Field(min_length=1, max_length=500)
    events: list[str] = Field(default_factory=list, max_length=50)
    description: str | None = Field(default=None, max_length=500)
    institution_id: DbId | None = None
    region_prefix: Prefix | None = None


class PatchBody(Body):
    active: bool | None = None
    events: list[str] | None = Field(default=None, max_length=50)
    description: str | None = Field(default=None, max_length=500)


class DeliveryQuery(Query):
    status: Literal[DELIVERY_STATUSES] | None = None  # type: ignore[valid-type]
    before_id: DbId | None = None
    limit: int = Field(default=50, ge=1, le=200)


def _cn(moment: datetime | None) -> str | None:
    return moment.astimezone(CHINA_TZ).isoformat() if moment else None


def _err(code: str, zh: str, en: str, *, field: str, status: int = 422, rule: str = RULE, **details) -> ApiError:
    return ApiError(code, zh, en, field=field, status=status, rule=rule, details=details or None)


def _ids(*ids: int) -> None:
    if any(not 0 < i <= MAX_ID for i in ids):
        raise NotFound("回调地址", "webhook")


def _supervisor_prefix(u: User) -> str:
    if not u.region_level or not u.region_code:
        raise Forbidden("NO_REGION", "监管账号没有管辖区域", "This supervisor account has no region", rule="SUP-1")
    return region_prefix(u.region_level, u.region_code)


# --------------------------------------------------------------------------- scope

def _scoped(stmt, u: User):
    """Endpoints this user manages: all (platform admin), their institution's (without a region), or
    those whose region lies inside the supervisor's."""
    if u.role == "platform_admin":
        return stmt
    if u.role == "institution_admin" and u.institution_id is not None:
        # not a supervisor's endpoint narrowed to this institution: the supervised do not manage it
        return stmt.where(WebhookEndpoint.institution_id == u.institution_id, WebhookEndpoint.region_prefix.is_(None))
    if u.role == "supervisor" and u.region_level and u.region_code:
        return stmt.where(WebhookEndpoint.region_prefix.startswith(region_prefix(u.region_level, u.region_code)))
    return stmt.where(false())


def _endpoint(ctx: Ctx, endpoint_id: int) -> WebhookEndpoint:
    _ids(endpoint_id)
    ep = ctx.s.scalars(_scoped(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id), ctx.user)).first()
    if ep is None:
        raise NotFound("回调地址", "webhook")
    return ep


# --------------------------------------------------------------------------- validation

def check_url(raw: str) -> str:
    """http(s) only, a host, no user:password in it, and a URL httpx can send to."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise _err("WEBHOOK_URL_INVALID", "回调地址不能包含空白或控制字符", "The URL must not contain spaces or control "
                   "characters", field="url")
    try:
        parts = urlsplit(raw)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = urlsplit("")
    if parts.scheme.lower() not in ("http", "https"):
        raise _err("WEBHOOK_URL_SCHEME", "回调地址须以 http:// 或 https:// 开头", "The URL must start with http:// or "
                   "https://", field="url")
    if "@" in parts.netloc:
        raise _err("WEBHOOK_URL_CREDENTIALS", "回调地址中不能包含用户名或密码，请用签名验证来源",
                   "The URL must not contain a user name or password; verify the signature instead", field="url")
    try:
        host, _port = parts.hostname, parts.port
        httpx.URL(raw)
    except (ValueError, httpx.InvalidURL):
        host = None
    if not host:
        raise _err("WEBHOOK_URL_HOST", "回调地址缺少主机名或端口不正确", "The URL has no host or an invalid port",
                   field="url")
    return raw


def check_events(events: list[str]) -> list[str]:
    """A subset of EVENT_TYPES, duplicates dropped; empty means every event."""
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise _err("WEBHOOK_EVENT_UNKNOWN", f"未知的事件类型：{'、'.join(unknown)}",
                   f"Unknown event type(s): {', '.join(unknown)}", field="events", unknown=unknown,
                   allowed=list(EVENT_TYPES))
    return list(dict.fromkeys(events))


def _scope_for(ctx: Ctx, body: CreateBody) -> tuple[int | None, str | None]:
    """(institution_id, region_prefix) of a new endpoint: forced to the creator's own scope."""
    me = ctx.user
    if me.role == "institution_admin":
        if body.institution_id not in (None, me.institution_id):
            raise NotFound("机构", "institution", field="institution_id")
        if body.region_prefix is not None:
            raise Forbidden("WEBHOOK_SCOPE", "机构管理员的回调只能接收本机构的事件，不能按区域设置",
                            "An institution admin's webhook hears its own institution; it takes no region_prefix",
                            field="region_prefix", rule="PLAT-3")
        return me.institution_id, None
    institution_id = body.institution_id
    if institution_id is not None:
        inst = ctx.s.get(Institution, institution_id)
        if inst is None or not can_see_institution(me, inst):
            raise NotFound("机构", "institution", field="institution_id")
    if me.role == "supervisor":
        mine = _supervisor_prefix(me)
        prefix = body.region_prefix or mine
        if not prefix.startswith(mine):
            raise Forbidden("WEBHOOK_OUT_OF_REGION", f"只能接收本辖区（{me.region_code}）内的事件",
                            f"You may only receive events of your own region ({me.region_level} {me.region_code})",
                            field="region_prefix", rule="SUP-1")
        return institution_id, prefix
    return institution_id, body.region_prefix


# --------------------------------------------------------------------------- shapes

def endpoint_dict(ep: WebhookEndpoint, counts: dict[str, int] | None = None) -> dict:
    return {"id": ep.id, "url": ep.url, "events": list(ep.events or []), "all_events": not ep.events,
            "institution_id": ep.institution_id, "region_prefix": ep.region_prefix, "active": ep.active,
            "description": ep.description, "created_by": ep.created_by, "created_at": _cn(ep.created_at),
            "deliveries": {k: (counts or {}).get(k, 0) for k in DELIVERY_STATUSES}, "rule": RULE}


def delivery_dict(d: WebhookDelivery) -> dict:
    return {"id": d.id, "endpoint_id": d.endpoint_id, "event_id": d.event_id, "event_type": d.event_type,
            "status": d.status, "attempts": d.attempts, "max_attempts": MAX_ATTEMPTS,
            "next_attempt_at": _cn(d.next_attempt_at) if d.status == "pending" else None,
            "last_status": d.last_status, "last_error": d.last_error, "created_at": _cn(d.created_at),
            "delivered_at": _cn(d.delivered_at), "payload": d.payload}


def _counts(ctx: Ctx, ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    if ids:
        rows = ctx.s.execute(select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
                             .where(WebhookDelivery.endpoint_id.in_(ids))
                             .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status))
        for endpoint_id, status, n in rows:
            out.setdefault(endpoint_id, {})[status] = n
    return out


# --------------------------------------------------------------------------- endpoints

@api.route("POST", "/api/webhooks", summary="登记回调地址 Register a webhook", tag="webhooks", roles=ROLES,
           body=CreateBody, status=201)
def create_webhook(ctx: Ctx, body: CreateBody):
    """PLAT-1: a URL that receives signed events in the creator's scope; the secret is shown only now."""
    url = check_url(body.url)
    events = check_events(body.events)
    institution_id, prefix = _scope_for(ctx, body)
    if ctx.user.role != "platform_admin":
        same = select(func.count()).select_from(WebhookEndpoint)
        same = (same.where(WebhookEndpoint.institution_id == institution_id) if ctx.user.role == "institution_admin"
                else same.where(WebhookEndpoint.region_prefix == prefix))
        if ctx.s.scalar(same) >= MAX_ENDPOINTS:
            raise Conflict("WEBHOOK_LIMIT", f"回调地址已达 {MAX_ENDPOINTS} 个上限，请先删除不用的",
                           f"At most {MAX_ENDPOINTS} webhooks per scope; delete one first", field="url", rule=RULE)
    secret = secrets.token_urlsafe(32)
    ep = WebhookEndpoint(url=url, secret=seal_secret(ctx.svc.cipher, secret), events=events,
                         institution_id=institution_id, region_prefix=prefix, active=True,
                         description=body.description or None, created_by=ctx.user.id, created_at=ctx.now)
    ctx.s.add(ep)
    ctx.s.flush()
    ctx.audit("webhook.create", target_type="webhook_endpoint", target_id=ep.id, institution_id=institution_id,
              region_code=prefix, url=url, events=events)
    return {**endpoint_dict(ep), "secret": secret}


@api.route("GET", "/api/webhooks", summary="回调地址列表 Webhooks", tag="webhooks", roles=ROLES)
def list_webhooks(ctx: Ctx):
    """The endpoints within the caller's scope (never their secrets)."""
    eps = list(ctx.s.scalars(_scoped(select(WebhookEndpoint), ctx.user).order_by(WebhookEndpoint.id)))
    counts = _counts(ctx, [e.id for e in eps])
    return {"items": [endpoint_dict(e, counts.get(e.id)) for e in eps], "event_types": list(EVENT_TYPES)}


@api.route("GET", "/api/webhooks/{endpoint_id:int}", summary="回调地址详情 Webhook", tag="webhooks", roles=ROLES)
def get_webhook(ctx: Ctx, endpoint_id: int):
    ep = _endpoint(ctx, endpoint_id)
    return endpoint_dict(ep, _counts(ctx, [ep.id]).get(ep.id))


@api.route("PATCH", "/api/webhooks/{endpoint_id:int}", summary="修改回调地址 Update a webhook", tag="webhooks",
           roles=ROLES, body=PatchBody)
def patch_webhook(ctx: Ctx, body: PatchBody, endpoint_id: int):
    """Pause or resume (pending deliveries wait while paused), change the events or the description."""
    ep = _endpoint(ctx, endpoint_id)
    changed = body.model_dump(exclude_unset=True)
    if not changed:
        raise _err("WEBHOOK_NOTHING_TO_CHANGE", "请给出 active、events 或 description",
                   "Give active, events or description", field="active")
    if body.active is not None:
        ep.active = body.active
    if body.events is not None:
        ep.events = check_events(body.events)
    if "description" in changed:
        ep.description = body.description or None
    ctx.audit("webhook.update", target_type="webhook_endpoint", target_id=ep.id, institution_id=ep.institution_id,
              region_code=ep.region_prefix, **{k: v for k, v in changed.items()})
    return endpoint_dict(ep, _counts(ctx, [ep.id]).get(ep.id))


@api.route("DELETE", "/api/webhooks/{endpoint_id:int}", summary="删除回调地址 Delete a webhook", tag="webhooks",
           roles=ROLES)
def delete_webhook(ctx: Ctx, endpoint_id: int):
    """Removes the endpoint and its delivery log (the audit log keeps the fact); nothing more is sent."""
    ep = _endpoint(ctx, endpoint_id)
    ctx.s.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == ep.id)
                  .execution_options(synchronize_session=False))
    ctx.audit("webhook.delete", target_type="webhook_endpoint", target_id=ep.id, institution_id=ep.institution_id,
              region_code=ep.region_prefix, url=ep.url)
    ctx.s.delete(ep)
    return {"deleted": endpoint_id}


@api.route("GET", "/api/webhooks/{endpoint_id:int}/deliveries", summary="投递记录 Webhook delivery log",
           tag="webhooks", roles=ROLES, query=DeliveryQuery)
def list_deliveries(ctx: Ctx, query: DeliveryQuery, endpoint_id: int):
    """Newest first; page with ``before_id`` = the previous page's ``next_before_id``."""
    ep = _endpoint(ctx, endpoint_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == ep.id)
    if query.status:
        stmt = stmt.where(WebhookDelivery.status == query.status)
    if query.before_id:
        stmt = stmt.where(WebhookDelivery.id < query.before_id)
    rows = list(ctx.s.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(query.limit + 1)))
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    return {"items": [delivery_dict(d) for d in rows], "next_before_id": rows[-1].id if more else None}


@api.route("POST", "/api/webhooks/{endpoint_id:int}/deliveries/{delivery_id:int}/redeliver",
           summary="重新投递 Redeliver", tag="webhooks", roles=ROLES)
def redeliver(ctx: Ctx, endpoint_id: int, delivery_id: int):
    """A delivered or failed row (or one waiting out a long backoff) goes back to pending, due now,
    with a fresh attempt budget. A row being sent or about to be retried answers 409, so it is not
    sent twice at once."""
    ep = _endpoint(ctx, endpoint_id)
    _ids(delivery_id)
    d = ctx.s.get(WebhookDelivery, delivery_id)
    if d is None or d.endpoint_id != ep.id:
        raise NotFound("投递记录", "delivery")
    if d.status == "pending" and d.next_attempt_at <= ctx.now + LEASE:
        raise Conflict("WEBHOOK_DELIVERY_QUEUED", "该投递正在发送或即将重试，请稍后再看",
                       "This delivery is being sent or is due shortly; check again in a minute",
                       field="delivery_id", rule=RULE)
    d.status, d.attempts, d.next_attempt_at, d.delivered_at = "pending", 0, ctx.now, None
    ctx.audit("webhook.redeliver", target_type="webhook_delivery", target_id=d.id, institution_id=ep.institution_id,
              region_code=ep.region_prefix, endpoint_id=ep.id, event_id=d.event_id)
    return delivery_dict(d)


@api.route("POST", "/api/webhooks/{endpoint_id:int}/ping", summary="测试回调 Send a ping", tag="webhooks",
           roles=ROLES, status=202)
def ping(ctx: Ctx, endpoint_id: int):
    """Queues a ``ping`` event for this endpoint only (whatever it subscribes to); see it in the log."""
    ep = _endpoint(ctx, endpoint_id)
    if not ep.active:
        raise Conflict("WEBHOOK_INACTIVE", "回调地址已停用，请先启用", "This webhook is paused; resume it first",
                       field="active", rule=RULE)
    d = enqueue(ctx.s, ep, "ping", {"endpoint_id": ep.id, "message": "启航 webhook 测试 / Qihang webhook test"},
                now=ctx.now)
    ctx.audit("webhook.ping", target_type="webhook_endpoint", target_id=ep.id, institution_id=ep.institution_id,
              region_code=ep.region_prefix, delivery_id=d.id, event_id=d.event_id)
    return delivery_dict(d)
