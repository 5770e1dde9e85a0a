"""ATT-2: a class's per-lesson attendance from the stored event logs, printed and exported by
``qihang attendance`` (SQLite and PostgreSQL, like every database test)."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

import pytest

from server import cli
from server.attendance.report import UnknownClass, class_attendance
from tests.conftest import TEST_KEY
from tests.roomlog import RoomLog

MONDAY = datetime(2025, 9, 22, 2, 0, tzinfo=timezone.utc)
START = date(2025, 10, 13)  # lessons 08:30–11:30 Beijing = 00:30–03:30 UTC
LESSON_START = datetime(2025, 10, 13, 0, 30, tzinfo=timezone.utc)


@pytest.fixture
def taught(world, client, clock, svc):
    """A class of three whose first lesson was taught for an hour: one student stayed throughout,
    one left after 30 minutes, one never came."""
    clock.set(MONDAY)
    w = world
    w.tokens["admin"] = w.login("admin")
    w.institution("alpha")
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("hohhot", "city", "150100")
    cid = w.ready_class("alpha", start=START, students=3)
    detail = w.open_class("alpha", cid, district="yuquan", city="hohhot")
    lesson_id, lecturer = detail["lessons"][0]["id"], detail["lecturers"][0]["user_id"]
    stay, leave, absent = sorted(s["id"] for s in detail["roster"])

    def at(minutes: float) -> datetime:
        return LESSON_START + timedelta(minutes=minutes)

    with svc.db.session() as s:
        log = RoomLog(s, lesson_id, LESSON_START)
        add = log.add
        log.opening(lecturer, (stay, leave))
        minute = 0.5
        while minute < 60:  # in time order, as the room writes them
            if minute == 30:
                add(30, "leave", leave, "student")
            add(minute, "face_check", stay, "student", verdict="match")
            if minute < 30:
                add(minute, "face_check", leave, "student", verdict="match")
            minute += 0.5
        add(60, "lesson_end", lecturer, "lecturer")
    return {"class_id": cid, "lesson_id": lesson_id, "stay": stay, "leave": leave, "absent": absent,
            "now": at(120)}  # before the afternoon lesson


def test_att2_the_class_report_has_every_student_in_every_lesson_held(svc, taught):
    with svc.db.session() as s:
        rows = class_attendance(s, taught["class_id"], svc.profiles, taught["now"])
    assert {r["lesson_id"] for r in rows} == {taught["lesson_id"]}  # later lessons have not started
    by_student = {r["student_user_id"]: r for r in rows}
    assert set(by_student) == {taught["stay"], taught["leave"], taught["absent"]}
    stay, leave, absent = (by_student[taught[k]] for k in ("stay", "leave", "absent"))
    assert (stay["study_minutes"], stay["live_minutes"], stay["meets_live_time_ATT3"]) == (60.0, 60.0, True)
    assert stay["attendance_rate"] == 1.0 and stay["meets_attendance_ATT4"]
    assert leave["study_minutes"] == 30.0 and leave["study_ratio"] == 0.5 and not leave["meets_live_time_ATT3"]
    assert absent["study_minutes"] == 0 and absent["checks_due"] == 0 and not absent["meets_attendance_ATT4"]
    with svc.db.session() as s, pytest.raises(UnknownClass):
        class_attendance(s, 987654, svc.profiles, taught["now"])


def test_qihang_attendance_prints_and_exports_csv(svc, taught, database, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database.url)
    monkeypatch.setenv("QIHANG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QIHANG_SECRET_KEY", TEST_KEY.hex())
    assert cli.main(["attendance", str(taught["class_id"])]) == 0
    printed = capsys.readouterr().out
    assert "ATT-3" in printed and "100%" in printed and "50%" in printed
    out = tmp_path / "att.csv"
    assert cli.main(["attendance", str(taught["class_id"]), "--csv", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    first = [r for r in rows if r["lesson_id"] == str(taught["lesson_id"])]  # the real clock: all lessons are past
    assert len(first) == 3 and {r["meets_live_time_ATT3"] for r in first} == {"True", "False"}
    assert all(r["live_minutes"] == "0.0" for r in rows if r not in first)  # never taught: nobody credited
    assert cli.main(["attendance", "987654"]) == 2
