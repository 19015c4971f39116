"""A failing registry backs off (honouring Retry-After) without delaying the healthy one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from docker import DockerClient

from services.detect.poll_status import PollerOptions, SourceStatus
from services.store.models import utcnow
from tests.support.detection import deploys_of, detected
from tests.support.docker_env import async_wait_until
from tests.support.registry_server import RegistryServer, free_port
from tests.support.world import World, make_world


class StubRegistry:
    """A registry that answers every request with 429 (Retry-After 120), or never answers."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests = 0
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.requests += 1
                if stub.mode == "hang":
                    stub.release.wait(30)
                    return
                self.send_response(429)
                self.send_header("Retry-After", "120")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        return Handler

    def __enter__(self) -> StubRegistry:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
async def world(
    docker_client: DockerClient, registry: RegistryServer, tmp_path: Path
) -> AsyncIterator[World]:
    async with make_world(docker_client, registry, tmp_path) as built:
        built.settings.update_global(poll_interval=1)
        yield built


@pytest.fixture
def limiting() -> Iterator[StubRegistry]:
    with StubRegistry("429") as stub:
        yield stub


@pytest.fixture
def hanging() -> Iterator[StubRegistry]:
    with StubRegistry("hang") as stub:
        yield stub


def _project_on(world: World, name: str, host: str) -> None:
    registry = world.registries.create(name=name, url=f"http://{host}")
    project = world.projects.create(
        name=f"{name}-app", registry_id=registry.id, image=f"{host}/team/app"
    )
    assert project.id is not None
    world.projects.add_stage(project.id, name="dev", tag_pattern="dev-*", auto_deploy=True)


def _state(world: World, detection: Any, label: str) -> SourceStatus:
    return next(s for s in detection.poller.status().sources if s.label == label)


async def test_an_unreachable_registry_backs_off_exponentially(world: World) -> None:
    _project_on(world, "dead", f"127.0.0.1:{free_port()}")
    async with detected(world, PollerOptions(backoff_max=10)) as detection:
        first = await detection.poller.poll_once()
        dead = _state(world, detection, "dead")
        assert "dead" in first.errors and dead.failures == 1 and dead.last_error
        assert _state(world, detection, "test").ok  # the healthy registry was polled
        assert dead.next_at is not None and dead.next_at - utcnow() <= timedelta(seconds=1.1)

        skipped = await detection.poller.poll_once(only_due=True)
        assert "dead" not in skipped.errors and _state(world, detection, "dead").failures == 1

        await detection.poller.poll_once()
        again = _state(world, detection, "dead")
    assert again.failures == 2
    assert again.next_at is not None
    assert timedelta(seconds=1.5) < again.next_at - utcnow() <= timedelta(seconds=2.1)


async def test_a_429_is_honoured_with_its_retry_after(world: World, limiting: StubRegistry) -> None:
    _project_on(world, "busy", limiting.host)
    async with detected(world, PollerOptions(backoff_max=600)) as detection:
        report = await detection.poller.poll_once()
        busy = _state(world, detection, "busy")
    assert "rate limit" in report.errors["busy"]
    assert busy.next_at is not None and busy.next_at - utcnow() > timedelta(seconds=100)
    assert limiting.requests == 1  # the registry is spared until then


async def test_a_hanging_registry_does_not_delay_the_others(
    world: World, hanging: StubRegistry
) -> None:
    _project_on(world, "slow", hanging.host)
    options = PollerOptions(stop_grace=0.2, idle_wake=0.2)
    async with detected(world, options) as detection:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop().create_task(detection.poller.run(stop))
        await async_wait_until(
            lambda: _polled_ok(world, detection, "test"), timeout=10, message="no baseline"
        )
        await world.push("dev-1")
        await async_wait_until(
            lambda: _deployed(world), timeout=10, message="the new tag was not picked up"
        )
        slow = _state(world, detection, "slow")
        assert hanging.requests >= 1 and slow.last_ok is None and slow.failures == 0  # still stuck

        stop.set()
        await asyncio.wait_for(loop, 5)  # stops cleanly, cancelling the stuck poll
    assert loop.exception() is None


async def _polled_ok(world: World, detection: Any, label: str) -> bool:
    states = [s for s in detection.poller.status().sources if s.label == label]
    return bool(states) and states[0].last_ok is not None


async def _deployed(world: World) -> bool:
    return bool(await asyncio.to_thread(deploys_of, world))
