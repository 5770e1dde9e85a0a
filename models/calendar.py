"""Working-day overrides a platform admin enters for years the calendar package does not know yet (CLS-1)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class CalendarOverride(Base):
    __tablename__ = "calendar_overrides"

    day: Mapped[date] = mapped_column(primary_key=True)
    is_workday: Mapped[bool] = mapped_column()
    note: Mapped[str] = mapped_column(String(100), default="")
