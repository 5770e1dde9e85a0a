"""SegmentWriter: one Matroska segment of a lesson, remuxed from encoded frames (no transcoding).

Matroska because it carries VP8, H.264 and Opus alike (as WebM, its subset browsers play, when
the tracks are VP8 and Opus; the file keeps the ``.mkv`` name), is written front to back, and stays
readable when the writer dies: clusters are closed at least every second
(``cluster_time_limit``) and flushed as they close (``flush_packets``), so a SIGKILL loses at most
the cluster being filled. A segment is written as ``seg-NNNNN.mkv.part`` and renamed to ``.mkv``
once its trailer (duration, cues for seeking) is on disk; a ``.part`` found after a crash is
remuxed into a proper ``.mkv`` by ``repair`` (packets copied, nothing decoded).
"""
from __future__ import annotations

import fractions
import os
from dataclasses import dataclass
from pathlib import Path

import av

MS = fractions.Fraction(1, 1000)
ENCODER_NAME = {"video/vp8": "libvpx", "video/h264": "h264", "audio/opus": "libopus"}  # stream types for muxing
MUX_OPTIONS = {"cluster_time_limit": "1000"}  # ms: the most a crash can lose
WEBM_CODECS = ("video/vp8", "audio/opus")
CONTAINER_OPTIONS = {"flush_packets": "1"}


@dataclass(frozen=True)
class TrackSpec:
    """A track of the segment: its number in the lesson, source (camera, mic, screen) and codec."""
    number: int
    source: str
    mime: str
    clock_rate: int
    width: int = 1280
    height: int = 720

    @property
    def kind(self) -> str:
        return self.mime.split("/", 1)[0]


def segment_name(seq: int) -> str:
    return f"seg-{seq:05d}.mkv"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentWriter:
    def __init__(self, folder: Path, seq: int, tracks: list[TrackSpec], start_ms: float):
        self.folder, self.seq, self.start_ms = folder, seq, start_ms
        self.tracks = {t.number: t for t in tracks}
        self.part = folder / (segment_name(seq) + ".part")
        self.path = folder / segment_name(seq)
        folder.mkdir(parents=True, exist_ok=True)
        # WebM (Matroska restricted to VP8/VP9/Opus) when the codecs allow: browsers play it as is
        fmt = "webm" if all(t.mime in WEBM_CODECS for t in tracks) else "matroska"
        self.container = av.open(str(self.part), "w", format=fmt, options=MUX_OPTIONS,
                                 container_options=CONTAINER_OPTIONS)
        self.streams = {}
        self.last_ms: dict[int, int] = {}
        self.frames = 0
        self.end_ms = start_ms
        for t in tracks:
            if t.kind == "video":
                stream = self.container.add_stream(ENCODER_NAME[t.mime], rate=30)
                stream.width, stream.height = t.width, t.height
            else:
                stream = self.container.add_stream(ENCODER_NAME[t.mime], rate=48000)
            stream.time_base = MS
            stream.metadata["title"] = t.source
            self.streams[t.number] = stream

    def write(self, track: int, data: bytes, ms: float, keyframe: bool) -> None:
        """One encoded frame at wall-clock ``ms``; times inside a track never go backwards."""
        stream = self.streams.get(track)
        if stream is None:
            return
        pts = max(0, round(ms - self.start_ms))
        pts = max(pts, self.last_ms.get(track, -1) + (0 if stream.type == "audio" else 1))
        self.last_ms[track] = pts
        packet = av.Packet(data)
        packet.stream, packet.pts, packet.dts, packet.time_base = stream, pts, pts, MS
        packet.is_keyframe = keyframe
        self.container.mux(packet)
        self.frames += 1
        self.end_ms = max(self.end_ms, self.start_ms + pts)

    def close(self) -> Path:
        """Write the trailer and make the segment final (``.part`` → ``.mkv``)."""
        self.container.close()
        with open(self.part, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(self.part, self.path)
        _fsync_dir(self.folder)
        return self.path


def repair(part: Path) -> Path | None:
    """A ``.part`` left by a crash, remuxed into the ``.mkv`` it would have been (what was flushed
    before the crash). None when it holds no readable frame (killed within its first second): it is
    removed, and its number stays a gap the verifier reports."""
    final = part.with_suffix("")  # seg-NNNNN.mkv
    tmp = part.with_name(part.name + ".repair")
    copied = 0
    try:
        with av.open(str(part)) as src:
            fmt = "webm" if all(st.codec_context.name in ("vp8", "opus") for st in src.streams) else "matroska"
        with av.open(str(part)) as src, av.open(str(tmp), "w", format=fmt, options=MUX_OPTIONS) as dst:
            mapping = {}
            for s in src.streams:
                if s.type in ("video", "audio"):
                    out = dst.add_stream_from_template(s)
                    out.metadata.update(s.metadata)
                    mapping[s.index] = out
            for packet in src.demux(*[s for s in src.streams if s.index in mapping]):
                if packet.dts is None or packet.size == 0:
                    continue
                packet.stream = mapping[packet.stream.index]
                dst.mux(packet)
                copied += 1
    except (av.FFmpegError, OSError):
        pass
    if not copied:  # killed before its first cluster was flushed: it holds no frame to keep
        tmp.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
        return None
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    part.unlink(missing_ok=True)
    _fsync_dir(part.parent)
    return final
