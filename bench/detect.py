"""Detection cost: webhook accept latency and one poll cycle over 200 projects, beside baselines.

(a) accept latency over loopback HTTP (uvicorn on 127.0.0.1 in its own process, the real webhook
    route, intake and SQLite), 1,000 sequential requests per case. Baselines: a trivial FastAPI
    endpoint on the same server, and a bare HEAD of a manifest on the registry (the lookup a body
    without digest needs). Cases: a tag already seen (digest read from the registry, then
    deduplicated), a new push naming its digest (claimed, recorded as waiting), an unknown image.
(b) poll cycles over 200 projects (5 tags each) on a local registry (Debian's docker-registry
    with htpasswd, seeded over its HTTP API): the baseline cycle, an idle cycle, an idle cycle
    where half the projects run an auto-deployed tag (averaged over `recheck_every` cycles), and
    a cycle where 10 projects got a new tag; wall time, requests, requests per project. Baseline:
    a bare `GET /v2/<repo>/tags/list` for each repository at the same concurrency.
Targets (issue 4): ≤ 1 request per project per idle cycle, p99 accept ≤ 20 ms. Needs
docker-registry and apache2-utils (htpasswd); no Docker Engine.
Run: .venv/bin/python bench/detect.py
"""

from __future__ import annotations

import asyncio
import multiprocessing
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.api import webhook_routes
from app.config import Settings
from app.wiring import DetectionServices, Runtime, Stores, build_runtime
from bench.registry_seed import Seeder
from services.secrets import generate_key_hex
from services.store.models import Instance, InstanceStatus
from tests.support.registry_server import basic_auth_config, free_port, run_registry

PROJECTS = 200
TAGS = ("dev-1", "dev-2", "dev-3", "v1.0.0", "latest")
REQUESTS = 1000
CONCURRENCY = 4  # the poller's default per-registry limit


def open_runtime(data: Path, key: str) -> Runtime:
    """The app's graph over the bench database; each event loop gets its own (its own HTTP
    client): the accept server opens another in its process."""
    settings = Settings.model_validate({"DW_DATA_DIR": str(data), "ENCRYPTION_KEY": key})
    return build_runtime(settings)


def add_projects(stores: Stores, seeder: Seeder) -> list[int]:
    user, password = seeder.auth
    stores.settings.update_global(domain="bench.example", poll_interval=300)
    reg = stores.registries.create(name="local", url=seeder.url, username=user, token=password)
    ids = []
    for n in range(PROJECTS):
        project = stores.projects.create(
            name=f"p{n:03d}", registry_id=reg.id, image=f"{seeder.host}/bench/p{n:03d}"
        )
        assert project.id is not None
        stores.projects.add_stage(project.id, name="dev", tag_pattern="dev-*", auto_deploy=True)
        stores.projects.add_stage(project.id, name="rel", tag_pattern="v*")
        ids.append(project.id)
    return ids


def add_running(stores: Stores, ids: list[int], digests: dict[str, str]) -> None:
    """Half the projects run dev-3 in their auto-deploy stage (rows only, no containers)."""
    for pid in ids[: len(ids) // 2]:
        stage = stores.projects.stage_by_name(pid, "dev")
        assert stage.id is not None
        row = Instance(project_id=pid, stage_id=stage.id, tag="dev-3", digest=digests[str(pid)])
        row.status = InstanceStatus.HEALTHY
        stores.instances.add(row)


# --- (a) accept latency -----------------------------------------------------------------------
def serve(data: str, key: str, port: int) -> None:
    """The accept server, in its own process (the sender never shares our interpreter)."""
    runtime = open_runtime(Path(data), key)
    app = FastAPI()
    webhook_routes.register(app, runtime.detection.webhook)

    @app.post("/trivial", status_code=202)
    async def trivial() -> JSONResponse:
        return JSONResponse({"ok": True}, status_code=202)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


def latencies(send: Callable[[int], httpx.Response], count: int) -> list[float]:
    for n in range(50):  # warm-up: connections, caches, the registry client's auth
        send(n)
    times = []
    for n in range(count):
        started = time.perf_counter()
        answer = send(n)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.is_success, answer.text
    return times


def describe(name: str, times: list[float]) -> str:
    p99 = statistics.quantiles(times, n=100)[98]
    return f"  {name:<46} median {statistics.median(times):6.2f} ms   p99 {p99:6.2f} ms"


def cases(client: httpx.Client, base: str, secret: str, seeder: Seeder) -> dict[str, Any]:
    image, path = f"{seeder.host}/bench/p000", f"{base}/api/webhook/{secret}"
    manifest = f"{seeder.url}/v2/bench/p000/manifests/v1.0.0"
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}

    def hook(body: Callable[[int], dict[str, str]]) -> Callable[[int], httpx.Response]:
        return lambda n: client.post(path, json=body(n))

    return {
        "baseline: trivial FastAPI endpoint": lambda n: client.post(f"{base}/trivial", json={}),
        "baseline: bare registry HEAD of the manifest": lambda n: client.head(
            manifest, headers=accept, auth=seeder.auth
        ),
        "known tag, already seen (digest via HEAD)": hook(lambda n: {"image": f"{image}:v1.0.0"}),
        "new push with digest (claimed, waiting)": hook(
            lambda n: {"image": f"{image}:v1.0.0", "digest": f"sha256:{n:064x}"}
        ),
        "unknown image (not on the allow-list)": hook(
            lambda n: {"image": f"ghcr.io/someone/tool{n % 7}:v1"}
        ),
    }


