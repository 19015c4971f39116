"""The browser-facing defences in the real process (`python -m app`, NiceGUI and uvicorn):
security headers on every kind of answer, NiceGUI's socket.io long-polling posts, a proxy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from nicegui.version import __version__ as nicegui_version

from tests.integration.test_app_process import ADMIN_PASSWORD, running_app, signed_in

EXPECTED = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
SOCKET = "/_nicegui_ws/socket.io/?EIO=4&transport=polling"
FORGED = "refused: this request was not sent from this dashboard's own pages"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("websec")
    with running_app(root / "data", ADMIN_PASSWORD=ADMIN_PASSWORD) as (url, _):
        yield url


def assert_protected(response: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (response.url, name)
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy


def test_every_kind_of_answer_carries_the_security_headers(app_url: str) -> None:
    with signed_in(app_url) as client:
        answers = {
            "page": client.get("/"),
            "login page": httpx.get(f"{app_url}/login"),
            "redirect": httpx.get(f"{app_url}/"),
            "api": client.get("/api/projects"),
            "refused api": httpx.get(f"{app_url}/api/projects"),
            "api 404": client.get("/api/projects/999"),
            "page 404": client.get("/no-such-page"),
            "static": httpx.get(f"{app_url}/_nicegui/{nicegui_version}/static/nicegui.js"),
            "health": httpx.get(f"{app_url}/healthz"),
            "forged": client.post("/api/auth/logout", headers={"Origin": "http://evil.test"}),
        }
    expected = {"page": 200, "login page": 200, "redirect": 303, "api": 200}
    expected |= {"refused api": 401, "api 404": 404, "page 404": 404, "static": 200}
    expected |= {"health": 200, "forged": 403}
    assert {kind: a.status_code for kind, a in answers.items()} == expected
    for answer in answers.values():
        assert_protected(answer)


def test_socket_polling_posts_pass_from_our_pages_only(app_url: str) -> None:
    """socket.io falls back to long polling, POSTing packets; the browser sends our Origin."""
    with signed_in(app_url) as client:
        opened = client.get(SOCKET)
        assert opened.status_code == 200, opened.text
        sid = json.loads(opened.text[1:])["sid"]  # engine.io's open packet: "0{...}"
        packets = f"{SOCKET}&sid={sid}"
        ours = client.post(packets, content=b"3")  # a pong packet
        forged = client.post(packets, content=b"3", headers={"Origin": "http://evil.test"})

    assert ours.status_code == 200 and ours.text == "OK"
    assert forged.status_code == 403 and forged.json()["errors"][0]["message"] == FORGED


def test_a_trusted_proxys_forwarded_host_and_proto_make_the_origin(tmp_path: Path) -> None:
    """Through the real server: X-Forwarded-* are read once, by our middleware, from 127.0.0.1."""
    public = "https://watcher.example.test"
    forwarded = {
        "X-Forwarded-Host": "watcher.example.test",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "198.51.100.4",
    }
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    with running_app(tmp_path / "data", ADMIN_PASSWORD=ADMIN_PASSWORD) as (url, _):
        answer = httpx.post(f"{url}/api/auth/login", json=login, headers=forwarded)
        cookie = {"Cookie": f"__Host-dw_session={answer.json()['token']}"}
        regenerate = f"{url}/api/settings/webhook-url/regenerate"
        passed = httpx.post(regenerate, headers={**forwarded, **cookie, "Origin": public})
        direct = httpx.post(regenerate, headers={**cookie, "Origin": public})

    assert answer.headers["set-cookie"].startswith("__Host-dw_session=")
    assert passed.status_code == 200, passed.text
    assert passed.json()["url"].startswith(f"{public}/api/webhook/")
    assert direct.status_code == 403
