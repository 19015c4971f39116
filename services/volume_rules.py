"""The text rules a volume entry must follow, shared by deploys, the volume service and the seed.

Pure (no filesystem): `services.volumes` adds what needs the host (the real path behind
symlinks, directory creation). One place for the rules means the YAML import, the UI and a
deploy can never disagree about what may be mounted.

A dangerous path (the Docker socket, `/`, `/etc`, `/proc`, `/sys`, `/var/run`, ...) is refused
even under an allowed root, unless an administrator listed a root *inside* every danger zone
that contains it: root `/` does not open `/etc`, root `/etc/app` opens `/etc/app/conf`, and
the Docker socket needs the socket itself listed (root `/run` is not enough).
"""

from __future__ import annotations

import fnmatch
import hashlib
import posixpath
import re
from collections.abc import Callable, Sequence
from typing import Protocol

from services.errors import FieldError, ValidationFailed

MODES = ("shared", "isolated")
MAX_PATH_CHARS = 4096
MAX_VOLUMES = 50  # per project, and per stage
NAMED_VOLUME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
DANGEROUS = (
    "/",
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/run",
    "/var/run",
    "/var/lib/docker",
    "/run/docker.sock",
    "/var/run/docker.sock",
)
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]")
_MAX_DIR_NAME = 200


class VolumeLike(Protocol):
    """What the rules read from a volume entry (a VolumeMount row, a form, a seed entry)."""

    @property
    def source(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def mode(self) -> str: ...


def is_named(source: str) -> bool:
    """A source without a leading slash names a Docker volume instead of a host path."""
    return not source.startswith("/")


def normal(path: str) -> str:
    """The normalised form of an absolute path (`//a/./b/` → `/a/b`)."""
    return "/" + posixpath.normpath(path).lstrip("/")


def under(path: str, root: str) -> bool:
    """Whether `path` is `root` or inside it (both normalised)."""
    return root == "/" or path == root or path.startswith(root + "/")


def check_host_path(value: str, path: str) -> str:
    """A normalised absolute path, or ValidationFailed naming `path` saying what is wrong."""
    if not value.startswith("/"):
        raise ValidationFailed.single(path, "must be an absolute path (starting with '/')")
    if ".." in value.split("/"):
        raise ValidationFailed.single(path, "must not contain '..'")
    if "\0" in value or len(value) > MAX_PATH_CHARS:
        raise ValidationFailed.single(
            path, f"must be a path of at most {MAX_PATH_CHARS} characters"
        )
    return normal(value)


def check_source(source: str, path: str) -> str:
    """A normalised host path, or a named volume's name (letters, digits, `_`, `.`, `-`)."""
    if not is_named(source):
        return check_host_path(source, path)
    if not NAMED_VOLUME.fullmatch(source):
        raise ValidationFailed.single(
            path,
            "must be an absolute host path, or a Docker volume name (letters, digits, '_', "
            "'.', '-', starting with a letter or digit)",
        )
    return source


def check_target(target: str, path: str) -> str:
    """A normalised absolute container path other than `/`."""
    result = check_host_path(target, path)
    if result == "/":
        raise ValidationFailed.single(path, "must not be '/' (the container's root)")
    return result


def check_mode(mode: str, source: str, path: str) -> str:
    """`shared` or `isolated`; isolated needs a host path (it makes one folder per tag)."""
    if mode not in MODES:
        raise ValidationFailed.single(path, "must be one of 'shared' or 'isolated'")
    if mode == "isolated" and is_named(source):
        raise ValidationFailed.single(
            path, "isolated volumes need a host path (a named volume is shared by every instance)"
        )
    return mode


def entry_problems(volume: VolumeLike, base: str) -> list[FieldError]:
    """Every text problem of one entry, each naming `base.source`, `base.target` or `base.mode`."""
    return [
        *_problems_of(check_source, volume.source, f"{base}.source"),
        *_problems_of(check_target, volume.target, f"{base}.target"),
        *_problems_of(check_mode, volume.mode, volume.source, f"{base}.mode"),
    ]


def list_problems(volumes: Sequence[VolumeLike], base: str) -> list[FieldError]:
    """Every problem of one project's (or stage's) list: each entry, then `cross_problems`."""
    errors: list[FieldError] = []
    for index, volume in enumerate(volumes):
        errors += entry_problems(volume, f"{base}.{index}")
    return errors + [e for e in cross_problems(volumes, base) if e not in errors]


def cross_problems(volumes: Sequence[VolumeLike], base: str) -> list[FieldError]:
    """What no single field shows: the count, a repeated target, an isolated named volume.

    Entries whose own fields are invalid are skipped (their field errors say enough).
    """
    errors: list[FieldError] = []
    if len(volumes) > MAX_VOLUMES:
        errors.append(FieldError(base, f"has more than {MAX_VOLUMES} entries"))
    targets: set[str] = set()
    for index, volume in enumerate(volumes):
        path = f"{base}.{index}"
        if _valid(check_source, volume.source) and volume.mode in MODES:
            errors += _problems_of(check_mode, volume.mode, volume.source, f"{path}.mode")
        if _valid(check_target, volume.target):
            target = normal(volume.target)
            if target in targets:
                errors.append(FieldError(f"{path}.target", "is mounted twice"))
            targets.add(target)
    return errors


def _valid(check: Callable[[str, str], str], value: str) -> bool:
    return not _problems_of(check, value, "")


def _problems_of(check: Callable[..., str], *args: str) -> list[FieldError]:
    try:
        check(*args)
    except ValidationFailed as exc:
        return exc.errors
    return []


def root_problem(source: str, roots: Sequence[str]) -> str | None:
    """Why the (normalised, real) host path may not be mounted under `roots`, or None."""
    if not any(under(source, root) for root in roots):
        listed = ", ".join(roots) or "none"
        return f"{source} must lie under one of the volume_roots ({listed})"
    return danger_problem(source, roots)


def named_problem(name: str, allowed: Sequence[str]) -> str | None:
    """Why a Docker volume may not be mounted: its name matches no `named_volumes` glob.

    Named volumes skip `volume_roots` (Docker keeps them under /var/lib/docker), so without
    their own list a project could mount the watcher's data volume or NPM's certificates.
    """
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed):
        return None
    listed = ", ".join(allowed) or "none"
    return (
        f"the Docker volume {name} is not allowed: an administrator must list it, or a glob "
        f"matching it such as app-*, in named_volumes (now: {listed})"
    )


def danger_problem(source: str, roots: Sequence[str]) -> str | None:
    """Why a dangerous host path is refused (no root inside its danger zone), or None."""
    inside = [root for root in roots if under(source, root)]
    for zone in (d for d in DANGEROUS if _in_zone(source, d)):
        if not any(_in_zone(root, zone) for root in inside):
            return (
                f"{source} may not be mounted into containers "
                f"(an administrator must list it, or a folder inside {zone}, in volume_roots)"
            )
    return None


def _in_zone(path: str, zone: str) -> bool:
    return path == "/" if zone == "/" else under(path, zone)


def isolated_dir_name(stage: str, tag: str) -> str:
    """`{stage}-{tag}`: Docker tags are already safe file names; anything else becomes `-`.

    Valid tags map one to one (case kept), so two tags never share a folder; an absurdly long
    name is shortened with a stable hash suffix.
    """
    name = _UNSAFE_NAME_CHARS.sub("-", f"{stage}-{tag}").lstrip(".") or "-"
    if len(name) > _MAX_DIR_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        name = f"{name[: _MAX_DIR_NAME - 13]}-{digest}"
    return name
