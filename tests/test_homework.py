"""Homework (LIVE-7): set per lesson day by the class's lecturer, submitted on the phone (text, photo,
file), resubmitted before checking with history kept, checked by the lecturer or the student's own
assistant (redo reopens it), screened (LIVE-5) and counted in the ATT-9 daily summary
(SQLite and PostgreSQL)."""
from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select

from models import Base, ContentWarning, Enrolment, SensitiveWord, StoredFile, TrainingClass
from models.coursework import HomeworkSubmission
from models.db import alembic_config
from server.attendance.dailysummary import summarise
from server.coursework.homework import day_counts
from server.services import CHINA_TZ
from tests.world import docx, err, image, ok, OTHER_DISTRICT, TINY_PDF

MONDAY = datetime(2025, 9, 22, 2, 0, tzinfo=timezone.utc)  # 10:00 Beijing, three weeks before the class
TODAY = date(2025, 9, 22)
START = date(2025, 10, 13)  # lesson days 13–17 Oct
DUE = datetime(2025, 10, 13, 22, 0, tzinfo=CHINA_TZ)
PDF = TINY_PDF


@pytest.fixture
def town(world, client, clock, svc):
    """Yuquan: an SYB class of four at alpha with two assistant groups; a one-student class at beta."""
    clock.set(MONDAY)
    w = world
    w.institution("alpha")
    w.institution("beta", region=OTHER_DISTRICT)
    cid = w.ready_class("alpha", start=START, students=4, days=5, assistants=2)
    other = w.ready_class("beta", start=START, students=1, days=5)
    detail = ok(client.get(f"/api/classes/{cid}", headers=w.h("alpha_admin")))
    names = {v: k for k, v in w.ids.items()}
    lecturer = names[detail["lecturers"][0]["user_id"]]
    w.tokens[lecturer] = w.login(lecturer)
    w.lecturer("alpha", "outsider")
    w.tokens["outsider"] = w.login("outsider")
    with svc.db.session() as s:
        rows = s.execute(select(Enrolment.student_user_id, Enrolment.assistant_user_id)
                         .where(Enrolment.class_id == cid).order_by(Enrolment.student_user_id)).all()
        outsider_sid = s.scalars(select(Enrolment.student_user_id).where(Enrolment.class_id == other)).one()
    groups: dict[int, list[int]] = {}
    for sid, aid in rows:
        groups.setdefault(aid, []).append(sid)
    assistants = {}
    for aid in groups:
        assistants[aid] = names[aid]
        w.tokens[names[aid]] = w.login(names[aid])
    return {"w": w, "c": client, "cid": cid, "other": other, "lecturer": lecturer, "groups": groups,
            "assistants": assistants, "students": [r[0] for r in rows], "outsider_student": outsider_sid}


def set_hw(t, who=None, **over):
    body = {"lesson_day": str(START), "title": "市场调研", "instructions": "调查三家同类店铺并拍照",
            "due_at": DUE.isoformat(), **over}
    return t["c"].post(f"/api/classes/{t['cid']}/homework", headers=t["w"].h(who or t["lecturer"]), json=body)


def submit(t, hid, sid, text="我的调研结论", files=None):
    parts = dict(files or {})
    if text is not None:
        parts["text"] = (None, text.encode())  # a plain form field, always sent as multipart
    return t["c"].post(f"/api/homework/{hid}/submissions", headers=t["w"].h(f"student{sid}"), files=parts)


