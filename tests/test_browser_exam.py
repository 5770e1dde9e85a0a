"""The timed final exam on a phone in real headless Chromium (EXAM-1): a student starts the exam from
/exam, answers, loses the connection mid-exam (answers wait in localStorage as "未同步 pending", the
offline banner shows, submitting is refused), reloads the page still without a connection (the
exam page's service worker serves the page, the pending answers come back from localStorage), answers more, comes back online: every queued answer
is flushed and the database holds each one with its right response; the student submits and sees
"awaiting grading", then the graded score. A second student's time runs out and the page shows the
server's automatic submission. Every request stays on 127.0.0.1 (PLAT-2). The connection is dropped
for real (tests/netcut.py cuts a relay between browser and server), not only emulated in the browser.

No sleeps: each step waits for an explicit DOM state (data-save, data-pending, data-state…).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from models.exams import ExamAnswer, ExamAttempt
from tests.appserver import PHONE, region_world, serve, signed_in
from tests.netcut import NetCut
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.world import auth, ok

pytestmark = pytest.mark.browser
WAIT = 30000  # ms: the longest any DOM state may take to appear (the retry backoff tops out at 15 s)
SHORT_TEXT = "市场调研、资金计划、团队分工\n第二行 second line"
ABCD = ["市场", "资金", "团队", "计划"]
BANK = [  # kind, points, key, options
    ("single", 20, "B", ABCD), ("single", 20, "C", ABCD), ("multiple", 10, ["A", "C"], ABCD),
    ("truefalse", 15, True, []), ("truefalse", 15, False, []), ("short", 20, "市场、资金、团队", []),
]


def _build(svc, app):
    """Alpha's SYB class of two students, a six-question bank (every kind) and a paper open now."""
    w = region_world(svc, app)
    cid = w.ready_class("alpha", start=svc.today() + timedelta(days=21), students=2)
    admin = w.h("alpha_admin")
    for n, (kind, points, key, options) in enumerate(BANK):
        ok(w.client.post("/api/exam-questions", headers=admin, json={
            "course_type": "SYB", "kind": kind, "stem": f"第{n + 1}题 {kind}：创业需要什么？", "options": options,
            "answer": key, "points": points}), 201)
    now = datetime.now(timezone.utc)
    paper = ok(w.client.post(f"/api/classes/{cid}/exam-papers", headers=admin, json={
        "title": "SYB 结业考试", "counts": {"single": 2, "multiple": 1, "truefalse": 2, "short": 1},
        "seed": "browser", "duration_minutes": 60, "opens_at": (now - timedelta(minutes=10)).isoformat(),
        "closes_at": (now + timedelta(hours=3)).isoformat()}), 201)
    roster = ok(w.client.get(f"/api/classes/{cid}", headers=admin))["roster"]
    return w, paper, sorted(s["id"] for s in roster)


def _plan(paper: dict) -> list[tuple[dict, object]]:
    """What the student answers, in paper order: mostly right, one single and one true/false wrong."""
    wrong_single = next(q["id"] for q in paper["questions"] if q["kind"] == "single")
    wrong_tf = next(q["id"] for q in reversed(paper["questions"]) if q["kind"] == "truefalse")
    out = []
    for q in paper["questions"]:
        if q["kind"] == "short":
            out.append((q, SHORT_TEXT))
        elif q["id"] == wrong_single:
            out.append((q, next(x for x in "ABCD" if x != q["answer"])))
        elif q["id"] == wrong_tf:
            out.append((q, not q["answer"]))
        else:
            out.append((q, q["answer"]))
    return out


def _answer(page, q: dict, response) -> None:
    """Tap the choices (big labels) or type the short answer, as a thumb would."""
    box = f'.question[data-qid="{q["id"]}"]'
    if q["kind"] == "short":
        page.fill(f"{box} textarea", response)
    elif q["kind"] == "truefalse":
        page.tap(f'{box} label.choice[data-value="{json.dumps(response)}"]')
    else:
        for letter in (response if isinstance(response, list) else [response]):
            page.tap(f'{box} label.choice[data-value="{letter}"]')


def _save_state(page, qid: int, state: str) -> None:
    page.wait_for_selector(f'.question[data-qid="{qid}"][data-save="{state}"]', timeout=WAIT)


def _shown(page, q: dict):
    """What the page shows as the answer to ``q`` (after a reload: restored from the server or localStorage)."""
    box = f'.question[data-qid="{q["id"]}"]'
    if q["kind"] == "short":
        return page.input_value(f"{box} textarea")
    picked = page.eval_on_selector_all(f"{box} input:checked", "els => els.map(e => e.value)")
    if q["kind"] == "multiple":
        return sorted(picked)
    if q["kind"] == "truefalse":
        return json.loads(picked[0]) if picked else None
    return picked[0] if picked else None


