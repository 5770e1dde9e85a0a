"""A recorded lesson that plays a course package, on a phone in real headless Chromium (ATT-5,
COURSE-1): the page plays the package's first video (a few seconds) and goes on into the second
without a tap, and the heartbeats it sends run on one timeline across the step — the log shows
continuous play, no seek, and the student is credited for both parts. Everything stays on
127.0.0.1 (PLAT-2).
"""
from __future__ import annotations

import pytest

from models import Lesson, TrainingClass
from models.coursepackages import LessonCoursePackage
from server.attendance.recordedstudy import study
from server.live import eventlog
from tests.appserver import PHONE, signed_in
from tests.test_browser_room import MEDIA_ARGS, room_server
from tests.test_course_packages import chapter, create, licence, upload
from tests.test_recorded_study import make_video
from tests.world import ok

pytestmark = pytest.mark.browser
CLIP_SECONDS = 6


def _package(w) -> tuple[int, list[int]]:
    """Alpha's published package: a 6-second opening clip, then a 45-minute lecture."""
    pid = ok(create(w, "alpha_admin", total_hours=1), 201)["id"]
    ch = chapter(w, pid, "第一章 创业意识", who="alpha_admin")
    clip = make_video(seconds=CLIP_SECONDS, fmt="webm", size=(160, 120), fps=10)
    rids = [ok(upload(w, pid, ch, 0, title="片头", who="alpha_admin", data=clip), 201)["id"],
            ok(upload(w, pid, ch, 45, title="第1讲", who="alpha_admin"), 201)["id"]]
    for rid in rids:
        ok(licence(w, pid, rid, who="alpha_admin"))
    ok(w.client.post(f"/api/course-packages/{pid}/publish", headers=w.h("alpha_admin")))
    return pid, rids


def test_att5_phone_plays_a_package_lesson_across_its_parts_as_one_timeline(tmp_path):
    from playwright.sync_api import sync_playwright

    settings = {"study_heartbeat_seconds": 1.0, "study_prompt_seconds": (3000.0, 4000.0),
                "study_face_share": 0.0, "face_attendance": False}
    with room_server(tmp_path, students=2, **settings) as (base, svc, w, detail):
        lesson_id = detail["lesson_id"]
        pid, rids = _package(w)
        with svc.db.session() as s:
            row = s.get(Lesson, lesson_id)
            row.mode, row.class_hours = "recorded", 1
            s.get(TrainingClass, detail["id"]).delivery_mode = "recorded"
            s.add(LessonCoursePackage(lesson_id=lesson_id, package_id=pid))
        student = detail["roster"][0]["id"]
        token = w.login(w.mobiles[student])
        requests: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=MEDIA_ARGS)
            try:
                ctx, page = signed_in(browser, token, requests, **PHONE)
                page.goto(f"{base}/study?lesson={lesson_id}")
                page.wait_for_function("document.getElementById('video').readyState >= 2", timeout=15000)
                assert page.get_attribute("body", "data-part") == "0"
                assert "1 / 2" in page.inner_text("#part-title")
                page.evaluate("document.getElementById('video').play()")  # the student's one tap on play
                # the clip ends; the lecture follows by itself and plays on
                page.wait_for_selector("body[data-part='1']", timeout=20000)
                assert "2 / 2" in page.inner_text("#part-title")
                page.wait_for_function("() => { const v = document.getElementById('video');"
                                       " return !v.paused && v.currentTime > 2; }", timeout=15000)
                page.evaluate("document.getElementById('video').pause()")
                page.wait_for_timeout(500)
                ctx.close()
            finally:
                browser.close()
        with svc.db.session() as s:
            events = [e for e in eventlog.events(s, lesson_id, limit=None) if e.user_id == student]
        beats = [e.payload for e in events if e.kind == "study_progress"]
        video_s = beats[-1]["video_s"]
        assert video_s == pytest.approx(CLIP_SECONDS + 45 * 60, abs=1)  # the only lesson plays the whole package
        assert max(b["pos"] for b in beats) > CLIP_SECONDS + 2  # past the clip, on the joined timeline
        found = study([e for e in events], [student], until=events[-1].at)[student]
        assert not [seg for seg in found.timeline if seg.reason == "seek"]  # the step is continuous play
        assert found.covered > CLIP_SECONDS + 1 and found.study.total_seconds() > CLIP_SECONDS + 1
        assert all(u.startswith(base) or u.startswith(("data:", "blob:")) for u in requests)  # PLAT-2
