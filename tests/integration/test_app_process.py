"""The real process (`python -m app`): start-up, seed, /healthz, export, sign-in, bad config."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from nicegui.version import __version__ as nicegui_version

from services.secrets import generate_key_hex

REPO = Path(__file__).resolve().parents[2]
SEED = """
global: {domain: example.test, network: dw-seeded}
npm: {url: "http://127.0.0.1:9", email: a@b.test, password: npm-plaintext-secret}
registries:
  local: {url: "http://127.0.0.1:5999", type: generic, username: ci, token: reg-plaintext-token}
projects:
  web:
    registry: local
    image: 127.0.0.1:5999/demo/web
    port: 8080
    env: {API_KEY: {value: env-plaintext-secret, secret: true}, MODE: prod}
    stages: {dev: {tag_pattern: "dev-*", auto_deploy: true, max_instances: 2}}
"""
SECRETS = ("npm-plaintext-secret", "reg-plaintext-token", "env-plaintext-secret")
ADMIN_PASSWORD = "process-admin-password"
READY_WITHIN = 90  # seconds; a start-up takes ~3 s, but far longer on a loaded shared machine


def child_environ(**extra: str) -> dict[str, str]:
    """Our environment without pytest's marker, which would switch NiceGUI into test mode."""
    environ = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    return {**environ, **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_app(data_dir: Path, **env: str) -> Iterator[tuple[str, Path]]:
    """Run the app until the block ends; yields its base URL and its log file."""
    port = free_port()
    log_file = data_dir.parent / f"app-{port}.log"
    environ = child_environ(DW_DATA_DIR=str(data_dir), DW_PORT=str(port), **env)
    with log_file.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app"],
            cwd=data_dir.parent,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, log_file)
        yield url, log_file
    finally:
        process.terminate()  # SIGTERM: stop accepting, drain, close, exit 0
        assert process.wait(30) == 0, log_file.read_text()[-3000:]


@contextmanager
def signed_in(url: str) -> Iterator[httpx.Client]:
    """A client holding the session cookie of `admin` (the app ran with ADMIN_PASSWORD), and
    sending our own Origin as the dashboard's pages do (a cookie alone may not change things)."""
    with httpx.Client(base_url=url, headers={"Origin": url}) as client:
        login = {"username": "admin", "password": ADMIN_PASSWORD}
        answer = client.post("/api/auth/login", json=login)
        assert answer.status_code == 200, answer.text
        yield client


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app exited with {process.returncode}:\n{log_file.read_text()}")
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"app did not answer within {READY_WITHIN} s:\n{log_file.read_text()}")


def test_first_start_seeds_serves_health_and_exports_without_secrets(tmp_path: Path) -> None:
    (tmp_path / "seed.yaml").write_text(SEED)
    data = tmp_path / "data"
    env = {"ENCRYPTION_KEY": generate_key_hex(), "ADMIN_PASSWORD": ADMIN_PASSWORD}
    with running_app(data, **env) as (url, log_file), signed_in(url) as client:
        health = httpx.get(f"{url}/healthz")
        exported = client.get("/api/config/export").text
        dashboard = client.get("/").text
        token = client.cookies["dw_session"]

    assert health.status_code == 200
    assert health.json()["database"]["ok"] and health.json()["docker"]["ok"]
    document = yaml.safe_load(exported)
    assert document["projects"]["web"]["stages"]["dev"]["max_instances"] == 2
    assert document["projects"]["web"]["env"]["MODE"] == "prod"
    assert "Docker Engine" in dashboard
    raw = b"".join(p.read_bytes() for p in data.iterdir() if p.name.startswith("watcher.db"))
    for secret in (*SECRETS, ADMIN_PASSWORD, token):
        assert secret not in log_file.read_text()
    for secret in SECRETS:
        assert secret not in exported
        assert secret.encode() not in raw
        assert secret not in log_file.read_text()
    for line in log_file.read_text().splitlines():
        if line.startswith("{"):
            json.loads(line)  # structured logs: every log line is one JSON object


def test_seed_is_read_only_on_first_launch(tmp_path: Path) -> None:
    seed, data, key = tmp_path / "seed.yaml", tmp_path / "data", generate_key_hex()
    seed.write_text(SEED)
    with running_app(data, ENCRYPTION_KEY=key, ADMIN_PASSWORD=ADMIN_PASSWORD):
        pass
    seed.write_text(SEED.replace("port: 8080", "port: 9999"))
    with running_app(data, ENCRYPTION_KEY=key) as (url, _), signed_in(url) as client:
        exported = yaml.safe_load(client.get("/api/config/export").text)
    assert exported["projects"]["web"]["port"] == 8080