def test_live7_lecturer_sets_homework_for_a_lesson_day_and_others_may_not(town):
    t, c, w = town, town["c"], town["w"]
    hw = ok(set_hw(t), 201)
    assert (hw["lesson_day"], hw["title"], hw["due_at"]) == ("2025-10-13", "市场调研", DUE.isoformat())
    ok(set_hw(t, who="alpha_admin", title="第二天作业", lesson_day="2025-10-14",
                due_at="2025-10-15T22:00:00+08:00"), 201)
    e = err(set_hw(t, lesson_day="2025-10-20"), 422)  # no lesson that day
    assert (e["code"], e["field"], e["rule"]) == ("HOMEWORK_NOT_A_LESSON_DAY", "lesson_day", "LIVE-7")
    assert "2025-10-13" in e["details"]["lesson_days"]
    assert err(set_hw(t, due_at="2025-10-12T08:00:00+08:00"), 422)["code"] == "HOMEWORK_DUE_BEFORE_DAY"
    assert err(set_hw(t, who="outsider"), 403)["code"] == "HOMEWORK_NOT_CLASS_LECTURER"  # not this class's lecturer
    assert err(set_hw(t, who=next(iter(t["assistants"].values()))), 403)["code"] == "FORBIDDEN"
    assert err(set_hw(t, who="beta_admin"), 404)["code"] == "NOT_FOUND"
    assert err(set_hw(t, who=f"student{t['students'][0]}"), 403)["code"] == "FORBIDDEN"
    assert err(set_hw(t, title=""), 422)["field"] == "title"
    listed = ok(c.get(f"/api/classes/{t['cid']}/homework", headers=w.h(t["lecturer"])))
    assert listed["may_set"] and [h["title"] for h in listed["homework"]] == ["市场调研", "第二天作业"]
    assert listed["homework"][0]["not_submitted"] == 4


