"""Backups (REC-3): ``qihang backup`` and ``qihang verify-backup``.

One tar archive per backup, ``qihang-backup-YYYYMMDDTHHMMSSZ.tar``, holding

* ``db/…`` — the database snapshot (recorder/dbdump.py): ``db/qihang.sqlite`` made with SQLite's
  online backup API, or ``db/tables/NNN-<table>.jsonl`` read from PostgreSQL in one snapshot
  transaction (plus ``db/pg_dump.custom`` with ``--pg-dump``);
* ``recordings/<lesson_id>/manifest.json`` — every lesson recording's signed manifest. The media are
  not copied: each manifest's SHA-256 chain proves them, wherever they are kept (REC-1 storage);
* ``uploads/…`` — the uploaded files, as stored (encrypted: PLAT-3);
* ``backup-manifest.json`` (last) — every other member's name, size and SHA-256, the database
  revision, the master key's fingerprint (never the key), the recordings' heads, and ``previous``:
  the preceding backup's file, sequence number and manifest SHA-256 — a hash chain — all signed
  with the platform's Ed25519 key.

The database is read first and files after it: uploads are written before the rows that name them
and never changed, so every file the snapshot refers to is in the archive. The keys are NOT in the
archive (anyone holding it could read every ID number): back ``secret.key`` and ``signing.key`` up
once, apart; ``qihang restore`` asks for the master key and checks it against the fingerprint.

``verify-backup`` recomputes every member's hash, checks the signature against the platform key (or
``--public-key``), refuses missing, added and duplicate members, and follows the ``previous`` link:
the previous archive must be there, genuine, one sequence number back, with exactly that manifest
hash. So an edited, re-signed, dropped or reordered backup shows. Whoever holds the signing key could
rewrite the whole chain; the printed manifest hash, reported to HR each month (REC-3), and the
optional copy into an Object-Lock bucket (``QIHANG_S3_BUCKET``) are what even that cannot change.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable

from models.base import utcnow
from models.db import make_engine
from recorder import dbdump
from recorder.manifest import MANIFEST, atomic_write
from recorder.retention import MIN_YEARS, add_years, iso
from recorder.signing import PlatformKey, PublicKey, canonical, check_document, sha256_hex

FORMAT = "qihang-backup/1"
MANIFEST_NAME = "backup-manifest.json"
CHAIN_FILE = "backup-chain.json"  # in the data dir: the last backup this instance made
ARCHIVE_RE = re.compile(r"^qihang-backup-\d{8}T\d{6}Z(-\d+)?\.tar$")


def secret_key_id(key: bytes) -> str:
    return sha256_hex(b"qihang-master-key-id\x00" + key)[:16]


@dataclass
class BackupResult:
    path: Path
    sequence: int
    manifest_sha256: str
    members: int
    previous: dict | None


class _Hashing(io.RawIOBase):
    """A read-through file wrapper that hashes what tarfile reads."""

    def __init__(self, fh: BinaryIO):
        self.fh, self.h = fh, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.h.update(data)
        return data


class _Writer:
    def __init__(self, tar: tarfile.TarFile, now: datetime):
        self.tar, self.mtime, self.members = tar, int(now.timestamp()), []

    def add_file(self, name: str, path: Path) -> None:
        with open(path, "rb") as fh:
            info = self._info(name, os.fstat(fh.fileno()).st_size)
            wrapped = _Hashing(fh)
            self.tar.addfile(info, wrapped)
        self.members.append({"name": name, "size": info.size, "sha256": wrapped.h.hexdigest()})

    def add_bytes(self, name: str, data: bytes, *, listed: bool = True) -> None:
        self.tar.addfile(self._info(name, len(data)), io.BytesIO(data))
        if listed:
            self.members.append({"name": name, "size": len(data), "sha256": sha256_hex(data)})

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, self.mtime, 0o600
        return info


def create_backup(settings, out_dir: Path, *, key: PlatformKey, clock: Callable[[], datetime] = utcnow,
                  with_pg_dump: bool = False, remote=None) -> BackupResult:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    now = clock()
    path = _free_name(out_dir, f"qihang-backup-{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}")
    previous = previous_link(settings, out_dir, key.public)
    work = Path(tempfile.mkdtemp(prefix=".backup-", dir=out_dir))
    partial = path.with_name(path.name + ".partial")
    try:
        database = _snapshot_database(settings, work, with_pg_dump)
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            w = _Writer(tar, now)
            for name in database["members"]:
                w.add_file(name, work / name)
            recordings = _add_recording_manifests(w, settings.recordings_root)
            _add_tree(w, settings.uploads_dir, "uploads")
            manifest = {"format": FORMAT, "sequence": (previous["sequence"] + 1) if previous else 1,
                        "created_at": iso(now), "previous": previous, "database": database,
                        "secret_key_id": secret_key_id(settings.secret_key), "recordings": recordings,
                        "members": w.members}
            raw = canonical(key.sign_document(manifest, at=iso(now)))
            w.add_bytes(MANIFEST_NAME, raw, listed=False)
        with open(partial, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(partial, path)
        digest = sha256_hex(raw)
        atomic_write(Path(settings.data_dir) / CHAIN_FILE, canonical(
            {"file": path.name, "sequence": manifest["sequence"], "manifest_sha256": digest}))
        if remote is not None:  # a locked copy nobody can overwrite or delete for MIN_YEARS (REC-3)
            remote.put_path(f"{remote.prefix}backups/{path.name}", path, add_years(now, MIN_YEARS))
        return BackupResult(path, manifest["sequence"], digest, len(w.members) + 1, previous)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        partial.unlink(missing_ok=True)


def _free_name(out_dir: Path, stem: str) -> Path:
    path, n = out_dir / f"{stem}.tar", 1
    while path.exists():
        n += 1
        path = out_dir / f"{stem}-{n}.tar"
    return path


def _snapshot_database(settings, work: Path, with_pg_dump: bool) -> dict:
    url = settings.database_url
    if url.startswith("sqlite"):
        (work / "db").mkdir()
        dbdump.sqlite_snapshot(url, work / "db" / "qihang.sqlite")
        engine = make_engine(f"sqlite:///{work / 'db' / 'qihang.sqlite'}")
        try:
            revision = dbdump.current_revision(engine)
        finally:
            engine.dispose()
        return {"engine": "sqlite", "dump": "sqlite-backup", "revision": revision, "members": ["db/qihang.sqlite"]}
    engine = make_engine(url)
    try:
        revision = dbdump.current_revision(engine)
        counts = dbdump.json_dump(engine, work / "db" / "tables")
    finally:
        engine.dispose()
    members = sorted(f"db/tables/{p.name}" for p in (work / "db" / "tables").iterdir())
    if with_pg_dump and dbdump.pg_dump(url, work / "db" / "pg_dump.custom"):
        members.append("db/pg_dump.custom")
    return {"engine": "postgresql", "dump": "json-tables", "revision": revision, "tables": counts, "members": members}


def _add_recording_manifests(w: _Writer, root: Path) -> list[dict]:
    out = []
    if not root.is_dir():
        return out
    for folder in sorted((p for p in root.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)):
        path = folder / MANIFEST
        if not path.is_file():
            continue
        data = path.read_bytes()  # read once: the ledger replaces it atomically, never edits in place
        w.add_bytes(f"recordings/{folder.name}/{MANIFEST}", data)
        try:
            m = json.loads(data)
            out.append({"lesson_id": m.get("lesson_id"), "status": m.get("status"), "segments": m.get("count"),
                        "head": m.get("head")})
        except ValueError:
            out.append({"lesson_id": int(folder.name), "status": "unreadable"})
    return out


def _add_tree(w: _Writer, root: Path, prefix: str) -> None:
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            if fn.endswith(".tmp"):  # a write in progress; the finished file is renamed over it
                continue
            path = Path(dirpath) / fn
            w.add_file(f"{prefix}/{path.relative_to(root).as_posix()}", path)


# -- reading and verifying ---------------------------------------------------------------------

def read_manifest(archive: Path) -> tuple[bytes, dict]:
    with tarfile.open(archive, "r:") as tar:
        member = tar.getmember(MANIFEST_NAME)
        raw = tar.extractfile(member).read()
    return raw, json.loads(raw)


def previous_link(settings, out_dir: Path, trusted: PublicKey) -> dict | None:
    """The backup this one chains to: the last one this instance made, else the newest genuine
    archive in ``out_dir``."""
    head = Path(settings.data_dir) / CHAIN_FILE
    if head.exists():
        return json.loads(head.read_bytes())
    best = None
    for path in out_dir.iterdir():
        if not ARCHIVE_RE.match(path.name):
            continue
        try:
            raw, m = read_manifest(path)
        except (OSError, KeyError, ValueError, tarfile.TarError):
            continue
        if check_document(m, trusted) is None and (best is None or m["sequence"] > best["sequence"]):
            best = {"file": path.name, "sequence": m["sequence"], "manifest_sha256": sha256_hex(raw)}
    return best


@dataclass
class BackupCheck:
    archive: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manifest: dict | None = None
    manifest_sha256: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def report(self) -> str:
        if self.ok:
            m = self.manifest
            head = (f"备份完好 / backup intact: {self.archive.name}, #{m['sequence']}, {len(m['members'])} members, "
                    f"manifest sha256 {self.manifest_sha256}")
        else:
            head = f"备份校验失败 / backup FAILS verification: {self.archive.name}"
        return "\n".join([head] + [f"  ✗ {p}" for p in self.problems] + [f"  · {n}" for n in self.notes])


def verify_backup(archive: Path, trusted: PublicKey, *, previous_dir: Path | None = None,
                  check_previous: bool = True) -> BackupCheck:
    archive = Path(archive)
    c = BackupCheck(archive)
    actual: dict[str, tuple[int, str]] = {}
    raw = None
    try:
        with tarfile.open(archive, "r:") as tar:
            for member in tar:
                name = member.name
                if not member.isreg():
                    c.problems.append(f"member {name!r} is not a regular file")
                    continue
                if name.startswith("/") or ".." in Path(name).parts:
                    c.problems.append(f"member {name!r} has an unsafe path")
                    continue
                if name in actual or (name == MANIFEST_NAME and raw is not None):
                    c.problems.append(f"member {name!r} appears twice")
                    continue
                fh = tar.extractfile(member)
                if name == MANIFEST_NAME:
                    raw = fh.read()
                    continue
                h = hashlib.sha256()
                while chunk := fh.read(1024 * 1024):
                    h.update(chunk)
                actual[name] = (member.size, h.hexdigest())
    except (OSError, tarfile.TarError) as exc:
        c.problems.append(f"not a readable tar archive (truncated?): {exc}")
        return c
    if raw is None:
        c.problems.append(f"no {MANIFEST_NAME} in the archive")
        return c
    try:
        m = json.loads(raw)
        assert isinstance(m, dict) and m.get("format") == FORMAT and isinstance(m.get("members"), list)
    except (ValueError, AssertionError):
        c.problems.append(f"{MANIFEST_NAME} is not a backup manifest (edited or truncated)")
        return c
    c.manifest, c.manifest_sha256 = m, sha256_hex(raw)
    why = check_document(m, trusted)
    if why:
        c.problems.append(f"manifest signature: {why}")
    listed = {}
    for item in m["members"]:
        listed[item.get("name")] = item
        got = actual.get(item.get("name"))
        if got is None:
            c.problems.append(f"member {item.get('name')!r} is listed but missing")
        elif got != (item.get("size"), item.get("sha256")):
            c.problems.append(f"member {item.get('name')!r} was changed (SHA-256 or size differs from the manifest)")
    for name in sorted(set(actual) - set(listed)):
        c.problems.append(f"member {name!r} is not listed in the manifest (added)")
    if check_previous:
        _check_previous(c, m, previous_dir or archive.parent, trusted)
    return c


def _check_previous(c: BackupCheck, m: dict, folder: Path, trusted: PublicKey) -> None:
    link = m.get("previous")
    if link is None:
        if m.get("sequence") != 1:
            c.problems.append(f"backup #{m.get('sequence')} names no previous backup")
        else:
            c.notes.append("first backup of the chain")
        return
    if not isinstance(link, dict) or link.get("sequence") != m.get("sequence", 0) - 1:
        c.problems.append(f"previous link {link!r} is not backup #{m.get('sequence', 0) - 1}")
        return
    prev = Path(folder) / str(link.get("file"))
    if not prev.is_file():
        c.problems.append(f"previous backup {link.get('file')} not found in {folder} (pass its folder to check the chain)")
        return
    try:
        raw, pm = read_manifest(prev)
    except (OSError, KeyError, ValueError, tarfile.TarError) as exc:
        c.problems.append(f"previous backup {prev.name} is unreadable: {exc}")
        return
    if sha256_hex(raw) != link.get("manifest_sha256"):
        c.problems.append(f"chain broken: {prev.name}'s manifest hash is not the one this backup links to")
    elif check_document(pm, trusted) is not None or pm.get("sequence") != link.get("sequence"):
        c.problems.append(f"chain broken: {prev.name} is not a genuine backup #{link.get('sequence')}")
    else:
        c.notes.append(f"links to {prev.name} (#{link['sequence']}), manifest sha256 {link['manifest_sha256']}")
