"""The SUB-4 advance claim: a share of the subsidy after the online part, the rest after the offline part.

Baotou's rule (seed 004, 三(一)): once the trainees have completed the online part's hours, the
institution may apply to its district for 20 % of the training subsidy, with the trainees' hours,
daily sign-in/out, the lecturers' online Q&A, homework set and checked, online study photos and the
bank account; a trainee whose online study falls short of 80 % is struck off. After the offline part
the institution claims the remainder (三(二)); the final claim deducts what was advanced
(server/subsidies/roster.py), so a trainee advanced but later ineligible shows a negative remainder.

Here the *online part* is the class's live and recorded lessons; it is done when the last of them
has ended. A trainee's online share is their credited study time over the online lessons' time — a
live lesson's teaching time (ATT-3), a recorded lesson's video length (ATT-5) — and they qualify for
the advance when it meets the profile's live-time threshold (80 %), with no open REG-4 duplicate. The advance is
the profile's ``advance_payment_share`` of the course's standard amount for the class's planned
hours (half-up to whole yuan); success supplements belong to the final claim.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Lesson, StudentProfile, TrainingClass
from models.supervision import DailySummary
from server.attendance import classfigures
from server.export import Column, to_csv, to_xlsx
from server.identity.contact import mask_mobile
from server.services import CHINA_TZ
from server.subsidies import duplicates
from server.subsidies.roster import split

RULE = "SUB-4"
ONLINE_MODES = ("live", "recorded")
ADVANCE_COLUMNS = tuple(Column(*c) for c in (
    ("student_id", "学员ID", "Student ID", "int"), ("name", "姓名", "Name", "text"),
    ("id_number_masked", "身份证号（脱敏）", "ID number (masked)", "text"),
    ("mobile_masked", "手机号（脱敏）", "Mobile (masked)", "text"),
    ("online_study_minutes", "线上学习(分钟)", "Online study (min)", "int"),
    ("online_live_minutes", "线上课时长(分钟)", "Online lesson time (min)", "int"),
    ("online_ratio", "线上学时占比", "Online share", "float"),
    ("amount_cny", "补贴标准(元)", "Standard amount (CNY)", "int"), ("advance_cny", "预拨(元)", "Advance (CNY)", "int"),
    ("flags_text", "重复参训(REG-4)", "Duplicates (REG-4)", "text"), ("reason_text", "说明", "Reason", "text"),
))


def _cn(at: datetime | None) -> str | None:
    return at.astimezone(CHINA_TZ).isoformat() if at else None


def online_part(s: Session, class_id: int, now: datetime) -> dict:
    """The online lessons' count, hours, how many have ended and whether the part is done."""
    lessons = list(s.scalars(select(Lesson).where(Lesson.class_id == class_id, Lesson.mode.in_(ONLINE_MODES))
                             .order_by(Lesson.ends_at)))
    ended = [le for le in lessons if le.ends_at <= now]
    return {"lessons": len(lessons), "ended": len(ended), "class_hours": sum(le.class_hours for le in lessons),
            "last_ends_at": _cn(lessons[-1].ends_at) if lessons else None,
            "done": bool(lessons) and len(ended) == len(lessons)}


def _reason(code: str, zh: str, en: str, rule: str, **numbers) -> dict:
    return {"code": code, "rule": rule, "message_zh": zh, "message_en": en, "numbers": numbers}


