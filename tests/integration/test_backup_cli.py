"""`docker-watcher backup`, `restore` and `--version` as an operator types them, beside a running
app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from app.version import VERSION
from services.secrets import generate_key_hex
from services.store.db import head_revision
from tests.integration.test_app_process import ADMIN_PASSWORD, child_environ, running_app


def _cli(data: Path, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=child_environ(DW_DATA_DIR=str(data), ENCRYPTION_KEY=key),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _domain(url: str) -> str:
    with httpx.Client(base_url=url, headers={"Origin": url}) as client:
        login = {"username": "admin", "password": ADMIN_PASSWORD}
        assert client.post("/api/auth/login", json=login).status_code == 200
        return str(client.get("/api/settings").json()["global"]["domain"])


def _set_domain(url: str, domain: str) -> None:
    with httpx.Client(base_url=url, headers={"Origin": url}) as client:
        login = {"username": "admin", "password": ADMIN_PASSWORD}
        assert client.post("/api/auth/login", json=login).status_code == 200
        answer = client.put("/api/settings", json={"global": {"domain": domain}})
        assert answer.status_code == 200, answer.text


def test_back_up_while_running_restore_only_when_stopped(tmp_path: Path) -> None:
    data, key = tmp_path / "data", generate_key_hex()
    copy = tmp_path / "monday.db"
    env = {"ENCRYPTION_KEY": key, "ADMIN_PASSWORD": ADMIN_PASSWORD}
    with running_app(data, **env) as (url, _):
        _set_domain(url, "monday.test")
        made = _cli(data, key, "backup", str(copy))
        assert made.returncode == 0, made.stderr
        assert f"(schema {head_revision()})" in made.stdout
        assert "keep the encryption key with it" in made.stdout
        _set_domain(url, "tuesday.test")
        refused = _cli(data, key, "restore", str(copy))
        assert refused.returncode == 2
        assert "another Docker Watcher is running" in refused.stderr
        assert _domain(url) == "tuesday.test"

    restored = _cli(data, key, "restore", str(copy))
    assert restored.returncode == 0, restored.stderr
    assert "the database it replaced is kept as" in restored.stdout
    with running_app(data, **env) as (url, _):
        assert _domain(url) == "monday.test"


def test_version_names_the_release_and_its_schema(tmp_path: Path) -> None:
    shown = _cli(tmp_path / "data", generate_key_hex(), "--version")
    assert shown.returncode == 0
    assert shown.stdout.strip() == f"docker-watcher {VERSION} (database schema {head_revision()})"
    assert not (tmp_path / "data").exists()  # asking for the version touches nothing
