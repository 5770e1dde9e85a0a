"""ATT-9 daily summary: per class, the previous China day's lessons and class-hours planned vs delivered,
half-day sign-ins/outs (ATT-7), study minutes, Q&A / chat / hand raises, content warnings (LIVE-5) and no
invented homework; written once per (class, day) by the morning scheduler (after 06:00 China time) or a
catch-up build; read by supervisors within their region (SUP-1), staff within their institution
(SQLite and PostgreSQL)."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import types
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from models import AuditLog, ContentWarning, DailySummary, LeaveLesson, LeaveRequest, Lesson, TrainingClass
from server.attendance import offline
from server.attendance.dailyscheduler import DailySummaryScheduler, due_days
from server.attendance.dailysummary import build_day, summarise
from tests.roomlog import RoomLog
from tests.world import err, ok, OTHER_DISTRICT

MONDAY = datetime(2025, 9, 22, 2, 0, tzinfo=timezone.utc)  # planning time: three weeks ahead of the class
DAY1, DAY2 = date(2025, 10, 13), date(2025, 10, 14)  # lessons 08:30–11:30 and 14:00–17:00 Beijing
AM1 = datetime(2025, 10, 13, 0, 30, tzinfo=timezone.utc)
PM1 = datetime(2025, 10, 13, 6, 0, tzinfo=timezone.utc)
AM2 = datetime(2025, 10, 14, 0, 30, tzinfo=timezone.utc)
PM2 = datetime(2025, 10, 14, 6, 0, tzinfo=timezone.utc)
BEFORE_SIX = datetime(2025, 10, 13, 21, 59, tzinfo=timezone.utc)  # 14 Oct, 05:59 Beijing
AFTER_SIX = datetime(2025, 10, 13, 22, 1, tzinfo=timezone.utc)  # 14 Oct, 06:01 Beijing


def relogin(w) -> None:
    """Sessions last 12 hours: after moving the clock, everyone logs in again."""
    for key in list(w.tokens):
        w.tokens[key] = w.login(w.mobiles[int(key[7:])] if key.startswith("student") else key)


def write(svc, lesson_id: int, start: datetime, plan: list[tuple]) -> dict[str, int]:
    """Append (minute, kind, user, role, payload) events in time order; the ids of those with a ``tag``."""
    ids = {}
    with svc.db.session() as s:
        log = RoomLog(s, lesson_id, start)
        for minute, kind, uid, role, payload in sorted(plan, key=lambda e: e[0]):
            payload = dict(payload)
            tag = payload.pop("tag", None)
            if "question_id" in payload:
                payload["question_id"] = ids[payload["question_id"]]
            ev = log.add(minute, kind, uid, role, **payload)
            if tag:
                ids[tag] = ev.id
    return ids


def present(uid: int, start: int, end: int, *, leave: bool = True) -> list[tuple]:
    """A student in the room from ``start`` to ``end`` (minutes), camera on, face matched every minute."""
    out = [(start, "join", uid, "student", {}), (start, "publish", uid, "student", {"slot": "camera"})]
    out += [(m, "face_check", uid, "student", {"verdict": "match"}) for m in range(start + 1, end)]
    return out + ([(end, "leave", uid, "student", {})] if leave else [])


def teach_day1(svc, lessons: list[dict], lecturer: int, a: int, b: int) -> None:
    """13 October. Morning: the lecturer live 08:30–11:30 (all 180 min); A there throughout, B 60–120;
    A and B each ask a question, the lecturer answers A's; two chat messages, one hand raised.
    Afternoon: the lecturer stops after 90 of 180 minutes; A there those 90. C never comes."""
    lecturer_on = [(0, "join", lecturer, "lecturer", {}), (0, "publish", lecturer, "lecturer", {"slot": "main"})]
    write(svc, lessons[0]["id"], AM1, lecturer_on + present(a, 0, 180, leave=False) + present(b, 60, 120) + [
        (5, "chat", a, "student", {"text": "老师好"}), (6, "chat", lecturer, "lecturer", {"text": "大家好"}),
        (10, "question", a, "student", {"text": "营业执照怎么办？", "tag": "qa"}),
        (12, "answer", lecturer, "lecturer", {"text": "在政务网办理", "question_id": "qa"}),
        (70, "question", b, "student", {"text": "贷款额度多少？"}),
        (80, "hand_raise", b, "student", {}), (81, "hand_lower", b, "student", {}),
        (180, "lesson_end", lecturer, "lecturer", {})])
    write(svc, lessons[1]["id"], PM1, lecturer_on + present(a, 0, 90, leave=False) + [
        (90, "unpublish", lecturer, "lecturer", {"slot": "main"}), (90, "lesson_end", lecturer, "lecturer", {})])


@pytest.fixture
def town(world, client, clock, svc):
    """Hohhot: alpha's SYB class of three (A, B, C) in Yuquan (150104) taught on 13 October
    (``teach_day1``), C on approved leave for the morning, one content warning that day and one the next;
    beta's class of one in Saihan (150105), its lessons on the same days, nothing happening in them.
    Supervisors of both districts and of the city."""
    clock.set(MONDAY)
    w = world
    w.institution("alpha")
    w.institution("beta", region=OTHER_DISTRICT)
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("saihan", "district", OTHER_DISTRICT)
    w.supervisor("hohhot", "city", "150100")
    cid = w.ready_class("alpha", start=DAY1, students=3)
    detail = w.open_class("alpha", cid, district="yuquan", city="hohhot")
    other = w.ready_class("beta", start=DAY1, students=1)
    w.open_class("beta", other, district="saihan", city="hohhot")
    a, b, c = sorted(x["id"] for x in detail["roster"])
    lecturer = detail["lecturers"][0]["user_id"]
    lessons = detail["lessons"]
    teach_day1(svc, lessons, lecturer, a, b)
    with svc.db.session() as s:
        leave = LeaveRequest(class_id=cid, student_user_id=c, reason="生病", status="approved",
                             first_starts_at=AM1, class_hours=4, requested_at=MONDAY)
        leave.lessons.append(LeaveLesson(lesson_id=lessons[0]["id"]))
        s.add(leave)
        for at in (AM1 + timedelta(minutes=90), AM2 + timedelta(minutes=30)):
            s.add(ContentWarning(at=at, source="chat", lesson_id=lessons[0]["id"], class_id=cid,
                                 institution_id=w.ids["alpha"], district_code="150104", user_id=a, text="违规词",
                                 matches=[], context={}, status="open"))
    return {"w": w, "cid": cid, "other": other, "a": a, "b": b, "c": c, "lessons": lessons, "lecturer": lecturer}


@pytest.fixture
def outbox(monkeypatch):
    """Stands in for server/webhooks/outbox.py and records what it is handed."""
    calls: list[dict] = []
    fake = types.ModuleType("server.webhooks.outbox")

    def emit(s, event_type, payload, *, institution_id=None, district_code=None, now=None):
        calls.append({"type": event_type, "payload": payload, "institution_id": institution_id,
                      "district_code": district_code, "now": now})
    fake.emit = emit
    monkeypatch.setitem(sys.modules, "server.webhooks.outbox", fake)
    return calls


def figures_of(svc, cid: int, day: date, now: datetime, profile=None) -> dict:
    with svc.db.session() as s:
        cls = s.get(TrainingClass, cid)
        return summarise(s, cls, day, profile if profile is not None else svc.profiles[cls.profile], now)


def test_att9_summary_figures_are_exact(town, svc):
    f = figures_of(svc, town["cid"], DAY1, AFTER_SIX)
    a, b, c = town["a"], town["b"], town["c"]
    assert f["rule"] == "ATT-9" and f["day"] == "2025-10-13" and f["class_id"] == town["cid"]
    # planned 2 × 4 class-hours; delivered 4 (lecturer live 180 of 180 min) + 2 (90 of 180)
    les = f["lessons"]
    assert (les["planned"], les["held"], les["class_hours_planned"], les["class_hours_delivered"]) == (2, 2, 8, 6.0)
    assert [(i["lecturer_live_minutes"], i["scheduled_minutes"], i["held"], i["class_hours_delivered"])
            for i in les["items"]] == [(180.0, 180.0, True, 4.0), (90.0, 180.0, True, 2.0)]
    assert f["students"] == {"enrolled": 3, "signed_in": 2, "no_sign_in": 1, "no_sign_in_on_leave": 1,
                             "on_leave": 1, "no_sign_in_ids": [c]}
    assert f["halves"] == {"am": {"lessons": 1, "signed_in": 2, "signed_out": 2, "not_signed_in": 1},
                           "pm": {"lessons": 1, "signed_in": 1, "signed_out": 1, "not_signed_in": 2}}
    # A 180 + 90, B 60, C 0 minutes of credited live study; 360 planned each
    assert f["study"] == {"planned_minutes_per_student": 360.0, "total_minutes": 330.0, "average_minutes": 110.0,
                          "daily_threshold_ATT7": None, "students_meeting_ATT7": None}
    assert f["qa"] == {"questions": 2, "answered": 1, "unanswered": 1, "answers": 1}
    assert f["chat_messages"] == 2 and f["hand_raises"] == 1 and f["private_messages"] == 0
    assert f["homework"] is None and f["homework_note"]["zh"] and f["homework_note"]["en"]  # later issue
    assert f["content_warnings"] == {"total": 1, "open": 1, "reviewed": 0, "rule": "LIVE-5"}  # not the next day's
    assert {a, b} & set(f["students"]["no_sign_in_ids"]) == set()


def test_att9_daily_study_share_is_inclusive_where_the_region_sets_one(town, svc):
    profile = types.SimpleNamespace(live_time_threshold=0.8, attendance_threshold=0.8, daily_study_threshold=0.75)
    f = figures_of(svc, town["cid"], DAY1, AFTER_SIX, profile)
    assert f["study"]["daily_threshold_ATT7"] == 0.75
    assert f["study"]["students_meeting_ATT7"] == 1  # A: 270 of 360 minutes, exactly 75 %


def test_att9_lessons_not_held_deliver_nothing_and_offline_ones_count_when_signed_into(town, svc):
    """14 October: the morning lecturer never comes (not held, 0 hours); the afternoon is held offline
    and A signs in at the venue (held, its 4 planned hours; A's sign-in and sign-out are ATT-6's)."""
    lessons, a = town["lessons"], town["a"]
    with svc.db.session() as s:
        s.get(Lesson, lessons[3]["id"]).mode = "offline"
    write(svc, lessons[2]["id"], AM2, present(a, 0, 30))
    write(svc, lessons[3]["id"], PM2, [
        (m, offline.KIND, a, "student", {"action": act, "accepted": True, "reason": None, "verdict": "match"})
        for m, act in ((0, "sign_in"), (170, "sign_out"))])
    f = figures_of(svc, town["cid"], DAY2, PM2 + timedelta(hours=6))
    les = f["lessons"]
    assert [(i["mode"], i["held"], i["class_hours_delivered"]) for i in les["items"]] == [
        ("live", False, 0.0), ("offline", True, 4.0)]
    assert (les["held"], les["class_hours_delivered"]) == (1, 4.0)
    assert f["halves"]["pm"]["signed_in"] == 1 and f["halves"]["pm"]["signed_out"] == 1
    assert f["halves"]["am"]["signed_in"] == 1  # A's face matched in the room, lecturer or not
    assert f["content_warnings"]["total"] == 1 and f["qa"]["questions"] == 0


def test_att9_build_day_writes_each_class_once(town, svc, outbox):
    with svc.db.session() as s:
        first = build_day(s, DAY1, AFTER_SIX, svc.profiles)
        made = sorted((r.class_id, r.district_code) for r in first)
    assert made == sorted([(town["cid"], "150104"), (town["other"], OTHER_DISTRICT)])
    with svc.db.session() as s:
        assert build_day(s, DAY1, AFTER_SIX + timedelta(hours=3), svc.profiles) == []  # idempotent
        rows = list(s.scalars(select(DailySummary).where(DailySummary.day == DAY1)))
    assert len(rows) == 2 and all(r.created_at == AFTER_SIX for r in rows)  # kept as first written
    assert sorted(c["payload"]["class_id"] for c in outbox) == sorted([town["cid"], town["other"]])
    hook = next(c for c in outbox if c["payload"]["class_id"] == town["cid"])
    assert hook["type"] == "daily_summary" and hook["payload"]["day"] == "2025-10-13"
    assert hook["district_code"] == "150104" and hook["now"] == AFTER_SIX
    assert hook["payload"]["figures"]["qa"]["questions"] == 2 and hook["payload"]["class_name"]


def test_att9_build_day_loses_a_race_quietly(town, svc, monkeypatch):
    """Another node writes the (class, day) row while we compute it: the unique constraint refuses ours,
    the savepoint keeps our transaction, the other class is still written, the first row stands."""
    from server.attendance import dailysummary
    real = dailysummary.summarise

    def racing(s, cls, day, profile, now):
        if cls.id == town["cid"]:
            with svc.db.session() as other_node:
                other_node.add(DailySummary(class_id=cls.id, day=day, institution_id=cls.institution_id,
                                            district_code=cls.district_code, figures={"by": "the other node"},
                                            created_at=now))
        return real(s, cls, day, profile, now)
    monkeypatch.setattr(dailysummary, "summarise", racing)
    with svc.db.session() as s:
        made = build_day(s, DAY1, AFTER_SIX, svc.profiles)
        assert [r.class_id for r in made] == [town["other"]]
    with svc.db.session() as s:
        assert s.scalars(select(DailySummary).where(DailySummary.class_id == town["cid"])).one().figures == {
            "by": "the other node"}
        theirs = s.scalars(select(DailySummary).where(DailySummary.class_id == town["other"])).one()
        assert theirs.figures["rule"] == "ATT-9"


def test_att9_scheduler_waits_for_six_then_builds_yesterday(town, svc, clock, outbox):
    sched = DailySummaryScheduler(svc)
    clock.set(BEFORE_SIX)
    assert asyncio.run(sched.run_once()) == 0  # 05:59: yesterday is not due yet
    clock.set(AFTER_SIX)
    assert asyncio.run(sched.run_once()) == 2  # 06:01: both classes' 13 October
    assert asyncio.run(sched.run_once()) == 0
    with svc.db.session() as s:
        assert {r.day for r in s.scalars(select(DailySummary))} == {DAY1}
    assert len(outbox) == 2
    # a node down for two days catches up: on 16 October, 14 and 15 October for both classes
    clock.set(datetime(2025, 10, 16, 1, 0, tzinfo=timezone.utc))
    assert asyncio.run(sched.run_once()) == 4
    with svc.db.session() as s:
        assert sorted({r.day for r in s.scalars(select(DailySummary))}) == [DAY1, DAY2, date(2025, 10, 15)]


def test_att9_due_days_and_the_scheduler_task_start_and_stop(svc):
    from server.services import CHINA_TZ
    at = lambda h, m: datetime(2025, 10, 14, h, m, tzinfo=CHINA_TZ)  # noqa: E731
    assert due_days(at(5, 59), 6)[-1] == date(2025, 10, 12) and due_days(at(6, 0), 6)[-1] == DAY1
    assert len(due_days(at(6, 0), 6)) == 7 and due_days(at(6, 0), 6)[0] == date(2025, 10, 7)
    with pytest.raises(ValueError):
        DailySummaryScheduler(svc, hour=24)

    async def cycle():
        sched = DailySummaryScheduler(svc, every_seconds=0.01)
        await sched.start()
        await asyncio.sleep(0.05)
        await sched.close()
        await sched.close()  # twice is harmless
    asyncio.run(cycle())


def test_att9_reads_are_scoped_by_region_and_institution_sup1(town, svc, client, clock):
    w = town["w"]
    clock.set(AFTER_SIX)
    relogin(w)
    with svc.db.session() as s:
        build_day(s, DAY1, AFTER_SIX, svc.profiles, notify=False)
    def seen(who: str) -> set[int]:
        return {i["class_id"] for i in ok(client.get("/api/daily-summaries", headers=w.h(who)))["items"]}
    mine, theirs = town["cid"], town["other"]
    assert seen("yuquan") == {mine} and seen("alpha_admin") == {mine}
    assert seen("saihan") == {theirs} and seen("beta_admin") == {theirs}
    assert seen("hohhot") == seen("admin") == {mine, theirs}
    body = ok(client.get("/api/daily-summaries", headers=w.h("yuquan")))
    row = body["items"][0]
    assert body["total"] == 1 and row["day"] == "2025-10-13"
    assert row["figures"]["lessons"]["class_hours_delivered"] == 6.0
    assert ok(client.get(f"/api/daily-summaries/{row['id']}", headers=w.h("hohhot")))["class_id"] == mine
    err(client.get(f"/api/daily-summaries/{row['id']}", headers=w.h("saihan")), 404)  # invisible, not forbidden
    err(client.get(f"/api/daily-summaries/{row['id']}", headers=w.h("beta_admin")), 404)
    err(client.get("/api/daily-summaries/999999", headers=w.h("admin")), 404)
    err(client.get(f"/api/daily-summaries/{row['id']}", headers=w.h(f"student{town['a']}")), 403)


def test_att9_list_filters_and_pages_newest_first(town, svc, client, clock):
    w = town["w"]
    clock.set(datetime(2025, 10, 15, 1, 0, tzinfo=timezone.utc))
    relogin(w)
    with svc.db.session() as s:
        for day in (DAY1, DAY2):
            build_day(s, day, svc.now(), svc.profiles, notify=False)
    h = w.h("hohhot")
    everything = ok(client.get("/api/daily-summaries", headers=h))
    assert everything["total"] == 4
    assert [i["day"] for i in everything["items"]] == ["2025-10-14"] * 2 + ["2025-10-13"] * 2
    page = ok(client.get("/api/daily-summaries?limit=1&offset=1", headers=h))
    assert page["total"] == 4 and [i["id"] for i in page["items"]] == [everything["items"][1]["id"]]
    one = ok(client.get(f"/api/daily-summaries?class_id={town['cid']}&day_from=2025-10-14&day_to=2025-10-14",
                        headers=h))
    assert [(i["class_id"], i["day"]) for i in one["items"]] == [(town["cid"], "2025-10-14")]
    assert err(client.get("/api/daily-summaries?day_from=2025-13-01", headers=h), 422)["field"] == "day_from"
    backwards = client.get("/api/daily-summaries?day_from=2025-10-14&day_to=2025-10-13", headers=h)
    assert err(backwards, 422)["field"] == "day_to"
    assert err(client.get("/api/daily-summaries?limit=0", headers=h), 422)["field"] == "limit"


def test_att9_build_endpoint_past_days_only_and_within_the_region(town, svc, client, clock, outbox):
    w = town["w"]
    clock.set(datetime(2025, 10, 14, 1, 0, tzinfo=timezone.utc))  # 14 October, 09:00 Beijing
    relogin(w)
    assert err(client.post("/api/daily-summaries/build", headers=w.h("saihan"), json={"day": "2025-10-32"}),
               422)["field"] == "day"
    assert err(client.post("/api/daily-summaries/build", headers=w.h("saihan"), json={}), 422)["field"] == "day"
    for day in ("2025-10-14", "2025-10-20"):  # today and the future are not summarised
        e = err(client.post("/api/daily-summaries/build", headers=w.h("saihan"), json={"day": day}), 422)
        assert e["field"] == "day" and e["code"] == "DAY_NOT_PAST" and e["rule"] == "ATT-9"
    e = err(client.post("/api/daily-summaries/build", headers=w.h("admin"), json={"day": "2024-01-01"}), 422)
    assert e["field"] == "day" and e["code"] == "DAY_TOO_OLD"
    err(client.post("/api/daily-summaries/build", headers=w.h("alpha_admin"), json={"day": "2025-10-13"}), 403)
    # Saihan's build writes only Saihan's class
    got = ok(client.post("/api/daily-summaries/build", headers=w.h("saihan"), json={"day": "2025-10-13"}))
    assert [i["class_id"] for i in got["created"]] == [town["other"]] and got["existing"] == 0
    got = ok(client.post("/api/daily-summaries/build", headers=w.h("admin"), json={"day": "2025-10-13"}))
    assert [i["class_id"] for i in got["created"]] == [town["cid"]] and got["existing"] == 1
    again = ok(client.post("/api/daily-summaries/build", headers=w.h("admin"), json={"day": "2025-10-13"}))
    assert again["created"] == [] and again["existing"] == 2
    assert len(outbox) == 2
    with svc.db.session() as s:
        actions = [a.action for a in s.scalars(select(AuditLog).where(AuditLog.action == "daily_summary.build"))]
    assert len(actions) == 3


def test_att9_cli_builds_a_past_day(tmp_path):
    """``qihang daily-summaries --day D``: a past day's missing summaries now; today or later refused."""
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, QIHANG_DATA_DIR=str(tmp_path), PYTHONPATH=str(root))
    env.pop("DATABASE_URL", None)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "server.cli", *args], env=env, cwd=root, capture_output=True,
                              text=True, timeout=300)
    assert run("migrate").returncode == 0
    r = run("daily-summaries", "--day", "2025-10-13")
    assert r.returncode == 0 and "0 daily summaries written" in r.stdout, r.stderr
    r = run("daily-summaries", "--day", "2999-01-01")
    assert r.returncode == 2 and "past day" in r.stderr


def test_att9_new_rows_reach_the_real_webhook_outbox(town, svc):
    """With server/webhooks/outbox.py in place: a Yuquan endpoint hears its class's summary only."""
    pytest.importorskip("server.webhooks.outbox")
    from models import WebhookDelivery, WebhookEndpoint
    with svc.db.session() as s:
        s.add(WebhookEndpoint(url="http://127.0.0.1:9/hook", secret="k" * 32, events=["daily_summary"],
                              region_prefix="150104", active=True))
    with svc.db.session() as s:
        assert len(build_day(s, DAY1, AFTER_SIX, svc.profiles)) == 2
    with svc.db.session() as s:
        sent = list(s.scalars(select(WebhookDelivery)))
    assert [d.event_type for d in sent] == ["daily_summary"]
    assert sent[0].payload["data"]["class_id"] == town["cid"] and sent[0].payload["data"]["day"] == "2025-10-13"
