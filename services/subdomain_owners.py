"""Who holds a subdomain label across the installation, checked before a custom one is saved.

Subdomains are unique across the whole installation. A stage's custom subdomain must
not equal another stage's default (custom or from the pattern) nor a name an instance of another
stage serves; the deployer checks again at deploy time, this catches it while typing.
"""

from __future__ import annotations

from services import subdomains
from services.errors import Conflict, ValidationFailed
from services.store.instances import InstanceStore
from services.store.models import GlobalSettings, Project, Stage
from services.store.projects import ProjectStore
from services.store.settings_store import SettingsStore


class SubdomainOwners:
    """Blocking reads (call from a worker thread)."""

    def __init__(
        self, projects: ProjectStore, instances: InstanceStore, settings: SettingsStore
    ) -> None:
        self._projects = projects
        self._instances = instances
        self._settings = settings

    def refuse_taken(self, label: str, own_stage_id: int | None) -> None:
        """Conflict naming the holder when `label` is used by anything but `own_stage_id`."""
        holder = self.holder(label, own_stage_id)
        if holder is not None:
            raise Conflict(f"subdomain {label!r} is already used by {holder}")

    def holder(self, label: str, own_stage_id: int | None) -> str | None:
        """A description of who holds `label` (a stage or an instance), or None when free."""
        settings = self._settings.get_global()
        for project in self._projects.all():
            assert project.id is not None
            for stage in self._projects.stages(project.id):
                if stage.id != own_stage_id and _default_label(settings, project, stage) == label:
                    return f"stage {project.name}/{stage.name}"
        for instance in self._instances.all():
            held = any(d == label or d.startswith(f"{label}.") for d in instance.subdomains)
            if held and instance.stage_id != own_stage_id:
                return f"instance #{instance.id} ({instance.container_name})"
        return None


def _default_label(settings: GlobalSettings, project: Project, stage: Stage) -> str | None:
    if stage.subdomain:
        return stage.subdomain
    try:
        return subdomains.render(settings.subdomain_pattern, project=project.name, stage=stage.name)
    except ValidationFailed:
        return None  # an unusable stored pattern: the settings page reports it
