"""The Docker Engine adapter: the only module importing docker-py.

Every public method is async and runs docker-py in a worker thread, so a slow engine never blocks
the event loop. docker-py's and requests' exceptions are translated here into `services.errors`;
nothing third-party escapes. The client is created lazily on first use, so the process starts
(and serves its UI) even when the engine is down; each later call retries the connection.
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
import docker.utils
import requests.exceptions
import urllib3.exceptions

from services.errors import (
    CannotConnect,
    Conflict,
    InvalidAuth,
    NotFound,
    Timeout,
    UpstreamError,
    WatcherError,
)
from services.types import (
    LABEL_MANAGED,
    MANAGED_VALUE,
    RESYNC_ACTION,
    ContainerInfo,
    ContainerSpec,
    EngineEvent,
    ImageHealthcheck,
    ImageInfo,
    Mount,
    PullProgress,
    PullUpdate,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
ClientFactory = Callable[[], Any]
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
_NS = 1_000_000_000
_EPOCH = datetime.min.replace(tzinfo=UTC)


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
                    raise CannotConnect(self._unreachable(exc)) from exc
            return self._client.api

    def _unreachable(self, exc: BaseException) -> str:
        return f"Docker Engine not reachable at {self.where}: {_root_cause(exc)}"

    async def _call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` in a thread, translating third-party errors into ours."""
        return await asyncio.to_thread(self._translated, what, fn, *args)

    def _translated(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except WatcherError:
            raise
        except Exception as exc:
            ours = self._translate(what, exc)
            if ours is None:
                raise  # not from docker-py, requests or the socket: a bug of ours
            raise ours from exc

    def _translate(self, what: str, exc: Exception) -> WatcherError | None:
        """Our error for a docker-py, requests, urllib3 or socket exception."""
        if isinstance(exc, docker.errors.APIError):
            return _api_error(what, exc)
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return CannotConnect(self._unreachable(exc))
        if isinstance(exc, requests.exceptions.Timeout | urllib3.exceptions.TimeoutError):
            msg = f"{what}: Docker Engine at {self.where} did not answer within {self.timeout} s"
            return Timeout(msg)
        connection_errors = requests.exceptions.RequestException | urllib3.exceptions.HTTPError
        if isinstance(exc, connection_errors | OSError):
            return CannotConnect(self._unreachable(exc))
        if isinstance(exc, docker.errors.DockerException):
            return UpstreamError(f"{what}: {exc}")
        return None

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
        report = _progress_sink(asyncio.get_running_loop(), progress)
        digest = await self._call(f"pulling {ref}", self._pull_sync, ref, auth, report)
        info = await self.inspect_image(ref)
        return info if digest is None else dataclasses.replace(info, digest=digest)

    def _pull_sync(
        self, ref: str, auth: tuple[str, str] | None, report: Callable[[dict[str, Any]], None]
    ) -> str | None:
        repository, tag = docker.utils.parse_repository_tag(ref)
        auth_config = {"username": auth[0], "password": auth[1]} if auth else None
        digest: str | None = None
        try:
            stream = self._api().pull(
                repository, tag=tag or "latest", stream=True, decode=True, auth_config=auth_config
            )
            for item in stream:
                if "error" in item:
                    raise _pull_error(ref, str(item.get("error")))
                digest = _digest_from_status(item) or digest
                report(item)
        except docker.errors.APIError as exc:
            raise _pull_error(ref, _explain(exc)) from exc
        return digest

    async def inspect_image(self, ref: str) -> ImageInfo:
        """What a local image declares (ports, HEALTHCHECK, labels, env, digest); NotFound if
        the image is not present locally."""
        attrs = await self._call(f"inspecting image {ref}", self._inspect_image_sync, ref)
        return _image_info(ref, attrs)

    def _inspect_image_sync(self, ref: str) -> dict[str, Any]:
        return dict(self._api().inspect_image(ref))

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
        api = self._api()
        with self._network_lock:
            existing = _find_network(api, name)
            if existing:
                return existing
            created = _create_network(api, name)
            winner = _find_network(api, name) or created
            if winner != created:
                with contextlib.suppress(docker.errors.APIError):
                    api.remove_network(created)
            return winner

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
            if not spec.network or _explain(exc) != f"network {spec.network} not found":
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
            if exc.status_code == 409 and "already in progress" in _explain(exc):
                return False
            raise
        return True

    async def get(self, id_or_name: str) -> ContainerInfo:
        """The container's current state; NotFound when it does not exist."""
        return await self._call(f"inspecting container {id_or_name}", self._get_sync, id_or_name)

    def _get_sync(self, id_or_name: str) -> ContainerInfo:
        return _container_info(self._api().inspect_container(id_or_name))

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
        created = _timestamp(api.inspect_container(container_id).get("Created"))
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
        found = api.containers(all=True, filters={"label": _label_filter(labels)})
        infos = []
        for summary in found:
            with contextlib.suppress(docker.errors.NotFound):  # removed since listing
                infos.append(_container_info(api.inspect_container(summary["Id"])))
        return infos

    async def container_address(self, container_id: str, network: str) -> str | None:
        """The container's IP address on `network`, or None when it is not attached (or
        stopped: a stopped container keeps no address)."""
        return (await self.get(container_id)).ip_by_network.get(network)

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
        deliver = partial(_deliver, loop, queue)
        start = since.timestamp() if since else None
        pump = _EventPump(self._factory, deliver, _label_filter(labels), since=start)
        thread = threading.Thread(target=pump.run, name="docker-events", daemon=True)
        thread.start()
        try:
            while (event := await _next_or_stop(queue, stop)) is not None:
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
        _close_quietly(client)


# ----- pure helpers ---------------------------------------------------------------------------


def spec_to_create_kwargs(spec: ContainerSpec) -> dict[str, Any]:
    """The keyword arguments of docker-py's low-level `create_container` for `spec`.

    Low-level on purpose: the high-level API's `ports` would also publish the port on the host.
    The container only exposes `spec.port`; NPM reaches it over the shared network.
    """
    host_config: dict[str, Any] = {
        "RestartPolicy": {"Name": spec.restart_policy, "MaximumRetryCount": 0},
        "Mounts": [_mount_config(m) for m in spec.mounts],
    }
    kwargs: dict[str, Any] = {
        "image": spec.image,
        "name": spec.name,
        "command": list(spec.command) if spec.command is not None else None,
        "environment": [f"{key}={value}" for key, value in spec.env.items()],
        "labels": dict(spec.labels),
        "ports": [spec.port] if spec.port else None,
        "detach": True,
        "use_config_proxy": False,  # the spec is the whole truth, not ~/.docker/config.json
        "host_config": host_config,
    }
    if spec.network:
        host_config["NetworkMode"] = spec.network
        endpoint = {"Aliases": list(spec.network_aliases)}
        kwargs["networking_config"] = {"EndpointsConfig": {spec.network: endpoint}}
    return kwargs


def _mount_config(mount: Mount) -> dict[str, Any]:
    return {
        "Type": mount.kind,
        "Source": mount.source,
        "Target": mount.target,
        "ReadOnly": mount.read_only,
    }


def _label_filter(labels: Mapping[str, str] | None) -> list[str]:
    extra = [f"{key}={value}" for key, value in (labels or {}).items()]
    return [f"{LABEL_MANAGED}={MANAGED_VALUE}", *extra]


def _make_client(base_url: str | None, timeout: int) -> Any:
    """A docker-py client; contacts the engine at once to negotiate the API version."""
    if base_url:
        return docker.DockerClient(base_url=base_url, timeout=timeout)
    return docker.from_env(timeout=timeout)


def _root_cause(exc: BaseException) -> str:
    """The innermost OSError's text (e.g. `[Errno 2] No such file or directory`) if any."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    best: BaseException = exc
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            best = current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        todo.extend(a for a in current.args if isinstance(a, BaseException))
    return str(best)


def _explain(exc: Any) -> str:
    """The engine's own message of an APIError, without docker-py's URL noise."""
    return str(getattr(exc, "explanation", None) or exc)


def _api_error(what: str, exc: Any) -> WatcherError:
    status = getattr(exc, "status_code", None)
    message = f"{what}: {_explain(exc)}"
    if isinstance(exc, docker.errors.NotFound) or status == 404:
        return NotFound(message)
    if status == 409:
        return Conflict(message)
    if status in (401, 403):
        return InvalidAuth(message)
    return UpstreamError(f"{what}: Docker Engine answered {status}: {_explain(exc)}")


_PULL_ERRORS: tuple[tuple[tuple[str, ...], type[WatcherError], str], ...] = (
    (("manifest unknown", "not found", "does not exist"), NotFound, "not found in its registry"),
    (
        ("unauthorized", "authentication required", "no basic auth", "denied", "incorrect user"),
        InvalidAuth,
        "the registry refused the credentials",
    ),
    (
        ("dial tcp", "connection refused", "no such host", "unreachable", "http response to https"),
        CannotConnect,
        "registry not reachable",
    ),
    (("timeout", "deadline exceeded"), Timeout, "registry did not answer in time"),
)


def _pull_error(ref: str, message: str) -> WatcherError:
    """Classify the engine's pull failure text, which arrives as HTTP 500/404 or a stream item."""
    lowered = message.lower()
    for needles, kind, summary in _PULL_ERRORS:
        if any(needle in lowered for needle in needles):
            return kind(f"Pulling {ref} failed: {summary} ({message})")
    return UpstreamError(f"Pulling {ref} failed: {message}")


def _digest_from_status(item: Mapping[str, Any]) -> str | None:
    status = str(item.get("status", ""))
    return status.removeprefix("Digest: ") if status.startswith("Digest: ") else None


def _progress_sink(
    loop: asyncio.AbstractEventLoop, progress: PullProgress | None
) -> Callable[[dict[str, Any]], None]:
    """A thread-side callback forwarding each new (layer, status) pair to `progress` on the loop."""
    last: dict[str | None, str] = {}

    def report(item: dict[str, Any]) -> None:
        layer, status = item.get("id"), str(item.get("status", ""))
        if progress is None or not status or last.get(layer) == status:
            return
        last[layer] = status
        detail = item.get("progressDetail") or {}
        update = PullUpdate(status, layer, detail.get("current"), detail.get("total"))
        loop.call_soon_threadsafe(progress, update)

    return report


def _find_network(api: Any, name: str) -> str | None:
    """The id of the earliest-created network named exactly `name` (the engine's name filter
    also matches substrings, and duplicates can exist)."""
    same = [n for n in api.networks(names=[name]) if n.get("Name") == name]
    if not same:
        return None
    oldest = min(same, key=lambda n: (_timestamp(n.get("Created")) or _EPOCH, n["Id"]))
    return str(oldest["Id"])


def _create_network(api: Any, name: str) -> str:
    """Create a bridge network; a 409 (another client won a checked race) is not an error."""
    try:
        return str(api.create_network(name, driver="bridge", check_duplicate=True)["Id"])
    except docker.errors.APIError as exc:
        found = _find_network(api, name) if exc.status_code == 409 else None
        if found is None:
            raise
        return found


def _repository(ref: str) -> str:
    repository, _ = docker.utils.parse_repository_tag(ref)
    return str(repository).removeprefix("docker.io/").removeprefix("library/")


def _digest_for(ref: str, repo_digests: tuple[str, ...]) -> str | None:
    """The manifest digest of `ref`'s repository among an image's RepoDigests."""
    wanted = _repository(ref)
    for entry in repo_digests:
        repository, _, digest = entry.partition("@")
        if _repository(repository) == wanted:
            return digest
    return None


def _image_info(ref: str, attrs: Mapping[str, Any]) -> ImageInfo:
    config = attrs.get("Config") or {}
    repo_digests = tuple(attrs.get("RepoDigests") or ())
    return ImageInfo(
        id=str(attrs["Id"]),
        digest=_digest_for(ref, repo_digests),
        repo_digests=repo_digests,
        repo_tags=tuple(attrs.get("RepoTags") or ()),
        exposed_ports=_ports(config.get("ExposedPorts")),
        healthcheck=_healthcheck(config.get("Healthcheck")),
        labels=dict(config.get("Labels") or {}),
        env=_env(config.get("Env")),
    )


def _ports(exposed: Mapping[str, Any] | None) -> tuple[int, ...]:
    ports = {int(key.split("/", 1)[0]) for key in (exposed or {}) if key.split("/")[0].isdigit()}
    return tuple(sorted(ports))


def _healthcheck(raw: Mapping[str, Any] | None) -> ImageHealthcheck | None:
    """None for no HEALTHCHECK, `HEALTHCHECK NONE` or an empty test (inherit: nothing to run)."""
    if raw is None:
        return None
    test = tuple(raw.get("Test") or ())
    if not test or test[0] == "NONE":
        return None
    return ImageHealthcheck(
        test=test,
        interval=_seconds(raw.get("Interval")),
        timeout=_seconds(raw.get("Timeout")),
        retries=raw.get("Retries") or None,
        start_period=_seconds(raw.get("StartPeriod")),
    )


def _seconds(nanoseconds: int | None) -> float | None:
    return nanoseconds / _NS if nanoseconds else None


def _env(raw: list[str] | None) -> dict[str, str]:
    pairs = (entry.partition("=") for entry in raw or ())
    return {key: value for key, _, value in pairs}


def _timestamp(raw: str | None) -> datetime | None:
    """Docker's RFC 3339 time (nanoseconds trimmed); its zero time `0001-01-01...` → None."""
    if not raw or raw.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


def _container_info(attrs: Mapping[str, Any]) -> ContainerInfo:
    state = attrs.get("State") or {}
    health = state.get("Health") or {}
    status = str(state.get("Status", "unknown"))
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    return ContainerInfo(
        id=str(attrs["Id"]),
        name=str(attrs.get("Name", "")).lstrip("/"),
        image=str((attrs.get("Config") or {}).get("Image", "")),
        image_id=str(attrs.get("Image", "")),
        status=status,
        health=health.get("Status") or None,
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
        started_at=_timestamp(state.get("StartedAt")),
        finished_at=_timestamp(state.get("FinishedAt")),
        exit_code=None if status in ("created", "running") else state.get("ExitCode"),
        restart_count=int(attrs.get("RestartCount") or 0),
        ip_by_network={n: v["IPAddress"] for n, v in networks.items() if v.get("IPAddress")},
        health_output=_last_health_output(health),
    )


def _last_health_output(health: Mapping[str, Any]) -> str | None:
    """The output of Docker's latest health probe: the reason a HEALTHCHECK failed."""
    entries = health.get("Log") or []
    if not entries:
        return None
    return str(entries[-1].get("Output", "")).strip() or None


# ----- the event pump (runs in its own thread) -------------------------------------------------

_NOT_LABELS = frozenset({"name", "image", "exitCode", "signal", "execID"})


def _engine_event(raw: Mapping[str, Any]) -> EngineEvent | None:
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
        time=datetime.fromtimestamp(nanos / _NS, UTC) if nanos else None,
        health=health or None,
        exit_code=int(exit_code) if exit_code is not None else None,
    )


