"""A live lesson's replay on a phone in real headless Chromium (CLS-8): the recording is made as the
recorder makes it (tests/test_replay.py: VP8 + Opus frames through SegmentWriter and the Ledger, a
screen share in the later segments), the student opens /replay, the camera plays and runs on into
the next segment by itself, a tap on a chat message seeks into a later segment (and its screen
share shows), and pausing reports the watched ranges as a ``replay_progress`` event. Everything
stays on 127.0.0.1 (PLAT-2).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from models import Lesson
from recorder.ledger import Ledger
from server.live import eventlog
from tests.appserver import PHONE, signed_in
from tests.test_browser_room import MEDIA_ARGS, room_server
from tests.test_replay import record

pytestmark = pytest.mark.browser


def test_cls8_student_plays_the_replay_seeks_into_a_later_segment_and_is_credited(tmp_path):
    from playwright.sync_api import sync_playwright

    with room_server(tmp_path, students=2, face_attendance=False) as (base, svc, w, detail):
        lesson_id = detail["lesson_id"]
        ledger = Ledger.from_settings(svc.settings, svc.db, clock=svc.clock)
        with svc.db.session() as s:
            start = s.get(Lesson, lesson_id).starts_at
        made = record(ledger, lesson_id, start + timedelta(minutes=1))
        lecturer = detail["lecturers"][0]["user_id"]
        student = detail["roster"][0]["id"]
        seg3_at = made[2]["start_ms"] / 1000
        with svc.db.session() as s:
            when = lambda sec: datetime.fromtimestamp(sec, timezone.utc)  # noqa: E731
            eventlog.append(s, lesson_id, "chat", user_id=lecturer, role="lecturer", node_id="t",
                            at=when(made[0]["start_ms"] / 1000 + 1), payload={"text": "大家好，开始上课"})
            eventlog.append(s, lesson_id, "question", user_id=student, role="student", node_id="t",
                            at=when(seg3_at + 2.5), payload={"text": "最后一段的问题"})
        token = w.login(w.mobiles[student])
        requests: list[str] = []
        statuses: list[int] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=MEDIA_ARGS)
            try:
                ctx, page = signed_in(browser, token, requests, **PHONE)
                page.on("response", lambda r: statuses.append(r.status) if "/replay/" in r.url else None)
                page.goto(f"{base}/replay?lesson={lesson_id}")
                page.wait_for_function("window.qihangReplay.segs.length === 3 && "
                                       "window.qihangReplay.active.readyState >= 2", timeout=15000)
                assert page.locator("[data-testid=message]").count() == 2  # the chat list shows
                assert page.is_hidden("#screen-box")  # segment 1 has no screen share
                page.click("#play")  # the student's tap
                page.wait_for_function("window.qihangReplay.position() > 1.0", timeout=10000)  # it plays
                # on by itself into segment 2 (preloaded), where the screen share appears
                page.wait_for_function("window.qihangReplay.idx === 1 && window.qihangReplay.position() > "
                                       f"{made[0]['duration_s'] + 0.3}", timeout=15000)
                page.wait_for_selector("#screen-box:not([hidden])", timeout=5000)
                page.wait_for_function("document.getElementById('screen').readyState >= 2 && "
                                       "document.getElementById('screen').currentTime > 0", timeout=10000)
                # a tap on the question seeks into segment 3: one second before it was asked
                target = page.get_attribute("[data-kind=question]", "data-position")
                page.click("[data-kind=question]")
                page.wait_for_function("window.qihangReplay.idx === 2 && window.qihangReplay.active.readyState >= 2",
                                       timeout=10000)
                landed = page.evaluate("window.qihangReplay.position()")
                assert float(target) - 1.2 <= landed <= float(target) + 1.5, (landed, target)
                assert "/replay/3/main?" in page.evaluate("window.qihangReplay.active.src")  # segment 3 loaded
                page.wait_for_function("document.querySelector('[data-kind=question]').classList.contains('near')",
                                       timeout=5000)
                page.wait_for_function(f"window.qihangReplay.position() > {float(target) + 0.2}", timeout=10000)
                page.click("#play")  # pause: the watched ranges go to the server
                page.wait_for_function("window.qihangReplay.reports >= 1", timeout=10000)
                assert page.is_visible("[data-testid=watched]")
                ctx.close()
            finally:
                browser.close()
        with svc.db.session() as s:
            evs = [e for e in eventlog.events(s, lesson_id, kinds=["replay_progress"], limit=None) if e.user_id == student]
        assert evs and evs[-1].payload["reason"] == "pause"
        ranges = [r for e in evs for r in e.payload["ranges"]]
        total = sum(m["duration_s"] for m in made)
        assert all(0 <= a < b <= total for a, b in ranges)
        assert any(a < 1.0 and b > made[0]["duration_s"] + 0.3 for a, b in ranges), ranges  # across the join
        assert any(a >= float(target) - 1.5 for a, b in ranges)  # and after the seek
        assert 206 in statuses  # the media came in byte ranges
        assert all(u.startswith(base) or u.startswith(("data:", "blob:")) for u in requests)  # PLAT-2
