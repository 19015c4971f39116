"""Fixtures shared by the integration tests: a headless Chromium and a notification receiver."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from docker import DockerClient
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.api_app import ApiApp, api_app
from tests.support.receiver import FakeReceiver
from tests.support.registry_server import RegistryServer
from tests.support.world import World, make_world

# Debian's chromium on this closed network (test-environment.md): no background connections,
# every host but loopback unresolvable.
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--window-size=1400,1000",
)


@pytest.fixture
def chrome(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDriver]:
    """Headless Debian Chromium driven by its chromedriver; fails (never skips) when missing."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.fail("Chromium/chromedriver missing: run scripts/provision-test-services.sh")
    monkeypatch.setenv("SE_OFFLINE", "true")
    monkeypatch.setenv("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations, errors
    session = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        yield session
        session.get("about:blank")  # close the page's websocket before the app shuts down
        assert csp_violations(session) == [], "a page broke the Content-Security-Policy"
    finally:
        session.quit()


def csp_violations(session: WebDriver) -> list[str]:
    """Console messages about the Content-Security-Policy since the last call (they are read
    once: a test may check part of its journey, the fixture checks the rest)."""
    return [e["message"] for e in session.get_log("browser") if "Security Policy" in e["message"]]


@pytest.fixture
def receiver() -> Iterator[FakeReceiver]:
    """A real HTTP endpoint on 127.0.0.1 recording the notifications it gets."""
    with FakeReceiver() as server:
        yield server


@pytest.fixture
async def world(
    docker_client: DockerClient, registry: RegistryServer, tmp_path: Path
) -> AsyncIterator[World]:
    """A whole installation over the real engine and registry (no proxy configured)."""
    async with make_world(docker_client, registry, tmp_path) as built:
        yield built


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[ApiApp]:
    """The API app over a fresh data directory."""
    async with api_app(tmp_path / "data") as built:
        yield built


@pytest.fixture
def client(app: ApiApp) -> httpx.AsyncClient:
    return app.client
