"""CLS-7 absences and leaves per student, and CLS-8 replay make-up: the pure rules on synthetic
lessons (exactly 2 vs 3 under Hohhot, GYB exempt, occurrences of ≤ 4 class-hours, the 50 % study
share inclusive, unique replay seconds only where the profile allows), then the same figures from
stored event logs through the API, the report and the CSV (SQLite and PostgreSQL)."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

import pytest

from server.attendance.absences import (AbsenceRules, LeaveFacts, LessonFacts, judge, occurrences_count,
                                        watched_seconds)
from server.attendance.report import class_attendance, to_csv, to_text
from server.policy.profiles import load_profiles
from tests.roomlog import RoomLog
from tests.world import ok

PROFILES = load_profiles()
ANNA, BO = 10, 11
DAY1 = datetime(2026, 3, 2, 0, 30, tzinfo=timezone.utc)  # Monday 08:30 Beijing


def lesson(lid: int, day: int, half: int, *, hours: int = 4, study: dict | None = None, live_min: float = 180,
           mode: str = "live", replay: dict | None = None) -> LessonFacts:
    """Lesson ``lid`` on day ``day`` (0-based), morning (half 0) or afternoon (1), 45 min a class-hour."""
    start = DAY1 + timedelta(days=day, hours=5.5 * half)
    return LessonFacts(lid, start, start + timedelta(minutes=45 * hours), hours, mode, live=timedelta(minutes=live_min),
                       study={u: timedelta(minutes=m) for u, m in (study or {}).items()}, replay=replay or {})


AFTER = DAY1 + timedelta(days=30)
HOHHOT_SYB = AbsenceRules.from_profile(PROFILES["hohhot"], "SYB")


def verdict(lessons, leaves=(), rules=HOHHOT_SYB, now=AFTER, students=(ANNA,)):
    return judge(lessons, list(students), list(leaves), now=now, rules=rules)


# ------------------------------------------------------------------ the pure rules

def test_rules_come_from_the_profile():
    assert (HOHHOT_SYB.max_absences, HOHHOT_SYB.max_class_hours, HOHHOT_SYB.replay_counts) == (2, 4, False)
    assert HOHHOT_SYB.min_study_share == 0.5
    assert AbsenceRules.from_profile(PROFILES["hohhot"], "GYB").max_absences is None  # art. 20: SYB/IYB/WLC only
    baotou = AbsenceRules.from_profile(PROFILES["baotou"], "SYB")
    assert baotou.max_absences is None and baotou.replay_counts  # CLS-8: Baotou counts replay
    assert PROFILES["beijing"].absence_min_study_share == 0.5  # the default where a profile is silent


def test_cls7_exactly_two_absences_are_allowed_three_bar_the_final_assessment():
    held = [lesson(i, i, 0) for i in range(4)]
    two = verdict(held[:2] + [lesson(2, 2, 0, study={ANNA: 180}), lesson(3, 3, 0, study={ANNA: 180})])[ANNA]
    assert (two.absences, two.leaves, two.barred) == (2, 0, False)
    assert two.summary()["rule"] == "CLS-7" and "未超过上限 2 次" in two.explanation()["zh"]
    three = verdict(held[:3] + [lesson(3, 3, 0, study={ANNA: 180})])[ANNA]
    assert (three.absences, three.barred) == (3, True)
    assert three.explanation()["zh"] == ("缺勤 3 次＋请假 0 次＝3 次（每次最多 4 课时，超出按多次计），"
                                         "超过上限 2 次，不能参加结业考核（CLS-7）。")
    assert "barred from the final assessment" in three.explanation()["en"]
    # a leave counts like an absence: 2 absences + 1 approved leave = 3
    mixed = verdict(held[:3], [LeaveFacts(7, ANNA, frozenset({2}))])[ANNA]
    assert (mixed.absences, mixed.leaves, mixed.barred) == (2, 1, True)
    assert [o.kind for o in mixed.occurrences] == ["absence", "absence", "leave"]


def test_cls7_applies_to_syb_iyb_wlc_but_not_gyb():
    held = [lesson(i, i, 0) for i in range(5)]
    for course in ("SYB", "IYB", "WLC"):
        assert verdict(held, rules=AbsenceRules.from_profile(PROFILES["hohhot"], course))[ANNA].barred
    gyb = verdict(held, rules=AbsenceRules.from_profile(PROFILES["hohhot"], "GYB"))[ANNA]
    assert (gyb.absences, gyb.barred, gyb.summary()["rule"]) == (5, False, None)
    assert "不适用" in gyb.explanation()["zh"]
    assert not verdict(held, rules=AbsenceRules.from_profile(PROFILES["beijing"], "SYB"))[ANNA].barred


def test_one_occurrence_covers_at_most_4_class_hours():
    assert [occurrences_count(h, 4) for h in (1, 4, 5, 8, 9)] == [1, 1, 2, 2, 3]
    assert occurrences_count(12, None) == 1
    whole_day = verdict([lesson(1, 0, 0), lesson(2, 0, 1)])[ANNA]  # 2 × 4 class-hours in a row: 8 → 2
    assert [(o.lesson_ids, o.class_hours, o.counts) for o in whole_day.occurrences] == [([1, 2], 8, 2)]
    hours = [LessonFacts(10 + i, DAY1 + timedelta(minutes=45 * i), DAY1 + timedelta(minutes=45 * (i + 1)), 1,
                         live=timedelta(minutes=45)) for i in range(3)]  # three 1-hour lessons missed in a row
    assert [(o.class_hours, o.counts) for o in verdict(hours)[ANNA].occurrences] == [(3, 1)]
    # an attended lesson between two missed ones splits them; so does a new day
    split = verdict([lesson(1, 0, 0), lesson(2, 0, 1, study={ANNA: 180}), lesson(3, 1, 0)])[ANNA]
    assert [o.lesson_ids for o in split.occurrences] == [[1], [3]] and split.absences == 2
    # a leave for a whole day of 8 class-hours counts as two leaves (counted as several, not refused)
    day_leave = verdict([lesson(1, 0, 0), lesson(2, 0, 1)], [LeaveFacts(5, ANNA, frozenset({1, 2}))])[ANNA]
    assert (day_leave.leaves, day_leave.absences) == (2, 0)
    assert [o.as_dict() for o in day_leave.occurrences] == [
        {"kind": "leave", "day": "2026-03-02", "lesson_ids": [1, 2], "class_hours": 8, "counts": 2, "leave_id": 5}]


def test_absent_means_credited_study_below_half_the_live_time_inclusive():
    marks = verdict([lesson(1, 0, 0, study={ANNA: 90}), lesson(2, 1, 0, study={ANNA: 89.99}),
                     lesson(3, 2, 0, study={ANNA: 500})])[ANNA].marks
    assert [m.status for m in marks] == ["present", "absent", "present"]  # 90 of 180 = exactly 50 %
    assert marks[2].study == timedelta(minutes=180)  # never more than the live time
    strict = AbsenceRules(min_study_share=AbsenceRules.from_profile(PROFILES["hohhot"], "SYB").min_study_share * 2,
                          max_absences=2)
    assert verdict([lesson(1, 0, 0, study={ANNA: 170})], rules=strict)[ANNA].marks[0].status == "absent"


def test_lessons_not_ended_not_given_or_recorded_are_never_absences():
    facts = [lesson(1, 0, 0, live_min=0), lesson(2, 0, 1, mode="recorded"), lesson(3, 1, 0)]
    result = verdict(facts, now=DAY1 + timedelta(days=1, minutes=10))[ANNA]
    assert [m.status for m in result.marks] == ["not_held", "not_judged", "pending"]
    assert result.absences == 0 and result.occurrences == []
    offline = verdict([lesson(1, 0, 0, mode="offline", study={ANNA: 30}), lesson(2, 0, 1, mode="offline",
                                                                                   study={ANNA: 180})])[ANNA]
    assert [m.status for m in offline.marks] == ["absent", "present"]  # study from sign-ins (ATT-6)


def test_a_leave_is_counted_only_for_lessons_actually_missed():
    attended = verdict([lesson(1, 0, 0, study={ANNA: 180})], [LeaveFacts(3, ANNA, frozenset({1}))])[ANNA]
    assert attended.marks[0].status == "present" and attended.marks[0].leave_id == 3 and attended.leaves == 0
    other = verdict([lesson(1, 0, 0)], [LeaveFacts(3, BO, frozenset({1}))], students=(ANNA, BO))
    assert other[ANNA].absences == 1 and other[BO].leaves == 1


def test_unique_replay_seconds():
    assert watched_seconds([[0, 60], [30, 90], [30, 90], [200, 100], [-20, 10]], 3600) == 90
    assert watched_seconds([[3500, 4000]], 3600) == 100  # clipped to the lesson's planned length
    assert watched_seconds([["a", 5], [None, 1], [1], "xy", [float("nan"), 5], [0, float("inf")], [10, 20]],
                           3600) == 10
    assert watched_seconds([], 3600) == 0


def test_cls8_replay_makes_up_missed_time_only_where_the_profile_allows():
    baotou = AbsenceRules.from_profile(PROFILES["baotou"], "SYB")
    watched = {ANNA: [[0, 1800], [900, 2700], [0, 600]]}  # 45 unique minutes, watched in overlapping goes
    facts = [lesson(1, 0, 0, study={ANNA: 60}, replay=watched), lesson(2, 1, 0, study={ANNA: 170}, replay=watched)]
    b = verdict(facts, rules=baotou)[ANNA]
    assert [m.replay_watched for m in b.marks] == [2700, 2700]
    assert [m.makeup for m in b.marks] == [2700, 600]  # capped at the 10 minutes missed in the second lesson
    assert b.makeup_seconds == 3300 and b.summary()["makeup_seconds"] == 3300
    # make-up adds study time but does not undo the absence (60 of 180 minutes), which still counts
    assert [m.status for m in b.marks] == ["absent", "present"] and b.absences == 1 and not b.barred
    h = verdict(facts)[ANNA]  # Hohhot: replay does not count as study
    assert [m.replay_watched for m in h.marks] == [2700, 2700] and h.makeup_seconds == 0
    assert h.marks[0].status == "absent" and h.absences == 1
    absent_then_watched = verdict([lesson(1, 0, 0, replay=watched)], rules=baotou)[ANNA]
    assert absent_then_watched.marks[0].status == "absent" and absent_then_watched.makeup_seconds == 2700


# ------------------------------------------------------------------ from stored logs, through the API

MONDAY = datetime(2025, 9, 22, 2, 0, tzinfo=timezone.utc)
START = date(2025, 10, 13)


def _relogin(w):
    for key in list(w.tokens):
        w.tokens[key] = w.login(w.mobiles[int(key[7:])] if key.startswith("student") else key)


def _teach(svc, lesson_row: dict, lecturer: int, present: list[int], replay: dict | None = None):
    """The lecturer live for the whole lesson; ``present`` students there throughout, face-checked each minute."""
    start = datetime.fromisoformat(lesson_row["starts_at"]).astimezone(timezone.utc)
    minutes = int((datetime.fromisoformat(lesson_row["ends_at"]) - datetime.fromisoformat(lesson_row["starts_at"]))
                  .total_seconds() // 60)
    with svc.db.session() as s:
        log = RoomLog(s, lesson_row["id"], start)
        add = log.add
        log.opening(lecturer, present)
        for minute in range(1, minutes):
            for uid in present:
                add(minute, "face_check", uid, "student", verdict="match")
        add(minutes, "lesson_end", lecturer, "lecturer")
        for uid, ranges in (replay or {}).items():  # watched the next evening
            add(minutes + 600, "replay_progress", uid, "student", ranges=ranges)


def _class(w, key, *, region, profile, course, district, city, students=3, days=7):
    w.institution(key, region=region, profile=profile)
    w.supervisor(district, "district", region)
    w.supervisor(city, "city", region[:4] + "00")
    cid = w.ready_class(key, start=START, students=students, course=course, days=days)
    return w.open_class(key, cid, district=district, city=city)


@pytest.fixture
def taught(world, client, clock, svc):
    """Hohhot SYB and GYB classes with the same story over the first two days (four 4-hour lessons):
    P attends all; A2 misses lesson 1 and is on approved leave for lesson 3 (1 + 1 = 2); A3 misses
    lessons 1 and 2 (one run of 8 class-hours = 2) and lesson 4 (= 3)."""
    clock.set(MONDAY)
    w = world
    out = {}
    for course, key, days in (("SYB", "syb", 7), ("GYB", "gyb", 3)):
        d = _class(w, key, region="150104", profile="hohhot", course=course, district=f"{key}_d", city=f"{key}_c",
                   days=days)
        p, a2, a3 = sorted(s["id"] for s in d["roster"])
        lv = ok(client.post(f"/api/classes/{d['id']}/leaves", headers=w.h(f"student{a2}"),
                            json={"reason": "孩子生病", "lesson_ids": [d["lessons"][2]["id"]]}), 201)
        ok(client.post(f"/api/leaves/{lv['id']}/decision", headers=w.h(f"{key}_admin"), json={"action": "approve"}))
        lecturer = d["lecturers"][0]["user_id"]
        for i, present in enumerate(([p], [p, a2], [p, a3], [p, a2])):
            _teach(svc, d["lessons"][i], lecturer, present)
        out[course] = {"class_id": d["id"], "p": p, "a2": a2, "a3": a3, "leave": lv["id"], "lessons": d["lessons"]}
    clock.set(datetime(2025, 10, 15, 1, 0, tzinfo=timezone.utc))  # day 3, 09:00 Beijing
    _relogin(w)
    return out


def test_cls7_figures_from_the_logs_through_the_api(taught, client, world):
    syb = taught["SYB"]
    body = ok(client.get(f"/api/classes/{syb['class_id']}/absences", headers=world.h("syb_admin")))
    assert body["cls7"]["max_absences"] == 2
    rows = {r["student_id"]: r for r in body["items"]}
    assert {k: (v["absences"], v["leaves"], v["barred_from_exam"]) for k, v in rows.items()} == {
        syb["p"]: (0, 0, False), syb["a2"]: (1, 1, False), syb["a3"]: (3, 0, True)}
    assert rows[syb["a3"]]["explanation"]["zh"].startswith("缺勤 3 次＋请假 0 次＝3 次")
    detail = ok(client.get(f"/api/classes/{syb['class_id']}/absences/{syb['a3']}", headers=world.h("syb_d")))
    assert [m["status"] for m in detail["lessons"][:6]] == ["absent", "absent", "present", "absent", "pending",
                                                            "pending"]
    assert [(o["lesson_ids"], o["counts"]) for o in detail["occurrences"]] == [
        ([syb["lessons"][0]["id"], syb["lessons"][1]["id"]], 2), ([syb["lessons"][3]["id"]], 1)]
    a2 = ok(client.get(f"/api/classes/{syb['class_id']}/absences/{syb['a2']}", headers=world.h(f"student{syb['a2']}")))
    assert a2["lessons"][2]["status"] == "leave" and a2["lessons"][2]["leave_id"] == syb["leave"]
    assert a2["lessons"][0]["title"] and a2["barred_from_exam"] is False
    # a student sees only themselves; the GYB class counts the same story without a limit
    own = ok(client.get(f"/api/classes/{syb['class_id']}/absences", headers=world.h(f"student{syb['a3']}")))["items"]
    assert [r["student_id"] for r in own] == [syb["a3"]]
    assert client.get(f"/api/classes/{syb['class_id']}/absences/{syb['p']}",
                      headers=world.h(f"student{syb['a3']}")).status_code == 404
    gyb = taught["GYB"]
    g = {r["student_id"]: r for r in ok(client.get(f"/api/classes/{gyb['class_id']}/absences",
                                                   headers=world.h("gyb_admin")))["items"]}
    assert (g[gyb["a3"]]["absences"], g[gyb["a3"]]["barred_from_exam"], g[gyb["a3"]]["rule"]) == (3, False, None)
    # other tenants and regions see nothing
    assert client.get(f"/api/classes/{syb['class_id']}/absences", headers=world.h("gyb_admin")).status_code == 404
    world.institution("far", region="150202", profile="baotou")
    assert client.get(f"/api/classes/{syb['class_id']}/absences", headers=world.h("far_admin")).status_code == 404
    assert client.get(f"/api/classes/{syb['class_id']}/absences/987654",
                      headers=world.h("syb_admin")).status_code == 404


def test_report_and_csv_carry_absences_leaves_makeup_and_the_bar(taught, svc, clock):
    syb = taught["SYB"]
    with svc.db.session() as s:
        rows = class_attendance(s, syb["class_id"], svc.profiles, clock())
    by = {(r["student_user_id"], r["lesson_id"]): r for r in rows}
    first, third = syb["lessons"][0]["id"], syb["lessons"][2]["id"]
    assert by[(syb["a3"], first)]["lesson_status_CLS7"] == "absent" and by[(syb["a3"], first)]["barred_CLS7"]
    assert by[(syb["a2"], third)]["lesson_status_CLS7"] == "leave" and by[(syb["a2"], third)]["leave_id"] == syb["leave"]
    assert (by[(syb["a2"], first)]["absences_CLS7"], by[(syb["a2"], first)]["leaves_CLS7"]) == (1, 1)
    assert by[(syb["p"], first)]["max_absences_CLS7"] == 2 and not by[(syb["p"], first)]["barred_CLS7"]
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert {"lesson_status_CLS7", "makeup_minutes_CLS8", "absences_CLS7", "leaves_CLS7", "barred_CLS7"} <= set(parsed[0])
    text = to_text(rows)
    assert "不得参加 barred" in text and "缺勤" in text


@pytest.fixture
def replayed(world, client, clock, svc):
    """The same absence (lesson 1 missed, 50 unique minutes of its replay watched) in a Baotou class,
    where replay counts as study, and a Hohhot one, where it does not."""
    clock.set(MONDAY)
    out = {}
    for key, region, profile in (("bt", "150202", "baotou"), ("hh", "150104", "hohhot")):
        d = _class(world, key, region=region, profile=profile, course="SYB", district=f"{key}_d", city=f"{key}_c",
                   students=2)
        here, away = sorted(s["id"] for s in d["roster"])
        ranges = [[0, 1800], [600, 2400], [2400, 3000], [2400, 3000], [9000, 99999], ["bad", 1]]
        _teach(svc, d["lessons"][0], d["lecturers"][0]["user_id"], [here], replay={away: ranges, here: [[0, 600]]})
        out[profile] = {"class_id": d["id"], "here": here, "away": away}
    clock.set(datetime(2025, 10, 14, 1, 0, tzinfo=timezone.utc))
    _relogin(world)
    return out


def test_cls8_replay_make_up_from_replay_progress_events(replayed, client, world, svc, clock):
    bt, hh = replayed["baotou"], replayed["hohhot"]
    b = ok(client.get(f"/api/classes/{bt['class_id']}/absences/{bt['away']}", headers=world.h("bt_admin")))
    first = b["lessons"][0]
    # unique seconds: [0, 3000] = 3000, plus [9000, 10800] clipped to the 180-minute lesson = 1800
    assert (first["status"], first["replay_watched_seconds"], first["makeup_seconds"]) == ("absent", 4800, 4800)
    assert b["makeup_seconds"] == 4800 and b["replay_counts_as_study"] and b["max_absences"] is None
    here = ok(client.get(f"/api/classes/{bt['class_id']}/absences/{bt['here']}", headers=world.h("bt_admin")))
    assert here["lessons"][0]["replay_watched_seconds"] == 600 and here["makeup_seconds"] == 0  # missed nothing
    h = ok(client.get(f"/api/classes/{hh['class_id']}/absences/{hh['away']}", headers=world.h("hh_admin")))
    assert (h["lessons"][0]["replay_watched_seconds"], h["makeup_seconds"], h["absences"]) == (4800, 0, 1)
    with svc.db.session() as s:
        rows = class_attendance(s, bt["class_id"], svc.profiles, clock())
    away = next(r for r in rows if r["student_user_id"] == bt["away"] and r["lesson_id"] == first["lesson_id"])
    assert (away["makeup_minutes_CLS8"], away["replay_watched_minutes"], away["live_minutes"]) == (80.0, 80.0, 180.0)
    # the replay watched later does not stretch the lesson's live figures
    here_row = next(r for r in rows if r["student_user_id"] == bt["here"] and r["lesson_id"] == first["lesson_id"])
    assert here_row["study_minutes"] == 180.0 and here_row["study_ratio"] == 1.0
