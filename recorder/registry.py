"""The ``recordings`` table as the ledger keeps it (REC-1): one row per lesson recording.

The ledger (recorder/ledger.py) opens the row when a lesson's recording opens — which fixes its
``retain_until`` from the class's profile (recorder/retention.py) — and mirrors the manifest's
count, bytes, duration and head hash into it after each append and at finish. The row only moves
forward: fewer segments than it already records means the manifest was rolled back to an older
signed state, which the ledger refuses to extend and verification reports.

A recorder process without a database connection writes only the files; the app then keeps the
row from the signed manifest (:meth:`RecordingRegistry.sync_in`, run by the recording API and
``qihang verify-recording``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Mapping

from sqlalchemy.orm import Session

from models import Lesson, Recording, TrainingClass
from models.base import utcnow
from models.db import Database
from recorder.manifest import MANIFEST, chain_problems
from recorder.retention import add_years, retention_years
from recorder.signing import PublicKey, check_document


class UnknownLesson(LookupError):
    pass


@dataclass(frozen=True)
class Retention:
    years: int
    retain_until: datetime


class RecordingRegistry:
    """Methods open their own transaction; the ``*_in`` ones run in the caller's session."""

    def __init__(self, db: Database | None, profiles: Mapping, clock: Callable[[], datetime] = utcnow):
        self.db = db
        self.profiles = profiles
        self.clock = clock

    def open(self, lesson_id: int, *, opened_at: datetime, storage_kind: str, location: str,
             key_id: str) -> Retention:
        """The row for this lesson's recording, made on first call (idempotent)."""
        with self.db.session() as s:
            return self.open_in(s, lesson_id, opened_at=opened_at, storage_kind=storage_kind, location=location,
                                key_id=key_id)

    def open_in(self, s: Session, lesson_id: int, *, opened_at: datetime, storage_kind: str, location: str,
                key_id: str) -> Retention:
        rec = s.get(Recording, lesson_id)
        if rec is not None:
            return Retention(rec.retention_years, rec.retain_until)
        lesson = s.get(Lesson, lesson_id)
        if lesson is None:
            raise UnknownLesson(f"no lesson {lesson_id}")
        cls = s.get(TrainingClass, lesson.class_id)
        profile = self.profiles.get(cls.profile)
        years = retention_years(getattr(profile, "recording_retention_years", None))
        rec = Recording(lesson_id=lesson_id, class_id=cls.id, institution_id=cls.institution_id,
                        district_code=cls.district_code, profile=cls.profile, retention_years=years,
                        status="recording", storage_kind=storage_kind, storage_location=location,
                        opened_at=opened_at, retain_until=add_years(opened_at, years), segments=0, bytes=0,
                        duration_s=0.0, key_id=key_id)
        s.add(rec)
        s.flush()
        return Retention(years, rec.retain_until)

    def update(self, lesson_id: int, manifest: dict, *, finished_at: datetime | None = None) -> Retention | None:
        """Mirror the manifest's summary; at finish also push retain_until out to finished + years."""
        with self.db.session() as s:
            return self.update_in(s, lesson_id, manifest, finished_at=finished_at)

    def update_in(self, s: Session, lesson_id: int, manifest: dict, *,
                  finished_at: datetime | None = None) -> Retention | None:
        rec = s.get(Recording, lesson_id)
        if rec is None or rec.status == "deleted":
            return None
        if manifest["count"] >= rec.segments:
            rec.segments, rec.bytes = manifest["count"], manifest["total_bytes"]
            rec.duration_s, rec.head_hash = manifest["total_duration_s"], manifest["head"]
        if finished_at is not None:
            rec.status, rec.finished_at = "finished", rec.finished_at or finished_at
            rec.retain_until = max(rec.retain_until, add_years(finished_at, rec.retention_years))
        s.flush()
        return Retention(rec.retention_years, rec.retain_until)

    def sync_in(self, s: Session, lesson_id: int, store, trusted: PublicKey) -> bool:
        """Open or bring forward the row from the store's manifest, when the manifest is genuine (its
        signature by ``trusted`` and its chain check out). For a recorder that writes the files
        without a database: the app keeps the row from the signed manifest. True when synced."""
        raw = store.read(lesson_id, MANIFEST)
        try:
            m = json.loads(raw) if raw else None
        except ValueError:
            return False
        if not isinstance(m, dict) or m.get("lesson_id") != lesson_id or check_document(m, trusted) or chain_problems(m):
            return False
        rec = s.get(Recording, lesson_id)
        if rec is not None and rec.status == "deleted":
            return False
        self.open_in(s, lesson_id, opened_at=datetime.fromisoformat(m["opened_at"]), storage_kind=store.kind,
                     location=store.location, key_id=trusted.id)
        finished = datetime.fromisoformat(m["finished_at"]) if m.get("status") == "finished" else None
        self.update_in(s, lesson_id, m, finished_at=finished)
        return True

    def expected(self, lesson_id: int) -> dict | None:
        """What the row says the manifest holds (for verification): segments and head hash."""
        with self.db.session() as s:
            rec = s.get(Recording, lesson_id)
            if rec is None:
                return None
            return {"segments": rec.segments, "head_hash": rec.head_hash, "status": rec.status}

    def record_verification(self, lesson_id: int, summary: dict) -> None:
        with self.db.session() as s:
            rec = s.get(Recording, lesson_id)
            if rec is not None and rec.status != "deleted":
                rec.verified_at, rec.verification = self.clock(), summary
