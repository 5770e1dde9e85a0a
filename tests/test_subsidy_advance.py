"""SUB-4: Baotou's advance of 20 % of the subsidy after the online part, the rest after the offline part.

A Baotou SYB class of three: day one's two lessons are online (live), the rest offline. A studies
both online lessons, B only the first (50 %, short of 80 %: struck off the advance), C both. After the
online part the institution claims the advance for A and C, disclosed masked (SUB-3) with its bundle;
the final claim after the class deducts it, recovering C's advance when C turns out ineligible.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from datetime import timedelta
from fractions import Fraction
from types import MappingProxyType

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select

from models import AuditLog, Base, Lesson, TrainingClass
from models.db import alembic_config
from models.subsidies import SubsidyClaim
from tests.outcomes import everyone_eligible
from tests.roomlog import RoomLog
from tests.test_subsidies import BAOTOU_DISTRICT, CREATED, make_class, relogin
from tests.world import err, ok

SUBSIDY = 1000  # a deployment's Baotou SYB amount (the city publishes none: tests/test_subsidies.py)


def with_amount(svc) -> None:
    p = svc.profiles["baotou"]
    syb = dataclasses.replace(p.courses["SYB"], subsidy_cny=SUBSIDY)
    svc.profiles["baotou"] = dataclasses.replace(p, courses=MappingProxyType(dict(p.courses, SYB=syb)))


def teach_online_part(svc, cid: int, a: int, b: int, c: int, moved_to=None,
                      second: str = "live") -> tuple[list[int], object]:
    """The class runs: its first two lessons become online (an hour each; the second ``live`` or
    ``recorded``: an hour's video) — moved to start at ``moved_to`` if given — and the rest offline.
    A and C attend (or study) both online lessons, B the first only. Returns the online lessons' ids
    and the first offline lesson's start."""
    with svc.db.session() as s:
        cls = s.get(TrainingClass, cid)
        cls.status = "in_progress"
        lessons = sorted(cls.lessons, key=lambda le: le.starts_at)
        online = lessons[:2]
        for n, le in enumerate(online):  # an hour each, to keep the hand-written log short
            if moved_to is not None:
                le.starts_at = moved_to + timedelta(hours=5 * n)
            le.mode, le.ends_at = ("live" if n == 0 else second), le.starts_at + timedelta(hours=1)
        for le in lessons[2:]:
            le.mode = "offline"
        lecturer = cls.lecturers[0].user_id
        for n, le in enumerate(online):
            log = RoomLog(s, le.id, le.starts_at)
            present = (a, b, c) if n == 0 else (a, c)
            if le.mode == "recorded":  # the study page's heartbeats, every 10 s through the hour's video
                for k in range(361):
                    for uid in present:
                        log.add(k / 6, "study_progress", uid, "student", pos=k * 10.0, playing=k < 360, visible=True,
                                reason="tick" if k < 360 else "ended", every_s=10.0, video_s=3600.0)
                continue
            log.opening(lecturer, present)
            for k in range(1, 120):
                for uid in present:
                    log.add(k / 2, "face_check", uid, "student", verdict="match")
            log.add(60, "lesson_end", lecturer, "lecturer")
        return [le.id for le in online], lessons[2].starts_at


@pytest.fixture
def online_done(world, clock, svc, request):
    """Day one's two lessons were online (the second live, or with ``indirect`` param "recorded", an
    hour's video studied); it is the evening of day one."""
    clock.set(CREATED)
    w = world
    w.institution("alpha", region=BAOTOU_DISTRICT, profile="baotou")
    w.institution("beta", region=BAOTOU_DISTRICT, profile="baotou")
    cid, (a, b, c) = make_class(w, "alpha", "SYB", ["冯九", "陈十", "褚十一"])
    ids, first_offline = teach_online_part(svc, cid, a, b, c, second=getattr(request, "param", "live"))
    with_amount(svc)
    clock.set(first_offline - timedelta(hours=12))  # the evening of day one: online part over
    relogin(w)
    ok(w.client.put(f"/api/institutions/{w.ids['alpha']}/bank-account", headers=w.h("alpha_admin"), json={
        "account_name": "alpha 培训学校", "bank_name": "中国工商银行包头分行", "account_number": "6222 0000 1111 2222"}))
    return {"w": w, "cid": cid, "a": a, "b": b, "c": c, "online": ids}


def advance_url(cid: int) -> str:
    return f"/api/classes/{cid}/subsidy/advance"


def test_sub4_the_advance_waits_for_the_end_of_the_online_part(online_done, svc, clock):
    t, w = online_done, online_done["w"]
    with svc.db.session() as s:
        second = s.get(Lesson, t["online"][1])
        clock.set(second.ends_at - timedelta(minutes=10))
    data = ok(w.client.get(advance_url(t["cid"]), headers=w.h("alpha_admin")))
    assert data["online"] | {"last_ends_at": None} == {"lessons": 2, "ended": 1, "class_hours": 8, "done": False,
                                                       "last_ends_at": None}
    e = err(w.client.post(f"{advance_url(t['cid'])}/claim", headers=w.h("alpha_admin")), 422, "ONLINE_PART_NOT_DONE",
            rule="SUB-4")
    assert e["details"]["ended"] == 1 and "1 / 2" in e["message_zh"]


def test_sub4_advance_roster_claim_disclosure_and_bundle(online_done, svc):
    t, w = online_done, online_done["w"]
    data = ok(w.client.get(advance_url(t["cid"]), headers=w.h("alpha_admin")))
    assert data["online"]["done"] and data["advance_payment_share"] == 0.2 and data["standard_cny"] == SUBSIDY
    rows = {r["student_id"]: r for r in data["items"]}
    for uid in (t["a"], t["c"]):
        assert (rows[uid]["claimed"], rows[uid]["advance_cny"], rows[uid]["online_ratio"]) == (True, 200, 1.0)
    b = rows[t["b"]]
    assert (b["claimed"], b["advance_cny"], b["reason"]["code"], b["reason"]["rule"]) == \
        (False, 0, "ONLINE_HOURS_SHORT", "SUB-4")
    assert b["online_ratio"] == pytest.approx(0.5, abs=0.02) and "80%" in b["reason"]["message_zh"]
    assert data["totals"] == {"students": 3, "claimed": 2, "amount_unknown": 0, "advance_cny": 400}
    assert data["claim"] is None
    # exports and scope: beta's admin does not see alpha's class
    xlsx = w.client.get(advance_url(t["cid"]), params={"format": "csv"}, headers=w.h("alpha_admin"))
    assert xlsx.status_code == 200 and "线上学习" in xlsx.content.decode("utf-8-sig")
    assert w.client.get(advance_url(t["cid"]), headers=w.h("beta_admin")).status_code == 404

    claim = ok(w.client.post(f"{advance_url(t['cid'])}/claim", headers=w.h("alpha_admin")), 201)
    assert (claim["stage"], claim["total_cny"]) == ("advance", 400)
    err(w.client.post(f"{advance_url(t['cid'])}/claim", headers=w.h("alpha_admin")), 409, "ADVANCE_ALREADY_CLAIMED")
    assert ok(w.client.get(advance_url(t["cid"]), headers=w.h("alpha_admin")))["claim"]["id"] == claim["id"]
    # disclosed masked (SUB-3): the advance amounts, no names or numbers in full
    public = ok(w.client.get(claim["disclosure"]["url"]))
    assert public["stage"] == "advance" and public["total_cny"] == 400
    assert sorted((r["name_masked"], r["amount_cny"]) for r in public["items"]) == [("冯*", 200), ("褚*一", 200)]
    # the bundle: application, online hours, the attendance report, daily summaries, bank account
    got = w.client.get(f"{advance_url(t['cid'])}/claim/bundle", headers=w.h("alpha_admin"))
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(got.content))
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["stage"] == "advance" and {f["name"] for f in manifest["files"]} == set(zf.namelist()) - {"manifest.json"}
    for f in manifest["files"]:
        assert hashlib.sha256(zf.read(f["name"])).hexdigest() == f["sha256"]
    for name in ("01_预拨申请表_advance_application.pdf", "03_考勤报告_attendance_report.pdf"):
        assert zf.read(name).startswith(b"%PDF-")
    assert "冯九" in zf.read("02_线上学时_online_hours.csv").decode("utf-8-sig")
    assert json.loads(zf.read("05_银行账户_bank_account.json"))["account_number"] == "6222000011112222"
    with svc.db.session() as s:
        actions = [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert "subsidy.advance.submit" in actions and "subsidy.bundle.download" in actions


@pytest.mark.parametrize("online_done", ["recorded"], indirect=True)
def test_sub4_a_recorded_online_lesson_counts_its_credited_study_against_the_video(online_done):
    t, w = online_done, online_done["w"]
    data = ok(w.client.get(advance_url(t["cid"]), headers=w.h("alpha_admin")))
    rows = {r["student_id"]: r for r in data["items"]}
    assert data["online"]["done"]
    for uid in (t["a"], t["c"]):  # an hour live + an hour's video watched through: 120 of 120 minutes
        assert (rows[uid]["claimed"], rows[uid]["online_study_minutes"], rows[uid]["online_live_minutes"]) == \
            (True, 120, 120)
    b = rows[t["b"]]  # the live hour only: 60 of 120 minutes
    assert (b["claimed"], b["online_study_minutes"], b["online_live_minutes"]) == (False, 60, 120)
    assert b["reason"]["code"] == "ONLINE_HOURS_SHORT" and b["reason"]["numbers"]["online_seconds"] == 7200


def test_sub4_the_final_claim_deducts_the_advance_and_recovers_it_from_the_ineligible(online_done, svc, clock,
                                                                                     monkeypatch):
    t, w = online_done, online_done["w"]
    ok(w.client.post(f"{advance_url(t['cid'])}/claim", headers=w.h("alpha_admin")), 201)
    with svc.db.session() as s:
        s.get(TrainingClass, t["cid"]).status = "finished"
    everyone_eligible(monkeypatch, {t["c"]})  # C fails the exam in the end
    clock.set(clock() + timedelta(days=30))
    relogin(w)
    data = ok(w.client.get(f"/api/classes/{t['cid']}/subsidy/roster", headers=w.h("alpha_admin")))
    assert data["advance_claimed"] is True
    rows = {r["student_id"]: r for r in data["items"]}
    assert (rows[t["a"]]["amount_cny"], rows[t["a"]]["advance_cny"], rows[t["a"]]["remaining_cny"]) == (1000, 200, 800)
    assert (rows[t["b"]]["amount_cny"], rows[t["b"]]["advance_cny"], rows[t["b"]]["remaining_cny"]) == (1000, 0, 1000)
    assert (rows[t["c"]]["amount_cny"], rows[t["c"]]["advance_cny"], rows[t["c"]]["remaining_cny"]) == (0, 200, -200)
    assert (data["totals"]["total_cny"], data["totals"]["advance_cny"], data["totals"]["remaining_cny"]) == \
        (2000, 400, 1600)
    final = ok(w.client.post(f"/api/classes/{t['cid']}/subsidy/claim", headers=w.h("alpha_admin")), 201)
    assert final["stage"] == "final" and final["totals"]["remaining_cny"] == 1600
    with svc.db.session() as s:
        assert sorted(c.stage for c in s.scalars(select(SubsidyClaim))) == ["advance", "final"]


def test_sub4_no_advance_once_the_whole_claim_is_in_or_where_the_profile_pays_none(online_done, svc, monkeypatch):
    t, w = online_done, online_done["w"]
    everyone_eligible(monkeypatch)
    with svc.db.session() as s:
        s.get(TrainingClass, t["cid"]).status = "finished"
    ok(w.client.post(f"/api/classes/{t['cid']}/subsidy/claim", headers=w.h("alpha_admin")), 201)
    err(w.client.post(f"{advance_url(t['cid'])}/claim", headers=w.h("alpha_admin")), 409, "CLAIM_ALREADY_SUBMITTED",
        rule="SUB-4")
    w.institution("gamma")  # Hohhot: no advance in its profile
    cid, _ = make_class(w, "gamma", "SYB", ["卫十二"])
    with svc.db.session() as s:
        s.get(TrainingClass, cid).status = "in_progress"
    data = ok(w.client.get(advance_url(cid), headers=w.h("gamma_admin")))
    assert data["advance_payment_share"] is None and data["items"][0]["reason"]["code"] == "ADVANCE_NOT_IN_PROFILE"
    err(w.client.post(f"{advance_url(cid)}/claim", headers=w.h("gamma_admin")), 422, "ADVANCE_NOT_IN_PROFILE")
    err(w.client.post(f"{advance_url(cid)}/claim"), 401)


def test_migration_0018_matches_the_models(database):
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diff if "subsidy_claims" in repr(d)] == []
    assert ScriptDirectory.from_config(alembic_config()).get_revision("0018").down_revision == "0017"



