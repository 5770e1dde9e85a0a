"""The class's exam score sheet (EXAM-1 成绩单) as data and as a PDF.

Read-only: one section per exam paper of the class, one line per rostered student — score, passed,
attempt status and the points of each question. An attempt still open past its deadline is shown
as "未交卷 not submitted" here; the exam API settles it (auto-submits) when anyone next opens it, and a
regenerated sheet then shows the result. Pass mark: the paper's percentage of its total points.
"""
from __future__ import annotations

from datetime import datetime, timezone

from reportlab.platypus import PageBreak, Paragraph, Spacer
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Enrolment, StudentProfile, TrainingClass
from models.exams import ExamAnswer, ExamAttempt, ExamPaper
from server.documents.pdfkit import build, data_table, esc, facts_table, styles
from server.services import CHINA_TZ

STATUS_ZH = {"graded": "已评分 graded", "submitted": "已交卷待评 submitted", "in_progress": "未交卷 not submitted",
             "absent": "缺考 absent"}


def _cn(at: datetime | None) -> str | None:
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone(CHINA_TZ).isoformat(timespec="minutes")


def score_sheet(session: Session, class_id: int) -> dict:
    cls = session.get(TrainingClass, class_id)
    roster = session.execute(select(Enrolment.student_user_id, StudentProfile.real_name, StudentProfile.id_masked)
                             .join(StudentProfile, StudentProfile.user_id == Enrolment.student_user_id)
                             .where(Enrolment.class_id == class_id, Enrolment.status != "withdrawn")
                             .order_by(StudentProfile.real_name, Enrolment.student_user_id)).all()
    papers = []
    for p in session.scalars(select(ExamPaper).where(ExamPaper.class_id == class_id).order_by(ExamPaper.opens_at, ExamPaper.id)):
        attempts = {a.student_user_id: a for a in session.scalars(select(ExamAttempt).where(ExamAttempt.paper_id == p.id))}
        points: dict[tuple[int, int], float | None] = {}
        if attempts:
            for ans in session.scalars(select(ExamAnswer).where(ExamAnswer.attempt_id.in_([a.id for a in attempts.values()]))):
                points[(ans.attempt_id, ans.question_id)] = ans.points
        rows = []
        for uid, name, masked in roster:
            a = attempts.get(uid)
            per_q = [points.get((a.id, qid)) if a else None for qid, _ in p.items]
            rows.append({"student_id": uid, "name": name, "id_masked": masked,
                         "status": a.status if a else "absent", "score": a.score if a else None,
                         "passed": a.passed if a else False, "submitted_at": _cn(a.submitted_at) if a else None,
                         "question_points": per_q})
        papers.append({"paper_id": p.id, "title": p.title, "total_points": p.total_points, "pass_mark": p.pass_mark,
                       "pass_points": round(p.total_points * p.pass_mark / 100, 2),
                       "opens_at": _cn(p.opens_at), "closes_at": _cn(p.closes_at),
                       "question_max": [pts for _, pts in p.items], "rows": rows,
                       "passed": sum(1 for r in rows if r["passed"]), "sat": sum(1 for r in rows if r["status"] != "absent")})
    return {"class": {"id": cls.id, "name": cls.name, "course_type": cls.course_type,
                      "institution": cls.institution.name if cls.institution else ""},
            "papers": papers}


def _num(x) -> str:
    if x is None:
        return "—"
    return f"{x:g}" if isinstance(x, (int, float)) else str(x)


def render(sheet: dict) -> bytes:
    st = styles()
    c = sheet["class"]
    title = f"{c['name']} 成绩单 Exam score sheet (EXAM-1)"
    story = [Paragraph(esc(title), st["title"])]
    if not sheet["papers"]:
        story.append(Paragraph("本班期尚无考试试卷 No exam paper has been drawn for this class.", st["body"]))
    for i, p in enumerate(sheet["papers"]):
        if i:
            story.append(PageBreak())
        story += [facts_table([("班期 Class", f"{c['name']}（ID {c['id']}）"), ("培训机构 Institution", c["institution"]),
                               ("试卷 Paper", f"{p['title']}（ID {p['paper_id']}）"),
                               ("考试时间 Window", f"{p['opens_at']} 至 {p['closes_at']}"),
                               ("满分 Total", _num(p["total_points"])),
                               ("及格线 Pass mark", f"{p['pass_mark']}%（{_num(p['pass_points'])} 分）"),
                               ("参考人数 Sat", str(p["sat"])), ("及格人数 Passed", str(p["passed"]))], st),
                  Spacer(1, 6)]
        qn = len(p["question_max"])
        show_q = qn <= 30  # a long paper's per-question points live in the workbook only
        header = ["序号 No.", "姓名 Name", "身份证号 ID (masked)", "状态 Status", "成绩 Score", "及格 Passed",
                  "交卷时间 Submitted"] + ([f"第{n}题 Q{n}（{_num(m)}）" for n, m in enumerate(p["question_max"], 1)] if show_q else [])
        rows = [[n, r["name"], r["id_masked"], STATUS_ZH.get(r["status"], r["status"]), _num(r["score"]),
                 "是" if r["passed"] else "否", r["submitted_at"] or "—"]
                + ([_num(x) for x in r["question_points"]] if show_q else []) for n, r in enumerate(p["rows"], 1)]
        fixed = [10, 22, 32, 26, 14, 12, 30]
        rest = max(0.0, 273 - sum(fixed))
        widths = fixed + ([rest / qn] * qn if show_q and qn else [])
        story.append(data_table(header, rows, widths, st))
    return build(story, title=title)
