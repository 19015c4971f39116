"""The engine's event stream, read in a thread that reconnects, handed to the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from services.docker_engine.failures import root_cause
from services.docker_engine.mapping import NS
from services.types import RESYNC_ACTION, EngineEvent

log = logging.getLogger(__name__)
ClientFactory = Callable[[], Any]


_NOT_LABELS = frozenset({"name", "image", "exitCode", "signal", "execID"})


def engine_event(raw: Mapping[str, Any]) -> EngineEvent | None:
    """Our view of one raw engine event; None for what we ignore (non-containers, exec noise)."""
    action = str(raw.get("Action") or raw.get("status") or "")
    if raw.get("Type") != "container" or not action or action.startswith("exec_"):
        return None
    action, _, health = action.partition(": ")
    actor = raw.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    exit_code = attributes.get("exitCode")
    nanos = raw.get("timeNano")
    return EngineEvent(
        action=action,
        container_id=str(actor.get("ID") or raw.get("id") or ""),
        name=str(attributes.get("name", "")),
        labels={k: str(v) for k, v in attributes.items() if k not in _NOT_LABELS},
        time=datetime.fromtimestamp(nanos / NS, UTC) if nanos else None,
        health=health or None,
        exit_code=int(exit_code) if exit_code is not None else None,
    )


def _resync_event() -> EngineEvent:
    return EngineEvent(action=RESYNC_ACTION, container_id="", name="", time=datetime.now(UTC))


def deliver(
    loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[EngineEvent], event: EngineEvent
) -> None:
    loop.call_soon_threadsafe(queue.put_nowait, event)


async def next_or_stop(
    queue: asyncio.Queue[EngineEvent], stop: asyncio.Event
) -> EngineEvent | None:
    """The next event, or None once `stop` is set (an event already received still wins)."""
    if stop.is_set():
        return None
    getter = asyncio.ensure_future(queue.get())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (getter, stopper):
            if not task.done():
                task.cancel()
    return getter.result() if getter in done else None


class EventPump:
    """Reads the engine's event stream in a thread and reconnects with back-off when it drops.

    It uses its own client, so the long-lived stream never occupies the shared connection pool,
    and `stop()` can close that stream's socket from another thread to unblock the read.
    """

    def __init__(
        self,
        factory: ClientFactory,
        deliver: Callable[[EngineEvent], None],
        label_filter: list[str],
        *,
        since: float | None = None,
        min_delay: float = 0.5,
        max_delay: float = 10.0,
    ) -> None:
        self._factory = factory
        self._deliver = deliver
        self._filters = {"type": ["container"], "label": label_filter}
        self._delays = (min_delay, max_delay)
        self._since = since
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._stream: Any = None
        self._client: Any = None

    def run(self) -> None:
        """Connect and drain; after a drop or failure pause, doubling while connecting fails."""
        delay, resync = self._delays[0], False
        while not self._stopped.is_set():
            stream = self._open()
            if stream is not None:
                if resync:
                    self._safe_deliver(_resync_event())
                self._drain(stream)
                delay = self._delays[0]
            resync = True
            self._stopped.wait(delay)
            if stream is None:
                delay = min(delay * 2, self._delays[1])

    def _open(self) -> Any:
        client: Any = None
        try:
            client = self._factory()
            since = f"{self._since:.9f}" if self._since is not None else None
            stream = client.api.events(decode=True, filters=self._filters, since=since)
        except Exception as exc:
            log.info("Docker event stream not available, retrying: %s", root_cause(exc))
            close_quietly(client)
            return None
        with self._lock:
            self._stream, self._client = stream, client
            if self._stopped.is_set():
                self._release()
                return None
        return stream

    def _drain(self, stream: Any) -> None:
        try:
            for raw in stream:
                self._since = raw.get("timeNano", 0) / NS or self._since
                event = engine_event(raw)
                if self._stopped.is_set():
                    break
                if event is not None:
                    self._safe_deliver(event)
        except Exception as exc:
            log.info("Docker event stream interrupted: %s", root_cause(exc))
        finally:
            with self._lock:
                self._release()

    def _release(self) -> None:
        """Close the current stream and its client (caller holds the lock)."""
        close_quietly(self._stream)
        close_quietly(self._client)
        self._stream = self._client = None

    def _safe_deliver(self, event: EngineEvent) -> None:
        try:
            self._deliver(event)
        except RuntimeError:  # the loop closed under us: nobody is listening any more
            self._stopped.set()

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            close_quietly(self._stream)  # unblocks the reader thread


def close_quietly(closable: Any) -> None:
    """Close a docker-py stream or client that may be None or already closed."""
    if closable is not None:
        with contextlib.suppress(Exception):
            closable.close()
