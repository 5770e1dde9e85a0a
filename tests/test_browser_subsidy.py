"""SUB-1…3 in headless Chromium: an institution admin opens /subsidy for a finished class, reads the roster
(amounts under the Hohhot profile, the reason for every 0), saves the bank account and submits the claim;
the public /disclosure page then lists the claimed students with names, ID numbers and phones masked.
Eligibility itself (EXAM-3) is granted here (tests/outcomes.py); tests/test_course_outcomes.py runs it."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from models import Enrolment, TrainingClass
from tests.outcomes import everyone_eligible

pytestmark = pytest.mark.browser


def _finished_class(svc, app):
    """A finished SYB class of three at alpha (planned ahead as the rules want, then its lessons moved
    two months back: the training is over); the third student is not eligible."""
    from tests.appserver import region_world
    w = region_world(svc, app)
    cid = w.ready_class("alpha", start=svc.today() + timedelta(days=21), students=3, course="SYB", days=7)
    with svc.db.session() as s:
        cls = s.get(TrainingClass, cid)
        cls.status = "finished"
        for lesson in cls.lessons:
            lesson.starts_at, lesson.ends_at = lesson.starts_at - timedelta(days=81), lesson.ends_at - timedelta(days=81)
        sids = sorted(s.scalars(select(Enrolment.student_user_id).where(Enrolment.class_id == cid)))
    return {"w": w, "cid": cid, "sids": sids}


def test_sub1_sub3_the_institution_submits_the_claim_and_the_public_list_is_masked(tmp_path, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    from tests.appserver import CHROMIUM, serve
    from tests.world import PASSWORD, image
    holder: dict = {}

    def build(svc, app):
        holder.update(_finished_class(svc, app))
        everyone_eligible(monkeypatch, {holder["sids"][2]})  # the server runs in this process
        return holder

    with serve(tmp_path, build, background_jobs=False) as (base, _svc, built):
        w, cid, sids = built["w"], built["cid"], built["sids"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
            try:
                ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
                ctx.set_default_timeout(15_000)
                page = ctx.new_page()
                errors, outside = [], []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("dialog", lambda d: d.accept("执照照片模糊，请重新上传") if d.type == "prompt" else d.accept())
                page.on("request", lambda r: outside.append(r.url) if urlsplit(r.url).hostname not in
                        (None, "127.0.0.1") and urlsplit(r.url).scheme not in ("data", "blob") else None)
                page.goto(f"{base}/login?u=alpha_admin&next=/subsidy?class={cid}")
                page.fill("#password", PASSWORD)
                page.click("#login-submit")
                page.wait_for_url(lambda url: "/subsidy" in url)
                for sid, claimed in ((sids[0], "true"), (sids[1], "true"), (sids[2], "false")):
                    expect(page.locator(f"[data-testid=subsidy-roster] tr[data-student-id='{sid}']")).to_have_attribute(
                        "data-claimed", claimed)
                expect(page.locator("[data-testid=roster-totals]")).to_contain_text("2,400 元")  # 2 × 1200 (SUB-1)
                # business-success evidence (SUB-1): upload for two students, verify one, reject the other
                ids = []
                for sid in sids[:2]:
                    page.select_option("#ev-student", str(sid))
                    page.select_option("#ev-kind", "business_licence")
                    page.fill("#ev-started", "2025-01-15")
                    page.set_input_files("#ev-file", {"name": "licence.jpg", "mimeType": "image/jpeg",
                                                      "buffer": image()})
                    before = page.locator("[data-testid=evidence-list] li[data-evidence-id]").count()
                    page.click("#ev-submit")
                    expect(page.locator("[data-testid=evidence-list] li[data-evidence-id]")).to_have_count(before + 1)
                    ids.append(page.locator("[data-testid=evidence-list] li[data-evidence-id]").last
                               .get_attribute("data-evidence-id"))
                evidence = page.locator("[data-testid=evidence-list]")
                expect(evidence.locator(f"li[data-evidence-id='{ids[0]}']")).to_have_attribute("data-status", "submitted")
                page.click(f"[data-testid=verify-{ids[0]}]")
                expect(evidence.locator(f"li[data-evidence-id='{ids[0]}']")).to_have_attribute("data-status", "verified")
                page.click(f"[data-testid=reject-{ids[1]}]")
                expect(evidence.locator(f"li[data-evidence-id='{ids[1]}']")).to_have_attribute("data-status", "rejected")
                assert page.locator(f"[data-testid=verify-{ids[0]}]").count() == 0  # decided: no more buttons
                page.fill("#bank-account-name", "呼和浩特市阿尔法职业培训学校")
                page.fill("#bank-name", "中国银行呼和浩特分行")
                page.fill("#bank-number", "6217 0000 1234 5678")
                page.click("#bank-submit")
                expect(page.locator("#claim-state")).to_contain_text("收款账户已保存")
                page.click("[data-testid=claim-submit]")
                expect(page.locator("[data-testid=claim-submitted]")).to_contain_text("2,400 元")
                page.click("[data-testid=disclosure-link]")
                page.wait_for_url(lambda url: "/disclosure?t=" in url)
                rows = page.locator("[data-testid=disclosure-rows] tbody tr")
                expect(rows).to_have_count(2)
                text = page.inner_text("[data-testid=disclosure-rows]")
                for sid in sids:  # SUB-3: no whole phone number on the public page
                    assert w.mobiles[sid] not in text
                assert w.mobiles[sids[0]][:3] + "****" + w.mobiles[sids[0]][-4:] in text
            finally:
                browser.close()
        assert errors == [] and outside == []


def test_sub4_a_baotou_institution_claims_the_advance_after_the_online_part(tmp_path):
    """SUB-4 on /subsidy: the advance card shows the online part over, who earns the advance (the
    trainee short of 80 % online does not) and submits the advance claim, whose bundle downloads."""
    from playwright.sync_api import expect, sync_playwright

    from tests.appserver import CHROMIUM, serve
    from tests.test_subsidy_advance import teach_online_part, with_amount
    from tests.test_subsidies import BAOTOU_DISTRICT
    from tests.world import PASSWORD, World

    def build(svc, app):
        from datetime import datetime, timezone

        from starlette.testclient import TestClient
        w = World(TestClient(app), svc)
        w.bootstrap_admin()
        w.institution("bt", region=BAOTOU_DISTRICT, profile="baotou")
        cid = w.ready_class("bt", start=svc.today() + timedelta(days=21), students=3, course="SYB", days=7)
        with svc.db.session() as s:
            sids = sorted(s.scalars(select(Enrolment.student_user_id).where(Enrolment.class_id == cid)))
        teach_online_part(svc, cid, *sids, moved_to=datetime.now(timezone.utc) - timedelta(days=2))
        with_amount(svc)
        ok_ = w.client.put(f"/api/institutions/{w.ids['bt']}/bank-account", headers=w.h("bt_admin"), json={
            "account_name": "包头培训学校", "bank_name": "中国工商银行包头分行", "account_number": "6222000011112222"})
        assert ok_.status_code == 200, ok_.text
        return {"cid": cid, "sids": sids}

    with serve(tmp_path, build, background_jobs=False) as (base, _svc, built):
        cid, (a, b, c) = built["cid"], built["sids"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
            try:
                ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True)
                ctx.set_default_timeout(15_000)
                page = ctx.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("dialog", lambda d: d.accept())
                page.goto(f"{base}/login?u=bt_admin&next=/subsidy?class={cid}")
                page.fill("#password", PASSWORD)
                page.click("#login-submit")
                page.wait_for_url(lambda url: "/subsidy" in url)
                expect(page.locator("[data-testid=advance-online]")).to_have_attribute("data-done", "true")
                table = page.locator("[data-testid=advance-card] [data-testid=subsidy-roster]")
                for sid, claimed in ((a, "true"), (b, "false"), (c, "true")):
                    expect(table.locator(f"tr[data-student-id='{sid}']")).to_have_attribute("data-claimed", claimed)
                assert "80%" in table.locator(f"tr[data-student-id='{b}']").inner_text()
                expect(page.locator("[data-testid=advance-totals]")).to_contain_text("400")
                page.click("[data-testid=advance-submit]")
                expect(page.locator("[data-testid=advance-submitted]")).to_contain_text("400")
                expect(page.locator("[data-testid=advance-submit]")).to_be_hidden()
                with page.expect_download() as got:
                    page.click("[data-testid=advance-bundle]")
                assert got.value.suggested_filename == f"subsidy-advance-bundle-{cid}.zip"
                # the final roster already shows what was advanced
                final = page.locator("#roster-card [data-testid=subsidy-roster]")
                expect(final.locator(f"tr[data-student-id='{a}']")).to_contain_text("200")
                assert errors == []
            finally:
                browser.close()
