"""Names derived from a project, stage and tag: container names and the instance subdomains."""

from __future__ import annotations

from services import subdomains
from services.store.models import GlobalSettings, Project, Stage


def container_name(
    project: Project, stage: Stage, tag: str, instance_id: int, installation: str
) -> str:
    """A DNS-safe container name, unique on the engine (NPM reaches the container by it).

    Instance ids are unique only within one database, so the installation id is part of the
    name: a second watcher on the same engine, or a fresh database, never collides with
    containers another installation left running.
    """
    label = f"dw-{project.name}-{stage.name}-{tag}-{instance_id}-{installation[:6]}"
    return subdomains.sanitize_label(label)


def tag_fqdn(settings: GlobalSettings, project: Project, stage: Stage, tag: str) -> str:
    """The subdomain every instance gets for its own tag (e.g. stage-rel-app-v1-2-0.example.com)."""
    label = subdomains.render(
        settings.subdomain_pattern, project=project.name, stage=stage.name, tag=tag
    )
    return subdomains.fqdn(label, settings.domain)


def default_fqdn(settings: GlobalSettings, project: Project, stage: Stage) -> str:
    """The stage's moving subdomain: its custom one (e.g. launcher) or the pattern's default."""
    if stage.subdomain:
        label = subdomains.sanitize_label(stage.subdomain)
    else:
        label = subdomains.render(
            settings.subdomain_pattern, project=project.name, stage=stage.name
        )
    return subdomains.fqdn(label, settings.domain)
