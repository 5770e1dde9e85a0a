"""Strict request models and the translation of their failures into bilingual 4xx errors."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from server.errors import ApiError


class Body(BaseModel):
    """Base of every request body: unknown fields are refused, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=False)


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


_ZH = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不允许的字段",
    "string_type": "应为字符串",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "bool_type": "应为布尔值",
    "bool_parsing": "应为布尔值",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "list_type": "应为数组",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "string_too_short": "长度不足",
    "string_too_long": "长度超出上限",
    "too_short": "元素数量不足",
    "too_long": "元素数量超出上限",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "greater_than": "数值过小",
    "less_than": "数值过大",
    "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内",
    "date_type": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "datetime_type": "应为日期时间（ISO 8601，带时区）",
    "datetime_parsing": "应为日期时间（ISO 8601，带时区）",
    "datetime_from_date_parsing": "应为日期时间（ISO 8601，带时区）",
    "timezone_aware": "日期时间必须带时区",
    "string_pattern_mismatch": "格式不正确",
    "value_error": "取值不正确",
}


def _loc(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "body"


def validation_error(exc: ValidationError, *, location: str = "body") -> ApiError:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    details = []
    for e in errors:
        zh = _ZH.get(e["type"], "字段不正确")
        details.append({"field": _loc(e["loc"]), "rule": e["type"], "message_zh": zh, "message_en": e["msg"]})
    first = details[0]
    where = "查询参数" if location == "query" else "字段"
    return ApiError(
        "VALIDATION_FAILED" if first["rule"] != "extra_forbidden" else "UNKNOWN_FIELD",
        f"{where} {first['field']}：{first['message_zh']}",
        f"{location} field {first['field']}: {first['message_en']}",
        field=first["field"], rule=first["rule"], status=422, details=details,
    )
