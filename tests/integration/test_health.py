"""HealthChecker against real containers of the shared test images on a real bridge network."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from docker import DockerClient

from services.deploy.health import HealthChecker, HealthPolicy, HealthResult, address_of
from services.docker_engine import DockerEngine
from services.types import ContainerSpec, labels_for
from tests.support.docker_env import DockerResources
from tests.support.images import build_test_image

FAST = HealthPolicy(path="/health", retries=3, interval=0.5, timeout=2.0, start_period=10.0)
Run = Callable[..., Awaitable[tuple[HealthResult, float]]]


@pytest.fixture
async def engine() -> AsyncIterator[DockerEngine]:
    engine = DockerEngine()
    yield engine
    await engine.close()


@pytest.fixture
async def network(
    engine: DockerEngine, docker_client: DockerClient, docker_resources: DockerResources
) -> str:
    name = f"dwt-health-{uuid.uuid4().hex[:10]}"
    docker_resources.add_network(docker_client, await engine.ensure_network(name))
    return name


@pytest.fixture
def run(
    engine: DockerEngine,
    network: str,
    docker_client: DockerClient,
    docker_resources: DockerResources,
    test_session_label: dict[str, str],
) -> Run:
    """Build `variant`, start it like a deploy does, and wait for health: (result, seconds
    from the start request to the verdict)."""

    async def run(variant: str, policy: HealthPolicy) -> tuple[HealthResult, float]:
        ref = f"dw-test/health-{variant}:{uuid.uuid4().hex[:10]}"
        build_test_image(docker_client, ref, variant=variant)
        has_healthcheck = (await engine.inspect_image(ref)).has_healthcheck
        labels = {**labels_for("health", "dev", variant, 1, 1), **test_session_label}
        spec = ContainerSpec(
            name=f"dwt-{variant}-{uuid.uuid4().hex[:8]}", image=ref, labels=labels,
            network=network, port=8080,
        )  # fmt: skip
        started = time.monotonic()
        info = await engine.create_and_start(spec)
        docker_resources.add_container(docker_client, info.id)
        address = address_of(info, network, in_network=False)
        async with httpx.AsyncClient(trust_env=False) as http:
            result = await HealthChecker(http, engine).wait_healthy(
                info.id, address=address, port=8080, policy=policy,
                image_has_healthcheck=has_healthcheck,
            )  # fmt: skip
        return result, time.monotonic() - started

    return run


async def test_ok_image_is_healthy_over_http_well_under_a_second(
    run: Run, record_property: Callable[[str, object], None]
) -> None:
    result, total = await run("ok", FAST)
    record_property("start_to_healthy_s", round(total, 3))
    print(f"ok image: create+start → healthy {total:.3f} s, check alone {result.elapsed:.3f} s")
    assert result.ok and result.mode == "http", result.reason
    assert result.reason.startswith("HTTP 200 from http://")
    assert result.probes <= 3  # answered at one of the first, early probes (speed: see bench/)


async def test_unhealthy_image_fails_after_its_retries(run: Run) -> None:
    result, _ = await run("unhealthy", FAST)
    assert not result.ok
    assert result.reason == "3 failed probes, last: HTTP 404"
    assert result.probes == 3


async def test_exiting_container_fails_at_once_with_exit_code_and_logs(run: Run) -> None:
    result, total = await run("exits", FAST)
    print(f"exiting image: failed {total:.3f} s after start: {result.reason!r}")
    assert not result.ok
    assert "(exit code 3)" in result.reason or ", exit code 3)" in result.reason
    assert result.reason.rstrip().endswith("bye")
    assert result.reason.startswith(("the container stopped", "the container crashed"))  # not late


async def test_slow_start_image_becomes_healthy_once_it_answers(run: Run) -> None:
    result, total = await run("slow", FAST)
    print(f"slow image (sleep 3): start → healthy in {total:.3f} s ({result.probes} probes)")
    assert result.ok, result.reason
    assert total >= 3.0  # it cannot answer sooner than 3 s after the start request
    assert result.probes >= 5  # refusals while starting did not count as failed retries


async def test_docker_healthcheck_mode_follows_the_engine_status(run: Run) -> None:
    result, total = await run("ok", HealthPolicy(path=None, start_period=10.0))
    print(f"ok image, Docker HEALTHCHECK (1 s interval): healthy in {total:.3f} s")
    assert (result.ok, result.mode) == (True, "docker"), result.reason
    assert result.reason == "Docker HEALTHCHECK reports healthy"


async def test_docker_healthcheck_mode_reports_unhealthy_with_the_probe_output(run: Run) -> None:
    result, _ = await run("unhealthy", HealthPolicy(path=None, start_period=10.0))
    assert (result.ok, result.mode) == (False, "docker")
    assert result.reason.startswith("Docker HEALTHCHECK reports unhealthy")
    assert "404" in result.reason


async def test_running_mode_accepts_a_container_that_stays_up(run: Run) -> None:
    result, _ = await run("nohealth", HealthPolicy(path=None, stable_for=1.0))
    assert (result.ok, result.mode, result.reason) == (True, "running", "still running after 1 s")


async def test_running_mode_rejects_a_container_that_exits(run: Run) -> None:
    result, _ = await run("exits", HealthPolicy(path=None, stable_for=2.0))
    assert (result.ok, result.mode) == (False, "running")
    assert result.reason.startswith(("the container stopped", "the container crashed"))
    assert "bye" in result.reason
