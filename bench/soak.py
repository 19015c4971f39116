"""A day on a NAS, compressed: page views, deploys and webhooks against one process, and what
they leave behind.

The real process (`python -m app`) runs with a real registry and engine. Load, in phases:
1,000 page views (a signed-in GET of the dashboard or a project page; NiceGUI builds the page's
client and drops it when no socket attaches: the cheapest "opened and closed"), 200 deploys
through the API (two tags of different digests taking turns on one stage, so each is a real
blue-green swap: pull, start, health, switch, retire) and 10,000 webhooks (pushes of images no
project uses: authenticated, parsed, decided and answered).

Printed before (after a warm-up of every kind of load: the baseline), after each phase and
after the load stops: RSS, open file descriptors, asyncio tasks and page clients (from the
signed-in `GET /api/health`), and the database's size. Targets (issue 14): once the load stops,
every figure within 10% of the warm-up baseline, and idle RSS ≤ 120 MB.
Run: .venv/bin/python bench/soak.py [--scale 0.1]
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import remove_images
from bench.ui import free_port, rss_mb, wait_ready
from services.secrets import generate_key_hex
from services.types import LABEL_PROJECT
from tests.support.images import push_test_image
from tests.support.registry_server import RegistryServer, basic_auth_config, run_registry

PASSWORD = "soak-admin-password"
PAGE_VIEWS, DEPLOYS, WEBHOOKS = 1000, 200, 10_000
WARMUP = (20, 4, 200)  # page views, deploys, webhooks before the baseline
SETTLE = 15.0  # seconds after the load before the last look (page clients are dropped by then)
RSS_TARGET_MB, DRIFT = 120.0, 0.10
SENDERS = 250  # loopback addresses the webhooks come from
SEED = """
global: {{domain: soak.test, webhook_secret: "{secret}"}}
registries:
  local: {{url: "{url}", type: generic, username: {user}, token: "{password}"}}
projects:
  soak:
    registry: local
    image: {image}
    port: 8080
    healthcheck: /health
    healthcheck_interval: 1
    stages: {{dev: {{tag_pattern: "dev-*", max_instances: 1}}}}
