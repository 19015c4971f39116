"""The dashboard in a simulated browser over a real installation (engine, registry, SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from docker import DockerClient

from tests.support.registry_server import RegistryServer
from tests.support.ui_site import UiSite, assert_no_error_logs, ui_site
from tests.support.world import make_world


@pytest.fixture
async def site(
    docker_client: DockerClient,
    registry: RegistryServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[UiSite]:
    async with make_world(docker_client, registry, tmp_path) as world, ui_site(world) as built:
        yield built
    assert_no_error_logs(caplog)


async def test_dashboard_lists_the_project_with_its_lights(site: UiSite) -> None:
    await site.user.open("/")
    await site.user.should_see(site.world.project.name)
    await site.user.should_see("No deploys yet")
    await site.user.should_see("0 healthy")
