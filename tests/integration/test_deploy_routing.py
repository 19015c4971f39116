"""Deploys routed through NPM (the emulator) and a real nginx to containers on the real engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from docker import DockerClient

from services.events import Event
from services.store.models import DeployStatus, InstanceStatus
from services.types import LABEL_TAG
from tests.support.npm_emulator import NpmEmulator
from tests.support.registry_server import RegistryServer
from tests.support.world import DOMAIN, World, make_routed_world

pytest_plugins = ["tests.support.npm_fixtures"]


@pytest.fixture
async def world(
    docker_client: DockerClient,
    registry: RegistryServer,
    tmp_path: Path,
    npm_emulator: NpmEmulator,
) -> AsyncIterator[World]:
    async with make_routed_world(docker_client, registry, tmp_path, npm_emulator) as built:
        yield built


def default_domain(world: World, stage: str = "dev") -> str:
    return f"stage-{stage}-{world.project.name}.{DOMAIN}"


def tag_domain(world: World, tag: str, stage: str = "dev") -> str:
    return f"stage-{stage}-{world.project.name}-{tag.replace('.', '-')}.{DOMAIN}"


async def via_proxy(npm: NpmEmulator, host: str, path: str = "/tag.txt") -> httpx.Response:
    return await asyncio.to_thread(npm.get_via_proxy, host, path)


def domains(npm: NpmEmulator) -> set[str]:
    return {d for host in npm.live_hosts() for d in host["domain_names"]}


async def test_deploy_answers_through_nginx_at_both_subdomains(
    world: World, npm_emulator: NpmEmulator
) -> None:
    await world.push("dev-1")
    deploy = await world.deploy("dev-1")

    assert deploy.status == DeployStatus.SUCCEEDED, deploy.error
    assert "route" in world.step_names(deploy)
    for host in (tag_domain(world, "dev-1"), default_domain(world)):
        answer = await via_proxy(npm_emulator, host)
        assert answer.status_code == 200 and answer.text.strip().endswith("dev-1"), host
    (instance,) = world.live()
    assert set(instance.proxy_host_ids) == {tag_domain(world, "dev-1"), default_domain(world)}
    assert instance.url == f"http://{tag_domain(world, 'dev-1')}"
    assert all(h["meta"].get("managed_by") == "docker-watcher" for h in npm_emulator.live_hosts())


async def test_the_new_tags_host_is_made_while_the_container_starts(
    world: World, npm_emulator: NpmEmulator
) -> None:
    """The tag's own host is written beside the health check; the default waits for health."""
    await world.push("dev-1")
    await world.deploy("dev-1")
    await world.push("dev-2", variant="slow")  # answers only after 3 s
    seen_while_starting: list[set[str]] = []

    async def watch_hosts_until_healthy() -> None:
        while not any(
            i.tag == "dev-2" and i.status == InstanceStatus.HEALTHY for i in world.live()
        ):
            seen_while_starting.append(domains(npm_emulator))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch_hosts_until_healthy())
    deploy = await world.deploy("dev-2")
    await watcher

    assert deploy.status == DeployStatus.SUCCEEDED, deploy.error
    assert any(tag_domain(world, "dev-2") in hosts for hosts in seen_while_starting)
    first = world.deploys.steps(deploy.id or 0)
    started = {s.name: s.started_at for s in first}
    finished = {s.name: s.finished_at for s in first}
    assert finished["route"] is not None and finished["health"] is not None
    assert finished["route"] < finished["health"] <= started["switch"]
    default = await via_proxy(npm_emulator, default_domain(world))
    assert default.text.strip().endswith("dev-2")


async def test_a_failed_health_check_removes_the_early_tag_host(
    world: World, npm_emulator: NpmEmulator
) -> None:
    await world.push("dev-1")
    await world.deploy("dev-1")
    await world.push("dev-2", variant="unhealthy")

    failed = await world.deploy("dev-2")

    assert failed.status == DeployStatus.FAILED and failed.step == "health"
    assert "route" in world.step_names(failed)  # the tag's host was made, then undone
    assert domains(npm_emulator) == {default_domain(world), tag_domain(world, "dev-1")}