def test_live7_student_submits_text_photo_and_file_and_resubmits_before_checking(town):
    t, c, w = town, town["c"], town["w"]
    hid = ok(set_hw(t), 201)["id"]
    a, b = t["students"][:2]
    first = ok(submit(t, hid, a, files={"photo": ("cam.jpg", image(), "image/jpeg"),
                                        "file": ("report.pdf", PDF, "application/pdf"),
                                        "file2": ("notes.docx", docx(), "application/octet-stream")}), 201)
    assert first["version"] == 1 and first["status"] == "submitted" and not first["late"]
    kinds = [(x["type"], x["content_type"]) for x in first["attachments"]]
    assert kinds == [("photo", "image/jpeg"), ("pdf", "application/pdf"),
                     ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")]
    second = ok(submit(t, hid, a, text="修改后的结论"), 201)  # before checking: replaces, history kept
    assert second["version"] == 2
    detail = ok(c.get(f"/api/homework/{hid}", headers=w.h(t["lecturer"])))
    row = next(x for x in detail["students"] if x["student_id"] == a)
    assert row["status"] == "submitted" and row["current"]["text"] == "修改后的结论"
    assert [(h["version"], h["status"]) for h in row["history"]] == [(1, "superseded")]
    assert sorted(detail["not_submitted"]) == sorted(t["students"][1:])  # who has not submitted
    mine = ok(c.get(f"/api/homework/{hid}", headers=w.h(f"student{a}")))
    assert mine["my_status"] == "submitted" and [v["version"] for v in mine["versions"]] == [1, 2]
    assert ok(c.get(f"/api/me/homework", headers=w.h(f"student{b}")))["classes"][0]["homework"][0]["my_status"] \
        == "not_submitted"
    fid = first["attachments"][0]["file_id"]
    url = f"/api/homework-submissions/{first['id']}/files/{fid}"
    got = c.get(url, headers=w.h(f"student{a}"))
    assert got.status_code == 200 and got.content[:3] == b"\xff\xd8\xff"  # re-encoded JPEG
    assert c.get(url, headers=w.h(t["lecturer"])).status_code == 200
    assert c.get(url, headers=w.h(f"student{b}")).status_code == 404  # another student's work
    assert c.get(url, headers=w.h("beta_admin")).status_code == 404
    pdf = c.get(f"/api/homework-submissions/{first['id']}/files/{first['attachments'][1]['file_id']}",
                headers=w.h(t["lecturer"]))
    assert pdf.content == PDF


def test_live7_upload_refusals_by_content_size_and_class(town):
    t, w = town, town["w"]
    hid = ok(set_hw(t), 201)["id"]
    a = t["students"][0]
    e = err(submit(t, hid, a, files={"file": ("virus.pdf", b"MZ\x90\x00" + b"\0" * 100, "application/pdf")}), 415)
    assert (e["code"], e["field"], e["details"]["detected"]) == ("FILE_TYPE_NOT_ALLOWED", "file", None)
    e = err(submit(t, hid, a, files={"file": ("plan.docx", PDF, "application/pdf")}), 415)  # the name lies
    assert e["code"] == "FILE_TYPE_MISMATCH"
    e = err(submit(t, hid, a, files={"photo": ("scan.jpg", PDF, "image/jpeg")}), 415)  # a photo must be one
    assert e["code"] in ("FILE_TYPE_NOT_ALLOWED", "FILE_TYPE_MISMATCH")
    fake_zip = io.BytesIO()
    with zipfile.ZipFile(fake_zip, "w") as z:
        z.writestr("xl/workbook.xml", "<x/>")
    assert err(submit(t, hid, a, files={"file": ("s.docx", fake_zip.getvalue(), "x")}), 415)["code"] \
        == "FILE_TYPE_NOT_ALLOWED"
    e = err(submit(t, hid, a, files={"file": ("big.pdf", PDF + b"0" * (10 * 1024 * 1024), "application/pdf")}), 413)
    assert (e["code"], e["rule"]) == ("FILE_TOO_LARGE", "LIVE-7")
    assert err(submit(t, hid, a, text="  "), 422)["code"] == "HOMEWORK_EMPTY"
    e = err(submit(t, hid, a, files={"file": ("ok.pdf", PDF, "application/pdf"),  # a good file, then a bad photo
                                     "photo": ("tiny.jpg", image(50, 50), "image/jpeg")}), 422)
    assert (e["code"], e["field"], e["rule"]) == ("IMAGE_TOO_SMALL", "photo", "LIVE-7")
    assert err(submit(t, hid, a, files={"photo": ("p.jpg", b"\xff\xd8\xff" + b"0" * 50, "image/jpeg")}), 415)["code"] \
        == "IMAGE_FORMAT"  # JPEG magic, broken body: the photo code refuses it
    assert err(submit(t, hid, a, files={"video": ("v.pdf", PDF, "application/pdf")}), 422)["code"] == "UNKNOWN_FIELD"
    assert err(submit(t, hid, t["outsider_student"]), 404)["code"] == "NOT_FOUND"  # student of another class
    assert w.client.get(f"/api/classes/{t['cid']}/homework",
                        headers=w.h(f"student{t['outsider_student']}")).status_code == 404
    with t["w"].svc.db.session() as s:
        assert s.scalars(select(HomeworkSubmission)).all() == []  # nothing half-stored
        assert s.scalars(select(StoredFile).where(StoredFile.kind == "homework")).all() == []


def test_live7_checking_by_lecturer_and_own_assistant_only_and_redo_reopens(town):
    t, c, w = town, town["c"], town["w"]
    hid = ok(set_hw(t), 201)["id"]
    (a1, group1), (a2, group2) = list(t["groups"].items())
    mine, theirs = group1[0], group2[0]
    sub = ok(submit(t, hid, mine), 201)
    sub2 = ok(submit(t, hid, theirs), 201)

    def check(sid, who, mark="good", comment="不错"):
        return c.post(f"/api/homework-submissions/{sid}/check", headers=w.h(who),
                      json={"mark": mark, "comment": comment})

    e = err(check(sub2["id"], t["assistants"][a1]), 403)  # assistant of another group
    assert (e["code"], e["rule"]) == ("HOMEWORK_NOT_YOUR_GROUP", "LIVE-7")
    assert err(check(sub["id"], f"student{mine}"), 403)["code"] == "FORBIDDEN"
    assert err(check(sub["id"], "outsider"), 403)["code"] == "HOMEWORK_NOT_CHECKER"
    assert err(check(sub["id"], "beta_admin"), 404)["code"] == "NOT_FOUND"
    assert err(check(sub["id"], t["assistants"][a1], mark="A+"), 422)["field"] == "mark"
    done = ok(check(sub["id"], t["assistants"][a1]))
    assert (done["status"], done["mark"], done["mark_zh"], done["comment"]) == ("checked", "good", "良", "不错")
    assert err(check(sub["id"], t["lecturer"]), 409)["code"] == "HOMEWORK_NOT_CHECKABLE"
    assert err(submit(t, hid, mine), 409)["code"] == "HOMEWORK_ALREADY_CHECKED"  # final mark: no resubmission
    ok(check(sub2["id"], t["lecturer"], mark="redo", comment="请补充照片"))
    assert ok(c.get(f"/api/homework/{hid}", headers=w.h(f"student{theirs}")))["my_status"] == "redo"
    again = ok(submit(t, hid, theirs, files={"photo": ("p.png", image(fmt="PNG"), "image/png")}), 201)
    assert again["version"] == 2
    ok(check(again["id"], t["assistants"][a2], mark="pass"))
    # an assistant's lists show their own group
    listed = ok(c.get(f"/api/classes/{t['cid']}/homework", headers=w.h(t["assistants"][a2])))["homework"][0]
    assert (listed["students"], listed["checked"]) == (len(group2), 1)
    detail = ok(c.get(f"/api/homework/{hid}", headers=w.h(t["assistants"][a2])))
    assert {x["student_id"] for x in detail["students"]} == set(group2)


def test_live5_homework_text_is_screened_and_held_text_raises_a_warning(town, svc):
    t = town
    with svc.db.session() as s:
        s.add(SensitiveWord(word="赌博", category="illegal"))
    hid = ok(set_hw(t), 201)["id"]
    sub = ok(submit(t, hid, t["students"][0], text="我的项目是网上赌博平台"), 201)
    assert sub["screening_held"] is True
    clean = ok(submit(t, hid, t["students"][1], text="开一家面包店"), 201)
    assert clean["screening_held"] is False
    with svc.db.session() as s:
        (warn,) = s.scalars(select(ContentWarning)).all()
        assert (warn.source, warn.class_id, warn.user_id, warn.context["kind"]) == \
            ("upload", t["cid"], t["students"][0], "homework")


def test_att9_homework_counts_feed_the_daily_summary(town, svc, clock):
    t, c, w = town, town["c"], town["w"]
    hid = ok(set_hw(t), 201)["id"]
    ok(set_hw(t, title="第二份"), 201)
    a, b = t["students"][:2]
    ok(submit(t, hid, a), 201)
    ok(submit(t, hid, a, text="再交一次"), 201)
    sub = ok(submit(t, hid, b), 201)
    ok(c.post(f"/api/homework-submissions/{sub['id']}/check", headers=w.h(t["lecturer"]), json={"mark": "excellent"}))
    with svc.db.session() as s:
        assert day_counts(s, t["cid"], START) == {"set": 2, "submitted": 0, "checked": 0, "rule": "LIVE-7"}
        assert day_counts(s, t["cid"], TODAY) == {"set": 0, "submitted": 3, "checked": 1, "rule": "LIVE-7"}
        assert day_counts(s, t["other"], TODAY)["submitted"] == 0  # another class's work is not counted
        cls = s.get(TrainingClass, t["cid"])
        later = MONDAY + timedelta(days=1)
        f = summarise(s, cls, TODAY, svc.profiles[cls.profile], later)
        assert f["homework"] == {"set": 0, "submitted": 3, "checked": 1, "rule": "LIVE-7"}
        assert f["homework_note"]["en"].startswith("set:")
        quiet = summarise(s, cls, TODAY - timedelta(days=1), svc.profiles[cls.profile], later)
        assert quiet["homework"] is None and quiet["homework_note"]["zh"]  # nothing that day: no invented zeros


def test_migration_0013_matches_the_coursework_models_in_one_chain(database):
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diff if any(n in repr(d) for n in ("homework", "business_plans"))] == []
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_revision("0013").down_revision == "0012"


