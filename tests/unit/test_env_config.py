"""The env service over a real SQLite file: validation, secrets, origins, outdated instances.

Which instances run an older configuration is what the project page shows (`Overview`), so
that is where it is read here.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services import env_rules
from services.admin.env_config import EnvChange, EnvConfigService, EnvEntryView, ResolvedEnvView
from services.deploy import container_config
from services.errors import NotFound, ValidationFailed
from services.redaction import MASK, Redactor
from services.secrets import SecretBox, is_encrypted
from services.store.db import Database
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.models import EnvVar, Instance
from services.store.projects import ProjectStore
from services.views.overview import Overview
from tests.support.audit import TESTER, audit_log

SECRET = "s3cr3t-Value-7f41"


@dataclass
class Env:
    db: Database
    projects: ProjectStore
    instances: InstanceStore
    service: EnvConfigService
    project_id: int
    redactor: Redactor

    def rows(self, stage_id: int | None = None) -> dict[str, EnvVar]:
        entries = self.projects.env_entries(self.project_id)
        return {r.key: r for r in entries if r.stage_id == stage_id}

    def stage_id(self, name: str) -> int:
        stage_id = self.projects.stage_by_name(self.project_id, name).id
        assert stage_id is not None
        return stage_id

    async def outdated(self) -> list[tuple[int, str, str]]:
        """(id, stage, tag) of the instances the project page marks as running an old config."""
        overview = Overview(self.db, self.projects, DeployStore(self.db))
        view = await overview.project(self.project_id)
        return [(i.id, i.stage, i.tag) for s in view.stages for i in s.instances if i.outdated]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    redactor = Redactor()
    db = Database(tmp_path / "watcher.db")
    db.migrate()
    projects = ProjectStore(db, SecretBox(os.urandom(32), on_reveal=redactor.register))
    instances = InstanceStore(db)
    project = projects.create(name="web", image="example.com/web")
    assert project.id is not None
    for name in ("dev", "prod"):
        projects.add_stage(project.id, name=name)
    yield Env(
        db, projects, instances, EnvConfigService(projects, audit_log(db)), project.id, redactor
    )
    db.close()


def problems(caught: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {e.path: e.message for e in caught.value.errors}


async def test_secrets_are_stored_encrypted_and_shown_masked(env: Env) -> None:
    view = await env.service.update(
        env.project_id,
        None,
        [EnvChange("API_KEY", SECRET, secret=True), EnvChange("MODE", "x")],
        actor=TESTER,
    )
    stored = env.rows()["API_KEY"]
    assert stored.secret and stored.value and is_encrypted(stored.value)
    assert SECRET not in stored.value
    assert view.entries == (
        EnvEntryView("API_KEY", MASK, True),
        EnvEntryView("MODE", "x", False),
    )
    assert SECRET not in json.dumps(dataclasses.asdict(view))


@pytest.mark.parametrize("kept", [None, MASK, SECRET])
async def test_an_unchanged_secret_keeps_its_ciphertext(env: Env, kept: str | None) -> None:
    await env.service.update(
        env.project_id, None, [EnvChange("API_KEY", SECRET, secret=True)], actor=TESTER
    )
    before = env.rows()["API_KEY"].value
    await env.service.update(
        env.project_id, None, [EnvChange("API_KEY", kept, secret=True)], actor=TESTER
    )
    assert env.rows()["API_KEY"].value == before


async def test_a_new_secret_value_replaces_the_old(env: Env) -> None:
    await env.service.update(
        env.project_id, None, [EnvChange("API_KEY", SECRET, secret=True)], actor=TESTER
    )
    await env.service.update(
        env.project_id, None, [EnvChange("API_KEY", "other!", secret=True)], actor=TESTER
    )
    assert env.projects.reveal(env.rows()["API_KEY"]) == "other!"


async def test_stage_overrides_and_unsets_resolve_with_their_origin(env: Env) -> None:
    project_env = [EnvChange("A", "1"), EnvChange("B", "2"), EnvChange("T", SECRET, secret=True)]
    await env.service.update(env.project_id, None, project_env, actor=TESTER)
    view = await env.service.update(
        env.project_id, "dev", [EnvChange("B", "dev-b"), EnvChange("A", unset=True)], actor=TESTER
    )
    dev, prod = view.stages
    assert dev.stage == "dev" and dev.removed == ("A",)
    assert dev.overrides == (
        EnvEntryView("B", "dev-b", False),
        EnvEntryView("A", None, False, True),
    )
    assert dev.resolved == (
        ResolvedEnvView("B", "dev-b", False, "stage"),
        ResolvedEnvView("T", MASK, True, "project"),
    )
    assert [r.origin for r in prod.resolved] == ["project", "project", "project"]
    rows = container_config.resolve_env(
        env.projects.env_entries(env.project_id), env.stage_id("dev")
    )
    assert {key: env.projects.reveal(row) for key, row in rows.items()} == {
        "B": "dev-b",
        "T": SECRET,
    }


@pytest.mark.parametrize(
    ("change", "path", "expected"),
    [
        (EnvChange("1ABC", "x"), "env.1ABC", "not a valid environment variable name"),
        (EnvChange("A-B", "x"), "env.A-B", "not a valid environment variable name"),
        (EnvChange("", "x"), "env.(empty name)", "not a valid environment variable name"),
        (EnvChange("K" * 256, "x"), "env." + "K" * 61 + "...", "longer than 255"),
        (EnvChange("A", "x" * 40_000), "env.A", "longer than"),
        (EnvChange("A", "a\0b"), "env.A", "NUL"),
        (EnvChange("A"), "env.A", "needs a value"),
        (EnvChange("A", unset=True), "env.A", "only a stage can unset"),
        (EnvChange("API_KEY", secret=True), "env.API_KEY", "a new secret needs a value"),
        (EnvChange("API_KEY", MASK, secret=True), "env.API_KEY", "a new secret needs a value"),
    ],
)
async def test_bad_entries_name_their_field(
    env: Env, change: EnvChange, path: str, expected: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await env.service.update(env.project_id, None, [change], actor=TESTER)
    assert expected in problems(caught)[path]


async def test_stage_errors_name_the_stage_and_nothing_is_half_written(env: Env) -> None:
    await env.service.update(env.project_id, "dev", [EnvChange("KEEP", "1")], actor=TESTER)
    with pytest.raises(ValidationFailed) as caught:
        await env.service.update(
            env.project_id,
            "dev",
            [EnvChange("OK", "1"), EnvChange("OK", "2"), EnvChange("9")],
            actor=TESTER,
        )
    assert set(problems(caught)) == {"stages.dev.env.OK", "stages.dev.env.9"}
    assert list(env.rows(env.stage_id("dev"))) == ["KEEP"]


async def test_turning_a_secret_plain_needs_the_value_again(env: Env) -> None:
    await env.service.update(
        env.project_id, None, [EnvChange("API_KEY", SECRET, secret=True)], actor=TESTER
    )
    with pytest.raises(ValidationFailed, match="give the value again"):
        await env.service.update(env.project_id, None, [EnvChange("API_KEY", MASK)], actor=TESTER)
    await env.service.update(
        env.project_id, None, [EnvChange("API_KEY", "now-plain")], actor=TESTER
    )
    assert env.rows()["API_KEY"].value == "now-plain"


async def test_scope_limits(env: Env) -> None:
    many = [EnvChange(f"K{i}", "v") for i in range(env_rules.MAX_ENTRIES + 1)]
    with pytest.raises(ValidationFailed) as caught:
        await env.service.update(env.project_id, None, many, actor=TESTER)
    assert "more than" in problems(caught)["env"]
    big = [EnvChange(f"K{i}", "v" * 30_000) for i in range(10)]
    with pytest.raises(ValidationFailed) as caught:
        await env.service.update(env.project_id, None, big, actor=TESTER)
    assert "in total" in problems(caught)["env"]


async def test_unknown_project_or_stage(env: Env) -> None:
    with pytest.raises(NotFound):
        await env.service.read(9999)
    with pytest.raises(NotFound):
        await env.service.update(env.project_id, "qa", [], actor=TESTER)


async def test_outdated_instances_follow_env_changes(env: Env) -> None:
    await env.service.update(
        env.project_id, None, [EnvChange("API_KEY", SECRET, secret=True)], actor=TESTER
    )
    dev = env.projects.get_stage(env.stage_id("dev"))
    current = container_config.current_fingerprint(env.projects, env.project_id, dev)
    running = env.instances.add(
        Instance(
            project_id=env.project_id,
            stage_id=env.stage_id("dev"),
            tag="dev-1",
            config_hash=current,
        )
    )
    assert await env.outdated() == []

    await env.service.update(
        env.project_id, None, [EnvChange("API_KEY", MASK, secret=True)], actor=TESTER
    )
    assert await env.outdated() == []  # kept: same ciphertext

    await env.service.update(env.project_id, "prod", [EnvChange("ONLY_PROD", "1")], actor=TESTER)
    assert await env.outdated() == []  # another stage

    await env.service.update(
        env.project_id, None, [EnvChange("API_KEY", "rotated", secret=True)], actor=TESTER
    )
    assert await env.outdated() == [(running.id, "dev", "dev-1")]


def test_fingerprint_never_holds_a_plaintext_secret(env: Env) -> None:
    env.projects.set_env(env.project_id, None, [("T", SECRET, True)])
    rows = container_config.resolve_env(env.projects.env_entries(env.project_id), None)
    digest = container_config.fingerprint(rows, [])
    assert digest.startswith("sha256:") and SECRET not in digest
    plain = EnvVar(project_id=env.project_id, key="T", value=SECRET)
    assert container_config.fingerprint({"T": plain}, []) != digest  # secret ≠ plain value


async def test_the_database_file_never_holds_a_secret_in_plaintext(env: Env) -> None:
    await env.service.update(
        env.project_id, None, [EnvChange("API_KEY", SECRET, secret=True)], actor=TESTER
    )
    await env.service.update(
        env.project_id, "dev", [EnvChange("API_KEY", "Dev-" + SECRET, True)], actor=TESTER
    )
    await env.service.update(
        env.project_id, None, [EnvChange("API_KEY", None, secret=True)], actor=TESTER
    )
    env.db.close()
    for path in env.db.path.parent.glob("watcher.db*"):
        assert SECRET.encode() not in path.read_bytes(), path.name


def test_container_config_masks_its_secrets_and_never_shows_them() -> None:
    config = container_config.ContainerConfig(
        env={"API_KEY": SECRET, "MODE": "prod"},
        mounts=(),
        fingerprint="sha256:x",
        secret_keys=("API_KEY",),
    )
    assert config.redact(f"crashed: API_KEY={SECRET}") == f"crashed: API_KEY={MASK}"
    assert config.redact("MODE=prod") == "MODE=prod"
    assert SECRET not in repr(config)
    assert config.describe() == ["env: API_KEY (secret), MODE"]
