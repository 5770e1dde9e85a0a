"""Institutions: creation by the platform, approval and blacklisting by HR (SUP-7, REG-5)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field
from sqlalchemy import select

from models import Institution
from server.api.common import Name, RegionCode, get_institution
from server.api.endpoint import Api, Ctx
from server.auth.scope import region_covers, scope_institutions
from server.errors import ApiError, Forbidden
from server.validation import Body

api = Api()


class InstitutionBody(Body):
    name: Name
    code: str = Field(pattern=r"^[A-Za-z0-9-]{2,32}$")
    credit_code: str | None = Field(default=None, pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")
    region_code: RegionCode
    profile: str = Field(min_length=1, max_length=32)


class StatusBody(Body):
    action: Literal["approve", "suspend", "blacklist", "unblacklist"]
    reason: str | None = Field(default=None, max_length=2000)


def institution_dict(i: Institution) -> dict:
    return {"id": i.id, "name": i.name, "code": i.code, "credit_code": i.credit_code,
            "region_code": i.region_code, "profile": i.profile, "status": i.status,
            "blacklisted": i.blacklisted, "blacklist_reason": i.blacklist_reason,
            "may_run_classes": i.may_run_classes}


@api.route("POST", "/api/institutions", summary="新建机构 Create institution", tag="institutions",
           roles=("platform_admin",), body=InstitutionBody, status=201)
def create_institution(ctx: Ctx, body: InstitutionBody):
    if body.profile not in ctx.svc.profiles:
        raise ApiError("UNKNOWN_PROFILE", f"未知的地区政策：{body.profile}", f"Unknown policy profile: {body.profile}",
                       field="profile", status=422)
    if ctx.s.query(Institution).filter_by(code=body.code).first():
        raise ApiError("DUPLICATE_CODE", "机构代码已存在", "Institution code already in use", field="code", status=409)
    inst = Institution(**body.model_dump(), status="pending", created_at=ctx.now)
    ctx.s.add(inst)
    ctx.s.flush()
    ctx.audit("institution.create", target_type="institution", target_id=inst.id, institution_id=inst.id,
              region_code=inst.region_code, name=inst.name)
    return institution_dict(inst)


@api.route("GET", "/api/institutions", summary="机构列表 List institutions", tag="institutions")
def list_institutions(ctx: Ctx):
    stmt = scope_institutions(select(Institution).order_by(Institution.id), ctx.user)
    return {"items": [institution_dict(i) for i in ctx.s.scalars(stmt)]}


@api.route("GET", "/api/institutions/{institution_id:int}", summary="机构详情 Institution", tag="institutions")
def show_institution(ctx: Ctx, institution_id: int):
    return institution_dict(get_institution(ctx, institution_id))


@api.route("POST", "/api/institutions/{institution_id:int}/status", summary="审核/暂停/拉黑机构 Approve, suspend, blacklist",
           tag="institutions", roles=("platform_admin", "supervisor"), body=StatusBody)
def change_status(ctx: Ctx, body: StatusBody, institution_id: int):
    """City or province HR (or the platform) approves institutions and blacklists cheaters (SUP-7)."""
    inst = get_institution(ctx, institution_id)
    if ctx.user.role == "supervisor" and (ctx.user.region_level == "district" or not region_covers(ctx.user, inst.region_code)):
        raise Forbidden("REGION_LEVEL", "仅市级及以上人社部门可审核或拉黑机构",
                        "Only city- or province-level HR may approve or blacklist institutions", rule="SUP-7")
    if body.action in ("blacklist", "suspend") and not body.reason:
        raise ApiError("REASON_REQUIRED", "请填写原因", "A reason is required", field="reason", status=422,
                       rule="SUP-7")
    before = {"status": inst.status, "blacklisted": inst.blacklisted}
    if body.action == "approve":
        if inst.blacklisted:
            raise ApiError("INSTITUTION_BLACKLISTED", "机构在黑名单中，不能审核通过",
                           "A blacklisted institution cannot be approved", status=409, rule="SUP-7")
        inst.status = "approved"
    elif body.action == "suspend":
        inst.status = "suspended"
    elif body.action == "blacklist":
        inst.blacklisted, inst.blacklist_reason, inst.status = True, body.reason, "suspended"
    else:
        inst.blacklisted, inst.blacklist_reason = False, None
    ctx.audit(f"institution.{body.action}", target_type="institution", target_id=inst.id, institution_id=inst.id,
              region_code=inst.region_code, reason=body.reason, before=before)
    return institution_dict(inst)
