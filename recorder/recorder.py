"""The recorder process: takes the lecturer's RTP from the SFU and writes each lesson's segments.

It runs apart from the SFU (REC-1: recording must never stall forwarding, and a crash here must
not take the room down): the app starts it (recorder/client.py) and sends it packets over a Unix
socket (recorder/protocol.py). It holds no database connection: segments, their hashes and the
signed manifest are files (recorder/ledger.py); the app records the recording's existence and
retention. Killed with SIGKILL, it loses at most the cluster being written (about a second, see
recorder/segmentwriter.py); restarted, it repairs what was left open and carries on numbering.

    python -m recorder --socket PATH --root DIR --data-dir DIR [--segment-seconds 300]
                       [--database-url URL] [--profiles-dir DIR]
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from recorder import protocol
from recorder.lessonrecording import LessonRecording
from recorder.segmentwriter import TrackSpec

log = logging.getLogger("qihang.recorder")


def make_ledger(args):
    """The deployment's ledger (key, database registry, object store), from the app's settings as
    passed on the command line; the environment supplies the rest (e.g. the S3 settings)."""
    import dataclasses

    from recorder.ledger import Ledger
    from server.settings import Settings
    if args.files_only:
        return Ledger(args.root, args.data_dir)
    settings = dataclasses.replace(Settings.from_env(), data_dir=args.data_dir, recordings_dir=args.root,
                                   database_url=args.database_url or f"sqlite:///{args.data_dir}/qihang.db",
                                   profiles_dir=args.profiles_dir)
    return Ledger.from_settings(settings)


class Recorder:
    def __init__(self, conn: socket.socket, root: Path, ledger, segment_s: float):
        self.conn, self.root, self.ledger, self.segment_s = conn, root, ledger, segment_s
        self.lessons: dict[int, LessonRecording] = {}

    def ask_keyframe(self, lesson: int, track: int) -> None:
        try:
            self.conn.send(protocol.keyframe(lesson, track), socket.MSG_DONTWAIT)
        except (BlockingIOError, OSError):
            pass  # asked again at the next frame that needs it

    def lesson(self, lesson_id: int) -> LessonRecording:
        if lesson_id not in self.lessons:
            self.lessons[lesson_id] = LessonRecording(self.root, lesson_id, self.ledger, self.ask_keyframe,
                                                      self.segment_s)
        return self.lessons[lesson_id]

    def handle(self, data: bytes) -> None:
        msg = protocol.parse(data)
        if msg[0] == "P":
            _, lesson_id, track, arrival, rtp = msg
            rec = self.lessons.get(lesson_id)
            if rec is not None:
                rec.packet(track, arrival, rtp)
            return
        if msg[0] != "J":
            return
        m = msg[1]
        op, lesson_id = m.get("op"), int(m.get("lesson", 0))
        if op == "open":
            self.lesson(lesson_id)
        elif op == "track":
            self.lesson(lesson_id).add_track(TrackSpec(int(m["track"]), m["source"], m["mime"], int(m["clock_rate"])))
        elif op == "untrack" and lesson_id in self.lessons:
            self.lessons[lesson_id].remove_track(int(m["track"]))
        elif op == "pause" and lesson_id in self.lessons:
            self.lessons.pop(lesson_id).close_segment()
        elif op == "finish":
            self.lesson(lesson_id)  # a lesson paused earlier is finished too
            self.lessons.pop(lesson_id).finish()

    def run(self) -> None:
        while True:
            try:
                data = self.conn.recv(protocol.MAX_MESSAGE)
            except InterruptedError:
                continue
            if not data:  # the app went away: close what is open, properly
                break
            try:
                self.handle(data)
            except Exception:  # noqa: BLE001 - one bad message must not end every lesson's recording
                log.exception("recorder: message failed")
        self.close()

    def close(self) -> None:
        for lesson_id in list(self.lessons):
            try:
                self.lessons.pop(lesson_id).close_segment()
            except Exception:  # noqa: BLE001
                log.exception("recorder: closing lesson %s failed", lesson_id)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m recorder")
    ap.add_argument("--socket", required=True, help="the app's Unix socket to connect to")
    ap.add_argument("--root", required=True, type=Path, help="recordings folder")
    ap.add_argument("--data-dir", required=True, type=Path, help="where the platform's signing key is")
    ap.add_argument("--segment-seconds", type=float, default=300.0)
    ap.add_argument("--database-url", default=None, help="the app's database (the ledger mirrors recordings into it)")
    ap.add_argument("--profiles-dir", type=Path, default=None)
    ap.add_argument("--files-only", action="store_true", help="no database: signed manifests only (benchmarks)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s recorder %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:  # below the SFU: the socket buffer (4 MB, seconds of video) absorbs any wait, forwarding can't
        os.nice(5)
    except OSError:
        pass
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    conn.connect(args.socket)
    recorder = Recorder(conn, args.root, make_ledger(args), args.segment_seconds)
    signal.signal(signal.SIGTERM, lambda *_: (recorder.close(), os._exit(0)))
    os.write(sys.stdout.fileno(), f"recorder {os.getpid()} ready\n".encode())
    recorder.run()


if __name__ == "__main__":
    main()
