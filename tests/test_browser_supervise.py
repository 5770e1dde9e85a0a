"""The supervisors' dashboard in real headless Chromium (SUP-1/2/4): a district supervisor logs in,
sees the live class of their region, opens its roster (masked), downloads it as CSV, and enters the
live room with one click as a hidden spectator — in a new tab, through a spectator link.
"""
from __future__ import annotations

import csv
import io

import pytest

from tests.appserver import signed_in
from tests.test_browser import CHROMIUM
from tests.test_browser_room import MEDIA_ARGS, room_server

pytestmark = pytest.mark.browser


def test_sup1_sup4_dashboard_lists_the_live_class_exports_the_roster_and_enters_the_room(tmp_path):
    from playwright.sync_api import sync_playwright

    with room_server(tmp_path, students=3, face_attendance=False) as (base, svc, w, detail):
        token = w.login("yuquan")
        roster = detail["roster"]
        requests: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=MEDIA_ARGS)
            try:
                ctx, page = signed_in(browser, token, requests, accept_downloads=True,
                                      viewport={"width": 1366, "height": 900})
                page.goto(f"{base}/supervise")
                row = page.wait_for_selector(f'[data-testid=class-row][data-class-id="{detail["id"]}"]')
                row.click()
                page.click("[data-testid=tab-roster]")
                panel = page.wait_for_selector("[data-testid=panel-roster] table")
                text = panel.inner_text()
                for s in roster:  # masked: never a whole ID number or mobile on the page
                    assert w.mobiles[s["id"]] not in text
                with page.expect_download() as dl:
                    page.click("[data-testid=panel-roster] [data-testid$=-csv]")
                rows = list(csv.reader(io.StringIO(dl.value.path().read_text(encoding="utf-8-sig"))))
                assert len(rows) == 1 + len(roster) and dl.value.suggested_filename.endswith(".csv")
                assert not any(w.mobiles[s["id"]] in ",".join(r) for r in rows for s in roster)
                # EXAM-3 and SUB-1 tabs read their own endpoints when opened: one row per student
                for tab in ("eligibility", "subsidy"):
                    page.click(f"[data-testid=tab-{tab}]")
                    table = page.wait_for_selector(f"[data-testid=panel-{tab}] table[data-testid={tab}]")
                    assert len(table.query_selector_all("tbody tr")) == len(roster), tab
                # one click: a spectator link, in a new tab, opens the room hidden
                with ctx.expect_page() as opened:
                    page.click(f'[data-testid=spectate][data-lesson-id="{detail["lesson_id"]}"]')
                room = opened.value
                room.wait_for_selector("#room-status[data-state=live]", timeout=20000)
                assert "spectate=sl1." in room.url
                assert room.evaluate("window.qihangRoom.you.room_role") == "spectator"
                assert room.evaluate("window.qihangRoom.you.hidden") is True
            finally:
                browser.close()
        assert all(u.startswith(base) or u.startswith(("data:", "blob:", "about:")) for u in requests)  # PLAT-2
