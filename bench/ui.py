"""UI cost with 100 projects × 3 stages × 2 instances: server time to render the dashboard and a
project page (median of 20 each), and the idle memory (RSS) of the app process.

The real process (`python -m app`) serves a database filled beforehand (600 instances, 5 deploys
per project with steps and log lines). A page is timed as one signed-in HTTP GET over loopback:
NiceGUI runs the page function (reads included) and answers with the built page, so the time is
the server's work plus a loopback round trip. Baseline in the same run: the sign-in page, the
smallest page the app has. The Docker Engine is pointed at a socket that does not exist, so
statuses stay as written (the reconciler would otherwise mark these container-less instances
missing) and no container is needed.
Targets (issue 6): dashboard ≤ 300 ms, idle RSS ≤ 200 MB.
Run: .venv/bin/python bench/ui.py
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.secrets import SecretBox, generate_key_hex
from services.store.db import Database
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.models import (
    Deploy,
    DeployStatus,
    DeployTrigger,
    Instance,
    InstanceStatus,
    StepStatus,
    utcnow,
)
from services.store.projects import ProjectStore

PROJECTS, STAGES, PER_STAGE, DEPLOYS = 100, ("dev", "rel", "prod"), 2, 5
ROUNDS, WARMUP = 20, 3
STEPS = ("check", "pull", "plan", "start", "health", "route", "retire")
PASSWORD = "bench-admin-password"
STATUSES = (InstanceStatus.HEALTHY, InstanceStatus.HEALTHY, InstanceStatus.STOPPED)
DASHBOARD_TARGET_MS, RSS_TARGET_MB = 300, 200


def populate(data: Path, key: bytes) -> int:
    """Fill the database; returns a project id to time (one from the middle)."""
    db = Database(data / "watcher.db")
    db.migrate()
    projects, instances, deploys = (
        ProjectStore(db, SecretBox(key)),
        InstanceStore(db),
        DeployStore(db),
    )
    ids = [_project(projects, instances, deploys, number) for number in range(PROJECTS)]
    db.close()
    return ids[PROJECTS // 2]


def _project(projects: ProjectStore, instances: InstanceStore, deploys: DeployStore, n: int) -> int:
    project = projects.create(
        name=f"app-{n:03d}", image=f"registry.example/team/app-{n:03d}", port=8080
    )
    assert project.id is not None
    for position, name in enumerate(STAGES):
        stage = projects.add_stage(
            project.id, name=name, tag_pattern="*", max_instances=PER_STAGE, position=position
        )
        assert stage.id is not None
        for k in range(PER_STAGE):
            instances.add(_instance(project.id, stage.id, name, n, k))
    for d in range(DEPLOYS):
        _deploy(deploys, project.id, project.name, d)
    return project.id


def _instance(project_id: int, stage_id: int, stage: str, n: int, k: int) -> Instance:
    return Instance(
        project_id=project_id,
        stage_id=stage_id,
        tag=f"{stage}-{k}",
        digest=f"sha256:{n:060d}{k:04d}",
        container_id=f"{n:032d}{k:032d}",
        container_name=f"dw-app-{n:03d}-{stage}-{k}",
        status=STATUSES[(n + k) % len(STATUSES)],
        started_at=utcnow() - timedelta(hours=k + 1),
    )


def _deploy(deploys: DeployStore, project_id: int, name: str, number: int) -> None:
    row = deploys.create(
        Deploy(
            project_id=project_id,
            project_name=name,
            stage_name="dev",
            tag=f"dev-{number}",
            trigger=DeployTrigger.POLL,
        )
    )
    assert row.id is not None
    for step in STEPS:
        done = deploys.start_step(row.id, step)
        assert done.id is not None
        deploys.end_step(done.id, StepStatus.OK, done.started_at)
        deploys.log(row.id, step, f"{step}: done")
    deploys.update(
        row.id, status=DeployStatus.SUCCEEDED, started_at=row.created_at, finished_at=utcnow()
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def app_process(data: Path, key_hex: str) -> Iterator[tuple[str, int]]:
    """The app on a free port until the block ends; yields its URL and pid."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env.update(
        DW_DATA_DIR=str(data),
        DW_PORT=str(port),
        ENCRYPTION_KEY=key_hex,
        ADMIN_PASSWORD=PASSWORD,
        DOCKER_HOST="unix:///nonexistent/docker.sock",  # statuses stay as written
        DW_LOG_LEVEL="warning",
    )
    log = (data.parent / "app.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "app"],
        cwd=data.parent,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path | None = None) -> None:
    """Until /healthz answers; the app's `log` is printed if it exits first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = f":\n{log.read_text()}" if log is not None else ""
            raise SystemExit(f"the app exited with {process.returncode}{output}")
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the app did not answer within 60 s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def timed(client: httpx.Client, path: str, expect: str) -> tuple[float, float]:
    """Median and worst of ROUNDS GETs (ms), after WARMUP untimed ones."""
    samples = []
    for round_ in range(WARMUP + ROUNDS):
        start = time.perf_counter()
        answer = client.get(path)
        elapsed = (time.perf_counter() - start) * 1000
        assert answer.status_code == 200 and expect in answer.text, (path, answer.status_code)
        if round_ >= WARMUP:
            samples.append(elapsed)
    return statistics.median(samples), max(samples)


def settle(pid: int, seconds: float = 8.0) -> float:
    """RSS after the page clients of the timed GETs (never connected) were dropped."""
    time.sleep(seconds)  # NiceGUI deletes a client that never opened its websocket after a few s
    return rss_mb(pid)


def main() -> None:
    key_hex = generate_key_hex()
    with tempfile.TemporaryDirectory(prefix="dw-bench-ui-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir(mode=0o700)
        started = time.perf_counter()
        project_id = populate(data, bytes.fromhex(key_hex))
        filled = time.perf_counter() - started
        print(
            f"filled {PROJECTS} projects × {len(STAGES)} stages × {PER_STAGE} instances, "
            f"{PROJECTS * DEPLOYS} deploys in {filled:.1f} s"
        )
        with app_process(data, key_hex) as (url, pid):
            results = measure(url, pid, project_id)
    report(results)


def measure(url: str, pid: int, project_id: int) -> dict[str, tuple[float, float]]:
    with httpx.Client(base_url=url, timeout=30) as client:
        idle_start = settle(pid, 3.0)
        login = {"username": "admin", "password": PASSWORD}
        client.post("/api/auth/login", json=login).raise_for_status()
        return {
            "baseline: sign-in page": timed(client, "/login", "Sign in"),
            "dashboard (100 projects)": timed(client, "/", "app-099"),
            "project page (3 stages, 6 inst.)": timed(
                client, f"/projects/{project_id}", "Deploy history"
            ),
            "idle RSS after start-up": (idle_start, 0.0),
            f"idle RSS after {3 * (WARMUP + ROUNDS)} renders": (settle(pid), 0.0),
        }


def report(results: dict[str, tuple[float, float]]) -> None:
    print(f"{'':36}{'median':>10}{'worst':>10}   target")
    for name, (median, worst) in results.items():
        if name.startswith("idle"):
            verdict = "ok" if median <= RSS_TARGET_MB else "MISSED"
            print(f"{name:36}{median:>8.1f}MB{'':10}   ≤ {RSS_TARGET_MB} MB  {verdict}")
            continue
        target = ""
        if name.startswith("dashboard"):
            verdict = "ok" if median <= DASHBOARD_TARGET_MS else "MISSED"
            target = f"   ≤ {DASHBOARD_TARGET_MS} ms  {verdict}"
        print(f"{name:36}{median:>8.1f}ms{worst:>8.1f}ms{target}")


if __name__ == "__main__":
    main()
