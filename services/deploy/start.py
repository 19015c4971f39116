"""The container half of a deploy: start the new instance, then wait until it is healthy."""

from __future__ import annotations

import asyncio

from services import naming
from services.deploy.collaborators import DeployPorts
from services.deploy.health import HealthPolicy, HealthResult, address_of
from services.deploy.job import DeployJob, HealthFailed, Undo
from services.store.models import Instance, InstanceStatus, utcnow
from services.types import LABEL_INSTALLATION, ContainerSpec, Mount, labels_for
from services.volumes import prepare


class ContainerSteps:
    """`start` records the instance and its undo before the container exists; `health` gates."""

    def __init__(self, ports: DeployPorts, *, in_network: bool) -> None:
        self._p = ports
        self._in_network = in_network

    async def start(self, job: DeployJob) -> None:
        async with job.recorder.step("start"):
            mounts, instance = await asyncio.to_thread(self._prepare, job)  # one trip
            job.instance = instance
            spec = self._container_spec(job, instance, mounts)
            job.undo.append(self._undo_instance(instance))
            info = job.container = await self._p.engine.create_and_start(spec)
            assert instance.id is not None
            job.instance = await asyncio.to_thread(
                self._p.instances.update,
                instance.id,
                container_id=info.id,
                started_at=utcnow(),
            )
            await job.recorder.log(f"started container {spec.name} on network {spec.network}")

    def _prepare(self, job: DeployJob) -> tuple[list[Mount], Instance]:
        """Host folders first (a refused one leaves no row behind), then the instance row."""
        assert job.config is not None
        return prepare(job.config.mounts), self._new_instance(job)

    def _new_instance(self, job: DeployJob) -> Instance:
        assert job.project.id is not None and job.stage.id is not None
        row = Instance(
            project_id=job.project.id,
            stage_id=job.stage.id,
            deploy_id=job.deploy.id,
            tag=job.request.tag,
            digest=job.digest,
            config_hash=job.config.fingerprint if job.config else "",
        )
        row = self._p.instances.add(row)
        assert row.id is not None
        name = naming.container_name(
            job.project, job.stage, job.request.tag, row.id, self._p.installation
        )
        return self._p.instances.update(row.id, container_name=name)

    def _container_spec(
        self, job: DeployJob, instance: Instance, mounts: list[Mount]
    ) -> ContainerSpec:
        assert job.config is not None and instance.id is not None
        env = job.config.env
        labels = labels_for(
            job.project.name, job.stage.name, job.request.tag, instance.id, job.deploy.id or 0
        )
        labels[LABEL_INSTALLATION] = self._p.installation
        return ContainerSpec(
            name=instance.container_name,
            image=job.image_ref,
            env=env,
            labels=labels,
            network=job.settings.network,
            mounts=tuple(mounts),
            port=job.project.port,
        )

    def _undo_instance(self, instance: Instance) -> Undo:
        async def undo() -> None:
            assert instance.id is not None
            await self._p.engine.remove(instance.container_name, force=True)
            await asyncio.to_thread(self._p.instances.delete, instance.id)

        return undo

    async def health(self, job: DeployJob) -> None:
        async with job.recorder.step("health"):
            assert job.instance is not None and job.instance.id is not None
            lines: list[str] = []
            result = await self._probe(job, job.instance, lines)
            for line in lines[-20:]:
                await job.recorder.log(job.redact(line))
            if not result.ok:
                raise HealthFailed(job.redact(f"health check failed: {result.reason}"))
            job.instance = await asyncio.to_thread(
                self._p.instances.update,
                job.instance.id,
                status=InstanceStatus.HEALTHY,
                healthy_at=utcnow(),
            )
            await job.recorder.log(f"healthy after {result.elapsed:.2f}s ({result.probes} probes)")

    async def _probe(self, job: DeployJob, instance: Instance, lines: list[str]) -> HealthResult:
        assert job.image is not None and job.container is not None
        container = instance.container_id or instance.container_name
        project = job.project
        address = address_of(job.container, job.settings.network, in_network=self._in_network)
        policy = HealthPolicy(
            project.healthcheck,
            project.healthcheck_retries,
            project.healthcheck_interval,
            project.healthcheck_timeout,
        )
        return await self._p.health.wait_healthy(
            container,
            address=address,
            port=project.port,
            policy=policy,
            image_has_healthcheck=job.image.has_healthcheck,
            on_log=lines.append,
            started=job.container,
        )
