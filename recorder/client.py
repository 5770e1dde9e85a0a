"""RecorderClient: the app's side of the recorder process — starts it, feeds it, restarts it.

Sending never waits (recorder/protocol.py): a full socket buffer drops the packet and counts it.
If the process dies (a crash, a SIGKILL), a watchdog starts a new one, tells it again which
lessons and tracks are being recorded and asks the publishers for keyframes, so recording resumes
within about a second; the new process repairs the segment the old one left open.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Callable

from recorder import protocol

log = logging.getLogger("qihang.recorder")


class RecorderClient:
    def __init__(self, root: Path, data_dir: Path, *, segment_s: float = 300.0, database_url: str | None = None,
                 profiles_dir: Path | None = None, files_only: bool = False):
        self.root, self.data_dir, self.segment_s = Path(root), Path(data_dir), segment_s
        self.files_only = files_only  # no database: the manifests alone (benchmarks, tools)
        self.database_url, self.profiles_dir = database_url, profiles_dir
        self.sock: socket.socket | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.lessons: dict[int, dict[int, dict]] = {}  # lesson -> track -> its "track" message
        self.keyframe_handlers: dict[tuple[int, int], Callable[[], object]] = {}
        self.sent = self.dropped = self.restarts = 0
        self._closing = False
        self._watchdog: asyncio.Task | None = None
        self._started: asyncio.Lock | None = None
        self._dir = tempfile.mkdtemp(prefix="qihang-rec-")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    async def start(self) -> None:
        """Start the recorder process (once; later calls return at once). A process that cannot
        start is retried by the watchdog with a growing pause; meanwhile packets are dropped."""
        if self._started is None:
            self._started = asyncio.Lock()
        async with self._started:
            if self._watchdog is None and not self._closing:
                try:
                    await self._spawn()
                except (RuntimeError, OSError):
                    log.exception("the recorder process did not start")
                self._watchdog = asyncio.ensure_future(self._watch())

    async def _spawn(self) -> None:
        loop = asyncio.get_running_loop()
        path = os.path.join(self._dir, f"rec-{self.restarts}.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(path)
        listener.listen(1)
        listener.setblocking(False)
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "recorder", "--socket", path, "--root", str(self.root),
            "--data-dir", str(self.data_dir), "--segment-seconds", str(self.segment_s),
            *(["--database-url", self.database_url] if self.database_url else []),
            *(["--profiles-dir", str(self.profiles_dir)] if self.profiles_dir else []),
            *(["--files-only"] if self.files_only else []),
            stdout=asyncio.subprocess.DEVNULL, cwd=str(Path(__file__).resolve().parent.parent),
            env={**os.environ, "QIHANG_DATA_DIR": str(self.data_dir)})
        accept = asyncio.ensure_future(loop.sock_accept(listener))
        died = asyncio.ensure_future(self.proc.wait())
        try:
            await asyncio.wait({accept, died}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        finally:
            listener.close()
            os.unlink(path)
            died.cancel()
        if not accept.done() or accept.exception() is not None:
            accept.cancel()
            if self.proc.returncode is None:
                self.proc.kill()
            raise RuntimeError(f"the recorder process did not connect (exit code {self.proc.returncode})")
        conn, _ = accept.result()
        conn.setblocking(False)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        self.sock = conn
        loop.add_reader(conn.fileno(), self._on_readable)
        for lesson, tracks in self.lessons.items():  # after a restart: what is being recorded
            self._send(protocol.control({"op": "open", "lesson": lesson}))
            for message in tracks.values():
                self._send(protocol.control(message))
        for handler in list(self.keyframe_handlers.values()):
            asyncio.ensure_future(handler())

    async def _watch(self) -> None:
        pause, quick = 0.0, 0
        while not self._closing:
            proc = self.proc
            if proc is not None and proc.returncode is None:
                started = asyncio.get_running_loop().time()
                await proc.wait()
                if self._closing:
                    return
                log.error("recorder process %s exited (%s): restarting it", proc.pid, proc.returncode)
                lived = asyncio.get_running_loop().time() - started
                quick = quick + 1 if lived <= 30 else 0
                pause = 0.0 if quick <= 1 else min(30.0, 2.0 ** (quick - 2))  # a crash loop backs off
            self._drop_socket()
            if pause:
                await asyncio.sleep(pause)
            self.restarts += 1
            try:
                await self._spawn()
            except (RuntimeError, OSError):
                log.exception("the recorder process did not start")
                pause = min(30.0, max(1.0, pause * 2))

    def _drop_socket(self) -> None:
        if self.sock is not None:
            try:
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            except (RuntimeError, ValueError):
                pass
            self.sock.close()
            self.sock = None

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(protocol.MAX_MESSAGE)
        except (BlockingIOError, OSError):
            return
        if not data:
            return
        msg = protocol.parse(data)
        if msg[0] == "K":
            handler = self.keyframe_handlers.get((msg[1], msg[2]))
            if handler is not None:
                asyncio.ensure_future(handler())

    def _send(self, data: bytes) -> bool:
        if self.sock is None:
            self.dropped += 1
            return False
        try:
            self.sock.send(data)
            self.sent += 1
            return True
        except (BlockingIOError, ConnectionError, OSError):
            self.dropped += 1  # the recorder is behind or gone: never wait on the media loop
            return False

    # -- what the SFU side calls

    def open(self, lesson: int) -> None:
        self.lessons.setdefault(lesson, {})
        self._send(protocol.control({"op": "open", "lesson": lesson}))

    def track(self, lesson: int, track: int, source: str, mime: str, clock_rate: int,
              keyframe: Callable[[], object] | None = None) -> None:
        message = {"op": "track", "lesson": lesson, "track": track, "source": source, "mime": mime,
                   "clock_rate": clock_rate}
        self.lessons.setdefault(lesson, {})[track] = message
        if keyframe is not None:
            self.keyframe_handlers[(lesson, track)] = keyframe
        self._send(protocol.control(message))

    def untrack(self, lesson: int, track: int) -> None:
        self.lessons.get(lesson, {}).pop(track, None)
        self.keyframe_handlers.pop((lesson, track), None)
        self._send(protocol.control({"op": "untrack", "lesson": lesson, "track": track}))

    def packet(self, lesson: int, track: int, arrival_ms: float, rtp: bytes) -> None:
        self._send(protocol.packet(lesson, track, arrival_ms, rtp))

    def pause(self, lesson: int) -> None:
        """Close the lesson's open segment; the recording goes on when the lesson's room reopens."""
        for track in list(self.lessons.get(lesson, {})):
            self.keyframe_handlers.pop((lesson, track), None)
        self.lessons.pop(lesson, None)
        self._send(protocol.control({"op": "pause", "lesson": lesson}))

    def finish(self, lesson: int) -> None:
        for track in list(self.lessons.get(lesson, {})):
            self.keyframe_handlers.pop((lesson, track), None)
        self.lessons.pop(lesson, None)
        self._send(protocol.control({"op": "finish", "lesson": lesson}))

    async def close(self, timeout: float = 10.0) -> None:
        """Let the recorder close its segments (it does when the socket closes), then stop it."""
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._drop_socket()
        if self.proc is not None and self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        try:
            os.rmdir(self._dir)
        except OSError:
            pass
