"""A lesson's recording made playable in a browser and downloadable as one file (REC-1, CLS-8), by
remuxing with PyAV — packets copied, nothing decoded or encoded — cached on disk and served with
HTTP Range.

Why split: a closed segment (recorder/segmentwriter.py) keeps the camera, microphone, screen and
screen audio as tracks of one Matroska/WebM file, and ``<video>`` plays only its first video track.
So each segment becomes a "main" file (camera + mic) and, when it has one, a "screen" file (screen
+ screen audio). Why cache: a remux reads the whole segment; it is done once, after the source's
SHA-256 is checked against the signed manifest, and the result is named by that hash so a later
change of the source can never be served from an old copy. The cache is disposable: files unused
for ``CACHE_DAYS`` are pruned, and anything in it can be rebuilt from the recording.

The one-file download (``concat``) lays the segments end to end with continuous timestamps: each
segment's packets are shifted by where the previous one ended, so the tracks stay in sync and
never go backwards. Every source becomes one track of the file (camera, mic, and, where a screen
share happened, screen and screen audio with packets only while it was shared).
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import quote

import av
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from server.videoserve import parse_range

log = logging.getLogger("qihang.replay")
PARTS = {"main": ("camera", "mic"), "screen": ("screen", "screen_audio")}
SOURCE_ORDER = ("camera", "mic", "screen", "screen_audio")
WEBM_CODECS = frozenset({"vp8", "vp9", "av1", "opus", "vorbis"})
MIME_CODEC = {"video/vp8": "vp8", "video/vp9": "vp9", "video/h264": "h264", "audio/opus": "opus"}
MUX_OPTIONS = {"cues_to_front": "1"}  # the seek index first: a player seeks without reading the end
CHUNK = 1 << 20
CACHE_DAYS = 14
PRUNE_EVERY_S = 3600.0
DEFAULT_STEP = {"video": 33, "audio": 20}  # ms: a frame's length when the container does not say


class MediaError(Exception):
    """A segment that cannot be read or remuxed (damaged, or not what the manifest says)."""


def part_of(source: str | None, kind: str) -> str:
    """Which per-source file a track goes to: screen and screen audio apart, everything else main."""
    return "screen" if source in PARTS["screen"] else "main"


def container_for(codecs) -> tuple[str, str, str]:
    """(PyAV format, Content-Type, file extension): WebM, which browsers play, when the codecs allow."""
    codecs = list(codecs)
    if codecs and all(c in WEBM_CODECS for c in codecs):
        return "webm", "video/webm", "webm"
    return "matroska", "video/x-matroska", "mkv"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _tracks(container) -> list:
    return [s for s in container.streams if s.type in ("video", "audio")]


def _source(stream) -> str:
    return stream.metadata.get("title") or ("camera" if stream.type == "video" else "mic")


def probe_segment(path: Path) -> dict:
    """The tracks (source, kind, codec) and duration of a segment, from its header when it has one
    (a repaired or adopted segment's manifest entry lacks them). Nothing is decoded."""
    try:
        with av.open(str(path)) as c:
            tracks = [{"source": _source(s), "kind": s.type, "codec": s.codec_context.name} for s in _tracks(c)]
            duration = c.duration / av.time_base if c.duration else 0.0
            if not duration:  # no duration in the header: the last packet's time
                for p in c.demux(*_tracks(c)):
                    if p.pts is not None and p.time_base:
                        duration = max(duration, float(p.pts * p.time_base))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"{path.name}: {exc}") from None
    return {"tracks": tracks, "duration_s": round(duration, 3)}


# --------------------------------------------------------------------------- remuxing

def _choose(container, part: str) -> list:
    """The part's tracks, at most one video and one audio (camera before any other video)."""
    chosen, kinds = [], set()
    for s in sorted(_tracks(container), key=lambda s: (SOURCE_ORDER.index(_source(s))
                                                       if _source(s) in SOURCE_ORDER else 9, s.index)):
        if part_of(_source(s), s.type) == part and s.type not in kinds:
            chosen.append(s)
            kinds.add(s.type)
    return chosen