def _saved(svc, attempt_id: int) -> dict:
    with svc.db.session() as s:
        rows = s.scalars(select(ExamAnswer).where(ExamAnswer.attempt_id == attempt_id))
        return {a.question_id: a.response for a in rows}


def _open(browser, token: str, requests: list):
    return signed_in(browser, token, requests, **PHONE)


def test_exam1_phone_exam_survives_a_dropped_connection_and_a_reload_then_submits_and_shows_the_score(tmp_path):
    from playwright.sync_api import sync_playwright

    with serve(tmp_path, _build) as (direct, svc, (w, paper, students)), NetCut(int(direct.rsplit(":", 1)[1])) as net:
        base = net.url  # the phone reaches the server through a relay the test can cut
        sid = students[0]
        token = w.login(w.mobiles[sid])
        plan = _plan(paper)
        online, offline, after_reload = plan[:2], plan[2:5], plan[5:]
        requests: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                ctx, page = _open(browser, token, requests)
                page.goto(f"{base}/exam")
                card = page.wait_for_selector(f'[data-testid=paper][data-paper-id="{paper["id"]}"][data-window=open]')
                card.query_selector("[data-testid=start]").tap()
                page.wait_for_selector("#exam:not([hidden]) .question", timeout=WAIT)
                attempt_id = int(page.evaluate("window.qihangExam.attempt.id"))
                assert page.url.endswith(f"/exam?attempt={attempt_id}")
                assert page.get_attribute("#timer", "data-state") == "running"
                assert 3500 <= int(page.get_attribute("#timer", "data-left")) <= 3600  # from the server's 60 min
                assert page.evaluate("JSON.stringify(window.qihangExam.attempt)").find('"answer"') == -1  # no keys
                for q, r in online:
                    _answer(page, q, r)
                    _save_state(page, q["id"], "saved")

                # the page's service worker holds the page itself for an offline reload
                page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=WAIT)
                # the connection drops (the relay is cut; the browser is told it is offline too, so
                # navigator.onLine and the `offline` event behave as on a phone): answers stay on the
                # phone, marked pending, and the banner says so
                net.down()
                ctx.set_offline(True)
                page.wait_for_selector("#net-banner[data-state=offline]:not([hidden])", timeout=WAIT)
                for q, r in offline:
                    _answer(page, q, r)
                    _save_state(page, q["id"], "pending")
                page.wait_for_selector(f'#exam[data-pending="{len(offline)}"]', timeout=WAIT)
                queue = json.loads(page.evaluate(f"localStorage.getItem('qihang.exam.{attempt_id}.queue')"))
                assert {int(k): v["response"] for k, v in queue["items"].items()} == {q["id"]: r for q, r in offline}
                # submitting now is refused: the queue cannot be flushed
                page.tap("#submit")
                page.wait_for_selector("#confirm:not([hidden])")
                page.tap("#confirm-ok")
                page.wait_for_selector("#submit-error[data-code=EXAM_UNSYNCED]:not([hidden])", timeout=WAIT)

                # a reload with no network at all: the service worker serves the page, the API stays out of reach
                page.reload()
                page.wait_for_selector("#exam:not([hidden]) .question", timeout=WAIT)
                page.wait_for_selector("#net-banner[data-state=offline]:not([hidden])", timeout=WAIT)
                assert page.evaluate("window.qihangExam.fromCache") is True
                for q, r in offline:  # restored from localStorage, still pending
                    assert page.get_attribute(f'.question[data-qid="{q["id"]}"]', "data-save") == "pending"
                    assert _shown(page, q) == (sorted(r) if isinstance(r, list) else r)
                for q, r in online:  # the copy of the attempt kept on the phone has the saved ones
                    assert page.get_attribute(f'.question[data-qid="{q["id"]}"]', "data-save") == "saved"
                    assert _shown(page, q) == (sorted(r) if isinstance(r, list) else r)
                assert 0 < int(page.get_attribute("#timer", "data-left")) <= 3600
                for q, r in after_reload:
                    _answer(page, q, r)
                    _save_state(page, q["id"], "pending")
                assert _saved(svc, attempt_id).keys() == {q["id"] for q, _ in online}  # nothing else got through

                # back online: the queue is flushed, every question shows 已保存
                net.up()
                ctx.set_offline(False)
                page.wait_for_selector('#exam[data-pending="0"]', timeout=WAIT)
                page.wait_for_selector("#net-banner[data-state=online]", state="attached", timeout=WAIT)
                for q, _ in plan:
                    _save_state(page, q["id"], "saved")
                queue = json.loads(page.evaluate(f"localStorage.getItem('qihang.exam.{attempt_id}.queue')"))
                assert queue["items"] == {}
                expected = {q["id"]: (sorted(r) if isinstance(r, list) else r) for q, r in plan}
                assert _saved(svc, attempt_id) == expected  # EVERY answer, with the right response
                got = ok(w.client.get(f"/api/exam-attempts/{attempt_id}", headers=auth(token)))
                assert {q["id"]: q["response"] for q in got["questions"]} == expected

                # submit with confirmation: the short answer awaits the grader
                page.tap("#submit")
                page.wait_for_selector("#confirm:not([hidden])")
                page.tap("#confirm-ok")
                page.wait_for_selector("#result[data-status=submitted] [data-testid=awaiting]", timeout=WAIT)
                assert page.evaluate(f"localStorage.getItem('qihang.exam.{attempt_id}.queue')") is None
                short = next(q for q, _ in plan if q["kind"] == "short")
                ok(w.client.post(f"/api/exam-attempts/{attempt_id}/answers/{short['id']}/grade",
                                 headers=w.h("alpha_admin"), json={"points": 15, "comment": "要点基本齐全"}))
                page.reload()
                # 20 + 0 + 10 + 15 + 0 + 15 = 60 of 100: passes at the 60 % mark, inclusive
                page.wait_for_selector('#result[data-status=graded][data-score="60"][data-passed=true]', timeout=WAIT)
                assert "60" in page.inner_text("[data-testid=score]") and "合格" in page.inner_text("[data-testid=score]")
                assert "要点基本齐全" in page.inner_text("#result")
                page.tap("[data-testid=back]")
                page.wait_for_selector(f'[data-testid=paper][data-paper-id="{paper["id"]}"]'
                                       "[data-attempt-status=graded]")
                ctx.close()
            finally:
                browser.close()
        with svc.db.session() as s:
            a = s.get(ExamAttempt, attempt_id)
            assert (a.status, a.submitted_by, a.score, a.passed) == ("graded", "student", 60, True)
        assert requests and all(u.startswith(base) or u.startswith(("data:", "blob:", "about:")) for u in requests), \
            [u for u in requests if not u.startswith(base)]  # PLAT-2


