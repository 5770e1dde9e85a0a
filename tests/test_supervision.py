"""Supervisor dashboards and table export (SUP-1/2/3, SUP-6, PLAT-3; issue 6 §4), on SQLite and PostgreSQL.

Region scoping (a district supervisor cannot see another district's class: 404 and absent from lists;
a city supervisor sees both), masking (no full ID number, mobile or name anywhere in the roster's JSON,
CSV or XLSX), lesson status and progress against a planned schedule, attendance equal to the
attendance page's, CSV / XLSX downloads that parse back to the same rows with a Chinese file name,
the formula-injection guard, audit rows for supervisor reads and exports, bad ``format`` → 422.
"""
from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime, timedelta, timezone
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook

from models import AuditLog, Lesson, StudentProfile
from server.export import Column, cell_value, content_disposition, to_csv, to_xlsx
from server.identity.resident_id import mask_resident_id
from server.supervision.dashboard import ClassTimes, lesson_status
from tests.roomlog import RoomLog
from tests.world import DISTRICT, err, ok, OTHER_DISTRICT

MONDAY = datetime(2025, 9, 22, 2, 0, tzinfo=timezone.utc)
START = date(2025, 10, 13)  # lessons 08:30–11:30 and 14:00–17:00 Beijing, 4 class-hours each, 7 days
FIRST = datetime(2025, 10, 13, 0, 30, tzinfo=timezone.utc)  # day 1, 08:30 Beijing
NOW = datetime(2025, 10, 15, 1, 0, tzinfo=timezone.utc)  # day 3, 09:00 Beijing: the 5th lesson is live
NAMES = ("欧阳娜娜", "李四", "王小明")
EVIL = '=HYPERLINK("http://evil.example/","点我")'


def relogin(w) -> None:
    """Sessions last 12 hours: after moving the clock, everyone logs in again."""
    for key in list(w.tokens):
        w.tokens[key] = w.login(w.mobiles[int(key[7:])] if key.startswith("student") else key)


def teach_first_lesson(svc, lesson_id: int, lecturer: int, a: int) -> None:
    """The lecturer is live for the first hour; student A is there, camera on, face matched every 30 s."""
    plan = [(0, "join", lecturer, "lecturer", {}), (0, "publish", lecturer, "lecturer", {"slot": "main"}),
            (0, "join", a, "student", {}), (0, "publish", a, "student", {"slot": "camera"})]
    plan += [(m / 2, "face_check", a, "student", {"verdict": "match", "distance": 0.3}) for m in range(1, 120)]
    plan += [(60, "leave", a, "student", {}), (60, "leave", lecturer, "lecturer", {})]
    with svc.db.session() as s:
        RoomLog(s, lesson_id, FIRST).write(plan)


@pytest.fixture
def town(world, clock, svc, client):
    """Hohhot: institution alpha in Yuquan (DISTRICT) runs an open SYB class of three; the first lesson
    was taught for an hour, the second held offline, day 2's two live lessons had no lecturer, day 3's
    morning lesson is live now. Institution beta in Saihan (OTHER_DISTRICT) has a class approved by its
    district only. Supervisors of both districts and of the city."""
    clock.set(MONDAY)
    w = world
    w.institution("alpha")
    w.institution("beta", region=OTHER_DISTRICT)
    w.supervisor("yuquan", "district", DISTRICT)
    w.supervisor("saihan", "district", OTHER_DISTRICT)
    w.supervisor("hohhot", "city", "150100")
    cid = w.ready_class("alpha", start=START, students=3)
    detail = w.open_class("alpha", cid, district="yuquan", city="hohhot")
    other = w.ready_class("beta", start=START, students=2)
    for who, action in (("beta_admin", "submit"), ("saihan", "approve")):
        ok(client.post(f"/api/classes/{other}/transitions", headers=w.h(who), json={"action": action}))
    students = sorted(x["id"] for x in detail["roster"])
    lessons = detail["lessons"]
    with svc.db.session() as s:
        for uid, name in zip(students, NAMES):
            s.get(StudentProfile, uid).real_name = name
        s.get(Lesson, lessons[1]["id"]).mode = "offline"  # nobody signed in: held, everyone absent
        s.get(Lesson, lessons[5]["id"]).title = EVIL
        secrets = {p.user_id: (svc.cipher.decrypt(p.id_encrypted, context="resident-id").decode(), p.mobile)
                   for p in s.query(StudentProfile)}
    teach_first_lesson(svc, lessons[0]["id"], detail["lecturers"][0]["user_id"], students[0])
    clock.set(NOW)
    relogin(w)
    return {"w": w, "cid": cid, "other": other, "students": students, "lessons": lessons, "secrets": secrets,
            "detail": detail}


