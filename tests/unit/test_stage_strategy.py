"""A stage's `strategy` replaced the `blue_green` switch no deploy ever read: the seed format
takes the old key from older exports, the export writes the new one, and the migration gives
every existing stage the strategy it always ran (blue_green)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from services.admin.config_database import ConfigStore
from services.admin.seed_format import parse_seed
from services.errors import ValidationFailed
from services.secrets import SecretBox
from services.store.db import MIGRATIONS_DIR, Database
from services.store.models import DeployStrategy
from services.store.projects import ProjectStore

KEY = bytes(range(32))
LEGACY_EXPORT = textwrap.dedent(
    """\
    projects:
      shop:
        image: registry.test/demo/shop
        stages:
          dev: {tag_pattern: "dev-*", blue_green: false}
          rel: {tag_pattern: "v*", blue_green: true}
          db: {tag_pattern: "db-*", blue_green: true, strategy: stop_first}
    """
)


def strategies_of(text_: str) -> dict[str, str]:
    stages = parse_seed(text_).projects["shop"].stages
    return {name: stage.strategy for name, stage in stages.items()}


def test_an_older_exports_blue_green_key_is_accepted_and_means_nothing() -> None:
    assert strategies_of(LEGACY_EXPORT) == {
        "dev": "blue_green",
        "rel": "blue_green",
        "db": "stop_first",
    }


@pytest.mark.parametrize("value", ['"yes"', "1", "null"])
def test_the_legacy_key_still_takes_only_true_or_false(value: str) -> None:
    seed = f"projects: {{shop: {{image: r.test/shop, stages: {{dev: {{blue_green: {value}}}}}}}}}"
    with pytest.raises(ValidationFailed) as caught:
        parse_seed(seed)
    (error,) = caught.value.errors
    assert error.path == "projects.shop.stages.dev"
    assert "blue_green (replaced by strategy) must be true or false" in error.message


def test_an_unknown_strategy_is_refused_at_its_key() -> None:
    seed = "projects: {shop: {image: r.test/shop, stages: {dev: {strategy: rolling}}}}"
    with pytest.raises(ValidationFailed) as caught:
        parse_seed(seed)
    assert [e.path for e in caught.value.errors] == ["projects.shop.stages.dev.strategy"]


def test_a_legacy_export_round_trips_with_strategy_and_without_blue_green(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "watcher.db")
    db.migrate()
    store = ConfigStore(db, SecretBox(KEY))
    store.import_yaml(LEGACY_EXPORT, replace=True)

    exported = store.export_yaml(include_secrets="omit")

    stages = yaml.safe_load(exported)["projects"]["shop"]["stages"]
    assert not any("blue_green" in stage for stage in stages.values())
    assert {name: s["strategy"] for name, s in stages.items()} == strategies_of(LEGACY_EXPORT)
    store.import_yaml(exported, replace=True)
    assert store.export_yaml(include_secrets="omit") == exported
    (project,) = ProjectStore(db, SecretBox(KEY)).all()
    assert project.id is not None
    stored = {s.name: s.strategy for s in ProjectStore(db, SecretBox(KEY)).stages(project.id)}
    assert stored == {
        "dev": DeployStrategy.BLUE_GREEN,
        "rel": DeployStrategy.BLUE_GREEN,
        "db": DeployStrategy.STOP_FIRST,
    }
    db.close()


def test_the_migration_gives_every_existing_stage_blue_green(tmp_path: Path) -> None:
    """Whatever the old switch said: no deploy read it, every deploy was blue-green."""
    database = Database(tmp_path / "watcher.db")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
        connection.execute(
            text(
                "INSERT INTO project (id, name, image, port, healthcheck_retries,"
                " healthcheck_interval, healthcheck_timeout, created_at, updated_at)"
                " VALUES (1, 'shop', 'r.test/shop', 80, 3, 5, 10,"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
        for position, (name, switch) in enumerate([("dev", 0), ("rel", 1)]):
            connection.execute(
                text(
                    "INSERT INTO stage (project_id, name, tag_pattern, auto_deploy,"
                    " max_instances, confirm, blue_green, position)"
                    " VALUES (1, :name, '*', 0, 1, 0, :switch, :position)"
                ),
                {"name": name, "switch": switch, "position": position},
            )
    database.migrate()

    stages = ProjectStore(database, SecretBox(KEY)).stages(1)
    assert {s.name: s.strategy for s in stages} == {
        "dev": DeployStrategy.BLUE_GREEN,
        "rel": DeployStrategy.BLUE_GREEN,
    }
    with database.engine.connect() as connection:
        columns = {row[1] for row in connection.execute(text("PRAGMA table_info(stage)"))}
    assert "strategy" in columns and "blue_green" not in columns
    database.close()
