"""The "test before saving" flow shared by the registry and NPM forms.

Save runs Test connection first and stores only when it works; when it fails the form offers
"Save without a working test", so a service that is down right now can still be saved on purpose.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from nicegui import ui

from pages.components.config_widgets import ErrorBanner, FieldErrors, busy, status_chip
from services.errors import ValidationFailed, WatcherError

T = TypeVar("T")


class TestedForm(Generic[T]):
    """Subclasses build the widgets named below and supply `_input`, `_check` and `_store`."""

    errors: FieldErrors
    result: ui.column
    failure: ErrorBanner
    test_button: ui.button
    save_button: ui.button
    anyway: ui.button

    def _input(self) -> T | None:
        """The form's values as the service's input, or None after showing field errors."""
        raise NotImplementedError

    async def _check(self, data: T) -> str:
        """The service's connection test; a one-line summary, or our errors."""
        raise NotImplementedError

    async def _store(self, data: T) -> None:
        raise NotImplementedError

    async def _tested(self, data: T) -> bool:
        """Run Test connection on the form's values; shows the outcome either way."""
        self.result.clear()
        self.failure.hide()
        try:
            summary = await self._check(data)
        except ValidationFailed as exc:
            self.errors.show(exc.errors)
            return False
        except WatcherError as exc:
            self.failure.show(exc, "Test connection")
            return False
        with self.result:
            status_chip(summary, ok=True)
        return True

    async def test(self) -> None:
        data = self._input()
        if data is not None:
            async with busy(self.test_button):
                await self._tested(data)

    async def save(self) -> None:
        data = self._input()
        if data is None:
            return
        async with busy(self.save_button):
            if not await self._tested(data):
                self.anyway.set_visibility(True)
                return
            await self._store(data)

    async def save_anyway(self) -> None:
        data = self._input()
        if data is not None:
            async with busy(self.anyway):
                await self._store(data)