async def test_oldest_removed_with_its_proxy_host_and_default_on_newest(
    world: World, npm_emulator: NpmEmulator
) -> None:
    for tag in ("dev-1", "dev-2", "dev-3"):
        await world.push(tag)
        assert (await world.deploy(tag)).status == DeployStatus.SUCCEEDED

    assert domains(npm_emulator) == {
        default_domain(world),
        tag_domain(world, "dev-2"),
        tag_domain(world, "dev-3"),
    }
    assert (await via_proxy(npm_emulator, default_domain(world))).text.strip().endswith("dev-3")
    assert (await via_proxy(npm_emulator, tag_domain(world, "dev-2"))).status_code == 200
    gone = await via_proxy(npm_emulator, tag_domain(world, "dev-1"))
    assert not gone.text.strip().endswith("dev-1")


async def test_failed_health_keeps_previous_instance_serving(
    world: World, npm_emulator: NpmEmulator
) -> None:
    await world.push("dev-1")
    await world.deploy("dev-1")
    before = domains(npm_emulator)
    await world.push("dev-2", variant="unhealthy")

    failed = await world.deploy("dev-2")

    assert failed.status == DeployStatus.FAILED and failed.step == "health"
    assert domains(npm_emulator) == before
    assert (await via_proxy(npm_emulator, default_domain(world))).text.strip().endswith("dev-1")


async def test_npm_down_fails_before_starting_anything(
    world: World, npm_emulator: NpmEmulator
) -> None:
    await world.push("dev-1")
    await world.deploy("dev-1")
    await world.push("dev-2")
    npm_emulator.down()

    failed = await world.deploy("dev-2")

    assert failed.status == DeployStatus.FAILED and failed.step == "plan"
    assert "cannot" in (failed.error or "").lower() or "reach" in (failed.error or "").lower()
    assert [i.tag for i in world.live()] == ["dev-1"]
    assert [c.labels[LABEL_TAG] for c in world.containers()] == ["dev-1"]
    assert (await via_proxy(npm_emulator, default_domain(world))).text.strip().endswith("dev-1")


async def test_npm_rejecting_the_host_rolls_back(world: World, npm_emulator: NpmEmulator) -> None:
    await world.push("dev-1")
    await world.deploy("dev-1")
    await world.push("dev-2")
    npm_emulator.fail_next(400, "data/domain_names/0 must match pattern", method="POST")

    failed = await world.deploy("dev-2")

    assert failed.status == DeployStatus.FAILED and failed.step == "route"
    assert "must match pattern" in (failed.error or "")
    assert [i.tag for i in world.live()] == ["dev-1"]
    assert domains(npm_emulator) == {default_domain(world), tag_domain(world, "dev-1")}
    assert (await via_proxy(npm_emulator, default_domain(world))).text.strip().endswith("dev-1")


async def test_nginx_refusing_the_config_leaves_no_host_behind(
    world: World, npm_emulator: NpmEmulator
) -> None:
    await world.push("dev-1")
    await world.deploy("dev-1")
    await world.push("dev-2")
    npm_emulator.nginx_config_fails = True  # every host written from now on is refused by nginx

    failed = await world.deploy("dev-2")
    npm_emulator.nginx_config_fails = False

    assert failed.status == DeployStatus.FAILED and failed.step == "route"
    assert "unknown directive" in (failed.error or "")  # nginx's own text, through NPM
    (survivor,) = world.live()
    assert survivor.tag == "dev-1" and default_domain(world) in survivor.proxy_host_ids
    assert len(npm_emulator.live_hosts()) == 2


async def test_nginx_refusing_the_moved_default_fails_with_its_error_and_restores_it(
    world: World, npm_emulator: NpmEmulator
) -> None:
    await world.push("dev-1")
    await world.deploy("dev-1")
    (old,) = world.live()
    await world.push("dev-2")
    npm_emulator.reject_next_config(default_domain(world))  # NPM answers 200, nginx_online false

    failed = await world.deploy("dev-2")

    assert failed.status == DeployStatus.FAILED and failed.step == "switch"
    assert "nginx rejected its configuration" in (failed.error or "")
    assert "unknown directive" in (failed.error or "")  # nginx's own text, through NPM
    assert domains(npm_emulator) == {default_domain(world), tag_domain(world, "dev-1")}
    (default_host,) = [
        h for h in npm_emulator.live_hosts() if default_domain(world) in h["domain_names"]
    ]
    assert default_host["forward_host"] == old.container_name
    assert default_host["meta"]["nginx_online"] is True
    assert (await via_proxy(npm_emulator, default_domain(world))).text.strip().endswith("dev-1")
    assert [i.tag for i in world.live()] == ["dev-1"]


