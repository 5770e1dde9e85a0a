"""Offline-lesson sign-in on a real phone browser (ATT-6): headless Chromium whose fake camera shows
the registered student's face and whose location is set through the DevTools protocol
(``Browser.grantPermissions`` + ``Emulation.setGeolocationOverride``). Inside the venue's radius
the sign-in is accepted; a classmate 1 km away is refused and the page shows the distance. Every
request stays on 127.0.0.1 (PLAT-2).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from media.samplefaces import load_rgb, scene
from server.attendance import offline
from server.live import eventlog
from tests.appserver import PHONE, region_world, serve, signed_in
from tests.test_browser import CHROMIUM
from tests.test_browser_face import write_y4m
from tests.test_browser_room import MEDIA_ARGS
from tests.test_offline_signin import north, plan_offline

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The real app on a free loopback port with an open offline class whose first lesson runs now."""
    from models import Lesson

    def build(svc, app):
        w = region_world(svc, app)
        cid, _ = plan_offline(w, w.client, start=svc.today() + timedelta(days=21), students=2)
        detail = w.open_class("alpha", cid, district="yuquan", city="hohhot")
        draft, _ = plan_offline(w, w.client, start=svc.today() + timedelta(days=28), students=1)  # for the planner
        now = datetime.now(timezone.utc)
        with svc.db.session() as s:  # planned three weeks ahead as the rules require, then moved to now
            row = s.get(Lesson, detail["lessons"][0]["id"])
            row.starts_at, row.ends_at = now - timedelta(minutes=5), now + timedelta(hours=2)
        return w, detail, draft

    tmp = tmp_path_factory.mktemp("signin")
    # liveness is turned on by its own test
    with serve(tmp, build, face_attendance=False, liveness=False) as (base, svc, (w, detail, draft)):
        yield {"base": base, "svc": svc, "tmp": tmp, "lesson_id": detail["lessons"][0]["id"],
               "students": [(s["id"], w.login(w.mobiles[s["id"]])) for s in detail["roster"]],
               "draft": draft, "admin": w.login("alpha_admin"), "client": w.client}


def _phone(browser, base: str, token: str, where: tuple[float, float], accuracy: float, requests: list):
    """A phone page whose location is overridden through the DevTools protocol."""
    ctx, page = signed_in(browser, token, requests, **PHONE)
    cdp = ctx.new_cdp_session(page)
    context_id = cdp.send("Target.getTargetInfo")["targetInfo"]["browserContextId"]
    browser.new_browser_cdp_session().send("Browser.grantPermissions", {
        "origin": base, "permissions": ["geolocation"], "browserContextId": context_id})
    cdp.send("Emulation.setGeolocationOverride", {"latitude": where[0], "longitude": where[1], "accuracy": accuracy})
    return page


def test_att6_phone_sign_in_inside_the_radius_accepted_outside_refused_with_the_distance(site):
    from playwright.sync_api import sync_playwright

    clip = write_y4m(site["tmp"] / "me.y4m", scene(load_rgb("astronaut.png")))  # every student registered this face
    (near_id, near_token), (far_id, far_token) = site["students"]
    requests: list[str] = []
    url = f"{site['base']}/signin?lesson={site['lesson_id']}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=MEDIA_ARGS + [f"--use-file-for-fake-video-capture={clip}"])
        try:
            near = _phone(browser, site["base"], near_token, north(60), 12, requests)
            near.goto(url)
            near.wait_for_selector("#venue-name:has-text('玉泉区创业培训中心')")
            near.wait_for_selector("#camera-state[data-state=ok]", timeout=20000)
            near.wait_for_selector("#location-state[data-state=ok]:has-text('约 60 米')", timeout=20000)
            near.click("#sign-in:not([disabled])")
            near.wait_for_selector("#result[data-accepted=true]", timeout=30000)
            assert "签到成功" in near.inner_text("#result") and "null" not in near.inner_text("#result")
            assert near.get_attribute("#result-face", "data-verdict") == "match"
            assert float(near.get_attribute("#result-distance", "data-distance")) == pytest.approx(60, abs=1)
            near.wait_for_selector("#signed-state[data-signed=true]")
            near.wait_for_selector("#history li[data-accepted=true]")

            far = _phone(browser, site["base"], far_token, north(1000), 12, requests)
            far.goto(url)
            far.wait_for_selector("#camera-state[data-state=ok]", timeout=20000)
            far.wait_for_selector("#location-state[data-state=bad]:has-text('约 1000 米')", timeout=20000)
            far.click("#sign-in:not([disabled])")
            far.wait_for_selector("#result[data-accepted=false][data-reason=outside_radius]", timeout=30000)
            text = far.inner_text("#result")
            assert "签到未通过" in text and "1000 米" in text and "签到范围 200 米" in text
            assert "约 1000 米，超出签到范围 200 米" in far.inner_text("#result-reason")
            far.wait_for_selector("#signed-state[data-signed=false]")
            near.screenshot(path="/tmp/signin-accepted.png", full_page=True)
            far.screenshot(path="/tmp/signin-refused.png", full_page=True)
        finally:
            browser.close()
    assert all(u.startswith(site["base"]) or u.startswith(("data:", "blob:")) for u in requests), requests  # PLAT-2
    with site["svc"].db.session() as s:
        events = eventlog.events(s, site["lesson_id"], kinds=[offline.KIND], limit=None)
    assert [(e.user_id, e.payload["accepted"], e.payload["reason"]) for e in events] == [
        (near_id, True, None), (far_id, False, "outside_radius")]
    assert events[1].payload["distance_m"] == pytest.approx(1000, abs=1)


