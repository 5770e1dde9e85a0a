"""REC-1 integrity: the ledger's signed hash chain over a lesson's segments, and its verification.

Segments are any bytes, handed to the Ledger exactly as the recorder does (recorder/lessonrecording.py):
written as ``seg-NNNNN.mkv.part``, renamed when closed, then ``segment_closed(lesson, path, meta)``.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from recorder.ledger import Ledger, LedgerError
from recorder.manifest import entry_hash
from recorder.signing import PlatformKey, canonical, check_document, key_for_data_dir
from recorder.storage import LocalStore
from recorder.verify import verify_recording

ROOT = Path(__file__).resolve().parent.parent
LESSON = 41
T0 = datetime(2026, 3, 2, 0, 30, tzinfo=timezone.utc)


def meta(seq: int, **extra) -> dict:
    start = T0 + timedelta(minutes=5 * (seq - 1))
    return {"seq": seq, "started_at": start.isoformat(), "ended_at": (start + timedelta(minutes=5)).isoformat(),
            "duration_s": 300.0, "tracks": [{"number": 1, "source": "camera", "mime": "video/vp8"},
                                             {"number": 2, "source": "mic", "mime": "audio/opus"}], **extra}


def close_segment(ledger: Ledger, seq: int, data: bytes | None = None, *, lesson: int = LESSON,
                  hand_part: bool = False) -> dict:
    """What the recorder does: write the .part, rename it when closed, tell the ledger."""
    folder = ledger.lesson_dir(lesson)
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f"seg-{seq:05d}.mkv.part"
    part.write_bytes(data if data is not None else os.urandom(4000 + seq))
    if hand_part:  # a .part repaired after a crash is handed over under its .part name
        return ledger.segment_closed(lesson, part, meta(seq))
    final = folder / f"seg-{seq:05d}.mkv"
    os.replace(part, final)
    return ledger.segment_closed(lesson, final, meta(seq))


@pytest.fixture
def key() -> PlatformKey:
    return PlatformKey.generate()


@pytest.fixture
def ledger(tmp_path, key) -> Ledger:
    return Ledger(tmp_path / "recordings", key, clock=lambda: T0)


def check(ledger: Ledger, key: PlatformKey, **kw):
    return verify_recording(LocalStore(ledger.root), LESSON, key.public, **kw)


def recorded(ledger: Ledger, n: int = 4) -> list[dict]:
    ledger.open_lesson(LESSON)
    return [close_segment(ledger, seq) for seq in range(1, n + 1)]


def test_closed_segments_form_a_signed_hash_chain(ledger, key):
    entries = recorded(ledger)
    m = ledger.manifest(LESSON)
    assert m["count"] == 4 and m["status"] == "recording" and m["head"] == entries[-1]["hash"]
    assert [e["seq"] for e in m["segments"]] == [1, 2, 3, 4]
    assert m["segments"][0]["prev_hash"] == m["genesis"]
    for prev, e in zip(m["segments"], m["segments"][1:]):
        assert e["prev_hash"] == prev["hash"] and e["hash"] == entry_hash(e)
    first = m["segments"][0]
    assert first["file"] == "seg-00001.mkv" and first["size"] == 4001 and len(first["sha256"]) == 64
    assert first["duration_s"] == 300.0 and first["tracks"][0]["source"] == "camera"
    assert check_document(m, key.public) is None
    v = check(ledger, key)
    assert v.ok and v.segments == 4 and v.first_bad is None, v.report()


def test_open_lesson_is_idempotent_and_finish_signs_again(ledger, key):
    ledger.open_lesson(LESSON)
    genesis = ledger.manifest(LESSON)["genesis"]
    ledger.open_lesson(LESSON)
    close_segment(ledger, 1)
    assert ledger.open_lesson(LESSON)["genesis"] == genesis
    done = ledger.finish(LESSON)
    assert done["status"] == "finished" and done["finished_at"]
    assert ledger.finish(LESSON)["status"] == "finished"  # idempotent
    with pytest.raises(LedgerError, match="finished"):
        close_segment(ledger, 2, hand_part=True)
    assert (ledger.lesson_dir(LESSON) / "seg-00002.mkv.part").exists()  # refused before anything moved
    assert check(ledger, key).ok  # a .part left after finish is a warning, not a failure
    assert any(w.kind == "leftover_part" for w in check(ledger, key).warnings)


def test_a_flipped_byte_names_that_segment(ledger, key):
    recorded(ledger)
    path = ledger.lesson_dir(LESSON) / "seg-00003.mkv"
    data = bytearray(path.read_bytes())
    data[1234] ^= 0x01
    path.write_bytes(bytes(data))
    v = check(ledger, key)
    assert not v.ok
    assert (v.first_bad.kind, v.first_bad.seq, v.first_bad.file) == ("segment_altered", 3, "seg-00003.mkv")
    assert "seq 3 (seg-00003.mkv)" in v.report()
    assert check(ledger, key, full=False).ok  # same size: only the full check hashes the media


def test_a_deleted_segment_is_named_missing(ledger, key):
    recorded(ledger)
    (ledger.lesson_dir(LESSON) / "seg-00002.mkv").unlink()
    (ledger.lesson_dir(LESSON) / "seg-00004.mkv").write_bytes(b"short")
    v = check(ledger, key)
    assert [(p.kind, p.seq) for p in v.problems] == [("segment_missing", 2), ("segment_altered", 4)]
    assert (v.first_bad.seq, v.first_bad.file) == (2, "seg-00002.mkv")


def test_an_edited_manifest_fails_its_signature(ledger, key):
    recorded(ledger)
    path = ledger.lesson_dir(LESSON) / "manifest.json"
    m = json.loads(path.read_bytes())
    m["status"] = "finished"  # nothing in the chain covers this field: only the signature
    path.write_bytes(canonical(m))
    v = check(ledger, key)
    assert [p.kind for p in v.problems] == ["signature_invalid"]
    with pytest.raises(LedgerError, match="fails its check"):
        ledger.open_lesson(LESSON)  # the ledger never signs over a tampered manifest


def test_a_segment_swapped_with_its_manifest_entry_breaks_the_chain(ledger, key):
    recorded(ledger)
    folder = ledger.lesson_dir(LESSON)
    (folder / "seg-00002.mkv").write_bytes(b"forged lecture" * 100)
    m = json.loads((folder / "manifest.json").read_bytes())
    e = m["segments"][1]
    e["size"], e["sha256"] = 1400, hashlib.sha256(b"forged lecture" * 100).hexdigest()
    (folder / "manifest.json").write_bytes(canonical(m))
    kinds = {(p.kind, p.seq) for p in check(ledger, key).problems}
    assert ("chain_broken", 2) in kinds and ("signature_invalid", None) in kinds


def test_a_manifest_re_signed_with_another_key_fails(ledger, key):
    recorded(ledger)
    forger = PlatformKey.generate()
    path = ledger.lesson_dir(LESSON) / "manifest.json"
    m = json.loads(path.read_bytes())
    path.write_bytes(canonical(forger.sign_document(m, at=T0.isoformat())))
    v = check(ledger, key)
    assert [p.kind for p in v.problems] == ["signature_invalid"] and "another key" in v.problems[0].detail
    assert verify_recording(LocalStore(ledger.root), LESSON, forger.public).ok  # it is only forger's


def test_a_truncated_manifest_is_reported(ledger, key):
    recorded(ledger)
    path = ledger.lesson_dir(LESSON) / "manifest.json"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    v = check(ledger, key)
    assert [p.kind for p in v.problems] == ["manifest_unreadable"]
    path.unlink()
    v = check(ledger, key)
    assert v.problems[0].kind == "manifest_missing"
    assert {p.seq for p in v.problems if p.kind == "segment_unlisted"} == {1, 2, 3, 4}


def test_an_older_signed_manifest_with_its_last_segments_removed_is_caught(ledger, key):
    """A rollback: the manifest after 2 segments is genuine, so only the database's count shows it."""
    ledger.open_lesson(LESSON)
    close_segment(ledger, 1)
    close_segment(ledger, 2)
    folder = ledger.lesson_dir(LESSON)
    old = (folder / "manifest.json").read_bytes()
    close_segment(ledger, 3)
    expected = {"segments": 3, "head_hash": ledger.manifest(LESSON)["head"]}
    (folder / "manifest.json").write_bytes(old)
    (folder / "seg-00003.mkv").unlink()
    assert check(ledger, key).ok  # the files alone are consistent…
    v = check(ledger, key, expected=expected)
    assert [p.kind for p in v.problems] == ["manifest_rolled_back"]  # …the registry is not


