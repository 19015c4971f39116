"""The one composition root: builds the runtime, registers routes and pages, runs NiceGUI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from nicegui import app as nicegui_app
from nicegui import background_tasks, core, ui

from app.api.routes import register_routes
from app.auth_guard import AuthGuard
from app.config import Settings, warn_about_proxy_trust
from app.page_routes import register_pages
from app.page_sessions import PageSessions
from app.runtime import Runtime, build_runtime, first_launch, setup_logging
from app.web_security import add_web_security
from services.errors import WatcherError
from services.redaction import Redactor

log = logging.getLogger(__name__)
STATUS_INTERVAL = 10.0
DEPLOY_DRAIN_TIMEOUT = 120.0  # SIGTERM: running deploys get this long to finish


async def reconcile_then_follow(runtime: Runtime, stop: asyncio.Event) -> None:
    """Clean up after an interrupted run, then keep statuses current from engine events.

    With the engine down at start-up this logs and retries, so the app keeps serving its UI.
    """
    reconciler = runtime.services.reconciler
    while not stop.is_set():
        try:
            report = await reconciler.reconcile_startup()
        except WatcherError as exc:
            log.warning("reconciliation postponed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATUS_INTERVAL)
            continue
        log.info(
            "reconciled: %d interrupted deploys cleaned up, %d stray containers removed",
            len(report.interrupted_deploys),
            len(report.removed_orphans),
        )
        await reconciler.run(stop)
        return


def create_app(runtime: Runtime) -> None:
    """Attach every route, page and lifecycle hook to NiceGUI's app."""
    # Sign-in everywhere but the login, the webhook and /healthz; on the page socket too.
    nicegui_app.add_middleware(AuthGuard, auth=runtime.auth)
    add_web_security(nicegui_app, runtime.settings)  # origin check, headers, proxy headers
    page_sessions = PageSessions(runtime.auth)
    page_sessions.install(core.sio)
    register_routes(nicegui_app, runtime)
    register_pages(runtime, page_sessions)
    stop = asyncio.Event()

    async def on_startup() -> None:
        background_tasks.create(runtime.status.run(STATUS_INTERVAL, stop), name="status")
        background_tasks.create(runtime.detection.poller.run(stop), name="poller")
        background_tasks.create(reconcile_then_follow(runtime, stop), name="reconciler")
        background_tasks.create(page_sessions.run(stop), name="page sessions")
        log.info(
            "Docker Watcher listening on http://%s:%s", runtime.settings.host, runtime.settings.port
        )

    async def on_shutdown() -> None:
        stop.set()
        await runtime.detection.stop(None)  # webhook auto-creations finish queuing
        await runtime.services.deployer.shutdown(DEPLOY_DRAIN_TIMEOUT)
        await runtime.aclose()
        log.info("Docker Watcher stopped")

    nicegui_app.on_startup(on_startup)
    nicegui_app.on_shutdown(on_shutdown)


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def run(settings: Settings) -> None:
    """Start the whole application and block until it stops.

    Uvicorn handles SIGTERM itself (graceful shutdown, which drains deploys) and afterwards
    re-raises it to the handler that was installed before; ours turns that into exit code 0.
    """
    signal.signal(signal.SIGTERM, _exit_cleanly)
    redactor = Redactor()
    setup_logging(settings, redactor)
    warn_about_proxy_trust(settings)
    runtime = build_runtime(settings, redactor)
    first_launch(runtime)
    create_app(runtime)
    ui.run(
        host=settings.host,
        port=settings.port,
        title="Docker Watcher",
        reload=False,
        show=False,
        storage_secret=runtime.session_secret,
        show_welcome_message=False,
        uvicorn_logging_level=settings.log_level,
        log_config=None,
        proxy_headers=False,  # read once, by app.forwarded.ForwardedHeaders
    )
