"""An installation made by the first release (schema 0001) upgrades without losing anything.

The database is built at revision 0001 and filled the way that release filled it (secrets
sealed with the installation's key, notification URLs still in plain); then the current version
runs over it as a process, and afterwards every row and every secret is found intact and usable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import bcrypt
import httpx
from alembic import command
from sqlalchemy import text

from services.secrets import SecretBox, generate_key_hex, parse_key
from services.store.db import Database, migration_config
from services.store.models import InstanceStatus, Role
from services.store.projects import ENV_CONTEXT
from services.store.registries import TOKEN_CONTEXT
from services.store.settings_store import (
    NPM_PASSWORD_CONTEXT,
    OIDC_SECRET_CONTEXT,
    WEBHOOK_CONTEXT,
)
from tests.integration.test_app_process import child_environ, running_app
from tests.support.runtime import open_runtime, settings_for

PASSWORD = "first-release-password"
WEBHOOK_SECRET = "whsec-from-the-first-release-0123456789"
SECRETS = {
    "registry": "registry-token-from-0001",
    "npm": "npm-password-from-0001",
    "env": "env-secret-from-0001",
    "oidc": "oidc-client-secret-from-0001",
}
NOTIFY_URL = "json://127.0.0.1:9/hook"
DIGEST = "sha256:" + "a" * 64


def _first_release_database(path: Path, box: SecretBox) -> None:
    database = Database(path)
    config = migration_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        facts = {"t0": "2026-01-01 00:00:00", "digest": DIGEST}
        for statement, values in _rows(box):
            connection.execute(text(statement), {**facts, **values})
    database.close()


def _rows(box: SecretBox) -> list[tuple[str, dict[str, object]]]:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    return [
        (
            "INSERT INTO user (id, username, password_hash, is_admin, created_at)"
            " VALUES (1, 'admin', :hash, 1, :t0)",
            {"hash": hashed},
        ),
        (
            "INSERT INTO registry (id, name, url, type, username, token_enc, created_at)"
            " VALUES (1, 'home', 'https://registry.home.test', 'GITEA', 'ci', :token, :t0)",
            {"token": box.encrypt(SECRETS["registry"], TOKEN_CONTEXT)},
        ),
        (
            "INSERT INTO global_settings (id, domain, server_ip, network, subdomain_pattern,"
            " notification_urls, poll_interval, webhook_secret_enc, auto_create_allow,"
            " volume_roots, updated_at) VALUES (1, 'home.test', '192.0.2.5', 'docker-watcher',"
            " '{{project}}-{{stage}}', :urls, 300, :webhook, '[]', '[]', :t0)",
            {
                "urls": json.dumps([NOTIFY_URL]),
                "webhook": box.encrypt(WEBHOOK_SECRET, WEBHOOK_CONTEXT),
            },
        ),
        (
            "INSERT INTO npm_settings (id, url, email, password_enc, ssl_forced, updated_at)"
            " VALUES (1, 'http://127.0.0.1:9', 'ops@home.test', :password, 0, :t0)",
            {"password": box.encrypt(SECRETS["npm"], NPM_PASSWORD_CONTEXT)},
        ),
        (
            "INSERT INTO auth_settings (id, mode, oidc_discovery_url, oidc_client_id,"
            " oidc_client_secret_enc, oidc_scopes, allowed_users, allowed_groups) VALUES"
            " (1, 'LOCAL', 'https://id.home.test/.well-known/openid-configuration', 'dw',"
            " :secret, 'openid email profile', '[]', '[\"ops\"]')",
            {"secret": box.encrypt(SECRETS["oidc"], OIDC_SECRET_CONTEXT)},
        ),
        (
            "INSERT INTO project (id, name, registry_id, image, port, healthcheck,"
            " healthcheck_retries, healthcheck_interval, healthcheck_timeout, created_at,"
            " updated_at) VALUES (1, 'shop', 1, 'registry.home.test/acme/shop', 8080,"
            " '/health', 3, 5, 10, :t0, :t0)",
            {},
        ),
        (
            "INSERT INTO stage (id, project_id, name, tag_pattern, auto_deploy, max_instances,"
            " confirm, subdomain, blue_green, position) VALUES"
            " (1, 1, 'dev', 'dev-*', 1, 2, 0, 'shop-dev', 1, 0),"
            " (2, 1, 'prod', 'v*', 0, 1, 1, NULL, 0, 1)",
            {},
        ),
        (
            "INSERT INTO env_var (project_id, stage_id, key, value, secret, unset) VALUES"
            " (1, NULL, 'LOG_LEVEL', 'info', 0, 0), (1, 2, 'DB_PASSWORD', :env, 1, 0)",
            {"env": box.encrypt(SECRETS["env"], ENV_CONTEXT)},
        ),
        (
            "INSERT INTO volume_mount (project_id, stage_id, source, target, mode, read_only)"
            " VALUES (1, NULL, 'uploads', '/data', 'ISOLATED', 0)",
            {},
        ),
        (
            "INSERT INTO deploy (id, project_id, project_name, stage_name, tag, digest, trigger,"
            " status, step, instance_id, created_at, started_at, finished_at) VALUES"
            " (1, 1, 'shop', 'dev', 'dev-41', :digest, 'WEBHOOK',"
            " 'SUCCEEDED', NULL, 1, :t0, :t0, :t0)",
            {},
        ),
        (
            "INSERT INTO deploy_step (deploy_id, name, status, started_at, finished_at,"
            " duration_ms) VALUES (1, 'pull', 'OK', :t0, :t0, 1200)",
            {},
        ),
        (
            "INSERT INTO deploy_log_line (deploy_id, step, level, message, ts) VALUES"
            " (1, 'pull', 'info', 'pulled registry.home.test/acme/shop:dev-41', :t0)",
            {},
        ),
        (
            "INSERT INTO instance (id, project_id, stage_id, deploy_id, tag, digest,"
            " container_id, container_name, subdomains, proxy_host_ids, url, status,"
            " config_hash, created_at) VALUES (1, 1, 1, 1, 'dev-41', :digest,"
            " NULL, 'dw-shop-dev-41', '[\"shop-dev-41\"]', '{\"shop-dev-41.home.test\": 7}',"
            " 'https://shop-dev-41.home.test', 'HEALTHY', 'h1', :t0)",
            {},
        ),
        (
            "INSERT INTO seen_tag (project_id, tag, digest, state, first_seen, last_seen)"
            " VALUES (1, 'dev-41', :digest, 'deployed', :t0, :t0)",
            {},
        ),
    ]


def test_the_first_releases_database_runs_on_this_version(tmp_path: Path) -> None:
    key = generate_key_hex()
    data = tmp_path / "data"
    _first_release_database(data / "watcher.db", SecretBox(parse_key(key)))

    with (
        running_app(data, ENCRYPTION_KEY=key) as (url, _),
        httpx.Client(base_url=url, headers={"Origin": url}) as client,
    ):
        login = {"username": "admin", "password": PASSWORD}
        assert client.post("/api/auth/login", json=login).status_code == 200
        projects = client.get("/api/projects").json()
        assert [(p["project"]["name"], p["stage_count"]) for p in projects] == [("shop", 2)]
        deploys = client.get("/api/deploys").json()
        assert [(d["tag"], d["status"]) for d in deploys] == [("dev-41", "succeeded")]
        webhook = client.get("/api/settings/webhook-url").json()
        assert webhook["url"].endswith(WEBHOOK_SECRET)

    _everything_is_there(data, key)


def _everything_is_there(data: Path, key: str) -> None:
    runtime = open_runtime(settings_for(data, ENCRYPTION_KEY=key))
    stores = runtime.stores
    try:
        registry = stores.registries.all()[0]
        assert stores.registries.token(registry) == SECRETS["registry"]
        assert stores.settings.npm_password() == SECRETS["npm"]
        assert stores.settings.oidc_client_secret() == SECRETS["oidc"]
        assert stores.settings.webhook_secret() == WEBHOOK_SECRET
        assert [plain for _, plain in stores.settings.notification_urls()] == [NOTIFY_URL]
        sealed = stores.settings.get_global().notification_urls
        assert sealed[0].startswith("v1:")  # sealed by the first start
        env = {e.key: e for e in stores.projects.env_entries(1)}
        assert stores.projects.reveal(env["DB_PASSWORD"]) == SECRETS["env"]
        assert env["LOG_LEVEL"].value == "info"
        stages = {s.name: s for s in stores.projects.stages(1)}
        assert (stages["dev"].tag_pattern, stages["prod"].confirm) == ("dev-*", True)
        assert [v.target for v in stores.projects.volumes(1)] == ["/data"]
        instance = stores.instances.get(1)  # its container is not on this engine: missing
        assert (instance.container_name, instance.proxy_host_ids) == (
            "dw-shop-dev-41",
            {"shop-dev-41.home.test": 7},
        )
        assert instance.status in {InstanceStatus.HEALTHY, InstanceStatus.MISSING}
        deploy = stores.deploys.get(1)
        assert (deploy.actor, deploy.digest) == ("webhook", DIGEST)
        user = stores.users.by_username("admin")
        assert user is not None and user.role is Role.ADMIN
        assert stores.settings.get_auth().allowed_groups == ["ops"]
    finally:
        runtime.db.close()


def test_a_database_from_a_newer_version_stops_the_start_with_a_clear_message(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    database = Database(data / "watcher.db")
    database.migrate()
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    database.close()
    done = subprocess.run(
        [sys.executable, "-m", "app"],
        env=child_environ(DW_DATA_DIR=str(data), ENCRYPTION_KEY=generate_key_hex()),
        cwd=Path.cwd(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "schema '0999', newer than this version of Docker Watcher" in done.stderr
