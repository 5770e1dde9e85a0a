"""ATT-2 class reports: the attendance report and the exam score sheet as PDF (CJK text, charts) and
XLSX (native charts, formula guard), generated automatically once after the last lesson and on demand
by the institution admin, kept as class_documents and downloadable by staff — never by students
(SQLite and PostgreSQL)."""
from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from openpyxl import load_workbook
from sqlalchemy import func, select

from models import AuditLog, Base, Lesson, StudentProfile, TrainingClass
from models.db import alembic_config
from models.documents import ClassDocument
from models.exams import ExamAnswer, ExamAttempt, ExamPaper, ExamQuestion
from server.attendance.report import class_attendance
from server.documents import attendancepdf, reportjob, scoresheet, workbook
from server.documents.attendancedata import attendance_report
from server.export import MEDIA_TYPES
from tests.roomlog import RoomLog
from tests.world import ok

MONDAY = datetime(2025, 9, 22, 2, 0, tzinfo=timezone.utc)
START = date(2025, 10, 13)  # lessons 08:30–11:30 Beijing = 00:30–03:30 UTC
LESSON_START = datetime(2025, 10, 13, 0, 30, tzinfo=timezone.utc)
NAMES = ("王小明", "李娜", "=HYPERLINK(\"x\")")  # the third: a formula a spreadsheet must not run (PLAT-3)


def pdf_text(data: bytes, tmp_path) -> str | None:
    """The PDF's text via poppler, after checking it renders; None (with the reason printed) without poppler."""
    if not (shutil.which("pdftoppm") and shutil.which("pdftotext")):
        print("poppler-utils (pdftoppm/pdftotext) not installed: PDF rendering not checked")
        return None
    src = tmp_path / "doc.pdf"
    src.write_bytes(data)
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(src), str(tmp_path / "page")], check=True,
                   capture_output=True)
    assert list(tmp_path.glob("page*.png")), "pdftoppm rendered no page"
    return subprocess.run(["pdftotext", "-layout", str(src), "-"], check=True, capture_output=True).stdout.decode()


@pytest.fixture
def taught(world, client, clock, svc):
    """A class of three whose first lesson was taught for an hour: one student stayed throughout (and
    chatted), one left after 30 minutes, one never came. Staff logged in: admin, lecturer, supervisors."""
    clock.set(MONDAY)
    w = world
    w.tokens["admin"] = w.login("admin")
    w.institution("alpha")
    w.institution("beta")
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("hohhot", "city", "150100")
    cid = w.ready_class("alpha", start=START, students=3)
    detail = w.open_class("alpha", cid, district="yuquan", city="hohhot")
    lesson_id, lecturer = detail["lessons"][0]["id"], detail["lecturers"][0]["user_id"]
    lecturer_name = next(k for k, v in w.ids.items() if v == lecturer)
    w.tokens["lecturer"] = w.login(lecturer_name)
    stay, leave, absent = sorted(s["id"] for s in detail["roster"])

    def at(minutes: float) -> datetime:
        return LESSON_START + timedelta(minutes=minutes)

    with svc.db.session() as s:
        for uid, name in zip((stay, leave, absent), NAMES):
            s.get(StudentProfile, uid).real_name = name

        log = RoomLog(s, lesson_id, LESSON_START)
        add = log.add
        log.opening(lecturer, (stay, leave))
        add(0.2, "chat", stay, "student", text="老师好")
        add(0.3, "question", stay, "student", text="创业贷款怎么申请？")
        minute = 0.5
        while minute < 60:
            if minute == 30:
                add(30, "leave", leave, "student")
            add(minute, "face_check", stay, "student", verdict="match")
            if minute < 30:
                add(minute, "face_check", leave, "student", verdict="match")
            minute += 0.5
        add(60, "lesson_end", lecturer, "lecturer")
        last_end = s.scalar(select(func.max(Lesson.ends_at)).where(Lesson.class_id == cid))
    last_end = last_end if last_end.tzinfo else last_end.replace(tzinfo=timezone.utc)
    return {"w": w, "class_id": cid, "lesson_id": lesson_id, "stay": stay, "leave": leave, "absent": absent,
            "now": at(120), "after_first": at(210), "last_end": last_end,
            "lecturer_name": lecturer_name}


def relogin(taught) -> None:
    """Sessions expire across the weeks the clock jumps: log everyone in again."""
    w = taught["w"]
    for who in ("admin", "alpha_admin", "beta_admin", "yuquan", "hohhot"):
        w.tokens[who] = w.login(who)
    w.tokens["lecturer"] = w.login(taught["lecturer_name"])
    for sid in (taught["stay"], taught["leave"], taught["absent"]):
        w.tokens[f"student{sid}"] = w.login(w.mobiles[sid])


