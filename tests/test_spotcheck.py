"""SUP-5 spot checks (seed 003 四（一）: district HR checks the live video of ≥ 10 % of live class-hours):
the draw reaches the share in class-hours (weighted by class-hours), is reproducible from its recorded
seed, stays inside the drawer's region; only the assignee records watching and a verdict, after
watching enough; every step is in the audit log (SUP-6); the report compares drawn and required.
On SQLite and PostgreSQL; the world is built straight in the database (recordings as rows)."""
from __future__ import annotations

import collections
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from models import AuditLog, Base, Institution, Lesson, Recording, TrainingClass, User
from models.spotchecks import SpotCheckBatch, SpotCheckItem
from server.auth.passwords import hash_password
from server.domain import spotdraw
from server.services import CHINA_TZ
from tests.world import err

PASSWORD = "Secret123"
CHAOYANG, HAIDIAN, BEIJING = "110105", "110108", "110100"
NOW = datetime(2026, 4, 1, 10, 0, tzinfo=CHINA_TZ)
MARCH = {"period_from": "2026-03-01", "period_to": "2026-03-31"}


def _lesson(s, cls, day: date, hours: int, *, mode="live", recording="finished", duration=None) -> Lesson:
    start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=CHINA_TZ)
    le = Lesson(class_id=cls.id, title=f"{day} {hours}课时", starts_at=start, ends_at=start + timedelta(minutes=45 * hours),
                mode=mode, class_hours=hours)
    s.add(le)
    s.flush()
    if recording:
        secs = duration if duration is not None else 45 * 60 * hours
        s.add(Recording(lesson_id=le.id, class_id=cls.id, institution_id=cls.institution_id,
                        district_code=cls.district_code, profile=cls.profile, retention_years=3, status=recording,
                        storage_kind="local", storage_location="/r", opened_at=start, finished_at=le.ends_at,
                        retain_until=start + timedelta(days=3 * 366), segments=3, bytes=1000, duration_s=secs,
                        deleted_at=start if recording == "deleted" else None))
    return le


def beijing(svc, first_day: date = date(2026, 3, 1)) -> SimpleNamespace:
    """Beijing: a class in Chaoyang with 30 recorded live lessons from ``first_day`` on (1–4 class-hours
    each) plus lessons a draw of those 30 days must leave out; a class in Haidian; supervisors at district
    and city level; an offline lesson in Chaoyang (for the ATT-6 checklist)."""
    pw = hash_password(PASSWORD)
    day = lambda n: first_day + timedelta(days=n)
    with svc.db.session() as s:
        a = Institution(name="朝阳培训学校", code="CY", region_code=CHAOYANG, profile="beijing", status="approved")
        b = Institution(name="海淀培训学校", code="HD", region_code=HAIDIAN, profile="beijing", status="approved")
        s.add_all([a, b])
        s.flush()
        people = {
            "admin": dict(role="platform_admin"),
            "school": dict(role="institution_admin", institution_id=a.id),
            "chaoyang": dict(role="supervisor", region_level="district", region_code=CHAOYANG),
            "chaoyang2": dict(role="supervisor", region_level="district", region_code=CHAOYANG),
            "haidian": dict(role="supervisor", region_level="district", region_code=HAIDIAN),
            "city": dict(role="supervisor", region_level="city", region_code=BEIJING),
            "tianjin": dict(role="supervisor", region_level="city", region_code="120100"),
        }
        users = {k: User(username=k, password_hash=pw, display_name=k, created_at=svc.now(), **v) for k, v in people.items()}
        s.add_all(users.values())
        s.flush()
        classes = {}
        for key, inst, district in (("a", a, CHAOYANG), ("b", b, HAIDIAN)):
            classes[key] = TrainingClass(institution_id=inst.id, name=f"SYB {key}", course_type="SYB",
                                         delivery_mode="live", profile="beijing", district_code=district,
                                         status="in_progress", created_by=users["school"].id)
        s.add_all(classes.values())
        s.flush()
        eligible = [_lesson(s, classes["a"], day(i), 1 + (i * 7) % 4) for i in range(30)]
        excluded = [
            _lesson(s, classes["a"], day(30), 2, recording=None),  # no recording
            _lesson(s, classes["a"], day(29), 4, mode="recorded"),  # not live
            _lesson(s, classes["a"], day(32), 4),  # after the period (and not yet held)
            _lesson(s, classes["a"], day(-2), 4),  # before the period
            _lesson(s, classes["a"], day(28), 3, recording="deleted"),
            _lesson(s, classes["a"], day(27), 2, mode="offline", recording=None),
        ]
        haidian = [_lesson(s, classes["b"], day(1 + i), 2) for i in range(10)]
        return SimpleNamespace(users={k: u.id for k, u in users.items()}, eligible=[(le.id, le.class_hours) for le in eligible],
                               excluded=[le.id for le in excluded], haidian=[le.id for le in haidian],
                               offline=excluded[-1].id, classes={k: c.id for k, c in classes.items()})


