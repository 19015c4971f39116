"""Migration 0009: admins stay admins, everyone else becomes a viewer, and earlier deploys get
the actor their trigger tells (a person's name was never recorded)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlmodel import select

from services.store.db import MIGRATIONS_DIR, Database
from services.store.models import AuthSettings, Deploy, Role, User


def _upgrade_to(database: Database, revision: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return config


def test_users_keep_their_admin_right_and_old_deploys_name_their_trigger(tmp_path: Path) -> None:
    database = Database(tmp_path / "watcher.db")
    _upgrade_to(database, "0008")
    with database.engine.begin() as connection:
        for user_id, name, admin in [(1, "admin", 1), (2, "ann", 0)]:
            connection.execute(
                text(
                    "INSERT INTO user (id, username, is_admin, created_at, sessions_valid_from)"
                    " VALUES (:id, :name, :admin, '2026-01-01 00:00:00', 0)"
                ),
                {"id": user_id, "name": name, "admin": admin},
            )
        connection.execute(
            text(
                "INSERT INTO auth_settings (id, mode, oidc_discovery_url,"
                " oidc_client_id, oidc_scopes, allowed_users, allowed_groups)"
                " VALUES (1, 'LOCAL', '', '', 'openid', '[]', '[]')"
            )
        )
        for deploy_id, trigger in enumerate(["WEBHOOK", "POLL", "MANUAL"], start=1):
            connection.execute(
                text(
                    "INSERT INTO deploy (id, project_name, stage_name, tag, digest, trigger,"
                    " status, config_snapshot, cleanup_pending, created_at)"
                    " VALUES (:id, 'shop', 'dev', 'v1', '', :trigger, 'SUCCEEDED', '{}', 0,"
                    " '2026-01-01 00:00:00')"
                ),
                {"id": deploy_id, "trigger": trigger},
            )
    database.migrate()

    with database.session() as session:
        roles = {u.username: (u.role, u.disabled) for u in session.exec(select(User)).all()}
        actors = [d.actor for d in session.exec(select(Deploy).order_by(Deploy.id)).all()]
        auth = session.get(AuthSettings, 1)
    assert roles == {"admin": (Role.ADMIN, False), "ann": (Role.VIEWER, False)}
    assert actors == ["webhook", "poller", "unknown"]
    assert auth is not None
    assert (auth.oidc_display_name, auth.oidc_groups_claim, auth.oidc_role_map) == (
        "OIDC",
        "groups",
        {},
    )
    assert auth.require_verified_email and auth.oidc_default_role == ""
    database.close()


def test_the_migration_goes_down_again(tmp_path: Path) -> None:
    database = Database(tmp_path / "watcher.db")
    database.migrate()
    with database.session() as session:
        session.add(User(username="admin", role=Role.ADMIN))
    with database.engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
        assert connection.execute(text("SELECT is_admin FROM user")).scalar_one() == 1
    database.close()