@pytest.mark.browser
def test_live7_exam2_phone_page_submit_check_and_plan_upload_in_a_real_browser(tmp_path):
    """The /coursework page in headless Chromium: a student hands in text and a photo from the phone,
    the lecturer checks it with a mark, the student sees the mark and uploads a business plan (PDF);
    no request leaves 127.0.0.1 (PLAT-2) and no script error."""
    from urllib.parse import urlsplit

    from tests.appserver import CHROMIUM, PHONE, region_world, serve, signed_in
    from tests.test_browser import CHROMIUM_ARGS

    def build(svc, app):
        w = region_world(svc, app)
        cid = w.ready_class("alpha", start=svc.today() + timedelta(days=21), students=1, days=5)
        detail = ok(w.client.get(f"/api/classes/{cid}", headers=w.h("alpha_admin")))
        names = {v: k for k, v in w.ids.items()}
        lecturer = names[detail["lecturers"][0]["user_id"]]
        day = detail["lessons"][0]["starts_at"][:10]
        hw = ok(w.client.post(f"/api/classes/{cid}/homework", headers=auth_of(w, lecturer), json={
            "lesson_day": day, "title": "拍一张店铺照片", "instructions": "拍摄并写出观察",
            "due_at": f"{day}T22:00:00+08:00"}), 201)
        sid = detail["roster"][0]["id"]
        return {"student": w.login(w.mobiles[sid]), "lecturer": w.login(lecturer), "hw": hw["id"], "cid": cid}

    def auth_of(w, name):
        return {"Authorization": f"Bearer {w.login(name)}"}

    photo = tmp_path / "shop.jpg"
    photo.write_bytes(image())
    plan = tmp_path / "plan.pdf"
    plan.write_bytes(PDF)
    from playwright.sync_api import expect, sync_playwright
    with serve(tmp_path / "site", build) as (base, svc, info), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        requests, errors = [], []

        def tab(token, **opts):
            ctx, page = signed_in(browser, token, requests, timezone_id="Asia/Shanghai", **opts)
            ctx.set_default_timeout(15_000)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + "/coursework")
            return page

        student = tab(info["student"], **PHONE)
        item = student.locator(f"[data-homework='{info['hw']}']")
        expect(item.locator("[data-status=not_submitted]")).to_be_visible()
        assert item.locator("input[name=photo]").get_attribute("capture") is not None
        item.locator("textarea[name=text]").fill("店铺位于社区入口，客流量大")
        item.locator("input[name=photo]").set_input_files(str(photo))
        item.locator("button[type=submit]").click()
        expect(item.locator("h3 [data-status=submitted]")).to_be_visible()

        lecturer = tab(info["lecturer"])
        lecturer.locator(f"[data-homework='{info['hw']}'] button").click()
        row = lecturer.locator("[data-testid=submissions] [data-student]")
        expect(row.locator("[data-status=submitted]")).to_be_visible()
        row.locator("select[name=mark]").select_option("excellent")
        row.locator("input[name=comment]").fill("观察细致")
        row.locator("form button").click()
        expect(row.locator("[data-status=checked]")).to_be_visible()

        student.reload()
        item = student.locator(f"[data-homework='{info['hw']}']")
        expect(item.locator("[data-status=checked]")).to_be_visible()
        expect(item.locator(".cw-comment")).to_contain_text("观察细致")
        student.locator("#plan-file").set_input_files(str(plan))
        student.locator("#plan-upload button[type=submit]").click()
        expect(student.locator("#my-plans [data-status=submitted]")).to_be_visible()
        browser.close()
    assert not errors, errors
    outside = [u for u in requests
               if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"]
    assert not outside
