"""Turns a stage's volume entries into safe mounts.

`plan` checks everything first without touching the disk: the text rules of
`services.volume_rules`, then the *real* path behind any symlink against the allowed roots (a
link under a root that points at `/etc` is judged as `/etc`), and never Docker Watcher's own
data directory (database, keys) except its `volumes/` folder. `prepare` then creates missing
folders (owner-only for new sources; an isolated `{source}/{stage}-{tag}/` copies its parent's
owner and mode, never world-writable) and re-checks that no symlink was slipped in meanwhile.
A checked path is mounted by its real path, so a link swapped later changes nothing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services import volume_rules as rules
from services.errors import FieldError, ValidationFailed
from services.store.models import GlobalSettings, VolumeMount
from services.types import Mount

NEW_DIR_MODE = 0o750
_KEPT_BITS = 0o2775  # rwx for owner and group, r-x for others, setgid; never world-writable


@dataclass(frozen=True)
class PlannedMount:
    """A checked mount; `isolated_in` is the real source folder its own folder is made in."""

    mount: Mount
    path: str  # the entry's field path, e.g. `stages.dev.volumes.0`, for later errors
    isolated_in: str | None = None


def allowed_roots(settings: GlobalSettings, default_root: Path) -> list[str]:
    """The configured roots (real paths), or the data directory's volumes/ folder."""
    configured = [r for r in settings.volume_roots if r.startswith("/")]
    return [os.path.realpath(r) for r in configured or [str(default_root)]]


def in_container() -> bool:
    """Whether this process runs inside a Docker container (Docker creates /.dockerenv)."""
    return os.path.exists("/.dockerenv")


def hidden_root_problem(real: str, roots: Sequence[str], *, container: bool) -> str | None:
    """Why a path's root cannot be trusted from inside a container, or None.

    We check paths in our own file system, but Docker resolves a bind mount's source on the
    host. The check is only sound when every allowed root is mounted into our container at
    the same path; a root we cannot see is surely not, so it is refused.
    """
    inside = [root for root in roots if rules.under(real, root)]
    if not container or not inside or any(os.path.exists(root) for root in inside):
        return None
    root = max(inside, key=len)
    return (
        f"the volume root {root} is not visible inside Docker Watcher's container; Docker "
        f"resolves host paths on the host, so mount it into the watcher's container at the "
        f"same path (docker-compose.yml: - {root}:{root}) or remove it from volume_roots"
    )


def real_source(
    source: str,
    roots: Sequence[str],
    data_dir: Path | None,
    path: str,
    *,
    container: bool | None = None,
) -> str:
    """The real host path of `source` once it passed every rule; ValidationFailed otherwise.

    `container` None: detected (`in_container`); then every root must be visible here.
    """
    given = rules.check_host_path(source, path)
    real = os.path.realpath(given)
    problem = rules.root_problem(real, roots) or _data_dir_problem(real, data_dir)
    if problem is None:
        inside = in_container() if container is None else container
        problem = hidden_root_problem(real, _configured(roots, data_dir), container=inside)
    if problem:
        via = f" ({given} resolves to {real})" if real != given else ""
        raise ValidationFailed.single(path, problem + via)
    return real


def _configured(roots: Sequence[str], data_dir: Path | None) -> list[str]:
    """The roots an administrator listed: our own default root is made on first use."""
    own = os.path.join(os.path.realpath(data_dir), "volumes") if data_dir else None
    return [root for root in roots if root != own]


def _data_dir_problem(real: str, data_dir: Path | None) -> str | None:
    if data_dir is None:
        return None
    home = os.path.realpath(data_dir)
    volumes = os.path.join(home, "volumes")
    if rules.under(home, real) or (rules.under(real, home) and not rules.under(real, volumes)):
        return f"{real} would expose Docker Watcher's own data directory (database, keys)"
    return None


def allowed_named(settings: GlobalSettings) -> list[str]:
    """The globs of Docker volume names projects may mount (none by default)."""
    return list(settings.named_volumes)


