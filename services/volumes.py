"""Turns a stage's volume entries into safe mounts (SPEC §5 "Volumes").

Host paths must be absolute, normalised and under an allowed root; the Docker socket, `/` and
system directories are refused unless an administrator lists them as roots explicitly.
`isolated` mounts get `{source}/{stage}-{tag}/`, created (0750) when missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from app.models import GlobalSettings, VolumeMode, VolumeMount
from services import subdomains
from services.errors import FieldError, ValidationFailed
from services.types import Mount

DANGEROUS = (
    "/",
    "/etc",
    "/proc",
    "/sys",
    "/var/run",
    "/run",
    "/dev",
    "/boot",
    "/var/run/docker.sock",
    "/run/docker.sock",
)


def allowed_roots(settings: GlobalSettings, default_root: Path) -> list[str]:
    """The configured roots, or the data directory's volumes/ folder when none are set."""
    roots = settings.volume_roots or [str(default_root.resolve())]
    return [os.path.normpath(r) for r in roots]


def check_source(source: str, roots: Iterable[str], path: str = "source") -> str:
    """The normalised host path, or ValidationFailed saying why it may not be mounted."""
    if not source.startswith("/"):
        raise ValidationFailed.single(path, "host paths must be absolute")
    if ".." in PurePosixPath(source).parts:
        raise ValidationFailed.single(path, "'..' is not allowed in host paths")
    normal = os.path.normpath(source)
    roots = list(roots)
    under = [r for r in roots if normal == r or normal.startswith(r.rstrip("/") + "/")]
    if not under:
        raise ValidationFailed.single(
            path, f"{normal} is outside the allowed volume roots ({', '.join(roots)})"
        )
    if _is_dangerous(normal) and normal not in roots:
        raise ValidationFailed.single(path, f"{normal} may not be mounted into containers")
    return normal


def _is_dangerous(path: str) -> bool:
    return path in DANGEROUS or any(path.startswith(d + "/") for d in DANGEROUS if d != "/")


def plan_mounts(
    volumes: list[VolumeMount], settings: GlobalSettings, default_root: Path, stage: str, tag: str
) -> list[Mount]:
    """The mounts for one container; creates isolated directories. Raises ValidationFailed."""
    roots = allowed_roots(settings, default_root)
    mounts: list[Mount] = []
    errors: list[FieldError] = []
    for index, volume in enumerate(volumes):
        try:
            mounts.append(_mount(volume, roots, stage, tag, f"volumes[{index}]"))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return mounts


def _mount(volume: VolumeMount, roots: list[str], stage: str, tag: str, path: str) -> Mount:
    if not volume.target.startswith("/"):
        raise ValidationFailed.single(f"{path}.target", "container paths must be absolute")
    if not volume.source.startswith("/"):  # a named Docker volume
        return Mount(volume.source, volume.target, volume.read_only, "volume")
    source = check_source(volume.source, roots, f"{path}.source")
    if volume.mode == VolumeMode.ISOLATED:
        source = os.path.join(source, subdomains.sanitize_label(f"{stage}-{tag}"))
        Path(source).mkdir(mode=0o750, parents=True, exist_ok=True)
    return Mount(source, volume.target, volume.read_only, "bind")
