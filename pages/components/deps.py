"""What the dashboard, project and quick deploy pages are given: services only, never stores."""

from __future__ import annotations

from dataclasses import dataclass

from services.admin.instance_admin import InstanceAdmin
from services.deploy.rollback import Rollbacks
from services.detect.quick_deploy import QuickDeploy
from services.views.live_board import LiveBoard
from services.views.overview import Overview
from services.views.system_status import SystemStatus


@dataclass(frozen=True)
class PageServices:
    status: SystemStatus
    live: LiveBoard  # what every open page reads and follows
    overview: Overview  # read models (dashboard cards, project view, a recorded deploy)
    instances: InstanceAdmin  # deploy a tag, stop/start/restart/remove, container logs
    quick: QuickDeploy  # inspect an image, accept a proposal, tags for a stage
    rollbacks: Rollbacks  # "Roll back" on a stage
