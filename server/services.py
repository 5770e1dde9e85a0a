"""What every request needs, built once per app (no module-level globals)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from models.db import Database
from server.files import FileStore
from server.identity.faceenrolment import FaceEnrolment
from server.identity.fieldcrypto import FieldCipher
from server.policy.profiles import PolicyProfile, load_profiles
from server.settings import Settings

CHINA_TZ = ZoneInfo("Asia/Shanghai")


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Services:
    settings: Settings
    db: Database
    cipher: FieldCipher
    files: FileStore
    profiles: dict[str, PolicyProfile]
    faces: FaceEnrolment
    clock: Callable[[], datetime] = field(default=system_clock)

    @classmethod
    def build(cls, settings: Settings, db: Database | None = None) -> "Services":
        cipher = FieldCipher(settings.secret_key)
        return cls(
            settings=settings,
            db=db or Database(settings.database_url),
            cipher=cipher,
            files=FileStore(settings.uploads_dir, cipher),
            profiles=load_profiles(settings.profiles_dir),
            faces=FaceEnrolment(cipher),
        )

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        """Dates in rules (working days, training year) are China's calendar dates."""
        return self.clock().astimezone(CHINA_TZ).date()
