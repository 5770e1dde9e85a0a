"""Course videos (and, later, lesson replays) on disk and over HTTP: chunk-encrypted storage and
byte-range serving, so a phone can seek in a long video without the server decrypting all of it.

Storage: the FileStore's directory and ``stored_files`` rows like every upload (PLAT-3: nothing
kept in clear), but the plaintext is cut into 1 MiB chunks, each AES-256-GCM-encrypted on its own
with a context naming the file, the chunk and the chunk count — a chunk moved, dropped or swapped
fails to decrypt. A range read decrypts only the chunks it touches.

Serving: one ``bytes=`` range → 206 with Content-Range; no Range, another unit or several ranges →
200 with the whole file (RFC 9110 lets a server ignore those); a range past the end or malformed →
416 with ``Content-Range: bytes */size`` and the platform's JSON error. ``<video>`` cannot send an
Authorization header, so pages put a short-lived signed ticket in the URL (``make_ticket``).

Uploads arrive as a raw request body (``Content-Type: video/mp4`` or ``video/webm``), spooled to
disk with a size limit — never held in memory — then sniffed and probed with PyAV before storing.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from models import StoredFile
from server.errors import ApiError
from server.files import FileStore
from server.requestbody import body_chunks

CHUNK = 1 << 20  # plaintext bytes per encrypted chunk
_OVERHEAD = 1 + 12 + 16  # FieldCipher's version byte, nonce and GCM tag
VIDEO_TYPES = ("video/mp4", "video/webm")
MiB = 1024 * 1024


# --------------------------------------------------------------------------- storage

def chunk_count(size: int) -> int:
    return max(1, math.ceil(size / CHUNK))


class VideoStore:
    """Chunk-encrypted files beside the FileStore's (same directory layout and key)."""

    def __init__(self, files: FileStore):
        self.root, self.cipher = files.root, files.cipher

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def _context(self, key: str, index: int, count: int) -> str:
        return f"video:{key}:{index}/{count}"

    def save(self, s: Session, source: Path, *, size: int, sha256: str, content_type: str, kind: str,
             width: int | None, height: int | None, owner_user_id: int | None,
             institution_id: int | None) -> StoredFile:
        """Encrypt the plaintext file ``source`` into the store; the row is flushed (has its id)."""
        key, count = secrets.token_hex(16), chunk_count(size)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(source, "rb") as src, open(tmp, "wb") as out:
            for index in range(count):
                out.write(self.cipher.encrypt(src.read(CHUNK), context=self._context(key, index, count)))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        row = StoredFile(kind=kind, storage_key=key, content_type=content_type, size=size, width=width,
                         height=height, sha256=sha256, owner_user_id=owner_user_id, institution_id=institution_id)
        s.add(row)
        s.flush()
        return row

    def read(self, row: StoredFile, first: int = 0, last: int | None = None) -> Iterator[bytes]:
        """The plaintext bytes ``first``..``last`` (inclusive), a chunk at a time."""
        last = row.size - 1 if last is None else last
        count = chunk_count(row.size)
        with open(self._path(row.storage_key), "rb") as fh:
            for index in range(first // CHUNK, last // CHUNK + 1):
                fh.seek(index * (CHUNK + _OVERHEAD))
                blob = fh.read(CHUNK + _OVERHEAD)
                plain = self.cipher.decrypt(blob, context=self._context(row.storage_key, index, count))
                base = index * CHUNK
                yield plain[max(first - base, 0):last - base + 1]

    def verify(self, row: StoredFile) -> bool:
        """Every chunk decrypts and the whole matches the recorded checksum (integrity checks)."""
        digest = hashlib.sha256()
        for part in self.read(row):
            digest.update(part)
        return digest.hexdigest() == row.sha256


# --------------------------------------------------------------------------- uploads

@dataclass(frozen=True)
class Spooled:
    path: Path
    size: int
    sha256: str
    head: bytes  # the first bytes, for sniffing the container


def too_large(limit: int) -> ApiError:
    mb = limit / MiB
    return ApiError("VIDEO_TOO_LARGE", f"视频文件超过 {mb:g} MB 上限", f"The video exceeds the {mb:g} MB limit",
                    field="video", status=413, rule="COURSE-1")


def spool_request(request: Request, directory: Path, limit: int) -> Spooled:
    """Write the raw request body to a temporary file in ``directory``, refusing more than ``limit``
    bytes. Runs in an endpoint's worker thread: each chunk is awaited on the event loop."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, suffix=".upload")
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in body_chunks(request, limit, too_large):
                size += len(chunk)
                if len(head) < 64:
                    head += chunk[:64 - len(head)]
                digest.update(chunk)
                fh.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    return Spooled(Path(name), size, digest.hexdigest(), head)


def sniff(head: bytes) -> str | None:
    """The container the first bytes show: MP4 (an ``ftyp`` box) or WebM (EBML, DocType webm)."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "video/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3" and b"webm" in head:
        return "video/webm"
    return None


@dataclass(frozen=True)
class VideoFacts:
    duration: float  # seconds
    codec: str
    width: int
    height: int


def probe(path: Path) -> VideoFacts:
    """Open the file with PyAV (FFmpeg's demuxer, no decoding): ValueError unless it holds a video
    stream with a positive duration."""
    import av
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError("no video stream")
            stream = container.streams.video[0]
            duration = container.duration / av.time_base if container.duration else 0.0
            if not duration and stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            if not duration:  # no duration in the header: the end of the last packet
                for packet in container.demux(stream):
                    if packet.pts is not None and packet.time_base:
                        duration = max(duration, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            ctx = stream.codec_context
            facts = VideoFacts(round(duration, 3), ctx.name or "unknown", ctx.width or 0, ctx.height or 0)
    except av.error.FFmpegError as exc:
        raise ValueError(str(exc)) from None
    if facts.duration <= 0:
        raise ValueError("the video has no playable length")
    return facts


# --------------------------------------------------------------------------- serving

def receive_video(ctx, ctype: str, *, kind: str, institution_id: int | None) -> tuple[StoredFile, "VideoFacts"]:
    """An uploaded course video (raw body of type ``ctype``), checked — not empty, its bytes of that
    container, decodable with a picture — and stored encrypted in chunks; its play time is read from
    the file, never taken from the client (ATT-5, COURSE-1)."""
    settings = ctx.svc.settings
    spooled = spool_request(ctx.request, settings.uploads_dir / "incoming", settings.max_video_bytes)
    try:
        if spooled.size == 0:
            raise ApiError("VIDEO_EMPTY", "上传的视频为空文件", "The uploaded video is empty", field="video", status=422,
                           rule="COURSE-1")
        if sniff(spooled.head) != ctype:
            raise ApiError("VIDEO_TYPE_MISMATCH", f"文件内容不是 {ctype} 视频", f"The file's content is not {ctype}",
                           field="video", status=415, rule="COURSE-1")
        try:
            facts = probe(spooled.path)
        except ValueError as exc:
            raise ApiError("VIDEO_UNREADABLE", "视频无法读取或没有画面", f"The video cannot be read: {exc}"[:300],
                           field="video", status=422, rule="COURSE-1") from None
        row = VideoStore(ctx.svc.files).save(
            ctx.s, spooled.path, size=spooled.size, sha256=spooled.sha256, content_type=ctype, kind=kind,
            width=facts.width, height=facts.height, owner_user_id=ctx.user.id, institution_id=institution_id)
    finally:
        spooled.path.unlink(missing_ok=True)
    return row, facts


def _unsatisfiable(size: int, header: str) -> ApiError:
    return ApiError("RANGE_NOT_SATISFIABLE", f"请求的字节范围无效或超出文件大小（{size} 字节）",
                    f"The requested range {header!r} is malformed or outside the file ({size} bytes)",
                    field="Range", status=416, headers={"Content-Range": f"bytes */{size}"})


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive for one satisfiable ``bytes=`` range; None to send the whole file;
    ApiError 416 for a malformed or unsatisfiable one."""
    if not header:
        return None
    unit, eq, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not eq:
        return None  # a unit we do not know: ignore the header (RFC 9110 §14.2)
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) != 1:
        return None  # several ranges: the whole file (a multipart body is not worth it for <video>)
    first_s, dash, last_s = parts[0].partition("-")
    first_s, last_s = first_s.strip(), last_s.strip()
    if not dash or (first_s and not first_s.isdigit()) or (last_s and not last_s.isdigit()) or not (first_s or last_s):
        raise _unsatisfiable(size, header)
    if not first_s:  # the last N bytes
        n = int(last_s)
        if n == 0 or size == 0:
            raise _unsatisfiable(size, header)
        return max(0, size - n), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if last < first or first >= size:
        raise _unsatisfiable(size, header)
    return first, min(last, size - 1)


def range_response(store: VideoStore, row: StoredFile, request: Request) -> Response:
    """The stored video, whole (200) or the requested range (206), streamed chunk by chunk."""
    size, etag = row.size, f'"{row.sha256[:32]}"'
    span = parse_range(request.headers.get("range"), size)
    if span is not None and request.headers.get("if-range") not in (None, etag):
        span = None  # the page holds another version: start over with the whole file
    first, last = span if span is not None else (0, size - 1)
    headers = {"Accept-Ranges": "bytes", "ETag": etag, "Content-Length": str(last - first + 1),
               "Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
    status = 206 if span is not None else 200
    if span is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=row.content_type)
    return StreamingResponse(store.read(row, first, last), status_code=status, headers=headers,
                             media_type=row.content_type)


# --------------------------------------------------------------------------- tickets

def make_ticket(cipher, *, purpose: str, subject: str, user_id: int, expires: datetime) -> str:
    """``user.expiry.signature``: lets ``user_id`` fetch ``subject`` until ``expires``."""
    exp = int(expires.timestamp())
    sig = cipher.blind_index(f"{subject}:{user_id}:{exp}", purpose=f"ticket:{purpose}")[:32]
    return f"{user_id}.{exp}.{sig}"


def read_ticket(cipher, token: str | None, *, purpose: str, subject: str, now: datetime) -> int | None:
    """The user id a valid, unexpired ticket names; None otherwise."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    uid, exp, sig = int(parts[0]), int(parts[1]), parts[2]
    want = cipher.blind_index(f"{subject}:{uid}:{exp}", purpose=f"ticket:{purpose}")[:32]
    if not hmac.compare_digest(sig, want) or exp < now.timestamp():
        return None
    return uid
