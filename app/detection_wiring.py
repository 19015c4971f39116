"""Builds detection (webhook, poller, intake, quick deploy) over the deploy services.

Kept apart from `services_wiring` so the two can grow without stepping on each other; used by the
runtime and by tests alike.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.services_wiring import DomainServices, WiringInputs
from services.detect.auto_create import AutoCreator
from services.detect.intake import Intake, IntakeStores
from services.detect.poll_project import PollerStores
from services.detect.poll_status import PollerOptions
from services.detect.poller import Poller
from services.detect.quick_deploy import QuickDeploy, QuickDeployStores
from services.detect.webhook import WebhookReceiver
from services.registry.pool import RegistryPool
from services.store.seen_tags import SeenTagStore


@dataclass
class DetectionServices:
    seen: SeenTagStore
    pool: RegistryPool
    quick: QuickDeploy
    intake: Intake
    poller: Poller
    webhook: WebhookReceiver

    async def stop(self, poller_task: asyncio.Task[None] | None, timeout: float = 30.0) -> None:
        """At shutdown, after the poller's stop event was set: let it and auto-creations end."""
        if poller_task is not None and not poller_task.done():
            await asyncio.wait({poller_task}, timeout=timeout)
        await self.intake.shutdown(timeout)


def build_detection(
    inputs: WiringInputs,
    services: DomainServices,
    seen: SeenTagStore,
    options: PollerOptions | None = None,
) -> DetectionServices:
    """Wire the detection services; they share one registry pool (one client per registry)."""
    pool = services.registries
    quick_stores = QuickDeployStores(inputs.projects, inputs.instances, inputs.settings)
    quick = QuickDeploy(quick_stores, pool, inputs.engine, services.deployer)
    creator = AutoCreator(inputs.settings, quick, seen, services.notifier)
    intake = Intake(
        IntakeStores(inputs.projects, inputs.instances, inputs.deploys, seen),
        pool,
        services.deployer,
        services.notifier,
        services.bus,
        creator,
    )
    poller_stores = PollerStores(inputs.projects, inputs.instances, seen, inputs.settings)
    poller = Poller(poller_stores, pool, intake, options)
    webhook = WebhookReceiver(inputs.settings.webhook_secret, inputs.registries, intake)
    return DetectionServices(seen, pool, quick, intake, poller, webhook)
