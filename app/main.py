"""The one composition root: builds the runtime, registers routes and pages, runs NiceGUI."""

from __future__ import annotations

import asyncio
import logging

from nicegui import app as nicegui_app
from nicegui import background_tasks, ui

from app.api import config_routes, health
from app.config import Settings
from app.runtime import Runtime, build_runtime, first_launch, setup_logging
from pages import dashboard
from services.redaction import Redactor

log = logging.getLogger(__name__)
STATUS_INTERVAL = 10.0


def create_app(runtime: Runtime) -> None:
    """Attach every route, page and lifecycle hook to NiceGUI's app."""
    health.register(nicegui_app, runtime.status)
    config_routes.register(nicegui_app, runtime.stores.config)
    dashboard.register(runtime.status)
    stop = asyncio.Event()

    async def on_startup() -> None:
        background_tasks.create(runtime.status.run(STATUS_INTERVAL, stop), name="status")
        log.info(
            "Docker Watcher listening on http://%s:%s", runtime.settings.host, runtime.settings.port
        )

    async def on_shutdown() -> None:
        stop.set()
        await runtime.engine.close()
        runtime.db.close()
        log.info("Docker Watcher stopped")

    nicegui_app.on_startup(on_startup)
    nicegui_app.on_shutdown(on_shutdown)


def run(settings: Settings) -> None:
    """Start the whole application and block until it stops."""
    redactor = Redactor()
    setup_logging(settings, redactor)
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
    )
