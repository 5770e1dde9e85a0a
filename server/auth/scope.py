"""Tenancy and region scope (PLAT-3, SUP-1): who may see which institution's data.

An institution's staff see only their institution; a supervisor sees only classes whose district
lies in their region; platform admins see everything. Invisible things answer 404, not 403,
so their existence does not leak.
"""
from __future__ import annotations

from sqlalchemy import Select, false

from models import Institution, TrainingClass, User

STAFF_ROLES = ("institution_admin", "lecturer", "assistant")


def region_prefix(level: str, code: str) -> str:
    """District ``150104`` → ``150104``; city ``150100`` → ``1501``; province ``150000`` → ``15``."""
    return {"district": code, "city": code[:4], "province": code[:2]}[level]


def region_covers(user: User, district_code: str) -> bool:
    if user.role != "supervisor" or not user.region_level or not user.region_code:
        return False
    return district_code.startswith(region_prefix(user.region_level, user.region_code))


def scope_classes(stmt: Select, user: User) -> Select:
    if user.role == "platform_admin":
        return stmt
    if user.role == "supervisor":
        if not user.region_level or not user.region_code:
            return stmt.where(false())
        return stmt.where(TrainingClass.district_code.startswith(region_prefix(user.region_level, user.region_code)))
    if user.role in STAFF_ROLES:
        return stmt.where(TrainingClass.institution_id == user.institution_id)
    return stmt.where(false())


def scope_institutions(stmt: Select, user: User) -> Select:
    if user.role == "platform_admin":
        return stmt
    if user.role == "supervisor" and user.region_level and user.region_code:
        return stmt.where(Institution.region_code.startswith(region_prefix(user.region_level, user.region_code)))
    if user.role in STAFF_ROLES:
        return stmt.where(Institution.id == user.institution_id)
    return stmt.where(false())


def can_see_class(user: User, cls: TrainingClass) -> bool:
    if user.role == "platform_admin":
        return True
    if user.role == "supervisor":
        return region_covers(user, cls.district_code)
    if user.role in STAFF_ROLES:
        return user.institution_id == cls.institution_id
    return False


def can_see_institution(user: User, inst: Institution) -> bool:
    if user.role == "platform_admin":
        return True
    if user.role == "supervisor":
        return region_covers(user, inst.region_code)
    return user.role in STAFF_ROLES and user.institution_id == inst.id