def test_an_inserted_segment_file_is_reported(ledger, key):
    recorded(ledger)
    (ledger.lesson_dir(LESSON) / "seg-00009.mkv").write_bytes(b"planted")
    v = check(ledger, key)
    assert [(p.kind, p.seq, p.file) for p in v.problems] == [("segment_unlisted", 9, "seg-00009.mkv")]


def test_a_repaired_part_is_renamed_and_listed(ledger, key):
    ledger.open_lesson(LESSON)
    close_segment(ledger, 1)
    entry = close_segment(ledger, 2, hand_part=True)
    folder = ledger.lesson_dir(LESSON)
    assert entry["file"] == "seg-00002.mkv" and (folder / "seg-00002.mkv").exists()
    assert not (folder / "seg-00002.mkv.part").exists()
    # the recorder's own repair path: meta with just seq and "recovered"
    (folder / "seg-00003.mkv").write_bytes(b"repaired" * 50)
    e3 = ledger.segment_closed(LESSON, folder / "seg-00003.mkv", {"seq": 3, "recovered": True})
    assert e3["extra"] == {"recovered": True} and e3["started_at"] is None
    assert check(ledger, key).ok


def test_handing_a_segment_twice_is_idempotent_and_other_content_refused(ledger):
    ledger.open_lesson(LESSON)
    first = close_segment(ledger, 1, b"a" * 100)
    path = ledger.lesson_dir(LESSON) / "seg-00001.mkv"
    assert ledger.segment_closed(LESSON, path, meta(1)) == first
    assert ledger.manifest(LESSON)["count"] == 1
    path.write_bytes(b"b" * 100)
    with pytest.raises(LedgerError, match="already listed"):
        ledger.segment_closed(LESSON, path, meta(1))
    with pytest.raises(LedgerError, match="does not match"):
        ledger.segment_closed(LESSON, ledger.lesson_dir(LESSON) / "seg-00002.mkv", meta(5))
    with pytest.raises(LedgerError, match="not a segment file"):
        ledger.segment_closed(LESSON, ledger.root / "elsewhere.mkv", meta(1))


