"""Face attendance in a live room, end to end over real WebRTC (ATT-1, issue 4 §1/§7): students'
cameras (aiortc publishers showing a face, another person's face, an empty wall) are sampled by the
SFU's internal consumer, judged in a worker, logged as ``face_check`` events and published to staff.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack

from media.room import MediaRoom
from media.samplefaces import load_rgb, scene
from models import Institution, Lesson, TrainingClass, User
from server.live import eventlog
from server.live.faceattendance import FaceAttendance
from tests.test_eventlog import T0
from tests.test_sfu_forwarding import _vp8_only


class Picture(VideoStreamTrack):
    """A phone camera showing one still picture (320×240), encoded live by aiortc."""

    def __init__(self, rgb: np.ndarray):
        super().__init__()
        self.rgb = rgb

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame.from_ndarray(self.rgb, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


def _scene(img: np.ndarray | None) -> np.ndarray:
    """A phone camera: the face in front of a grey wall, or just the wall."""
    return scene(img, 40, 0, 0.45)


class _Hub:
    def __init__(self):
        self.published = []

    async def publish(self, lesson_id, message, audience="all"):
        self.published.append((lesson_id, message, audience))


@pytest.fixture
def lesson(svc):
    with svc.db.session() as s:
        users = {n: User(username=n, password_hash="x", role="student", display_name=n) for n in ("me", "swap", "away")}
        users["t"] = User(username="t", password_hash="x", role="lecturer", display_name="t")
        s.add_all(users.values())
        inst = Institution(name="启航培训学校", code="QH1", region_code="150104", profile="hohhot")
        s.add(inst)
        s.flush()
        cls = TrainingClass(institution_id=inst.id, name="SYB", course_type="SYB", delivery_mode="live",
                            profile="hohhot", district_code="150104", created_by=users["t"].id)
        s.add(cls)
        s.flush()
        les = Lesson(class_id=cls.id, title="第一课", starts_at=T0, ends_at=T0, mode="live", class_hours=4)
        s.add(les)
        s.flush()
        return {"lesson_id": les.id, **{n: u.id for n, u in users.items()}}


def test_att1_students_cameras_are_sampled_judged_logged_and_told_to_staff(svc, lesson):
    astronaut, hopper = load_rgb("astronaut.png"), load_rgb("grace_hopper.jpg")
    checker = svc.faces._get_checker()
    with svc.db.session() as s:
        for who, img in (("me", astronaut), ("swap", hopper), ("away", astronaut)):
            svc.faces.save(s, lesson[who], checker.enrol(img))
    scenes = {"me": _scene(astronaut), "swap": _scene(astronaut), "away": _scene(None)}  # swap: someone else sits in

    async def run():
        room, hub, pcs = MediaRoom(), _Hub(), []
        faces = FaceAttendance(svc, hub, "node-t", executor=ThreadPoolExecutor(2), interval=(0.3, 0.6))
        faces.attach(lesson["lesson_id"], room)
        try:
            for who, scene in scenes.items():
                pc = RTCPeerConnection()
                pcs.append(pc)
                _vp8_only(pc.addTransceiver(Picture(scene), direction="sendonly"))
                await pc.setLocalDescription(await pc.createOffer())
                mid = pc.getTransceivers()[0].mid
                answer = await room.publish(f"{who}/camera", pc.localDescription.sdp, user_id=lesson[who],
                                            role="student", sources={mid: "camera"}, display_name=who)
                await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            for _ in range(300):
                with svc.db.session() as s:
                    got = {}
                    for ev in eventlog.events(s, lesson["lesson_id"], kinds=["face_check"], limit=None):
                        got.setdefault(ev.user_id, []).append(ev.payload)
                    photos = eventlog.events(s, lesson["lesson_id"], kinds=["study_photo"], limit=None)
                told = {m["event"]["user_id"] for _, m, _ in hub.published if "event" in m}
                if all(lesson[w] in got and lesson[w] in told for w in scenes) and photos:  # logged, then published
                    return got, hub
                await asyncio.sleep(0.1)
            return got, hub
        finally:
            faces.close()
            await room.close()
            await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)

    got, hub = asyncio.run(run())
    first = {w: got[lesson[w]][0] for w in scenes}
    assert first["me"]["verdict"] == "match" and first["me"]["distance"] < 0.45 and first["me"]["embedded"]
    assert first["swap"]["verdict"] == "mismatch" and first["swap"]["distance"] > 0.45
    assert first["away"]["verdict"] == "absent" and first["away"]["faces"] == 0
    staff = [m for _, m, audience in hub.published if audience == "staff" and m["event"]["kind"] == "face_check"]
    assert not [m for _, m, audience in hub.published if "event" in m and m["event"]["kind"] == "face_check"
                and audience != "staff"]
    assert {m["event"]["user_id"] for m in staff} >= {lesson[w] for w in scenes}  # never sent to students
    assert all(m["event"]["display_name"] in scenes for m in staff)
    # ATT-7: the day's study photo is the first matching sample, kept encrypted — for "me" alone
    with svc.db.session() as s:
        photos = eventlog.events(s, lesson["lesson_id"], kinds=["study_photo"], limit=None)
        assert [p.user_id for p in photos] == [lesson["me"]]
        from models import StoredFile
        row = s.get(StoredFile, photos[0].payload["file_id"])
        assert row.kind == "study_photo" and row.owner_user_id == lesson["me"]
        assert svc.files.read(row)[:2] == b"\xff\xd8"  # a JPEG