def _resync_event() -> EngineEvent:
    return EngineEvent(action=RESYNC_ACTION, container_id="", name="", time=datetime.now(UTC))


def _deliver(
    loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[EngineEvent], event: EngineEvent
) -> None:
    loop.call_soon_threadsafe(queue.put_nowait, event)


async def _next_or_stop(
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


class _EventPump:
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
            log.info("Docker event stream not available, retrying: %s", _root_cause(exc))
            _close_quietly(client)
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
                self._since = raw.get("timeNano", 0) / _NS or self._since
                event = _engine_event(raw)
                if self._stopped.is_set():
                    break
                if event is not None:
                    self._safe_deliver(event)
        except Exception as exc:
            log.info("Docker event stream interrupted: %s", _root_cause(exc))
        finally:
            with self._lock:
                self._release()

    def _release(self) -> None:
        """Close the current stream and its client (caller holds the lock)."""
        _close_quietly(self._stream)
        _close_quietly(self._client)
        self._stream = self._client = None

    def _safe_deliver(self, event: EngineEvent) -> None:
        try:
            self._deliver(event)
        except RuntimeError:  # the loop closed under us: nobody is listening any more
            self._stopped.set()

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            _close_quietly(self._stream)  # unblocks the reader thread


def _close_quietly(closable: Any) -> None:
    """Close a docker-py stream or client that may be None or already closed."""
    if closable is not None:
        with contextlib.suppress(Exception):
            closable.close()
