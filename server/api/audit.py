"""Reading the audit log (SUP-6): platform admins all, supervisors their region, institutions their own."""
from __future__ import annotations

from pydantic import Field
from sqlalchemy import select

from models import AuditLog
from server.api.endpoint import Api, Ctx
from server.auth.scope import region_prefix
from server.validation import Query

api = Api()


class AuditQuery(Query):
    action: str | None = Field(default=None, max_length=64)
    target_type: str | None = Field(default=None, max_length=32)
    target_id: str | None = Field(default=None, max_length=64)
    before_id: int | None = None
    limit: int = Field(default=100, ge=1, le=1000)


@api.route("GET", "/api/audit", summary="审计日志 Audit log", tag="audit",
           roles=("platform_admin", "supervisor", "institution_admin"), query=AuditQuery)
def list_audit(ctx: Ctx, query: AuditQuery):
    stmt = select(AuditLog).order_by(AuditLog.id.desc()).limit(query.limit)
    if ctx.user.role == "supervisor":
        stmt = stmt.where(AuditLog.region_code.startswith(region_prefix(ctx.user.region_level, ctx.user.region_code)))
    elif ctx.user.role == "institution_admin":
        stmt = stmt.where(AuditLog.institution_id == ctx.user.institution_id)
    for col in ("action", "target_type", "target_id"):
        if getattr(query, col) is not None:
            stmt = stmt.where(getattr(AuditLog, col) == getattr(query, col))
    if query.before_id is not None:
        stmt = stmt.where(AuditLog.id < query.before_id)
    return {"items": [{"id": a.id, "at": a.at.isoformat(), "actor_id": a.actor_user_id, "actor_role": a.actor_role,
                       "action": a.action, "target_type": a.target_type, "target_id": a.target_id,
                       "institution_id": a.institution_id, "region_code": a.region_code, "ip": a.ip,
                       "detail": a.detail} for a in ctx.s.scalars(stmt)]}
