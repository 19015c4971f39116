"""The container half of a deploy: the "start" step makes the new instance, "health" gates it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from services import naming
from services.deploy.health import HealthChecker, HealthPolicy, HealthResult, address_of
from services.deploy.job import DeployJob, HealthFailed, Undo
from services.deploy.pull import Pulled
from services.docker_engine import DockerEngine
from services.store.instances import InstanceStore
from services.store.models import Instance, InstanceStatus, utcnow
from services.types import LABEL_INSTALLATION, ContainerInfo, ContainerSpec, Mount, labels_for
from services.volumes import prepare

HEALTH_LOG_LINES = 20


@dataclass(frozen=True)
class Started:
    """The new instance's row and its container as it was right after starting."""

    instance: Instance
    container: ContainerInfo


class StartStep:
    """Records the instance and its undo before the container exists, then starts it."""

    def __init__(self, engine: DockerEngine, instances: InstanceStore, installation: str) -> None:
        """`installation` is labelled on every container (see types.LABEL_INSTALLATION)."""
        self._engine = engine
        self._instances = instances
        self._installation = installation

    async def run(self, job: DeployJob, pulled: Pulled) -> Started:
        async with job.log.step("start"):
            mounts, instance = await asyncio.to_thread(self._prepare, job, pulled)  # one trip
            spec = self._container_spec(job, pulled, instance, mounts)
            job.report.undo.append(self._undo_instance(instance))
            container = await self._engine.create_and_start(spec)
            assert instance.id is not None
            instance = await asyncio.to_thread(
                self._instances.update, instance.id, container_id=container.id, started_at=utcnow()
            )
            await job.log.log(f"started container {spec.name} on network {spec.network}")
        return Started(instance, container)

    def _prepare(self, job: DeployJob, pulled: Pulled) -> tuple[list[Mount], Instance]:
        """Host folders first (a refused one leaves no row behind), then the instance row."""
        return prepare(job.config.mounts), self._new_instance(job, pulled)

    def _new_instance(self, job: DeployJob, pulled: Pulled) -> Instance:
        assert job.project.id is not None and job.stage.id is not None
        row = Instance(
            project_id=job.project.id,
            stage_id=job.stage.id,
            deploy_id=job.deploy.id,
            tag=job.request.tag,
            digest=pulled.digest,
            config_hash=job.config.fingerprint,
        )
        row = self._instances.add(row)
        assert row.id is not None
        name = naming.container_name(
            job.project, job.stage, job.request.tag, row.id, self._installation
        )
        return self._instances.update(row.id, container_name=name)

    def _container_spec(
        self, job: DeployJob, pulled: Pulled, instance: Instance, mounts: list[Mount]
    ) -> ContainerSpec:
        """Started by digest (`pulled.ref`); the tag stays in the labels and the row."""
        assert instance.id is not None
        labels = labels_for(
            job.project.name, job.stage.name, job.request.tag, instance.id, job.deploy.id or 0
        )
        labels[LABEL_INSTALLATION] = self._installation
        return ContainerSpec(
            name=instance.container_name,
            image=pulled.ref,
            env=job.config.env,
            labels=labels,
            network=job.settings.network,
            mounts=tuple(mounts),
            port=job.project.port,
        )

    def _undo_instance(self, instance: Instance) -> Undo:
        async def undo() -> None:
            assert instance.id is not None
            await self._engine.remove(instance.container_name, force=True)
            await asyncio.to_thread(self._instances.delete, instance.id)

        return undo


class HealthStep:
    """Waits until the new container is healthy; HealthFailed (redacted) when it is not."""

    def __init__(
        self, checker: HealthChecker, instances: InstanceStore, *, in_network: bool
    ) -> None:
        """`in_network`: this process runs on the containers' network (see `address_of`)."""
        self._checker = checker
        self._instances = instances
        self._in_network = in_network

    async def run(self, job: DeployJob, pulled: Pulled, started: Started) -> Instance:
        async with job.log.step("health"):
            lines: list[str] = []
            result = await self._probe(job, pulled, started, lines)
            for line in lines[-HEALTH_LOG_LINES:]:
                await job.log.log(job.redact(line))
            if not result.ok:
                raise HealthFailed(job.redact(f"health check failed: {result.reason}"))
            assert started.instance.id is not None
            healthy = await asyncio.to_thread(
                self._instances.update,
                started.instance.id,
                status=InstanceStatus.HEALTHY,
                healthy_at=utcnow(),
            )
            await job.log.log(f"healthy after {result.elapsed:.2f}s ({result.probes} probes)")
        return healthy

    async def _probe(
        self, job: DeployJob, pulled: Pulled, started: Started, lines: list[str]
    ) -> HealthResult:
        instance, project = started.instance, job.project
        address = address_of(started.container, job.settings.network, in_network=self._in_network)
        policy = HealthPolicy(
            project.healthcheck,
            project.healthcheck_retries,
            project.healthcheck_interval,
            project.healthcheck_timeout,
        )
        return await self._checker.wait_healthy(
            instance.container_id or instance.container_name,
            address=address,
            port=project.port,
            policy=policy,
            image_has_healthcheck=pulled.image.has_healthcheck,
            on_log=lines.append,
            started=started.container,
        )
