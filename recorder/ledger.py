"""The recording ledger (REC-1): what the recorder calls as segments close, and what makes them evidence.

Contract with the recorder (recorder/recorder.py, recorder/segmentwriter.py):

* Segments live in ``<root>/<lesson_id>/`` as ``seg-NNNNN.mkv`` (seq from 1), written as
  ``seg-NNNNN.mkv.part`` and renamed when closed.
* ``Ledger.open_lesson(lesson_id)`` when a lesson's recording starts — and again after a restart
  (idempotent). It creates the manifest and the ``recordings`` row (fixing ``retain_until``), and
  after a crash adopts any closed ``seg-*.mkv`` left unlisted (listed with ``"recovered": true``).
* ``Ledger.segment_closed(lesson_id, path, meta)`` for each closed segment, ``meta`` =
  ``{"seq", "started_at", "ended_at", "duration_s", "tracks"}`` (other keys are kept under
  ``extra``). A repaired ``.part`` may be handed over too: the ledger renames it to its final name.
  Hashes the file (SHA-256), chains it into the manifest, re-signs and rewrites the manifest
  atomically, copies file and manifest to the object store when one is configured, and mirrors the
  summary into the database. Returns the manifest entry. Calling it again for a listed seq with the
  same content returns the existing entry; different content is refused (:class:`LedgerError`).
* ``Ledger.finish(lesson_id)`` when the recording ends: status ``finished``, signed again; later
  segments are refused.

Crash safety: each step leaves a state the next call repairs — a segment renamed but not listed is
adopted by ``open_lesson``; a manifest written but not yet mirrored to the database or the object
store is mirrored by the next call (the row only moves forward). The manifest is never extended when
it fails its own check (signature, chain, or fewer segments than the database has seen): that is
tampering or a rollback, and the ledger raises rather than sign over it.

Store and database failures after the manifest is written are logged, never raised into the
recording: the manifest on local disk is the record, the copies catch up. The object-store upload
runs inside ``segment_closed``: call it off the media path (the recorder's own thread or process).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

from models.base import utcnow
from recorder.manifest import (MANIFEST, PART_RE, SEGMENT_RE, append_entry, atomic_write, chain_problems, clean_meta,
                               fsync_dir, new_manifest, segment_name)
from recorder.registry import UnknownLesson
from recorder.retention import MIN_YEARS, add_years, iso
from recorder.signing import PlatformKey, canonical, check_document, key_for_data_dir

log = logging.getLogger("qihang.recorder.ledger")


class LedgerError(RuntimeError):
    pass


class Ledger:
    """``Ledger(root, key_or_data_dir)``: ``key_or_data_dir`` is a PlatformKey, or the data dir whose
    ``signing.key`` (or ``QIHANG_SIGNING_KEY[_FILE]``) is the platform key. With ``database_url``
    (and ``profiles_dir``) the ledger keeps the ``recordings`` row itself; without, the files are the
    record and the app keeps the row from the signed manifest. ``remote``: an S3Store to copy to."""

    def __init__(self, root: Path, key: PlatformKey | Path | str, *, registry=None, remote=None,
                 clock: Callable[[], datetime] = utcnow, database_url: str | None = None,
                 profiles_dir: Path | None = None):
        self.root = Path(root)
        self.key = key if isinstance(key, PlatformKey) else key_for_data_dir(Path(key))
        if registry is None and database_url:
            from models.db import Database
            from recorder.registry import RecordingRegistry
            from server.policy.profiles import load_profiles
            registry = RecordingRegistry(Database(database_url), load_profiles(profiles_dir), clock)
        self.registry = registry  # recorder.registry.RecordingRegistry, or None (files only)
        self.remote = remote  # recorder.storage.S3Store, or None (local directory only)
        self.clock = clock
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @classmethod
    def from_settings(cls, settings, db=None, *, clock: Callable[[], datetime] = utcnow, remote=None) -> "Ledger":
        """The ledger of a deployment: its key, its database registry and its object store, if any
        (``remote`` overrides the store the settings name)."""
        from models.db import Database
        from recorder.registry import RecordingRegistry
        from recorder.signing import load_platform_key
        from recorder.storage import open_store
        from server.policy.profiles import load_profiles
        if remote is None and settings.recording_storage != "local":
            remote = open_store(settings)
        registry = RecordingRegistry(db or Database(settings.database_url), load_profiles(settings.profiles_dir), clock)
        return cls(settings.recordings_root, load_platform_key(settings), registry=registry, remote=remote, clock=clock)

    # -- the contract ---------------------------------------------------------------------------

    def open_lesson(self, lesson_id: int) -> dict:
        with self._lesson(lesson_id):
            return self._open(lesson_id, sync=True)

    def segment_closed(self, lesson_id: int, path: Path, meta: dict) -> dict:
        path = Path(path)
        folder = self.lesson_dir(lesson_id)
        m = SEGMENT_RE.match(path.name) or PART_RE.match(path.name)
        if m is None or path.parent.resolve() != folder.resolve():
            raise LedgerError(f"{path} is not a segment file of lesson {lesson_id} ({folder}/seg-NNNNN.mkv)")
        seq = int(m.group(1))
        try:
            fields = clean_meta(seq, meta)
        except ValueError as exc:
            raise LedgerError(f"segment {path.name}: bad meta: {exc}") from None
        with self._lesson(lesson_id):
            manifest = self._open(lesson_id)
            final = folder / segment_name(seq)
            listed = next((e for e in manifest["segments"] if e["seq"] == seq), None)
            if listed is None and manifest["status"] != "recording":
                raise LedgerError(f"the recording of lesson {lesson_id} is finished; segment {seq} refused")
            if path.name.endswith(".part") and path.exists():
                if final.exists():
                    raise LedgerError(f"both {path.name} and {final.name} exist; refusing to overwrite a closed segment")
                _fsync_file(path)
                os.replace(path, final)
                fsync_dir(folder)
            if not final.exists():
                raise LedgerError(f"segment {final.name} of lesson {lesson_id} does not exist")
            size, digest = _hash_file(final)
            if listed is not None:
                if listed["sha256"] == digest and listed["size"] == size:
                    return listed
                raise LedgerError(f"seq {seq} of lesson {lesson_id} is already listed with other content")
            entry = append_entry(manifest, seq=seq, size=size, sha256=digest, fields=fields, closed_at=iso(self.clock()))
            self._write(lesson_id, manifest)
            self._mirror(lesson_id, manifest, self._segment_paths(lesson_id, manifest))
            return entry

    def finish(self, lesson_id: int) -> dict:
        with self._lesson(lesson_id):
            manifest = self._open(lesson_id)
            if manifest["status"] == "finished":
                return manifest
            now = self.clock()
            manifest["status"], manifest["finished_at"] = "finished", iso(now)
            years = manifest["retention"]["years"]
            until = max(datetime.fromisoformat(manifest["retention"]["retain_until"]), add_years(now, years))
            manifest["retention"]["retain_until"] = iso(until)
            self._write(lesson_id, manifest)
            self._mirror(lesson_id, manifest, self._segment_paths(lesson_id, manifest), finished_at=now)
            return manifest

    # -- reading ------------------------------------------------------------------------------

    def lesson_dir(self, lesson_id: int) -> Path:
        return self.root / str(int(lesson_id))

    def manifest(self, lesson_id: int) -> dict | None:
        path = self.lesson_dir(lesson_id) / MANIFEST
        return json.loads(path.read_bytes()) if path.exists() else None

    # -- inside -------------------------------------------------------------------------------

    def _open(self, lesson_id: int, *, sync: bool = False) -> dict:
        """Load (checking it) or create the manifest; with ``sync`` (open_lesson) also adopt orphaned
        closed segments and bring the database row and the object store up to date. Lock held."""
        folder = self.lesson_dir(lesson_id)
        folder.mkdir(parents=True, exist_ok=True)
        manifest = self._load(lesson_id)
        opened_at = datetime.fromisoformat(manifest["opened_at"]) if manifest else self.clock()
        years, until = MIN_YEARS, add_years(opened_at, MIN_YEARS)
        if self.registry is not None:
            try:
                ret = self.registry.open(lesson_id, opened_at=opened_at,
                                         storage_kind=self.remote.kind if self.remote else "local",
                                         location=self.remote.location if self.remote else str(self.root),
                                         key_id=self.key.public.id)
                years, until = ret.years, ret.retain_until
            except UnknownLesson:
                raise
            except Exception:  # the database is down: record anyway, the row is made by a later call
                log.exception("lesson %s: could not open the recordings row; recording goes on", lesson_id)
        changed = manifest is None
        if manifest is None:
            manifest = new_manifest(lesson_id, iso(opened_at), years, iso(until))
        elif until > datetime.fromisoformat(manifest["retention"]["retain_until"]):  # only ever extended
            manifest["retention"] = {"years": years, "retain_until": iso(until)}
            changed = True
        if sync and manifest["status"] == "recording" and self._adopt_orphans(lesson_id, manifest):
            changed = True  # only at (re)start: mid-recording a closed file is about to be handed over
        if changed:
            self._write(lesson_id, manifest)
        if sync or changed:
            self._mirror(lesson_id, manifest, self._segment_paths(lesson_id, manifest))
        return manifest

    def _load(self, lesson_id: int) -> dict | None:
        path = self.lesson_dir(lesson_id) / MANIFEST
        if not path.exists():
            return None
        try:
            manifest = json.loads(path.read_bytes())
        except ValueError:
            raise LedgerError(f"{path} is unreadable (truncated?); refusing to sign over it") from None
        why = check_document(manifest, self.key.public)
        problems = chain_problems(manifest)
        if why or problems or manifest.get("lesson_id") != lesson_id:
            raise LedgerError(f"{path} fails its check ({why or problems or 'another lesson'}); refusing to extend it")
        if self.registry is not None:
            seen = self.registry.expected(lesson_id)
            if seen and seen["segments"] > manifest["count"]:
                raise LedgerError(f"{path} lists {manifest['count']} segments but {seen['segments']} were recorded: "
                                  "rolled back; refusing to extend it")
        return manifest

    def _adopt_orphans(self, lesson_id: int, manifest: dict) -> list[dict]:
        listed = {e["seq"] for e in manifest["segments"]}
        folder = self.lesson_dir(lesson_id)
        orphans = sorted((int(m.group(1)), p) for p in folder.iterdir()
                         if (m := SEGMENT_RE.match(p.name)) and int(m.group(1)) not in listed)
        adopted = []
        for seq, path in orphans:
            size, digest = _hash_file(path)
            log.warning("lesson %s: adopting %s, closed but not listed (a crash between close and ledger)",
                        lesson_id, path.name)
            fields = {"started_at": None, "ended_at": None, "duration_s": None, "tracks": [],
                      "extra": {"recovered": True}}
            adopted.append(append_entry(manifest, seq=seq, size=size, sha256=digest, fields=fields,
                                        closed_at=iso(self.clock())))
        return adopted

    def _write(self, lesson_id: int, manifest: dict) -> None:
        signed = self.key.sign_document(manifest, at=iso(self.clock()))
        manifest["signature"] = signed["signature"]
        atomic_write(self.lesson_dir(lesson_id) / MANIFEST, canonical(signed))

    def _segment_paths(self, lesson_id: int, manifest: dict) -> list[Path]:
        return [self.lesson_dir(lesson_id) / e["file"] for e in manifest["segments"]]

    def _mirror(self, lesson_id: int, manifest: dict, files: list[Path], finished_at: datetime | None = None) -> None:
        """Copy to the object store and the database; failures are logged and caught up later."""
        until = datetime.fromisoformat(manifest["retention"]["retain_until"])
        if self.registry is not None:
            try:
                ret = self.registry.update(lesson_id, manifest, finished_at=finished_at)
                until = ret.retain_until if ret else until
            except Exception:
                log.exception("lesson %s: could not update the recordings row (next call retries)", lesson_id)
        if self.remote is not None:
            try:
                present = self.remote.list_files(lesson_id)
                for path in files:
                    if path.name not in present and path.exists():
                        self.remote.put_file(lesson_id, path.name, path, until)
                data = (self.lesson_dir(lesson_id) / MANIFEST).read_bytes()
                if self.remote.read(lesson_id, MANIFEST) != data:
                    self.remote.put_bytes(lesson_id, MANIFEST, data, until)
            except Exception:
                log.exception("lesson %s: could not copy to %s (next call retries)", lesson_id, self.remote.location)

    @contextmanager
    def _lesson(self, lesson_id: int) -> Iterator[None]:
        """One writer per lesson: a thread lock, and a file lock against another process."""
        with self._locks_guard:
            lock = self._locks.setdefault(int(lesson_id), threading.Lock())
        with lock:
            folder = self.lesson_dir(lesson_id)
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / ".ledger.lock", "a") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _hash_file(path: Path) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            h.update(chunk)
            size += len(chunk)
        os.fsync(fh.fileno())
    return size, h.hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
