"""ConfigStore on a real, migrated SQLite file: round trips, atomicity, first launch, secrets."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest
from sqlmodel import col, select

from services.admin.config_database import SEED_MARKER, ConfigStore
from services.admin.seed_format import SeedDocument, parse_seed
from services.admin.seed_render import render_seed
from services.errors import ConfigError, Conflict, CryptoError, ValidationFailed
from services.secrets import SecretBox
from services.store.db import Database
from services.store.models import (
    AppState,
    AuthSettings,
    DeployStrategy,
    EnvVar,
    GlobalSettings,
    NpmSettings,
    Project,
    Registry,
    Stage,
    VolumeMount,
)
from services.store.settings_store import SettingsStore

EXAMPLE = Path(__file__).resolve().parents[2] / "seed.example.yaml"
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
EXAMPLE_SECRETS = ("npm-password-here", "gitea-token-here", "api-key-here")


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(tmp_path / "watcher.db")
    database.migrate()
    return database


@pytest.fixture
def store(db: Database) -> ConfigStore:
    return ConfigStore(db, SecretBox(KEY))


def example() -> SeedDocument:
    return parse_seed(EXAMPLE.read_text(encoding="utf-8"))


def snapshot(store: ConfigStore) -> str:
    """The whole stored configuration, secrets included as ciphertext, as comparable text."""
    return render_seed(store.export_document(), include_secrets="encrypted")


def counts(db: Database) -> dict[str, int]:
    models = (Registry, Project, Stage, EnvVar, VolumeMount, GlobalSettings, NpmSettings)
    with db.session() as session:
        return {m.__name__: len(session.exec(select(m)).all()) for m in models}


def decrypted_env(db: Database, key: str) -> str:
    with db.session() as session:
        row = session.exec(select(EnvVar).where(EnvVar.key == key, col(EnvVar.secret))).one()
    assert row.value is not None
    return SecretBox(KEY).decrypt(row.value, "env.value")


# --- import and export -----------------------------------------------------------------------


def test_example_seed_imports_cleanly(store: ConfigStore, db: Database) -> None:
    store.import_document(example(), replace=False)
    with db.session() as session:
        app = session.exec(select(Project)).one()
        stages = session.exec(select(Stage).order_by(col(Stage.position))).all()
        registry = session.exec(select(Registry)).one()
        npm = session.get(NpmSettings, 1)
    assert app.name == "web-app-launcher" and app.registry_id == registry.id and app.port == 3000
    assert [s.name for s in stages] == ["dev", "rel", "prod"]
    assert stages[2].promote_from == "rel" and stages[2].strategy == DeployStrategy.BLUE_GREEN
    assert npm is not None and npm.password_enc is not None and npm.password_enc.startswith("v1:")
    assert registry.token_enc is not None
    assert SecretBox(KEY).decrypt(registry.token_enc, "registry.token") == "gitea-token-here"
    assert decrypted_env(db, "API_KEY") == "api-key-here"


def test_webhook_secret_is_generated_when_absent(store: ConfigStore, db: Database) -> None:
    store.import_document(parse_seed("projects: {app: {image: nginx}}"), replace=False)
    with db.session() as session:
        row = session.get(GlobalSettings, 1)
    assert row is not None and row.webhook_secret_enc is not None
    secret = SecretBox(KEY).decrypt(row.webhook_secret_enc, "webhook.secret")
    assert uuid.UUID(secret).version == 4


def test_given_webhook_secret_is_stored_encrypted(store: ConfigStore, db: Database) -> None:
    given = "d8f2a1e9-5b7c-4e0a-9f3d-2c1b0a9e8d7f"
    store.import_document(parse_seed(f"global: {{webhook_secret: {given}}}"), replace=False)
    with db.session() as session:
        row = session.get(GlobalSettings, 1)
    assert row is not None and row.webhook_secret_enc is not None
    assert given not in row.webhook_secret_enc
    assert SecretBox(KEY).decrypt(row.webhook_secret_enc, "webhook.secret") == given


def test_import_export_import_gives_the_same_state(store: ConfigStore, tmp_path: Path) -> None:
    store.import_document(example(), replace=False)
    first = snapshot(store)
    store.import_document(parse_seed(first), replace=True)
    assert snapshot(store) == first
    fresh_db = Database(tmp_path / "fresh.db")
    fresh_db.migrate()
    fresh = ConfigStore(fresh_db, SecretBox(KEY))
    fresh.import_yaml(first, replace=False)  # a new install seeded from the encrypted export
    assert snapshot(fresh) == first
    assert decrypted_env(fresh_db, "API_KEY") == "api-key-here"


def test_export_without_secrets_reimports_keeping_stored_secrets(
    store: ConfigStore, db: Database
) -> None:
    store.import_document(example(), replace=False)
    before = snapshot(store)
    text = store.export_yaml(include_secrets="omit")
    assert "v1:" not in text and not any(s in text for s in EXAMPLE_SECRETS)
    store.import_yaml(text, replace=True)
    assert snapshot(store) == before


def test_reimport_updates_by_name_and_keeps_the_rest(store: ConfigStore, db: Database) -> None:
    store.import_document(example(), replace=False)
    store.import_yaml("projects: {keep-me: {image: redis}}", replace=True)
    with db.session() as session:
        old_ids = {s.name: s.id for s in session.exec(select(Stage)).all()}
    changed = textwrap.dedent(
        """
        registries: {gitea: {url: https://git.example.com, type: gitea}}
        projects:
          web-app-launcher:
            registry: gitea
            image: git.example.com/alexei/web-app-launcher
            port: 8080
            env: {NODE_ENV: staging}
            stages: {prod: {tag_pattern: "v*", max_instances: 3}, qa: {}}
        """
    )
    store.import_yaml(changed, replace=True)
    doc = store.export_document(include_secrets="omit")
    assert set(doc.projects) == {"web-app-launcher", "keep-me"}  # absent projects are kept
    app = doc.projects["web-app-launcher"]
    assert app.port == 8080 and list(app.stages) == ["prod", "qa"] and app.volumes == []
    assert list(app.env) == ["NODE_ENV"]
    with db.session() as session:
        new_ids = {s.name: s.id for s in session.exec(select(Stage)).all()}
    assert new_ids["prod"] == old_ids["prod"]  # instances keep pointing at their stage
    assert "dev" not in new_ids and new_ids["qa"] not in old_ids.values()


def test_reimport_merges_only_given_settings(store: ConfigStore, db: Database) -> None:
    store.import_document(example(), replace=False)
    store.import_yaml("global: {poll_interval: 60}\nnpm: {ssl_forced: false}", replace=True)
    with db.session() as session:
        settings, npm = session.get(GlobalSettings, 1), session.get(NpmSettings, 1)
    assert settings is not None and (settings.poll_interval, settings.domain) == (60, "example.com")
    assert npm is not None and not npm.ssl_forced and npm.password_enc is not None


def test_first_import_refuses_existing_names_and_writes_nothing(
    store: ConfigStore, db: Database
) -> None:
    store.import_document(example(), replace=False)
    before = snapshot(store)
    with pytest.raises(ValidationFailed) as caught:
        store.import_document(example(), replace=False)
    assert {e.path for e in caught.value.errors} == {
        "registries.gitea",
        "projects.web-app-launcher",
    }
    assert snapshot(store) == before


# --- nothing half-written --------------------------------------------------------------------


def test_a_document_with_one_bad_key_imports_nothing(store: ConfigStore, db: Database) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("max_instances: 5", "max_instances: 0")
    with pytest.raises(ValidationFailed) as caught:
        store.import_yaml(text, replace=False)
    assert [str(e) for e in caught.value.errors] == [
        "projects.web-app-launcher.stages.dev.max_instances: must be ≥ 1"
    ]
    assert set(counts(db).values()) == {0}


def test_a_database_error_midway_rolls_everything_back(store: ConfigStore, db: Database) -> None:
    doc = example()
    # model_copy skips validation: the last project breaks a NOT NULL column after everything
    # else (settings, registries, the first project and its stages) was already written.
    broken = doc.projects["web-app-launcher"].model_copy(update={"image": None})
    bad_doc = doc.model_copy(update={"projects": {**doc.projects, "zz-last": broken}})
    with pytest.raises(Conflict, match="the database refused the change: NOT NULL"):
        store.import_document(bad_doc, replace=False)
    assert set(counts(db).values()) == {0}


def test_ciphertext_from_another_key_is_refused_whole(store: ConfigStore, db: Database) -> None:
    foreign = ConfigStore(db, SecretBox(OTHER_KEY))
    foreign.import_document(example(), replace=False)
    text = render_seed(foreign.export_document(), include_secrets="encrypted")
    db2 = Database(db.path.parent / "second.db")
    db2.migrate()
    with pytest.raises(ValidationFailed) as caught:
        ConfigStore(db2, SecretBox(KEY)).import_yaml(text, replace=False)
    paths = {e.path for e in caught.value.errors}
    assert "npm.password" in paths and "projects.web-app-launcher.env.API_KEY" in paths
    assert all("cannot be decrypted" in e.message for e in caught.value.errors)
    assert set(counts(db2).values()) == {0}


# --- first launch ----------------------------------------------------------------------------


def test_first_launch_imports_once_and_never_rereads(store: ConfigStore, tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    assert store.seed_on_first_launch(seed) is True
    before = snapshot(store)
    seed.write_text("projects: {other: {image: redis}}\n", encoding="utf-8")
    assert store.seed_on_first_launch(seed) is False
    seed.write_text("this: [is not even valid", encoding="utf-8")
    assert store.seed_on_first_launch(seed) is False  # not read at all
    assert snapshot(store) == before


def test_first_launch_without_a_file_sets_the_marker(
    store: ConfigStore, db: Database, tmp_path: Path
) -> None:
    seed = tmp_path / "seed.yaml"
    assert store.seed_on_first_launch(seed) is False
    with db.session() as session:
        assert session.get(AppState, SEED_MARKER) is not None
    seed.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    assert store.seed_on_first_launch(seed) is False
    assert counts(db)["Project"] == 0


def test_a_bad_seed_leaves_no_marker_so_the_fix_is_imported(
    store: ConfigStore, db: Database, tmp_path: Path
) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("projects: {app: {image: nginx, port: 0}}\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"seed\.yaml is not valid(.|\n)*projects\.app\.port: must be ≥ 1"
    ):
        store.seed_on_first_launch(seed)
    with db.session() as session:
        assert session.get(AppState, SEED_MARKER) is None
    seed.write_text("projects: {app: {image: nginx, port: 8000}}\n", encoding="utf-8")
    assert store.seed_on_first_launch(seed) is True


def test_a_directory_in_place_of_the_seed_is_a_clear_error(
    store: ConfigStore, tmp_path: Path
) -> None:
    (tmp_path / "seed.yaml").mkdir()
    with pytest.raises(ConfigError, match="not a file"):
        store.seed_on_first_launch(tmp_path / "seed.yaml")


def test_a_deeply_nested_seed_is_a_clear_config_error(store: ConfigStore, tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("projects: " + "[" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"seed\.yaml is not valid(.|\n)*nested deeper than"):
        store.seed_on_first_launch(seed)


# --- secrets at rest -------------------------------------------------------------------------


def test_no_plaintext_secret_reaches_the_database_files(db: Database, tmp_path: Path) -> None:
    secrets = {
        "npm": "Npm-Plaintext-7f3a9c",
        "token": "Token-Plaintext-1b2c3d",
        "env": "Env-Plaintext-4e5f6a",
        "stage_env": "StageEnv-Plaintext-9d8c7b",
        "oidc": "Oidc-Plaintext-2a3b4c",
        "webhook": "0b5e9d7c-3f1a-4c2b-8e6d-9a8b7c6d5e4f",
    }
    seed = textwrap.dedent(
        f"""
        global: {{webhook_secret: {secrets["webhook"]}}}
        npm: {{url: 'http://npm:81', password: {secrets["npm"]}}}
        registries: {{r: {{url: 'https://r.example', token: {secrets["token"]}}}}}
        projects:
          app:
            registry: r
            image: r.example/o/app
            env: {{K: {{value: {secrets["env"]}, secret: true}}, PLAIN: visible-value}}
            stages: {{dev: {{env: {{S: {{value: {secrets["stage_env"]}, secret: true}}}}}}}}
        auth: {{oidc: {{client_secret: {secrets["oidc"]}}}}}
        """
    )
    ConfigStore(db, SecretBox(KEY)).import_yaml(seed, replace=False)
    raw = b"".join(
        path.read_bytes() for path in tmp_path.iterdir() if path.name.startswith("watcher.db")
    )
    assert b"visible-value" in raw  # the check reads the real data
    for name, plaintext in secrets.items():
        assert plaintext.encode() not in raw, name
        assert plaintext.lower().encode() not in raw.lower(), name


def test_export_with_a_wrong_key_raises_crypto_error(db: Database) -> None:
    ConfigStore(db, SecretBox(KEY)).import_document(example(), replace=False)
    wrong = ConfigStore(db, SecretBox(OTHER_KEY))
    with pytest.raises(CryptoError, match="ENCRYPTION_KEY differs"):
        wrong.export_document(include_secrets="encrypted")
    with pytest.raises(CryptoError):
        wrong.export_yaml(include_secrets="encrypted")
    rescued = wrong.export_yaml(include_secrets="omit")  # the rest is still recoverable
    assert "web-app-launcher" in rescued and "v1:" not in rescued


def test_valueless_secret_is_stored_empty_and_absent_sections_untouched(
    store: ConfigStore, db: Database
) -> None:
    store.import_yaml("projects: {app: {image: nginx, env: {T: {secret: true}}}}", replace=False)
    with db.session() as session:
        row = session.exec(select(EnvVar)).one()
    assert row.secret and row.value is None
    with db.session() as session:
        auth = session.get(AuthSettings, 1)
    assert auth is None  # sections left out of the seed are not touched


def test_reimport_refuses_to_drop_a_stage_that_still_has_instances(tmp_path: Path) -> None:
    from services.store.instances import InstanceStore
    from services.store.models import Instance
    from services.store.projects import ProjectStore

    db = Database(tmp_path / "w.db")
    db.migrate()
    box = SecretBox(bytes(32))
    store = ConfigStore(db, box)
    store.import_yaml(
        "projects:\n  web:\n    image: ex.com/a/web\n    port: 80\n"
        "    stages:\n      dev: {tag_pattern: 'dev-*'}\n      rel: {tag_pattern: 'v*'}\n",
        replace=True,
    )
    projects = ProjectStore(db, box)
    web = projects.get_by_name("web")
    assert web is not None and web.id is not None
    rel = projects.stage_by_name(web.id, "rel")
    assert rel.id is not None
    InstanceStore(db).add(Instance(project_id=web.id, stage_id=rel.id, tag="v1"))

    with pytest.raises(ValidationFailed, match=r"projects\.web\.stages: stage 'rel'"):
        store.import_yaml(
            "projects:\n  web:\n    image: ex.com/a/web\n    port: 81\n"
            "    stages:\n      dev: {tag_pattern: 'dev-*'}\n",
            replace=True,
        )
    assert [s.name for s in projects.stages(web.id)] == ["dev", "rel"]
    assert projects.get(web.id).port == 80  # nothing half-written


def test_a_stored_secret_does_not_follow_a_changed_address(
    store: ConfigStore, db: Database
) -> None:
    store.import_document(example(), replace=False)
    before = snapshot(store)
    moved = textwrap.dedent(
        """
        npm: {url: "http://127.0.0.1:9"}
        registries: {gitea: {url: "https://elsewhere.example.org", type: gitea}}
        auth: {oidc: {discovery_url: "https://sso.elsewhere.org/.well-known/openid-configuration"}}
        """
    )

    with pytest.raises(ValidationFailed) as caught:
        store.import_yaml(moved, replace=True)

    paths = {e.path for e in caught.value.errors}
    assert paths == {"npm.password", "registries.gitea.token", "auth.oidc.client_secret"}
    assert "type the password again" in str(caught.value)
    assert snapshot(store) == before  # nothing written
    retyped = moved.replace('127.0.0.1:9"}', '127.0.0.1:9", password: typed}')
    retyped = retyped.replace("type: gitea}", "type: gitea, token: typed}")
    retyped = retyped.replace('configuration"}', 'configuration", client_secret: typed}')
    store.import_yaml(retyped, replace=True)
    with db.session() as session:
        npm = session.get(NpmSettings, 1)
    assert npm is not None and npm.url == "http://127.0.0.1:9"


def test_an_image_must_live_on_its_registrys_host(store: ConfigStore, db: Database) -> None:
    document = textwrap.dedent(
        """
        registries:
          gitea: {url: "https://git.example.com", type: gitea, token: t0ken}
          hub: {url: "https://hub.docker.com", type: dockerhub, token: t0ken}
        projects:
          web: {registry: gitea, image: ghcr.io/alexei/web}
          api: {registry: gitea, image: alexei/api}
          fine: {registry: gitea, image: git.example.com/alexei/fine}
          nginx: {registry: hub, image: nginx}
        """
    )

    with pytest.raises(ValidationFailed) as caught:
        store.import_yaml(document, replace=False)

    assert {e.path for e in caught.value.errors} == {"projects.web.image", "projects.api.image"}
    assert "registry 'gitea' is at git.example.com" in str(caught.value)
    assert counts(db)["Project"] == 0


def test_a_tag_pattern_holds_only_glob_characters(store: ConfigStore) -> None:
    document = 'projects: {web: {image: redis, stages: {dev: {tag_pattern: "v*\\" x=\\""}}}}'

    with pytest.raises(ValidationFailed) as caught:
        store.import_yaml(document, replace=False)

    (error,) = caught.value.errors
    assert error.path == "projects.web.stages.dev.tag_pattern"
    assert "may contain only" in error.message


def test_notification_urls_are_secrets_in_the_export(store: ConfigStore, tmp_path: Path) -> None:
    url = "https://hooks.example/services/Notify-Token-5e6f7a"
    store.import_yaml(f"global: {{notification_url: '{url}'}}", replace=False)
    omitted = store.export_yaml(include_secrets="omit")
    sealed = store.export_yaml(include_secrets="encrypted")

    assert "Notify-Token" not in omitted and "notification_url" not in omitted
    assert "Notify-Token" not in sealed and "notification_url: v1:" in sealed
    other = Database(tmp_path / "other" / "watcher.db")
    other.migrate()
    ConfigStore(other, SecretBox(KEY)).import_yaml(sealed, replace=False)
    assert [plain for _, plain in SettingsStore(other, SecretBox(KEY)).notification_urls()] == [url]
    store.import_yaml(omitted, replace=False)  # an export without secrets keeps the stored URL
    assert "notification_url: v1:" in store.export_yaml(include_secrets="encrypted")


def test_every_auth_field_round_trips_and_the_client_secret_is_never_exported_plain(
    store: ConfigStore, tmp_path: Path
) -> None:
    store.import_document(example(), replace=False)
    encrypted = store.export_yaml(include_secrets="encrypted")
    omitted = store.export_yaml(include_secrets="omit")
    fresh_db = Database(tmp_path / "fresh.db")
    fresh_db.migrate()
    ConfigStore(fresh_db, SecretBox(KEY)).import_yaml(encrypted, replace=False)

    oidc = parse_seed(encrypted).auth.oidc  # type: ignore[union-attr]
    assert oidc.client_secret is not None
    assert oidc.client_secret.get_secret_value().startswith("v1:")
    assert "oidc-client-secret-here" not in encrypted + omitted
    assert "client_secret" not in omitted
    row = SettingsStore(fresh_db, SecretBox(KEY)).get_auth()
    assert (row.oidc_display_name, row.oidc_username_claim, row.oidc_groups_claim) == (
        "Company SSO",
        "preferred_username",
        "groups",
    )
    assert row.allowed_email_domains == [] and row.require_verified_email is True
    assert row.oidc_role_map == {"deployers": "deployer", "ops": "admin"}
    assert row.oidc_default_role == "viewer"
    assert SettingsStore(fresh_db, SecretBox(KEY)).oidc_client_secret() == (
        "oidc-client-secret-here"
    )


def test_a_seed_cannot_switch_to_oidc_only_before_an_oidc_admin_signed_in(
    store: ConfigStore, db: Database
) -> None:
    from datetime import UTC, datetime

    from services.store.models import Role
    from services.store.users import UserStore

    issuer = "https://sso.example.com/realms/main"
    oidc_only = (
        "auth: {mode: oidc, oidc: {client_id: dw, discovery_url: "
        f"'{issuer}/.well-known/openid-configuration'}}}}"
    )
    with pytest.raises(ValidationFailed) as caught:
        store.import_yaml(oidc_only, replace=False)
    assert [e.path for e in caught.value.errors] == ["auth.mode"]
    assert "lock everyone out" in caught.value.errors[0].message
    with db.session() as session:
        assert session.get(AuthSettings, 1) is None  # nothing written

    UserStore(db).create(
        username="ops",
        role=Role.ADMIN,
        oidc_subject="sub-1",
        oidc_issuer=issuer,
        last_login_at=datetime.now(UTC),
    )
    store.import_yaml(oidc_only, replace=False)
    with db.session() as session:
        row = session.get(AuthSettings, 1)
    assert row is not None and row.mode == "oidc"
