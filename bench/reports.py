"""How long the ATT-2 class reports take to generate (issue 7 §6), against the plain CSV export.

Set-up (not timed): a migrated SQLite database in a temporary directory with one open class of 30
students and N live lessons of three hours each, every one taught: the lecturer live throughout,
each student joined with a camera and face-checked every minute (one in ten leaves halfway, one in
ten never comes) — about 180 events per student and lesson, inserted in bulk.

Timed, each the median of ``--repeat`` runs, one process:

* **baseline** — ``server/attendance/report.class_attendance`` rows (reads every lesson's log and
  judges it) written as CSV by ``server/export.to_csv``: what ``qihang attendance --csv`` does;
* **report data** — ``attendancedata.attendance_report`` (the same reads, per-student totals,
  presence per lesson, histogram);
* **PDF** and **XLSX** — rendering that data (ReportLab with the CJK font and two charts; openpyxl
  with two native charts);
* **generate all** — ``reportjob.generate_reports``: both attendance documents and both score-sheet
  documents, encrypted and stored, in one transaction (what the automatic job does per class);
* **eligibility** — ``outcomes.eligibility.class_eligibility`` (EXAM-3/CLS-7: the same logs plus plan
  verdicts and exam attempts), what a certificate issue or a subsidy roster reads once per request;
  and **one student's** verdict (``student_eligibility``: only their own and staff's events are read),
  what a student's own page and the exam's CLS-7 bar at start read;
* **subsidy roster** — ``subsidies.roster.build`` (eligibility, REG-4 flags, evidence, amounts) and
  the **SUB-4 advance roster** — ``subsidies.advance.build`` (the online lessons' figures per student).

    python -m bench.reports [--quick] [--lessons N] [--repeat R]

Wall and CPU seconds are both reported (the CPU figures survive a busy shared machine).
Full: 14 lessons (a 7-day SYB class), 3 repeats. ``--quick``: 4 lessons, 1 repeat. The last line
printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

STUDENTS = 30


def _settings(data_dir: Path):
    from server.settings import Settings
    return Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir}/q.db", secret_key=bytes(range(32)),
                    background_jobs=False)


def seed(svc, lessons: int, start: datetime) -> tuple[int, int]:
    """The class (module docstring); its id and the number of events written."""
    from sqlalchemy import insert

    from models import (Enrolment, Institution, Lesson, LessonEvent, StoredFile, StudentProfile, TrainingClass,
                        User)
    events = 0
    with svc.db.session() as s:
        inst = Institution(name="基准 培训学校", code="BENCH", region_code="150104", profile="hohhot", status="approved")
        s.add(inst)
        s.flush()
        admin = User(username="bench_admin", password_hash="x", role="institution_admin", display_name="管理员",
                     institution_id=inst.id)
        lecturer = User(username="bench_t", password_hash="x", role="lecturer", display_name="讲师", institution_id=inst.id)
        s.add_all([admin, lecturer])
        s.flush()
        cls = TrainingClass(institution_id=inst.id, name="SYB 基准班", course_type="SYB", delivery_mode="live",
                            profile="hohhot", district_code="150104", status="in_progress", created_by=admin.id)
        s.add(cls)
        s.flush()
        photo = StoredFile(kind="id_front", storage_key="bench-none", content_type="image/jpeg", size=0, sha256="0" * 64)
        s.add(photo)
        s.flush()
        students = []
        for i in range(STUDENTS):
            u = User(username=f"bench_s{i}", password_hash="x", role="student", display_name=f"学员{i}")
            s.add(u)
            s.flush()
            s.add(StudentProfile(user_id=u.id, real_name=f"学员{i:02d}", id_encrypted=b"x", id_index=f"bench{i}",
                                 id_masked="1101**********1234", birth_date=datetime(1990, 1, 1).date(), gender="M",
                                 mobile=f"139{i:08d}", household_registration="呼和浩特", target_group="registered_unemployed",
                                 id_front_file_id=photo.id, id_back_file_id=photo.id, reference_photo_file_id=photo.id))
            s.add(Enrolment(class_id=cls.id, student_user_id=u.id, status="enrolled", year=start.year, course_type="SYB"))
            students.append(u.id)
        for n in range(lessons):
            begins = start + timedelta(days=n // 2, hours=6 * (n % 2))
            le = Lesson(class_id=cls.id, title=f"第{n + 1}讲", starts_at=begins, ends_at=begins + timedelta(hours=3),
                        mode="live", class_hours=4)
            s.add(le)
            s.flush()
            rows = [dict(lesson_id=le.id, at=begins, kind=k, user_id=lecturer.id, role="lecturer", session_id="t",
                         node_id="bench", payload=p) for k, p in (("join", {}), ("publish", {"slot": "main"}))]
            for i, uid in enumerate(students):
                if i % 10 == 9:
                    continue  # never comes
                rows += [dict(lesson_id=le.id, at=begins, kind=k, user_id=uid, role="student", session_id=f"s{uid}",
                              node_id="bench", payload=p) for k, p in (("join", {}), ("publish", {"slot": "camera"}))]
            for minute in range(1, 180):
                at = begins + timedelta(minutes=minute)
                for i, uid in enumerate(students):
                    if i % 10 == 9 or (i % 10 == 8 and minute > 90):
                        continue
                    if i % 10 == 8 and minute == 90:
                        rows.append(dict(lesson_id=le.id, at=at, kind="leave", user_id=uid, role="student",
                                         session_id=f"s{uid}", node_id="bench", payload={}))
                        continue
                    rows.append(dict(lesson_id=le.id, at=at, kind="face_check", user_id=uid, role="student",
                                     session_id=f"s{uid}", node_id="bench", payload={"verdict": "match"}))
            rows.append(dict(lesson_id=le.id, at=begins + timedelta(hours=3), kind="lesson_end", user_id=lecturer.id,
                             role="lecturer", session_id="t", node_id="bench", payload={}))
            s.execute(insert(LessonEvent), rows)
            events += len(rows)
        return cls.id, events


def _median(fn, repeat: int, cpu: dict, name: str) -> tuple[float, object]:
    """Median wall seconds (returned) and CPU seconds of this process (into ``cpu``): on a shared
    machine the wall time includes waiting for a core, the CPU time does not."""
    times, cpus, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    cpu[name] = round(statistics.median(cpus), 3)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lessons", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=None)
    args = ap.parse_args(argv)
    lessons = args.lessons or (4 if args.quick else 14)
    repeat = args.repeat or (1 if args.quick else 3)

    import warnings
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from models import TrainingClass
    from server.attendance.report import COLUMNS, class_attendance
    from server.documents import attendancepdf, reportjob, workbook
    from server.documents.attendancedata import attendance_report
    from server.documents.fonts import cjk_font
    from server.export import Column, to_csv
    from server.outcomes.eligibility import class_eligibility, student_eligibility
    from server.services import Services
    from server.subsidies import advance, roster

    with tempfile.TemporaryDirectory(prefix="qihang-bench-reports-") as tmp:
        svc = Services.build(_settings(Path(tmp)))
        svc.db.migrate()
        start = datetime(2025, 10, 13, 0, 30, tzinfo=timezone.utc)
        t0 = time.perf_counter()
        cid, events = seed(svc, lessons, start)
        seed_s = time.perf_counter() - t0
        now = start + timedelta(days=lessons // 2 + 2)
        cjk_font()  # font registration is once per process: not part of a report
        columns = [Column(k, k, "") for k in COLUMNS]

        def baseline():
            with svc.db.session() as s:
                return to_csv(class_attendance(s, cid, svc.profiles, now), columns)

        def data():
            with svc.db.session() as s:
                return attendance_report(s, cid, svc.profiles, now)

        def eligible():
            with svc.db.session() as s:
                return class_eligibility(s, cid, svc.profiles, now)

        def eligible_one():
            with svc.db.session() as s:
                return student_eligibility(s, cid, one, svc.profiles, now)

        def subsidy_roster():
            with svc.db.session() as s:
                return roster.build(s, s.get(TrainingClass, cid), svc.profiles, now=now, today=now.date(),
                                    can_see=lambda other: True)

        def advance_roster():
            with svc.db.session() as s:
                return advance.build(s, s.get(TrainingClass, cid), svc.profiles, now=now, can_see=lambda other: True)

        def generate_all():
            with svc.db.session() as s:
                return [d.size for d in reportjob.generate_reports(s, svc, s.get(TrainingClass, cid), now, None)]

        baseline()  # warm-up: imports, first queries
        cpu: dict = {}
        csv_s, csv_bytes = _median(baseline, repeat, cpu, "baseline_csv")
        data_s, report = _median(data, repeat, cpu, "report_data")
        pdf_s, pdf = _median(lambda: attendancepdf.render(report), repeat, cpu, "pdf_render")
        xlsx_s, xlsx = _median(lambda: workbook.attendance_xlsx(report), repeat, cpu, "xlsx_render")
        all_s, sizes = _median(generate_all, repeat, cpu, "generate_all")
        elig_s, verdicts = _median(eligible, repeat, cpu, "eligibility")
        one = verdicts[0].student_id
        one_s, _ = _median(eligible_one, repeat, cpu, "eligibility_one_student")
        roster_s, _ = _median(subsidy_roster, repeat, cpu, "subsidy_roster")
        advance_s, adv = _median(advance_roster, repeat, cpu, "advance_roster")
    result = {"bench": "reports", "students": STUDENTS, "lessons": lessons, "events": events, "repeat": repeat,
              "seed_s": round(seed_s, 2), "baseline_csv_s": round(csv_s, 3), "report_data_s": round(data_s, 3),
              "pdf_render_s": round(pdf_s, 3), "xlsx_render_s": round(xlsx_s, 3), "generate_all_s": round(all_s, 3),
              "attendance_pdf_plus_xlsx_s": round(data_s + pdf_s + xlsx_s, 3),
              "ratio_attendance_docs_vs_csv": round((data_s + pdf_s + xlsx_s) / csv_s, 2),
              "ratio_generate_all_vs_csv": round(all_s / csv_s, 2),
              "eligibility_s": round(elig_s, 3), "ratio_eligibility_vs_csv": round(elig_s / csv_s, 2),
              "eligible_students": sum(v.eligible for v in verdicts),
              "eligibility_one_student_s": round(one_s, 3),
              "ratio_one_student_vs_class_eligibility": round(one_s / elig_s, 3),
              "subsidy_roster_s": round(roster_s, 3), "ratio_subsidy_roster_vs_csv": round(roster_s / csv_s, 2),
              "advance_roster_s": round(advance_s, 3), "ratio_advance_roster_vs_csv": round(advance_s / csv_s, 2),
              "advance_rows": len(adv["items"]),
              "cpu_s": cpu, "cpu_ratio_generate_all_vs_csv": round(cpu["generate_all"] / cpu["baseline_csv"], 2),
              "cpu_ratio_attendance_docs_vs_csv": round(
                  (cpu["report_data"] + cpu["pdf_render"] + cpu["xlsx_render"]) / cpu["baseline_csv"], 2),
              "csv_bytes": len(csv_bytes), "pdf_bytes": len(pdf), "xlsx_bytes": len(xlsx), "stored_sizes": sizes,
              "cjk_font_embedded": cjk_font().embedded}
    print(f"{STUDENTS} 名学员 × {lessons} 课次, {events} 条事件: CSV {csv_s:.3f} s, 报告数据 {data_s:.3f} s, "
          f"PDF {pdf_s:.3f} s, XLSX {xlsx_s:.3f} s, 全部生成 {all_s:.3f} s")
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
