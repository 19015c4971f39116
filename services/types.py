"""Frozen value objects that cross module boundaries (container specs, engine views, label keys).

They are plain data with no behaviour beyond small derived properties, so the deployer, the
reconciler and the pages can exchange them without knowing about docker-py. Mappings are copied
into read-only proxies on construction: a caller mutating its own dict later never changes a spec.
Because of those mappings the objects compare by value but are not hashable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

LABEL_PREFIX = "docker-watcher."
LABEL_MANAGED = f"{LABEL_PREFIX}managed"
LABEL_PROJECT = f"{LABEL_PREFIX}project"
LABEL_STAGE = f"{LABEL_PREFIX}stage"
LABEL_TAG = f"{LABEL_PREFIX}tag"
LABEL_INSTANCE = f"{LABEL_PREFIX}instance"
LABEL_DEPLOY = f"{LABEL_PREFIX}deploy"
# Which Docker Watcher installation started the container: two installations sharing one engine
# (say staging and production watchers) must never reconcile away each other's containers.
LABEL_INSTALLATION = f"{LABEL_PREFIX}installation"
MANAGED_VALUE = "true"

# Action of the synthetic event `DockerEngine.events` yields after it had to reconnect: events may
# have been missed meanwhile, so the consumer should re-list containers (full reconciliation).
RESYNC_ACTION = "resync"

MountKind = Literal["bind", "volume"]


def _frozen(value: Mapping[str, str]) -> Mapping[str, str]:
    """A read-only copy, so a frozen object never shares a mutable dict with its caller."""
    return MappingProxyType(dict(value))


def labels_for(
    project: str, stage: str, tag: str, instance_id: int | str, deploy_id: int | str
) -> dict[str, str]:
    """The labels every container we start carries, so reconciliation can find it by label."""
    return {
        LABEL_MANAGED: MANAGED_VALUE,
        LABEL_PROJECT: project,
        LABEL_STAGE: stage,
        LABEL_TAG: tag,
        LABEL_INSTANCE: str(instance_id),
        LABEL_DEPLOY: str(deploy_id),
    }


@dataclass(frozen=True)
class Mount:
    """A host path (`bind`) or a named Docker volume (`volume`) mounted at `target`.

    A bind source must exist on the host: unlike `docker run -v`, the Mounts API never creates it.
    """

    source: str
    target: str
    read_only: bool = False
    kind: MountKind = "bind"


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to create one container; turned into docker kwargs by a pure function."""

    name: str
    image: str
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str | None = None
    network_aliases: tuple[str, ...] = ()
    mounts: tuple[Mount, ...] = ()
    restart_policy: str = "unless-stopped"
    port: int | None = None
    command: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", _frozen(self.env))
        object.__setattr__(self, "labels", _frozen(self.labels))


@dataclass(frozen=True)
class ContainerInfo:
    """What the engine reports about one container (any state).

    `status` is Docker's state word: created, running, restarting, paused, exited, dead, removing.
    `health` is Docker's HEALTHCHECK status (starting, healthy, unhealthy) or None without one.
    `exit_code` is meaningful once the container stopped; `restart_count` grows each time the
    restart policy restarted it, which is how a crash-looping container is noticed.
    """

    id: str
    name: str
    image: str
    image_id: str
    status: str
    health: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    restart_count: int = 0
    ip_by_network: Mapping[str, str] = field(default_factory=dict)
    health_output: str | None = None
    restart_policy: str = ""  # Docker's name: no, always, unless-stopped, on-failure ("" = no)
    restart_retries: int = 0  # on-failure's maximum retry count (0: no limit)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", _frozen(self.labels))
        object.__setattr__(self, "ip_by_network", _frozen(self.ip_by_network))

    @property
    def running(self) -> bool:
        """True while the process runs (a restarting or paused container is not serving)."""
        return self.status == "running"

    @property
    def gone_for_good(self) -> bool:
        """True when nothing will run this container again without a person starting it anew.

        That is a `dead` container (the engine could not stop or remove it cleanly), or an
        `exited` one whose restart policy will not restart it: policy `no`, or `on-failure` after
        a clean exit (code 0) or once its retries are used up. With `always` or
        `unless-stopped` (our containers' policy) the engine restarts a crashed process, so an
        `exited` container there was stopped on purpose (`docker stop`, our Stop button): it is
        stopped, not lost, and may be started again.
        """
        if self.status == "dead":
            return True
        if self.status != "exited":
            return False
        policy = self.restart_policy or "no"
        if policy == "no":
            return True
        if policy == "on-failure":
            used_up = 0 < self.restart_retries <= self.restart_count
            return self.exit_code == 0 or used_up
        return False


@dataclass(frozen=True)
class ImageHealthcheck:
    """The HEALTHCHECK baked into an image; durations in seconds (None: Docker's default)."""

    test: tuple[str, ...]
    interval: float | None = None
    timeout: float | None = None
    retries: int | None = None
    start_period: float | None = None


@dataclass(frozen=True)
class ImageInfo:
    """What an image declares: used to prefill a new project and to pick a health-check mode.

    `digest` is the registry manifest digest (`sha256:...`) of the reference that was pulled or
    inspected, or None for an image that never came from a registry (built or imported locally).
    """

    id: str
    digest: str | None = None
    repo_digests: tuple[str, ...] = ()
    repo_tags: tuple[str, ...] = ()
    exposed_ports: tuple[int, ...] = ()
    healthcheck: ImageHealthcheck | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", _frozen(self.labels))
        object.__setattr__(self, "env", _frozen(self.env))

    @property
    def has_healthcheck(self) -> bool:
        """True when the image declares a usable HEALTHCHECK (not `HEALTHCHECK NONE`)."""
        return self.healthcheck is not None


@dataclass(frozen=True)
class EngineEvent:
    """One container event from the engine, e.g. start, die, stop, destroy, health_status.

    `health` is set for `health_status` events; `exit_code` for `die` events. An event with
    `action == RESYNC_ACTION` has no container: it says the stream reconnected.
    """

    action: str
    container_id: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    time: datetime | None = None
    health: str | None = None
    exit_code: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", _frozen(self.labels))


@dataclass(frozen=True)
class PullUpdate:
    """One step of an image pull, e.g. layer `03beb15ec10c` "Download complete"."""

    status: str
    layer: str | None = None
    current: int | None = None
    total: int | None = None

    def __str__(self) -> str:
        text = f"{self.layer}: {self.status}" if self.layer else self.status
        if self.current is not None and self.total:
            text += f" ({self.current}/{self.total} bytes)"
        return text


# Called on the event loop for each pull step; should return quickly and never raise.
PullProgress = Callable[[PullUpdate], None]
