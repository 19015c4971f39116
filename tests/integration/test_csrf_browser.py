"""Cross-site request forgery in headless Chromium against the real process.

A page served from another origin of the same site (another port on 127.0.0.1, as a deployed
preview is another subdomain of the dashboard's domain) posts an import with the signed-in
admin's cookie, the way a real attack does (`mode: 'no-cors'`, a form upload and a text body):
nothing may be imported. The admin's own import through the settings page must still work, and
the pages must run under the Content-Security-Policy without a single violation.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.conftest import csp_violations
from tests.integration.test_app_process import ADMIN_PASSWORD, running_app

ATTACK = "global: {volume_roots: ['/var/run/docker.sock']}\n"
ATTACK_PAGE = """<!doctype html><title>preview</title><script>
const target = DASHBOARD + '/api/config/import';
const form = new FormData();
form.append('file', new Blob([YAML], {type: 'application/x-yaml'}), 'config.yaml');
const sent = [
  fetch(target, {method: 'POST', credentials: 'include', mode: 'no-cors', body: form}),
  fetch(target, {method: 'POST', credentials: 'include', mode: 'no-cors', body: YAML}),
];
// settled either way: Cross-Origin-Resource-Policy turns our answer into a network error here
Promise.allSettled(sent).then(() => { document.title = 'sent'; });
</script>"""


@contextmanager
def preview_site(dashboard: str) -> Iterator[str]:
    """A page on 127.0.0.1 at another port: another origin, the same site as the dashboard."""
    page = ATTACK_PAGE.replace("DASHBOARD", json.dumps(dashboard)).replace(
        "YAML", json.dumps(ATTACK)
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def sign_in(chrome: WebDriver, url: str) -> str:
    """The session cookie from the real login route, as the browser keeps it; returns it."""
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    token: str = httpx.post(f"{url}/api/auth/login", json=login).json()["token"]
    chrome.get(f"{url}/healthz")
    cookie = {"name": "dw_session", "value": token, "path": "/"}
    chrome.add_cookie({**cookie, "httpOnly": True, "sameSite": "Lax"})
    return token


def test_a_preview_page_cannot_import_as_the_admin_but_the_settings_page_can(
    tmp_path: Path, chrome: WebDriver
) -> None:
    wait = WebDriverWait(chrome, 20)
    good = tmp_path / "config.yaml"
    good.write_text("global: {poll_interval: 90}\n")
    with running_app(tmp_path / "data", ADMIN_PASSWORD=ADMIN_PASSWORD) as (url, log_file):
        bearer = {"Authorization": f"Bearer {sign_in(chrome, url)}"}
        with preview_site(url) as preview:
            chrome.get(preview)
            wait.until(lambda c: c.title != "preview")
            assert chrome.title == "sent"
        settings = httpx.get(f"{url}/api/settings", headers=bearer).json()["global"]
        assert settings["volume_roots"] == []
        refusals = [line for line in log_file.read_text().splitlines() if "cross-site" in line]
        assert len(refusals) == 2 and all("Sec-Fetch-Site 'same-site'" in r for r in refusals)

        chrome.get(f"{url}/settings")
        wait.until(lambda c: "Export and re-import" in c.page_source)
        chrome.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(good))
        wait.until(lambda c: "Imported config.yaml." in c.page_source)
        settings = httpx.get(f"{url}/api/settings", headers=bearer).json()["global"]
        assert settings["poll_interval"] == 90
        chrome.get(f"{url}/")
        wait.until(lambda c: "Docker Engine" in c.page_source)
        assert csp_violations(chrome) == []
        chrome.get("about:blank")  # close the page's websocket before the app shuts down