def get(client, w, who: str, path: str, **params):
    return client.get(path, headers=w.h(who), params=params)


def rows_of(table: dict) -> list[list]:
    """A JSON table's rows as they go into a file (server/export.cell_value)."""
    keys = [c["key"] for c in table["columns"]]
    return [[cell_value(item.get(k)) for k in keys] for item in table["items"]]


def headers_of(table: dict) -> list[str]:
    return [f"{c['zh']} {c['en']}" for c in table["columns"]]


def parse_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the Chinese right
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def parse_xlsx(data: bytes) -> list[list]:
    ws = load_workbook(io.BytesIO(data)).active
    return [["" if v is None else v for v in row] for row in ws.iter_rows(values_only=True)]


def xlsx_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())


# --------------------------------------------------------------------------- region scoping (SUP-1, PLAT-3)

def test_sup1_district_supervisor_cannot_see_another_districts_class(town, client):
    w, cid, other = town["w"], town["cid"], town["other"]
    listed = ok(get(client, w, "yuquan", "/api/supervision/classes"))
    assert [r["id"] for r in listed["items"]] == [cid]
    insts = ok(get(client, w, "yuquan", "/api/supervision/institutions"))
    assert [i["name"] for i in insts["items"]] == ["alpha 培训学校"]
    for tail in ("", "/roster", "/teachers", "/lessons", "/attendance"):
        err(get(client, w, "yuquan", f"/api/supervision/classes/{other}{tail}"), 404)
        if tail:
            err(get(client, w, "yuquan", f"/api/supervision/classes/{other}{tail}", format="csv"), 404)
    assert ok(get(client, w, "yuquan", "/api/supervision/classes", institution_id=w.ids["beta"]))["items"] == []
    over = ok(get(client, w, "yuquan", "/api/supervision/overview"))
    assert over["scope"]["region_level"] == "district" and over["scope"]["region_prefix"] == DISTRICT
    assert over["classes"]["total"] == 1 and over["institutions"]["total"] == 1 and over["students_enrolled"] == 3
    # the other district's supervisor sees only theirs
    assert [r["id"] for r in ok(get(client, w, "saihan", "/api/supervision/classes"))["items"]] == [other]
    err(get(client, w, "saihan", f"/api/supervision/classes/{cid}/roster"), 404)


def test_sup1_city_supervisor_sees_both_districts(town, client):
    w, cid, other = town["w"], town["cid"], town["other"]
    listed = ok(get(client, w, "hohhot", "/api/supervision/classes"))
    assert {r["id"] for r in listed["items"]} == {cid, other}
    assert {r["district_code"] for r in listed["items"]} == {DISTRICT, OTHER_DISTRICT}
    insts = ok(get(client, w, "hohhot", "/api/supervision/institutions"))
    assert {i["id"] for i in insts["items"]} == {w.ids["alpha"], w.ids["beta"]}
    for c in (cid, other):
        assert ok(get(client, w, "hohhot", f"/api/supervision/classes/{c}"))["class"]["id"] == c
    over = ok(get(client, w, "hohhot", "/api/supervision/overview"))
    assert over["classes"]["total"] == 2 and over["classes"]["by_status"] == {"open": 1, "district_approved": 1}
    assert over["students_enrolled"] == 3  # beta's class never opened: its students are not counted yet