def test_after_a_crash_a_closed_but_unlisted_segment_is_adopted_on_restart(tmp_path, key):
    """Killed between the rename and segment_closed; the restarted recorder opens the lesson again."""
    ledger = Ledger(tmp_path / "rec", key)
    ledger.open_lesson(LESSON)
    close_segment(ledger, 1)
    folder = ledger.lesson_dir(LESSON)
    (folder / "seg-00002.mkv").write_bytes(b"closed, never ledgered")
    (folder / "manifest.json.tmp").write_bytes(b'{"half a manif')  # a manifest write cut short
    (folder / "seg-00003.mkv.part").write_bytes(b"the open segment")
    restarted = Ledger(tmp_path / "rec", key)
    m = restarted.open_lesson(LESSON)
    assert [e["seq"] for e in m["segments"]] == [1, 2] and m["segments"][1]["extra"] == {"recovered": True}
    v = verify_recording(LocalStore(tmp_path / "rec"), LESSON, key.public)
    assert v.ok and [w.kind for w in v.warnings] == ["open_segment"], v.report()
    close_segment(restarted, 4)  # the recorder carries on numbering; 3 was lost with the crash
    v = verify_recording(LocalStore(tmp_path / "rec"), LESSON, key.public)
    assert v.ok and v.gaps == [3]


def test_the_platform_key_is_made_once_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("QIHANG_SIGNING_KEY", raising=False)
    monkeypatch.delenv("QIHANG_SIGNING_KEY_FILE", raising=False)
    ledger = Ledger(tmp_path / "rec", tmp_path)  # how the recorder process builds it: Ledger(root, data_dir)
    assert (tmp_path / "signing.key").stat().st_mode & 0o777 == 0o600
    assert key_for_data_dir(tmp_path).public == ledger.key.public
    assert (tmp_path / "signing.key").read_text().strip() not in repr(ledger.key)  # the seed never shows
    seed = os.urandom(32).hex()
    monkeypatch.setenv("QIHANG_SIGNING_KEY", seed)
    assert key_for_data_dir(tmp_path).public == PlatformKey(bytes.fromhex(seed)).public


def cli(args, data_dir: Path):
    env = dict(os.environ, QIHANG_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    for name in ("DATABASE_URL", "QIHANG_SIGNING_KEY", "QIHANG_SIGNING_KEY_FILE", "QIHANG_RECORDINGS_DIR"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "server.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_cli_verify_recording_exit_status_names_the_first_bad_segment(tmp_path):
    assert cli(["migrate"], tmp_path).returncode == 0
    ledger = Ledger(tmp_path / "recordings", tmp_path)
    ledger.open_lesson(LESSON)
    for seq in (1, 2, 3):
        close_segment(ledger, seq)
    ledger.finish(LESSON)
    ok = cli(["verify-recording", str(LESSON)], tmp_path)
    assert ok.returncode == 0 and "intact" in ok.stdout, ok.stdout + ok.stderr
    path = ledger.lesson_dir(LESSON) / "seg-00002.mkv"
    data = bytearray(path.read_bytes())
    data[7] ^= 0xFF
    path.write_bytes(bytes(data))
    bad = cli(["verify-recording", str(LESSON)], tmp_path)
    assert bad.returncode == 1 and "first bad: seq 2 (seg-00002.mkv)" in bad.stdout, bad.stdout + bad.stderr
    assert cli(["verify-recording", "999"], tmp_path).returncode == 2
    pub = cli(["public-key"], tmp_path)
    assert ledger.key.public.hex in pub.stdout