@pytest.fixture
def bj(svc, clock):
    clock.set(NOW.astimezone(timezone.utc))
    return beijing(svc)


def login(client, username: str) -> dict:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def audit(svc, action: str) -> list[AuditLog]:
    with svc.db.session() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def draw(client, who: str, **body) -> dict:
    r = client.post("/api/spot-checks", headers=login(client, who), json={**MARCH, **body})
    assert r.status_code == 201, r.text
    return r.json()


# --------------------------------------------------------------------------- the draw itself (pure)

def test_share_is_counted_in_class_hours_exactly():
    assert spotdraw.target_class_hours(50, 0.1) == 5  # not 6: 0.1 is taken as 1/10, not its binary float
    assert spotdraw.target_class_hours(56, 0.1) == 6 and spotdraw.target_class_hours(3, 0.1) == 1
    assert spotdraw.target_class_hours(0, 0.1) == 0
    pop = [[1, 4], [2, 1], [3, 1], [4, 2]]
    assert spotdraw.draw("s", pop, 1.0) and sum(h for _, h in spotdraw.draw("s", pop, 1.0)) == 8


def test_the_draw_is_weighted_by_class_hours_and_a_pure_function_of_seed_and_population():
    pop = [[i, 4 if i % 3 == 0 else 1] for i in range(1, 61)]  # 20 lessons of 4 h (80 h), 40 of 1 h (40 h)
    first = collections.Counter(spotdraw.draw(f"seed-{n}", pop, 0.1)[0][1] for n in range(3000))
    assert abs(first[4] / 3000 - 80 / 120) < 0.03, first  # each class-hour equally likely, not each lesson
    got = spotdraw.draw("abc", pop, 0.1)
    assert got == spotdraw.draw("abc", list(reversed(pop)), 0.1)  # the population's order does not matter
    assert got != spotdraw.draw("abd", pop, 0.1)
    hours = [h for _, h in got]
    assert sum(hours) >= 12 and sum(hours[:-1]) < 12  # stops as soon as 10 % of 120 h is reached


# --------------------------------------------------------------------------- API

def test_draw_reaches_the_share_of_live_class_hours_and_is_reproducible_from_its_seed(svc, client, bj):
    body = draw(client, "chaoyang")  # the drawer's own district by default
    total = sum(h for _, h in bj.eligible)
    assert (body["region_level"], body["region_code"]) == ("district", CHAOYANG)
    assert body["population_lessons"] == 30 and body["population_class_hours"] == total
    assert body["required_share"] == 0.1 and body["share"] == 0.1  # the beijing profile (SUP-5)
    need = spotdraw.target_class_hours(total, 0.1)
    drawn = [(i["lesson_id"], i["class_hours"]) for i in body["items"]]
    assert body["target_class_hours"] == need and body["drawn_class_hours"] == sum(h for _, h in drawn) >= need
    assert sum(h for _, h in drawn[:-1]) < need  # no more than needed
    assert {i for i, _ in drawn} <= {i for i, _ in bj.eligible}  # no excluded lesson, nothing from Haidian
    assert all(i["assignee_id"] == bj.users["chaoyang"] and i["status"] == "pending" for i in body["items"])
    assert body["items"][0]["replay_url"] == f"/replay?lesson={drawn[0][0]}&spotcheck={body['items'][0]['id']}"
    with svc.db.session() as s:
        b = s.get(SpotCheckBatch, body["id"])
        seed, population = b.seed, b.population
    assert sorted(map(tuple, population)) == sorted(bj.eligible)
    assert spotdraw.draw(seed, population, 0.1) == drawn  # anyone can redo it from the record
    shown = client.get(f"/api/spot-checks/{body['id']}", headers=login(client, "city")).json()
    assert shown["draw"]["reproduced"] is True and shown["draw"]["seed"] == seed
    assert shown["draw"]["population_hash_ok"] is True
    logged = audit(svc, "spotcheck.draw")
    assert len(logged) == 1 and logged[0].actor_user_id == bj.users["chaoyang"]
    assert logged[0].detail["seed"] == seed and logged[0].detail["drawn_lessons"] == [i for i, _ in drawn]
    assert logged[0].target_id == str(body["id"]) and logged[0].region_code == CHAOYANG
    again = draw(client, "chaoyang")  # a second draw is a new batch with a new seed, both kept
    with svc.db.session() as s:
        assert s.get(SpotCheckBatch, again["id"]).seed != seed