def finish(svc, cid: int) -> None:
    with svc.db.session() as s:
        s.get(TrainingClass, cid).status = "finished"


def exam(svc, taught, *, closes_at: datetime) -> int:
    """A two-question paper: the first student scored full marks, the second half, the third was absent."""
    with svc.db.session() as s:
        admin = s.scalar(select(TrainingClass.created_by).where(TrainingClass.id == taught["class_id"]))
        cls = s.get(TrainingClass, taught["class_id"])
        q1 = ExamQuestion(course_type="SYB", kind="single", stem="哪一项？", options=["甲", "乙"], answer="A", points=50,
                          created_by=admin, created_at=MONDAY)
        q2 = ExamQuestion(course_type="SYB", kind="truefalse", stem="对吗？", options=[], answer=True, points=50,
                          created_by=admin, created_at=MONDAY)
        s.add_all([q1, q2])
        s.flush()
        p = ExamPaper(class_id=cls.id, institution_id=cls.institution_id, district_code=cls.district_code,
                      course_type="SYB", title="SYB 结业考试", seed="x", counts={"single": 1, "truefalse": 1},
                      items=[[q1.id, 50], [q2.id, 50]], total_points=100, pass_mark=60,
                      duration_minutes=60, opens_at=closes_at - timedelta(hours=2), closes_at=closes_at,
                      created_by=admin, created_at=MONDAY)
        s.add(p)
        s.flush()
        for uid, score, pts in ((taught["stay"], 100.0, (50.0, 50.0)), (taught["leave"], 50.0, (50.0, 0.0))):
            a = ExamAttempt(paper_id=p.id, student_user_id=uid, started_at=closes_at - timedelta(hours=1),
                            deadline=closes_at, submitted_at=closes_at - timedelta(minutes=30), submitted_by="student",
                            status="graded", score=score, passed=score >= 60, graded_at=closes_at - timedelta(minutes=30))
            s.add(a)
            s.flush()
            for q, got in zip((q1, q2), pts):
                s.add(ExamAnswer(attempt_id=a.id, question_id=q.id, response="A", saved_at=a.started_at, saves=[],
                                 points=got))
        return p.id


# --------------------------------------------------------------------------- the documents themselves

def test_att2_attendance_report_pdf_shows_chinese_headers_names_and_rule_ids(svc, taught, tmp_path):
    with svc.db.session() as s:
        data = attendance_report(s, taught["class_id"], svc.profiles, taught["after_first"])
    by = {st["student_id"]: st for st in data["students"]}
    assert by[taught["stay"]]["study_ratio"] == 1.0 and by[taught["stay"]]["meets_ATT3"]
    assert by[taught["leave"]]["study_ratio"] == 0.5 and not by[taught["leave"]]["meets_ATT3"]
    assert by[taught["absent"]]["attendance_rate"] is None and by[taught["stay"]]["id_masked"]
    with svc.db.session() as s:
        rows = class_attendance(s, taught["class_id"], svc.profiles, taught["after_first"])
    present = {r["student_user_id"] for r in rows if r["lesson_status_CLS7"] == "present"}
    assert taught["stay"] in present and taught["absent"] not in present
    assert data["presence"][0]["present"] == len(present) and data["presence"][0]["enrolled"] == 3  # as CLS-7 judges
    assert sum(b["count"] for b in data["histogram"]) == 3
    pdf = attendancepdf.render(data)
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf, tmp_path)
    if text is not None:
        for needle in ("考勤报告", "王小明", "李娜", "出勤率分布", "每课次出勤", "ATT-3", "ATT-4", "CLS-7", "alpha 培训学校"):
            assert needle in text, needle


def test_att2_attendance_workbook_has_the_rows_native_charts_and_the_formula_guard(svc, taught):
    with svc.db.session() as s:
        data = attendance_report(s, taught["class_id"], svc.profiles, taught["now"])
    wb = load_workbook(io.BytesIO(workbook.attendance_xlsx(data)))
    students = wb[wb.sheetnames[1]]
    names = [students.cell(row=r, column=1).value for r in range(2, students.max_row + 1)]
    assert len(names) == 3 and "王小明" in names and "'=HYPERLINK(\"x\")" in names  # shown, never run (PLAT-3)
    assert all(c.data_type != "f" for row in students.iter_rows() for c in row)
    assert "ATT-3" in students.cell(row=1, column=3).value and "ATT-4" in students.cell(row=1, column=9).value
    lessons, dist = wb[wb.sheetnames[2]], wb[wb.sheetnames[3]]
    assert lessons.max_row == 2 and lessons["E2"].value == data["presence"][0]["present"] == 2  # running: both with study
    assert len(lessons._charts) == 1 and len(dist._charts) == 1
    assert type(lessons._charts[0]).__name__ == "LineChart" and type(dist._charts[0]).__name__ == "BarChart"


