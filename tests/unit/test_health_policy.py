"""Health-check rules with a fake clock, a fake engine and httpx.MockTransport (no Docker)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from services.deploy.health import (
    HealthChecker,
    HealthPolicy,
    HealthResult,
    address_of,
    probe_url,
)
from services.errors import NotFound
from services.types import ContainerInfo

RUNNING = ContainerInfo(
    id="c1", name="web-dev-1", image="img", image_id="sha256:1", status="running",
    ip_by_network={"staging-net": "172.20.0.5"},
)  # fmt: skip
POLICY = HealthPolicy(path="/health", retries=3, interval=5.0, timeout=10.0, start_period=10.0)


class FakeClock:
    """Time that moves only when the checker sleeps or a fake probe takes time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class FakeEngine:
    """Serves container states in order (the last one repeats) and a fixed log."""

    states: list[ContainerInfo | Exception] = field(default_factory=lambda: [RUNNING])
    log_text: str = "starting\nboom: port in use\n"
    calls: int = 0

    async def get(self, id_or_name: str) -> ContainerInfo:
        state = self.states[min(self.calls, len(self.states) - 1)]
        self.calls += 1
        if isinstance(state, Exception):
            raise state
        return state

    async def logs(self, container_id: str, tail: int = 200) -> str:
        return self.log_text

    async def last_exit_code(self, container_id: str) -> int | None:
        return 139


Handler = Callable[[httpx.Request], httpx.Response]


def replies(*steps: int | type[Exception]) -> Iterator[int | type[Exception]]:
    """A probe script: HTTP status codes or httpx exception types; the last step repeats."""
    yield from steps
    while True:
        yield steps[-1]


