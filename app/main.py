"""The process: builds the runtime (app.wiring), attaches routes and pages, runs NiceGUI.

Also what happens once per start: the seed import and the first administrator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal

import bcrypt
from nicegui import app as nicegui_app
from nicegui import background_tasks, core, ui

from app.api.routes import register_routes
from app.auth_guard import AuthGuard
from app.config import Settings, warn_about_proxy_trust
from app.data_lock import hold_data_dir
from app.graceful_stop import GracefulStop
from app.logs import configure_logging
from app.page_routes import register_pages
from app.threads import use_io_threads
from app.web_security import add_web_security
from app.wiring import Runtime, build_pages, build_runtime
from services.errors import ConfigError, WatcherError
from services.redaction import Redactor
from services.store.models import Role
from services.store.users import UserStore

log = logging.getLogger(__name__)
STATUS_INTERVAL = 10.0
CLEANUP_RETRY = 30.0  # pending clean-ups and lost hosts retried this often (NPM sends no event)
SOCKETS_GRACE = 3  # seconds open connections get once the server stops
AUDIT_PURGE_INTERVAL = 6 * 3600.0  # old audit rows purged at start-up, then this often
BCRYPT_MAX_BYTES = 72  # bcrypt ignores (and bcrypt 5 refuses) anything longer


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
            "reconciled: %d interrupted deploys cleaned up, %d stray containers removed, "
            "%d pending clean-ups finished",
            len(report.interrupted_deploys),
            len(report.removed_orphans),
            len(report.finished_cleanups),
        )
        await reconciler.run(stop)
        return


def create_app(runtime: Runtime) -> None:
    """Attach every route, page and lifecycle hook to NiceGUI's app."""
    # Sign-in everywhere but the login, the webhook and /healthz; on the page socket too.
    nicegui_app.add_middleware(AuthGuard, auth=runtime.auth)
    add_web_security(nicegui_app, runtime.settings)  # origin check, headers, proxy headers
    pages = build_pages(runtime)  # one live board for every open page
    pages.sessions.install(core.sio)
    register_routes(nicegui_app, runtime)
    register_pages(runtime.auth, pages)
    stop = asyncio.Event()
    graceful = GracefulStop(
        runtime.services.deployer, stop, nicegui_app.shutdown, runtime.settings.stop_timeout
    )

    async def on_startup() -> None:
        use_io_threads(asyncio.get_running_loop())
        graceful.install(asyncio.get_running_loop())
        background_tasks.create(runtime.status.run(STATUS_INTERVAL, stop), name="status")
        background_tasks.create(runtime.detection.poller.run(stop), name="poller")
        background_tasks.create(reconcile_then_follow(runtime, stop), name="reconciler")
        cleanup = runtime.services.cleanup.run(stop, CLEANUP_RETRY)
        background_tasks.create(cleanup, name="pending clean-ups")
        recheck = runtime.services.reconciler.recheck(stop, CLEANUP_RETRY)
        background_tasks.create(recheck, name="status recheck")
        background_tasks.create(pages.sessions.run(stop), name="page sessions")
        purge = runtime.audit_retention.run(stop, AUDIT_PURGE_INTERVAL)
        background_tasks.create(purge, name="audit retention")
        log.info(
            "Docker Watcher listening on http://%s:%s", runtime.settings.host, runtime.settings.port
        )

    async def on_shutdown() -> None:
        stop.set()
        await runtime.close(drain_seconds=runtime.settings.stop_timeout)
        log.info("Docker Watcher stopped")

    nicegui_app.on_startup(on_startup)
    nicegui_app.on_shutdown(on_shutdown)


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def run(settings: Settings) -> None:
    """Start the whole application and block until it stops.

    Once serving, SIGTERM belongs to app.graceful_stop (drain while still answering, then
    stop; exit code 0). Before that, a SIGTERM ends the start at once, also with exit code 0.
    """
    signal.signal(signal.SIGTERM, _exit_cleanly)
    redactor = Redactor()
    configure_logging(settings.log_level, redactor)
    warn_about_proxy_trust(settings)
    hold_data_dir(settings.data_dir)  # released by the kernel when the process ends
    runtime = build_runtime(settings, redactor=redactor)
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
        # Open page sockets never close on their own: after the deploys have drained, the
        # server waits this long for connections before closing them.
        timeout_graceful_shutdown=SOCKETS_GRACE,
    )


def first_launch(runtime: Runtime) -> None:
    """Import the seed file (first launch only) and make sure an administrator exists."""
    seed = runtime.settings.seed_path
    if runtime.stores.config.seed_on_first_launch(seed):
        log.info("imported seed file %s", seed)
    ensure_admin(runtime.stores.users, runtime.settings.admin_password, runtime.redactor)
    runtime.auth.restore()  # sign-outs and password changes from before the restart


def ensure_admin(users: UserStore, admin_password: str | None, redactor: Redactor) -> None:
    """Create the first admin from ADMIN_PASSWORD, or with a random password logged once."""
    if users.count() > 0:
        return
    password = admin_password or secrets.token_urlsafe(18)
    if len(password.encode()) > BCRYPT_MAX_BYTES:
        raise ConfigError(f"ADMIN_PASSWORD is too long: at most {BCRYPT_MAX_BYTES} bytes")
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
    users.create(username="admin", password_hash=hashed, role=Role.ADMIN)
    if admin_password:
        log.info("created the administrator 'admin' with the password from ADMIN_PASSWORD")
        return
    # Printed once on purpose: this is the only way the operator learns it. Not via the logger,
    # whose redaction would (rightly) mask it.
    print(
        f"Docker Watcher: created user 'admin' with generated password: {password}\n"
        "Change it after signing in, or set ADMIN_PASSWORD before the first start.",
        flush=True,
    )
    redactor.register(password)
