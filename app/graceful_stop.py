"""SIGTERM: finish what is running, then stop.

Uvicorn on its own stops serving at once on SIGTERM and only then lets the app drain, so a CI
pushing during a restart would meet a closed port, and the drain of a deploy could not be told
apart from a crash. Here the first SIGTERM starts a drain while the server still answers:

1. the deployer accepts no new deploy (the webhook answers 503 with Retry-After), the poller
   and the other background loops stop;
2. running deploys finish (healthy and routed, or rolled back), up to `timeout` seconds; those
   still running then, or at a second SIGTERM, are stopped and undone like a failure;
3. then the server is told to exit; its shutdown closes the database, and the exit code is 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from types import FrameType

from nicegui import background_tasks

from services.deploy.deployer import Deployer

log = logging.getLogger(__name__)


class GracefulStop:
    """Owns SIGTERM for the running server (installed once the event loop runs)."""

    def __init__(
        self,
        deployer: Deployer,
        stop: asyncio.Event,
        exit_server: Callable[[], None],
        timeout: float,
    ) -> None:
        self._deployer = deployer
        self._stop = stop  # the background loops' stop signal
        self._exit_server = exit_server
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Take SIGTERM over from the server (which installed its own handler at start)."""
        self._loop = loop
        signal.signal(signal.SIGTERM, self._on_signal)

    @property
    def draining(self) -> bool:
        return self._draining

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._signalled)

    def _signalled(self) -> None:
        if not self._draining:
            self._draining = True
            background_tasks.create(self._drain(), name="graceful stop")
            return
        log.warning("second SIGTERM: stopping the running deploys now (each is undone)")
        background_tasks.create(self._deployer.abort(), name="stop running deploys")

    async def _drain(self) -> None:
        self._deployer.stop_accepting()
        self._stop.set()
        running = self._deployer.running
        if running:
            log.info(
                "SIGTERM: no new deploys; waiting up to %.0f s for %d running deploy(s) "
                "(send SIGTERM again to stop and undo them now)",
                self._timeout,
                running,
            )
        try:
            await self._deployer.shutdown(self._timeout)
        finally:
            log.info("running deploys done; stopping the server")
            self._exit_server()
