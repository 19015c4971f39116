"""pytest fixtures for the NPM emulator and throwaway HTTP upstreams.

Use from a test module with `pytest_plugins = ["tests.support.npm_fixtures"]` (or from the root
conftest). Each test gets a fresh emulator with its own nginx; both stop when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.npm_emulator import EchoUpstream, NpmEmulator


@pytest.fixture
def npm_emulator() -> Iterator[NpmEmulator]:
    """A started NPM v2.15.1 emulator backed by a real nginx; fresh state per test."""
    emulator = NpmEmulator()
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
    if emulator.api.internal_errors:
        pytest.fail("NPM emulator bug:\n" + "\n".join(emulator.api.internal_errors))


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
