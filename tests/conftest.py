"""Shared fixtures: the real Docker Engine, real registries, and cleanup of what tests create.

Integration tests use the real services that scripts/test.sh installs and starts. A missing
service fails the test with how to fix it; nothing is skipped silently.
"""

from __future__ import annotations

import functools
import secrets
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from docker import DockerClient

from tests.support import docker_env
from tests.support.docker_env import SESSION_LABEL_KEY, DockerResources
from tests.support.registry_server import (
    RegistryServer,
    TokenRegistryServer,
    basic_auth_config,
    run_registry,
    token_auth_config,
)
from tests.support.token_server import TokenIssuer, TokenServer

INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration/ as ``integration`` (select with -m)."""
    for item in items:
        if item.path.is_relative_to(INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def test_session_label() -> dict[str, str]:
    """Label for containers/networks a test starts outside the helpers; removed at session end."""
    return {SESSION_LABEL_KEY: uuid.uuid4().hex}


@pytest.fixture(scope="session", autouse=True)
def _session_docker_resources() -> Iterator[DockerResources]:
    """The outermost ledger: objects made by session/module fixtures, and test leftovers."""
    scope = docker_env.open_scope()
    yield scope
    leftovers = docker_env.close_scope(scope)
    if leftovers:
        pytest.fail(f"Docker objects still in use at session end: {', '.join(leftovers)}")


@pytest.fixture(autouse=True)
def docker_resources() -> Iterator[DockerResources]:
    """This test's ledger; register objects the code under test created so they get removed."""
    scope = docker_env.open_scope()
    yield scope
    docker_env.close_scope(scope)


@pytest.fixture(scope="session")
def docker_client(
    _session_docker_resources: DockerResources, test_session_label: dict[str, str]
) -> Iterator[DockerClient]:
    """The real Engine (from the environment); fails, never skips, when it is unreachable."""
    client = docker_env.connect_docker()
    yield client
    session_id = test_session_label[SESSION_LABEL_KEY]
    docker_env.remove_labelled(client, session_id)
    # Still-in-use leftovers go back in the ledger, whose own teardown reports them.
    for entry in _session_docker_resources.remove_all():
        _session_docker_resources.add(*entry)
    docker_env.remove_labelled(client, session_id)  # networks freed by the ledger's containers
    client.close()


@contextmanager
def _registry_or_fail(workdir: Path, make_auth: Callable[[], dict[str, Any]]) -> Iterator[str]:
    """Run a registry for the block, turning a failed start into a test failure with its log."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(run_registry(workdir, make_auth()))
        except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
            problem = str(exc)
        else:
            yield url
            return
    pytest.fail(f"cannot start a test registry: {problem}", pytrace=False)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A real registry with htpasswd auth on a free port of 127.0.0.1."""
    workdir = tmp_path_factory.mktemp("registry")
    username, password = "tester", secrets.token_urlsafe(12)
    auth = functools.partial(basic_auth_config, workdir, username, password)
    with _registry_or_fail(workdir, auth) as url:
        host = url.removeprefix("http://")
        yield RegistryServer(url=url, host=host, username=username, password=password)


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistryServer]:
    """A real registry in bearer-token mode behind the tests' own token server."""
    workdir = tmp_path_factory.mktemp("token-registry")
    username, password = "token-tester", secrets.token_urlsafe(12)
    with TokenServer(TokenIssuer(users={username: password})) as tokens:
        bundle = tokens.write_bundle(workdir / "token-cert.pem")
        auth = functools.partial(token_auth_config, tokens.token_url, bundle)
        with _registry_or_fail(workdir, auth) as url:
            host = url.removeprefix("http://")
            yield TokenRegistryServer(url, host, username, password, tokens.token_url)