def test_plat3_institution_admins_see_their_own_and_other_roles_are_refused(town, client):
    w, cid, other = town["w"], town["cid"], town["other"]
    assert [r["id"] for r in ok(get(client, w, "alpha_admin", "/api/supervision/classes"))["items"]] == [cid]
    err(get(client, w, "alpha_admin", f"/api/supervision/classes/{other}"), 404)
    assert ok(get(client, w, "admin", f"/api/supervision/classes/{other}/roster"))["items"]
    student = f"student{town['students'][0]}"
    err(get(client, w, student, "/api/supervision/overview"), 403)
    err(client.get("/api/supervision/classes"), 401)
    err(get(client, w, "yuquan", f"/api/supervision/classes/{2**40}"), 404)


# --------------------------------------------------------------------------- masking (PLAT-3, SUB-3)

def test_plat3_roster_is_masked_in_json_csv_and_xlsx(town, client):
    w, cid = town["w"], town["cid"]
    roster = ok(get(client, w, "yuquan", f"/api/supervision/classes/{cid}/roster"))
    detail = get(client, w, "yuquan", f"/api/supervision/classes/{cid}")
    csv_data = get(client, w, "yuquan", f"/api/supervision/classes/{cid}/roster", format="csv").content
    xlsx_data = get(client, w, "yuquan", f"/api/supervision/classes/{cid}/roster", format="xlsx").content
    student_att = get(client, w, "yuquan", f"/api/supervision/classes/{cid}/attendance", format="csv").content
    texts = {"json": str(roster), "detail": detail.text, "csv": csv_data.decode("utf-8-sig"),
             "xlsx": xlsx_text(xlsx_data) + str(parse_xlsx(xlsx_data)), "attendance": student_att.decode("utf-8-sig")}
    mine = [town["secrets"][sid] for sid in town["students"]]
    assert len(mine) == 3
    for where, text in texts.items():
        for id_number, mobile in mine:
            assert id_number not in text and mobile not in text, where
            assert id_number[6:14] not in text, where  # nor the birth date, which unmasks most digits
        for name in NAMES:
            assert name not in text, where
    by_id = {r["student_id"]: r for r in roster["items"]}
    for sid, (id_number, mobile) in zip(town["students"], mine):
        assert by_id[sid]["id_number_masked"] == mask_resident_id(id_number)
        assert by_id[sid]["mobile_masked"] == mobile[:3] + "****" + mobile[-4:]
    assert sorted(r["name_masked"] for r in roster["items"]) == sorted(["欧**娜", "李*", "王*明"])


# --------------------------------------------------------------------------- schedule and progress (SUP-2)

def test_sup2_lesson_status_and_progress_against_the_planned_schedule(town, client):
    w, cid, lessons = town["w"], town["cid"], town["lessons"]
    got = ok(get(client, w, "yuquan", f"/api/supervision/classes/{cid}/lessons"))
    status = [r["status"] for r in got["items"]]
    assert status == ["done", "done", "not_held", "not_held", "live"] + ["planned"] * 9
    assert [r["status_reason"] for r in got["items"][2:4]] == ["no_lecturer_live"] * 2
    assert got["items"][0]["lecturer_live_minutes"] == 60.0
    assert got["items"][4]["room_open"] and not got["items"][3]["room_open"]
    p = got["progress"]
    assert p["basis"] == "lesson_log" and p["hours_planned"] == 56 and p["required_hours_CLS4"] == 56
    assert (p["hours_delivered"], p["hours_not_held"], p["hours_elapsed"], p["hours_now"], p["hours_remaining"]) \
        == (8, 8, 16, 4, 36)
    assert p["delivered_share"] == round(8 / 56, 4)
    # the list goes by the schedule; the live lesson is offered to spectators (SUP-4)
    row = ok(get(client, w, "hohhot", "/api/supervision/classes", live_now="true"))["items"]
    assert [r["id"] for r in row] == [cid]
    assert row[0]["hours_planned"] == 56 and row[0]["hours_elapsed"] == 16
    assert row[0]["live_lesson_id"] == row[0]["spectate_lesson_id"] == lessons[4]["id"]
    beta = ok(get(client, w, "hohhot", "/api/supervision/classes", live_now="false"))["items"]
    assert [r["id"] for r in beta] == [town["other"]] and beta[0]["hours_elapsed"] == 16  # ended, never held
    beta_lessons = ok(get(client, w, "hohhot", f"/api/supervision/classes/{town['other']}/lessons"))
    assert {r["status_reason"] for r in beta_lessons["items"][:5]} == {"class_not_open"}
    assert (beta_lessons["progress"]["hours_delivered"], beta_lessons["progress"]["hours_not_held"],
            beta_lessons["progress"]["hours_elapsed"]) == (0, 20, 16)  # the current one cannot be held either
    over = ok(get(client, w, "hohhot", "/api/supervision/overview"))
    assert over["live_now"]["classes"] == 1 and over["live_now"]["items"][0]["spectate_lesson_id"] == lessons[4]["id"]
    assert over["lessons_today"] == 2


