"""``qihang restore ARCHIVE --data-dir DIR``: rebuild a working instance from a backup (REC-3).

1. The archive is verified first (every member's hash and the platform signature; the chain link
   is not required here — in a disaster the previous archive may be elsewhere). Nothing is written
   from an archive that fails.
2. Keys: the archive holds none. The master key must be given (``--secret-key-file``) or already be
   ``DIR/secret.key``, and its fingerprint must match the one the backup recorded: a wrong or newly
   generated key would leave every encrypted ID number and upload unreadable. ``--signing-key-file``
   puts the platform signing key in place too (else a new one is made on first use, and older
   recordings and backups need ``--public-key`` to verify).
3. The target database must be empty. A SQLite snapshot into a SQLite target is put in place as is;
   anything else is loaded row by row under the backup's schema revision (recorder/dbdump.py).
   Either way the database is then migrated to this release's head.
4. Uploads go to ``DIR/uploads``; recording manifests to ``DIR/recordings/<lesson>/`` unless a
   manifest is already there (the recording volume survived): those are kept and compared.
5. ``DIR/backup-chain.json`` points at the restored backup, so the next backup chains on from it.
"""
from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from models.db import make_engine
from recorder import dbdump
from recorder.backup import CHAIN_FILE, MANIFEST_NAME, secret_key_id, verify_backup
from recorder.manifest import atomic_write
from recorder.signing import KEY_FILE, PublicKey, canonical


class RestoreError(RuntimeError):
    pass


@dataclass
class RestoreResult:
    data_dir: Path
    database_url: str
    tables: dict[str, int] | None
    uploads: int = 0
    manifests: int = 0
    notes: list[str] = field(default_factory=list)


def _key_from_file(path: Path) -> bytes:
    raw = Path(path).read_text().strip()
    try:
        key = bytes.fromhex(raw)
        if len(raw) >= 64:
            return key
    except ValueError:
        pass
    return raw.encode()


def _install_key(src: Path | None, dest: Path) -> None:
    if src is None:
        return
    data = Path(src).read_text().strip()
    if dest.exists():
        if dest.read_text().strip() != data:
            raise RestoreError(f"{dest} exists with another key; not overwriting it")
        return
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(data + "\n")


def restore(archive: Path, data_dir: Path, *, trusted: PublicKey, database_url: str | None = None,
            secret_key_file: Path | None = None, signing_key_file: Path | None = None) -> RestoreResult:
    archive, data_dir = Path(archive), Path(data_dir).resolve()
    check = verify_backup(archive, trusted, check_previous=False)
    if not check.ok:
        raise RestoreError("the archive fails verification; nothing restored:\n" + check.report())
    m = check.manifest
    url = database_url or f"sqlite:///{data_dir / 'qihang.db'}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    data_dir.mkdir(parents=True, exist_ok=True)

    secret_path = data_dir / "secret.key"
    candidate = secret_key_file or (secret_path if secret_path.exists() else None)
    if candidate is None:
        raise RestoreError("the master key is not in the archive: pass --secret-key-file (the old secret.key), "
                           f"fingerprint {m['secret_key_id']}")
    if secret_key_id(_key_from_file(candidate)) != m["secret_key_id"]:
        raise RestoreError(f"{candidate} is not the master key this backup was made with "
                           f"(fingerprint {m['secret_key_id']})")
    if not dbdump.is_empty(url):
        raise RestoreError(f"the target database is not empty: {_safe(url)}; restore into an empty one")
    _install_key(secret_key_file, secret_path)
    _install_key(signing_key_file, data_dir / KEY_FILE)

    result = RestoreResult(data_dir, url, None)
    if not (data_dir / KEY_FILE).exists():
        result.notes.append("no signing.key in the data dir: a new platform key will be made on first use; "
                            f"verify older recordings and backups with --public-key {trusted.hex}")
    work = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    try:
        listed = {item["name"] for item in m["members"]}
        with tarfile.open(archive, "r:") as tar:
            for member in tar:
                if member.name == MANIFEST_NAME or member.name not in listed:
                    continue
                _extract(tar, member, work)
        result.tables = _restore_database(m["database"], work, url)
        result.uploads = _move_tree(work / "uploads", data_dir / "uploads")
        result.manifests = _place_manifests(work / "recordings", data_dir / "recordings", result.notes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    atomic_write(data_dir / CHAIN_FILE, canonical({"file": archive.name, "sequence": m["sequence"],
                                                    "manifest_sha256": check.manifest_sha256}))
    return result


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, work: Path) -> None:
    dest = (work / member.name).resolve()
    if work.resolve() not in dest.parents:
        raise RestoreError(f"unsafe member path {member.name!r}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tar.extractfile(member) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1024 * 1024)


def _restore_database(info: dict, work: Path, url: str) -> dict[str, int] | None:
    if info["dump"] == "sqlite-backup":
        snapshot = work / "db" / "qihang.sqlite"
        if url.startswith("sqlite"):
            dbdump.restore_sqlite_file(snapshot, url)
            return None
        source = make_engine(f"sqlite:///{snapshot}")
        try:
            with source.connect() as conn:
                return dbdump.restore_rows(url, info.get("revision"), dbdump.iter_tables(conn), decode=False)
        finally:
            source.dispose()
    if info["dump"] == "json-tables":
        return dbdump.restore_rows(url, info.get("revision"), dbdump.read_json_dump(work / "db" / "tables"), decode=True)
    raise RestoreError(f"unknown database dump kind {info['dump']!r}")


def _move_tree(src: Path, dest: Path) -> int:
    n = 0
    if not src.is_dir():
        return n
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.move(str(path), target)
            n += 1
    return n


def _place_manifests(src: Path, root: Path, notes: list[str]) -> int:
    n = 0
    if not src.is_dir():
        return n
    for path in sorted(src.glob("*/manifest.json")):
        target = root / path.parent.name / path.name
        if target.exists():
            same = target.read_bytes() == path.read_bytes()
            if not same:
                newer = json.loads(target.read_bytes()).get("count", 0) >= json.loads(path.read_bytes()).get("count", 0)
                notes.append(f"lesson {path.parent.name}: kept the manifest already in {root} "
                             f"({'newer' if newer else 'OLDER than the backup: check it with verify-recording'})")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        n += 1
    return n


def _safe(url: str) -> str:
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
