"""The app's own service graph (`app.wiring`) over a temporary data directory, for tests.

Every fixture that needs services builds them here, through the same `build_runtime` the process
calls; only the peers a test may swap differ (bcrypt at its minimum cost, a proxy source, poller
options), and they go in as `build_runtime`'s keyword parameters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from app.config import Settings
from app.wiring import ImagesPeer, Runtime, build_runtime
from services.auth.sessions import PasswordHasher
from services.detect.poll_status import PollerOptions
from services.notify.notifier import channels_from_urls
from services.npm.proxy import ProxySource
from services.redaction import Redactor
from services.secrets import generate_key_hex
from services.store.models import Role, User
from tests.support.auth_fakes import ADMIN_PASSWORD, CHEAP_ROUNDS


def settings_for(data_dir: Path, **env: str) -> Settings:
    """Process settings over `data_dir` with a fresh key; `env` as the variables would be set."""
    environ = {"DW_DATA_DIR": str(data_dir), "ENCRYPTION_KEY": generate_key_hex(), **env}
    return Settings.model_validate(environ)


def open_runtime(
    settings: Settings,
    *,
    redactor: Redactor | None = None,
    proxies: ProxySource | None = None,
    poller: PollerOptions | None = None,
    images: ImagesPeer | None = None,
) -> Runtime:
    """The app's graph; password hashes at bcrypt's minimum cost (same code path)."""
    return build_runtime(
        settings,
        redactor=redactor,
        proxies=proxies,
        poller=poller,
        hasher=PasswordHasher(rounds=CHEAP_ROUNDS),
        images=images,
    )


@asynccontextmanager
async def running(data_dir: Path, **env: str) -> AsyncIterator[Runtime]:
    """A runtime for the block; deploys drained and everything closed after."""
    runtime = open_runtime(settings_for(data_dir, **env))
    try:
        yield runtime
    finally:
        await runtime.close(drain_seconds=30, notify_grace=1)


def add_admin(runtime: Runtime, password: str = ADMIN_PASSWORD) -> User:
    """The administrator `admin` with `password` (the process creates it at first launch)."""
    hashed = PasswordHasher(rounds=CHEAP_ROUNDS).hash(password)
    return runtime.stores.users.create(username="admin", password_hash=hashed, role=Role.ADMIN)


def notify_to(runtime: Runtime, urls: list[str]) -> None:
    """Store notification URLs and send to them from now on, as saving the settings does."""
    runtime.stores.settings.update_global(notification_urls=urls)
    clients = runtime.clients
    clients.notifier.replace_channels(channels_from_urls(urls=urls, client=clients.http))
