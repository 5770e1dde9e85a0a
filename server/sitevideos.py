"""Offline lessons' site videos kept as evidence (ATT-6, REC-1): a signed hash chain per lesson, and
its verification.

Seed 003 四（三）: "每完成 1 课时培训，培训组织方须上传 10 秒钟培训现场视频至教学平台，同时应录制培训全程视频备查，
保存期限不少于 3 年" — so the clips and the full-session video get the recordings' rules:

* **Integrity** — every uploaded file has a SHA-256 (of its plaintext) and is chained into the lesson's
  site manifest, ``<uploads>/site-videos/<lesson_id>/manifest.json``, signed with the platform key
  (recorder/signing.py) and rewritten atomically (recorder/manifest.atomic_write)::

      {"format": "qihang-site-video-manifest/1", "lesson_id", "genesis", "count", "head",
       "entries": [{"index", "kind": "clip"|"full", "class_hour", "file_id", "storage_key",
                    "content_type", "size", "sha256", "duration_s", "uploaded_by", "uploaded_at",
                    "retain_until", "prev_hash", "hash"}, ...], "signature": {...}}

  The manifest lives beside the encrypted media in the uploads directory, not in the recordings
  folder: ``qihang backup`` archives the whole uploads tree, so media and manifest travel together,
  and a recording's deletion (which removes its folder) can never take it along. The ``site_videos``
  row repeats each entry's seq, hash and SHA-256, so a manifest rolled back to an older signed state
  (entries missing) is caught against the database, and the database against the manifest.
* **Retention** — retain-until = the later of upload and lesson end + the profile's
  ``recording_retention_years`` (never under 3, recorder/retention.py); deletion before is refused
  (server/api/sitevideos.py, and the database guard of migration 0009). With an S3 store configured,
  the encrypted files and the manifest are copied there under Object Lock (COMPLIANCE) until then.

:func:`verify_lesson` checks signature, chain, database rows and — ``full`` — every file's bytes
(each 1 MiB chunk's AES-GCM tag, then the SHA-256), naming each altered or missing file.
"""
from __future__ import annotations

import fcntl
import json
import logging
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import SiteVideo, StoredFile
from recorder.manifest import atomic_write
from recorder.signing import PlatformKey, PublicKey, canonical, check_document, sha256_hex
from server.videoserve import _OVERHEAD, VideoStore, chunk_count

log = logging.getLogger("qihang.sitevideos")
FORMAT = "qihang-site-video-manifest/1"
DIRNAME = "site-videos"
MANIFEST = "manifest.json"
ENTRY_FIELDS = ("kind", "class_hour", "file_id", "storage_key", "content_type", "size", "sha256", "duration_s",
                "uploaded_by", "uploaded_at", "retain_until")
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class ManifestBroken(RuntimeError):
    """The lesson's site manifest fails its own check: it is never extended (or re-signed) then."""


def genesis(lesson_id: int) -> str:
    return sha256_hex(canonical({"format": FORMAT, "lesson_id": int(lesson_id)}))


def entry_hash(entry: dict) -> str:
    return sha256_hex(canonical({k: v for k, v in entry.items() if k != "hash"}))


def new_manifest(lesson_id: int) -> dict:
    g = genesis(lesson_id)
    return {"format": FORMAT, "lesson_id": int(lesson_id), "genesis": g, "count": 0, "head": g, "entries": []}


def chain_problems(m: dict) -> list[tuple[int | None, str]]:
    """(index or None, what) for each break in the chain or summary; [] when intact."""
    out: list[tuple[int | None, str]] = []
    try:
        prev = genesis(m["lesson_id"])
        if m.get("genesis") != prev:
            out.append((None, "genesis hash does not match the lesson"))
        for i, e in enumerate(m["entries"]):
            if e.get("index") != i:
                out.append((i, f"entry {i} says index {e.get('index')}"))
            if e.get("prev_hash") != prev:
                out.append((i, f"entry {i} does not link to the entry before it"))
            if e.get("hash") != entry_hash(e):
                out.append((i, f"entry {i} hash does not match its content"))
            prev = e.get("hash")
        if m.get("count") != len(m["entries"]) or m.get("head") != prev:
            out.append((None, "summary count/head does not match the entries"))
    except (KeyError, TypeError, AttributeError) as exc:
        out.append((None, f"malformed manifest: {exc!r}"))
    return out


