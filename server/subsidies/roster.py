"""The subsidy roster of one class (SUB-1, SUB-4, REG-4): who is claimed for, how much, and why not.

Every enrolled student gets one row: the EXAM-3 verdict (server/outcomes/eligibility.py), the amount
under the class's profile for the credited class-hours (EXAM-2 plan credit included) with the success
supplement when verified evidence qualifies (server/subsidies/evidence.py), the REG-4 flags
(server/subsidies/duplicates.py) and, where the profile pays an advance (Baotou SUB-4: 20 % after the
online part), what the advance claim paid the student and the remainder this claim asks for (negative:
advanced, then not eligible — the advance is recovered; server/subsidies/advance.py). A row with no
money always says why (``reason``).
An unknown amount (Baotou publishes none) stays ``None`` — never a silent 0 — and makes the total unknown.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Lesson, StudentProfile, TrainingClass
from models.subsidies import BusinessEvidence
from server.identity.contact import mask_mobile
from server.outcomes import eligibility as outcomes
from server.services import CHINA_TZ
from server.subsidies import duplicates, evidence

ROSTER_COLUMNS_SPEC = (
    ("student_id", "学员ID", "Student ID", "int"), ("name", "姓名", "Name", "text"),
    ("id_number_masked", "身份证号（脱敏）", "ID number (masked)", "text"),
    ("mobile_masked", "手机号（脱敏）", "Mobile (masked)", "text"),
    ("eligible", "符合结业条件", "Eligible (EXAM-3)", "bool"),
    ("credited_class_hours", "计入课时", "Credited class-hours", "int"),
    ("business_success", "成功创业补贴", "Business success supplement", "bool"),
    ("base_cny", "基本补贴(元)", "Base (CNY)", "int"), ("supplement_cny", "上浮/加发(元)", "Supplement (CNY)", "int"),
    ("amount_cny", "补贴金额(元)", "Amount (CNY)", "int"), ("advance_cny", "预拨(元)", "Advance (CNY)", "int"),
    ("remaining_cny", "余额(元)", "Remainder (CNY)", "int"),
    ("flags_text", "重复参训(REG-4)", "Duplicates (REG-4)", "text"), ("reason_text", "说明", "Reason", "text"),
)


def first_day(s: Session, class_id: int) -> date | None:
    start = s.scalars(select(Lesson.starts_at).where(Lesson.class_id == class_id).order_by(Lesson.starts_at)).first()
    return start.astimezone(CHINA_TZ).date() if start else None


def last_end(s: Session, class_id: int) -> datetime | None:
    return s.scalars(select(Lesson.ends_at).where(Lesson.class_id == class_id).order_by(Lesson.ends_at.desc())).first()


def split(amount: int | None, share: float | None) -> tuple[int | None, int | None]:
    """SUB-4: the advance (share of the amount, half-up to whole yuan) and the remainder."""
    if amount is None or share is None:
        return None, None
    advance = int((Decimal(amount) * Decimal(str(share))).quantize(Decimal(1), ROUND_HALF_UP))
    return advance, amount - advance


def _evidence_by_student(s: Session, class_id: int) -> dict[int, list[BusinessEvidence]]:
    out: dict[int, list[BusinessEvidence]] = {}
    for ev in s.scalars(select(BusinessEvidence).where(BusinessEvidence.class_id == class_id)
                        .order_by(BusinessEvidence.id)):
        out.setdefault(ev.student_user_id, []).append(ev)
    return out


def evidence_view(ev: BusinessEvidence, profile, course, first: date | None, today: date) -> dict:
    q = evidence.qualification(profile, course, kind=ev.kind, started_on=ev.started_on,
                               monthly_sales=list(ev.monthly_sales_cny or []), first_day=first, as_of=today)
    return {"id": ev.id, "class_id": ev.class_id, "student_id": ev.student_user_id, "kind": ev.kind,
            "started_on": ev.started_on.isoformat(), "monthly_sales_cny": list(ev.monthly_sales_cny or []),
            "status": ev.status, "submitted_at": ev.submitted_at.astimezone(CHINA_TZ).isoformat(),
            "reviewed_at": ev.reviewed_at.astimezone(CHINA_TZ).isoformat() if ev.reviewed_at else None,
            "review_note": ev.review_note, "qualification": q.as_dict(),
            "counts": ev.status == "verified" and q.qualifies}


def _reason(code: str, zh: str, en: str, rule: str | None = None, **numbers) -> dict:
    return {"code": code, "rule": rule, "message_zh": zh, "message_en": en, "numbers": numbers}


def build(s: Session, cls: TrainingClass, profiles, *, now: datetime, today: date, can_see,
          advanced: dict[int, int] | None = None) -> dict:
    """The roster as JSON-ready dicts; ``can_see(other_class)`` decides whether a REG-4 flag names the
    other class and institution (the viewer's scope); ``advanced``: what the SUB-4 advance claim paid
    each student (None: no advance claim was made)."""
    profile = profiles.get(cls.profile)
    course = profile.course(cls.course_type)
    verdicts = outcomes.class_eligibility(s, cls.id, profiles, now)
    people = {p.user_id: p for p in s.scalars(select(StudentProfile).where(
        StudentProfile.user_id.in_([v.student_id for v in verdicts])))} if verdicts else {}
    flags = duplicates.class_flags(s, cls, profile)
    evidences = _evidence_by_student(s, cls.id)
    first = first_day(s, cls.id)
    share = profile.advance_payment_share
    rows = []
    for v in verdicts:
        p = people.get(v.student_id)
        evs = [evidence_view(ev, profile, course, first, today) for ev in evidences.get(v.student_id, [])]
        success = any(e["counts"] for e in evs)
        my_flags = flags.get(v.student_id, [])
        open_flags = [f for f in my_flags if not f.cleared]
        base = profile.subsidy_for(cls.course_type, v.credited_class_hours)
        full = profile.subsidy_for(cls.course_type, v.credited_class_hours, business_success=success)
        reason = None
        if not cls.subsidised:
            amount, reason = 0, _reason("CLASS_NOT_SUBSIDISED", "本班不是补贴性培训班", "The class is not subsidised",
                                        "SUB-1")
        elif not v.eligible:
            amount = 0
            reason = _reason("NOT_ELIGIBLE", "未达结业条件：" + "；".join(f"[{x.rule}] {x.message_zh}" for x in v.shortfalls),
                             "Not eligible: " + "; ".join(f"[{x.rule}] {x.message_en}" for x in v.shortfalls),
                             "EXAM-3", shortfalls=[x.as_dict() for x in v.shortfalls])
        elif open_flags:
            amount = 0
            reason = _reason("REG4_DUPLICATE", "重复参训待监管部门核查，暂不申领",
                             "REG-4 duplicate awaiting a supervisor's decision; not claimed", "REG-4")
        elif full is None:
            amount = None
            reason = _reason("AMOUNT_UNKNOWN", f"地区政策“{profile.name_zh}”未设置{course.name_zh}补贴标准，金额未知",
                             f"Profile {profile.key} sets no subsidy amount for {cls.course_type}; amount unknown",
                             "SUB-1")
        elif full == 0:
            amount = 0
            reason = _reason("HOURS_SHORT", f"计入课时 {v.credited_class_hours} 未达标准 {course.min_class_hours}",
                             f"Credited class-hours {v.credited_class_hours} below {course.min_class_hours}", "CLS-4",
                             credited_class_hours=v.credited_class_hours, min_class_hours=course.min_class_hours)
        else:
            amount = full
        paid = amount is not None and amount > 0
        supplement = (full - base) if paid and success and full is not None and base is not None else 0
        if share is None:
            advance = remaining = None
        else:  # SUB-4: the remainder is what this claim asks for once the advance is deducted
            advance = (advanced or {}).get(v.student_id, 0)
            remaining = (amount - advance) if amount is not None else None
        flag_dicts = [f.as_dict(can_see(f.other_class)) for f in my_flags]
        rows.append({
            "student_id": v.student_id, "name": v.name,
            "id_number_masked": p.id_masked if p else None, "mobile_masked": mask_mobile(p.mobile) if p else None,
            "eligible": v.eligible, "shortfalls": [x.as_dict() for x in v.shortfalls],
            "class_hours": v.class_hours, "credited_class_hours": v.credited_class_hours,
            "evidence": evs, "business_success": bool(success and paid),
            "base_cny": (base if paid else (None if amount is None else 0)),
            "supplement_cny": supplement, "amount_cny": amount, "advance_cny": advance, "remaining_cny": remaining,
            "claimed": paid, "flags": flag_dicts, "reason": reason,
            "flags_text": "；".join(f"{d['message_zh']}{'（已核销）' if d['cleared'] else ''}" for d in flag_dicts),
            "reason_text": reason["message_zh"] if reason else "",
        })
    return {"class_id": cls.id, "class_name": cls.name, "institution_id": cls.institution_id,
            "institution_name": cls.institution.name if cls.institution else None, "profile": profile.key,
            "course_type": cls.course_type, "course_name": course.name_zh, "subsidised": cls.subsidised,
            "advance_payment_share": share, "advance_claimed": advanced is not None, "items": rows,
            "totals": totals(rows)}


def totals(rows: list[dict]) -> dict:
    unknown = sum(1 for r in rows if r["amount_cny"] is None)
    claimed = [r for r in rows if r["claimed"]]
    known = unknown == 0

    def total(key):
        values = [r[key] for r in claimed]
        return sum(v for v in values if v is not None) if known and None not in values else None
    return {"students": len(rows), "eligible": sum(1 for r in rows if r["eligible"]), "claimed": len(claimed),
            "flagged": sum(1 for r in rows if any(not f["cleared"] for f in r["flags"])),
            "amount_unknown": unknown, "total_cny": total("amount_cny") if known else None,
            "base_cny": total("base_cny") if known else None,
            "supplement_cny": sum(r["supplement_cny"] for r in claimed),
            "advance_cny": _advances(rows), "remaining_cny": _remaining(rows, total("amount_cny") if known else None)}


def _advances(rows: list[dict]) -> int | None:
    """Every advance paid, claimed for now or not (an advance to a student no longer eligible is recovered)."""
    if not rows or rows[0]["advance_cny"] is None:
        return None
    return sum(r["advance_cny"] or 0 for r in rows)


def _remaining(rows: list[dict], total_cny: int | None) -> int | None:
    advances = _advances(rows)
    return None if advances is None or total_cny is None else total_cny - advances
