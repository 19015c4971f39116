"""Detection in the real process: webhook without sign-in, the poller running, clean SIGTERM."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import httpx
from docker import DockerClient

from services.secrets import generate_key_hex
from tests.integration.test_app_process import running_app
from tests.support.docker_env import wait_until
from tests.support.images import push_test_image
from tests.support.registry_server import RegistryServer

SEED = """
global: {{domain: example.test, poll_interval: 10, webhook_secret: "{secret}"}}
registries:
  local: {{url: "{url}", type: generic, username: {user}, token: "{password}"}}
projects:
  web:
    registry: local
    image: {host}/{repo}
    port: 8080
    stages: {{rel: {{tag_pattern: "v*", max_instances: 1}}}}
"""


def test_the_app_answers_webhooks_without_sign_in_and_polls(
    docker_client: DockerClient, registry: RegistryServer, tmp_path: Path
) -> None:
    secret, repo = str(uuid.uuid4()), f"demo/web-{uuid.uuid4().hex[:6]}"
    push_test_image(docker_client, registry, repo, "v1.0.0")
    (tmp_path / "seed.yaml").write_text(
        SEED.format(
            secret=secret,
            url=registry.url,
            user=registry.username,
            password=registry.password,
            host=registry.host,
            repo=repo,
        )
    )
    data = tmp_path / "data"
    env = {"ENCRYPTION_KEY": generate_key_hex(), "ADMIN_PASSWORD": "webhook-app-password"}
    with running_app(data, **env) as (url, log_file):
        wrong = httpx.post(f"{url}/api/webhook/not-it", json={"image": "a/b:c"})
        body = {"image": f"{registry.host}/{repo}:v1.0.0"}
        right = httpx.post(f"{url}/api/webhook/{secret}", json=body)
        baseline = wait_until(
            lambda: _state(data, ""), timeout=20, message="the poller took no baseline"
        )

    assert (wrong.status_code, wrong.json()) == (404, {"detail": "Not Found"})
    assert right.status_code == 202, right.text
    (decision,) = right.json()["results"][0]["decisions"]
    assert (decision["stage"], decision["action"]) == ("rel", "waiting")
    assert baseline == "marker"  # the poller's first look at the project, right at start-up
    assert secret not in log_file.read_text()


def _state(data: Path, tag: str) -> str | None:
    """The seen-tag state of `tag`, read straight from the app's database (WAL allows it)."""
    with sqlite3.connect(f"file:{data / 'watcher.db'}?mode=ro", uri=True) as db:
        try:
            row = db.execute("SELECT state FROM seen_tag WHERE tag = ?", (tag,)).fetchone()
        except sqlite3.OperationalError:  # not migrated yet
            return None
    return str(row[0]) if row else None
