"""DockerEngine against the real Engine and a real htpasswd registry."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from docker import DockerClient

from services.docker_engine import DockerEngine
from services.errors import CannotConnect, Conflict, InvalidAuth, NotFound, UpstreamError
from services.types import (
    LABEL_MANAGED,
    LABEL_PROJECT,
    LABEL_STAGE,
    RESYNC_ACTION,
    ContainerInfo,
    ContainerSpec,
    EngineEvent,
    Mount,
    PullUpdate,
    labels_for,
)
from tests.support.docker_env import DockerResources, async_wait_until, create_container
from tests.support.images import build_test_image, push_test_image
from tests.support.registry_server import RegistryServer, free_port


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def engine() -> AsyncIterator[DockerEngine]:
    engine = DockerEngine()
    yield engine
    await engine.close()


@pytest.fixture
def project() -> str:
    """A project name of this test only, so label filters never see other tests' containers."""
    return unique("dwt")


@pytest.fixture
def image(docker_client: DockerClient) -> str:
    ref = f"dw-test/engine:{uuid.uuid4().hex[:10]}"
    build_test_image(docker_client, ref, variant="nohealth")
    return ref


@pytest.fixture
async def network(engine: DockerEngine, docker_resources: DockerResources,
                  docker_client: DockerClient) -> str:  # fmt: skip
    name = unique("dwt-net")
    docker_resources.add_network(docker_client, await engine.ensure_network(name))
    return name


@pytest.fixture
def start(
    engine: DockerEngine,
    docker_client: DockerClient,
    docker_resources: DockerResources,
    test_session_label: dict[str, str],
    image: str,
    project: str,
) -> Any:
    """Create and start a container through the engine, recorded for removal."""

    async def start(stage: str = "dev", **overrides: Any) -> ContainerInfo:
        labels = {**labels_for(project, stage, "t1", 1, 1), **test_session_label}
        spec = ContainerSpec(**{"name": unique("dwt-c"), "image": image, "labels": labels,
                                "port": 8080, **overrides})  # fmt: skip
        info = await engine.create_and_start(spec)
        docker_resources.add_container(docker_client, info.id)
        return info

    return start


async def test_ping_answers_the_engine_version(engine: DockerEngine) -> None:
    version = await engine.ping()
    assert version[0].isdigit() and "." in version


async def test_ensure_network_is_idempotent_also_when_racing(
    docker_client: DockerClient, docker_resources: DockerResources
) -> None:
    name = unique("dwt-net")
    engines = [DockerEngine() for _ in range(4)]  # separate locks: like separate processes
    try:
        ids = await asyncio.gather(*(e.ensure_network(name) for e in engines + engines))
        ids.append(await engines[0].ensure_network(name))
    finally:
        for found in docker_client.api.networks(names=[name]):
            docker_resources.add_network(docker_client, found["Id"])
        for engine in engines:
            await engine.close()
    same_name = [n for n in docker_client.api.networks(names=[name]) if n["Name"] == name]
    assert len(same_name) == 1
    assert set(ids) == {same_name[0]["Id"]}
    assert same_name[0]["Driver"] == "bridge"