async def test_refused_update_of_the_default_keeps_it_on_the_old_instance(
    world: World, npm_emulator: NpmEmulator
) -> None:
    await world.push("dev-1")
    await world.deploy("dev-1")
    await world.push("dev-2")
    npm_emulator.fail_next(400, "data must NOT have additional properties", method="PUT")

    failed = await world.deploy("dev-2")

    assert failed.status == DeployStatus.FAILED and failed.step == "switch"
    assert domains(npm_emulator) == {default_domain(world), tag_domain(world, "dev-1")}
    (survivor,) = world.live()
    assert set(survivor.proxy_host_ids) == {default_domain(world), tag_domain(world, "dev-1")}
    assert (await via_proxy(npm_emulator, default_domain(world))).text.strip().endswith("dev-1")


async def test_foreign_proxy_host_is_a_clash_before_deploying(
    world: World, npm_emulator: NpmEmulator
) -> None:
    npm_emulator.add_host(
        {
            "domain_names": [default_domain(world)],
            "forward_scheme": "http",
            "forward_host": "someone-else",
            "forward_port": 80,
        }
    )
    await world.push("dev-1")

    failed = await world.deploy("dev-1")

    assert failed.status == DeployStatus.FAILED and failed.step == "plan"
    assert "did not create" in (failed.error or "")
    assert world.containers() == []
    foreign = [h for h in npm_emulator.live_hosts() if h["forward_host"] == "someone-else"]
    assert len(foreign) == 1  # untouched


async def test_redeploying_a_moved_tag_never_duplicates_hosts(
    world: World, npm_emulator: NpmEmulator
) -> None:
    await world.push("dev-1", marker="one")
    await world.deploy("dev-1")
    await world.push("dev-1", marker="two")

    assert (await world.deploy("dev-1")).status == DeployStatus.SUCCEEDED

    assert len(npm_emulator.live_hosts()) == 2
    assert (await via_proxy(npm_emulator, tag_domain(world, "dev-1"))).text.strip() == "two"


async def test_removing_the_default_holder_hands_the_default_over(
    world: World, npm_emulator: NpmEmulator
) -> None:
    for tag in ("dev-1", "dev-2"):
        await world.push(tag)
        await world.deploy(tag)
    newest = world.live()[-1]
    assert newest.id is not None

    await world.services.control.remove(newest.id)

    (remaining,) = world.live()
    assert remaining.tag == "dev-1" and default_domain(world) in remaining.proxy_host_ids
    assert (await via_proxy(npm_emulator, default_domain(world))).text.strip().endswith("dev-1")
    assert tag_domain(world, "dev-2") not in domains(npm_emulator)


async def test_blue_green_switch_keeps_the_stage_url_answering(
    world: World, npm_emulator: NpmEmulator
) -> None:
    await world.push("v1.0.0")
    assert (await world.deploy("v1.0.0", stage="rel")).status == DeployStatus.SUCCEEDED
    host = default_domain(world, "rel")
    assert (await via_proxy(npm_emulator, host)).status_code == 200
    failures: list[str] = []
    answers: list[str] = []
    stop = asyncio.Event()

    async def load() -> None:
        url = f"http://127.0.0.1:{npm_emulator.nginx_port}/tag.txt"
        async with httpx.AsyncClient() as client:
            while not stop.is_set():
                try:
                    # A fresh connection each time: nginx's graceful reload closes idle
                    # keep-alive connections (browsers retry those); what must never fail is
                    # a request sent while the upstream switches.
                    answer = await client.get(
                        url, headers={"Host": host, "Connection": "close"}, timeout=5
                    )
                    answers.append(answer.text.strip())
                    if answer.status_code != 200:
                        failures.append(str(answer.status_code))
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    runner = asyncio.create_task(load())
    await world.push("v1.1.0")
    switched = await world.deploy("v1.1.0", stage="rel")
    await asyncio.to_thread(npm_emulator.wait_for_nginx)
    await asyncio.sleep(0.3)
    stop.set()
    await runner

    assert switched.status == DeployStatus.SUCCEEDED, switched.error
    assert failures == [] and len(answers) > 20
    assert answers[0].endswith("v1.0.0") and answers[-1].endswith("v1.1.0")
    (instance,) = world.live("rel")
    assert instance.tag == "v1.1.0" and instance.status == InstanceStatus.HEALTHY


