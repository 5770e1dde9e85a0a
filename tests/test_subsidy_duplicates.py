"""REG-4 duplicates on subsidy rosters, across institutions: one subsidised training a year, no program twice.

Enrolment already refuses duplicates, so the second enrolments here are written straight into the
database, as data from before a rule change or an import would be; the roster must still catch them.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from models import AuditLog, Enrolment
from tests.outcomes import everyone_eligible
from tests.test_subsidies import AFTER, CREATED, by_student, finish, make_class, relogin, roster
from tests.world import err, ok


def add_enrolment(svc, cid: int, sid: int, *, course: str, year: int = 2023, status: str = "enrolled") -> None:
    with svc.db.session() as s:
        s.add(Enrolment(class_id=cid, student_user_id=sid, status=status, year=year, course_type=course,
                        subsidised=True, enrolled_at=datetime(2023, 2, 7, tzinfo=timezone.utc)))


@pytest.fixture
def town(world, clock, svc, monkeypatch):
    """Alpha (Yuquan 150104) runs an SYB class of A, B, D, E; beta (Saihan 150105) an SYB class of C and
    a GYB class. A is also on beta's SYB (same year, same program), B on beta's GYB (same year), D on
    beta's SYB in an earlier year (same program), E was on beta's GYB but withdrew."""
    clock.set(CREATED)
    w = world
    w.institution("alpha")
    w.institution("beta", region="150105")
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("saihan", "district", "150105")
    w.supervisor("hohhot", "city", "150100")
    alpha, (a, b, d, e) = make_class(w, "alpha", "SYB", ["王一", "王二", "王四", "王五"])
    beta_syb, (c,) = make_class(w, "beta", "SYB", ["李三"])
    beta_gyb, _ = make_class(w, "beta", "GYB", [])
    add_enrolment(svc, beta_syb, a, course="SYB")
    add_enrolment(svc, beta_gyb, b, course="GYB")
    add_enrolment(svc, beta_syb, d, course="SYB", year=2022)
    add_enrolment(svc, beta_gyb, e, course="GYB", status="withdrawn")
    for cid in (alpha, beta_syb, beta_gyb):
        finish(svc, cid)
    everyone_eligible(monkeypatch)
    clock.set(AFTER)
    relogin(w)
    return {"w": w, "alpha": alpha, "beta_syb": beta_syb, "beta_gyb": beta_gyb, "a": a, "b": b, "c": c, "d": d,
            "e": e}


def kinds(row) -> set:
    return {(f["kind"], f["cleared"]) for f in row["flags"]}


def test_reg4_duplicates_are_flagged_on_both_rosters_and_excluded(town):
    t, w = town, town["w"]
    rows = by_student(roster(w, t["alpha"], "alpha_admin"))
    assert kinds(rows[t["a"]]) == {("year", False), ("program", False)}
    assert kinds(rows[t["b"]]) == {("year", False)}
    assert kinds(rows[t["d"]]) == {("program", False)}
    assert rows[t["e"]]["flags"] == [] and rows[t["e"]]["amount_cny"] == 1200
    for sid in (t["a"], t["b"], t["d"]):
        assert rows[sid]["amount_cny"] == 0 and rows[sid]["reason"]["code"] == "REG4_DUPLICATE"
        assert rows[sid]["reason"]["rule"] == "REG-4"
    beta = by_student(roster(w, t["beta_syb"], "beta_admin"))
    assert kinds(beta[t["a"]]) == {("year", False), ("program", False)} and beta[t["c"]]["flags"] == []
    assert beta[t["a"]]["amount_cny"] == 0


def test_reg4_flags_name_the_other_class_only_to_those_who_may_see_it(town):
    t, w = town, town["w"]
    hidden = by_student(roster(w, t["alpha"], "alpha_admin"))[t["a"]]["flags"][0]
    assert hidden["other_visible"] is False and "other_class_name" not in hidden
    assert "other_institution_name" not in hidden and hidden["other_course_type"] == "SYB"
    assert by_student(roster(w, t["alpha"], "yuquan"))[t["a"]]["flags"][0]["other_visible"] is False
    city = by_student(roster(w, t["alpha"], "hohhot"))[t["a"]]["flags"][0]
    assert city["other_visible"] is True and city["other_class_id"] == t["beta_syb"]
    assert city["other_institution_name"] == "beta 培训学校"


def test_reg4_supervisor_clears_a_flag_with_a_reason_for_this_class_only(town):
    t, w = town, town["w"]
    url = f"/api/classes/{t['alpha']}/subsidy/flags/clear"
    body = {"student_id": t["a"], "other_class_id": t["beta_syb"], "kind": "year", "reason": "乙机构班期已撤销补贴申报"}
    assert err(w.client.post(url, headers=w.h("alpha_admin"), json=body), 403)
    assert err(w.client.post(url, headers=w.h("saihan"), json=body), 404)
    assert err(w.client.post(url, headers=w.h("yuquan"), json=dict(body, reason="")), 422)
    assert err(w.client.post(url, headers=w.h("yuquan"), json=dict(body, other_class_id=t["beta_gyb"])),
               404)["code"] == "FLAG_NOT_FOUND"
    assert ok(w.client.post(url, headers=w.h("yuquan"), json=body))["cleared"] is True
    assert err(w.client.post(url, headers=w.h("yuquan"), json=body), 409)["code"] == "FLAG_ALREADY_CLEARED"
    row = by_student(roster(w, t["alpha"], "alpha_admin"))[t["a"]]
    assert kinds(row) == {("year", True), ("program", False)} and row["amount_cny"] == 0
    ok(w.client.post(url, headers=w.h("yuquan"), json=dict(body, kind="program")))
    row = by_student(roster(w, t["alpha"], "alpha_admin"))[t["a"]]
    assert row["amount_cny"] == 1200 and row["reason"] is None
    assert by_student(roster(w, t["beta_syb"], "beta_admin"))[t["a"]]["amount_cny"] == 0  # beta's flag stands
    with w.svc.db.session() as s:
        logs = s.scalars(select(AuditLog).where(AuditLog.action == "subsidy.flag.clear")).all()
    assert len(logs) == 2 and logs[0].detail["reason"] == "乙机构班期已撤销补贴申报"
    assert logs[0].detail["rule"] == "REG-4" and logs[0].actor_user_id == w.ids["yuquan"]
