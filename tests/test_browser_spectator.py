"""A hidden supervisor in real headless Chromium (SUP-4, SUP-6; issue 6 "done when").

A lecturer goes live, three phone students join (the first one's fake camera shows the registered
face, the others Chromium's test pattern), and a district supervisor opens the room with a
spectator link, in a browser without any login. The students' pages watch their own online list
and count the whole time: the spectator never appears there and the count never passes 3. The
spectator sees the online list, the students' face states in the participation view, and the chat;
the audit log holds the entry and the exit.
"""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from media.samplefaces import load_rgb
from models import AuditLog
from tests.test_browser import CHROMIUM
from tests.appserver import PHONE
from tests.test_browser_face import write_y4m
from tests.test_browser_room import MEDIA_ARGS, _open, room_server
from tests.test_face_attendance_live import _scene as scene
from tests.world import auth, ok

pytestmark = pytest.mark.browser

# Every 50 ms a student's page notes the largest online count it showed and whether a given user
# ever appeared in its online list (a MutationObserver would miss nothing either; polling is simpler).
WATCHER = """(spy) => {
  window.__seen = { maxCount: 0, spy: false, samples: 0 };
  setInterval(() => {
    const count = Number(document.querySelector('#online-count')?.dataset.count || 0);
    window.__seen.maxCount = Math.max(window.__seen.maxCount, count);
    if (document.querySelector(`#online-list [data-user="${spy}"]`)) window.__seen.spy = true;
    window.__seen.samples += 1;
  }, 50);
}"""


def test_sup4_spectator_watches_three_students_unseen_and_sup6_audits_it(tmp_path):
    from playwright.sync_api import sync_playwright

    with room_server(tmp_path, students=3, face_sample_seconds=(1.5, 2.5), liveness=False) as (base, svc, w, detail):
        lesson_id = detail["lesson_id"]
        lecturer = w.login(detail["lecturer_username"])
        students = [(s["id"], w.login(w.mobiles[s["id"]])) for s in detail["roster"][:3]]
        spy_id = w.ids["yuquan"]
        link = ok(w.client.post(f"/api/lessons/{lesson_id}/spectator-links", headers=auth(w.login("yuquan")),
                                json={}), 201)
        clip = write_y4m(tmp_path / "me.y4m", scene(load_rgb("astronaut.png")))
        requests: list[str] = []
        with sync_playwright() as pw:
            face_browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=MEDIA_ARGS + [f"--use-file-for-fake-video-capture={clip}"])
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=MEDIA_ARGS)
            try:
                _, lec = _open(browser, base, lecturer, lesson_id, requests)
                lec.wait_for_selector("#room-status[data-state=live]")
                lec.click("#go-live")
                pages = []
                for i, (_sid, token) in enumerate(students):
                    _, page = _open(face_browser if i == 0 else browser, base, token, lesson_id, requests, **PHONE)
                    page.wait_for_selector("#room-status[data-state=live]")
                    page.evaluate(WATCHER, spy_id)
                    pages.append(page)
                for page in pages:
                    page.wait_for_selector("#online-count[data-count='3']", timeout=15000)
                # the spectator: a fresh browser context, no session, only the link
                ctx = browser.new_context(locale="zh-CN")
                spy = ctx.new_page()
                spy.on("request", lambda r: requests.append(r.url))
                spy.goto(base + link["url"])
                spy.wait_for_selector("#room-status[data-state=live]")
                assert spy.evaluate("window.qihangRoom.you.room_role") == "spectator"
                # the participation view: everyone online, the roster with face states
                spy.wait_for_selector("#console:not([hidden])")
                for sid, _token in students:
                    spy.wait_for_selector(f'#roster-body tr[data-user="{sid}"][data-online="true"]', timeout=15000)
                spy.wait_for_selector(f'#roster-body tr[data-user="{students[0][0]}"] td[data-face="match"]',
                                      timeout=30000)
                for sid, _token in students[1:]:
                    spy.wait_for_selector(f'#roster-body tr[data-user="{sid}"] td[data-face]:not([data-face="none"])',
                                          timeout=30000)
                online = spy.eval_on_selector_all("#online-list li", "els => els.map(e => Number(e.dataset.user))")
                assert {sid for sid, _ in students} <= set(online)
                # the interaction: a student's question and the lecturer's chat reach the spectator
                pages[1].fill("#chat-input", "老师，创业担保贷款怎么申请？")
                pages[1].click("#chat-send")
                lec.fill("#chat-input", "下课后我详细讲")
                lec.click("#chat-send")
                spy.wait_for_selector("#chat-list li:has-text('创业担保贷款')", timeout=10000)
                spy.wait_for_selector("#chat-list li:has-text('下课后我详细讲')", timeout=10000)
                lec.wait_for_selector(f'#online-list [data-user="{spy_id}"]', timeout=10000)  # staff see it
                time.sleep(1.5)  # presence is coalesced every 0.5 s: give any leak time to show
                seen = [page.evaluate("window.__seen") for page in pages]
                ctx.close()  # the spectator leaves
                time.sleep(1.5)
                seen_after = [page.evaluate("window.__seen") for page in pages]
            finally:
                face_browser.close()
                browser.close()
        assert all(s["samples"] > 20 and s["maxCount"] == 3 and not s["spy"] for s in seen + seen_after), seen_after
        assert all(u.startswith(base) or u.startswith(("data:", "blob:")) for u in requests)  # PLAT-2
        deadline = time.monotonic() + 10
        while True:
            with svc.db.session() as s:
                acts = [(a.action, a.actor_user_id, a.detail.get("via")) for a in s.scalars(
                    select(AuditLog).where(AuditLog.action.like("spectator.%")).order_by(AuditLog.id))]
            if ("spectator.exit", spy_id, None) in acts or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert ("spectator.enter", spy_id, "link") in acts and ("spectator.exit", spy_id, None) in acts, acts