def _deadline(svc, attempt_id: int, moment: datetime) -> None:
    with svc.db.session() as s:
        s.get(ExamAttempt, attempt_id).deadline = moment


def test_exam1_phone_shows_the_servers_automatic_submission_at_the_deadline(tmp_path):
    """After the deadline the server submits by itself and the page shows it: (1) a save refused with
    409 (the deadline passed while the page was open) makes the page ask the server, which has
    submitted at the deadline — the answer that came too late is reported as not uploaded; (2) the
    countdown, run from the server's remaining seconds, reaches zero and the page shows the result."""
    from playwright.sync_api import sync_playwright

    with serve(tmp_path, _build) as (base, svc, (w, paper, students)):
        tokens = [w.login(w.mobiles[sid]) for sid in students]
        attempts = [ok(w.client.post(f"/api/exam-papers/{paper['id']}/attempts", headers=auth(t)), 201)
                    for t in tokens]
        tf = next(q for q in paper["questions"] if q["kind"] == "truefalse")
        single = next(q for q in paper["questions"] if q["kind"] == "single")
        for token, a in zip(tokens, attempts):
            ok(w.client.put(f"/api/exam-attempts/{a['id']}/answers/{tf['id']}", headers=auth(token),
                            json={"response": tf["answer"]}))
        requests: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                # (1) the deadline passes while the page shows 59 minutes: the next save is refused
                ctx, page = _open(browser, tokens[0], requests)
                page.goto(f"{base}/exam?attempt={attempts[0]['id']}")
                page.wait_for_selector(f'.question[data-qid="{tf["id"]}"][data-save=saved]', timeout=WAIT)
                _deadline(svc, attempts[0]["id"], datetime.now(timezone.utc) - timedelta(seconds=1))
                _answer(page, single, single["answer"])
                page.wait_for_selector("#result[data-submitted-by=deadline] [data-testid=auto-submitted]", timeout=WAIT)
                assert page.is_visible("[data-testid=lost-answers]")  # the late answer did not count
                assert page.get_attribute("#result", "data-score") == str(tf["points"])
                ctx.close()
                # (2) the countdown reaches zero; whatever the page shows first, it ends on the result
                _deadline(svc, attempts[1]["id"], datetime.now(timezone.utc) + timedelta(seconds=5))
                ctx, page = _open(browser, tokens[1], requests)
                page.goto(f"{base}/exam?attempt={attempts[1]['id']}")
                page.wait_for_selector("#result[data-submitted-by=deadline] [data-testid=auto-submitted]", timeout=WAIT)
                assert page.get_attribute("#result", "data-status") == "graded"
                assert not page.is_visible("[data-testid=lost-answers]")
                ctx.close()
            finally:
                browser.close()
        with svc.db.session() as s:
            for a in attempts:
                row = s.get(ExamAttempt, a["id"])
                assert (row.status, row.submitted_by, row.submitted_at, row.score) == \
                    ("graded", "deadline", row.deadline, tf["points"])
        assert single["id"] not in _saved(svc, attempts[0]["id"])  # the late save never reached the database
        assert all(u.startswith(base) or u.startswith(("data:", "blob:", "about:")) for u in requests)  # PLAT-2
