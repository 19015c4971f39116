"""Between our types and the Engine API's JSON: container specs out; images, containers in."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import docker.utils

from services.types import (
    LABEL_MANAGED,
    MANAGED_VALUE,
    ContainerInfo,
    ContainerSpec,
    ImageHealthcheck,
    ImageInfo,
    Mount,
)

NS = 1_000_000_000
EPOCH = datetime.min.replace(tzinfo=UTC)


def spec_to_create_kwargs(spec: ContainerSpec) -> dict[str, Any]:
    """The keyword arguments of docker-py's low-level `create_container` for `spec`.

    Low-level on purpose: the high-level API's `ports` would also publish the port on the host.
    The container only exposes `spec.port`; NPM reaches it over the shared network.
    """
    host_config: dict[str, Any] = {
        "RestartPolicy": {"Name": spec.restart_policy, "MaximumRetryCount": 0},
        "Mounts": [_mount_config(m) for m in spec.mounts],
    }
    kwargs: dict[str, Any] = {
        "image": spec.image,
        "name": spec.name,
        "command": list(spec.command) if spec.command is not None else None,
        "environment": [f"{key}={value}" for key, value in spec.env.items()],
        "labels": dict(spec.labels),
        "ports": [spec.port] if spec.port else None,
        "detach": True,
        "use_config_proxy": False,  # the spec is the whole truth, not ~/.docker/config.json
        "host_config": host_config,
    }
    if spec.network:
        host_config["NetworkMode"] = spec.network
        endpoint = {"Aliases": list(spec.network_aliases)}
        kwargs["networking_config"] = {"EndpointsConfig": {spec.network: endpoint}}
    return kwargs


def _mount_config(mount: Mount) -> dict[str, Any]:
    return {
        "Type": mount.kind,
        "Source": mount.source,
        "Target": mount.target,
        "ReadOnly": mount.read_only,
    }


def label_filter(labels: Mapping[str, str] | None) -> list[str]:
    extra = [f"{key}={value}" for key, value in (labels or {}).items()]
    return [f"{LABEL_MANAGED}={MANAGED_VALUE}", *extra]


def digest_from_status(item: Mapping[str, Any]) -> str | None:
    status = str(item.get("status", ""))
    return status.removeprefix("Digest: ") if status.startswith("Digest: ") else None


def _repository(ref: str) -> str:
    repository, _ = docker.utils.parse_repository_tag(ref)
    return str(repository).removeprefix("docker.io/").removeprefix("library/")


def digest_for(ref: str, repo_digests: tuple[str, ...]) -> str | None:
    """The manifest digest of `ref`'s repository among an image's RepoDigests."""
    wanted = _repository(ref)
    for entry in repo_digests:
        repository, _, digest = entry.partition("@")
        if _repository(repository) == wanted:
            return digest
    return None


def image_info(ref: str, attrs: Mapping[str, Any]) -> ImageInfo:
    config = attrs.get("Config") or {}
    repo_digests = tuple(attrs.get("RepoDigests") or ())
    return ImageInfo(
        id=str(attrs["Id"]),
        digest=digest_for(ref, repo_digests),
        repo_digests=repo_digests,
        repo_tags=tuple(attrs.get("RepoTags") or ()),
        exposed_ports=_ports(config.get("ExposedPorts")),
        healthcheck=_healthcheck(config.get("Healthcheck")),
        labels=dict(config.get("Labels") or {}),
        env=_env(config.get("Env")),
    )


def _ports(exposed: Mapping[str, Any] | None) -> tuple[int, ...]:
    ports = {int(key.split("/", 1)[0]) for key in (exposed or {}) if key.split("/")[0].isdigit()}
    return tuple(sorted(ports))


def _healthcheck(raw: Mapping[str, Any] | None) -> ImageHealthcheck | None:
    """None for no HEALTHCHECK, `HEALTHCHECK NONE` or an empty test (inherit: nothing to run)."""
    if raw is None:
        return None
    test = tuple(raw.get("Test") or ())
    if not test or test[0] == "NONE":
        return None
    return ImageHealthcheck(
        test=test,
        interval=_seconds(raw.get("Interval")),
        timeout=_seconds(raw.get("Timeout")),
        retries=raw.get("Retries") or None,
        start_period=_seconds(raw.get("StartPeriod")),
    )


def _seconds(nanoseconds: int | None) -> float | None:
    return nanoseconds / NS if nanoseconds else None


def _env(raw: list[str] | None) -> dict[str, str]:
    pairs = (entry.partition("=") for entry in raw or ())
    return {key: value for key, _, value in pairs}


def timestamp(raw: str | None) -> datetime | None:
    """Docker's RFC 3339 time (nanoseconds trimmed); its zero time `0001-01-01...` → None."""
    if not raw or raw.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


def container_info(attrs: Mapping[str, Any]) -> ContainerInfo:
    state = attrs.get("State") or {}
    health = state.get("Health") or {}
    status = str(state.get("Status", "unknown"))
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    policy = (attrs.get("HostConfig") or {}).get("RestartPolicy") or {}
    return ContainerInfo(
        id=str(attrs["Id"]),
        name=str(attrs.get("Name", "")).lstrip("/"),
        image=str((attrs.get("Config") or {}).get("Image", "")),
        image_id=str(attrs.get("Image", "")),
        status=status,
        health=health.get("Status") or None,
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
        started_at=timestamp(state.get("StartedAt")),
        finished_at=timestamp(state.get("FinishedAt")),
        exit_code=None if status in ("created", "running") else state.get("ExitCode"),
        restart_count=int(attrs.get("RestartCount") or 0),
        ip_by_network={n: v["IPAddress"] for n, v in networks.items() if v.get("IPAddress")},
        health_output=_last_health_output(health),
        restart_policy=str(policy.get("Name") or ""),
        restart_retries=int(policy.get("MaximumRetryCount") or 0),
    )


def _last_health_output(health: Mapping[str, Any]) -> str | None:
    """The output of Docker's latest health probe: the reason a HEALTHCHECK failed."""
    entries = health.get("Log") or []
    if not entries:
        return None
    return str(entries[-1].get("Output", "")).strip() or None