def test_exam1_score_sheet_pdf_and_workbook_list_every_student(svc, taught, tmp_path):
    paper = exam(svc, taught, closes_at=taught["now"])
    with svc.db.session() as s:
        sheet = scoresheet.score_sheet(s, taught["class_id"])
    (p,) = sheet["papers"]
    assert p["paper_id"] == paper and p["pass_mark"] == 60 and p["passed"] == 1 and p["sat"] == 2
    rows = {r["student_id"]: r for r in p["rows"]}
    assert rows[taught["stay"]]["question_points"] == [50.0, 50.0] and rows[taught["absent"]]["status"] == "absent"
    text = pdf_text(scoresheet.render(sheet), tmp_path)
    if text is not None:
        for needle in ("成绩单", "王小明", "李娜", "及格线", "缺考"):
            assert needle in text, needle
    wb = load_workbook(io.BytesIO(workbook.scores_xlsx(sheet)))
    ws = wb.active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    header = next(i for i, v in enumerate(values) if v[0] == "姓名 Name")
    assert len(values) - header - 1 == 3 and len(ws._charts) == 1
    assert any(v[0] == "王小明" and v[3] == 100 and v[4] == "是" for v in values)


def test_att2_an_empty_score_sheet_says_no_paper(svc, taught, tmp_path):
    with svc.db.session() as s:
        sheet = scoresheet.score_sheet(s, taught["class_id"])
    text = pdf_text(scoresheet.render(sheet), tmp_path)
    assert sheet["papers"] == [] and (text is None or "尚无考试试卷" in text)
    assert load_workbook(io.BytesIO(workbook.scores_xlsx(sheet))).active["A1"].value.startswith("本班期尚无")


# --------------------------------------------------------------------------- the automatic job

def test_att2_the_job_generates_reports_once_after_the_last_lesson_and_not_before(svc, taught):
    cid = taught["class_id"]
    assert reportjob.generate_due(svc, taught["now"]) == 0  # lessons still to come
    assert reportjob.generate_due(svc, taught["last_end"] - timedelta(minutes=1)) == 0
    after = taught["last_end"] + timedelta(minutes=5)
    assert reportjob.generate_due(svc, after) == 2  # attendance PDF + XLSX; no exam paper yet
    assert reportjob.generate_due(svc, after + timedelta(hours=1)) == 0  # once
    with svc.db.session() as s:
        docs = s.scalars(select(ClassDocument).where(ClassDocument.class_id == cid)).all()
        assert sorted(d.kind for d in docs) == ["attendance_pdf", "attendance_xlsx"]
        assert all(d.generated_by is None and not d.superseded and len(d.sha256) == 64 for d in docs)
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "documents.generate")).all()
        assert len(audit) == 1 and audit[0].actor_role == "system" and audit[0].detail["automatic"] is True


def test_att2_the_score_sheet_follows_once_every_paper_has_closed(svc, taught):
    closes = taught["last_end"] + timedelta(days=1)
    exam(svc, taught, closes_at=closes)
    assert reportjob.generate_due(svc, taught["last_end"] + timedelta(minutes=5)) == 2  # attendance only
    assert reportjob.generate_due(svc, closes - timedelta(minutes=1)) == 0
    assert reportjob.generate_due(svc, closes + timedelta(minutes=5)) == 2  # scores PDF + XLSX
    assert reportjob.generate_due(svc, closes + timedelta(days=1)) == 0
    with svc.db.session() as s:  # done classes are not even candidates of the next pass
        assert reportjob.due_classes(s, closes + timedelta(days=2)) == []


def test_att2_the_scheduler_runs_the_pass(svc, taught, clock):
    import asyncio
    clock.set(taught["last_end"] + timedelta(minutes=5))
    assert asyncio.run(reportjob.ReportScheduler(svc, every_seconds=3600).run_once()) == 2


