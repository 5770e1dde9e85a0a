"""LessonRecording: one lesson's tracks turned into a row of closed, ledgered segments (REC-1).

Frames of every track go into the current segment. A segment closes after ``segment_s`` at the
next keyframe of the main video (asked for a little ahead, so each segment starts on one and
plays on its own), and at once when a track comes or goes (a screen share starting: Matroska
fixes its tracks in the header). Each closed segment is handed to the ledger (hash chain,
signature: recorder/ledger.py). Sequence numbers continue after a crash: the next number follows
the highest segment file in the lesson's folder, and a ``.part`` the crash left is repaired first.
"""
from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from aiortc.rtp import RtpPacket

from recorder.depacketizer import Depacketizer
from recorder.segmentwriter import SegmentWriter, TrackSpec, repair

log = logging.getLogger("qihang.recorder")
SEQ = re.compile(r"^seg-(\d{5})\.mkv(\.part)?$")
KEYFRAME_AHEAD_S = 2.0  # ask for the rollover keyframe this long before the segment is due
KEYFRAME_EVERY_S = 1.0  # at most one keyframe request per track per second


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat()


def vp8_size(frame: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe's header (RFC 6386 §9.1)."""
    if len(frame) >= 10 and frame[3:6] == b"\x9d\x01\x2a":
        return int.from_bytes(frame[6:8], "little") & 0x3FFF, int.from_bytes(frame[8:10], "little") & 0x3FFF
    return None


class LessonRecording:
    def __init__(self, root: Path, lesson_id: int, ledger, ask_keyframe: Callable[[int, int], None],
                 segment_s: float = 300.0):
        self.lesson_id, self.ledger, self.ask_keyframe = lesson_id, ledger, ask_keyframe
        self.folder = root / str(lesson_id)
        self.segment_s = segment_s
        self.specs: dict[int, TrackSpec] = {}
        self.depack: dict[int, Depacketizer] = {}
        self.sizes: dict[int, tuple[int, int]] = {}
        self.writer: SegmentWriter | None = None
        self.roll_due = False  # the track set changed: start a new segment at the next frame
        self.keyframe_asked: dict[int, float] = {}
        self.folder.mkdir(parents=True, exist_ok=True)
        self.recover()
        self.seq = self._last_seq() + 1
        ledger.open_lesson(lesson_id)

    def _last_seq(self) -> int:
        return max((int(m.group(1)) for p in self.folder.iterdir() if (m := SEQ.match(p.name))), default=0)

    def recover(self) -> list[Path]:
        """Repair and ledger the segments a crash left open."""
        fixed = []
        for part in sorted(self.folder.glob("seg-*.mkv.part")):
            seq = int(SEQ.match(part.name).group(1))
            path = repair(part)
            log.warning("lesson %s: segment %s left open by a crash %s", self.lesson_id, seq,
                        "repaired" if path else "held no frame: removed")
            if path is not None:
                self.ledger.segment_closed(self.lesson_id, path, {"seq": seq, "recovered": True})
                fixed.append(path)
        return fixed

    @property
    def main_video(self) -> int | None:
        """The track whose keyframes set the segment boundaries: the camera, else any video."""
        videos = [t for t in self.specs.values() if t.kind == "video"]
        return next((t.number for t in videos if t.source == "camera"), videos[0].number if videos else None)

    def add_track(self, spec: TrackSpec) -> None:
        self.specs[spec.number] = spec
        self.depack[spec.number] = Depacketizer(spec.mime, spec.clock_rate)
        self._track_set_changed()

    def remove_track(self, number: int) -> None:
        if self.specs.pop(number, None) is not None:
            self.depack.pop(number, None)
            self._track_set_changed()

    def _track_set_changed(self) -> None:
        self.close_segment()
        self.roll_due = True
        for n, d in self.depack.items():  # the next segment starts on keyframes
            if d.video:
                d.needs_keyframe = True
                self._want_keyframe(n, force=True)

    def _want_keyframe(self, track: int, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.keyframe_asked.get(track, 0.0) >= KEYFRAME_EVERY_S:
            self.keyframe_asked[track] = now
            self.ask_keyframe(self.lesson_id, track)

    def packet(self, track: int, arrival_ms: float, rtp: bytes) -> None:
        d = self.depack.get(track)
        if d is None:
            return
        try:
            pkt = RtpPacket.parse(rtp)
        except ValueError:
            return
        for frame in d.push(pkt, arrival_ms):
            self._frame(track, frame)
        if d.video and d.needs_keyframe:
            self._want_keyframe(track)

    def _frame(self, track: int, frame) -> None:
        spec = self.specs[track]
        if spec.kind == "video" and frame.keyframe and spec.mime == "video/vp8":
            size = vp8_size(frame.data)
            if size:
                self.sizes[track] = size
        main = self.main_video
        if self.writer is not None:
            age = (frame.ms - self.writer.start_ms) / 1000
            if main is not None and track == main and age >= self.segment_s - KEYFRAME_AHEAD_S:
                if frame.keyframe and age >= self.segment_s:
                    self.close_segment()
                else:
                    self._want_keyframe(main)
            elif main is None and age >= self.segment_s:
                self.close_segment()
        if self.writer is None:
            if main is not None and track != main and self.depack[main].needs_keyframe:
                return  # wait for the main video's keyframe to start the segment
            self._open_segment(frame.ms)
        self.writer.write(track, frame.data, frame.ms, frame.keyframe)

    def _open_segment(self, start_ms: float) -> None:
        specs = [TrackSpec(t.number, t.source, t.mime, t.clock_rate, *self.sizes.get(t.number, (t.width, t.height)))
                 for t in sorted(self.specs.values(), key=lambda t: t.number)]
        self.writer = SegmentWriter(self.folder, self.seq, specs, start_ms)
        self.seq += 1
        self.roll_due = False

    def close_segment(self) -> Path | None:
        writer, self.writer = self.writer, None
        if writer is None:
            return None
        path = writer.close()
        meta = {"seq": writer.seq, "started_at": _iso(writer.start_ms), "ended_at": _iso(writer.end_ms),
                "duration_s": round((writer.end_ms - writer.start_ms) / 1000, 3), "frames": writer.frames,
                "tracks": [{"number": t.number, "source": t.source, "mime": t.mime} for t in writer.tracks.values()]}
        self.ledger.segment_closed(self.lesson_id, path, meta)
        return path

    def finish(self) -> None:
        self.close_segment()
        self.ledger.finish(self.lesson_id)
