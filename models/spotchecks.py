"""Supervisors' spot checks of live-lesson video (SUP-5, SUP-6): a draw and the lessons it picked.

A batch is one draw for a region and a period: HR draws at random at least the profile's
``supervisor_spot_check_share`` (default 10 %) of the live class-hours held there with a recording,
weighted by class-hours (server/domain/spotdraw.py). The batch keeps everything needed to redo the
draw and check it — the seed, the algorithm, the population it drew from (lesson id and class-hours,
in id order) and that list's hash — so nobody has to trust the result, only re-run it.

An item is one drawn lesson: who must watch it, what they watched (second ranges reported by the
replay page), and the verdict. Migration 0009 guards both at the database, like the audit log: a
batch never changes and is never deleted; an item is never deleted, never moved to another batch or
lesson, and once its verdict is recorded it never changes again.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

ITEM_STATUSES = ("pending", "watching", "done")
VERDICTS = ("ok", "problem")


class SpotCheckBatch(Base):
    __tablename__ = "spot_check_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    region_level: Mapped[str] = mapped_column(String(16))  # district / city / province
    region_code: Mapped[str] = mapped_column(String(6))
    scope_prefix: Mapped[str] = mapped_column(String(6), index=True)  # server/auth/scope.region_prefix
    period_from: Mapped[date] = mapped_column()  # China dates, inclusive: lessons starting on these days
    period_to: Mapped[date] = mapped_column()
    required_share: Mapped[float] = mapped_column(Float)  # the rule: highest profile share in the population
    share: Mapped[float] = mapped_column(Float)  # drawn for (≥ required_share)
    algorithm: Mapped[str] = mapped_column(String(40))
    seed: Mapped[str] = mapped_column(String(64))
    population: Mapped[list] = mapped_column(JSON)  # [[lesson_id, class_hours], ...] by lesson id
    population_hash: Mapped[str] = mapped_column(String(64))
    population_lessons: Mapped[int] = mapped_column()
    population_class_hours: Mapped[int] = mapped_column()
    target_class_hours: Mapped[int] = mapped_column()  # ceil(share × population class-hours)
    drawn_lessons: Mapped[int] = mapped_column()
    drawn_class_hours: Mapped[int] = mapped_column()
    drawn_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    drawn_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class SpotCheckItem(Base):
    __tablename__ = "spot_check_items"
    __table_args__ = (UniqueConstraint("batch_id", "lesson_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("spot_check_batches.id"), index=True)
    rank: Mapped[int] = mapped_column()  # 1 = drawn first
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    institution_id: Mapped[int] = mapped_column()
    district_code: Mapped[str] = mapped_column(String(6), index=True)
    class_hours: Mapped[int] = mapped_column()
    media_seconds: Mapped[float] = mapped_column(Float)  # what there is to watch (recording length at the draw)
    assignee_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    assigned_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    watched_ranges: Mapped[list] = mapped_column(JSON, default=list)  # merged [[from_s, to_s], ...]
    watched_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # unique seconds watched
    last_watched_at: Mapped[datetime | None] = mapped_column()
    verdict: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
