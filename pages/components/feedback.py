"""One service call per user action, with its progress shown and its failure in plain words.

The error box itself is the configuration pages' `ErrorBanner` (one look across the app); this
adds the wrapper the dashboard, project and quick deploy pages use around every action.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

from nicegui import ui

from pages.components.config_widgets import ErrorBanner, FieldErrors, busy
from services.errors import ValidationFailed, WatcherError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Attempt(Generic[T]):
    ok: bool
    value: T | None = None


async def attempt(
    banner: ErrorBanner,
    what: str,
    call: Awaitable[T],
    *,
    button: ui.button | None = None,
    done: str | None = None,
    fields: FieldErrors | None = None,
) -> Attempt[T]:
    """Await `call`; `button` spins meanwhile, a failure lands in `banner` as "`what`: why".

    With `fields`, a ValidationFailed also puts each message next to its input.
    """
    banner.hide()
    if fields is not None:
        fields.clear()
    try:
        async with _spinning(button):
            value = await call
    except WatcherError as exc:
        banner.show(exc, what)
        if fields is not None and isinstance(exc, ValidationFailed):
            fields.show(exc.errors)
        return Attempt(False)
    except Exception as exc:  # a bug: say so on the page, keep the traceback in the log
        log.exception("%s failed", what)
        banner.show(WatcherError(f"internal error: {type(exc).__name__}: {exc}"), what)
        return Attempt(False)
    if done:
        ui.notify(done, type="positive")
    return Attempt(True, value)


@asynccontextmanager
async def _spinning(button: ui.button | None) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        if button is not None and not button.is_deleted:
            await stack.enter_async_context(busy(button))
        yield