def test_a_drawer_may_ask_for_more_than_the_rule_never_less(client, bj):
    more = draw(client, "chaoyang", share=0.5)
    assert more["drawn_class_hours"] >= spotdraw.target_class_hours(more["population_class_hours"], 0.5)
    e = err(client.post("/api/spot-checks", headers=login(client, "chaoyang"), json={**MARCH, "share": 0.05}),
            422, "SPOTCHECK_SHARE_BELOW_RULE")
    assert e["field"] == "share" and e["rule"] == "SUP-5" and e["details"]["required_share"] == 0.1


def test_scope_a_district_cannot_draw_another_district_a_city_may_draw_its_districts(svc, client, bj):
    h = login(client, "chaoyang")
    for region in ({"region_level": "district", "region_code": HAIDIAN}, {"region_level": "city", "region_code": BEIJING}):
        e = err(client.post("/api/spot-checks", headers=h, json={**MARCH, **region}), 403, "SPOTCHECK_OUT_OF_REGION")
        assert e["rule"] == "SUP-5" and e["field"] == "region_code"
    err(client.post("/api/spot-checks", headers=login(client, "tianjin"),
                    json={**MARCH, "region_level": "district", "region_code": CHAOYANG}), 403, "SPOTCHECK_OUT_OF_REGION")
    err(client.post("/api/spot-checks", headers=login(client, "school"), json=MARCH), 403, "FORBIDDEN")
    err(client.post("/api/spot-checks", headers=h, json={**MARCH, "region_level": "city", "region_code": CHAOYANG}),
        422, "REGION_CODE_LEVEL")
    err(client.post("/api/spot-checks", headers=h, json={"period_from": "2026-04-01", "period_to": "2026-04-30"}),
        422, "SPOTCHECK_PERIOD_FUTURE")
    err(client.post("/api/spot-checks", headers=h, json={"period_from": "2026-01-01", "period_to": "2026-01-31"}),
        422, "SPOTCHECK_NOTHING_TO_DRAW")
    err(client.post("/api/spot-checks", headers=h, json={**MARCH, "assignee_id": bj.users["haidian"]}),
        422, "SPOTCHECK_ASSIGNEE_SCOPE")
    err(client.post("/api/spot-checks", headers=h, json={**MARCH, "assignee_id": bj.users["city"]}),
        422, "SPOTCHECK_ASSIGNEE_SCOPE")  # above the drawer: not theirs to assign
    # the city draws Haidian and hands it to Haidian's supervisor; a city-wide draw cannot go to one district
    hd = draw(client, "city", region_level="district", region_code=HAIDIAN, assignee_id=bj.users["haidian"])
    assert {i["lesson_id"] for i in hd["items"]} <= set(bj.haidian)
    err(client.post("/api/spot-checks", headers=login(client, "city"), json={**MARCH, "assignee_id": bj.users["chaoyang"]}),
        422, "SPOTCHECK_ASSIGNEE_SCOPE")
    cy = draw(client, "chaoyang")
    city_wide = draw(client, "city")
    assert city_wide["population_lessons"] == 40
    # reading: a district sees its own batches (and ones it has items in), a city all of its districts'
    seen = lambda who: {b["id"] for b in client.get("/api/spot-checks", headers=login(client, who)).json()["items"]}
    assert seen("chaoyang") == {cy["id"]} and seen("haidian") == {hd["id"]}
    assert seen("city") == {cy["id"], hd["id"], city_wide["id"]} and seen("tianjin") == set()
    assert client.get(f"/api/spot-checks/{cy['id']}", headers=login(client, "haidian")).status_code == 404
    assert client.get(f"/api/spot-checks/{cy['id']}/report", headers=login(client, "tianjin")).status_code == 404
    assert client.get(f"/api/spot-checks/{cy['id']}", headers=login(client, "school")).status_code == 403
    items = client.get("/api/spot-checks/items", headers=login(client, "haidian")).json()["items"]
    assert items and {i["district_code"] for i in items} == {HAIDIAN}
    assert audit(svc, "supervisor.read")  # SUP-6: supervisors' reads are recorded too


