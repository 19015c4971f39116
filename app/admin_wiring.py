"""Builds the admin services the pages and the REST API call (configuration, history, controls).

Kept apart from `services_wiring` and `detection_wiring` so the three can grow independently;
used by the runtime and by tests alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from app.services_wiring import DomainServices
from services.admin.env_config import EnvConfigService
from services.admin.instance_admin import InstanceAdmin
from services.admin.project_admin import ProjectAdmin
from services.admin.registry_admin import RegistryAdmin
from services.admin.settings_admin import SettingsAdmin
from services.admin.volume_config import VolumeConfigService
from services.views.deploy_history import DeployQueries

if TYPE_CHECKING:
    from app.runtime import Stores


@dataclass
class AdminServices:
    project_admin: ProjectAdmin
    registry_admin: RegistryAdmin
    settings_admin: SettingsAdmin
    deploy_queries: DeployQueries
    env_config: EnvConfigService
    volume_config: VolumeConfigService
    instance_admin: InstanceAdmin


def build_admin(
    stores: Stores, services: DomainServices, http: httpx.AsyncClient, data_dir: Path
) -> AdminServices:
    """`data_dir` as the app's: isolated volumes default to its `volumes/` folder."""
    return AdminServices(
        project_admin=ProjectAdmin(
            stores.projects,
            stores.instances,
            stores.registries,
            services.control,
            stores.deploys,
            stores.settings,
            gate=services.deployer,
        ),
        registry_admin=RegistryAdmin(stores.registries, stores.projects, http),
        settings_admin=SettingsAdmin(stores.settings, services.notifier, http),
        deploy_queries=DeployQueries(stores.deploys, services.bus),
        env_config=EnvConfigService(stores.projects, stores.instances),
        volume_config=VolumeConfigService(
            stores.projects, stores.instances, stores.settings, data_dir / "volumes"
        ),
        instance_admin=InstanceAdmin(
            stores.projects, stores.instances, services.control, services.deployer
        ),
    )
