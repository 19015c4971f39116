"""What the whole process knows about its own health: database and Docker Engine reachability.

One background loop refreshes it for every open page and for /healthz, so no page polls Docker.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.errors import WatcherError
from services.store.models import utcnow

log = logging.getLogger(__name__)


class _Pingable(Protocol):
    async def ping(self) -> str: ...


class _Database(Protocol):
    def ping(self) -> None: ...


@dataclass
class Check:
    ok: bool = False
    detail: str = "not checked yet"
    checked_at: datetime | None = None


class SystemStatus:
    """Reachability of the database and the Docker Engine, refreshed on demand or in a loop."""

    def __init__(self, engine: _Pingable, db: _Database, *, ping_timeout: float = 5.0) -> None:
        self._engine = engine
        self._db = db
        self._timeout = ping_timeout
        self.database = Check()
        self.docker = Check()

    async def refresh(self) -> None:
        self.database = await self._check_database()
        self.docker = await self._check_docker()

    async def _check_database(self) -> Check:
        try:
            await asyncio.to_thread(self._db.ping)
        except Exception as exc:  # any driver error means "not usable"; reported, not raised
            return Check(False, f"database error: {exc}", utcnow())
        return Check(True, "ok", utcnow())

    async def _check_docker(self) -> Check:
        try:
            version = await asyncio.wait_for(self._engine.ping(), self._timeout)
        except TimeoutError:
            return Check(False, "Docker Engine did not answer in time", utcnow())
        except WatcherError as exc:
            return Check(False, str(exc), utcnow())
        return Check(True, f"Docker Engine {version}", utcnow())

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Refresh every `interval` seconds until `stop` is set; logs changes of state."""
        while not stop.is_set():
            was_ok = self.docker.ok
            await self.refresh()
            if was_ok != self.docker.ok:
                log.log(
                    logging.INFO if self.docker.ok else logging.WARNING,
                    "docker: %s",
                    self.docker.detail,
                )
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                continue
