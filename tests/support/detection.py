"""Detection (webhook, poller, intake, quick deploy) over a test World, plus webhook helpers.

`detected` hands out the world's detection services (or, with poller options, a second detection
built by `app.wiring.build_detection` over the same graph) and cleans up after them: containers
of projects the webhook auto-created carry the world's installation label, not its project's,
so they are removed here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from app.api import webhook_routes
from app.wiring import DetectionServices, build_detection
from services.auth.limits import RequestRate
from services.detect.poll_status import PollerOptions
from services.detect.webhook import WebhookReceiver
from services.store.models import Deploy, DeployStatus
from services.types import LABEL_INSTALLATION
from tests.support.docker_env import async_wait_until
from tests.support.world import World

FINISHED = (
    DeployStatus.SUCCEEDED,
    DeployStatus.FAILED,
    DeployStatus.REFUSED,
    DeployStatus.SKIPPED,
)


def detection_for(world: World, options: PollerOptions | None = None) -> DetectionServices:
    """Fresh detection services over the world's graph (a new one acts like a restart)."""
    runtime = world.runtime
    return build_detection(
        stores=runtime.stores, clients=runtime.clients, services=runtime.services, options=options
    )


@asynccontextmanager
async def detected(
    world: World, options: PollerOptions | None = None
) -> AsyncIterator[DetectionServices]:
    """The world's detection services, or fresh ones polling with `options`."""
    detection = world.runtime.detection if options is None else detection_for(world, options)
    try:
        yield detection
    finally:
        await detection.intake.shutdown()
        await world.services.deployer.shutdown(30)
        remove_installation_containers(world)


def remove_installation_containers(world: World) -> None:
    """Every container this world's installation started (auto-created projects included)."""
    label = f"{LABEL_INSTALLATION}={world.settings.installation_id()}"
    for container in world.client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True, v=True)


@asynccontextmanager
async def webhook_client(
    detection: DetectionServices,
    *,
    receiver: WebhookReceiver | None = None,
    address: str = "127.0.0.1",
    accepting: Callable[[], bool] = lambda: True,
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client, calling from `address`, for a FastAPI app holding only the webhook route
    (with the detection's receiver, or `receiver`; `accepting` says whether the process is
    not stopping)."""
    api = FastAPI()
    webhook_routes.register(api, receiver or detection.webhook, accepting)
    transport = httpx.ASGITransport(app=api, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://watcher") as client:
        yield client


def receiver_for(
    world: World, detection: DetectionServices, rate: RequestRate, clock: Callable[[], float]
) -> WebhookReceiver:
    """A webhook receiver over the detection's intake with its own rate limit and clock."""
    return WebhookReceiver(
        world.settings.webhook_secret, world.registries, detection.intake, rate=rate, clock=clock
    )


def hook_path(world: World) -> str:
    return f"/api/webhook/{world.settings.webhook_secret()}"


def deploys_of(world: World, project_id: int | None = None, **match: Any) -> list[Deploy]:
    """Deploys of a project (default: the world's), oldest first, filtered by field values."""
    rows = world.deploys.recent(project_id=project_id or world.project.id, limit=500)
    return [d for d in reversed(rows) if all(getattr(d, k) == v for k, v in match.items())]


async def settled(world: World, count: int, project_id: int | None = None) -> list[Deploy]:
    """Wait until `count` deploys of the project exist and all have finished."""

    async def done() -> list[Deploy] | None:
        rows = await asyncio.to_thread(deploys_of, world, project_id)
        if len(rows) >= count and all(d.status in FINISHED for d in rows):
            return rows
        return None

    return await async_wait_until(
        done, timeout=90, message=f"{count} finished deploys", interval=0.1
    )


def counter(items: list[Any], wanted: int) -> Callable[[], Awaitable[bool]]:
    async def enough() -> bool:
        return len(items) >= wanted

    return enough
