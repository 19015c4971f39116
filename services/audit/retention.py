"""Purging audit rows older than the retention setting, at start-up and then periodically.

The setting is read on every pass, so a change on the settings page applies at the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from services.errors import WatcherError
from services.store.audit import AuditStore
from services.store.models import utcnow
from services.store.settings_store import SettingsStore

log = logging.getLogger(__name__)


class AuditRetention:
    def __init__(
        self,
        audit: AuditStore,
        settings: SettingsStore,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._audit = audit
        self._settings = settings
        self._clock = clock

    def purge_now(self) -> int:
        """Delete the rows older than the retention period (blocking); returns how many."""
        days = self._settings.get_global().audit_retention_days
        gone = self._audit.purge_before(self._clock() - timedelta(days=days))
        if gone:
            log.info("purged %d audit rows older than %d days", gone, days)
        return gone

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Purge at once, then every `interval` seconds until `stop` is set (off the loop)."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.purge_now)
            except WatcherError as exc:  # the database itself failed: try again later
                log.warning("audit rows not purged: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