def test_sup2_lesson_status_rules():
    class L:  # a lesson as lesson_status reads it
        def __init__(self, start, mode="live"):
            self.starts_at, self.ends_at, self.mode, self.class_hours = start, start + timedelta(hours=3), mode, 4
    t0 = FIRST
    opened = ClassTimes(opened_at=t0 - timedelta(days=3))
    assert lesson_status("open", opened, L(t0), t0 - timedelta(minutes=1)) == ("planned", None)
    assert lesson_status("open", opened, L(t0), t0) == ("live", None)
    assert lesson_status("in_progress", opened, L(t0, "offline"), t0 + timedelta(hours=1)) == ("in_progress", None)
    assert lesson_status("open", opened, L(t0), t0 + timedelta(hours=4)) == ("done", None)  # schedule only
    assert lesson_status("open", opened, L(t0), t0 + timedelta(hours=4), timedelta(0)) \
        == ("not_held", "no_lecturer_live")
    assert lesson_status("rejected", ClassTimes(), L(t0), t0 + timedelta(hours=4)) == ("not_held", "class_not_open")
    late = ClassTimes(opened_at=t0 + timedelta(days=1))  # opened only after the lesson
    assert lesson_status("open", late, L(t0), t0 + timedelta(days=2)) == ("not_held", "class_not_open")
    done = ClassTimes(opened_at=opened.opened_at, finished_at=t0 + timedelta(days=1))
    assert lesson_status("finished", done, L(t0 + timedelta(days=2)), t0 + timedelta(days=3)) \
        == ("cancelled", "class_finished")
    assert lesson_status("finished", done, L(t0), t0 + timedelta(days=3), timedelta(minutes=50)) == ("done", None)


# --------------------------------------------------------------------------- attendance, teachers, exams (SUP-1/3)

def test_sup1_attendance_equals_the_attendance_page_and_counts_each_lesson(town, client):
    w, cid, (a, b, c) = town["w"], town["cid"], town["students"]
    page = {r["student_id"]: r for r in ok(get(client, w, "yuquan", f"/api/classes/{cid}/attendance"))["items"]}
    mine = ok(get(client, w, "yuquan", f"/api/supervision/classes/{cid}/attendance"))
    assert len(mine["items"]) == 3
    for r in mine["items"]:
        same = page[r["student_id"]]
        for k in ("study_seconds", "live_seconds", "study_ratio", "meets_live_time_ATT3", "checks_passed",
                  "checks_due", "attendance_rate", "meets_attendance_ATT4", "absences", "leaves", "barred_from_exam"):
            assert r[k] == same[k], k
        assert r["timeline_url"] == f"/attendance?class={cid}&student={r['student_id']}"
    by = {r["student_id"]: r for r in mine["items"]}
    assert by[a]["study_seconds"] == 3600 and by[b]["study_seconds"] == 0
    assert (by[a]["checks_passed"], by[a]["checks_due"]) == (119, 120)  # + the offline lesson's missed sign-in
    per = ok(get(client, w, "yuquan", f"/api/supervision/classes/{cid}/attendance", view="lessons"))["items"]
    assert [(r["present"], r["absent"], r["leave"]) for r in per[:4]] == [(1, 2, 0), (0, 3, 0), (0, 0, 0), (0, 0, 0)]
    assert per[0]["meets_live_time_ATT3"] == 1 and per[0]["lecturer_live_minutes"] == 60.0
    assert per[4]["status"] == "live" and per[5]["started"] is False and per[5]["present"] is None
    detail = ok(get(client, w, "yuquan", f"/api/supervision/classes/{cid}"))
    assert detail["attendance"]["students"]["items"] == mine["items"]
    assert detail["attendance"]["lessons_started"] == 5


