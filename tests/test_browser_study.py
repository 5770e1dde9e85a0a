"""A recorded lesson on a phone in real headless Chromium (ATT-5): the course video is made here with
PyAV and uploaded to the real server; the page plays it, the server asks a prompt a few seconds in,
the page takes a snapshot with the fake camera (showing the student's registered face) and the test
taps the right answer; the lesson log then holds the heartbeats, the prompt, the answer and the face
check, and the student is credited. Everything stays on 127.0.0.1 (PLAT-2).
"""
from __future__ import annotations

import time

import httpx
import pytest

from media.samplefaces import load_rgb, scene
from models import Lesson, TrainingClass
from server.attendance.recordedstudy import study
from server.live import eventlog
from tests.appserver import PHONE, signed_in
from tests.test_browser_face import write_y4m
from tests.test_browser_room import MEDIA_ARGS, room_server
from tests.test_recorded_study import make_video
from tests.world import auth

pytestmark = pytest.mark.browser


def _events(svc, lesson_id: int, kinds=None) -> list:
    with svc.db.session() as s:
        return eventlog.events(s, lesson_id, kinds=kinds, limit=None)


def test_att5_phone_plays_the_video_answers_a_prompt_and_passes_the_face_check(tmp_path):
    from playwright.sync_api import sync_playwright

    settings = {"study_heartbeat_seconds": 1.0, "study_prompt_seconds": (4.0, 6.0),
                "study_prompt_window_seconds": 30.0, "study_face_share": 1.0, "face_attendance": False}
    with room_server(tmp_path, students=2, **settings) as (base, svc, w, detail):
        lesson_id = detail["lesson_id"]
        with svc.db.session() as s:
            s.get(Lesson, lesson_id).mode = "recorded"
            s.get(TrainingClass, detail["id"]).delivery_mode = "recorded"
        clip = make_video(seconds=30, fmt="webm", size=(160, 120), fps=10)
        admin = w.login("alpha_admin")
        up = httpx.put(f"{base}/api/lessons/{lesson_id}/video", content=clip, timeout=30,
                       headers={**auth(admin), "Content-Type": "video/webm"})  # streamed by uvicorn
        assert up.status_code == 200, up.text
        student = detail["roster"][0]["id"]  # registered with the astronaut's photo
        token = w.login(w.mobiles[student])
        camera = write_y4m(tmp_path / "me.y4m", scene(load_rgb("astronaut.png"), 40, 0, 0.45))
        requests: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                         args=MEDIA_ARGS + [f"--use-file-for-fake-video-capture={camera}"])
            try:
                ctx, page = signed_in(browser, token, requests, **PHONE)
                page.goto(f"{base}/study?lesson={lesson_id}")
                page.wait_for_function("document.getElementById('video').readyState >= 2", timeout=15000)
                page.evaluate("document.getElementById('video').play()")  # the student's tap on play
                page.wait_for_selector("#prompt:not([hidden])", timeout=30000)
                assert page.evaluate("document.getElementById('video').paused")  # the video waits under the prompt
                prompt_id = int(page.get_attribute("#prompt", "data-prompt-id"))
                asked = next(e for e in _events(svc, lesson_id, ["hm_prompt"]) if e.id == prompt_id)
                assert asked.payload["snapshot"] and not page.evaluate("'answer' in window.qihangStudy.prompt")
                page.wait_for_selector('#face-state[data-state="match"]', timeout=30000)  # fake camera → match
                page.click(f'#prompt-choices button[data-choice="{asked.payload["answer"]}"]')
                page.wait_for_selector("#prompt", state="hidden", timeout=10000)
                page.wait_for_function("!document.getElementById('video').paused", timeout=10000)  # resumed
                time.sleep(2.5)  # a few more heartbeats of watching, short of the next prompt
                played = page.evaluate("document.getElementById('video').currentTime")
                page.evaluate("document.getElementById('video').pause()")
                page.wait_for_timeout(500)
                ctx.close()
            finally:
                browser.close()
        events = [e for e in _events(svc, lesson_id) if e.user_id == student]
        kinds = [e.kind for e in events]
        assert kinds.count("hm_prompt") == 1 and "hm_answer" in kinds
        answer = next(e for e in events if e.kind == "hm_answer")
        assert answer.payload["prompt"] == prompt_id and answer.payload["outcome"] == "correct"
        faces = [e.payload for e in events if e.kind == "face_check"]
        assert faces and faces[-1]["verdict"] == "match" and faces[-1]["source"] == "study"
        beats = [e.payload for e in events if e.kind == "study_progress"]
        assert {"start", "play", "prompt", "tick"} <= {b["reason"] for b in beats}
        assert any(b["playing"] and b["visible"] and b["pos"] > 0 for b in beats)
        found = study(events, [student], until=events[-1].at)[student]
        assert (found.prompts_passed, found.faces_passed) == (1, 1)
        assert 4 <= found.study.total_seconds() <= played + 1.5 and found.covered > 3
        assert all(u.startswith(base) or u.startswith(("data:", "blob:")) for u in requests)  # PLAT-2
