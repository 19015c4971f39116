"""SIGTERM to the real process while a deploy waits on its health check.

The first SIGTERM stops new work (the webhook answers 503 with Retry-After) and lets the running
deploy finish; a second SIGTERM, or the bounded wait running out, stops it and undoes it like a
failure. Every way ends with exit code 0 and the database closed.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from docker import DockerClient

from services.secrets import generate_key_hex
from tests.integration.test_app_process import child_environ, free_port
from tests.support.docker_env import wait_until
from tests.support.images import push_test_image
from tests.support.registry_server import RegistryServer

SEED = """
global: {{domain: example.test, webhook_secret: "{secret}"}}
registries:
  local: {{url: "{url}", type: generic, username: {user}, token: "{password}"}}
projects:
  web:
    registry: local
    image: {host}/{repo}
    port: 8080
    healthcheck: /health
    healthcheck_retries: 100
    healthcheck_interval: 2
    healthcheck_timeout: 2
    stages: {{dev: {{tag_pattern: "dev-*", auto_deploy: true, max_instances: 1}}}}
"""


@dataclass
class App:
    url: str
    process: subprocess.Popen[bytes]
    data: Path
    log: Path
    secret: str
    image: str

    def push(self, tag: str) -> httpx.Response:
        body = {"image": f"{self.image}:{tag}"}
        return httpx.post(f"{self.url}/api/webhook/{self.secret}", json=body, timeout=10)

    def deploy(self) -> tuple[str, str | None, str | None]:
        """(status, step, error) of the one deploy, read from the app's database."""
        with sqlite3.connect(f"file:{self.data / 'watcher.db'}?mode=ro", uri=True) as db:
            row = db.execute("SELECT status, step, error FROM deploy").fetchone()
        return (str(row[0]), row[1], row[2]) if row else ("NONE", None, None)

    def exit_code(self) -> int:
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the app did not stop:\n{self.log.read_text()[-3000:]}")


@contextmanager
def app_deploying(
    docker_client: DockerClient, registry: RegistryServer, tmp_path: Path, variant: str, **env: str
) -> Iterator[App]:
    """The app running with one project, and a deploy of `variant` in its health step."""
    secret, repo = str(uuid.uuid4()), f"demo/stop-{uuid.uuid4().hex[:6]}"
    push_test_image(docker_client, registry, repo, "dev-1", variant=variant)
    seed = SEED.format(
        secret=secret,
        url=registry.url,
        user=registry.username,
        password=registry.password,
        host=registry.host,
        repo=repo,
    )
    (tmp_path / "seed.yaml").write_text(seed)
    data, port = tmp_path / "data", free_port()
    log = tmp_path / "app.log"
    environ = child_environ(
        DW_DATA_DIR=str(data),
        DW_PORT=str(port),
        ENCRYPTION_KEY=generate_key_hex(),
        ADMIN_PASSWORD="graceful-stop-password",
        **env,
    )
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app"], cwd=tmp_path, env=environ, stdout=out, stderr=out
        )
    app = App(f"http://127.0.0.1:{port}", process, data, log, secret, f"{registry.host}/{repo}")
    try:
        wait_until(lambda: _answers(app), timeout=60, message="the app did not start")
        assert app.push("dev-1").status_code == 202
        wait_until(lambda: app.deploy()[1] == "health", timeout=60, message="no health step")
        yield app
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        for container in docker_client.containers.list(
            all=True, filters={"ancestor": f"{app.image}:dev-1"}
        ):
            container.remove(force=True, v=True)


def _answers(app: App) -> bool:
    if app.process.poll() is not None:
        pytest.fail(f"the app exited:\n{app.log.read_text()[-3000:]}")
    try:
        return httpx.get(f"{app.url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _refused_while_draining(app: App) -> None:
    answer = wait_until(
        lambda: (r := app.push("dev-2")).status_code == 503 and r,
        timeout=10,
        message="the webhook kept accepting pushes after SIGTERM",
    )
    assert answer.headers["retry-after"] == "30"


def _closed_cleanly(app: App, docker_client: DockerClient) -> list[str]:
    """Exit code 0 after the shutdown closed the database (the last line of it); the statuses
    of the pushed image's containers left on the engine."""
    assert app.exit_code() == 0, app.log.read_text()[-3000:]
    assert '"message": "Docker Watcher stopped"' in app.log.read_text()
    containers = docker_client.containers.list(all=True, filters={"ancestor": f"{app.image}:dev-1"})
    return [c.status for c in containers]


def test_sigterm_lets_the_running_deploy_finish_and_refuses_new_pushes(
    docker_client: DockerClient, registry: RegistryServer, tmp_path: Path
) -> None:
    with app_deploying(docker_client, registry, tmp_path, "slower") as app:
        app.process.send_signal(signal.SIGTERM)
        _refused_while_draining(app)
        statuses = _closed_cleanly(app, docker_client)
        assert app.deploy()[0] == "SUCCEEDED"
        assert statuses == ["running"]  # the new instance keeps serving after the watcher stops
        assert "waiting up to 120 s for 1 running deploy(s)" in app.log.read_text()


def test_a_second_sigterm_stops_the_deploy_and_undoes_it(
    docker_client: DockerClient, registry: RegistryServer, tmp_path: Path
) -> None:
    with app_deploying(docker_client, registry, tmp_path, "unhealthy") as app:
        app.process.send_signal(signal.SIGTERM)
        _refused_while_draining(app)
        assert app.deploy()[0] == "RUNNING"  # still waiting for its health check
        app.process.send_signal(signal.SIGTERM)
        statuses = _closed_cleanly(app, docker_client)
        status, step, error = app.deploy()
        assert (status, step) == ("FAILED", "health")
        assert error == "Docker Watcher is shutting down: this deploy was stopped and undone"
        assert statuses == []  # what the deploy made is removed


def test_the_bounded_wait_running_out_undoes_the_deploy(
    docker_client: DockerClient, registry: RegistryServer, tmp_path: Path
) -> None:
    with app_deploying(docker_client, registry, tmp_path, "unhealthy", DW_STOP_TIMEOUT="3") as app:
        app.process.send_signal(signal.SIGTERM)
        statuses = _closed_cleanly(app, docker_client)
        assert app.deploy()[:2] == ("FAILED", "health")
        assert statuses == []