def test_att1_a_still_picture_cannot_pass_the_liveness_step_before_signing_in(site):
    """With liveness on (the default), the page runs a head-turn-and-blink challenge first and
    uploads the clip; a fake camera showing the registered face as a still picture fails it."""
    import dataclasses

    from playwright.sync_api import sync_playwright

    svc = site["svc"]
    clip = write_y4m(site["tmp"] / "still.y4m", scene(load_rgb("astronaut.png")))
    far_id, far_token = site["students"][1]  # refused earlier for the distance: not signed in
    requests: list[str] = []
    svc.settings = dataclasses.replace(svc.settings, liveness=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=MEDIA_ARGS + [f"--use-file-for-fake-video-capture={clip}"])
            try:
                page = _phone(browser, site["base"], far_token, north(60), 12, requests)
                page.goto(f"{site['base']}/signin?lesson={site['lesson_id']}")
                page.wait_for_selector("#location-state[data-state=ok]", timeout=20000)
                page.click("#sign-in:not([disabled])")
                page.wait_for_selector("#liveness-step:not([hidden]) .arrow", timeout=20000)  # a step to do
                step = page.inner_text("#liveness-step")
                page.wait_for_selector("#result[data-reason=liveness_failed]", timeout=40000)
                text = page.inner_text("#result")
            finally:
                browser.close()
    finally:
        svc.settings = dataclasses.replace(svc.settings, liveness=False)
    assert "转头" in step or "眨眼" in step
    assert "活体检测未通过" in text and "未检测到眨眼" in text
    assert all(u.startswith(site["base"]) or u.startswith(("data:", "blob:")) for u in requests), requests  # PLAT-2
    with svc.db.session() as s:
        verdicts = [e for e in eventlog.events(s, site["lesson_id"], kinds=["liveness"], limit=None)
                    if e.user_id == far_id]
        attempts = [e for e in eventlog.events(s, site["lesson_id"], kinds=[offline.KIND], limit=None)
                    if e.user_id == far_id]
    assert len(verdicts) == 1 and verdicts[0].payload["via"] == "upload" and not verdicts[0].payload["passed"]
    assert {"no_turn", "no_blink"} <= set(verdicts[0].payload["reasons"]) and verdicts[0].payload["frames"] >= 20
    assert verdicts[0].payload["identity"] == "match"  # the right face, not alive
    assert len(attempts) == 1  # only the earlier distance refusal: the page did not post the sign-in


def test_cls6_planner_edits_an_offline_lessons_venue(site):
    """The institution sets each offline lesson's venue in the planner; a bad one is shown at its field."""
    from playwright.sync_api import expect, sync_playwright

    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=MEDIA_ARGS)
        try:
            ctx, page = signed_in(browser, site["admin"], requests, viewport={"width": 1400, "height": 900})
            page.goto(f"{site['base']}/planner#class-{site['draft']}")
            rows = page.locator("#lessons-table tbody tr")
            expect(rows).to_have_count(14)
            first, third = rows.nth(0), rows.nth(2)
            expect(first.locator("[data-testid=lesson-venue]")).to_be_visible()
            expect(first.locator("input[name='venue.name']")).to_have_value("玉泉区创业培训中心")
            first.locator("input[name='venue.radius_m']").fill("350")
            third.locator("input[name='venue.latitude']").fill("95")
            page.click("#save-lessons")
            expect(page.locator("#lessons-error")).to_contain_text("VENUE_LATITUDE")
            expect(third.locator("input[name='venue.latitude']")).to_have_class(re.compile(r"\binvalid\b"))
            third.locator("input[name='venue.latitude']").fill("40.81")
            page.click("#save-lessons")
            expect(page.locator("#lessons-error")).to_be_hidden()
            expect(rows.nth(0).locator("input[name='venue.radius_m']")).to_have_value("350")
        finally:
            browser.close()
    assert all(u.startswith(site["base"]) or u.startswith(("data:", "blob:")) for u in requests), requests  # PLAT-2
    detail = site["client"].get(f"/api/classes/{site['draft']}", headers={"Authorization": f"Bearer {site['admin']}"}).json()
    assert detail["lessons"][0]["venue"]["radius_m"] == 350 and detail["lessons"][2]["venue"]["latitude"] == 40.81
