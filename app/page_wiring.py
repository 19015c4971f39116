"""Builds what the dashboard, project and quick deploy pages need (used by the app and tests).

The live board subscribes to the event bus here, once per process: every open page reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pages.components.deps import PageServices
from services.admin.instance_admin import InstanceAdmin
from services.detect.quick_deploy import QuickDeploy
from services.events import EventBus
from services.store.db import Database
from services.store.deploys import DeployStore
from services.store.projects import ProjectStore
from services.views.live_board import LiveBoard
from services.views.overview import Overview
from services.views.system_status import SystemStatus

if TYPE_CHECKING:
    from app.runtime import Runtime


def build_page_services(
    status: SystemStatus,
    db: Database,
    projects: ProjectStore,
    deploys: DeployStore,
    bus: EventBus,
    instances: InstanceAdmin,
    quick: QuickDeploy,
) -> PageServices:
    overview = Overview(db, projects, deploys)
    return PageServices(status, LiveBoard(bus, overview), overview, instances, quick)


def page_services(runtime: Runtime) -> PageServices:
    return build_page_services(
        runtime.status,
        runtime.db,
        runtime.stores.projects,
        runtime.stores.deploys,
        runtime.services.bus,
        runtime.admin.instance_admin,
        runtime.detection.quick,
    )
