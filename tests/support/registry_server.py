"""Real OCI registries for the tests: Debian's ``docker-registry`` (distribution 2.8) processes.

One runs with htpasswd basic auth, one in bearer-token mode behind ``token_server``. Each listens
on a free port of 127.0.0.1, keeps its storage in a temporary directory, allows deletes, and is
stopped when the session ends.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.docker_env import wait_until

INSTALL_HINT = "run scripts/test.sh as root to install it (Debian package {package})"
START_ATTEMPTS = 3
START_TIMEOUT = 15.0
_TELLING = re.compile(r"^panic:|level=(fatal|error)|address already in use", re.IGNORECASE)


@dataclass(frozen=True)
class RegistryServer:
    """A running registry with basic auth; ``host`` is what image references start with."""

    url: str
    host: str
    username: str
    password: str


@dataclass(frozen=True)
class TokenRegistryServer:
    """A running registry that requires bearer tokens from ``token_url``."""

    url: str
    host: str
    username: str
    password: str
    token_url: str


class RegistryStartError(RuntimeError):
    """The registry process exited or never answered; the message holds its log."""


def require_binary(name: str, package: str) -> str:
    """The absolute path of a tool the tests need, or an error saying how to get it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        raise FileNotFoundError(f"{name} not found: " + INSTALL_HINT.format(package=package))
    return path


def free_port() -> int:
    """A port nobody listens on right now (a race is retried by ``run_registry``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def htpasswd_line(username: str, password: str) -> str:
    """A bcrypt entry made by Apache's ``htpasswd -Bbn``, as the registry expects."""
    htpasswd = require_binary("htpasswd", "apache2-utils")
    result = subprocess.run(
        [htpasswd, "-Bbn", username, password], capture_output=True, text=True, check=True
    )
    return result.stdout.strip() + "\n"


def basic_auth_config(workdir: Path, username: str, password: str) -> dict[str, Any]:
    """The ``auth`` section for htpasswd mode (writes the password file)."""
    path = workdir / "htpasswd"
    path.write_text(htpasswd_line(username, password))
    return {"htpasswd": {"realm": "test-registry", "path": str(path)}}


def token_auth_config(realm: str, bundle: Path) -> dict[str, Any]:
    """The ``auth`` section for bearer-token mode, matching ``TokenIssuer``'s defaults."""
    return {
        "token": {
            "realm": realm,
            "service": "test-registry",
            "issuer": "test-issuer",
            "rootcertbundle": str(bundle),
        }
    }


def _write_config(workdir: Path, port: int, auth: dict[str, Any]) -> Path:
    config = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(workdir / "data")},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
        "auth": auth,
    }
    path = workdir / f"config-{port}.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _answers(url: str, process: subprocess.Popen[bytes]) -> bool:
    """True once ``/v2/`` answers at all (401 is the normal answer with auth on)."""
    if process.poll() is not None:
        raise RegistryStartError(f"docker-registry exited with {process.returncode}")
    try:
        httpx.get(f"{url}/v2/", timeout=1.0)
    except httpx.TransportError:
        return False
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _start_once(workdir: Path, auth: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str]:
    """Start one registry process and wait for it; raise with its log when it fails."""
    port = free_port()
    config = _write_config(workdir, port, auth)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    log_path = workdir / f"registry-{port}.log"
    binary = require_binary("docker-registry", "docker-registry")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: _answers(url, process),
            timeout=START_TIMEOUT,
            message=f"docker-registry did not answer at {url}",
        )
    except (RegistryStartError, TimeoutError) as exc:
        _stop(process)
        raise RegistryStartError(f"{exc}; {_log_summary(log_path)}") from exc
    return process, url


def _log_summary(log_path: Path) -> str:
    """The lines that explain a failed start (a panic's reason, fatal errors), not stack frames."""
    lines = log_path.read_text(errors="replace").splitlines()
    telling = [line for line in lines if _TELLING.search(line)] or lines[-10:]
    return f"log {log_path}:\n" + "\n".join(telling[:10])


@contextmanager
def run_registry(workdir: Path, auth: dict[str, Any]) -> Iterator[str]:
    """Run a registry until the block ends; yields its base URL ``http://127.0.0.1:PORT``.

    A few attempts cover the small race between choosing a free port and the registry binding it.
    """
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            process, url = _start_once(workdir, auth)
            break
        except RegistryStartError as exc:
            if attempt == START_ATTEMPTS or "address already in use" not in str(exc):
                raise
    try:
        yield url
    finally:
        _stop(process)
