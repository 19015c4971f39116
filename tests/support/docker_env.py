"""Docker Engine access for tests, and the ledger that removes exactly what the tests created.

Every helper that creates a container, image or network records its id in the ledger of the
current scope (one per test, one for the session). At the end of a scope those ids are removed;
an object still in use (an image under a running container, a network with endpoints) moves to
the enclosing scope and is retried there. Nothing is ever removed by name or pattern, so objects
that the tests did not create are never touched. A session-end safety net also removes containers
and networks labelled with this session's uuid (see ``SESSION_LABEL_KEY``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import docker
import docker.errors
import pytest
from docker import DockerClient
from docker.models.containers import Container
from docker.models.networks import Network

SESSION_LABEL_KEY = "docker-watcher.test-session"
"""Label key whose value is the pytest session's uuid; labelled leftovers are removed at the end."""

T = TypeVar("T")
Kind = Literal["container", "image", "network"]
_REMOVAL_ORDER: tuple[Kind, ...] = ("container", "image", "network")
_IN_USE_STATUSES = {403, 409}


def docker_host() -> str:
    """The Engine address docker-py will use, for error messages."""
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def connect_docker() -> DockerClient:
    """Connect to the Engine from the environment, or fail the test with how to fix it.

    Never skips: a missing Engine must show up as a red test, not a silently shorter run.
    """
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        problem = str(exc)  # failing outside the except keeps the report to one clear line
    else:
        return client
    pytest.fail(
        f"Docker Engine is not reachable at {docker_host()}: run scripts/test.sh as root "
        f"to install and start it ({problem})",
        pytrace=False,
    )


@dataclass(eq=False)  # scopes are told apart by identity: two empty ones are not "equal"
class DockerResources:
    """Ids of the Docker objects created in one scope, each with the client that created it."""

    entries: list[tuple[Kind, DockerClient, str]] = field(default_factory=list)

    def add(self, kind: Kind, client: DockerClient, object_id: str) -> None:
        """Record an object for removal at the end of this scope (duplicates are ignored)."""
        if not any(k == kind and i == object_id for k, _, i in self.entries):
            self.entries.append((kind, client, object_id))

    def add_container(self, client: DockerClient, container_id: str) -> None:
        """Record a container (e.g. one the code under test started) for removal."""
        self.add("container", client, container_id)

    def add_image(self, client: DockerClient, image_id: str) -> None:
        """Record an image for removal."""
        self.add("image", client, image_id)

    def add_network(self, client: DockerClient, network_id: str) -> None:
        """Record a network for removal."""
        self.add("network", client, network_id)

    def remove_all(self) -> list[tuple[Kind, DockerClient, str]]:
        """Remove containers, then images, then networks; return those still in use."""
        pending, self.entries = self.entries, []
        leftovers = []
        for kind in _REMOVAL_ORDER:
            for entry in [e for e in pending if e[0] == kind]:
                if not _remove(*entry):
                    leftovers.append(entry)
        return leftovers


def _remove(kind: Kind, client: DockerClient, object_id: str) -> bool:
    """Remove one object by id; False when the Engine says it is still in use."""
    try:
        if kind == "container":
            client.api.remove_container(object_id, force=True, v=True)
        elif kind == "image":
            client.api.remove_image(object_id, force=True)
        else:
            client.api.remove_network(object_id)
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError as exc:
        if exc.status_code in _IN_USE_STATUSES:
            return False
        raise
    return True


_scopes: list[DockerResources] = []
"""Open ledgers, innermost last. Test-process-wide on purpose: the image helpers have fixed
signatures ``(client, ref, ...)`` and must still record what they create."""


def open_scope() -> DockerResources:
    """Start a new innermost ledger (a test, or the session)."""
    scope = DockerResources()
    _scopes.append(scope)
    return scope


def close_scope(scope: DockerResources) -> list[str]:
    """Remove what the scope recorded; hand in-use leftovers to the enclosing scope.

    Returns a description of the leftovers when there is no enclosing scope to retry them.
    """
    _scopes.remove(scope)
    leftovers = scope.remove_all()
    if _scopes:
        for entry in leftovers:
            _scopes[-1].add(*entry)
        return []
    return [f"{kind} {object_id[:19]}" for kind, _, object_id in leftovers]


def track(kind: Kind, client: DockerClient, object_id: str) -> None:
    """Record an object in the innermost open ledger (no-op outside pytest)."""
    if _scopes:
        _scopes[-1].add(kind, client, object_id)


def remove_labelled(client: DockerClient, label_value: str) -> None:
    """Safety net: remove containers, then networks, labelled with this session's uuid."""
    selector = {"label": f"{SESSION_LABEL_KEY}={label_value}"}
    for container in client.containers.list(all=True, filters=selector):
        _remove("container", client, container.id or "")
    for network in client.networks.list(filters=selector):
        _remove("network", client, network.id or "")


def wait_until(
    condition: Callable[[], T], *, timeout: float, message: str, interval: float = 0.05
) -> T:
    """Poll ``condition`` until it returns something truthy, or raise at the deadline.

    Tests must wait for a state, never sleep a fixed time; this is the one polling loop.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} (after {timeout:g} s)")
        time.sleep(interval)


async def async_wait_until(
    condition: Callable[[], Awaitable[T]], *, timeout: float, message: str, interval: float = 0.05
) -> T:
    """Like ``wait_until`` for an async condition, yielding to the event loop between polls."""
    deadline = time.monotonic() + timeout
    while True:
        result = await condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} (after {timeout:g} s)")
        await asyncio.sleep(interval)


def create_container(client: DockerClient, image: str, **kwargs: object) -> Container:
    """Create and start a container, recorded for removal even when starting it fails."""
    container = client.containers.create(image, **kwargs)
    track("container", client, container.id or "")
    container.start()
    return container


def create_network(client: DockerClient, name: str, **kwargs: object) -> Network:
    """Create a network, recorded for removal."""
    network = client.networks.create(name, **kwargs)
    track("network", client, network.id or "")
    return network
