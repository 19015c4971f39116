"""Small building blocks shared by the configuration and settings pages.

Field errors next to their inputs, a button that shows it is busy, an error banner in plain
words with the technical detail folded away, and a confirmation dialog that says what goes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from nicegui import ui
from nicegui.elements.mixins.validation_element import ValidationElement

from services.errors import (
    CannotConnect,
    Conflict,
    CryptoError,
    FieldError,
    InvalidAuth,
    NotFound,
    RateLimited,
    Timeout,
    TlsProblem,
    UpstreamError,
    ValidationFailed,
    WatcherError,
    WrongService,
)

_HEADLINES: tuple[tuple[type[WatcherError], str], ...] = (
    (WrongService, "This address is not the expected service (wrong port or path)"),
    (TlsProblem, "The secure connection (TLS) failed"),
    (CannotConnect, "Could not connect"),
    (InvalidAuth, "The credentials were refused"),
    (Timeout, "No answer in time"),
    (RateLimited, "Asked to slow down; try again in a moment"),
    (UpstreamError, "The server answered with an error"),
    (NotFound, "Not found"),
    (Conflict, "This clashes with what exists"),
    (CryptoError, "A stored secret cannot be decrypted with this ENCRYPTION_KEY"),
    (ValidationFailed, "Some values need fixing"),
)


def headline(exc: WatcherError) -> str:
    """The plain-words summary of an error kind (its message is the expandable detail)."""
    return next((text for kind, text in _HEADLINES if isinstance(exc, kind)), "Something failed")


class FieldErrors:
    """Shows a ValidationFailed's messages next to the inputs registered under their paths.

    Messages whose path has no input (or a path-less one) go to a banner, so nothing is lost.
    """

    def __init__(self) -> None:
        self._fields: dict[str, ValidationElement[Any]] = {}
        self.banner = ui.label().classes("text-sm text-red-700 whitespace-pre-line")
        self.banner.props("role=alert").set_visibility(False)

    def add(self, path: str, field: ValidationElement[Any]) -> ValidationElement[Any]:
        self._fields[path] = field
        return field

    def forget(self) -> None:
        """Drop every registration (for editors whose rows, and so paths, change)."""
        self.clear()
        self._fields.clear()

    def clear(self) -> None:
        for field in self._fields.values():
            field.error = None
        self.banner.set_visibility(False)

    def show(self, errors: Iterable[FieldError]) -> None:
        self.clear()
        rest = [e for e in errors if not self._place(e)]
        if rest:
            self.banner.set_text("\n".join(str(e) for e in rest))
            self.banner.set_visibility(True)

    def _place(self, error: FieldError) -> bool:
        """Put the message on the field of its path, or of the nearest registered parent."""
        path = error.path
        while path:
            field = self._fields.get(path)
            if field is not None:
                field.error = error.message if field.error is None else field.error
                return True
            path = path.rpartition(".")[0]
        return False


class ErrorBanner:
    """A red box: one line in plain words, the technical message folded underneath."""

    def __init__(self) -> None:
        with ui.card().classes("w-full bg-red-50 border border-red-200 p-3") as self.card:
            with ui.row().classes("items-center gap-2 no-wrap"):
                ui.icon("error", color="negative")
                self.title = ui.label().classes("text-red-800 font-medium").props("role=alert")
            with ui.expansion("Details").classes("w-full text-sm") as self.expansion:
                self.detail = ui.label().classes("text-xs font-mono whitespace-pre-wrap")
        self.card.set_visibility(False)

    def show(self, exc: WatcherError, context: str = "") -> None:
        self.title.set_text(f"{context}: {headline(exc)}" if context else headline(exc))
        self.detail.set_text(str(exc) or type(exc).__name__)
        self.card.set_visibility(True)

    def hide(self) -> None:
        self.card.set_visibility(False)


@asynccontextmanager
async def busy(button: ui.button) -> AsyncIterator[None]:
    """Disable a button and spin it while its action runs (a second click does nothing)."""
    button.disable()
    button.props("loading")
    try:
        yield
    finally:
        button.props(remove="loading")
        button.enable()


async def confirm(title: str, lines: Iterable[str], action: str, *, danger: bool = True) -> bool:
    """Ask before something that cannot be undone; the dialog lists exactly what goes."""
    with ui.dialog() as dialog, ui.card().classes("w-[28rem] gap-3"):
        ui.label(title).classes("text-lg font-semibold")
        for line in lines:
            ui.label(line).classes("text-sm")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(False)).props("flat")
            button = ui.button(action, on_click=lambda: dialog.submit(True))
            button.props["color"] = "negative" if danger else "primary"
            button.mark("confirm")
    result = await dialog
    dialog.delete()
    return result is True


PROJECT_TAB = "scope:project"


def stage_tab(stage: str) -> str:
    """A stage's tab name (prefixed: a stage may well be called "project")."""
    return f"stage:{stage}"


class ScopeTabs:
    """ "Project" plus one tab per stage; keeps the open tab when the editor is redrawn."""

    def __init__(self, marker: str) -> None:
        self.current = PROJECT_TAB
        self._marker = marker

    def draw(self, stages: list[str]) -> ui.tab_panels:
        """The tab bar; returns the panels container to fill with one `ui.tab_panel` each."""
        names = [PROJECT_TAB, *map(stage_tab, stages)]
        value = self.current if self.current in names else PROJECT_TAB
        with ui.tabs().classes("w-full").props("align=left") as tabs:
            ui.tab(PROJECT_TAB, "Project")
            for stage in stages:
                ui.tab(stage_tab(stage), f"Stage {stage}")
        tabs.set_value(value)
        tabs.mark(self._marker)
        tabs.on_value_change(lambda e: setattr(self, "current", e.value))
        return ui.tab_panels(tabs, value=value).classes("w-full")


def section(title: str, hint: str = "") -> ui.card:
    """A titled card; every settings area lives in one."""
    card = ui.card().classes("w-full gap-3")
    with card:
        ui.label(title).classes("text-lg font-semibold")
        if hint:
            ui.label(hint).classes("text-sm text-gray-500 -mt-2")
    return card


def status_chip(text: str, ok: bool | None) -> ui.label:
    """A coloured result line: green for ok, red for failed, grey for not tested."""
    colour = {True: "text-green-700", False: "text-red-700", None: "text-gray-500"}[ok]
    icon = {True: "check_circle", False: "error", None: "help"}[ok]
    with ui.row().classes("items-center gap-1 no-wrap") as row:
        ui.icon(icon).classes(colour)
        label = ui.label(text).classes(f"text-sm {colour}")
    row.mark("status")
    return label
