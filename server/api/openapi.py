"""OpenAPI 3.1 document built from the endpoint declarations and their pydantic models."""
from __future__ import annotations

import re

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from server.api.endpoint import Endpoint

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "required": ["code", "message_zh", "message_en"], "properties": {
        "code": {"type": "string"}, "field": {"type": ["string", "null"]},
        "message_zh": {"type": "string"}, "message_en": {"type": "string"},
        "rule": {"type": "string", "description": "REQUIREMENTS.md rule ID or validation rule"},
        "details": {}}}},
}


def _path(path: str) -> str:
    return re.sub(r"{(\w+):\w+}", r"{\1}", path)


def build_openapi(endpoints: list[Endpoint], version: str) -> dict:
    models = {ep.body for ep in endpoints if isinstance(ep.body, type) and issubclass(ep.body, BaseModel)}
    _, defs = models_json_schema([(m, "validation") for m in models],
                                 ref_template="#/components/schemas/{model}")
    schemas = dict(defs.get("$defs", {}))
    schemas["Error"] = ERROR_SCHEMA
    paths: dict = {}
    for ep in endpoints:
        op: dict = {"summary": ep.summary, "tags": [ep.tag], "operationId": ep.handler.__name__,
                    "responses": {str(ep.status): {"description": "OK"},
                                  "4XX": {"description": "Refused with a reason",
                                          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}
        if ep.description:
            op["description"] = ep.description
        if ep.roles:
            op["description"] = (op.get("description", "") + f"\n\nRoles: {', '.join(ep.roles)}").strip()
            op["x-roles"] = list(ep.roles)
        if not ep.public:
            op["security"] = [{"bearer": []}]
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "integer" if t == "int" else "string"}}
                  for n, t in re.findall(r"{(\w+)(?::(\w+))?}", ep.path)]
        if ep.query is not None:
            props = ep.query.model_json_schema(by_alias=True).get("properties", {})
            for name, f in ep.query.model_fields.items():
                key = f.alias or name
                params.append({"name": key, "in": "query", "required": f.is_required(),
                               "schema": props.get(key, {"type": "string"})})
        if params:
            op["parameters"] = params
        if ep.body == "multipart":
            op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "properties": {k: {"type": "string", "description": v}
                                                 for k, v in ep.multipart_fields.items()}}}}}
        elif ep.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{ep.body.__name__}"}}}}
        paths.setdefault(_path(ep.path), {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "启航 Qihang API", "version": version,
                 "description": "Errors are HTTP 4xx with {error: {code, field, message_zh, message_en, rule}}."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