def test_qihang_reports_command(svc, taught, capsys):
    """``qihang reports --class ID`` regenerates one class's; plain ``qihang reports`` runs the due pass
    (the real clock: every lesson of 2025 is over). Called through the parser table cli.py registers."""
    import argparse
    handlers = reportjob.add_parsers(argparse.ArgumentParser().add_subparsers(dest="command"))
    settings = svc.settings
    assert handlers["reports"](settings, argparse.Namespace(class_id=taught["class_id"])) == 0
    assert "attendance_pdf" in capsys.readouterr().out
    assert handlers["reports"](settings, argparse.Namespace(class_id=987654)) == 2
    assert handlers["reports"](settings, argparse.Namespace(class_id=None)) == 0
    with svc.db.session() as s:
        assert s.scalar(select(func.count()).select_from(ClassDocument).where(ClassDocument.superseded.is_(False))) == 4


# --------------------------------------------------------------------------- the API

def test_att2_staff_list_and_download_reports_students_may_not(svc, taught, clock):
    w, cid = taught["w"], taught["class_id"]
    clock.set(taught["now"])
    relogin(taught)
    made = ok(w.client.post(f"/api/classes/{cid}/documents/reports", headers=w.h("alpha_admin")), 201)["items"]
    assert sorted(d["kind"] for d in made) == ["attendance_pdf", "attendance_xlsx", "scores_pdf", "scores_xlsx"]
    pdf = next(d for d in made if d["kind"] == "attendance_pdf")
    for who in ("alpha_admin", "lecturer", "yuquan", "hohhot", "admin"):
        listed = ok(w.client.get(f"/api/classes/{cid}/documents", headers=w.h(who)))["items"]
        assert {d["id"] for d in listed} == {d["id"] for d in made}
        r = w.client.get(pdf["download_url"], headers=w.h(who))
        assert r.status_code == 200 and r.content.startswith(b"%PDF") and r.headers["content-type"] == "application/pdf"
        xlsx = next(d for d in made if d["kind"] == "attendance_xlsx")
        r = w.client.get(xlsx["download_url"], headers=w.h(who))
        assert r.headers["content-type"] == MEDIA_TYPES["xlsx"] and load_workbook(io.BytesIO(r.content)).sheetnames
        assert "filename*=UTF-8''" in r.headers["content-disposition"]
    student = w.h(f"student{taught['stay']}")
    assert w.client.get(f"/api/classes/{cid}/documents", headers=student).status_code == 403
    assert w.client.get(pdf["download_url"], headers=student).status_code == 403
    assert w.client.get(f"/api/classes/{cid}/documents", headers=w.h("beta_admin")).status_code == 404
    assert w.client.get(pdf["download_url"], headers=w.h("beta_admin")).status_code == 404
    assert w.client.get("/api/class-documents/987654/file", headers=w.h("admin")).status_code == 404
    w.assistant("alpha", "other_assistant")  # LIVE-4: an assistant reads only the classes they assist
    w.tokens["other_assistant"] = w.login("other_assistant")
    r = w.client.get(f"/api/classes/{cid}/documents", headers=w.h("other_assistant"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "NOT_CLASS_ASSISTANT"
    assert w.client.post(f"/api/classes/{cid}/documents/reports", headers=w.h("lecturer")).status_code == 403
    assert w.client.post(f"/api/classes/{cid}/documents/reports", headers=student).status_code == 403
    # regenerating supersedes, keeps the old rows
    again = ok(w.client.post(f"/api/classes/{cid}/documents/reports", headers=w.h("alpha_admin")), 201)["items"]
    listed = ok(w.client.get(f"/api/classes/{cid}/documents", headers=w.h("alpha_admin")))["items"]
    assert len(listed) == 8 and {d["id"] for d in listed if not d["superseded"]} == {d["id"] for d in again}
    with svc.db.session() as s:
        actions = [a.action for a in s.scalars(select(AuditLog).where(AuditLog.action.like("documents.%")))]
    assert actions.count("documents.generate") == 2 and actions.count("documents.download") == 10


def test_att2_reports_of_a_class_not_yet_open_are_refused(svc, world, clock):
    clock.set(MONDAY)
    world.tokens["admin"] = world.login("admin")
    world.institution("alpha")
    cid = world.ready_class("alpha", start=START, students=1)
    err = world.client.post(f"/api/classes/{cid}/documents/reports", headers=world.h("alpha_admin"))
    assert err.status_code == 409 and err.json()["error"]["code"] == "CLASS_NOT_RUN"


def test_migration_0017_matches_the_models_in_one_linear_chain(database):
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diff if "class_documents" in repr(d)] == []
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_revision("0017").down_revision == "0016"
