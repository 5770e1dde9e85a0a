"""The attendance page in a real headless Chromium (ATT-2/3/4/7/8, issue 4 §4 "the student and a supervisor
can open the timeline that produced it"): a district supervisor opens /attendance?class=…&student=… on a
phone and sees the lesson's timeline bar — credited stretches and a liveness_failed one — with its legend
in Chinese and English, the day's study photo, and the class table with the miss in red. Every request
stays on 127.0.0.1 (PLAT-2)."""
from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.test_attendance_api import save_photo, teach
from tests.appserver import PHONE, region_world, serve, signed_in
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser


@contextlib.contextmanager
def taught_server(tmp: Path):
    """The real app on a loopback port with an open Hohhot class whose first lesson was taught for an
    hour (tests/test_attendance_api.teach) two hours ago; yields (base URL, world, ids)."""
    from models import Lesson

    def build(svc, app):
        w = region_world(svc, app)
        cid = w.ready_class("alpha", start=svc.today() + timedelta(days=21), students=3)
        detail = w.open_class("alpha", cid, district="yuquan", city="hohhot")
        a, b, _ = sorted(s["id"] for s in detail["roster"])
        start = (datetime.now(timezone.utc) - timedelta(hours=3)).replace(second=0, microsecond=0)
        lesson_id = detail["lessons"][0]["id"]
        with svc.db.session() as s:
            row = s.get(Lesson, lesson_id)
            row.starts_at, row.ends_at = start, start + timedelta(minutes=90)
        teach(svc, lesson_id, detail["lecturers"][0]["user_id"], a, b, save_photo(svc, a), w.ids["yuquan"], start=start)
        return w, {"class": cid, "a": a, "b": b, "lesson": lesson_id}

    with serve(tmp, build) as (base, _svc, (w, ids)):
        yield base, w, ids


def test_supervisor_opens_a_students_timeline_with_the_liveness_failed_stretch_and_legend(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with taught_server(tmp_path) as (base, w, ids), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            ctx, page = signed_in(browser, w.login("yuquan"), timezone_id="Asia/Shanghai", **PHONE)
            ctx.set_default_timeout(15_000)
            requests: list[str] = []
            errors: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/attendance?class={ids['class']}&student={ids['a']}")

            bar = page.locator(f'[data-testid=timeline][data-lesson-id="{ids["lesson"]}"]')
            expect(bar).to_be_visible()
            reasons = bar.locator("[data-testid=segment]").evaluate_all("els => els.map(e => e.dataset.reason)")
            assert reasons == ["credited", "liveness_failed", "credited", "not_connected"], reasons
            failed = bar.locator("[data-reason=liveness_failed]")
            widths = bar.locator("[data-testid=segment]").evaluate_all(
                "els => els.map(e => e.getBoundingClientRect().width)")
            total = sum(widths)
            assert abs(widths[1] / total - 10 / 90) < 0.02 and abs(widths[0] / total - 20 / 90) < 0.02, widths
            colours = bar.locator("[data-testid=segment]").evaluate_all(
                "els => els.map(e => getComputedStyle(e).backgroundColor + getComputedStyle(e).backgroundImage)")
            assert len(set(colours[:2])) == 2 and colours[0] == colours[2]  # credited green, liveness its own
            failed.click()  # tap: the caption says which stretch and why
            expect(page.locator(".seg-caption").first).to_contain_text("活体检测未通过")
            expect(page.locator(".seg-caption").first).to_contain_text("liveness check failed")

            legend = page.locator("[data-testid=legend]")
            for code, zh, en in (("liveness_failed", "活体检测未通过", "liveness check failed"),
                                 ("credited", "计入学时", "credited"), ("page_hidden", "页面在后台", "page hidden"),
                                 ("not_connected", "未在直播间", "not connected")):
                item = legend.locator(f'li[data-reason="{code}"]')
                expect(item).to_contain_text(zh)
                expect(item).to_contain_text(en)
            image = "e => getComputedStyle(e).backgroundImage"
            assert legend.locator('li[data-reason="liveness_failed"] .swatch').evaluate(image) == failed.evaluate(image)

            lesson = page.locator(f'[data-testid=lesson][data-lesson-id="{ids["lesson"]}"]')
            expect(lesson.locator("[data-testid=liveness] li[data-passed=false]")).to_contain_text("没有转头")
            expect(page.locator("#student-name")).to_be_visible()
            photo = page.locator("[data-testid=study-photo]")
            expect(photo).to_be_visible()
            assert photo.evaluate("img => img.complete && img.naturalWidth") == 320

            # the class table (the supervisor sees it above): B, 30 of 60 minutes, misses ATT-3 in red; A does not
            row = page.locator(f'[data-testid=att-row][data-student-id="{ids["b"]}"]')
            expect(row.locator("td[data-col=ratio]")).to_have_class("num miss")
            a_ratio = page.locator(f'[data-testid=att-row][data-student-id="{ids["a"]}"] td[data-col=ratio]')
            expect(a_ratio).to_have_text("83.3%")
            assert "miss" not in a_ratio.get_attribute("class")
            expect(page.locator("[data-testid=rollcall-window]").first).to_be_visible()
            page.click("button.sort[data-sort=rate]")
            first = page.locator("[data-testid=att-row]").first.get_attribute("data-student-id")
            assert first == str(ids["b"])  # B: every check passed, the highest rate first
            with page.expect_download() as dl:
                page.click("#export-csv")
            csv_text = Path(dl.value.path()).read_text(encoding="utf-8-sig")
            assert csv_text.startswith("student_id,student_name,study_seconds") and len(csv_text.splitlines()) == 4
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # phone: nothing wider than the screen
            outside = [u for u in requests if urlsplit(u).scheme not in ("data", "blob")
                       and urlsplit(u).hostname != "127.0.0.1"]
            assert not outside, outside
            assert not errors, errors
        finally:
            browser.close()