def check(
    entries: Sequence[tuple[str, rules.VolumeLike]],
    roots: Sequence[str],
    data_dir: Path | None,
    named: Sequence[str] = (),
) -> list[FieldError]:
    """Every problem of already-resolved entries, each named by its entry's field path.

    A host path must lie under `roots`; a Docker volume's name must match a `named` glob.
    """
    errors: list[FieldError] = []
    for path, volume in entries:
        problems = rules.entry_problems(volume, path)
        if not problems and rules.is_named(volume.source):
            problem = rules.named_problem(volume.source, named)
            problems = [FieldError(f"{path}.source", problem)] if problem else []
        elif not problems:
            try:
                real_source(volume.source, roots, data_dir, f"{path}.source")
            except ValidationFailed as exc:
                problems = exc.errors
        errors += problems
    return errors


def plan(
    entries: Sequence[tuple[str, VolumeMount]],
    roots: Sequence[str],
    data_dir: Path | None,
    stage: str,
    tag: str,
    named: Sequence[str] = (),
) -> list[PlannedMount]:
    """The mounts of one container, checked but not yet created; raises every problem at once."""
    errors = check(entries, roots, data_dir, named)
    if errors:
        raise ValidationFailed(errors)
    return [_planned(path, volume, roots, data_dir, stage, tag) for path, volume in entries]


def _planned(
    path: str,
    volume: VolumeMount,
    roots: Sequence[str],
    data_dir: Path | None,
    stage: str,
    tag: str,
) -> PlannedMount:
    target = rules.normal(volume.target)
    if rules.is_named(volume.source):
        return PlannedMount(Mount(volume.source, target, volume.read_only, "volume"), path)
    real = real_source(volume.source, roots, data_dir, f"{path}.source")
    if volume.mode != "isolated":
        return PlannedMount(Mount(real, target, volume.read_only, "bind"), path)
    own = os.path.join(real, rules.isolated_dir_name(stage, tag))
    return PlannedMount(Mount(own, target, volume.read_only, "bind"), path, isolated_in=real)


def prepare(planned: Sequence[PlannedMount]) -> list[Mount]:
    """Create missing host folders and re-check isolated ones; the mounts to give Docker."""
    for item in planned:
        try:
            _prepare_one(item)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ValidationFailed.single(
                f"{item.path}.source", f"cannot create {exc.filename or 'a folder'}: {reason}"
            ) from exc
    return [item.mount for item in planned]


def _prepare_one(item: PlannedMount) -> None:
    if item.mount.kind == "bind":
        make_missing(Path(item.isolated_in or item.mount.source))
    if item.isolated_in is not None:
        ensure_isolated_dir(item.mount.source, f"{item.path}.source")


def make_missing(folder: Path) -> None:
    """Create `folder` and missing parents, owner-only (0750), like `mkdir -p` but not wider."""
    missing: list[Path] = []
    while not folder.exists() and not folder.is_symlink():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        new.mkdir(mode=NEW_DIR_MODE)
        os.chmod(new, NEW_DIR_MODE)  # mkdir's mode is narrowed by the umask; make it exact


def ensure_isolated_dir(folder: str, path: str) -> None:
    """Create an instance's own folder with its parent's owner and mode; refuse a symlink."""
    own = Path(folder)
    try:
        own.mkdir(mode=0o700)  # private until its final owner and mode are set
    except FileExistsError:
        pass
    else:
        _copy_access(own, own.parent.stat())
    if own.is_symlink() or not own.is_dir() or os.path.realpath(own) != str(own):
        raise ValidationFailed.single(
            path, f"{own} must be a real folder (not a symlink or a file); remove it and retry"
        )


def _copy_access(folder: Path, parent: os.stat_result) -> None:
    os.chmod(folder, stat.S_IMODE(parent.st_mode) & _KEPT_BITS)
    if os.geteuid() == 0:  # only root may give a folder away; others already own it
        os.chown(folder, parent.st_uid, parent.st_gid)
