"""One error shape for every refusal: ``{"error": {"code", "field", "message_zh", "message_en"}}``.

Domain code raises :class:`ApiError` (or a subclass); the app's handlers turn it, validation
failures and any stray exception into JSON so a client never sees an HTML page or a bare 500.
"""
from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 400

    def __init__(self, code: str, message_zh: str, message_en: str, *, field: str | None = None,
                 status: int | None = None, rule: str | None = None, details: Any = None,
                 headers: dict[str, str] | None = None):
        super().__init__(f"{code}: {message_en}")
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.field = field
        self.rule = rule
        self.details = details
        self.headers = headers or {}
        if status is not None:
            self.status = status

    def body(self) -> dict:
        err: dict[str, Any] = {"code": self.code, "field": self.field,
                               "message_zh": self.message_zh, "message_en": self.message_en}
        if self.rule:
            err["rule"] = self.rule
        if self.details is not None:
            err["details"] = self.details
        return {"error": err}


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401

    def __init__(self, code="UNAUTHENTICATED", message_zh="请先登录", message_en="Log in first", **kw):
        super().__init__(code, message_zh, message_en, **kw)


class Forbidden(ApiError):
    status = 403

    def __init__(self, code="FORBIDDEN", message_zh="当前角色无权执行此操作",
                 message_en="Your role may not do this", **kw):
        super().__init__(code, message_zh, message_en, **kw)


class NotFound(ApiError):
    status = 404

    def __init__(self, what_zh: str = "资源", what_en: str = "resource", *, field: str | None = None):
        super().__init__("NOT_FOUND", f"{what_zh}不存在或无权查看", f"{what_en} not found or not visible to you",
                         field=field)


class Conflict(ApiError):
    status = 409


class Unprocessable(ApiError):
    """The request is well-formed but breaks a rule (usually one from REQUIREMENTS.md)."""
    status = 422


class RuleViolations(Unprocessable):
    """Several rules broken at once (class submission checks): all of them are listed."""

    def __init__(self, violations: list[ApiError], message_zh: str, message_en: str):
        first = violations[0]
        super().__init__("RULES_NOT_MET", message_zh, message_en, field=first.field, rule=first.rule,
                         details=[v.body()["error"] for v in violations])
        self.violations = violations
