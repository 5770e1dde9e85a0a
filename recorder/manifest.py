"""A lesson recording's manifest (REC-1): the segments in order, each hash-chained to the one before.

``<root>/<lesson_id>/manifest.json``, rewritten whole (tmp + fsync + rename + fsync of the folder)
and re-signed with the platform's Ed25519 key after every closed segment and at finish::

    {"format": "qihang-recording-manifest/1", "lesson_id": 12, "status": "recording" | "finished",
     "opened_at": ISO, "finished_at": ISO | null, "retention": {"years": 3, "retain_until": ISO},
     "genesis": H0, "count": n, "head": Hn, "total_bytes": ..., "total_duration_s": ...,
     "segments": [{"index": 0, "seq": 1, "file": "seg-00001.mkv", "size": ..., "sha256": ...,
                   "started_at": ISO, "ended_at": ISO, "duration_s": 300.0, "tracks": [...],
                   "closed_at": ISO, "prev_hash": H0, "hash": H1}, ...],
     "signature": {"alg": "Ed25519", "key_id", "public_key", "signed_at", "value"}}

``genesis`` is the SHA-256 of ``{"format", "lesson_id", "opened_at"}``, so a chain cannot be moved
to another lesson; each entry's ``hash`` is the SHA-256 of its canonical JSON without ``hash``
(``prev_hash`` included). Entries are in append order; ``seq`` normally rises by one, but a gap is
allowed (a segment lost to a crash) and so is a late, repaired one. One file rather than a JSON-lines
log plus a signed head: a lesson has tens of segments, so rewriting it is cheap, and a truncated or
edited file simply fails to parse or to verify.
"""
from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from recorder.signing import canonical, sha256_hex

FORMAT = "qihang-recording-manifest/1"
MANIFEST = "manifest.json"
SEGMENT_RE = re.compile(r"^seg-(\d{5})\.mkv$")
PART_RE = re.compile(r"^seg-(\d{5})\.mkv\.part$")
ENTRY_KEYS = ("index", "seq", "file", "size", "sha256", "started_at", "ended_at", "duration_s", "tracks",
              "closed_at", "prev_hash", "hash")


def segment_name(seq: int) -> str:
    if not 1 <= seq <= 99999:
        raise ValueError(f"segment seq must be 1–99999, not {seq}")
    return f"seg-{seq:05d}.mkv"


def genesis(lesson_id: int, opened_at: str) -> str:
    return sha256_hex(canonical({"format": FORMAT, "lesson_id": lesson_id, "opened_at": opened_at}))


def entry_hash(entry: dict) -> str:
    return sha256_hex(canonical({k: v for k, v in entry.items() if k != "hash"}))


def new_manifest(lesson_id: int, opened_at: str, years: int, retain_until: str) -> dict:
    g = genesis(lesson_id, opened_at)
    return {"format": FORMAT, "lesson_id": lesson_id, "status": "recording", "opened_at": opened_at,
            "finished_at": None, "retention": {"years": years, "retain_until": retain_until}, "genesis": g,
            "count": 0, "head": g, "total_bytes": 0, "total_duration_s": 0.0, "segments": []}


def clean_meta(seq: int, meta: dict) -> dict[str, Any]:
    """The recorder's meta as entry fields; raises ValueError on a malformed one."""
    if not isinstance(meta, dict):
        raise ValueError("meta must be a dict")
    if meta.get("seq") != seq:
        raise ValueError(f"meta seq {meta.get('seq')!r} does not match the file's seq {seq}")
    out: dict[str, Any] = {}
    for key in ("started_at", "ended_at"):
        value = meta.get(key)
        if value is not None:
            datetime.fromisoformat(str(value))  # ValueError when not ISO 8601
            value = str(value)
        out[key] = value
    dur = meta.get("duration_s")
    out["duration_s"] = None if dur is None else float(dur)
    if out["duration_s"] is not None and not out["duration_s"] >= 0:
        raise ValueError("duration_s must be ≥ 0")
    tracks = meta.get("tracks") or []
    if not isinstance(tracks, list):
        raise ValueError("tracks must be a list")
    canonical(tracks)  # must be JSON
    out["tracks"] = tracks
    extra = {k: v for k, v in meta.items() if k not in ("seq", "started_at", "ended_at", "duration_s", "tracks")}
    if extra:
        canonical(extra)
        out["extra"] = extra
    return out


def append_entry(manifest: dict, *, seq: int, size: int, sha256: str, fields: dict, closed_at: str) -> dict:
    """Chain a new entry onto ``manifest`` (in place) and refresh its summary; the entry is returned."""
    entry = {"index": len(manifest["segments"]), "seq": seq, "file": segment_name(seq), "size": size,
             "sha256": sha256, **fields, "closed_at": closed_at, "prev_hash": manifest["head"]}
    entry["hash"] = entry_hash(entry)
    manifest["segments"].append(entry)
    summarise(manifest)
    return entry


def summarise(manifest: dict) -> None:
    segs = manifest["segments"]
    manifest["count"] = len(segs)
    manifest["head"] = segs[-1]["hash"] if segs else manifest["genesis"]
    manifest["total_bytes"] = sum(e["size"] for e in segs)
    manifest["total_duration_s"] = round(sum(e.get("duration_s") or 0.0 for e in segs), 3)


def chain_problems(manifest: dict) -> list[tuple[int | None, str]]:
    """(seq or None, what is wrong) for every break in the chain and the summary; [] when intact."""
    out: list[tuple[int | None, str]] = []
    try:
        expected = genesis(manifest["lesson_id"], manifest["opened_at"])
        if manifest.get("genesis") != expected:
            out.append((None, "genesis hash does not match the lesson and opening time"))
        prev, seen = expected, set()
        for i, e in enumerate(manifest["segments"]):
            seq = e.get("seq")
            if e.get("index") != i:
                out.append((seq, f"entry {i} says index {e.get('index')}"))
            if e.get("prev_hash") != prev:
                out.append((seq, f"entry {i} does not link to the entry before it"))
            if e.get("hash") != entry_hash(e):
                out.append((seq, f"entry {i} hash does not match its content"))
            if seq in seen:
                out.append((seq, f"seq {seq} listed twice"))
            if e.get("file") != segment_name(int(seq)):
                out.append((seq, f"entry {i} names file {e.get('file')!r}"))
            seen.add(seq)
            prev = e.get("hash")
        summary = dict(manifest)
        summarise(summary)
        for key in ("count", "head", "total_bytes"):
            if manifest.get(key) != summary[key]:
                out.append((None, f"summary {key} does not match the segments"))
    except (KeyError, TypeError, ValueError) as exc:
        out.append((None, f"malformed manifest: {exc!r}"))
    return out


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` holds either the old or the new content after any crash."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