def remux_part(src: Path, dst: Path, part: str) -> dict[str, int]:
    """The ``part`` tracks of segment ``src`` copied into a file of their own; packets per source."""
    counts: dict[str, int] = {}
    try:
        with av.open(str(src)) as inp:
            chosen = _choose(inp, part)
            if not chosen:
                raise MediaError(f"{src.name} has no {part} track")
            fmt = container_for(s.codec_context.name for s in chosen)[0]
            with av.open(str(dst), "w", format=fmt, options=MUX_OPTIONS) as out:
                mapping = {}
                for s in chosen:
                    o = out.add_stream_from_template(s)
                    o.metadata["title"] = _source(s)
                    mapping[s.index] = o
                for p in inp.demux(*chosen):
                    if p.dts is None or p.size == 0:
                        continue
                    source = _source(p.stream)
                    p.stream = mapping[p.stream.index]
                    out.mux(p)
                    counts[source] = counts.get(source, 0) + 1
    except av.FFmpegError as exc:
        raise MediaError(f"{src.name}: {exc}") from None
    return counts


def concat(segments: list[tuple[Path, float]], dst: Path) -> dict:
    """One file of the whole lesson from ``(segment, timeline offset in s)`` in order: each source
    one track, timestamps continuous (a segment starts where the one before ended, or at its
    offset if later). Returns packets per track and the length in seconds."""
    keys: dict[tuple[str, str], object] = {}
    try:
        layout = []
        for path, _ in segments:  # first pass: which tracks the file needs (headers only)
            with av.open(str(path)) as c:
                layout.append([(s.index, (_source(s), s.codec_context.name)) for s in _tracks(c)])
        order = sorted({k for seg in layout for _, k in seg},
                       key=lambda k: (SOURCE_ORDER.index(k[0]) if k[0] in SOURCE_ORDER else 9, k))
        fmt = container_for(codec for _, codec in order)[0]
        counts = {f"{s}:{c}": 0 for s, c in order}
        end_ms = 0
        with av.open(str(dst), "w", format=fmt, options=MUX_OPTIONS) as out:
            for k in order:  # each track's codec parameters from the first segment that has it
                path, seg = next((p, dict((v, i) for i, v in lay)) for (p, _), lay in zip(segments, layout)
                                 if any(v == k for _, v in lay))
                with av.open(str(path)) as c:
                    keys[k] = out.add_stream_from_template(c.streams[seg[k]])
                    keys[k].metadata["title"] = k[0]
            for (path, offset), seg in zip(segments, layout):
                shift = max(end_ms, round(offset * 1000))
                end_ms = max(end_ms, _copy_segment(out, path, dict(seg), keys, shift, counts))
    except av.FFmpegError as exc:
        raise MediaError(f"{exc}") from None
    return {"packets": counts, "duration_s": end_ms / 1000, "format": fmt}


def _copy_segment(out, path: Path, layout: dict, keys: dict, shift_ms: int, counts: dict) -> int:
    """Copy one segment's packets shifted by ``shift_ms``; returns where its tracks end (ms)."""
    last: dict[int, int] = {}
    step: dict[int, int] = {}
    end = shift_ms
    with av.open(str(path)) as c:
        tracks = {s.index: s for s in _tracks(c)}
        used: set[tuple] = set()
        wanted = []
        for index, k in layout.items():
            if k not in used:  # two tracks of one source and codec in a segment: keep the first
                used.add(k)
                wanted.append(tracks[index])
        for p in c.demux(*wanted):
            if p.dts is None or p.size == 0:
                continue
            tb = p.time_base
            ms = round(float(p.pts * tb) * 1000) if p.pts is not None else round(float(p.dts * tb) * 1000)
            i = p.stream.index
            if i in last and ms > last[i]:
                step[i] = ms - last[i]
            last[i] = ms
            dur = round(float(p.duration * tb) * 1000) if p.duration else 0
            end = max(end, shift_ms + ms + (dur or step.get(i) or DEFAULT_STEP.get(p.stream.type, 20)))
            delta = round(shift_ms / 1000 / tb)
            k = layout[i]
            p.pts = None if p.pts is None else p.pts + delta
            p.dts = p.dts + delta
            p.stream = keys[k]
            p.time_base = tb
            c_key = f"{k[0]}:{k[1]}"
            out.mux(p)
            counts[c_key] += 1
    return end


