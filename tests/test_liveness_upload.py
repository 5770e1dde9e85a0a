"""Liveness answered by upload (ATT-1 for pages without a live stream; ATT-6 sign-in): the page
records the challenge with MediaRecorder and uploads the clip; the server judges it. Clips here are
WebM files made with PyAV from the packaged face, warped to do what is asked (media/sampleclips.py).
"""
from __future__ import annotations

import fractions
import io
from datetime import timedelta

import av
import numpy as np
import pytest

from media.liveness import Challenge, Step
from media.sampleclips import FaceAnimator, camera_frame, compliant_pose
from server.attendance import offline
from server.live import eventlog
from tests.test_offline_signin import lesson, sign, world  # noqa: F401 - fixtures: an open offline class

FPS = 15


@pytest.fixture(scope="module")
def animator():
    return FaceAnimator(camera_frame("astronaut.png"))  # every student registered this face


def webm(animator, challenge: dict | None, fps: int = FPS) -> bytes:
    """A clip of the face doing what ``challenge`` asks (None: holding still, a photo)."""
    ch = None
    if challenge is not None:
        ch = Challenge(challenge["id"], tuple(Step(s["action"], s["start"], s["end"]) for s in challenge["steps"]),
                       challenge["seconds"])
    seconds = challenge["seconds"] if challenge else 9.0
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.time_base = fractions.Fraction(1, fps)
        for i, t in enumerate(np.arange(0, seconds, 1 / fps)):
            pose = compliant_pose(ch, float(t)) if ch else (0.0, 0.0)
            frame = av.VideoFrame.from_ndarray(animator.frame(*pose), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def _h(lesson, sid):
    return {"Authorization": f"Bearer {lesson['tokens'][sid]}"}


def _challenge(client, lesson, sid, **body):
    resp = client.post(f"/api/lessons/{lesson['lesson_id']}/liveness", headers=_h(lesson, sid), json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()["challenge"]


def _answer(client, lesson, sid, cid, data: bytes, name="clip.webm"):
    return client.post(f"/api/lessons/{lesson['lesson_id']}/liveness/{cid}", headers=_h(lesson, sid),
                       files={"clip": (name, data, "video/webm")})


def test_att1_a_clip_doing_the_challenge_passes_and_a_still_one_fails(client, lesson, svc, animator):
    sid = lesson["students"][0]
    ch = _challenge(client, lesson, sid)
    assert [s["action"] for s in ch["steps"]] and all(s["zh"] and s["en"] for s in ch["steps"])
    live = _answer(client, lesson, sid, ch["id"], webm(animator, ch))
    assert live.status_code == 200 and live.json()["passed"], live.json()
    assert live.json()["identity"] == "match" and live.json()["via"] == "upload"
    still_ch = _challenge(client, lesson, sid, reason="retry")
    still = _answer(client, lesson, sid, still_ch["id"], webm(animator, None)).json()
    assert not still["passed"] and {"no_turn", "no_blink"} <= set(still["reasons"])
    assert "未检测到眨眼" in still["reasons_zh"] and "No blink seen" in still["reasons_en"]
    with svc.db.session() as s:
        logged = eventlog.events(s, lesson["lesson_id"], kinds=["liveness_challenge", "liveness"], limit=None)
    assert [(e.kind, e.user_id) for e in logged] == [("liveness_challenge", sid), ("liveness", sid)] * 2
    assert logged[0].payload["challenge"]["id"] == ch["id"] and logged[1].payload["passed"]


def test_a_challenge_is_single_use_personal_and_expires(client, lesson, clock, animator):
    a, b = lesson["students"][:2]
    ch = _challenge(client, lesson, a)
    data = webm(animator, ch)
    other = _answer(client, lesson, b, ch["id"], data)
    assert other.status_code == 404  # another student's challenge does not exist for them
    assert _answer(client, lesson, a, ch["id"], data).status_code == 200
    again = _answer(client, lesson, a, ch["id"], data)
    assert again.status_code == 409 and again.json()["error"]["code"] == "CHALLENGE_USED"
    late = _challenge(client, lesson, a)
    clock.set(clock() + timedelta(seconds=121))
    expired = _answer(client, lesson, a, late["id"], webm(animator, late))
    assert expired.status_code == 409 and expired.json()["error"]["code"] == "CHALLENGE_EXPIRED"


def test_bad_clips_and_outsiders_get_clear_errors(client, lesson, world):
    sid = lesson["students"][0]
    ch = _challenge(client, lesson, sid)
    bad = _answer(client, lesson, sid, ch["id"], b"not a video at all")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "CLIP_UNREADABLE"
    assert bad.json()["error"]["field"] == "clip" and bad.json()["error"]["message_zh"]
    missing = client.post(f"/api/lessons/{lesson['lesson_id']}/liveness/{ch['id']}", headers=_h(lesson, sid),
                          files={"other": ("a.txt", b"x", "text/plain")})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "other"  # names the stray field
    wrong = client.post(f"/api/lessons/{lesson['lesson_id']}/liveness", headers=_h(lesson, sid), json={"reason": "x"})
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "reason"
    outsider = world.student("alpha")
    token = world.login(world.mobiles[outsider])
    resp = client.post(f"/api/lessons/{lesson['lesson_id']}/liveness", headers={"Authorization": f"Bearer {token}"},
                       json={})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "NOT_ON_ROSTER"


def test_att6_sign_in_needs_a_recent_liveness_pass(client, lesson, svc, clock, animator):
    sid = lesson["students"][0]
    refused = sign(client, lesson, sid)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "LIVENESS_REQUIRED"
    info = client.get(f"/api/lessons/{lesson['lesson_id']}/offline-sign-in", headers=_h(lesson, sid)).json()
    assert info["liveness_required"] is True
    ch = _challenge(client, lesson, sid)
    assert _answer(client, lesson, sid, ch["id"], webm(animator, ch)).json()["passed"]
    assert client.get(f"/api/lessons/{lesson['lesson_id']}/offline-sign-in",
                      headers=_h(lesson, sid)).json()["liveness_required"] is False
    accepted = sign(client, lesson, sid)
    assert accepted.status_code == 200 and accepted.json()["accepted"]
    clock.set(clock() + timedelta(minutes=6))  # a pass is good for 5 minutes
    assert sign(client, lesson, sid, action="sign_out").status_code == 200  # signing out needs none
    with svc.db.session() as s:
        attempts = eventlog.events(s, lesson["lesson_id"], kinds=[offline.KIND], limit=None)
    assert [(e.payload["accepted"], e.payload["reason"]) for e in attempts] == [
        (False, "liveness_required"), (True, None), (True, None)]