"""


@dataclass(frozen=True)
class Figures:
    rss_mb: float
    fds: int
    tasks: int
    page_clients: int
    db_kb: float

    def line(self, label: str) -> str:
        return (
            f"{label:28}{self.rss_mb:>9.1f}{self.fds:>7}{self.tasks:>7}{self.page_clients:>9}"
            f"{self.db_kb:>11.0f}"
        )


@dataclass(frozen=True)
class Soak:
    http: httpx.Client
    pid: int
    data: Path
    secret: str
    project_id: int

    def figures(self) -> Figures:
        process = self.http.get("/api/health").json()["process"]
        size = sum(p.stat().st_size for p in self.data.glob("watcher.db*"))
        return Figures(
            rss_mb(self.pid),
            len(os.listdir(f"/proc/{self.pid}/fd")),
            int(process["tasks"]),
            int(process["page_clients"]),
            size / 1024,
        )

    def page_views(self, count: int) -> None:
        paths = ["/", f"/projects/{self.project_id}"]
        for n in range(count):
            answer = self.http.get(paths[n % 2])
            answer.raise_for_status()

    def deploys(self, count: int, first: int = 0) -> None:
        path = f"/api/projects/{self.project_id}/stages/dev/instances"
        for n in range(first, first + count):
            queued = self.http.post(path, json={"tag": ("dev-a", "dev-b")[n % 2]})
            queued.raise_for_status()
            self._wait_deploy(int(queued.json()["deploy_id"]))

    def _wait_deploy(self, deploy_id: int) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = self.http.get(f"/api/deploys/{deploy_id}").json()["status"]
            if status not in {"queued", "running"}:
                if status != "succeeded":
                    raise SystemExit(f"deploy {deploy_id} ended {status}")
                return
            time.sleep(0.2)
        raise SystemExit(f"deploy {deploy_id} did not finish within 120 s")

    def webhooks(self, count: int) -> None:
        """Each CI runner has its own address: pushes come from many loopback addresses, as
        the webhook allows one address 60 at once and then one a second."""
        url = f"{str(self.http.base_url).rstrip('/')}/api/webhook/{self.secret}"
        senders = [
            httpx.Client(
                transport=httpx.HTTPTransport(local_address=f"127.0.{n // 250}.{n % 250 + 2}")
            )
            for n in range(SENDERS)
        ]
        try:
            for n in range(count):
                body = {"image": f"registry.elsewhere.test/other/app:{n}"}
                answer = senders[n % SENDERS].post(url, json=body)
                if answer.status_code != 202:
                    raise SystemExit(f"webhook answered {answer.status_code}: {answer.text}")
        finally:
            for sender in senders:
                sender.close()


@contextmanager
def app_process(workdir: Path, seed: str) -> Iterator[tuple[str, int, Path]]:
    workdir.mkdir(parents=True, exist_ok=True)
    data, port = workdir / "data", free_port()
    (workdir / "seed.yaml").write_text(seed)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env.update(
        DW_DATA_DIR=str(data),
        DW_PORT=str(port),
        ENCRYPTION_KEY=generate_key_hex(),
        ADMIN_PASSWORD=PASSWORD,
        DW_LOG_LEVEL="warning",
        DW_DRAIN_SECONDS="0",
    )
    with (workdir / "app.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app"], cwd=workdir, env=env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, workdir / "app.log")
        yield url, process.pid, data
    finally:
        process.terminate()
        process.wait(150)


def run(client: docker.DockerClient, registry: RegistryServer, workdir: Path, scale: float) -> None:
    repo = f"soak/app-{secrets.token_hex(3)}"
    for tag in ("dev-a", "dev-b"):  # two images: each deploy replaces the other one
        push_test_image(client, registry, repo, tag)
    secret = str(uuid.uuid4())
    seed = SEED.format(
        secret=secret,
        url=registry.url,
        user=registry.username,
        password=registry.password,
        image=f"{registry.host}/{repo}",
    )
    try:
        with (
            app_process(workdir, seed) as (url, pid, data),
            httpx.Client(base_url=url, headers={"Origin": url}, timeout=60) as http,
        ):
            login = {"username": "admin", "password": PASSWORD}
            http.post("/api/auth/login", json=login).raise_for_status()
            project_id = int(http.get("/api/projects").json()[0]["project"]["id"])
            drive(Soak(http, pid, data, secret, project_id), scale)
    finally:
        label = f"{LABEL_PROJECT}=soak"
        for container in client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True, v=True)


def drive(soak: Soak, scale: float) -> None:
    print(f"{'':28}{'RSS MB':>9}{'fds':>7}{'tasks':>7}{'clients':>9}{'db KiB':>11}")
    print(soak.figures().line("after start-up"))
    views, deploys, hooks = WARMUP
    soak.page_views(views)
    soak.deploys(deploys)
    soak.webhooks(hooks)
    time.sleep(SETTLE)
    baseline = soak.figures()
    print(baseline.line("baseline (after warm-up)"))
    started = time.monotonic()
    soak.page_views(int(PAGE_VIEWS * scale))
    print(soak.figures().line(f"after {int(PAGE_VIEWS * scale)} page views"))
    soak.deploys(int(DEPLOYS * scale), first=deploys)
    print(soak.figures().line(f"after {int(DEPLOYS * scale)} deploys"))
    soak.webhooks(int(WEBHOOKS * scale))
    print(soak.figures().line(f"after {int(WEBHOOKS * scale)} webhooks"))
    loaded = time.monotonic() - started
    time.sleep(SETTLE)
    after = soak.figures()
    print(after.line(f"{SETTLE:.0f} s after the load"))
    print(f"load took {loaded:.0f} s")
    verdicts(baseline, after)


def verdicts(baseline: Figures, after: Figures) -> None:
    """Within 10% of the baseline once the load stopped (the database may grow: history)."""
    for name in ("rss_mb", "fds", "tasks", "page_clients"):
        before, now = getattr(baseline, name), getattr(after, name)
        drift = (now - before) / before if before else float(now > 0)
        verdict = "ok" if drift <= DRIFT else "MISSED"
        print(f"{name:14} baseline {before:>8.1f}  after {now:>8.1f}  {drift:+6.1%}  {verdict}")
    verdict = "ok" if after.rss_mb <= RSS_TARGET_MB else "MISSED"
    print(f"idle RSS after the load {after.rss_mb:.1f} MB (target ≤ {RSS_TARGET_MB:.0f}) {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full load")
    scale = parser.parse_args().scale
    client = docker.from_env()
    with tempfile.TemporaryDirectory(prefix="dw-soak-") as tmp:
        workdir = Path(tmp)
        username, password = "soak", secrets.token_urlsafe(12)
        with run_registry(workdir, basic_auth_config(workdir, username, password)) as url:
            registry = RegistryServer(url, url.removeprefix("http://"), username, password)
            try:
                run(client, registry, workdir / "world", scale)
            finally:
                remove_images(client, registry.host)


if __name__ == "__main__":
    main()
