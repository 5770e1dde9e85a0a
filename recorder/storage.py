"""Where recordings are kept (REC-1): a local directory by default, an S3-compatible store when configured.

The recorder always writes a lesson's segments into ``<root>/<lesson_id>/`` on local disk (the
working copy; ``root`` is ``QIHANG_RECORDINGS_DIR`` or ``<data_dir>/recordings``). With
``QIHANG_S3_BUCKET`` set, the ledger also puts every closed segment and every signed manifest into
the bucket under ``<prefix>recordings/<lesson_id>/`` with **Object Lock in COMPLIANCE mode** and a
retain-until date (``x-amz-object-lock-mode`` / ``x-amz-object-lock-retain-until-date``): the store
itself then refuses to delete or overwrite those object versions before the date — for every
account, the bucket's owner included. The bucket must be created with Object Lock enabled (that
implies versioning); a store without Object Lock support still gets the copies, without the headers,
and a warning is logged once. Backups (recorder/backup.py) can be put there the same way.

Both stores answer the same read questions, so verification (recorder/verify.py) reads whichever
copy is the recording's durable one. boto3 is optional (``pip install 'qihang[s3]'``).
"""
from __future__ import annotations

import logging
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

log = logging.getLogger("qihang.recorder.storage")
CHUNK = 1024 * 1024


class StorageError(RuntimeError):
    pass


class LocalStore:
    """A directory per lesson under ``root``."""

    kind = "local"

    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def location(self) -> str:
        return str(self.root)

    def lesson_dir(self, lesson_id: int) -> Path:
        return self.root / str(int(lesson_id))

    def list_files(self, lesson_id: int) -> dict[str, int]:
        d = self.lesson_dir(lesson_id)
        if not d.is_dir():
            return {}
        return {p.name: p.stat().st_size for p in d.iterdir() if p.is_file()}

    def read(self, lesson_id: int, name: str) -> bytes | None:
        p = self.lesson_dir(lesson_id) / name
        return p.read_bytes() if p.is_file() else None

    def chunks(self, lesson_id: int, name: str) -> Iterator[bytes]:
        with open(self.lesson_dir(lesson_id) / name, "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    def put_file(self, lesson_id: int, name: str, path: Path, retain_until: datetime) -> None:
        """Segments are written in place by the recorder: nothing to copy."""

    def put_bytes(self, lesson_id: int, name: str, data: bytes, retain_until: datetime) -> None:
        """The ledger writes the manifest in place: nothing to copy."""

    def delete_lesson(self, lesson_id: int) -> None:
        if self.lesson_dir(lesson_id).exists():
            shutil.rmtree(self.lesson_dir(lesson_id))


class S3Store:
    """An S3-compatible bucket with Object Lock (COMPLIANCE) retention on every object version."""

    kind = "s3"

    def __init__(self, client, bucket: str, prefix: str = "qihang/", local: LocalStore | None = None):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.local = local  # the recorder's working copy, removed with the recording
        self._lock_supported: bool | None = None

    @classmethod
    def from_settings(cls, settings) -> "S3Store":
        try:
            import boto3
            from botocore.config import Config
        except ImportError:  # pragma: no cover - depends on the install
            raise StorageError("QIHANG_S3_BUCKET is set but boto3 is not installed: pip install 'qihang[s3]'") from None
        client = boto3.client(
            "s3", endpoint_url=settings.s3_url or None, region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key, aws_secret_access_key=settings.s3_secret_key,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}))
        return cls(client, settings.s3_bucket, settings.s3_prefix, LocalStore(settings.recordings_root))

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, lesson_id: int, name: str) -> str:
        return f"{self.prefix}recordings/{int(lesson_id)}/{name}"

    def object_lock(self) -> bool:
        """Whether the bucket has Object Lock enabled (asked once)."""
        if self._lock_supported is None:
            try:
                conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
                self._lock_supported = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
            except Exception as exc:  # not configured, or a store without the API
                log.debug("object lock configuration: %s", exc)
                self._lock_supported = False
            if not self._lock_supported:
                log.warning("bucket %s has no Object Lock: recordings are copied without store-side retention "
                            "(REC-1 then rests on the application and the database guard alone)", self.bucket)
        return self._lock_supported

    def _lock_args(self, retain_until: datetime) -> dict:
        if not self.object_lock():
            return {}
        return {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": retain_until}

    def list_files(self, lesson_id: int) -> dict[str, int]:
        out: dict[str, int] = {}
        base = self.key(lesson_id, "")
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base):
            for obj in page.get("Contents", []):
                out[obj["Key"][len(base):]] = obj["Size"]
        return out

    def read(self, lesson_id: int, name: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(lesson_id, name))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def chunks(self, lesson_id: int, name: str) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=self.key(lesson_id, name))["Body"]
        yield from body.iter_chunks(CHUNK)

    def put_file(self, lesson_id: int, name: str, path: Path, retain_until: datetime) -> None:
        self.put_path(self.key(lesson_id, name), path, retain_until)

    def put_path(self, key: str, path: Path, retain_until: datetime) -> None:
        self.client.upload_file(str(path), self.bucket, key, ExtraArgs=self._lock_args(retain_until))

    def put_bytes(self, lesson_id: int, name: str, data: bytes, retain_until: datetime) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.key(lesson_id, name), Body=data,
                               ContentType="application/json", **self._lock_args(retain_until))

    def delete_lesson(self, lesson_id: int) -> None:
        """Every version of every object of the lesson. Nothing is deleted while any version is still
        locked (all or nothing: a refusal must not leave half a recording); the store refuses too."""
        base = self.key(lesson_id, "")
        doomed: list[dict] = []
        for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=base):
            doomed += [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", [])]
            doomed += [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("DeleteMarkers", [])]
        now = datetime.now(timezone.utc)  # the store's clock decides its locks
        locked = []
        for obj in doomed:
            try:
                head = self.client.head_object(Bucket=self.bucket, **obj)
            except Exception:  # a delete marker has no head
                continue
            until = head.get("ObjectLockRetainUntilDate")
            if head.get("ObjectLockMode") and until and until > now:
                locked.append(f"{obj['Key']} until {until.isoformat()}")
        if locked:
            raise StorageError(f"the store refused: {len(locked)} object version(s) locked, e.g. {locked[0]}")
        errors: list[str] = []
        for i in range(0, len(doomed), 1000):
            res = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": doomed[i:i + 1000], "Quiet": True})
            errors += [f"{e.get('Key')}: {e.get('Code')}" for e in res.get("Errors", [])]
        if errors:
            raise StorageError(f"the store refused to delete {len(errors)} object(s): {', '.join(errors[:5])}")
        if self.local is not None:
            self.local.delete_lesson(lesson_id)


def open_store(settings) -> LocalStore | S3Store:
    """The store recordings of this deployment go to (Settings.recording_storage)."""
    if settings.recording_storage == "s3":
        return S3Store.from_settings(settings)
    return LocalStore(settings.recordings_root)