def test_only_the_assignee_records_watching_and_a_verdict_after_enough_watching(svc, client, bj):
    batch = draw(client, "chaoyang")
    item, other = batch["items"][0], batch["items"][1]
    h = login(client, "chaoyang")
    url = f"/api/spot-checks/items/{item['id']}"
    e = err(client.post(f"{url}/verdict", headers=login(client, "chaoyang2"), json={"verdict": "ok"}),
            403, "SPOTCHECK_NOT_ASSIGNEE")
    assert e["rule"] == "SUP-5"
    err(client.post(f"{url}/watched", headers=login(client, "chaoyang2"), json={"ranges": [[0, 10]]}),
        403, "SPOTCHECK_NOT_ASSIGNEE")
    e = err(client.post(f"{url}/verdict", headers=h, json={"verdict": "ok"}), 422, "SPOTCHECK_NOT_WATCHED")
    assert e["details"]["min_watch_seconds"] == 300
    err(client.post(f"{url}/watched", headers=h, json={"ranges": [[50, 20]]}), 422, "SPOTCHECK_RANGE")
    err(client.post(f"{url}/watched", headers=h, json={"ranges": []}), 422, "VALIDATION_FAILED")
    r = client.post(f"{url}/watched", headers=h, json={"ranges": [[0, 100], [50, 200]]})
    assert r.status_code == 200 and r.json()["watched_seconds"] == 200 and r.json()["status"] == "watching"
    err(client.post(f"{url}/verdict", headers=h, json={"verdict": "ok"}), 422, "SPOTCHECK_NOT_WATCHED")
    r = client.post(f"{url}/watched", headers=h, json={"ranges": [[190, 260], [600, 630]]})
    assert r.json()["watched_ranges"] == [[0, 260], [600, 630]] and r.json()["watched_seconds"] == 290
    client.post(f"{url}/watched", headers=h, json={"ranges": [[630, 640]]})
    e = err(client.post(f"{url}/verdict", headers=h, json={"verdict": "problem"}), 422, "SPOTCHECK_NOTE_REQUIRED")
    assert e["field"] == "note"
    r = client.post(f"{url}/verdict", headers=h, json={"verdict": "problem", "note": "讲师未露面，仅播放录屏"})
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "problem" and r.json()["status"] == "done" and r.json()["decided_at"]
    err(client.post(f"{url}/verdict", headers=h, json={"verdict": "ok"}), 409, "SPOTCHECK_DECIDED")
    err(client.post(f"{url}/watched", headers=h, json={"ranges": [[0, 1]]}), 409, "SPOTCHECK_DECIDED")
    err(client.post(f"{url}/assign", headers=login(client, "city"), json={"assignee_id": bj.users["chaoyang2"]}),
        409, "SPOTCHECK_DECIDED")
    # reassigning: the city hands an undecided item to the second Chaoyang supervisor; Haidian may not
    ourl = f"/api/spot-checks/items/{other['id']}"
    assert client.post(f"{ourl}/assign", headers=login(client, "haidian"),
                       json={"assignee_id": bj.users["haidian"]}).status_code == 404  # not in its region
    err(client.post(f"{ourl}/assign", headers=login(client, "city"), json={"assignee_id": bj.users["haidian"]}),
        422, "SPOTCHECK_ASSIGNEE_SCOPE")
    r = client.post(f"{ourl}/assign", headers=login(client, "city"), json={"assignee_id": bj.users["chaoyang2"]})
    assert r.status_code == 200 and r.json()["assignee_id"] == bj.users["chaoyang2"]
    err(client.post(f"{ourl}/watched", headers=h, json={"ranges": [[0, 400]]}), 403, "SPOTCHECK_NOT_ASSIGNEE")
    mine = client.get("/api/spot-checks/items?mine=1", headers=login(client, "chaoyang2")).json()["items"]
    assert [i["id"] for i in mine] == [other["id"]]
    # every step is in the audit log with its actor (SUP-6)
    assert [a.actor_user_id for a in audit(svc, "spotcheck.watched")] == [bj.users["chaoyang"]] * 3
    verdict = audit(svc, "spotcheck.verdict")
    assert len(verdict) == 1 and verdict[0].detail["verdict"] == "problem" and verdict[0].detail["watched_seconds"] == 300
    assigned = audit(svc, "spotcheck.assign")
    assert [(a.actor_user_id, a.detail["previous_assignee_id"], a.detail["assignee_id"]) for a in assigned] == [
        (bj.users["city"], bj.users["chaoyang"], bj.users["chaoyang2"])]