async def test_create_and_start_applies_env_labels_mounts_network_and_aliases(
    start: Any, network: str, docker_client: DockerClient, tmp_path: Path, project: str
) -> None:
    (tmp_path / "hello.txt").write_text("from the host\n")
    mounts = (Mount(str(tmp_path), "/www/data"), Mount(str(tmp_path), "/ro", read_only=True))
    info = await start(
        env={"GREETING": "hi there", "EMPTY": ""},
        network=network,
        network_aliases=("web-alias",),
        mounts=mounts,
    )
    assert info.running and info.exit_code is None and info.started_at is not None
    assert info.labels[LABEL_PROJECT] == project and info.labels[LABEL_MANAGED] == "true"
    attrs = docker_client.api.inspect_container(info.id)
    assert {"GREETING=hi there", "EMPTY="} <= set(attrs["Config"]["Env"])
    assert attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert attrs["Config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert not attrs["HostConfig"]["PortBindings"]  # exposed on the network, never published
    assert {(m["Destination"], m["RW"]) for m in attrs["Mounts"]} == {
        ("/www/data", True), ("/ro", False)
    }  # fmt: skip
    assert "web-alias" in attrs["NetworkSettings"]["Networks"][network]["Aliases"]
    address = info.ip_by_network[network]
    async with httpx.AsyncClient(trust_env=False) as http:  # the host reaches bridge addresses
        answer = await http.get(f"http://{address}:8080/data/hello.txt", timeout=5)
    assert answer.text == "from the host\n"


async def test_a_missing_network_is_created_when_starting(
    engine: DockerEngine, start: Any, docker_client: DockerClient, docker_resources: DockerResources
) -> None:
    name = unique("dwt-net")
    try:
        info = await start(network=name)  # no ensure_network first: the start creates it
    finally:
        for made in docker_client.networks.list(names=[name]):
            docker_resources.add_network(docker_client, str(made.id))
    assert info.running and info.ip_by_network.get(name)
    assert [n.name for n in docker_client.networks.list(names=[name])] == [name]


async def test_stop_start_restart_and_remove(engine: DockerEngine, start: Any) -> None:
    info = await start()
    await engine.stop(info.id, timeout=0)  # busybox httpd ignores SIGTERM as PID 1
    stopped = await engine.get(info.id)
    assert (stopped.status, stopped.exit_code, stopped.running) == ("exited", 137, False)
    await engine.start(info.id)
    assert (await engine.get(info.id)).running
    before = (await engine.get(info.id)).started_at
    await engine.restart(info.id, timeout=0)
    restarted = await engine.get(info.id)
    assert restarted.running and before and restarted.started_at and restarted.started_at > before
    assert await engine.remove(info.id) is True
    assert await engine.remove(info.id) is False  # already gone: tolerated
    with pytest.raises(NotFound):
        await engine.get(info.id)
    with pytest.raises(NotFound):
        await engine.stop(info.id)


async def test_logs_return_stdout_and_stderr_tail(engine: DockerEngine, start: Any) -> None:
    script = "echo oops >&2; echo one; echo two; echo three; exec sleep 60"
    info = await start(command=("/bin/sh", "-c", script), port=None)

    async def logged() -> list[str]:
        lines = (await engine.logs(info.id)).splitlines()
        return lines if len(lines) == 4 else []

    lines = await async_wait_until(logged, timeout=10, message="four log lines")
    assert sorted(lines) == ["one", "oops", "three", "two"]  # two pipes: order may interleave
    assert lines.index("one") < lines.index("two") < lines.index("three")
    tail = (await engine.logs(info.id, tail=2)).splitlines()
    assert len(tail) == 2 and "three" in tail


async def test_list_managed_sees_all_states_and_filters_by_label(
    engine: DockerEngine,
    start: Any,
    project: str,
    image: str,
    docker_client: DockerClient,
    test_session_label: dict[str, str],
) -> None:
    dev, rel = await start("dev"), await start("rel")
    await engine.stop(rel.id, timeout=0)
    create_container(docker_client, image, labels={LABEL_PROJECT: project, **test_session_label})
    everything = await engine.list_managed({LABEL_PROJECT: project})
    assert {c.id: c.status for c in everything} == {dev.id: "running", rel.id: "exited"}
    only_dev = await engine.list_managed({LABEL_PROJECT: project, LABEL_STAGE: "dev"})
    assert [c.id for c in only_dev] == [dev.id]


async def test_create_refuses_a_missing_image_and_a_taken_name(
    engine: DockerEngine, start: Any
) -> None:
    with pytest.raises(NotFound, match="No such image"):
        await engine.create_and_start(ContainerSpec(name=unique("dwt-c"), image="dw-test/none:x"))
    info = await start()
    with pytest.raises(Conflict, match="already in use"):
        await start(name=info.name)


async def test_a_container_that_cannot_start_is_removed_again(
    engine: DockerEngine, start: Any, project: str
) -> None:
    with pytest.raises(UpstreamError, match="no such file or directory"):
        await start(command=("/does-not-exist",))
    assert await engine.list_managed({LABEL_PROJECT: project}) == []


async def test_inspect_image_reads_what_the_image_declares(
    engine: DockerEngine, docker_client: DockerClient
) -> None:
    ref = f"dw-test/inspect:{uuid.uuid4().hex[:10]}"
    image_id = build_test_image(docker_client, ref, variant="ok")
    info = await engine.inspect_image(ref)
    assert (info.id, info.exposed_ports, info.digest) == (image_id, (8080,), None)
    assert info.has_healthcheck and info.healthcheck and info.healthcheck.interval == 1.0
    assert info.labels["org.opencontainers.image.title"] == "demo"
    with pytest.raises(NotFound):
        await engine.inspect_image("dw-test/inspect:missing")


# ----- events -----------------------------------------------------------------------------------


class Collector:
    """Consumes `engine.events` in a task, keeping every event for the assertions."""

    def __init__(self, engine: DockerEngine, **kwargs: Any) -> None:
        self.events: list[EngineEvent] = []
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self._run(engine, kwargs))

    async def _run(self, engine: DockerEngine, kwargs: dict[str, Any]) -> None:
        async with contextlib.aclosing(engine.events(self.stop, **kwargs)) as stream:
            async for event in stream:
                self.events.append(event)

    async def seen(self, action: str, container_id: str = "") -> EngineEvent:
        async def found() -> EngineEvent | None:
            return next(
                (e for e in self.events if e.action == action and container_id in e.container_id),
                None,
            )

        return await async_wait_until(found, timeout=15, message=f"event {action}")

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout=5)  # ends promptly, thread included


