"""A background job that runs one round, sleeps, and runs again, owned by the app's lifespan.

The daily summaries (ATT-9), the webhook dispatcher and the report generator (ATT-2) each poll the
database on their own schedule; this class holds what they share — one task per instance (no global
state), ``start`` / ``close`` for the lifespan, and a failed round (the database briefly away) logged
and retried on the next tick instead of ending the loop.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("qihang.periodic")


class PeriodicJob:
    """Subclasses set ``name`` and ``every`` (seconds) and implement :meth:`run_once`."""

    name = "periodic-job"
    every: float = 60.0

    _task: asyncio.Task | None = None

    async def run_once(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def next_delay(self, result: Any) -> float:
        """Seconds to sleep after a round that returned ``result`` (``None`` after a failed round)."""
        return self.every

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _loop(self) -> None:
        while True:
            try:
                result = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - retried on the next tick
                log.exception("%s: round failed", self.name)
                result = None
            await asyncio.sleep(self.next_delay(result))
