"""Deciding whether a freshly started container is healthy.

Three modes, picked in this order:

* **http** (the project has a health-check path): GET `http://<address>:<port><path>`. The first
  probe goes out at once (`first_probe`, 0 s: a probe refused on the local bridge costs about a
  millisecond) and, while the app does not answer yet (connection refused, reset or timed out:
  it is still starting), the pause starts at STARTING_POLL_MIN (5 ms) and doubles up to
  `interval` but never beyond STARTING_POLL_MAX (1 s, so an app up after 3 s is seen within a
  second), so a fast app is declared healthy within milliseconds of its start. A 2xx/3xx
  answer (redirects are not followed) is success at once. Once the app has answered HTTP at
  least once, every failed probe (another status, or no answer any more) counts, and probes are
  spaced by `interval`: `retries` consecutive failed probes fail the check.
* **docker** (no path, the image has a HEALTHCHECK): poll Docker's own health status until it
  says healthy or unhealthy.
* **running** (neither): the container must keep running for `stable_for` seconds.

In every mode the check also fails when the overall deadline
`start_period + retries × (interval + timeout)` passes (55 s with the defaults), and fails at
once when the container stops running (exited, dead, restarting, or restarted by its restart
policy), reporting the exit code and the last log lines. Engine failures other than a vanished
container (CannotConnect, Timeout) propagate to the caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import httpx

from services.errors import NotFound
from services.fields import PROJECT_DEFAULTS
from services.types import ContainerInfo

log = logging.getLogger(__name__)
Mode = Literal["http", "docker", "running"]
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
LOG_TAIL = 20
DOCKER_POLL_MAX = 1.0
STARTING_POLL_MIN = 0.005  # first pause after a refused probe; doubles from there
STARTING_POLL_MAX = 1.0  # longest pause between probes while the app is still starting
MIN_PROBE_TIMEOUT = 0.05  # a probe sent just before the deadline still gets this long
RUNNING_POLL = 0.25


class ContainerSource(Protocol):
    """What the checker needs from the engine (`DockerEngine` fits; tests pass a fake)."""

    async def get(self, id_or_name: str) -> ContainerInfo: ...

    async def logs(self, container_id: str, tail: int = 200) -> str: ...

    async def last_exit_code(self, container_id: str) -> int | None: ...


@dataclass(frozen=True)
class HealthPolicy:
    """How to judge health; durations in seconds.

    Defaults: a project's health-check settings when not given (3 retries, 5 s apart, 10 s
    timeout each; `services.fields`), the first probe at once.
    """

    path: str | None = PROJECT_DEFAULTS.healthcheck
    retries: int = PROJECT_DEFAULTS.healthcheck_retries
    interval: float = PROJECT_DEFAULTS.healthcheck_interval
    timeout: float = PROJECT_DEFAULTS.healthcheck_timeout
    start_period: float = 10.0
    stable_for: float = 2.0
    first_probe: float = 0.0

    @property
    def deadline(self) -> float:
        """Seconds after which the check fails whatever the mode."""
        return self.start_period + self.retries * (self.interval + self.timeout)


@dataclass(frozen=True)
class HealthResult:
    """The verdict: `reason` is one line for the deploy log (plus log lines when it exited)."""

    ok: bool
    reason: str
    probes: int
    elapsed: float
    mode: Mode = "http"


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    answered: bool
    text: str


class _Attempt:
    """The bookkeeping of one `wait_healthy` call: clock, probe count, log, container watch."""

    def __init__(
        self,
        checker: HealthChecker,
        container_id: str,
        policy: HealthPolicy,
        mode: Mode,
        on_log: Callable[[str], None] | None,
        initial: ContainerInfo | None = None,
    ) -> None:
        self.checker, self.container_id, self.policy, self.mode = (
            checker,
            container_id,
            policy,
            mode,
        )
        self._on_log = on_log
        self._initial = initial
        self.started = checker.clock()
        self.probes = 0

    def elapsed(self) -> float:
        return self.checker.clock() - self.started

    def remaining(self) -> float:
        return self.policy.deadline - self.elapsed()

    def log(self, text: str) -> None:
        log.debug("health %s: %s", self.container_id[:12], text)
        if self._on_log is not None:
            self._on_log(text)

    def done(self, ok: bool, reason: str) -> HealthResult:
        self.log(("healthy: " if ok else "unhealthy: ") + reason)
        return HealthResult(ok, reason, self.probes, round(self.elapsed(), 3), self.mode)

    async def pause(self, seconds: float) -> None:
        """Sleep, but never past the deadline (the next check then sees it expired)."""
        await self.checker.sleep(max(0.0, min(seconds, self.remaining())))

    async def inspect(self) -> ContainerInfo | HealthResult:
        """The container's state, or a failed result when it vanished or stopped running.

        The first time, a state the caller already had (read right after the start) is used.
        """
        info, self._initial = self._initial, None
        try:
            info = info or await self.checker.engine.get(self.container_id)
        except NotFound:
            return self.done(False, "the container disappeared")
        if info.running and info.restart_count == 0:
            return info
        return self.done(False, await self._stopped_reason(info))

    async def _stopped_reason(self, info: ContainerInfo) -> str:
        engine = self.checker.engine
        if info.running:
            code = await engine.last_exit_code(self.container_id)
            times = f"restarted {info.restart_count} time(s)"
            what = f"the container crashed (exit code {_code(code)}) and was {times}"
        else:
            what = f"the container stopped ({info.status}, exit code {_code(info.exit_code)})"
        tail = (await engine.logs(self.container_id, tail=LOG_TAIL)).rstrip()
        return f"{what}; last log lines:\n{tail}" if tail else f"{what}; it logged nothing"


class HealthChecker:
    """Waits until a container is healthy or clearly is not; see the module doc for the rules."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        engine: ContainerSource,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        """`http` should not use environment proxies (`trust_env=False`): probes go straight
        to container addresses. `sleep` and `clock` are injectable for tests."""
        self.http, self.engine, self.sleep, self.clock = http, engine, sleep, clock

    async def wait_healthy(
        self,
        container_id: str,
        *,
        address: str,
        port: int,
        policy: HealthPolicy,
        image_has_healthcheck: bool,
        on_log: Callable[[str], None] | None = None,
        started: ContainerInfo | None = None,
    ) -> HealthResult:
        """Judge the container; never raises for an unhealthy app, only for an engine failure.

        `address` is how this process reaches the container (see `address_of`); `port` is
        the container's own port (not a published one). `on_log` receives one line per probe.
        `started` is the state read right after starting it, which spares the first HTTP
        probe an inspect (a few ms of engine time on the deploy's critical path).
        """
        if policy.path:
            attempt = _Attempt(self, container_id, policy, "http", on_log, started)
            return await self._http(attempt, probe_url(address, port, policy.path))
        if image_has_healthcheck:
            return await self._docker(_Attempt(self, container_id, policy, "docker", on_log))
        return await self._running(_Attempt(self, container_id, policy, "running", on_log))

    async def _http(self, attempt: _Attempt, url: str) -> HealthResult:
        policy, answered, failures, delay = attempt.policy, False, 0, attempt.policy.first_probe
        attempt.log(f"probing {url}")
        while True:
            await attempt.pause(delay)
            info = await attempt.inspect()
            if isinstance(info, HealthResult):
                return info
            outcome = await self._probe(url, attempt)
            if outcome.ok:
                return attempt.done(True, f"{outcome.text} from {url}")
            answered = answered or outcome.answered
            failures += 1 if answered else 0
            attempt.log(f"probe {attempt.probes}: {outcome.text}")
            if failures >= policy.retries:
                return attempt.done(False, f"{failures} failed probes, last: {outcome.text}")
            if attempt.remaining() <= 0:
                return attempt.done(False, _late(policy, outcome.text))
            delay = policy.interval if answered else _backed_off(delay, policy.interval)

    async def _probe(self, url: str, attempt: _Attempt) -> _Outcome:
        """One GET; `answered` says the app spoke HTTP (not refused or silent)."""
        attempt.probes += 1
        timeout = max(min(attempt.policy.timeout, attempt.remaining()), MIN_PROBE_TIMEOUT)
        try:
            response = await self.http.get(url, timeout=timeout, follow_redirects=False)
        except httpx.TimeoutException:
            return _Outcome(False, False, f"no answer within {timeout:g} s")
        except httpx.HTTPError as exc:
            return _Outcome(False, False, f"cannot connect ({exc or type(exc).__name__})")
        return _Outcome(200 <= response.status_code < 400, True, f"HTTP {response.status_code}")

    async def _docker(self, attempt: _Attempt) -> HealthResult:
        delay = attempt.policy.first_probe
        attempt.log("waiting for Docker's HEALTHCHECK status")
        while True:
            await attempt.pause(delay)
            info = await attempt.inspect()
            if isinstance(info, HealthResult):
                return info
            attempt.probes += 1
            if info.health in ("healthy", "unhealthy"):
                return attempt.done(info.health == "healthy", _docker_reason(info))
            if attempt.remaining() <= 0:
                return attempt.done(False, _late(attempt.policy, f"Docker says {info.health}"))
            delay = _backed_off(delay, min(DOCKER_POLL_MAX, attempt.policy.interval))

    async def _running(self, attempt: _Attempt) -> HealthResult:
        stable_for = attempt.policy.stable_for
        attempt.log(f"no health check: the container must keep running for {stable_for:g} s")
        while True:
            info = await attempt.inspect()
            if isinstance(info, HealthResult):
                return info
            attempt.probes += 1
            left = stable_for - attempt.elapsed()
            if left <= 0:
                return attempt.done(True, f"still running after {stable_for:g} s")
            await self.sleep(min(left, RUNNING_POLL))


def _backed_off(delay: float, cap: float) -> float:
    """The next pause while waiting for a start: doubled, at least the minimum, at most `cap`."""
    return min(max(delay * 2, STARTING_POLL_MIN), cap, STARTING_POLL_MAX)


def probe_url(address: str, port: int, path: str) -> str:
    """`http://address:port/path`, with IPv6 addresses bracketed and a leading `/` ensured."""
    host = f"[{address}]" if ":" in address and not address.startswith("[") else address
    return f"http://{host}:{port}/{path.lstrip('/')}"


def _code(code: int | None) -> str:
    return "unknown" if code is None else str(code)


def _late(policy: HealthPolicy, last: str) -> str:
    return f"not healthy within {policy.deadline:g} s, last: {last}"


def _docker_reason(info: ContainerInfo) -> str:
    """Docker's verdict; when unhealthy, with its last probe output (the why)."""
    output = info.health_output if info.health == "unhealthy" else None
    return f"Docker HEALTHCHECK reports {info.health}" + (f": {output}" if output else "")


def address_of(info: ContainerInfo, network: str, *, in_network: bool) -> str:
    """How this process reaches the container `info` describes on `network`.

    Inside that network (the watcher runs as a container attached to it) the container's name
    resolves through Docker's DNS; from the host, the bridge address is reachable directly.
    A container that already stopped has no address: its name is returned, and
    `wait_healthy` then reports the exit (with code and logs) before probing anything.
    NotFound when a running container is not attached to `network`.
    """
    address = info.ip_by_network.get(network)
    if info.running and not address:
        raise NotFound(f"container {info.name} is not attached to network {network}")
    return info.name if in_network or not address else address