def test_sub4_watching_a_video_twice_does_not_make_up_a_missed_live_lesson():
    """The online share caps a recorded lesson's credited study at the video's length: a trainee who
    skipped the live hour and watched the hour's video twice has studied 60 of 120 minutes, not 120."""
    from datetime import datetime, timezone
    from types import SimpleNamespace as NS

    from server.subsidies.advance import online_share
    t0, hour = datetime(2023, 3, 6, 0, 30, tzinfo=timezone.utc), timedelta(hours=1)
    live = NS(lesson=NS(mode="live", starts_at=t0, ends_at=t0 + hour),
              found={1: NS(study=timedelta(0), live=hour), 2: NS(study=hour, live=hour)})
    video = NS(lesson=NS(mode="recorded", starts_at=t0 + 5 * hour, ends_at=t0 + 6 * hour),
               found={1: NS(study=2 * hour, live=hour), 2: NS(study=timedelta(0), live=timedelta(0))})
    offline = NS(lesson=NS(mode="offline", starts_at=t0, ends_at=t0 + hour), found={1: NS(study=hour, live=hour)})
    figures = NS(lessons=[live, video, offline, NS(lesson=NS(mode="live"), found=None)])
    assert online_share(figures, 1) == (hour, 2 * hour, Fraction(1, 2))
    assert online_share(figures, 2) == (hour, 2 * hour, Fraction(1, 2))  # never opened the video: 0 of its hour
