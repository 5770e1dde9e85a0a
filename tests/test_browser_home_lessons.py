"""The student's home page on a phone in real headless Chromium: the lesson on now is listed with a
button that takes the student into its room (LIVE-1); the later lessons are listed without one."""
from __future__ import annotations

import pytest

from tests.appserver import PHONE, signed_in
from tests.test_browser_room import MEDIA_ARGS, room_server

pytestmark = pytest.mark.browser


def test_live1_the_phone_home_page_takes_the_student_into_the_lesson_on_now(tmp_path):
    from playwright.sync_api import sync_playwright

    with room_server(tmp_path, students=2) as (base, svc, w, detail):
        lesson_id = detail["lesson_id"]
        token = w.login(w.mobiles[detail["roster"][0]["id"]])
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=MEDIA_ARGS)
            try:
                ctx, page = signed_in(browser, token, **PHONE)
                page.goto(f"{base}/")
                now = page.wait_for_selector(f"[data-testid=lesson][data-lesson-id='{lesson_id}'][data-state=open]")
                assert now.get_attribute("data-mode") == "live" and "直播" in now.inner_text()
                later = page.query_selector_all("[data-testid=lesson][data-state=upcoming]")
                assert later and all(li.query_selector("[data-testid=lesson-go]") is None for li in later)
                # the first item is the one on now; the button is in reach of a thumb, inside the screen
                assert page.get_attribute("[data-testid=lesson] >> nth=0", "data-lesson-id") == str(lesson_id)
                box = now.query_selector("[data-testid=lesson-go]").bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["viewport"]["width"] and box["height"] >= 44
                now.query_selector("[data-testid=lesson-go]").tap()
                page.wait_for_url(f"{base}/room?lesson={lesson_id}")
                page.wait_for_selector("#room-status[data-state]")
                ctx.close()
            finally:
                browser.close()
