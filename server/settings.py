"""Settings read once from the environment.

With nothing set the app runs embedded: SQLite and files under ``./data``, in-process state.
``DATABASE_URL`` / ``REDIS_URL`` switch to PostgreSQL / Redis for multi-node deployments.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path


def _int(env: dict, name: str, default: int) -> int:
    raw = env.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None = None
    secret_key: bytes = b""
    base_url: str = "http://127.0.0.1:8000"
    session_ttl_minutes: int = 12 * 60
    login_max_failures: int = 5
    login_failure_window_minutes: int = 15
    login_lock_minutes: int = 15
    max_json_bytes: int = 1 * 1024 * 1024
    max_upload_bytes: int = 20 * 1024 * 1024
    profiles_dir: Path | None = None
    bus_prefix: str = "qihang:"  # Redis channel prefix: keeps deployments sharing a Redis apart
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()  # the deployment's own coturn, e.g. turn:turn.example:3478?transport=udp
    turn_secret: str | None = None  # coturn static-auth-secret (TURN REST credentials)
    turn_ttl_seconds: int = 6 * 3600
    face_attendance: bool = True  # ATT-1: sample and check students' cameras in live rooms
    # Webhook deliveries and the ATT-9 morning summaries run in every app process (QIHANG_BACKGROUND_JOBS=0: none
    # here, e.g. API-only nodes or tests that drive them by hand)
    background_jobs: bool = True
    face_sample_seconds: tuple[float, float] = (20.0, 40.0)  # random interval between a student's samples
    # ATT-1 liveness: a challenge when a student's camera first shows up in a lesson (sign-in),
    # then at random intervals in this range; None: only at sign-in and when staff ask.
    liveness_seconds: tuple[float, float] | None = (900.0, 1800.0)
    liveness: bool = True  # off: face matching only (QIHANG_LIVENESS=0)
    recording: bool = True  # REC-1: every live lesson is recorded (QIHANG_RECORDING=0 turns it off)
    recording_segment_seconds: float = 300.0  # REC-1: segments of 5 minutes (QIHANG_RECORDING_SEGMENT_SECONDS)
    offline_radius_m: int = 200  # ATT-6: an offline venue's sign-in radius when the plan gives none (20–5000)
    # ATT-5 recorded study (server/study/): a course video's upload limit, the phone page's heartbeat,
    # the play time between human-machine prompts (random in the range), the time to answer one, and
    # the share of prompts that also take a camera snapshot for a face check
    max_video_bytes: int = 1024 * 1024 * 1024
    study_heartbeat_seconds: float = 10.0
    study_prompt_seconds: tuple[float, float] = (300.0, 900.0)
    study_prompt_window_seconds: float = 60.0
    study_face_share: float = 0.5
    # Recordings (REC-1, recorder/): the storage root (default <data_dir>/recordings), the platform's
    # Ed25519 signing key seed (else <data_dir>/signing.key, made on first use: recorder/signing.py),
    # and an S3-compatible object store with Object Lock, used when a bucket is set (recorder/storage.py)
    recordings_dir: Path | None = None
    signing_key: bytes = field(default=b"", repr=False)
    s3_url: str | None = None  # endpoint, e.g. https://minio.example:9000; unset: the AWS default
    s3_bucket: str | None = None
    s3_access_key: str | None = field(default=None, repr=False)
    s3_secret_key: str | None = field(default=None, repr=False)
    s3_region: str = "us-east-1"
    s3_prefix: str = "qihang/"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def recordings_root(self) -> Path:
        return self.recordings_dir or self.data_dir / "recordings"

    @property
    def recording_storage(self) -> str:
        return "s3" if self.s3_bucket else "local"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: dict | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("QIHANG_DATA_DIR") or "data").resolve()
        database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'qihang.db'}"
        if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
            # SQLAlchemy's default PostgreSQL driver is psycopg2; we ship psycopg 3.
            database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
        profiles_dir = env.get("QIHANG_PROFILES_DIR")
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            redis_url=env.get("REDIS_URL") or None,
            secret_key=_load_secret(env, data_dir),
            base_url=(env.get("QIHANG_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
            session_ttl_minutes=_int(env, "QIHANG_SESSION_TTL_MINUTES", 12 * 60),
            login_max_failures=_int(env, "QIHANG_LOGIN_MAX_FAILURES", 5),
            login_lock_minutes=_int(env, "QIHANG_LOGIN_LOCK_MINUTES", 15),
            profiles_dir=Path(profiles_dir) if profiles_dir else None,
            bus_prefix=env.get("QIHANG_BUS_PREFIX") or "qihang:",
            stun_urls=_list(env.get("QIHANG_STUN_URLS")),
            turn_urls=_list(env.get("QIHANG_TURN_URLS")),
            turn_secret=env.get("QIHANG_TURN_SECRET") or _read(env.get("QIHANG_TURN_SECRET_FILE")),
            turn_ttl_seconds=_int(env, "QIHANG_TURN_TTL_SECONDS", 6 * 3600),
            face_attendance=(env.get("QIHANG_FACE_ATTENDANCE") or "1") not in ("0", "false", "no", "off"),
            background_jobs=(env.get("QIHANG_BACKGROUND_JOBS") or "1") not in ("0", "false", "no", "off"),
            face_sample_seconds=_range(env.get("QIHANG_FACE_SAMPLE_SECONDS"), (20.0, 40.0)),
            liveness=(env.get("QIHANG_LIVENESS") or "1") not in ("0", "false", "no", "off"),
            recording=(env.get("QIHANG_RECORDING") or "1") not in ("0", "false", "no", "off"),
            recording_segment_seconds=float(env.get("QIHANG_RECORDING_SEGMENT_SECONDS") or 300),
            liveness_seconds=(None if (env.get("QIHANG_LIVENESS_SECONDS") or "").lower() in ("0", "off", "no")
                              else _range(env.get("QIHANG_LIVENESS_SECONDS"), (900.0, 1800.0), "QIHANG_LIVENESS_SECONDS")),
            offline_radius_m=_radius(_int(env, "QIHANG_OFFLINE_RADIUS_M", 200)),
            max_video_bytes=_int(env, "QIHANG_MAX_VIDEO_MB", 1024) * 1024 * 1024,
            study_heartbeat_seconds=float(env.get("QIHANG_STUDY_HEARTBEAT_SECONDS") or 10),
            study_prompt_seconds=_range(env.get("QIHANG_STUDY_PROMPT_SECONDS"), (300.0, 900.0),
                                        name="QIHANG_STUDY_PROMPT_SECONDS"),
            study_prompt_window_seconds=float(env.get("QIHANG_STUDY_PROMPT_WINDOW_SECONDS") or 60),
            study_face_share=_share(env.get("QIHANG_STUDY_FACE_SHARE"), 0.5),
            recordings_dir=Path(env["QIHANG_RECORDINGS_DIR"]).resolve() if env.get("QIHANG_RECORDINGS_DIR") else None,
            signing_key=bytes.fromhex(env.get("QIHANG_SIGNING_KEY") or _read(env.get("QIHANG_SIGNING_KEY_FILE")) or ""),
            s3_url=env.get("QIHANG_S3_URL") or None,
            s3_bucket=env.get("QIHANG_S3_BUCKET") or None,
            s3_access_key=env.get("QIHANG_S3_ACCESS_KEY") or None,
            s3_secret_key=env.get("QIHANG_S3_SECRET_KEY") or _read(env.get("QIHANG_S3_SECRET_KEY_FILE")),
            s3_region=env.get("QIHANG_S3_REGION") or "us-east-1",
            s3_prefix=env.get("QIHANG_S3_PREFIX") or "qihang/",
        )


def _range(raw: str | None, default: tuple[float, float],
           name: str = "QIHANG_FACE_SAMPLE_SECONDS") -> tuple[float, float]:
    """"20-40" → (20.0, 40.0); a single number is a fixed interval."""
    if not raw:
        return default
    lo, _, hi = raw.partition("-")
    lo_f, hi_f = float(lo), float(hi or lo)
    if not 0 < lo_f <= hi_f:
        raise ValueError(f"{name} must look like 20-40 (seconds), not {raw!r}")
    return lo_f, hi_f


def _share(raw: str | None, default: float) -> float:
    value = float(raw) if raw not in (None, "") else default
    if not 0 <= value <= 1:
        raise ValueError(f"QIHANG_STUDY_FACE_SHARE must lie in 0–1, not {raw!r}")
    return value


def _radius(metres: int) -> int:
    if not 20 <= metres <= 5000:  # the same bounds the schedule API puts on a venue (ATT-6)
        raise ValueError(f"QIHANG_OFFLINE_RADIUS_M must be 20–5000 metres, not {metres}")
    return metres


def _list(raw: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


def _read(path: str | None) -> str | None:
    return Path(path).read_text().strip() if path else None


def _load_secret(env: dict, data_dir: Path) -> bytes:
    """The master key encrypts ID numbers at rest (PLAT-3): from the env, else a key file made once."""
    raw = env.get("QIHANG_SECRET_KEY")
    if not raw and env.get("QIHANG_SECRET_KEY_FILE"):
        raw = Path(env["QIHANG_SECRET_KEY_FILE"]).read_text().strip()
    if raw:
        return bytes.fromhex(raw) if _is_hex(raw) else raw.encode()
    path = data_dir / "secret.key"
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
    return key


def _is_hex(raw: str) -> bool:
    try:
        bytes.fromhex(raw)
        return len(raw) >= 64
    except ValueError:
        return False