def online_share(figures: classfigures.ClassFigures, uid: int) -> tuple[timedelta, timedelta, Fraction | None]:
    """A trainee's credited study and the online lessons' time over the online lessons held so far."""
    study = total = timedelta(0)
    for held in figures.lessons:
        if held.found is None or held.lesson.mode not in ONLINE_MODES:
            continue
        a = held.found[uid]
        if held.lesson.mode == "recorded":  # the video's length for everyone, whether they opened it or not
            length = max((x.live for x in held.found.values()), default=timedelta(0)) or \
                (held.lesson.ends_at - held.lesson.starts_at)
            study, total = study + min(a.study, length), total + length  # watching twice does not make up a lesson
        else:
            study, total = study + a.study, total + a.live
    us = total // timedelta(microseconds=1)
    return study, total, (Fraction(study // timedelta(microseconds=1), us) if us else None)


def build(s: Session, cls: TrainingClass, profiles, *, now: datetime, can_see) -> dict:
    """The advance roster: every enrolled trainee's online figures and advance (module docstring)."""
    profile = profiles.get(cls.profile)
    course = profile.course(cls.course_type)
    share = profile.advance_payment_share
    figures = classfigures.load(s, cls.id, profiles, now)
    planned = int(sum(le.class_hours for le in s.scalars(select(Lesson).where(Lesson.class_id == cls.id))))
    standard = profile.subsidy_for(cls.course_type, planned)
    threshold = figures.rules.live_time_threshold
    flags = duplicates.class_flags(s, cls, profile)
    ids = [uid for uid, _ in figures.roster]
    people = {p.user_id: p for p in s.scalars(select(StudentProfile).where(StudentProfile.user_id.in_(ids)))} \
        if ids else {}
    rows = []
    for uid, name in figures.roster:
        study, total, share_ = online_share(figures, uid)
        ratio = float(share_) if share_ is not None else None
        meets = share_ is not None and share_ >= threshold
        study_min, total_min = int(study.total_seconds()) // 60, int(total.total_seconds()) // 60
        open_flags = [f for f in flags.get(uid, []) if not f.cleared]
        reason, amount = None, standard
        if share is None:
            amount, reason = 0, _reason("ADVANCE_NOT_IN_PROFILE", f"地区政策“{profile.name_zh}”不预拨补贴",
                                        f"Profile {profile.key} pays no advance", RULE)
        elif not cls.subsidised:
            amount, reason = 0, _reason("CLASS_NOT_SUBSIDISED", "本班不是补贴性培训班", "The class is not subsidised",
                                        "SUB-1")
        elif not meets:
            pct = "—" if ratio is None else f"{ratio * 100:.1f}%"
            amount, reason = 0, _reason(
                "ONLINE_HOURS_SHORT", f"线上学习时长占比 {pct}（{study_min} / {total_min} 分钟），"
                f"未达 {float(threshold) * 100:g}%，不予预拨", f"Online study {pct} ({study_min} of "
                f"{total_min} min), below {float(threshold) * 100:g}%: no advance", RULE,
                study_seconds=round(study.total_seconds()), online_seconds=round(total.total_seconds()),
                threshold=float(threshold))
        elif open_flags:
            amount, reason = 0, _reason("REG4_DUPLICATE", "重复参训待监管部门核查，暂不预拨",
                                        "REG-4 duplicate awaiting a supervisor's decision; no advance", "REG-4")
        elif standard is None:
            reason = _reason("AMOUNT_UNKNOWN", f"地区政策“{profile.name_zh}”未设置{course.name_zh}补贴标准，金额未知",
                             f"Profile {profile.key} sets no subsidy amount for {cls.course_type}; amount unknown",
                             "SUB-1")
        paid = reason is None and bool(amount)
        advance = split(amount, share)[0] if paid else (None if amount is None else 0)
        p = people.get(uid)
        flag_dicts = [f.as_dict(can_see(f.other_class)) for f in flags.get(uid, [])]
        rows.append({
            "student_id": uid, "name": name, "id_number_masked": p.id_masked if p else None,
            "mobile_masked": mask_mobile(p.mobile) if p else None,
            "online_study_minutes": study_min, "online_live_minutes": total_min,
            "online_ratio": ratio, "meets_online": meets, "amount_cny": amount,
            "advance_cny": advance, "claimed": paid, "flags": flag_dicts, "reason": reason,
            "flags_text": "；".join(d["message_zh"] for d in flag_dicts), "reason_text": reason["message_zh"] if reason else "",
        })
    claimed = [r for r in rows if r["claimed"]]
    unknown = sum(1 for r in rows if r["amount_cny"] is None)
    return {"class_id": cls.id, "class_name": cls.name, "institution_id": cls.institution_id,
            "institution_name": cls.institution.name if cls.institution else None, "profile": profile.key,
            "course_type": cls.course_type, "course_name": course.name_zh, "subsidised": cls.subsidised,
            "stage": "advance", "advance_payment_share": share, "planned_class_hours": planned,
            "standard_cny": standard, "online_threshold": float(threshold), "online": online_part(s, cls.id, now),
            "items": rows,
            "totals": {"students": len(rows), "claimed": len(claimed), "amount_unknown": unknown,
                       "advance_cny": sum(r["advance_cny"] for r in claimed) if not unknown else None}}


def advanced_by_student(snapshot: dict | None) -> dict[int, int]:
    """What an advance claim paid per trainee (its frozen snapshot), for the final roster to deduct."""
    return {r["student_id"]: int(r["advance_cny"]) for r in (snapshot or {}).get("items", []) if r.get("claimed")}


def bundle_members(s: Session, cls: TrainingClass, data: dict, bank: dict, attendance_pdf: bytes,
                   submitted_at: datetime) -> list[tuple[str, bytes]]:
    """The advance application's files (seed 004: hours, daily sign-in/out, Q&A, homework, bank account)."""
    from server.subsidies.bundle import advance_application_pdf
    when = submitted_at.astimezone(CHINA_TZ)
    days = s.scalars(select(DailySummary).where(DailySummary.class_id == cls.id).order_by(DailySummary.day)).all()
    daily = [{"day": d.day.isoformat(), **(d.figures or {})} for d in days]
    return [
        ("01_预拨申请表_advance_application.pdf", advance_application_pdf(data, bank, when.strftime("%Y-%m-%d %H:%M"))),
        ("02_线上学时_online_hours.csv", to_csv(data["items"], ADVANCE_COLUMNS)),
        ("02_线上学时_online_hours.xlsx", to_xlsx(data["items"], ADVANCE_COLUMNS, title="线上学时与预拨")),
        ("03_考勤报告_attendance_report.pdf", attendance_pdf),
        ("04_每日汇总_daily_summaries.json", json.dumps(daily, ensure_ascii=False, indent=2).encode()),
        ("05_银行账户_bank_account.json", json.dumps(bank, ensure_ascii=False, indent=2).encode()),
    ]
