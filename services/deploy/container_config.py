"""What a stage's containers get from the project's configuration: env, mounts and a fingerprint.

Resolution is one rule for env and volumes: project entries first, then the stage's overrides
(an env key set again replaces the value, an unset removes it; a mount with the same target
replaces the project's). The fingerprint lets the UI tell which instances run with outdated
configuration. It is a SHA-256 over a canonical form in which a secret is represented by its
stored ciphertext, never its plaintext: so it changes when a secret changes (the env service
keeps the ciphertext of an unchanged secret) yet reveals nothing, even to someone holding the
database, about a value that may be short enough to guess.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Protocol

from services import volume_rules, volumes
from services.redaction import Redactor
from services.store.models import EnvVar, Instance, Stage, VolumeMount

Origin = Literal["project", "stage"]


class ConfigRows(Protocol):
    """The slice of ProjectStore this module reads."""

    def env_entries(self, project_id: int) -> list[EnvVar]: ...
    def volumes(self, project_id: int) -> list[VolumeMount]: ...
    def reveal(self, entry: EnvVar) -> str: ...


def resolve_env(rows: Sequence[EnvVar], stage_id: int | None) -> dict[str, EnvVar]:
    """The winning entry per key for a stage (None: the project alone), in a stable order."""
    resolved: dict[str, EnvVar] = {}
    for scope in (None, stage_id) if stage_id is not None else (None,):
        for row in (r for r in rows if r.stage_id == scope):
            if row.unset or row.value is None:
                resolved.pop(row.key, None)
            else:
                resolved[row.key] = row
    return resolved


def resolve_volumes(
    rows: Sequence[VolumeMount], stage: Stage | None
) -> list[tuple[str, VolumeMount]]:
    """The mounts of a stage (None: the project alone), each with its field path for errors."""
    by_target: dict[str, tuple[str, VolumeMount]] = {}
    scopes: list[tuple[int | None, str]] = [(None, "volumes")]
    if stage is not None:
        scopes.append((stage.id, f"stages.{stage.name}.volumes"))
    for scope, base in scopes:
        own = [r for r in rows if r.stage_id == scope]
        for index, row in enumerate(own):
            by_target[volume_rules.normal(row.target)] = (f"{base}.{index}", row)
    return list(by_target.values())


def origin_of(row: EnvVar | VolumeMount) -> Origin:
    return "project" if row.stage_id is None else "stage"


def fingerprint(env: Mapping[str, EnvVar], mounts: Sequence[tuple[str, VolumeMount]]) -> str:
    """A stable digest of what a container gets; see the module doc for why it is safe."""
    canonical = {
        "env": sorted(
            (key, "secret", row.value or "") if row.secret else (key, "plain", row.value or "")
            for key, row in env.items()
        ),
        "volumes": sorted(
            (volume_rules.normal(m.target), m.source, str(m.mode), m.read_only) for _, m in mounts
        ),
    }
    text = json.dumps(canonical, ensure_ascii=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def current_fingerprint(rows: ConfigRows, project_id: int, stage: Stage) -> str:
    """The fingerprint a container of `stage` deployed now would carry."""
    env = resolve_env(rows.env_entries(project_id), stage.id)
    return fingerprint(env, resolve_volumes(rows.volumes(project_id), stage))


def outdated(
    rows: ConfigRows, stages: Sequence[Stage], instances: Sequence[Instance]
) -> list[Instance]:
    """Instances whose configuration differs from their stage's current one.

    Instances deployed before fingerprints existed (empty hash) count as outdated: nobody can
    tell what they run with.
    """
    by_id = {s.id: s for s in stages}
    current = {s.id: current_fingerprint(rows, s.project_id, s) for s in stages}
    return [i for i in instances if i.stage_id in by_id and i.config_hash != current[i.stage_id]]


@dataclass(frozen=True)
class ContainerConfig:
    """The env and planned mounts of one container, with its fingerprint and secret values."""

    env: Mapping[str, str]
    mounts: tuple[volumes.PlannedMount, ...]
    fingerprint: str
    secret_keys: tuple[str, ...] = ()
    _redactor: Redactor = field(default_factory=Redactor, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        self._redactor.register(*(self.env[k] for k in self.secret_keys))

    def __repr__(self) -> str:  # keeps env values (secrets) out of tracebacks and logs
        return f"ContainerConfig(keys={sorted(self.env)}, fingerprint={self.fingerprint!r})"

    def redact(self, text: str) -> str:
        """`text` with this container's secret values masked (for deploy records and logs)."""
        return self._redactor.redact(text)

    def describe(self) -> list[str]:
        """Lines for the deploy log: env keys (never values) and each mount."""
        keys = ", ".join(k + (" (secret)" if k in self.secret_keys else "") for k in self.env)
        lines = [f"env: {keys}" if keys else "env: none"]
        for item in self.mounts:
            mount = item.mount
            kind = (
                "isolated"
                if item.isolated_in
                else ("volume" if mount.kind == "volume" else "shared")
            )
            access = ", read-only" if mount.read_only else ""
            lines.append(f"mount {mount.source} → {mount.target} ({kind}{access})")
        return lines


def build(
    rows: ConfigRows,
    project_id: int,
    stage: Stage,
    tag: str,
    roots: Sequence[str],
    data_dir: Path | None,
    named: Sequence[str] = (),
) -> ContainerConfig:
    """Resolve and check a container's configuration; ValidationFailed names every bad field.

    Nothing is created on disk here (see `volumes.prepare`), so a refusal leaves no trace.
    """
    env_rows = resolve_env(rows.env_entries(project_id), stage.id)
    mount_rows = resolve_volumes(rows.volumes(project_id), stage)
    planned = volumes.plan(mount_rows, roots, data_dir, stage.name, tag, named)
    env = {key: rows.reveal(row) for key, row in env_rows.items()}
    return ContainerConfig(
        env=env,
        mounts=tuple(planned),
        fingerprint=fingerprint(env_rows, mount_rows),
        secret_keys=tuple(k for k, row in env_rows.items() if row.secret),
    )