class SiteManifests:
    """The per-lesson manifests under ``<uploads>/site-videos``; one writer per lesson (thread + file lock)."""

    def __init__(self, uploads_dir: Path, key: PlatformKey):
        self.root = Path(uploads_dir) / DIRNAME
        self.key = key

    def path(self, lesson_id: int) -> Path:
        return self.root / str(int(lesson_id)) / MANIFEST

    def read(self, lesson_id: int) -> bytes | None:
        p = self.path(lesson_id)
        return p.read_bytes() if p.is_file() else None

    @contextmanager
    def locked(self, lesson_id: int) -> Iterator[None]:
        folder = self.path(lesson_id).parent
        folder.mkdir(parents=True, exist_ok=True)
        with _locks_guard:
            lock = _locks.setdefault(str(folder), threading.Lock())
        with lock, open(folder / "manifest.lock", "a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def load(self, lesson_id: int) -> dict:
        """The manifest to extend (a new one when none); ManifestBroken when it fails its check. Lock held."""
        raw = self.read(lesson_id)
        if raw is None:
            return new_manifest(lesson_id)
        try:
            m = json.loads(raw)
        except ValueError:
            raise ManifestBroken("unreadable (truncated or edited)") from None
        if not isinstance(m, dict) or m.get("format") != FORMAT or m.get("lesson_id") != lesson_id:
            raise ManifestBroken("not this lesson's site manifest")
        why = check_document(m, self.key.public)
        problems = chain_problems(m)
        if why or problems:
            raise ManifestBroken(why or problems[0][1])
        return m

    @staticmethod
    def chain(m: dict, fields: dict) -> dict:
        """Chain an entry onto ``m`` in memory and return it (:meth:`write` makes it so)."""
        entry = {"index": len(m["entries"]), **{k: fields[k] for k in ENTRY_FIELDS}, "prev_hash": m["head"]}
        entry["hash"] = entry_hash(entry)
        m["entries"].append(entry)
        m["count"], m["head"] = len(m["entries"]), entry["hash"]
        return entry

    def write(self, m: dict, *, at: str) -> None:
        """Sign ``m`` and replace the file atomically. Lock held."""
        signed = self.key.sign_document(m, at=at)
        m["signature"] = signed["signature"]
        atomic_write(self.path(m["lesson_id"]), canonical(signed))


# --------------------------------------------------------------------------- verification

ZH = {"no_key": "没有可信的平台公钥", "manifest_missing": "现场视频清单缺失", "manifest_unreadable": "清单无法读取（被截断或篡改）",
      "manifest_foreign": "清单不属于该课次", "signature_invalid": "清单签名无效", "chain_broken": "哈希链断裂",
      "row_missing": "清单条目没有对应的数据库记录", "row_mismatch": "数据库记录与清单不一致",
      "row_unlisted": "数据库记录不在清单中（清单被回退？）", "file_missing": "视频文件缺失",
      "file_altered": "视频文件被修改", "deleted": "保存期满后已删除"}
FILE_KINDS = ("file_missing", "file_altered")


@dataclass
class Finding:
    kind: str
    detail: str
    seq: int | None = None
    site_video_id: int | None = None
    video_kind: str | None = None
    class_hour: int | None = None
    file: str | None = None
    message_zh: str = ""

    def __post_init__(self):
        what = {"clip": f"第 {self.class_hour} 课时现场短视频", "full": "全程视频"}.get(self.video_kind or "", "")
        self.message_zh = f"{what}{'：' if what else ''}{ZH.get(self.kind, self.kind)}"


@dataclass
class SiteVerification:
    lesson_id: int
    mode: str
    entries: int = 0
    problems: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict:
        files = [p for p in self.problems if p.kind in FILE_KINDS]
        first = min(files, key=lambda p: p.seq) if files else (self.problems[0] if self.problems else None)
        return {"ok": self.ok, "mode": self.mode, "entries": self.entries, "first_bad": asdict(first) if first else None,
                "problems": [asdict(p) for p in self.problems], "warnings": [asdict(w) for w in self.warnings]}


def _finding(kind: str, detail: str, e: dict | None = None, row: SiteVideo | None = None) -> Finding:
    e = e or {}
    return Finding(kind, detail, seq=e.get("index", row.seq if row else None), site_video_id=row.id if row else None,
                   video_kind=e.get("kind", row.kind if row else None),
                   class_hour=e.get("class_hour", row.class_hour if row else None), file=e.get("storage_key"))


def verify_lesson(s: Session, manifests: SiteManifests, store: VideoStore, lesson_id: int,
                  trusted: PublicKey | None, *, full: bool = False) -> SiteVerification:
    """Manifest signature and chain, the rows against the entries, and each kept file: present with
    its encrypted size (quick) or every chunk decrypted and the SHA-256 compared (``full``)."""
    v = SiteVerification(lesson_id, "full" if full else "quick")
    rows = {r.seq: r for r in s.scalars(select(SiteVideo).where(SiteVideo.lesson_id == lesson_id))}
    if trusted is None:
        v.problems.append(Finding("no_key", "no platform signing key to verify with"))
        return v
    raw = manifests.read(lesson_id)
    if raw is None:
        if rows:
            v.problems.append(Finding("manifest_missing", f"{len(rows)} site video(s) recorded, no manifest"))
        return v
    try:
        m = json.loads(raw)
        if not isinstance(m, dict) or m.get("format") != FORMAT or not isinstance(m.get("entries"), list):
            raise ValueError("not a site-video manifest")
    except ValueError as exc:
        v.problems.append(Finding("manifest_unreadable", str(exc)))
        return v
    if m.get("lesson_id") != lesson_id:
        v.problems.append(Finding("manifest_foreign", f"the manifest is lesson {m.get('lesson_id')!r}'s"))
    why = check_document(m, trusted)
    if why:
        v.problems.append(Finding("signature_invalid", why))
    entries = [e for e in m["entries"] if isinstance(e, dict)]
    v.entries = len(entries)
    by_index = {e.get("index"): e for e in entries}
    for i, what in chain_problems(m):
        v.problems.append(_finding("chain_broken", what, by_index.get(i), rows.get(i)))
    for e in entries:
        row = rows.get(e.get("index"))
        if row is None:
            v.problems.append(_finding("row_missing", "a manifest entry with no site_videos row", e))
            continue
        diff = [k for k, rv in (("sha256", row.sha256), ("file_id", row.file_id), ("kind", row.kind),
                                ("class_hour", row.class_hour), ("size", row.size)) if e.get(k) != rv]
        if row.entry_hash != e.get("hash"):
            diff.append("hash")
        if diff:
            v.problems.append(_finding("row_mismatch", f"row and entry differ in {', '.join(diff)}", e, row))
            continue
        if row.status == "deleted":
            v.warnings.append(_finding("deleted", f"deleted after its retention, on {row.deleted_at}", e, row))
            continue
        _check_file(v, s, store, e, row, full)
    for seq, row in sorted(rows.items()):
        if seq not in by_index:
            v.problems.append(_finding("row_unlisted", "a site_videos row the manifest does not list", None, row))
    return v


def _check_file(v: SiteVerification, s: Session, store: VideoStore, e: dict, row: SiteVideo, full: bool) -> None:
    stored = s.get(StoredFile, row.file_id)
    path = store._path(stored.storage_key) if stored else None
    if stored is None or not path.is_file():
        v.problems.append(_finding("file_missing", "the encrypted file is not in the store", e, row))
        return
    expected = stored.size + chunk_count(stored.size) * _OVERHEAD
    if path.stat().st_size != expected:
        v.problems.append(_finding("file_altered", f"size {path.stat().st_size} ≠ expected {expected}", e, row))
    elif full:
        try:
            good = store.verify(stored)
        except Exception as exc:  # a chunk that fails its AES-GCM tag, or a short read
            good, why = False, f"a chunk does not decrypt ({type(exc).__name__})"
        else:
            why = "SHA-256 differs from the manifest"
        if not good:
            v.problems.append(_finding("file_altered", why, e, row))


def mirror_to_store(remote, lesson_id: int, files: list[tuple[str, Path]], manifest_path: Path, retain_until) -> None:
    """Copy new encrypted files and the manifest to the S3 store under Object Lock; logged, never raised:
    the local copy and the database are the record, a later upload catches the copy up."""
    if remote is None:
        return
    base = f"{remote.prefix}{DIRNAME}/{int(lesson_id)}/"
    try:
        for name, path in files:
            remote.put_path(base + name, path, retain_until)
        remote.put_path(base + MANIFEST, manifest_path, retain_until)
    except Exception:
        log.exception("lesson %s: could not copy site videos to %s", lesson_id, remote.location)
