"""pytest fixtures for the NPM emulator and throwaway HTTP upstreams.

Use from a test module with `pytest_plugins = ["tests.support.npm_fixtures"]` (or from the root
conftest). Each test gets a fresh emulator with its own nginx; both stop when the test ends, and
a test fails if the emulator itself hit a bug while answering.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.npm_emulator import EchoUpstream, EmulatorFactory, NpmEmulator


@pytest.fixture
def npm_emulator_factory() -> Iterator[EmulatorFactory]:
    """Factory: `npm_emulator_factory(version="2.13.0", resolve=...)` starts an emulator."""
    started: list[NpmEmulator] = []

    def start(**options: Any) -> NpmEmulator:
        emulator = NpmEmulator(**options)
        started.append(emulator)
        return emulator.start()

    yield start
    bugs: list[str] = []
    for emulator in started:
        emulator.stop()
        bugs.extend(emulator.api.internal_errors)
    if bugs:
        pytest.fail("NPM emulator bug:\n" + "\n".join(bugs))


@pytest.fixture
def npm_emulator(npm_emulator_factory: EmulatorFactory) -> NpmEmulator:
    """A started NPM v2.15.1 emulator backed by a real nginx; fresh state per test.

    Set `npm_emulator.resolve = docker_resolver(client, network)` to forward to containers.
    """
    return npm_emulator_factory()


@pytest.fixture
def echo_upstream() -> Iterator[Callable[[str], EchoUpstream]]:
    """Factory: `echo_upstream("blue")` starts an HTTP server on 127.0.0.1 answering its name."""
    started: list[EchoUpstream] = []

    def start(name: str) -> EchoUpstream:
        upstream = EchoUpstream(name)
        started.append(upstream)
        return upstream

    yield start
    for upstream in started:
        upstream.stop()
