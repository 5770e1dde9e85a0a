"""Face attendance with real phone browsers (ATT-1, issue 4 "done when"): three headless Chromium
students whose fake cameras show (a) the registered student's face, (b) another person's face,
(c) an empty room. The SFU samples each attendance stream, a worker judges it, and the lesson log
says present (match), mismatch and absent; the attendance rate follows from the log (ATT-4).

A fake camera plays a fixed clip and cannot answer a random challenge, so that room runs with
liveness off; a second room with liveness on shows the same still picture failing the challenge
on the student's page (the live pass is tested over WebRTC in tests/test_liveness.py).
"""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from media.samplefaces import load_rgb
from server.attendance.lessonattendance import attendance
from server.live import eventlog
from tests.appserver import PHONE
from tests.test_browser import CHROMIUM
from tests.test_browser_room import MEDIA_ARGS, _open, room_server
from tests.test_face_attendance_live import _scene as scene

pytestmark = pytest.mark.browser


def write_y4m(path: Path, rgb: np.ndarray, frames: int = 10) -> Path:
    """A still picture as a YUV4MPEG2 clip: what Chromium's fake camera plays (in a loop)."""
    h, w = rgb.shape[:2]
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes()
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + yuv)
    return path


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faceroom")  # every student registers with the astronaut's photo
    with room_server(tmp, students=3, face_sample_seconds=(2.0, 3.0), liveness=False) as (base, svc, w, detail):
        yield {"base": base, "lesson_id": detail["lesson_id"], "svc": svc, "tmp": tmp,
               "lecturer": w.login(detail["lecturer_username"]),
               "students": [(s["id"], w.login(w.mobiles[s["id"]])) for s in detail["roster"][:3]]}


def test_att1_registered_face_present_another_face_mismatch_empty_room_absent(room):
    from playwright.sync_api import sync_playwright

    cams = {"me": scene(load_rgb("astronaut.png")), "other": scene(load_rgb("grace_hopper.jpg")), "nobody": scene(None)}
    who = dict(zip(cams, room["students"]))
    requests: list[str] = []
    with sync_playwright() as pw:
        browsers = []
        try:
            for name, picture in cams.items():
                clip = write_y4m(room["tmp"] / f"{name}.y4m", picture)
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=MEDIA_ARGS + [f"--use-file-for-fake-video-capture={clip}"])
                browsers.append(browser)
                _open(browser, room["base"], who[name][1], room["lesson_id"], requests, **PHONE)
            deadline, verdicts = time.monotonic() + 60, {}
            while time.monotonic() < deadline:
                with room["svc"].db.session() as s:
                    verdicts, last_id = {}, 0
                    for ev in eventlog.events(s, room["lesson_id"], kinds=["face_check"], limit=None):
                        verdicts.setdefault(ev.user_id, []).append(ev.payload["verdict"])
                        last_id = ev.id
                if all(len(verdicts.get(uid, [])) >= 2 for uid, _ in who.values()):
                    break
                time.sleep(0.5)
            # the lecturer's console shows each student's latest check (snapshot, then live events)
            _, console = _open(browsers[0], room["base"], room["lecturer"], room["lesson_id"], requests)
            for name, verdict in (("me", "match"), ("other", "mismatch"), ("nobody", "absent")):
                console.wait_for_selector(f'#roster-body tr[data-user="{who[name][0]}"] td[data-face="{verdict}"]',
                                          timeout=15000)
            assert "本人" in console.inner_text(f'#roster-body tr[data-user="{who["me"][0]}"]')
        finally:
            for b in browsers:
                b.close()
    mine, other, nobody = (verdicts.get(who[n][0], []) for n in ("me", "other", "nobody"))
    assert mine and set(mine) == {"match"}, verdicts
    assert other and set(other) == {"mismatch"}, verdicts
    assert nobody and set(nobody) == {"absent"}, verdicts
    assert all(u.startswith(room["base"]) or u.startswith(("data:", "blob:")) for u in requests)  # PLAT-2
    with room["svc"].db.session() as s:
        # while the cameras were on (closing the browsers afterwards leaves checks without a picture)
        events = [e for e in eventlog.events(s, room["lesson_id"], limit=None) if e.id <= last_id]
        found = attendance(events, [uid for uid, _ in who.values()], until=events[-1].at)
    assert found[who["me"][0]].attendance_rate == 1 and found[who["me"][0]].meets_attendance  # ATT-4
    assert found[who["other"][0]].checks_passed == 0 and not found[who["other"][0]].meets_attendance


def test_att1_a_still_picture_of_the_registered_face_fails_the_liveness_challenge(tmp_path):
    from playwright.sync_api import sync_playwright

    with room_server(tmp_path, students=1, face_sample_seconds=(1.0, 2.0), liveness_seconds=None) as (base, svc, w,
                                                                                                      detail):
        lesson_id, (student_id, token) = detail["lesson_id"], (detail["roster"][0]["id"],
                                                               w.login(w.mobiles[detail["roster"][0]["id"]]))
        clip = write_y4m(tmp_path / "photo.y4m", scene(load_rgb("astronaut.png")))
        requests: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=MEDIA_ARGS + [f"--use-file-for-fake-video-capture={clip}"])
            try:
                _, page = _open(browser, base, token, lesson_id, requests, **PHONE)
                # the page shows the challenge's steps over the student's own camera...
                page.wait_for_selector('#liveness:not([hidden]) .arrow[data-action]', timeout=30000)
                shown = page.inner_text("#liveness-step")
                # ...and then the server's verdict
                page.wait_for_selector('#liveness[data-state="failed"]', timeout=30000)
                verdict_text = page.inner_text("#liveness-step")
                deadline, verdicts = time.monotonic() + 40, []
                while time.monotonic() < deadline and len(verdicts) < 2:  # the first try and its retry
                    with svc.db.session() as s:
                        verdicts = [e.payload for e in eventlog.events(s, lesson_id, kinds=["liveness"], limit=None)]
                    time.sleep(0.5)
                with svc.db.session() as s:
                    checks = [e.payload for e in eventlog.events(s, lesson_id, kinds=["face_check"], limit=None)]
            finally:
                browser.close()
    assert any(word in shown for word in ("转头", "眨眼"))
    assert "未通过" in verdict_text
    assert [v["attempt"] for v in verdicts[:2]] == [1, 2] and not any(v["passed"] for v in verdicts)
    for v in verdicts:
        assert {"no_turn", "no_blink"} <= set(v["reasons"]) and v["identity"] == "match", v
        assert v["frames"] >= 20  # the clip was seen: it is the stillness that fails
    assert sum(c["verdict"] == "match" for c in checks) > len(checks) / 2  # the face itself matches
    assert all(u.startswith(base) or u.startswith(("data:", "blob:")) for u in requests)  # PLAT-2