def accept_bench(data: Path, key: str, secret: str, seeder: Seeder) -> None:
    port = free_port()
    context = multiprocessing.get_context("spawn")
    server = context.Process(target=serve, args=(str(data), key, port), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=10) as client:
            wait_for(client, f"{base}/trivial")
            print(f"\nwebhook accept latency, {REQUESTS} sequential requests over loopback HTTP:")
            for name, send in cases(client, base, secret, seeder).items():
                print(describe(name, latencies(send, REQUESTS)))
    finally:
        server.terminate()
        server.join(10)


def wait_for(client: httpx.Client, url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            client.post(url, json={})
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} never answered")


# --- (b) poll cycles --------------------------------------------------------------------------
async def bare_lists(url: str, auth: tuple[str, str]) -> tuple[float, int]:
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(auth=auth) as client:

        async def one(n: int) -> None:
            async with limit:
                (await client.get(f"{url}/v2/bench/p{n:03d}/tags/list")).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(PROJECTS)))
    return time.perf_counter() - started, PROJECTS


async def cycle(detection: DetectionServices, name: str, rounds: int = 1) -> None:
    wall, requests = 0.0, 0
    for _ in range(rounds):
        started = time.perf_counter()
        report = await detection.poller.poll_once()
        wall += time.perf_counter() - started
        requests += report.requests
        assert not report.errors, report.errors
    line(name, wall / rounds, requests / rounds)


def line(name: str, wall: float, requests: float) -> None:
    per = requests / PROJECTS
    print(f"  {name:<52} {wall * 1000:8.1f} ms  {requests:7.1f} requests  {per:5.2f}/project")


async def poll_bench(detection: DetectionServices, stores: Stores, seeder: Seeder) -> None:
    ids = add_projects(stores, seeder)
    print(f"\npoll cycle over {PROJECTS} projects ({len(TAGS)} tags each), local registry:")
    wall, requests = await bare_lists(seeder.url, seeder.auth)
    line("baseline: bare GET tags/list per repository", wall, requests)
    await cycle(detection, "first cycle (baseline of every project)")
    await cycle(detection, "idle cycle, nothing changed")
    digests = {str(pid): seeder.digests[f"bench/p{n:03d}:dev-3"] for n, pid in enumerate(ids)}
    add_running(stores, ids, digests)
    rounds = 3
    await cycle(detection, f"idle, half run a dev tag (mean of {rounds} cycles)", rounds)
    await asyncio.gather(*(seeder.push(f"bench/p{n:03d}", ["v1.1.0"]) for n in range(10)))
    await cycle(detection, "10 projects got a new v* tag (waiting)")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data, key = Path(tmp), generate_key_hex()
        user, password = "bench", secrets.token_urlsafe(12)
        with run_registry(data, basic_auth_config(data, user, password)) as url:
            seeder = Seeder(url, (user, password))
            await asyncio.gather(
                *(seeder.push(f"bench/p{n:03d}", list(TAGS)) for n in range(PROJECTS))
            )
            runtime = open_runtime(data, key)
            await poll_bench(runtime.detection, runtime.stores, seeder)
            secret = runtime.stores.settings.webhook_secret()
            await asyncio.to_thread(accept_bench, data, key, secret, seeder)
            await runtime.close(drain_seconds=0)
            await seeder.aclose()


if __name__ == "__main__":
    asyncio.run(main())
