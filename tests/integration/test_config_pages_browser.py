"""The configuration and settings pages in headless Chromium against the real process.

Saves a screenshot of each page under test-output/screenshots/ (a person looks at them) and
checks what only a real browser shows: the pages render, and a secret never reaches the DOM.
"""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.test_app_process import ADMIN_PASSWORD, REPO, running_app

SHOTS = REPO / "test-output" / "screenshots"
SEED = """
global: {domain: example.test, network: dw-shots, volume_roots: ["/srv/data"],
         notification_url: "https://notify.example.test/hook"}
registries:
  gitea: {url: "https://git.example.test", type: gitea, username: ci, token: reg-token-secret}
projects:
  web-app:
    registry: gitea
    image: git.example.test/me/web-app
    port: 3000
    healthcheck: /api/health
    env: {API_KEY: {value: env-secret-value, secret: true}, NODE_ENV: production}
    volumes:
      - {source: /srv/data/web-app/uploads, target: /app/uploads, mode: shared}
      - {source: /srv/data/web-app/db, target: /app/data, mode: isolated}
    stages:
      dev: {tag_pattern: "dev-*", auto_deploy: true, max_instances: 3,
            env: {NODE_ENV: development}}
      prod: {tag_pattern: "v*", confirm: true, promote_from: dev, max_instances: 1,
             subdomain: launcher}
"""
NAME_RULE = (
    "must be a DNS-safe name: lowercase letters, digits and '-', not starting or ending with "
    "'-', at most 63 characters"
)


def sign_in(chrome: WebDriver, url: str) -> None:
    """Put a session cookie from the real login route into the browser."""
    answer = httpx.post(
        f"{url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    chrome.get(f"{url}/healthz")
    chrome.add_cookie({"name": "dw_session", "value": answer.json()["token"], "path": "/"})


def shoot(chrome: WebDriver, name: str, width: int = 1440) -> Path:
    """A full-height screenshot of the current page (the viewport is stretched through CDP)."""
    metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}
    chrome.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)  # lay out at width
    height = int(chrome.execute_script("return document.documentElement.scrollHeight"))
    metrics["height"] = max(900, height)
    chrome.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    try:
        shot = chrome.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(shot["data"]))
    finally:
        chrome.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path


def _bottom_texts(chrome: WebDriver) -> list[str]:
    """What the fields show under them (hint or error), once Quasar's transition is over."""
    return [e.text for e in chrome.find_elements(By.CSS_SELECTOR, ".q-field__bottom")]


def open_page(chrome: WebDriver, url: str, text: str) -> None:
    chrome.get(url)
    WebDriverWait(chrome, 20).until(lambda c: text in c.page_source)


def test_config_pages_render_without_secrets(tmp_path: Path, chrome: WebDriver) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED)
    env = {"ADMIN_PASSWORD": ADMIN_PASSWORD, "DW_SEED_PATH": str(seed)}
    with running_app(tmp_path / "data", **env) as (url, _):
        sign_in(chrome, url)
        open_page(chrome, f"{url}/projects/1/settings", "Configure web-app")
        WebDriverWait(chrome, 10).until(lambda c: "launcher.example.test" in c.page_source)
        assert "env-secret-value" not in chrome.page_source
        shoot(chrome, "project-settings")

        chrome.find_element(By.XPATH, "//button[.//span[contains(., 'Delete project')]]").click()
        WebDriverWait(chrome, 10).until(lambda c: "Delete project web-app?" in c.page_source)
        shoot(chrome, "project-delete-confirm")

        open_page(chrome, f"{url}/projects/new", "Create project")
        chrome.find_element(By.XPATH, "//button[.//span[contains(., 'Create project')]]").click()
        WebDriverWait(chrome, 10).until(lambda c: _bottom_texts(c)[:1] == [NAME_RULE])
        shoot(chrome, "project-new-errors")

        open_page(chrome, f"{url}/settings", "Webhook URL")
        WebDriverWait(chrome, 10).until(lambda c: "git.example.test" in c.page_source)
        assert "reg-token-secret" not in chrome.page_source
        assert f"{url}/api/webhook/" in chrome.page_source
        assert "/api/auth/oidc/callback" in chrome.page_source  # the redirect URI to register
        shoot(chrome, "settings")
        shoot(chrome, "settings-400", width=400)

        open_page(chrome, f"{url}/audit", "Audit log")
        WebDriverWait(chrome, 10).until(lambda c: "sign_in" in c.page_source)
        shoot(chrome, "audit")
        shoot(chrome, "audit-400", width=400)
