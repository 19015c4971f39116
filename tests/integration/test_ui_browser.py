"""The main journeys in headless Chromium against the real process, engine and registry.

What the simulated `User` cannot show: the real websocket pushing a status change into an open
tab (no reload), and the pages as a person sees them (screenshots under test-output/).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from docker import DockerClient
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.expected_conditions import element_to_be_clickable as clickable
from selenium.webdriver.support.ui import WebDriverWait

from services.secrets import generate_key_hex
from services.types import LABEL_PROJECT
from tests.integration.test_app_process import ADMIN_PASSWORD, REPO, running_app, signed_in
from tests.support.images import push_test_image
from tests.support.registry_server import RegistryServer

SCREENSHOTS = REPO / "test-output" / "screenshots"
DEPLOY_WAIT = 60  # seconds for a real pull, start and health check


@pytest.fixture
def installation(
    tmp_path: Path, registry: RegistryServer, docker_client: DockerClient
) -> Iterator[tuple[str, str]]:
    """The app with a registry and a project `shop` (stage dev) seeded; yields (url, image)."""
    suffix = uuid.uuid4().hex[:6]
    network, image = f"dw-ui-{suffix}", f"{registry.host}/demo/shop-{suffix}"
    seed = {
        "global": {"domain": "ui.test", "network": network},
        "registries": {
            "local": {
                "url": registry.url,
                "username": registry.username,
                "token": registry.password,
            }
        },
        "projects": {
            "shop": {
                "registry": "local",
                "image": image,
                "port": 8080,
                "healthcheck": "/health",
                "healthcheck_interval": 0.5,
                "healthcheck_retries": 10,  # slack for a loaded CI machine
                "stages": {
                    "dev": {"tag_pattern": "dev-*", "max_instances": 2},
                    "rel": {"tag_pattern": "v*"},
                    "prod": {"tag_pattern": "v*", "promote_from": "rel", "confirm": True},
                },
            }
        },
    }
    (tmp_path / "seed.yaml").write_text(yaml.safe_dump(seed, sort_keys=False))
    env = {"ENCRYPTION_KEY": generate_key_hex(), "ADMIN_PASSWORD": ADMIN_PASSWORD}
    try:
        with running_app(tmp_path / "data", **env) as (url, _):
            yield url, image
    finally:
        _remove_installation(docker_client, network)


def _remove_installation(client: DockerClient, network: str) -> None:
    """Containers the app started (on its network) and the network itself."""
    for found in client.networks.list(names=[network]):
        found.reload()
        for container_id in found.attrs.get("Containers") or {}:
            client.containers.get(container_id).remove(force=True, v=True)
        found.remove()


def sign_in(chrome: WebDriver, url: str) -> None:
    """Put the session cookie of `admin` into the browser (the login form has its own test)."""
    with signed_in(url) as client:
        token = client.cookies["dw_session"]
    chrome.get(f"{url}/login")
    chrome.add_cookie({"name": "dw_session", "value": token, "path": "/"})


def shot(chrome: WebDriver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    chrome.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def text_shown(text: str) -> str:
    """The innermost element whose visible text contains `text`."""
    has = f"contains(normalize-space(.), {text!r})"
    return f"//body//*[not(self::script)][{has}][not(*[{has}])]"


def chip(status: str) -> str:
    return f"//*[contains(@class, 'q-chip')][.//*[normalize-space(text())={status!r}]]"


def button(label: str) -> str:
    return f"//button[.//span[normalize-space(text())={label!r}]]"


def wait_for(chrome: WebDriver, xpath: str, timeout: float = 15) -> None:
    WebDriverWait(chrome, timeout).until(lambda c: c.find_elements(By.XPATH, xpath))


def test_quick_deploy_from_paste_to_a_healthy_instance_on_the_dashboard(
    installation: tuple[str, str],
    chrome: WebDriver,
    docker_client: DockerClient,
    registry: RegistryServer,
) -> None:
    url, _ = installation
    reference = f"{registry.host}/tools/notes-{uuid.uuid4().hex[:6]}:dev-1"
    repository, tag = reference.removeprefix(f"{registry.host}/").split(":")
    push_test_image(docker_client, registry, repository, tag)
    sign_in(chrome, url)

    chrome.get(f"{url}/quick-deploy")
    field = chrome.find_element(By.XPATH, "//input[@aria-label='Image reference']")
    field.send_keys(reference, Keys.ENTER)
    wait_for(chrome, text_shown("Review the project"), DEPLOY_WAIT)
    shot(chrome, "quick-deploy-review")
    # the card has just appeared: wait until its button can take a click (slow under load)
    deploy = WebDriverWait(chrome, 15).until(clickable((By.XPATH, button("Deploy"))))
    deploy.click()

    WebDriverWait(chrome, 15).until(lambda c: "/projects/" in c.current_url)
    wait_for(chrome, chip("healthy"), DEPLOY_WAIT)
    wait_for(chrome, chip("succeeded"))
    shot(chrome, "project")
    chrome.get(f"{url}/")
    wait_for(chrome, text_shown("1 healthy"))
    name = repository.rsplit("/", 1)[-1]
    assert chrome.find_elements(By.XPATH, text_shown(name))
    shot(chrome, "dashboard")
    chrome.get("about:blank")  # close the websocket before the app shuts down


def test_a_container_stopped_outside_the_app_turns_grey_in_open_tabs(
    installation: tuple[str, str],
    chrome: WebDriver,
    docker_client: DockerClient,
    registry: RegistryServer,
) -> None:
    url, image = installation
    push_test_image(docker_client, registry, image.removeprefix(f"{registry.host}/"), "dev-1")
    with signed_in(url) as client:
        project_id = _deploy(client, "dev-1")
    sign_in(chrome, url)
    chrome.get(f"{url}/")
    wait_for(chrome, text_shown("1 healthy"))
    dashboard = chrome.current_window_handle
    chrome.switch_to.new_window("tab")
    project_tab = chrome.current_window_handle
    chrome.get(f"{url}/projects/{project_id}")
    wait_for(chrome, chip("healthy"))
    chrome.execute_script("window.notReloaded = true")

    (container,) = docker_client.containers.list(filters={"label": f"{LABEL_PROJECT}=shop"})
    container.stop(timeout=1)  # from outside: the Engine's event stream tells the app

    wait_for(chrome, chip("stopped"))
    assert chrome.execute_script("return window.notReloaded") is True
    shot(chrome, "project-stopped-outside")
    chrome.switch_to.window(dashboard)
    wait_for(chrome, text_shown("1 stopped"))

    chrome.switch_to.window(project_tab)
    with signed_in(url) as client:  # deleting removes the instance first: the tab hears of it
        assert client.delete(f"/api/projects/{project_id}").status_code == 204
    WebDriverWait(chrome, 15).until(lambda c: c.current_url == f"{url}/")
    wait_for(chrome, text_shown("No projects yet"))
    chrome.get("about:blank")
    chrome.switch_to.window(dashboard)
    chrome.get("about:blank")


def _deploy(client: httpx.Client, tag: str) -> int:
    """Deploy `tag` to shop/dev through the API and wait until the deploy finished."""
    (summary,) = client.get("/api/projects").json()
    project_id = int(summary["project"]["id"])
    base = f"/api/projects/{project_id}/stages/dev/instances"
    answer = client.post(base, json={"tag": tag})
    assert answer.status_code == 202, answer.text
    deploy_id = answer.json()["deploy_id"]
    with client.stream("GET", f"/api/deploys/{deploy_id}/logs", timeout=DEPLOY_WAIT) as events:
        for _ in events.iter_lines():  # the stream ends when the deploy finished
            pass
    deploys = client.get("/api/deploys", params={"project_id": project_id}).json()
    assert deploys[0]["status"] == "succeeded", (deploys[0]["step"], deploys[0]["error"])
    return project_id


def test_a_new_installation_explains_the_first_steps(tmp_path: Path, chrome: WebDriver) -> None:
    env = {"ENCRYPTION_KEY": generate_key_hex(), "ADMIN_PASSWORD": ADMIN_PASSWORD}
    with running_app(tmp_path / "data", **env) as (url, _):
        sign_in(chrome, url)
        chrome.get(f"{url}/")
        wait_for(chrome, text_shown("No projects yet"))
        assert chrome.find_elements(By.XPATH, "//a[@href='/settings']")
        shot(chrome, "dashboard-empty")
        chrome.get("about:blank")
