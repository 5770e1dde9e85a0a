"""The spot-check page in a real headless Chromium (SUP-5, ATT-6): a Chaoyang district supervisor draws
a month's live lessons, sees the batch's report (drawn share against 10 %, the draw reproduced from its
seed), the assignments with their replay links, is refused a verdict before watching, records a
problem after the replay page has reported watching, and sees the offline lesson's missing site videos.
Every request stays on 127.0.0.1 (PLAT-2)."""
from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.appserver import serve, signed_in
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.test_recorded_study import make_video
from tests.test_spotcheck import PASSWORD, beijing

pytestmark = pytest.mark.browser


@contextlib.contextmanager
def served(tmp: Path):
    """The Beijing spot-check world (tests/test_spotcheck.beijing) served on loopback."""
    def build(svc, app):
        from starlette.testclient import TestClient
        first = svc.today() - timedelta(days=31)
        world = beijing(svc, first)
        tc = TestClient(app)
        token = {who: tc.post("/api/auth/login", json={"username": who, "password": PASSWORD}).json()["token"]
                 for who in ("chaoyang", "school")}
        return token, world, first

    with serve(tmp, build) as (base, _svc, (token, world, first)):
        yield base, token, world, first


def test_supervisor_draws_reads_the_report_and_records_a_verdict(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with served(tmp_path) as (base, token, world, first), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            ctx, page = signed_in(browser, token["chaoyang"], timezone_id="Asia/Shanghai")
            ctx.set_default_timeout(15_000)
            requests: list[str] = []
            errors: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/spotcheck")

            expect(page.locator("#draw-code")).to_have_value("110105")
            page.fill("#draw-from", str(first))
            page.fill("#draw-to", str(first + timedelta(days=29)))
            page.click("#draw-submit")
            expect(page.locator("[data-testid=draw-result]")).to_contain_text("已抽取")
            expect(page.locator("[data-testid=drawn-share]")).to_have_class("good")
            expect(page.locator("[data-testid=reproduced]")).to_contain_text("可复现 reproduced")
            items = page.locator("[data-testid=assignment]")
            expect(items.first).to_be_visible()
            n = items.count()
            assert n == page.locator("[data-testid=report-item]").count() >= 1
            first_item = items.first
            item_id, lesson_id = first_item.get_attribute("data-item-id"), first_item.get_attribute("data-lesson-id")
            assert first_item.locator("[data-testid=replay-link]").get_attribute("href") == \
                f"/replay?lesson={lesson_id}&spotcheck={item_id}"

            # before watching: the server refuses, the page shows why in Chinese and English
            first_item.locator("button[type=submit]").click()
            expect(first_item.locator(".error-box")).to_contain_text("须至少观看")
            expect(first_item.locator(".error-box")).to_contain_text("Watch at least")

            # the replay page reports what was watched (the same call it makes), then the verdict
            status = page.evaluate("""async ([id, token]) => (await fetch(`/api/spot-checks/items/${id}/watched`, {
                method: "POST", headers: {"Content-Type": "application/json", Authorization: `Bearer ${token}`},
                body: JSON.stringify({ranges: [[0, 360]]})})).status""", [item_id, token["chaoyang"]])
            assert status == 200
            page.reload()
            first_item = page.locator(f'[data-testid=assignment][data-item-id="{item_id}"]')
            expect(first_item.locator("[data-testid=watched]")).to_contain_text("已观看 6.0")
            first_item.locator("input[value=problem]").check()
            first_item.locator("textarea").fill("讲师未出镜")
            first_item.locator("button[type=submit]").click()
            expect(first_item.locator("[data-testid=verdict]")).to_contain_text("发现问题")
            page.locator("[data-testid=batch-row]").first.click()
            expect(page.locator("[data-testid=problems]")).to_contain_text("讲师未出镜")
            expect(page.locator("[data-testid=done]")).to_contain_text("1 节")

            # ATT-6: the offline lesson without any site video is flagged
            row = page.locator(f'[data-testid=checklist-row][data-lesson-id="{world.offline}"]')
            expect(row.locator("td[data-col=clips]")).to_contain_text("0 / 2")
            expect(row.locator("td[data-col=full]")).to_contain_text("未上传")
            row.click()
            expect(page.locator("[data-testid=verification]")).to_contain_text("完整性校验通过")

            # the institution's admin uploads the first class-hour's clip from the same page
            staff, spage = signed_in(browser, token["school"], timezone_id="Asia/Shanghai")
            staff.set_default_timeout(15_000)
            spage.on("pageerror", lambda e: errors.append(str(e)))
            spage.goto(f"{base}/spotcheck?lesson={world.offline}")
            assert spage.locator("#draw-card").is_hidden()
            form = spage.locator("[data-testid=upload-form]")
            form.locator("input[type=file]").set_input_files(
                files=[{"name": "site.webm", "mimeType": "video/webm", "buffer": make_video(10)}])
            form.locator("button[type=submit]").click()
            expect(spage.locator("[data-testid=site-video]")).to_have_count(1)
            srow = spage.locator(f'[data-testid=checklist-row][data-lesson-id="{world.offline}"]')
            expect(srow.locator("td[data-col=clips]")).to_contain_text("1 / 2")
            assert spage.locator("[data-testid=site-video] video").evaluate("v => v.src").startswith(f"{base}/api/site-videos/")

            outside = [u for u in requests if urlsplit(u).scheme not in ("data", "blob")
                       and urlsplit(u).hostname != "127.0.0.1"]
            assert not outside, outside
            assert not errors, errors
        finally:
            browser.close()
