"""Recording a lesson a real browser publishes (REC-1, issue 5 "done when"): a headless Chromium
lecturer goes live with a fake camera and microphone; the recorder process is killed with SIGKILL
in the middle; the app restarts it; afterwards every closed segment is intact and playable
(ffprobe), the ledger's hash chain and signature verify, and at most the open segment's last
seconds are missing.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM
from tests.test_browser_room import MEDIA_ARGS, _open, room_server
from tests.test_recorder import FFPROBE, probe

pytestmark = pytest.mark.browser


def recorder_pids(root: Path) -> list[int]:
    """The recorder processes writing under ``root`` (found by their command line)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"recorder" in cmd and str(root).encode() in cmd:
                pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(FFPROBE is None, reason="ffprobe not installed (make install-test installs ffmpeg as root)")
def test_rec1_a_chromium_lesson_survives_a_recorder_sigkill(tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.test_recorder import verify

    with room_server(tmp_path, students=1, face_attendance=False, recording_segment_seconds=4.0) as (base, svc, w,
                                                                                                   detail):
        root, lesson_id = svc.settings.recordings_root, detail["lesson_id"]
        requests: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=MEDIA_ARGS)
            try:
                _, lec = _open(browser, base, w.login(detail["lecturer_username"]), lesson_id, requests)
                lec.click("#go-live")
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not list((root / str(lesson_id)).glob("seg-*.mkv")):
                    time.sleep(0.2)  # the first segment closed: the recording runs
                started = time.monotonic()
                time.sleep(3.0)
                [pid] = recorder_pids(root)
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and not [p for p in recorder_pids(root) if p != pid]:
                    time.sleep(0.2)
                assert [p for p in recorder_pids(root) if p != pid], "the app did not restart the recorder"
                time.sleep(9.0)
                lec.click("#end-live")
                time.sleep(1.0)
                elapsed = time.monotonic() - started
            finally:
                browser.close()
        time.sleep(1.0)  # the room empties: the recording finishes
    folder = root / str(lesson_id)
    segments = sorted(folder.glob("seg-*.mkv"))
    assert not list(folder.glob("*.part")), [p.name for p in folder.iterdir()]
    assert len(segments) >= 4
    durations = []
    for seg in segments:
        info = probe(seg)
        frames = {s["codec_name"]: int(s.get("nb_read_frames", 0)) for s in info["streams"]}
        assert frames.get("vp8", 0) > 0 and frames.get("opus", 0) > 0, (seg.name, info)
        durations.append(float(info["format"]["duration"]))
    report = verify(svc.settings.data_dir, root, lesson_id)
    assert report.ok, report.report()
    # recorded: the first segment (≥ 4 s before `started`) and then `elapsed`; the kill may cost ~1–3 s
    assert sum(durations) >= elapsed - 0.5, (durations, elapsed)
    assert all(u.startswith(base) or u.startswith(("data:", "blob:")) for u in requests)  # PLAT-2
