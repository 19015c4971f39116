"""A page's socket driven by hand, the way an attacker would: no browser, only the ids a page's
HTML carries (its client id, its elements and their listener ids) and a socket.io client
(python-socketio, a NiceGUI dependency) sending NiceGUI's own `event` messages.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import socketio

SOCKET_PATH = "/_nicegui_ws/socket.io"
Element = dict[str, Any]
_ELEMENTS = re.compile(r"parseElements\(String\.raw`(.*?)`\)", re.DOTALL)
_CLIENT_ID = re.compile(r"'client_id': '([0-9a-f-]+)'")
_NEXT_MESSAGE = re.compile(r"'next_message_id': (\d+)")
# NiceGUI escapes these in the embedded JSON; its nicegui.js undoes it the same way.
_UNESCAPE = (("&#36;", "$"), ("&#96;", "`"), ("&gt;", ">"), ("&lt;", "<"), ("&amp;", "&"))


@dataclass(frozen=True)
class RenderedPage:
    """What a page's HTML tells anyone who holds it."""

    client_id: str
    next_message_id: int
    elements: dict[str, Element]

    def click_target(self, text: str) -> tuple[int, str]:
        """The element id and click listener id of the (first) button labelled `text`."""
        found = click_target(self.elements, lambda e: label(e) == text)
        assert found is not None, f"no button {text!r} on the page"
        return found


def read_page(html: str) -> RenderedPage:
    client_id, next_id, raw = (
        _CLIENT_ID.search(html),
        _NEXT_MESSAGE.search(html),
        _ELEMENTS.search(html),
    )
    assert client_id and next_id and raw, "not a NiceGUI page"
    text = raw.group(1)
    for escaped, plain in _UNESCAPE:
        text = text.replace(escaped, plain)
    return RenderedPage(client_id.group(1), int(next_id.group(1)), json.loads(text))


def label(element: Element) -> str | None:
    """A button's label (NiceGUI sends it as the `label` prop of a `q-btn`)."""
    return element.get("props", {}).get("label") if element.get("tag") == "q-btn" else None


def click_target(
    elements: dict[str, Element], wanted: Callable[[Element], bool]
) -> tuple[int, str] | None:
    for element_id, element in elements.items():
        if element and wanted(element):
            for listener in element.get("events", []):
                if listener.get("type") == "click":
                    return int(element_id), str(listener["listener_id"])
    return None


@dataclass
class PageSocket:
    """One socket.io connection claiming to be `page`'s browser tab.

    Records every `update` and `open` (go to a path) message the server pushes to it, and
    whether the server closed it.
    """

    url: str
    page: RenderedPage
    cookie: str | None = None
    updates: list[dict[str, Element | None]] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._sio = socketio.AsyncClient(reconnection=False)
        self._sio.on("update", self._on_update)
        self._sio.on("open", self._on_open)
        self._sio.on("disconnect", self._on_disconnect)

    async def connect(self) -> bool:
        """Connect with NiceGUI's implicit handshake, as the page's own script does.

        False when the server refused the connection.
        """
        query = {
            "client_id": self.page.client_id,
            "next_message_id": self.page.next_message_id,
            "implicit_handshake": "true",
            "tab_id": str(uuid.uuid4()),
            "document_id": str(uuid.uuid4()),
        }
        headers = {"Cookie": f"dw_session={self.cookie}"} if self.cookie else {}
        try:
            await self._sio.connect(
                f"{self.url}/?{urlencode(query)}",
                headers=headers,
                transports=["websocket"],
                socketio_path=SOCKET_PATH,
                wait_timeout=10,
            )
        except socketio.exceptions.ConnectionError:
            return False
        return True

    async def click(self, target: tuple[int, str], client_id: str | None = None) -> None:
        """Send a click event, by default for this socket's own page client."""
        element_id, listener_id = target
        message = {
            "id": element_id,
            "client_id": client_id or self.page.client_id,
            "listener_id": listener_id,
            "args": [],
        }
        if self._sio.connected:
            await self._sio.emit("event", message)

    async def until(self, found: Callable[[], Any], timeout: float = 15.0) -> Any:
        """The first truthy `found()`, re-checked after every message; None once the socket is
        closed or after `timeout` seconds without it."""
        try:
            async with asyncio.timeout(timeout):
                while not (result := found()):
                    if self.closed.is_set():
                        return None
                    self._changed.clear()
                    await self._changed.wait()
                return result
        except TimeoutError:
            return None

    def pushed(self, wanted: Callable[[Element], bool]) -> list[Element]:
        """Every element pushed in an update that satisfies `wanted`."""
        return [e for update in self.updates for e in update.values() if e and wanted(e)]

    async def close(self) -> None:
        if self._sio.connected:
            await self._sio.disconnect()

    async def _on_update(self, message: dict[str, Any]) -> None:
        message.pop("_id", None)
        self.updates.append(message)
        self._changed.set()

    async def _on_open(self, message: dict[str, Any]) -> None:
        self.opened.append(str(message.get("path")))
        self._changed.set()

    async def _on_disconnect(self, *_: object) -> None:
        self.closed.set()
        self._changed.set()


async def regenerate_webhook(socket: PageSocket) -> str | None:
    """Drive the settings page's "Regenerate" and the confirmation dialog it opens.

    Answers the webhook URL the server then pushed to this socket, or None when the server
    refused at any step (the dialog or the new URL never came, or the socket was closed).
    """
    await socket.click(socket.page.click_target("Regenerate"))
    confirm = await socket.until(lambda: _confirm_button(socket))
    if confirm is None:
        return None
    await socket.click(confirm)
    before = {_webhook_url(e) for e in socket.page.elements.values() if e}
    urls = await socket.until(
        lambda: [url for e in socket.pushed(_webhook_url) if (url := _webhook_url(e)) not in before]
    )
    return None if urls is None else str(urls[-1])


def _confirm_button(socket: PageSocket) -> tuple[int, str] | None:
    """The dialog's "Regenerate" (a new element: not one the page was rendered with)."""
    for update in socket.updates:
        fresh = {k: v for k, v in update.items() if k not in socket.page.elements}
        found = click_target(fresh, lambda e: label(e) == "Regenerate")
        if found is not None:
            return found
    return None


def _webhook_url(element: Element) -> str:
    """The webhook URL an input shows, else ""."""
    value = str(element.get("props", {}).get("value", ""))
    return value if "/api/webhook/" in value else ""
