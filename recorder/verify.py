"""Verify a lesson's recording (REC-1): ``qihang verify-recording LESSON_ID`` and the recording API.

Checks, in order, and reports every problem found, naming the first bad segment (lowest seq):

1. the manifest exists and parses (a truncated file does not);
2. it is signed by the platform key the verifier trusts (not by a key named inside it);
3. the hash chain: genesis bound to the lesson, each entry's hash and link, the summary;
4. every listed segment is present with its size and (full check) its SHA-256;
5. no ``seg-*.mkv`` lies in the folder unlisted (an inserted segment); a ``.part`` is the open
   segment while recording and a leftover (warning) after;
6. against the database row: the manifest is not older than what the database has seen (a rollback
   to an earlier signed manifest with its last segments deleted).

Gaps in seq (a segment lost to a crash: at most the open one's seconds) are warnings, not failures:
the signed chain says exactly what was kept. The quick check skips hashing media (GET on the API);
the full one reads every byte (the CLI, and ``?full=1``).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field

from recorder.manifest import FORMAT, MANIFEST, PART_RE, SEGMENT_RE, chain_problems
from recorder.signing import PublicKey, check_document

BROKEN_RE = re.compile(r"^seg-(\d{5})\.mkv\.broken$")  # recorder/segmentwriter.py: unreadable after a crash
SEGMENT_KINDS = ("segment_missing", "segment_altered", "segment_unlisted")
ZH = {"manifest_missing": "清单文件缺失", "manifest_unreadable": "清单文件无法读取（被截断或篡改）",
      "manifest_foreign": "清单不属于该课次", "signature_invalid": "清单签名无效",
      "chain_broken": "哈希链断裂", "segment_missing": "录像分段缺失", "segment_altered": "录像分段被修改",
      "segment_unlisted": "存在清单外的录像分段", "manifest_rolled_back": "清单被回退到旧版本",
      "registry_mismatch": "清单与数据库记录不一致", "no_key": "没有可信的平台公钥",
      "gap": "分段缺号", "open_segment": "正在录制的分段", "leftover_part": "残留的未封闭分段",
      "broken_part": "无法修复的残留分段",
      "registry_behind": "数据库记录滞后"}


@dataclass
class Problem:
    kind: str
    detail: str
    seq: int | None = None
    file: str | None = None

    def line(self) -> str:
        where = f"seq {self.seq} ({self.file}): " if self.seq is not None else ""
        return f"{where}{ZH.get(self.kind, self.kind)} / {self.kind}: {self.detail}"


@dataclass
class Verification:
    lesson_id: int
    mode: str  # "full" (every byte hashed) or "quick" (sizes only)
    status: str | None = None  # the manifest's: recording / finished
    segments: int = 0
    bytes: int = 0
    key_id: str | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    gaps: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> Problem | None:
        """The first altered, missing or unlisted segment by seq; else the first problem."""
        segs = [p for p in self.problems if p.kind in SEGMENT_KINDS and p.seq is not None]
        return min(segs, key=lambda p: p.seq) if segs else (self.problems[0] if self.problems else None)

    def summary(self) -> dict:
        first = self.first_bad
        return {"ok": self.ok, "mode": self.mode, "status": self.status, "segments": self.segments,
                "bytes": self.bytes, "key_id": self.key_id, "gaps": self.gaps,
                "first_bad": asdict(first) if first else None,
                "problems": [asdict(p) for p in self.problems], "warnings": [asdict(p) for p in self.warnings]}

    def report(self) -> str:
        head = (f"课次 {self.lesson_id} 录像完好 / recording of lesson {self.lesson_id} intact: "
                f"{self.segments} segments, {self.bytes} bytes, {self.status}, {self.mode} check")
        if not self.ok:
            first = self.first_bad
            head = (f"课次 {self.lesson_id} 录像校验失败 / recording of lesson {self.lesson_id} FAILS verification; "
                    f"first bad: {first.line()}")
        lines = [head] + [f"  ✗ {p.line()}" for p in self.problems] + [f"  ! {w.line()}" for w in self.warnings]
        return "\n".join(lines)


def verify_recording(store, lesson_id: int, trusted: PublicKey | None, *, full: bool = True,
                     expected: dict | None = None) -> Verification:
    """``store``: recorder.storage LocalStore/S3Store; ``expected``: the database row's
    ``{"segments", "head_hash"}`` (RecordingRegistry.expected), when there is one."""
    v = Verification(lesson_id=lesson_id, mode="full" if full else "quick")
    if trusted is None:
        v.problems.append(Problem("no_key", "no platform signing key here; pass the public key to verify with"))
        return v
    files = store.list_files(lesson_id)
    raw = store.read(lesson_id, MANIFEST)
    if raw is None:
        v.problems.append(Problem("manifest_missing", f"{MANIFEST} not found"))
        _unlisted(v, files, set(), "recording")
        return v
    try:
        manifest = json.loads(raw)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError("not a recording manifest")
    except ValueError as exc:
        v.problems.append(Problem("manifest_unreadable", f"{MANIFEST} does not parse ({exc}); truncated or edited"))
        return v
    if manifest.get("lesson_id") != lesson_id:
        v.problems.append(Problem("manifest_foreign", f"the manifest is lesson {manifest.get('lesson_id')!r}'s"))
    v.status, v.key_id = manifest.get("status"), (manifest.get("signature") or {}).get("key_id")
    entries = manifest.get("segments") if isinstance(manifest.get("segments"), list) else []
    v.segments, v.bytes = len(entries), sum(e.get("size") or 0 for e in entries if isinstance(e, dict))
    why = check_document(manifest, trusted)
    if why:
        v.problems.append(Problem("signature_invalid", why))
    for seq, what in chain_problems(manifest):
        v.problems.append(Problem("chain_broken", what, seq, _file(entries, seq)))
    listed = set()
    for e in sorted((e for e in entries if isinstance(e, dict) and isinstance(e.get("seq"), int)), key=lambda e: e["seq"]):
        name = str(e.get("file"))
        listed.add(name)
        if name not in files:
            v.problems.append(Problem("segment_missing", "listed in the manifest, not in the store", e["seq"], name))
        elif files[name] != e.get("size"):
            v.problems.append(Problem("segment_altered", f"size {files[name]} ≠ listed {e.get('size')}", e["seq"], name))
        elif full and _sha256(store, lesson_id, name) != e.get("sha256"):
            v.problems.append(Problem("segment_altered", "SHA-256 differs from the manifest", e["seq"], name))
    _unlisted(v, files, listed, v.status)
    seqs = sorted(e["seq"] for e in entries if isinstance(e, dict) and isinstance(e.get("seq"), int))
    if seqs:
        v.gaps = sorted(set(range(1, seqs[-1] + 1)) - set(seqs))
        for gap in v.gaps:
            v.warnings.append(Problem("gap", "never closed (lost to a crash, or not recorded)", gap, f"seg-{gap:05d}.mkv"))
    if expected:
        _against_registry(v, entries, expected)
    return v


def _unlisted(v: Verification, files: dict[str, int], listed: set[str], status: str | None) -> None:
    for name in sorted(files):
        if name in listed:
            continue
        if m := SEGMENT_RE.match(name):
            v.problems.append(Problem("segment_unlisted", "a segment file the manifest does not list", int(m.group(1)), name))
        elif m := PART_RE.match(name):
            kind = "open_segment" if status == "recording" else "leftover_part"
            v.warnings.append(Problem(kind, "an unclosed segment (.part), not covered by the manifest", int(m.group(1)), name))
        elif m := BROKEN_RE.match(name):
            v.warnings.append(Problem("broken_part", "a segment left open by a crash that could not be repaired",
                                      int(m.group(1)), name))


def _against_registry(v: Verification, entries: list, expected: dict) -> None:
    seen, head = int(expected.get("segments") or 0), expected.get("head_hash")
    if seen > len(entries):
        v.problems.append(Problem("manifest_rolled_back",
                                  f"the database saw {seen} segments, the manifest lists {len(entries)}"))
    elif seen and head and (entries[seen - 1].get("hash") if isinstance(entries[seen - 1], dict) else None) != head:
        v.problems.append(Problem("registry_mismatch", f"entry {seen - 1} is not the head the database recorded"))
    elif seen < len(entries):
        v.warnings.append(Problem("registry_behind", f"the database has seen {seen} of {len(entries)} segments"))


def _sha256(store, lesson_id: int, name: str) -> str:
    h = hashlib.sha256()
    for chunk in store.chunks(lesson_id, name):
        h.update(chunk)
    return h.hexdigest()


def _file(entries: list, seq) -> str | None:
    return next((e.get("file") for e in entries if isinstance(e, dict) and e.get("seq") == seq), None)
