"""Named Docker volumes need their own allow-list; roots must be visible from our container."""

from __future__ import annotations

from pathlib import Path

import pytest

from services import volumes
from services.admin.seed_format import parse_seed
from services.errors import ValidationFailed
from services.store.models import GlobalSettings, VolumeMode, VolumeMount


def named(name: str, target: str = "/data") -> tuple[str, VolumeMount]:
    return (
        "volumes.0",
        VolumeMount(project_id=1, source=name, target=target, mode=VolumeMode.SHARED),
    )


def refused(entry: tuple[str, VolumeMount], allowed: list[str]) -> str | None:
    errors = volumes.check([entry], ["/srv"], None, allowed)
    return errors[0].message if errors else None


def test_a_named_volume_is_refused_unless_a_glob_allows_it() -> None:
    # The watcher's own data volume and NPM's certificates must not be mountable by default.
    assert "named_volumes" in (refused(named("docker-watcher_watcher-data"), []) or "")
    assert "letsencrypt" in (refused(named("npm_letsencrypt"), ["app-*"]) or "")
    assert refused(named("app-cache"), ["app-*"]) is None
    assert refused(named("App-cache"), ["app-*"]) is not None  # case counts, like Docker's names


def test_deploy_planning_refuses_a_named_volume_by_default() -> None:
    def deploy_plan(settings: GlobalSettings) -> list[volumes.PlannedMount]:
        """As the deploy plans a container's mounts: roots and globs from the settings."""
        roots = volumes.allowed_roots(settings, Path("/nonexistent/volumes"))
        allowed = volumes.allowed_named(settings)
        return volumes.plan(
            [named("watcher-data")], roots, Path("/nonexistent"), "dev", "1", allowed
        )

    with pytest.raises(ValidationFailed) as caught:
        deploy_plan(GlobalSettings())
    assert caught.value.errors[0].path == "volumes.0.source"
    (mount,) = volumes.prepare(deploy_plan(GlobalSettings(named_volumes=["watcher-*"])))
    assert (mount.source, mount.kind) == ("watcher-data", "volume")


def test_a_seed_with_named_volumes_checks_its_projects_against_them() -> None:
    text = (
        "global: {named_volumes: ['app-*']}\n"
        "projects:\n"
        "  web: {image: ghcr.io/o/web, volumes: [{source: npm_data, target: /d}]}\n"
    )
    with pytest.raises(ValidationFailed) as caught:
        parse_seed(text)
    assert [e.path for e in caught.value.errors] == ["projects.web.volumes.0.source"]
    assert parse_seed(text.replace("npm_data", "app-data")).global_ is not None


def test_a_root_not_visible_in_our_container_is_refused(tmp_path: Path) -> None:
    hidden = str(tmp_path / "not-mounted")
    source = f"{hidden}/app"
    with pytest.raises(ValidationFailed) as caught:
        volumes.real_source(source, [hidden], None, "volumes.0.source", container=True)
    message = caught.value.errors[0].message
    assert hidden in message and "same path" in message
    # Outside a container the path is the host's own: the root is made on first use.
    assert volumes.real_source(source, [hidden], None, "v", container=False) == source
    (tmp_path / "not-mounted").mkdir()
    assert volumes.real_source(source, [hidden], None, "v", container=True) == source


def test_our_own_default_root_is_made_on_first_use_even_in_a_container(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    default = str(data_dir / "volumes")
    source = f"{default}/app"
    assert volumes.real_source(source, [default], data_dir, "v", container=True) == source