def test_sup1_teachers_with_certificates_and_sup3_exam_and_certificate_tables(town, client):
    w, cid = town["w"], town["cid"]
    detail = ok(get(client, w, "yuquan", f"/api/supervision/classes/{cid}"))
    people = detail["teachers"]["items"]
    lecturers = [p for p in people if p["role"] in ("lead", "lecturer")]
    assert len(lecturers) == 2 and sum(p["is_lead"] for p in lecturers) == 1
    for p in lecturers:
        assert p["certificate_no"] == f"CERT-{p['name']}" and p["certificate_kind"] == "syb"
        assert p["issuer"] == "人社厅" and p["valid_today"] and p["valid_for_class"]
    (assistant,) = [p for p in people if p["role"] == "assistant"]
    assert assistant["students"] == 3 and assistant["is_head_teacher"] and assistant["certificate_no"] is None
    # no paper drawn and no certificate issued yet in this running class: empty tables, not made-up rows
    assert [c["key"] for c in detail["exams"]["columns"]][:2] == ["title", "questions"]
    assert [c["key"] for c in detail["certificates"]["columns"]][:2] == ["number", "name_masked"]
    assert all(detail[k]["available"] is True and detail[k]["items"] == [] for k in ("exams", "certificates"))
    assert detail["class"]["students"] == 3 and detail["spectate_lesson_id"] == town["lessons"][4]["id"]


# --------------------------------------------------------------------------- export (PLAT-3)

@pytest.mark.parametrize("path,params,zh", [
    ("roster", {}, "花名册"), ("lessons", {}, "课表"), ("teachers", {}, "师资"),
    ("attendance", {}, "学员考勤"), ("attendance", {"view": "lessons"}, "课次考勤")])
def test_exports_parse_back_to_the_same_rows(town, client, path, params, zh):
    w, cid = town["w"], town["cid"]
    url = f"/api/supervision/classes/{cid}/{path}"
    table = ok(get(client, w, "yuquan", url, **params))
    assert table["items"]
    want = [headers_of(table)] + rows_of(table)
    resp = get(client, w, "yuquan", url, format="csv", **params)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    disposition = resp.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=\"") and "filename*=UTF-8''" in disposition
    name = unquote(disposition.split("filename*=UTF-8''")[1])
    assert name.startswith(f"{zh}-SYB") and name.endswith(".csv")
    assert parse_csv(resp.content) == [[str(v) for v in row] for row in want]
    resp = get(client, w, "yuquan", url, format="xlsx", **params)
    assert resp.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert unquote(resp.headers["content-disposition"].split("filename*=UTF-8''")[1]).endswith(".xlsx")
    assert parse_xlsx(resp.content) == want


def test_exports_of_region_lists(town, client):
    w = town["w"]
    for path in ("classes", "institutions"):
        table = ok(get(client, w, "hohhot", f"/api/supervision/{path}"))
        want = [headers_of(table)] + rows_of(table)
        assert parse_csv(get(client, w, "hohhot", f"/api/supervision/{path}", format="csv").content) \
            == [[str(v) for v in row] for row in want]
        assert parse_xlsx(get(client, w, "hohhot", f"/api/supervision/{path}", format="xlsx").content) == want


