"""Training institutions (定点培训机构): approval status and blacklist (SUP-7, REG-5)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

INSTITUTION_STATUSES = ("pending", "approved", "suspended")


class Institution(Base):
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Short code used in registration links (/register?inst=CODE).
    code: Mapped[str] = mapped_column(String(32), unique=True)
    credit_code: Mapped[str | None] = mapped_column(String(18))  # 统一社会信用代码
    region_code: Mapped[str] = mapped_column(String(6), index=True)  # district (区县) code, GB/T 2260
    profile: Mapped[str] = mapped_column(String(32))  # default policy profile for its classes
    status: Mapped[str] = mapped_column(String(16), default="pending")
    blacklisted: Mapped[bool] = mapped_column(default=False)
    blacklist_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def may_run_classes(self) -> bool:
        return self.status == "approved" and not self.blacklisted
