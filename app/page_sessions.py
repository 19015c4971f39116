"""The page socket's guard: which socket may attach to a page client, and drive it.

NiceGUI's socket.io endpoint (`/_nicegui_ws/`) has to be public, since the login page talks
over it before anyone is signed in, and NiceGUI hands each message to whatever page client the
message names, whoever sent it. Its own hooks come too late (`app.on_connect` runs after the
handshake; events have none), so `install` wraps the handlers NiceGUI registered on its
socket.io server:

- connect and handshake: a page rendered for a session accepts only a socket that carries that
  same session (the cookie or bearer token, verified as the page request was); a public page
  (the login) accepts any socket.
- event, javascript_response, ack, log: only from a socket attached to the client it names (a
  socket naming another client is closed), and only while that client's session holds.
- When sessions end (sign-out and password change, announced by AuthService; expiry, found by
  a periodic sweep), the pages of those sessions are sent to the login page and their sockets
  are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import socketio
from nicegui import Client, background_tasks
from nicegui import app as nicegui_app
from starlette.requests import HTTPConnection

from app.auth_guard import LOGIN_PATH, is_public, presented_principal, route_path
from services.auth.sessions import AuthService, Principal, principal_in

log = logging.getLogger(__name__)

NAMESPACE = "/"
# NiceGUI's page script reloads the page when a connection is refused with this message; the
# reload then meets the request guard, which sends a signed-out browser to the login page.
REFUSED = "Implicit handshake failed"
# NiceGUI's `open` message: the page script goes there (with the app's path prefix, if any).
TO_LOGIN = {"path": LOGIN_PATH, "new_tab": False}
SWEEP_INTERVAL = 30.0  # seconds between looks for expired sessions among the open pages
GUARDED_MESSAGES = ("event", "javascript_response", "ack", "log")

Environ = dict[str, Any]
Message = Callable[[str, Any], Any]


class PageSessions:
    """Remembers which session each page client belongs to and holds every socket to it."""

    def __init__(self, auth: AuthService) -> None:
        self._auth = auth
        self._sio: socketio.AsyncServer | None = None
        self._moved: dict[str, Principal] = {}  # page client id -> session it moved to
        self._ending: set[str] = set()

    def session_of(self, client: Client) -> Principal | None:
        """The session a page was rendered for (the request guard let its request through
        with it), or the one it moved to; None for a public page."""
        moved = self._moved.get(client.id)
        if moved is not None:
            return moved
        try:
            return principal_in(client.request.state)
        except RuntimeError:  # a client built without a request: no page of ours
            return None

    def move(self, client_id: str, principal: Principal) -> None:
        """The page that changed its user's password carries on under the fresh session, long
        enough to hand the browser its new cookie, instead of being closed with the others."""
        self._moved[client_id] = principal

    def install(self, sio: socketio.AsyncServer) -> None:
        """Wrap the handlers NiceGUI registered on its socket.io server (`nicegui.core.sio`);
        call once."""
        self._sio = sio
        handlers = sio.handlers[NAMESPACE]
        sio.on("connect", self._guard_connect(handlers["connect"]))
        sio.on("handshake", self._guard_handshake(handlers["handshake"]))
        for name in GUARDED_MESSAGES:
            sio.on(name, self._guard_message(handlers[name]))
        self._auth.on_sessions_ended(self.sweep)
        nicegui_app.on_delete(self._forget)

    async def run(self, stop: asyncio.Event, interval: float = SWEEP_INTERVAL) -> None:
        """Sweep now and then: an expired session is announced by nobody."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            self.sweep()

    def ended(self) -> list[Client]:
        """The open pages whose session no longer holds (in memory, no database)."""
        return [
            client
            for client in list(Client.instances.values())
            if (session := self.session_of(client)) is not None and not self._auth.is_valid(session)
        ]

    def sweep(self) -> None:
        """Close every open page whose session ended."""
        for client in self.ended():
            self._end(client.id)

    def _guard_connect(
        self, connect: Callable[..., Awaitable[None]]
    ) -> Callable[..., Awaitable[None]]:
        async def on_connect(sid: str, environ: Environ, auth: Any = None) -> None:
            if not self._may_connect(environ):
                raise socketio.exceptions.ConnectionRefusedError(REFUSED)
            await connect(sid, environ, auth)

        return on_connect

    def _guard_handshake(
        self, handshake: Callable[[str, Any], Awaitable[bool]]
    ) -> Callable[[str, Any], Awaitable[bool]]:
        async def on_handshake(sid: str, data: Any) -> bool:
            client = _named_client(data)
            environ = self._sio.get_environ(sid) if self._sio else None
            if client is None or not self._may_attach(client, self._presented(environ or {})):
                return False  # NiceGUI's page script reloads
            attached = await handshake(sid, data)
            if attached and not self._holds(client):
                self._end(client.id)  # the session ended while this socket was attaching
            return attached

        return on_handshake

    def _guard_message(self, handler: Message) -> Message:
        def on_message(sid: str, message: Any) -> Any:
            client = _named_client(message)
            if client is None:
                return None  # no such page: NiceGUI drops these too
            if not self._attached(sid, client):
                log.warning("closed a page socket that sent a message for another page")
                background_tasks.create(self._close([sid]), name="close a refused page socket")
                return None
            if not self._holds(client):
                self._end(client.id)
                return None
            return handler(sid, message)

        return on_message

    def _may_connect(self, environ: Environ) -> bool:
        """A socket naming a page (NiceGUI's implicit handshake) must be allowed to attach to
        it; one naming none must at least carry a valid session of its own."""
        presented = self._presented(environ)
        client_id = parse_qs(str(environ.get("QUERY_STRING", ""))).get("client_id", [None])[0]
        client = Client.instances.get(client_id) if client_id else None
        if client is None:
            return presented is not None
        return self._may_attach(client, presented)

    def _may_attach(self, client: Client, presented: Principal | None) -> bool:
        """The socket carries the very session the page was rendered for (or the page is
        public): another valid session of the same user is not enough."""
        if _is_public_page(client):
            return True
        session = self.session_of(client)
        return (
            presented is not None
            and session is not None
            and presented.token_id == session.token_id
            and self._auth.is_valid(session)
        )

    def _attached(self, sid: str, client: Client) -> bool:
        """NiceGUI puts a socket in its client's room at the handshake."""
        return self._sio is not None and client.id in self._sio.rooms(sid)

    def _holds(self, client: Client) -> bool:
        """Whether the page may still be driven: public, or its session is still valid."""
        if _is_public_page(client):
            return True
        session = self.session_of(client)
        return session is not None and self._auth.is_valid(session)

    def _presented(self, environ: Environ) -> Principal | None:
        """The session the socket's own request carries, verified like any request's."""
        scope = environ.get("asgi.scope")
        return (
            presented_principal(self._auth, HTTPConnection(scope))
            if isinstance(scope, dict)
            else None
        )

    def _end(self, client_id: str) -> None:
        """Close the page's sockets. A page with none attached yet is not marked: a socket
        still attaching is ended by the handshake guard, and the next sweep looks again."""
        if client_id in self._ending or self._sio is None:
            return
        sockets = [sid for sid, _ in self._sio.manager.get_participants(NAMESPACE, client_id)]
        if not sockets:
            return
        self._ending.add(client_id)
        background_tasks.create(self._close(sockets, client_id), name="end a signed-out page")

    async def _close(self, sockets: Iterable[str], client_id: str | None = None) -> None:
        """Send the browser to the login page first, so it does not sit waiting for a server
        that closed on it. (Not a reload: the tab that posted the sign-out is already on its
        way to the login page, and a reload would race that navigation.)"""
        assert self._sio is not None
        try:
            for sid in sockets:
                await self._sio.emit("open", TO_LOGIN, to=sid)
                await self._sio.disconnect(sid)
        finally:
            if client_id is not None:  # a socket attached later is closed by the next sweep
                self._ending.discard(client_id)

    def _forget(self, client: Client) -> None:
        self._moved.pop(client.id, None)
        self._ending.discard(client.id)


def _named_client(message: Any) -> Client | None:
    client_id = message.get("client_id") if isinstance(message, dict) else None
    return Client.instances.get(client_id) if isinstance(client_id, str) else None


def _is_public_page(client: Client) -> bool:
    """A page the request guard lets anyone see (the login page)."""
    try:
        return is_public(route_path(client.request.scope))
    except RuntimeError:  # no request: fail closed
        return False