def test_plat3_formula_injection_is_guarded_in_csv_and_xlsx(town, client):
    cols = [Column("a", "甲", "A"), Column("n", "数", "N", "int")]
    rows = [{"a": "=1+2", "n": -5}, {"a": "+cmd|' /C calc'!A0", "n": 1.5}, {"a": "-2+3", "n": 0},
            {"a": "@SUM(A1)", "n": None}, {"a": "\t=x", "n": True}, {"a": "a=b", "n": 7}]
    got = parse_csv(to_csv(rows, cols))[1:]
    assert [r[0] for r in got] == ["'=1+2", "'+cmd|' /C calc'!A0", "'-2+3", "'@SUM(A1)", "'\t=x", "a=b"]
    assert [r[1] for r in got] == ["-5", "1.5", "0", "", "是", "7"]  # numbers are never prefixed
    ws = load_workbook(io.BytesIO(to_xlsx(rows, cols))).active
    assert [ws.cell(row=i, column=1).data_type for i in range(2, 8)] == ["s"] * 6  # no formula cells
    assert ws["A2"].value == "'=1+2" and ws["B2"].value == -5
    # end to end: an institution's lesson title cannot run in the supervisor's spreadsheet
    w, cid = town["w"], town["cid"]
    lessons = parse_csv(get(client, w, "yuquan", f"/api/supervision/classes/{cid}/lessons", format="csv").content)
    assert "'" + EVIL in [r[1] for r in lessons]
    sheet = parse_xlsx(get(client, w, "yuquan", f"/api/supervision/classes/{cid}/lessons", format="xlsx").content)
    assert "'" + EVIL in [r[1] for r in sheet]
    assert 'filename*=UTF-8\'\'%E8%8A%B1' in content_disposition("花名册.csv", "roster.csv")


# --------------------------------------------------------------------------- records and refusals (SUP-6)

def test_sup6_supervisor_reads_and_exports_are_audited(town, client, svc):
    w, cid = town["w"], town["cid"]
    with svc.db.session() as s:
        before = s.query(AuditLog).count()
    ok(get(client, w, "yuquan", f"/api/supervision/classes/{cid}"))
    get(client, w, "yuquan", f"/api/supervision/classes/{cid}/roster", format="xlsx")
    get(client, w, "alpha_admin", f"/api/supervision/classes/{cid}/roster", format="csv")
    with svc.db.session() as s:
        rows = s.query(AuditLog).order_by(AuditLog.id).all()[before:]
        got = [(r.action, r.actor_user_id, r.target_id, r.region_code, r.detail) for r in rows]
    yuquan = w.ids["yuquan"]
    reads = [g for g in got if g[0] == "supervisor.read"]
    assert [(g[1], g[2]) for g in reads] == [(yuquan, f"/api/supervision/classes/{cid}"),
                                              (yuquan, f"/api/supervision/classes/{cid}/roster")]
    assert reads[1][4]["query"] == "format=xlsx" and reads[0][3] == DISTRICT
    exports = [g for g in got if g[0] == "supervision.export"]
    assert [(g[4]["format"], g[4]["rows"], g[4]["table"]) for g in exports] == [("xlsx", 3, "roster"),
                                                                               ("csv", 3, "roster")]
    assert exports[0][1] == yuquan and exports[1][1] not in (None, yuquan)  # the institution admin's, too
    assert all(g[2] == str(cid) and g[3] == DISTRICT for g in exports)


def test_bad_format_and_filters_are_422_naming_the_field(town, client):
    w, cid = town["w"], town["cid"]
    e = err(get(client, w, "yuquan", f"/api/supervision/classes/{cid}/roster", format="pdf"), 422)
    assert e["field"] == "format" and e["code"] == "VALIDATION_FAILED"
    assert err(get(client, w, "yuquan", "/api/supervision/classes", format="xls"), 422)["field"] == "format"
    assert err(get(client, w, "yuquan", "/api/supervision/classes", status="flying"), 422)["field"] == "status"
    assert err(get(client, w, "yuquan", "/api/supervision/classes", live_now="maybe"), 422)["field"] == "live_now"
    bad_view = get(client, w, "yuquan", f"/api/supervision/classes/{cid}/attendance", view="days")
    assert err(bad_view, 422)["field"] == "view"
