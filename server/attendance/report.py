"""A class's per-lesson attendance (ATT-2): every enrolled student in every lesson held so far,
computed from the lesson event logs with the class's region rules; printable and exportable as CSV
(``qihang attendance CLASS_ID [--csv FILE]``). Each row also carries the lesson's absence verdict and
replay make-up, and the student's absences, leaves and CLS-7 bar (server/attendance/absences.py)."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Mapping

from sqlalchemy.orm import Session

from server.attendance.classfigures import UnknownClass, load

__all__ = ["COLUMNS", "UnknownClass", "class_attendance", "to_csv", "to_text"]

COLUMNS = ("lesson_id", "lesson_title", "lesson_starts_at", "student_user_id", "student_name",
           "study_minutes", "live_minutes", "study_ratio", "meets_live_time_ATT3",
           "checks_passed", "checks_due", "attendance_rate", "meets_attendance_ATT4", "reconnects",
           "lesson_status_CLS7", "leave_id", "replay_watched_minutes", "makeup_minutes_CLS8",
           "absences_CLS7", "leaves_CLS7", "max_absences_CLS7", "barred_CLS7")


def class_attendance(session: Session, class_id: int, profiles: Mapping, now: datetime) -> list[dict]:
    """One row per (lesson that has started, enrolled student), in lesson then name order."""
    figures = load(session, class_id, profiles, now)
    absences = figures.absences()
    marks = {(uid, m.lesson_id): m for uid, a in absences.items() for m in a.marks}
    rows = []
    for held in figures.lessons:
        if held.found is None:
            continue
        lesson = held.lesson
        for uid, name in figures.roster:
            a, mark, verdict = held.found[uid], marks[(uid, lesson.id)], absences[uid]
            ratio, rate = a.study_ratio, a.attendance_rate
            rows.append({
                "lesson_id": lesson.id, "lesson_title": lesson.title, "lesson_starts_at": held.starts_at.isoformat(),
                "student_user_id": uid, "student_name": name,
                "study_minutes": round(a.study.total_seconds() / 60, 1), "live_minutes": round(a.live.total_seconds() / 60, 1),
                "study_ratio": round(float(ratio), 4) if ratio is not None else None,
                "meets_live_time_ATT3": a.meets_live_time,
                "checks_passed": a.checks_passed, "checks_due": a.checks_due,
                "attendance_rate": round(float(rate), 4) if rate is not None else None,
                "meets_attendance_ATT4": a.meets_attendance, "reconnects": a.reconnects,
                "lesson_status_CLS7": mark.status, "leave_id": mark.leave_id,
                "replay_watched_minutes": round(mark.replay_watched / 60, 1),
                "makeup_minutes_CLS8": round(mark.makeup / 60, 1),
                "absences_CLS7": verdict.absences, "leaves_CLS7": verdict.leaves,
                "max_absences_CLS7": verdict.rules.max_absences, "barred_CLS7": verdict.barred,
            })
    return rows


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


STATUS_ZH = {"present": "出勤", "absent": "缺勤", "leave": "请假", "pending": "未结束", "not_held": "未开课",
             "not_judged": "另计"}


def to_text(rows: list[dict]) -> str:
    if not rows:
        return "（尚无已开始的课次 / no lesson has started yet）\n"
    lines = [f"{'课次 lesson':<28} {'学员 student':<12} {'学时 min':>8} {'直播 min':>8} {'比例':>6} "
             f"{'ATT-3':>5} {'签到':>7} {'出勤率':>6} {'ATT-4':>5} {'CLS-7':>6} {'补学 min':>8}"]
    for r in rows:
        ratio = f"{r['study_ratio']:.0%}" if r["study_ratio"] is not None else "—"
        rate = f"{r['attendance_rate']:.0%}" if r["attendance_rate"] is not None else "—"
        status = STATUS_ZH.get(r["lesson_status_CLS7"], r["lesson_status_CLS7"])
        lines.append(f"{r['lesson_title'][:26]:<28} {r['student_name'][:10]:<12} {r['study_minutes']:>8} "
                     f"{r['live_minutes']:>8} {ratio:>6} {'✓' if r['meets_live_time_ATT3'] else '✗':>5} "
                     f"{r['checks_passed']:>3}/{r['checks_due']:<3} {rate:>6} {'✓' if r['meets_attendance_ATT4'] else '✗':>5} "
                     f"{status:>5} {r['makeup_minutes_CLS8']:>8}")
    lines += ["", "学员汇总 per student (CLS-7 缺勤/请假次数, CLS-8 回看补学):",
              f"{'学员 student':<12} {'缺勤':>4} {'请假':>4} {'上限':>4} {'补学 min':>8}  结业考核 final assessment"]
    seen: dict[int, dict] = {}
    makeup: dict[int, float] = {}
    for r in rows:
        seen.setdefault(r["student_user_id"], r)
        makeup[r["student_user_id"]] = makeup.get(r["student_user_id"], 0) + r["makeup_minutes_CLS8"]
    for uid, r in seen.items():
        limit = r["max_absences_CLS7"]
        verdict = "不得参加 barred" if r["barred_CLS7"] else ("可参加 allowed" if limit is not None else "不适用 n/a")
        lines.append(f"{r['student_name'][:10]:<12} {r['absences_CLS7']:>4} {r['leaves_CLS7']:>4} "
                     f"{limit if limit is not None else '—':>4} {round(makeup[uid], 1):>8}  {verdict}")
    return "\n".join(lines) + "\n"