def test_a_recording_shorter_than_five_minutes_must_be_watched_whole(svc, client, bj):
    with svc.db.session() as s:
        cls = s.get(TrainingClass, bj.classes["a"])
        short = _lesson(s, cls, date(2026, 2, 10), 1, duration=120.0).id
    batch = draw(client, "chaoyang", period_from="2026-02-09", period_to="2026-02-11")
    [item] = batch["items"]
    assert item["lesson_id"] == short and item["min_watch_seconds"] == 120
    h = login(client, "chaoyang")
    url = f"/api/spot-checks/items/{item['id']}"
    r = client.post(f"{url}/watched", headers=h, json={"ranges": [[0, 119], [100, 500]]})
    assert r.json()["watched_ranges"] == [[0, 120]]  # clipped to the recording
    assert client.post(f"{url}/verdict", headers=h, json={"verdict": "ok"}).status_code == 200


def test_report_compares_drawn_and_required_and_lists_problems(client, bj):
    batch = draw(client, "chaoyang")
    h = login(client, "chaoyang")
    first, second = batch["items"][:2]
    for it, verdict in ((first, "ok"), (second, "problem")):
        client.post(f"/api/spot-checks/items/{it['id']}/watched", headers=h, json={"ranges": [[0, 400]]})
        r = client.post(f"/api/spot-checks/items/{it['id']}/verdict", headers=h,
                        json={"verdict": verdict, "note": "画面长时间静止" if verdict == "problem" else None})
        assert r.status_code == 200, r.text
    rep = client.get(f"/api/spot-checks/{batch['id']}/report", headers=login(client, "city")).json()
    assert rep["required_share"] == 0.1 and rep["drawn_meets_rule"] is True
    assert rep["required_class_hours"] == batch["target_class_hours"]
    assert rep["drawn_share"] == round(batch["drawn_class_hours"] / batch["population_class_hours"], 4) >= 0.1
    done_hours = first["class_hours"] + second["class_hours"]
    assert rep["done"] == {"items": 2, "class_hours": done_hours}
    assert rep["pending"] == {"items": len(batch["items"]) - 2, "class_hours": batch["drawn_class_hours"] - done_hours}
    assert rep["verdicts"] == {"ok": 1, "problem": 1}
    assert [(p["lesson_id"], p["note"]) for p in rep["problems"]] == [(second["lesson_id"], "画面长时间静止")]
    assert rep["by_assignee"] == [{"assignee_id": bj.users["chaoyang"], "assignee_name": "chaoyang",
                                   "items": len(batch["items"]), "done": 2, "class_hours": batch["drawn_class_hours"]}]
    assert rep["checked_meets_rule"] is (done_hours >= rep["required_class_hours"])


def test_the_database_keeps_draws_and_verdicts_as_recorded(svc, client, bj):
    batch = draw(client, "chaoyang")
    item = batch["items"][0]
    h = login(client, "chaoyang")
    client.post(f"/api/spot-checks/items/{item['id']}/watched", headers=h, json={"ranges": [[0, 400]]})
    assert client.post(f"/api/spot-checks/items/{item['id']}/verdict", headers=h, json={"verdict": "ok"}).status_code == 200
    attempts = [
        lambda s: setattr(s.get(SpotCheckBatch, batch["id"]), "seed", "0" * 32),
        lambda s: s.delete(s.get(SpotCheckBatch, batch["id"])),
        lambda s: setattr(s.get(SpotCheckItem, item["id"]), "verdict", "problem"),
        lambda s: setattr(s.get(SpotCheckItem, batch["items"][1]["id"]), "lesson_id", bj.haidian[0]),
        lambda s: s.delete(s.get(SpotCheckItem, batch["items"][1]["id"])),
    ]
    for attempt in attempts:
        with pytest.raises(DBAPIError, match="SUP-5"):
            with svc.db.session() as s:
                attempt(s)
                s.flush()
    with svc.db.session() as s:  # an undecided item may still be reassigned
        s.get(SpotCheckItem, batch["items"][1]["id"]).assignee_user_id = bj.users["chaoyang2"]


def test_migration_0009_matches_the_models(svc):
    with svc.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == []
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() >= "0009"
