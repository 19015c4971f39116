"""The Docker Engine adapter. The `services.docker_engine` package is the only code that imports
docker-py; this module holds the client, the others what it reads (`mapping`, `events`), how it
fails (`failures`) and two longer calls (`pulling`, `networks`).

Every public method is async and runs docker-py in a worker thread, so a slow engine never blocks
the event loop. docker-py's and requests' exceptions are translated on the way out of that
thread (`_call`, with `failures.translate`) into `services.errors`; nothing third-party escapes.
The client is created lazily on first use, so the process starts (and serves its UI) even when
the engine is down; each later call retries the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import docker
import docker.errors

from services.docker_engine.events import (
    ClientFactory,
    EventPump,
    close_quietly,
    deliver,
    next_or_stop,
)
from services.docker_engine.failures import explain, translate, unreachable
from services.docker_engine.mapping import (
    container_info,
    image_info,
    label_filter,
    spec_to_create_kwargs,
    timestamp,
)
from services.docker_engine.networks import ensure_network
from services.docker_engine.pulling import progress_sink, pull
from services.errors import CannotConnect, WatcherError
from services.types import ContainerInfo, ContainerSpec, EngineEvent, ImageInfo, PullProgress

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_SOCKET = "unix:///var/run/docker.sock"


class DockerEngine:
    """A small async interface over one Docker Engine (local socket or `DOCKER_HOST`)."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        client_factory: ClientFactory | None = None,
        timeout: int = 60,
    ) -> None:
        """`base_url` (e.g. `unix:///var/run/docker.sock`) wins over `DOCKER_HOST`; a custom
        `client_factory` returning a `docker.DockerClient` wins over both (tests, remote TLS)."""
        self.where = base_url or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
        self.timeout = timeout
        self._factory = client_factory or partial(_make_client, base_url, timeout)
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._network_lock = threading.Lock()

    # ----- plumbing -------------------------------------------------------------------------

    def _api(self) -> Any:
        """The low-level docker-py client, created on first use (in a worker thread)."""
        with self._client_lock:
            if self._client is None:
                try:
                    self._client = self._factory()
                except Exception as exc:
                    raise CannotConnect(unreachable(self.where, exc)) from exc
            return self._client.api

    async def _call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` in a thread, translating third-party errors into ours."""
        return await asyncio.to_thread(self._translated, what, fn, *args)

    def _translated(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except WatcherError:
            raise
        except Exception as exc:
            ours = translate(what, exc, where=self.where, timeout=self.timeout)
            if ours is None:
                raise  # not from docker-py, requests or the socket: a bug of ours
            raise ours from exc

    # ----- engine and images ----------------------------------------------------------------

    async def ping(self) -> str:
        """The engine's version (e.g. `20.10.24`); raises CannotConnect when it is down."""
        return await self._call("asking the engine's version", self._ping_sync)

    def _ping_sync(self) -> str:
        return str(self._api().version().get("Version", "unknown"))

    async def pull(
        self,
        ref: str,
        *,
        auth: tuple[str, str] | None = None,
        progress: PullProgress | None = None,
    ) -> ImageInfo:
        """Pull `ref` (`repo:tag` or `repo@sha256:...`; no tag means `latest`) and inspect it.

        `auth` is (username, token) sent for this pull only (never stored by the engine).
        Raises InvalidAuth (credentials refused or missing), NotFound (unknown tag or repository),
        CannotConnect (registry or engine unreachable), Timeout, UpstreamError. `progress` is
        called on the event loop once per layer step (byte-level ticks are coalesced).
        """
        report = progress_sink(asyncio.get_running_loop(), progress)
        digest = await self._call(f"pulling {ref}", self._pull_sync, ref, auth, report)
        info = await self.inspect_image(ref)
        return info if digest is None else dataclasses.replace(info, digest=digest)

    def _pull_sync(
        self, ref: str, auth: tuple[str, str] | None, report: Callable[[dict[str, Any]], None]
    ) -> str | None:
        return pull(self._api(), ref, auth, report)

    async def inspect_image(self, ref: str) -> ImageInfo:
        """What a local image declares (ports, HEALTHCHECK, labels, env, digest); NotFound if
        the image is not present locally."""
        attrs = await self._call(f"inspecting image {ref}", self._inspect_image_sync, ref)
        return image_info(ref, attrs)

    def _inspect_image_sync(self, ref: str) -> dict[str, Any]:
        return dict(self._api().inspect_image(ref))

    async def list_images(self, repository: str) -> list[ImageInfo]:
        """The local images with a tag or digest in `repository` (summaries: ids, repo tags
        and repo digests; ports, health check and env are not filled in)."""
        found = await self._call(f"listing images of {repository}", self._images_sync, repository)
        return [image_info(repository, attrs) for attrs in found]

    def _images_sync(self, repository: str) -> list[dict[str, Any]]:
        return [dict(item) for item in self._api().images(name=repository)]

    async def remove_image(self, image_id: str) -> None:
        """Remove an image (never forced): Conflict when a container uses it or another
        repository references it; NotFound when it is already gone."""
        await self._call(f"removing image {image_id}", self._remove_image_sync, image_id)

    def _remove_image_sync(self, image_id: str) -> None:
        self._api().remove_image(image_id, force=False, noprune=False)

    # ----- networks -------------------------------------------------------------------------

    async def ensure_network(self, name: str) -> str:
        """Create the bridge network `name` unless it exists; returns its id.

        Idempotent under concurrency. The engine does not enforce unique names atomically (two
        clients creating at once both succeed), so calls in this process are serialised and,
        after creating, the earliest-created network of that name wins: a racer that created a
        later duplicate removes its own (still empty) network and returns the winner.
        """
        return await self._call(f"ensuring network {name}", self._ensure_network_sync, name)

    def _ensure_network_sync(self, name: str) -> str:
        return ensure_network(self._api(), name, self._network_lock)

    # ----- containers -----------------------------------------------------------------------

    async def create_and_start(self, spec: ContainerSpec) -> ContainerInfo:
        """Create the container (joined to `spec.network` with its aliases) and start it.

        A missing network is created (as `ensure_network`) and the start tried once more: the
        engine only says so when starting, and checking first would cost every deploy a call.
        If starting fails, the just-created container is removed before raising, so a failed
        deploy leaves nothing behind. Raises NotFound (image not present: pull first), Conflict
        (name taken), UpstreamError (e.g. a bind source that does not exist), CannotConnect.
        """
        return await self._call(
            f"creating container {spec.name}", self._create_and_start_sync, spec
        )

    def _create_and_start_sync(self, spec: ContainerSpec) -> ContainerInfo:
        try:
            return self._create_and_start_once(spec)
        except docker.errors.NotFound as exc:
            if not spec.network or explain(exc) != f"network {spec.network} not found":
                raise
        log.info("network %s does not exist yet: creating it", spec.network)
        self._ensure_network_sync(spec.network)
        return self._create_and_start_once(spec)

    def _create_and_start_once(self, spec: ContainerSpec) -> ContainerInfo:
        api = self._api()
        container_id = str(api.create_container(**spec_to_create_kwargs(spec))["Id"])
        try:
            api.start(container_id)
        except BaseException:
            with contextlib.suppress(Exception):
                api.remove_container(container_id, force=True)
            raise
        return self._get_sync(container_id)

    async def stop(self, container_id: str, timeout: int = 10) -> None:
        """Stop gracefully (SIGTERM, then SIGKILL after `timeout` s); a stopped one is fine.

        `timeout` is the engine's grace period, not a bound on this call. NotFound when the
        container does not exist. Note: a process running as PID 1 without a SIGTERM handler
        (busybox httpd, many shells) ignores SIGTERM and is killed only after `timeout`.
        """
        await self._call(f"stopping {container_id}", self._simple, "stop", container_id, timeout)

    async def start(self, container_id: str) -> None:
        """Start a stopped container (already running is fine); NotFound when it is gone."""
        await self._call(f"starting {container_id}", self._simple, "start", container_id)

    async def restart(self, container_id: str, timeout: int = 10) -> None:
        """Stop (bounded by `timeout`) and start again; NotFound when it is gone."""
        await self._call(
            f"restarting {container_id}", self._simple, "restart", container_id, timeout
        )

    def _simple(self, method: str, container_id: str, *args: Any) -> None:
        getattr(self._api(), method)(container_id, *args)

    async def remove(self, container_id: str, force: bool = True) -> bool:
        """Remove the container (killing it first when `force`), keeping named volumes.

        Tolerates a container that is already gone or being removed (returns False), because
        removal is what cleanup and reconciliation retry; True when this call removed it.
        """
        return await self._call(f"removing {container_id}", self._remove_sync, container_id, force)

    def _remove_sync(self, container_id: str, force: bool) -> bool:
        try:
            self._api().remove_container(container_id, force=force)
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as exc:
            if exc.status_code == 409 and "already in progress" in explain(exc):
                return False
            raise
        return True

    async def get(self, id_or_name: str) -> ContainerInfo:
        """The container's current state; NotFound when it does not exist."""
        return await self._call(f"inspecting container {id_or_name}", self._get_sync, id_or_name)

    def _get_sync(self, id_or_name: str) -> ContainerInfo:
        return container_info(self._api().inspect_container(id_or_name))

    async def logs(self, container_id: str, tail: int = 200) -> str:
        """The last `tail` lines of stdout and stderr, interleaved, decoded leniently."""
        raw = await self._call(
            f"reading logs of {container_id}", self._logs_sync, container_id, tail
        )
        return raw.decode("utf-8", errors="replace")

    def _logs_sync(self, container_id: str, tail: int) -> bytes:
        return bytes(self._api().logs(container_id, stdout=True, stderr=True, tail=tail))

    async def last_exit_code(self, container_id: str) -> int | None:
        """The code of the container's latest exit, from the engine's event history.

        Needed once a restart policy restarted a crashed container: inspect then shows exit
        code 0 again. None when it never exited or the engine no longer remembers (it keeps a
        bounded history and forgets it when restarted).
        """
        what = f"reading exit codes of {container_id}"
        return await self._call(what, self._last_exit_code_sync, container_id)

    def _last_exit_code_sync(self, container_id: str) -> int | None:
        api = self._api()
        created = timestamp(api.inspect_container(container_id).get("Created"))
        since = f"{created.timestamp():.9f}" if created else None
        until = f"{datetime.now(UTC).timestamp():.9f}"  # in the past: the stream ends at once
        filters = {"type": ["container"], "container": [container_id], "event": ["die"]}
        codes = [
            raw.get("Actor", {}).get("Attributes", {}).get("exitCode")
            for raw in api.events(since=since, until=until, filters=filters, decode=True)
        ]
        known = [int(code) for code in codes if code is not None]
        return known[-1] if known else None

    async def list_managed(self, labels: Mapping[str, str] | None = None) -> list[ContainerInfo]:
        """Every container (any state) carrying our `managed` label and all of `labels`."""
        return await self._call("listing managed containers", self._list_sync, dict(labels or {}))

    def _list_sync(self, labels: dict[str, str]) -> list[ContainerInfo]:
        api = self._api()
        found = api.containers(all=True, filters={"label": label_filter(labels)})
        infos = []
        for summary in found:
            with contextlib.suppress(docker.errors.NotFound):  # removed since listing
                infos.append(container_info(api.inspect_container(summary["Id"])))
        return infos

    # ----- events ---------------------------------------------------------------------------

    async def events(
        self,
        stop: asyncio.Event,
        *,
        labels: Mapping[str, str] | None = None,
        since: datetime | None = None,
    ) -> AsyncIterator[EngineEvent]:
        """Container events for our managed containers (optionally narrowed by `labels`).

        A daemon thread reads the engine's stream and hands events to the loop. `since` replays
        what the engine still remembers from that time on (so nothing between a reconciliation
        and the subscription is lost). When the engine goes away the thread reconnects with
        back-off (resuming from the last event seen, which may repeat) and then yields an event
        whose action is `RESYNC_ACTION`: events may have been missed, re-list. Ends when `stop`
        is set; use `contextlib.aclosing` when breaking out early so the thread always stops.
        Health-check exec events are dropped as noise.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[EngineEvent] = asyncio.Queue()
        hand_over = partial(deliver, loop, queue)
        start = since.timestamp() if since else None
        pump = EventPump(self._factory, hand_over, label_filter(labels), since=start)
        thread = threading.Thread(target=pump.run, name="docker-events", daemon=True)
        thread.start()
        try:
            while (event := await next_or_stop(queue, stop)) is not None:
                yield event
        finally:
            pump.stop()
            await asyncio.to_thread(thread.join, 5.0)

    async def close(self) -> None:
        """Close the client's connections; a later call reconnects."""
        await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        close_quietly(client)


def _make_client(base_url: str | None, timeout: int) -> Any:
    """A docker-py client; contacts the engine at once to negotiate the API version."""
    if base_url:
        return docker.DockerClient(base_url=base_url, timeout=timeout)
    return docker.from_env(timeout=timeout)