# --------------------------------------------------------------------------- the disk cache

class ReplayCache:
    """Files under ``root/<lesson_id>/``, each built once (a thread lock and a file lock against
    other processes; written to a temporary name and renamed) and pruned when unused."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._pruned = 0.0

    def path(self, lesson_id: int, name: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            raise ValueError(f"bad cache name {name!r}")
        return self.root / str(int(lesson_id)) / name

    def ensure(self, target: Path, build: Callable[[Path], object]) -> Path:
        """``target``, built by ``build(tmp_path)`` unless it is already there."""
        if target.exists():
            _touch(target)
            return target
        with self._guard:
            if len(self._locks) > 10000:  # forget idle ones (the file lock below still serialises builders)
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks.setdefault(str(target), threading.Lock())
        with lock:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target.with_name(target.name + ".lock"), "a") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    if not target.exists():
                        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
                        try:
                            build(tmp)
                            os.replace(tmp, target)
                        finally:
                            tmp.unlink(missing_ok=True)
                finally:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        self.prune()
        return target

    def prune(self, max_age_s: float = CACHE_DAYS * 86400.0, force: bool = False) -> int:
        """Remove cache files not used for ``max_age_s`` (at most once an hour per process)."""
        now = time.time()
        if not force and now - self._pruned < PRUNE_EVERY_S:
            return 0
        self._pruned, removed = now, 0
        for path in self.root.glob("*/*"):
            try:
                if path.is_file() and now - path.stat().st_mtime > max_age_s:
                    path.unlink()
                    removed += 1
            except OSError:
                continue
        return removed


def _touch(path: Path) -> None:
    """Mark a cache file used (at most once a day, so serving stays read-only most of the time)."""
    try:
        if time.time() - path.stat().st_mtime > 86400:
            os.utime(path)
    except OSError:
        pass


# --------------------------------------------------------------------------- serving

def attachment(filename: str) -> str:
    """``Content-Disposition`` for a download: an ASCII fallback and the UTF-8 name (RFC 6266 / 5987)."""
    stem, dot, ext = filename.rpartition(".")
    ascii_stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem if dot else filename).strip("_") or "recording"
    fallback = f"{ascii_stem}.{ext}" if dot else ascii_stem
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _read(path: Path, first: int, last: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(first)
        left = last - first + 1
        while left > 0 and (chunk := fh.read(min(CHUNK, left))):
            left -= len(chunk)
            yield chunk


def file_response(path: Path, request: Request, *, content_type: str, etag: str,
                  filename: str | None = None) -> Response:
    """The file whole (200) or one requested range (206); a bad range is 416 with the platform's
    JSON error (server/videoserve.parse_range), like the course videos."""
    size = path.stat().st_size
    etag = f'"{etag}"'
    span = parse_range(request.headers.get("range"), size)
    if span is not None and request.headers.get("if-range") not in (None, etag):
        span = None
    first, last = span if span is not None else (0, size - 1)
    headers = {"Accept-Ranges": "bytes", "ETag": etag, "Content-Length": str(max(0, last - first + 1)),
               "Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
    if filename:
        headers["Content-Disposition"] = attachment(filename)
    status = 206 if span is not None else 200
    if span is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    if request.method == "HEAD" or size == 0:
        return Response(status_code=status, headers=headers, media_type=content_type)
    return StreamingResponse(_read(path, first, last), status_code=status, headers=headers, media_type=content_type)
