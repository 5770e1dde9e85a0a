"""Declarative endpoints: auth, body validation, one DB transaction and audit per request.

Handlers are plain functions ``handler(ctx, body, **path_params)`` run in a worker thread with
their own session; whatever they return becomes JSON. The same declarations feed /openapi.json.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from models import AuditLog, User
from server.errors import ApiError, BadRequest, Conflict, Forbidden, Unauthorized
from server.identity.errors import IdentityError
from server.services import Services
from server.validation import validation_error

log = logging.getLogger("qihang.api")
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Ctx:
    svc: Services
    s: Session
    request: Request
    user: User | None
    ip: str
    audited: list[str] = field(default_factory=list)

    @property
    def today(self):
        return self.svc.today()

    @property
    def now(self):
        return self.svc.now()

    def require(self, *roles: str) -> User:
        if self.user is None:
            raise Unauthorized()
        if roles and self.user.role not in roles:
            raise Forbidden(details={"allowed_roles": list(roles), "your_role": self.user.role})
        return self.user

    def audit(self, action: str, *, target_type: str | None = None, target_id: Any = None,
              institution_id: int | None = None, region_code: str | None = None, **detail) -> None:
        """SUP-6 / PLAT-3: an append-only record in the same transaction as the change it records."""
        self.audited.append(action)
        self.s.add(AuditLog(
            at=self.now, actor_user_id=self.user.id if self.user else None,
            actor_role=self.user.role if self.user else None, action=action, target_type=target_type,
            target_id=None if target_id is None else str(target_id), institution_id=institution_id,
            region_code=region_code, ip=self.ip, detail=detail,
        ))


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Callable
    summary: str
    tag: str
    roles: tuple[str, ...] | None
    body: type[BaseModel] | str | None
    query: type[BaseModel] | None
    status: int
    public: bool
    description: str = ""
    multipart_fields: dict[str, str] = field(default_factory=dict)


class Api:
    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def route(self, method: str, path: str, *, summary: str, tag: str, roles: tuple[str, ...] | None = None,
              body: type[BaseModel] | str | None = None, query: type[BaseModel] | None = None,
              status: int = 200, public: bool = False, multipart_fields: dict[str, str] | None = None):
        def deco(fn: Callable) -> Callable:
            self.endpoints.append(Endpoint(method, path, fn, summary, tag, roles, body, query, status, public,
                                           (fn.__doc__ or "").strip(), multipart_fields or {}))
            return fn
        return deco

    def routes(self, svc: Services) -> list[Route]:
        by_path: dict[str, dict[str, Endpoint]] = {}
        for ep in self.endpoints:
            by_path.setdefault(ep.path, {})[ep.method] = ep
        return [Route(path, _dispatcher(svc, methods), methods=list(methods)) for path, methods in by_path.items()]


def _dispatcher(svc: Services, methods: dict[str, Endpoint]):
    async def dispatch(request: Request) -> Response:
        ep = methods.get(request.method) or (methods.get("GET") if request.method == "HEAD" else None)
        if ep is None:
            raise ApiError("METHOD_NOT_ALLOWED", "不支持该请求方法", "Method not allowed", status=405)
        body = await _read_body(request, ep, svc)
        query = _read_query(request, ep)
        result = await run_in_threadpool(_run, svc, ep, request, body, query)
        if isinstance(result, Response):
            return result
        return JSONResponse(result, status_code=ep.status)
    return dispatch


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _run(svc: Services, ep: Endpoint, request: Request, body: Any, query: Any):
    with svc.db.sessions() as s:
        ctx = Ctx(svc=svc, s=s, request=request, user=None, ip=_client_ip(request))
        try:
            if ep.public:
                try:  # a stale token must not break login or registration
                    ctx.user = authenticate(ctx, request)
                except Unauthorized:
                    ctx.user = None
            else:
                ctx.user = authenticate(ctx, request)
                ctx.require(*(ep.roles or ()))
            args = []
            if ep.body is not None:
                args.append(body)
            if ep.query is not None:
                args.append(query)
            result = ep.handler(ctx, *args, **request.path_params)
            if ctx.user is not None and request.method in WRITE_METHODS and not ctx.audited:
                ctx.audit(f"{request.method} {ep.path}", **{k: str(v) for k, v in request.path_params.items()})
            if ctx.user is not None and ctx.user.role == "supervisor" and request.method == "GET":
                # SUP-6: every act of supervision is recorded, reads included.
                ctx.audit("supervisor.read", target_type="path", target_id=request.url.path,
                          region_code=ctx.user.region_code, query=str(request.url.query))
            s.commit()
            return result
        except IntegrityError as exc:
            s.rollback()
            log.info("integrity error: %s", exc)
            raise Conflict("CONFLICT", "数据冲突（重复或仍被引用），请刷新后重试",
                           "Conflicting data (duplicate or still referenced); reload and retry")
        except StaleDataError:
            s.rollback()
            raise Conflict("STALE", "数据已被他人修改，请刷新后重试", "Changed by someone else; reload and retry")
        except BaseException:
            s.rollback()
            raise


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def authenticate(ctx: Ctx, request: Request) -> User | None:
    from server.auth.sessions import session_user
    token = bearer_token(request)
    if token is None:
        return None
    user = session_user(ctx.s, token, ctx.now)
    if user is None:
        raise Unauthorized("SESSION_INVALID", "登录已失效，请重新登录", "Session expired or revoked; log in again")
    return user


async def _read_raw(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    mb = limit / (1024 * 1024)
    return ApiError("PAYLOAD_TOO_LARGE", f"请求体超过 {mb:g} MB 上限", f"Request body exceeds the {mb:g} MB limit",
                    status=413)


async def _read_body(request: Request, ep: Endpoint, svc: Services) -> Any:
    if ep.body is None or request.method not in WRITE_METHODS:
        return None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ep.body == "multipart":
        if ctype != "multipart/form-data":
            raise ApiError("UNSUPPORTED_MEDIA_TYPE", "请以 multipart/form-data 提交", "Send multipart/form-data",
                           status=415)
        raw = await _read_raw(request, svc.settings.max_upload_bytes)
        return await _parse_multipart(request, raw, ep)
    raw = await _read_raw(request, svc.settings.max_json_bytes)
    if ctype != "application/json":
        raise ApiError("UNSUPPORTED_MEDIA_TYPE", "请以 application/json 提交", "Send application/json", status=415)
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("MALFORMED_JSON", "请求体不是合法的 JSON", f"Request body is not valid JSON: {exc}")
    if not isinstance(data, dict):
        raise BadRequest("JSON_OBJECT_EXPECTED", "请求体必须是 JSON 对象", "Request body must be a JSON object")
    try:
        return ep.body.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc)


def _read_query(request: Request, ep: Endpoint) -> Any:
    if ep.query is None:
        return None
    try:
        return ep.query.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise validation_error(exc, location="query")


async def _parse_multipart(request: Request, raw: bytes, ep: Endpoint) -> dict[str, Any]:
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return {"type": "http.request", "body": b"", "more_body": False}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=10, max_fields=50, max_part_size=64 * 1024)
    except Exception as exc:  # python-multipart raises several types on broken input
        raise BadRequest("MALFORMED_MULTIPART", "表单数据格式错误", f"Malformed multipart form: {exc}")
    out: dict[str, Any] = {}
    for key, value in form.multi_items():
        if ep.multipart_fields and key not in ep.multipart_fields:
            raise ApiError("UNKNOWN_FIELD", f"不允许的字段：{key}", f"Unknown field: {key}", field=key,
                           rule="extra_forbidden", status=422)
        if key in out:
            raise ApiError("DUPLICATE_FIELD", f"字段重复：{key}", f"Field sent twice: {key}", field=key, status=422)
        if isinstance(value, UploadFile):
            out[key] = Upload(value.filename or "", value.content_type or "", await value.read())
        else:
            out[key] = value
    return out


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def identity_error(exc: IdentityError) -> ApiError:
    return ApiError(exc.code, exc.message_zh, exc.message_en, field=exc.field, status=422,
                    rule=getattr(exc, "rule", None))