def make_checker(
    clock: FakeClock, engine: FakeEngine, script: Iterator[int | type[Exception]]
) -> tuple[HealthChecker, list[str]]:
    urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        step = next(script)
        if isinstance(step, int):
            return httpx.Response(step, headers={"Location": "/login"})
        if issubclass(step, httpx.TimeoutException):
            clock.now += request.extensions["timeout"]["read"]
        raise step("simulated", request=request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return HealthChecker(http, engine, sleep=clock.sleep, clock=clock), urls


async def check(
    script: Iterator[int | type[Exception]],
    *,
    engine: FakeEngine | None = None,
    policy: HealthPolicy = POLICY,
    has_healthcheck: bool = False,
    started: ContainerInfo | None = None,
) -> tuple[HealthResult, FakeClock, list[str], list[str]]:
    clock, lines = FakeClock(), list[str]()
    checker, urls = make_checker(clock, engine or FakeEngine(), script)
    result = await checker.wait_healthy(
        "c1", address="172.20.0.5", port=8080, policy=policy,
        image_has_healthcheck=has_healthcheck, on_log=lines.append, started=started,
    )  # fmt: skip
    await checker.http.aclose()
    return result, clock, urls, lines


async def test_fast_app_is_healthy_at_the_first_probe_sent_at_once() -> None:
    result, clock, urls, lines = await check(replies(200))
    assert (result.ok, result.probes, result.elapsed, result.mode) == (True, 1, 0.0, "http")
    assert clock.sleeps == [0.0]
    assert urls == ["http://172.20.0.5:8080/health"]
    assert lines[-1] == "healthy: HTTP 200 from http://172.20.0.5:8080/health"


async def test_refusals_while_starting_back_off_from_5_ms_and_do_not_count_as_retries() -> None:
    script = replies(httpx.ConnectError, httpx.ConnectError, httpx.ConnectError, 200)
    result, clock, _, lines = await check(script)
    assert result.ok and result.probes == 4
    assert clock.sleeps == [0.0, 0.005, 0.01, 0.02]  # 3 refusals < retries, yet still healthy
    assert result.elapsed == pytest.approx(0.035)
    assert "probe 1: cannot connect (simulated)" in lines


async def test_refusal_back_off_is_capped_while_the_app_starts() -> None:
    script = replies(*[httpx.ConnectError] * 9, 204)
    result, clock, _, _ = await check(script)
    assert result.ok
    assert clock.sleeps == [0.0, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.0]


async def test_always_500_fails_after_retries_probes_spaced_by_interval() -> None:
    result, clock, urls, _ = await check(replies(500))
    assert not result.ok
    assert result.reason == "3 failed probes, last: HTTP 500"
    assert len(urls) == 3 and result.probes == 3
    assert clock.sleeps == [0.0, 5.0, 5.0]


async def test_failures_count_only_after_the_app_first_answered() -> None:
    script = replies(httpx.ConnectError, httpx.ConnectError, 503, httpx.ConnectError)
    result, clock, _, _ = await check(script)
    assert not result.ok
    assert result.probes == 5  # two refusals while starting, then 503 + two refusals
    assert result.reason == "3 failed probes, last: cannot connect (simulated)"
    assert clock.sleeps == [0.0, 0.005, 0.01, 5.0, 5.0]


async def test_redirect_counts_as_healthy_and_is_not_followed() -> None:
    result, _, urls, _ = await check(replies(302))
    assert result.ok and result.reason.startswith("HTTP 302")
    assert len(urls) == 1


async def test_an_app_that_never_answers_fails_at_the_deadline() -> None:
    result, _, _, _ = await check(replies(httpx.ConnectError))
    assert not result.ok
    assert POLICY.deadline == 55.0
    assert result.elapsed == pytest.approx(55.0)
    assert result.reason == "not healthy within 55 s, last: cannot connect (simulated)"


async def test_probe_timeouts_are_bounded_and_end_at_the_deadline() -> None:
    result, _, _, lines = await check(replies(httpx.ReadTimeout))
    assert not result.ok
    assert result.reason.startswith("not healthy within 55 s, last: no answer within ")
    assert "probe 1: no answer within 10 s" in lines
    assert result.elapsed == pytest.approx(55.0)  # the last probe's timeout shrank to fit


async def test_timeouts_after_answering_count_as_failed_probes() -> None:
    result, _, _, _ = await check(replies(500, httpx.ReadTimeout))
    assert not result.ok
    assert result.reason == "3 failed probes, last: no answer within 10 s"


async def test_exited_container_fails_at_once_with_exit_code_and_logs() -> None:
    exited = ContainerInfo(
        id="c1", name="web", image="img", image_id="i", status="exited", exit_code=3
    )
    result, _, urls, _ = await check(replies(httpx.ConnectError), engine=FakeEngine([exited]))
    assert not result.ok and urls == []
    assert result.reason.startswith("the container stopped (exited, exit code 3); last log lines:")
    assert result.reason.endswith("boom: port in use")
    assert result.elapsed == 0.0


async def test_state_read_at_start_spares_the_first_inspect() -> None:
    engine = FakeEngine()
    result, _, urls, _ = await check(replies(200), engine=engine, started=RUNNING)
    assert result.ok and len(urls) == 1
    assert engine.calls == 0


async def test_state_read_at_start_is_used_once_then_the_engine_is_asked() -> None:
    dead = ContainerInfo(id="c1", name="web", image="i", image_id="i", status="exited", exit_code=2)
    engine = FakeEngine([dead])
    result, _, urls, _ = await check(replies(httpx.ConnectError), engine=engine, started=RUNNING)
    assert not result.ok and "exit code 2" in result.reason
    assert len(urls) == 1 and engine.calls == 1


async def test_container_already_stopped_at_start_is_never_probed() -> None:
    dead = ContainerInfo(id="c1", name="web", image="i", image_id="i", status="exited", exit_code=1)
    result, _, urls, _ = await check(replies(200), started=dead)
    assert not result.ok and urls == [] and "exit code 1" in result.reason


async def test_container_dying_between_probes_stops_the_check() -> None:
    dead = ContainerInfo(id="c1", name="web", image="i", image_id="i", status="exited", exit_code=1)
    engine = FakeEngine([RUNNING, RUNNING, dead])
    result, _, urls, _ = await check(replies(httpx.ConnectError), engine=engine)
    assert not result.ok and len(urls) == 2
    assert "exit code 1" in result.reason


async def test_container_restarted_by_its_policy_counts_as_crashed() -> None:
    restarted = ContainerInfo(
        id="c1", name="web", image="i", image_id="i", status="running", restart_count=2
    )
    engine = FakeEngine([restarted], log_text="")
    result, _, _, _ = await check(replies(200), engine=engine)
    assert not result.ok
    assert result.reason == (
        "the container crashed (exit code 139) and was restarted 2 time(s); it logged nothing"
    )


async def test_vanished_container_fails() -> None:
    engine = FakeEngine([NotFound("no such container")])
    result, _, _, _ = await check(replies(200), engine=engine)
    assert (result.ok, result.reason) == (False, "the container disappeared")


def with_health(health: str, output: str | None = None) -> ContainerInfo:
    return ContainerInfo(
        id="c1", name="web", image="i", image_id="i", status="running", health=health,
        health_output=output,
    )  # fmt: skip


async def test_docker_mode_waits_for_healthy() -> None:
    engine = FakeEngine([with_health("starting")] * 3 + [with_health("healthy", "ok")])
    policy = HealthPolicy(path=None)
    result, clock, urls, _ = await check(
        replies(500), engine=engine, policy=policy, has_healthcheck=True
    )
    assert (result.ok, result.mode, result.probes) == (True, "docker", 4)
    assert result.reason == "Docker HEALTHCHECK reports healthy"  # output only when unhealthy
    assert urls == [] and clock.sleeps == [0.0, 0.005, 0.01, 0.02]


async def test_docker_mode_reports_unhealthy_with_the_probe_output() -> None:
    engine = FakeEngine([with_health("unhealthy", "wget: server returned error: 404")])
    result, _, _, _ = await check(
        replies(200), engine=engine, policy=HealthPolicy(), has_healthcheck=True
    )
    assert not result.ok
    assert result.reason == "Docker HEALTHCHECK reports unhealthy: wget: server returned error: 404"


async def test_docker_mode_polls_at_most_every_second_until_the_deadline() -> None:
    engine = FakeEngine([with_health("starting")])
    policy = HealthPolicy(retries=1, interval=2.0, timeout=1.0, start_period=0.0)
    result, clock, _, _ = await check(
        replies(200), engine=engine, policy=policy, has_healthcheck=True
    )
    assert not result.ok
    assert result.reason == "not healthy within 3 s, last: Docker says starting"
    assert max(clock.sleeps) == 1.0 and clock.now == pytest.approx(3.0)


async def test_running_mode_needs_the_container_to_stay_up() -> None:
    result, clock, urls, _ = await check(replies(500), policy=HealthPolicy(stable_for=2.0))
    assert (result.ok, result.mode, result.reason) == (True, "running", "still running after 2 s")
    assert urls == [] and clock.now == pytest.approx(2.0)
    assert max(clock.sleeps) == 0.25


async def test_running_mode_fails_when_the_container_exits() -> None:
    gone = ContainerInfo(id="c1", name="web", image="i", image_id="i", status="exited", exit_code=3)
    engine = FakeEngine([RUNNING, RUNNING, gone])
    result, _, _, _ = await check(replies(200), engine=engine, policy=HealthPolicy())
    assert not result.ok and "exit code 3" in result.reason


def test_probe_url_normalises_path_and_brackets_ipv6() -> None:
    assert probe_url("172.20.0.5", 3000, "api/health") == "http://172.20.0.5:3000/api/health"
    assert probe_url("fd00::5", 80, "/h?x=1") == "http://[fd00::5]:80/h?x=1"
    assert probe_url("web-dev-1", 8080, "/") == "http://web-dev-1:8080/"


def test_address_is_the_name_inside_the_network_else_the_ip() -> None:
    assert address_of(RUNNING, "staging-net", in_network=True) == "web-dev-1"
    assert address_of(RUNNING, "staging-net", in_network=False) == "172.20.0.5"
    with pytest.raises(NotFound, match="not attached to network other"):
        address_of(RUNNING, "other", in_network=False)


def test_address_of_a_stopped_container_is_its_name_for_the_check_to_judge() -> None:
    exited = ContainerInfo(id="c1", name="web", image="i", image_id="i", status="exited")
    assert address_of(exited, "staging-net", in_network=False) == "web"
