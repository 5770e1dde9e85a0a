"""Recording (REC-1, issue 5): the lecturer's camera and microphone, taken from the SFU's internal
consumers, remuxed (no transcoding) into Matroska segments by a separate recorder process.

The crash test kills that process with SIGKILL in the middle of a lesson: the app restarts it,
the segment left open is repaired, every closed segment plays (ffprobe), the ledger's chain
verifies, and only about the last second before the kill is missing.
"""
from __future__ import annotations

import asyncio
import fractions
import json
import os
import shutil
import signal
import subprocess
import time

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from aiortc.rtp import RtpPacket

from media.room import MediaRoom
from recorder.client import RecorderClient
from recorder.depacketizer import Depacketizer
from recorder.lessonrecording import vp8_size
from recorder.tap import RecordingTap
from tests.test_face_attendance_live import lesson  # noqa: F401 - fixture: a lesson row to record
from tests.test_sfu_forwarding import _vp8_only

FFPROBE = shutil.which("ffprobe")


def probe(path) -> dict:
    """ffprobe's view of a file: streams with decoded frame counts, and the duration."""
    out = subprocess.run([FFPROBE, "-v", "error", "-count_frames", "-show_entries",
                          "stream=codec_name,nb_read_frames:format=duration", "-of", "json", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _vp8_packets(n: int = 30, size=(320, 240)):
    """RTP packets of n VP8 pictures (a keyframe first), as a publisher sends them."""
    from aiortc.codecs.vpx import Vp8Encoder
    enc = Vp8Encoder()
    rng = np.random.default_rng(1)
    packets, seq = [], 0
    for i in range(n):
        frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), format="rgb24")
        frame.pts, frame.time_base = i * 3000, fractions.Fraction(1, 90000)
        payloads, ts = enc.encode(frame, force_keyframe=(i == 0))
        for j, payload in enumerate(payloads):
            p = RtpPacket(payload_type=96, sequence_number=seq & 0xFFFF, timestamp=ts,
                          marker=(j == len(payloads) - 1), payload=payload)
            packets.append(p)
            seq += 1
    return packets


def test_depacketizer_rebuilds_pictures_and_waits_for_a_keyframe_after_a_loss():
    packets = _vp8_packets(10)
    d = Depacketizer("video/vp8", 90000)
    frames = [f for i, p in enumerate(packets) for f in d.push(p, 1000.0 + i)]
    assert len(frames) == 10 and frames[0].keyframe and not any(f.keyframe for f in frames[1:])
    assert vp8_size(frames[0].data) == (320, 240)
    assert frames[1].ms - frames[0].ms == pytest.approx(1000 / 30, abs=0.1)  # RTP time, not arrival
    lossy = Depacketizer("video/vp8", 90000)
    kept = [f for i, p in enumerate(packets) if i != 5 for f in lossy.push(p, 1000.0 + i)]
    assert lossy.needs_keyframe and len(kept) < 10 and lossy.dropped > 0  # nothing after the gap until a keyframe


def test_depacketizer_unwraps_rtp_time():
    d = Depacketizer("audio/opus", 48000)
    a = d.push(RtpPacket(payload_type=111, sequence_number=1, timestamp=0xFFFFFC40, payload=b"x"), 0.0)[0]
    b = d.push(RtpPacket(payload_type=111, sequence_number=2, timestamp=0, payload=b"y"),
               20.0)[0]
    assert b.ms - a.ms == pytest.approx(20.0)


def verify(data_dir, root, lesson: int):
    """The ledger's verdict on a lesson's recording, with the platform key of ``data_dir``."""
    from types import SimpleNamespace

    from recorder.signing import load_platform_key
    from recorder.storage import LocalStore
    from recorder.verify import verify_recording
    key = load_platform_key(SimpleNamespace(signing_key=b"", data_dir=data_dir), create=False)
    return verify_recording(LocalStore(root), lesson, key.public if key else None)


class Noise(VideoStreamTrack):
    """A lecturer's camera: changing pictures, so every frame costs bytes."""

    def __init__(self):
        super().__init__()
        self.rng = np.random.default_rng(0)

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        img = np.zeros((240, 320, 3), np.uint8)
        img[:, :, 0] = (pts // 3000) % 255
        img[::8, ::8] = self.rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


@pytest.mark.skipif(FFPROBE is None, reason="ffprobe not installed (make install-test installs ffmpeg as root)")
def test_rec1_sigkill_mid_lesson_loses_at_most_the_open_segments_last_second(svc, lesson):
    tmp_path, root = svc.settings.data_dir, svc.settings.recordings_root
    lesson = lesson["lesson_id"]

    async def run():
        client = RecorderClient(root, tmp_path, segment_s=3.0, database_url=svc.settings.database_url)
        room, pc = MediaRoom(), RTCPeerConnection()
        tap = RecordingTap(client, lesson, room)
        await client.start()
        try:
            _vp8_only(pc.addTransceiver(Noise(), direction="sendonly"))
            pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            mids = [t.mid for t in pc.getTransceivers()]
            answer = await room.publish("lect/main", pc.localDescription.sdp, user_id=1, role="lecturer",
                                        sources={mids[0]: "camera", mids[1]: "mic"}, display_name="讲师")
            await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            await asyncio.sleep(7.5)
            killed_at, first_pid = time.time(), client.pid
            os.kill(first_pid, signal.SIGKILL)
            for _ in range(100):
                await asyncio.sleep(0.1)
                if client.pid != first_pid and client.sock is not None:
                    break
            await asyncio.sleep(7.0)
            return killed_at, first_pid, client.pid, client.restarts
        finally:
            tap.close()
            await asyncio.sleep(0.5)
            await client.close()
            await room.close()
            await pc.close()

    killed_at, first, second, restarts = asyncio.run(run())
    assert restarts == 1 and second != first
    folder = root / str(lesson)
    segments = sorted(folder.glob("seg-*.mkv"))
    assert not list(folder.glob("*.part")) and not list(folder.glob("*.broken"))
    assert len(segments) >= 4, [p.name for p in folder.iterdir()]
    total = 0.0
    for seg in segments:  # every closed segment plays: video and audio frames decode
        info = probe(seg)
        codecs = {s["codec_name"]: int(s.get("nb_read_frames", 0)) for s in info["streams"]}
        assert codecs.get("vp8", 0) > 0 and codecs.get("opus", 0) > 0, (seg.name, info)
        total += float(info["format"]["duration"])
    report = verify(tmp_path, root, lesson)
    assert report.ok, report.report()
    # ~15 s published: the kill loses the open cluster (≤ 1 s) plus the restart (≤ ~1.5 s)
    assert total > 15.0 - 4.0, total