def test_generated_key_is_kept_private_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_app(data) as (_, log_file):
        first_key = (data / "encryption.key").read_text()
    assert "generated a new key" in log_file.read_text()
    assert stat.S_IMODE((data / "encryption.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    with running_app(data):
        assert (data / "encryption.key").read_text() == first_key


def test_unreachable_docker_degrades_instead_of_crashing(tmp_path: Path) -> None:
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "ADMIN_PASSWORD": ADMIN_PASSWORD}
    with running_app(tmp_path / "data", **env) as (url, _), signed_in(url) as client:
        health = httpx.get(f"{url}/healthz")
        detail = client.get("/api/health").json()
        page = client.get("/").text
    assert health.status_code == 200
    assert health.json() == {
        "status": "degraded",
        "database": {"ok": True},
        "docker": {"ok": False},
    }
    assert detail["status"] == "degraded" and "not reachable" in detail["docker"]["detail"]
    assert "not reachable" in page


def test_without_signing_in_api_is_401_and_pages_lead_to_login(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", ADMIN_PASSWORD=ADMIN_PASSWORD) as (url, _):
        export = httpx.get(f"{url}/api/config/export")
        dashboard = httpx.get(f"{url}/")
        login_page = httpx.get(f"{url}/login?next=%2F")
        nicegui_js = httpx.get(f"{url}/_nicegui/{nicegui_version}/static/nicegui.js")
        socket_io = httpx.get(f"{url}/_nicegui_ws/socket.io/?EIO=4&transport=polling")
        wrong = httpx.post(f"{url}/api/auth/login", json={"username": "admin", "password": "x"})
        with signed_in(url) as client:
            bearer = {"Authorization": f"Bearer {client.cookies['dw_session']}"}
            by_token = httpx.get(f"{url}/api/config/export", headers=bearer)
            client.post("/api/auth/logout")
            after_logout = httpx.get(f"{url}/api/config/export", headers=bearer)
    assert export.status_code == 401
    assert export.json() == {"errors": [{"field": None, "message": "not signed in"}]}
    assert dashboard.status_code == 303 and dashboard.headers["location"] == "/login?next=%2F"
    assert login_page.status_code == 200 and "Sign in to continue" in login_page.text
    assert nicegui_js.status_code == 200  # the login page's own assets are public
    assert socket_io.status_code not in {303, 401}
    assert wrong.status_code == 401
    assert by_token.status_code == 200 and "projects" in by_token.text
    assert after_logout.status_code == 401


def test_a_signed_out_session_stays_signed_out_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with (
        running_app(data, ADMIN_PASSWORD=ADMIN_PASSWORD) as (url, _),
        signed_in(url) as gone,
        signed_in(url) as kept,
    ):
        gone_token, kept_token = gone.cookies["dw_session"], kept.cookies["dw_session"]
        assert gone.post("/api/auth/logout").status_code == 200
    with running_app(data) as (url, _):
        as_gone = httpx.get(
            f"{url}/api/projects", headers={"Authorization": f"Bearer {gone_token}"}
        )
        as_kept = httpx.get(
            f"{url}/api/projects", headers={"Authorization": f"Bearer {kept_token}"}
        )
    assert as_gone.status_code == 401 and as_kept.status_code == 200


def login_cookie(url: str, headers: dict[str, str]) -> str:
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    answer = httpx.post(f"{url}/api/auth/login", json=login, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.headers["set-cookie"]


def test_https_behind_a_trusted_proxy_gets_a_secure_cookie(tmp_path: Path) -> None:
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    with running_app(tmp_path / "a", ADMIN_PASSWORD=ADMIN_PASSWORD) as (url, _):
        trusted = login_cookie(url, https)  # 127.0.0.1 is trusted by default
        plain = login_cookie(url, {})
    with running_app(
        tmp_path / "b", ADMIN_PASSWORD=ADMIN_PASSWORD, FORWARDED_ALLOW_IPS="10.9.9.9"
    ) as (url, _):
        untrusted = login_cookie(url, https)
    assert "secure" in trusted.lower() and "httponly" in trusted.lower()
    assert trusted.startswith("__Host-dw_session=")
    assert "secure" not in plain.lower() and "secure" not in untrusted.lower()
    assert plain.startswith("dw_session=") and untrusted.startswith("dw_session=")


def test_malformed_encryption_key_stops_with_instructions(tmp_path: Path) -> None:
    environ = child_environ(DW_DATA_DIR=str(tmp_path / "d"), ENCRYPTION_KEY="too-short")
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "ENCRYPTION_KEY is malformed" in result.stderr
    assert "python -m app keygen" in result.stderr


def test_keygen_prints_a_usable_key() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "keygen"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert len(result.stdout.strip()) == 64
    int(result.stdout.strip(), 16)


def test_overlong_admin_password_is_a_clear_error(tmp_path: Path) -> None:
    environ = child_environ(DW_DATA_DIR=str(tmp_path / "d"), ADMIN_PASSWORD="x" * 73)
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "ADMIN_PASSWORD is too long" in result.stderr
    assert "Traceback" not in result.stderr


def test_start_up_reconciles_with_the_engine(tmp_path: Path) -> None:
    with running_app(tmp_path / "data", ENCRYPTION_KEY=generate_key_hex()) as (_, log_file):
        deadline = time.monotonic() + 20
        while "reconciled:" not in log_file.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    assert "reconciled: 0 interrupted deploys cleaned up" in log_file.read_text()