async def test_events_report_a_stop_done_from_outside(
    engine: DockerEngine, start: Any, project: str, docker_client: DockerClient
) -> None:
    collector = Collector(engine, labels={LABEL_PROJECT: project}, since=datetime.now(UTC))
    try:
        info = await start()
        started = await collector.seen("start", info.id)
        assert started.name == info.name and started.labels[LABEL_PROJECT] == project
        await asyncio.to_thread(docker_client.api.stop, info.id, timeout=0)
        died = await collector.seen("die", info.id)
        assert died.exit_code == 137
        await collector.seen("stop", info.id)
        assert not [e for e in collector.events if e.action.startswith("exec_")]
    finally:
        await collector.close()


async def test_events_reconnect_and_ask_for_a_resync(start: Any, project: str) -> None:
    calls = 0

    def flaky_factory() -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise docker.errors.DockerException("engine restarting")
        return docker.from_env()

    engine = DockerEngine(client_factory=flaky_factory)
    collector = Collector(engine, labels={LABEL_PROJECT: project})
    try:
        await collector.seen(RESYNC_ACTION)
        info = await start()
        await collector.seen("start", info.id)
    finally:
        await collector.close()
        await engine.close()
    assert calls == 2


async def test_unreachable_engine_raises_cannot_connect_and_never_crashes() -> None:
    engine = DockerEngine("unix:///nonexistent.sock")  # lazy: constructing never connects
    with pytest.raises(CannotConnect) as caught:
        await engine.ping()
    assert str(caught.value).startswith("Docker Engine not reachable at unix:///nonexistent.sock: ")
    assert "No such file or directory" in str(caught.value)
    with pytest.raises(CannotConnect):
        await engine.list_managed()
    collector = Collector(engine)  # keeps retrying quietly until asked to stop
    await collector.close()
    assert collector.events == []
    await engine.close()


# ----- pulls ------------------------------------------------------------------------------------


@pytest.fixture
def pushed(docker_client: DockerClient, registry: RegistryServer) -> Iterator[tuple[str, str]]:
    """A fresh tag in the registry, gone from the local engine so a pull really downloads."""
    repo, tag = "dw-test/pull", uuid.uuid4().hex[:10]
    digest = push_test_image(docker_client, registry, repo, tag, variant="ok")
    ref = f"{registry.host}/{repo}:{tag}"
    docker_client.api.remove_image(ref)
    yield ref, digest


async def test_pull_downloads_reports_progress_and_returns_the_digest(
    engine: DockerEngine,
    registry: RegistryServer,
    pushed: tuple[str, str],
    docker_client: DockerClient,
    docker_resources: DockerResources,
) -> None:
    ref, digest = pushed
    updates: list[PullUpdate] = []
    info = await engine.pull(
        ref, auth=(registry.username, registry.password), progress=updates.append
    )
    docker_resources.add_image(docker_client, info.id)
    assert info.digest == digest
    assert info.exposed_ports == (8080,) and info.has_healthcheck
    statuses = [u.status for u in updates]
    assert "Pull complete" in statuses and f"Digest: {digest}" in statuses
    assert statuses.count("Downloading") <= 1  # byte-level ticks are coalesced per layer
    by_digest = await engine.pull(
        f"{ref.rsplit(':', 1)[0]}@{digest}", auth=(registry.username, registry.password)
    )
    assert (by_digest.id, by_digest.digest) == (info.id, digest)


@pytest.mark.parametrize("auth", [("tester", "wrong-password"), None])
async def test_pull_with_wrong_or_missing_credentials_is_invalid_auth(
    engine: DockerEngine, pushed: tuple[str, str], auth: tuple[str, str] | None
) -> None:
    ref, _ = pushed
    with pytest.raises(InvalidAuth, match=r"refused the credentials"):
        await engine.pull(ref, auth=auth)


async def test_pull_of_an_unknown_tag_is_not_found(
    engine: DockerEngine, registry: RegistryServer
) -> None:
    with pytest.raises(NotFound, match="manifest unknown"):
        await engine.pull(
            f"{registry.host}/dw-test/pull:no-such-tag",
            auth=(registry.username, registry.password),
        )


async def test_pull_from_an_unreachable_registry_is_cannot_connect(engine: DockerEngine) -> None:
    with pytest.raises(CannotConnect, match="connection refused"):
        await engine.pull(f"127.0.0.1:{free_port()}/dw-test/pull:1")
