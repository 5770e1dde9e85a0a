"""The class (班期) life cycle (CLS-1): who may move a class from which state to which.

draft → submitted → district_approved → city_confirmed [→ province_confirmed] → open → in_progress
→ finished → archived. Each approval level of the class's profile reviews in turn; any reviewer
may reject (back to the institution, which fixes the plan and resubmits).
"""
from __future__ import annotations

from dataclasses import dataclass

from models import TrainingClass, User
from server.auth.scope import region_covers
from server.errors import ApiError, Forbidden
from server.policy.profiles import PolicyProfile

APPROVED_STATUS = {"district": "district_approved", "city": "city_confirmed", "province": "province_confirmed"}
EDITABLE = ("draft", "rejected")
ACTIONS = ("submit", "withdraw", "approve", "reject", "open", "start", "finish", "archive")


@dataclass(frozen=True)
class Move:
    action: str
    from_status: str
    to_status: str


def pending_level(cls: TrainingClass, profile: PolicyProfile) -> str | None:
    """Which approval level the class waits for, if any."""
    chain = list(profile.approval_chain)
    if cls.status == "submitted":
        return chain[0]
    for i, level in enumerate(chain[:-1]):
        if cls.status == APPROVED_STATUS[level]:
            return chain[i + 1]
    return None


def final_status(profile: PolicyProfile) -> str:
    return APPROVED_STATUS[profile.approval_chain[-1]]


def _refuse(action: str, status: str) -> ApiError:
    return ApiError("INVALID_TRANSITION", f"班期当前状态为 {status}，不能执行 {action}",
                    f"A class in status {status} cannot {action}", field="action", status=409, rule="CLS-1")


def plan_move(cls: TrainingClass, profile: PolicyProfile, user: User, action: str) -> Move:
    """Decide the move or refuse it; the caller runs submission checks and records it."""
    status = cls.status
    staff = user.role == "institution_admin" and user.institution_id == cls.institution_id
    if action in ("submit", "withdraw", "open", "start", "finish", "archive"):
        if not staff:
            raise Forbidden("NOT_CLASS_OWNER", "只有本班期所属机构的管理员可执行此操作",
                            "Only the class's institution admin may do this", rule="CLS-1")
        allowed = {"submit": (EDITABLE, "submitted"), "withdraw": (("submitted",), "draft"),
                   "open": ((final_status(profile),), "open"), "start": (("open",), "in_progress"),
                   "finish": (("in_progress",), "finished"), "archive": (("finished",), "archived")}[action]
        if status not in allowed[0]:
            raise _refuse(action, status)
        return Move(action, status, allowed[1])
    if action in ("approve", "reject"):
        level = pending_level(cls, profile)
        if level is None:
            raise _refuse(action, status)
        if user.role != "supervisor" or user.region_level != level or not region_covers(user, cls.district_code):
            raise Forbidden("WRONG_REVIEWER", f"该班期待{_LEVEL_ZH[level]}人社部门审核",
                            f"This class awaits review by {level}-level HR of its region",
                            rule="CLS-1", details={"pending_level": level})
        return Move(action, status, APPROVED_STATUS[level] if action == "approve" else "rejected")
    raise ApiError("UNKNOWN_ACTION", "未知操作", f"Unknown action; one of {', '.join(ACTIONS)}", field="action",
                   status=422)


_LEVEL_ZH = {"district": "区县级", "city": "市级", "province": "省级"}
