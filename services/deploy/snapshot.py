"""A deploy's config snapshot: what its container was built from, kept on the deploy record.

A rollback must run the config the old deploy ran with, not today's: env and mounts may have
changed since. The snapshot holds the resolved env entries with a secret's value exactly as
stored (ciphertext, never plaintext), the resolved mounts, the port and the health settings.
`SnapshotRows` serves a snapshot where `container_config.build` reads the project's rows, so a
rollback's env and mounts pass the same checks (volume roots, named volumes) as any deploy and
get the same fingerprint the original deploy had.
"""

from __future__ import annotations

from typing import Any

from services.deploy.container_config import ConfigRows, resolve_env, resolve_volumes
from services.store.models import EnvVar, Project, Stage, VolumeMode, VolumeMount

VERSION = 1
PROJECT_FIELDS = (
    "port",
    "healthcheck",
    "healthcheck_retries",
    "healthcheck_interval",
    "healthcheck_timeout",
)


def take(rows: ConfigRows, project: Project, stage: Stage) -> dict[str, Any]:
    """The snapshot of what a container of `stage` deployed now is built from (JSON-ready)."""
    assert project.id is not None
    env = resolve_env(rows.env_entries(project.id), stage.id)
    mounts = resolve_volumes(rows.volumes(project.id), stage)
    return {
        "version": VERSION,
        "env": [{"key": key, "value": row.value, "secret": row.secret} for key, row in env.items()],
        "mounts": [
            {
                "source": m.source,
                "target": m.target,
                "mode": str(m.mode),
                "read_only": m.read_only,
            }
            for _, m in mounts
        ],
        "project": {name: getattr(project, name) for name in PROJECT_FIELDS},
    }


def usable(snapshot: dict[str, Any]) -> bool:
    """Whether a deploy record's snapshot can be run again (records before snapshots: no)."""
    return snapshot.get("version") == VERSION


def project_as_deployed(project: Project, snapshot: dict[str, Any]) -> Project:
    """`project` with the port and health settings it had when the snapshot was taken."""
    return project.model_copy(update=dict(snapshot.get("project", {})))


class SnapshotRows:
    """A snapshot as the rows `container_config.build` reads (all at project scope)."""

    def __init__(self, snapshot: dict[str, Any], project_id: int, reveal: ConfigRows) -> None:
        """`reveal` decrypts a secret entry (the ProjectStore)."""
        self._snapshot = snapshot
        self._project_id = project_id
        self._reveal = reveal

    def env_entries(self, project_id: int) -> list[EnvVar]:
        return [
            EnvVar(
                project_id=self._project_id,
                key=str(item["key"]),
                value=item["value"],
                secret=bool(item["secret"]),
            )
            for item in self._snapshot.get("env", [])
        ]

    def volumes(self, project_id: int) -> list[VolumeMount]:
        return [
            VolumeMount(
                project_id=self._project_id,
                source=str(item["source"]),
                target=str(item["target"]),
                mode=VolumeMode(item["mode"]),
                read_only=bool(item["read_only"]),
            )
            for item in self._snapshot.get("mounts", [])
        ]

    def reveal(self, entry: EnvVar) -> str:
        return self._reveal.reveal(entry)