async def test_new_hosts_get_the_wildcard_and_the_stage_choice_wins(
    world: World, npm_emulator: NpmEmulator
) -> None:
    wildcard = npm_emulator.add_certificate([f"*.{DOMAIN}"], nice_name="wild")
    await world.push("dev-1")
    first = await world.deploy("dev-1")
    assert first.status == DeployStatus.SUCCEEDED, first.error
    certificates = {
        d: h["certificate_id"] for h in npm_emulator.live_hosts() for d in h["domain_names"]
    }
    assert certificates == {default_domain(world): wildcard, tag_domain(world, "dev-1"): wildcard}
    (instance,) = world.live()
    assert instance.url == f"https://{tag_domain(world, 'dev-1')}"

    settings_choice = npm_emulator.add_certificate(["settings.example.net"], nice_name="global")
    stage_choice = npm_emulator.add_certificate(["stage.example.net"], nice_name="stage")
    world.settings.update_npm(certificate_id=settings_choice)
    world.projects.update_stage(world.stage("dev").id, certificate_id=stage_choice)
    await world.push("dev-2")
    second = await world.deploy("dev-2")

    assert second.status == DeployStatus.SUCCEEDED, second.error
    hosts = {d: h["certificate_id"] for h in npm_emulator.live_hosts() for d in h["domain_names"]}
    assert hosts[tag_domain(world, "dev-2")] == stage_choice
    assert hosts[default_domain(world)] == stage_choice
    answer = await via_proxy(npm_emulator, default_domain(world))
    assert answer.text.strip().endswith("dev-2")


async def test_npm_gone_during_the_undo_leaves_the_clean_up_pending_until_it_is_back(
    world: World, npm_emulator: NpmEmulator
) -> None:
    await world.push("dev-1")
    await world.deploy("dev-1")
    await world.push("dev-2")
    npm_emulator.fail_next(400, "data must NOT have additional properties", method="PUT")

    def npm_goes_away(event: Event) -> None:  # as the failure is logged, before the undo
        if event.kind == "deploy.log" and event.data.get("level") == "error":
            npm_emulator.down()

    unsubscribe = world.services.bus.subscribe(npm_goes_away)
    try:
        failed = await world.deploy("dev-2")
    finally:
        unsubscribe()

    assert failed.id is not None and failed.step == "switch"  # moving the stage default
    lines = [line.message for line in world.deploys.log_lines(failed.id)]
    assert not any(line.startswith("rolled back") for line in lines), lines
    assert world.deploys.get(failed.id).cleanup_pending
    left = next(i for i in world.live() if i.tag == "dev-2")  # with its host, to find it again
    assert set(left.proxy_host_ids) == {tag_domain(world, "dev-2")}

    npm_emulator.up()
    assert await world.services.cleanup.finish_all() == [failed.id]  # what the retry runs

    assert [i.tag for i in world.live()] == ["dev-1"]
    assert [c.labels[LABEL_TAG] for c in world.containers()] == ["dev-1"]
    assert domains(npm_emulator) == {default_domain(world), tag_domain(world, "dev-1")}
    assert (await via_proxy(npm_emulator, default_domain(world))).text.strip().endswith("dev-1")
    lines = [line.message for line in world.deploys.log_lines(failed.id)]
    assert any(line.startswith("clean-up finished") for line in lines), lines
    assert not world.deploys.get(failed.id).cleanup_pending
