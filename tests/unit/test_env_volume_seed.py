"""The seed format applies the env and volume rules the services and deploys apply."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from services import env_rules
from services.admin.config_database import ConfigStore
from services.admin.seed_format import parse_seed
from services.errors import ValidationFailed
from services.secrets import SecretBox
from services.store.db import Database


def project(body: str, head: str = "") -> str:
    return head + "projects:\n  app:\n    image: nginx\n" + textwrap.indent(body, "    ")


def messages(text: str) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_seed(text)
    return {e.path: e.message for e in caught.value.errors}


def test_named_volumes_are_accepted_but_never_isolated() -> None:
    doc = parse_seed(project("volumes: [{source: app-cache, target: /cache}]"))
    assert doc.projects["app"].volumes[0].source == "app-cache"
    found = messages(project("volumes: [{source: app-cache, target: /c, mode: isolated}]"))
    assert found == {
        "projects.app.volumes.0.mode": "isolated volumes need a host path "
        "(a named volume is shared by every instance)"
    }


def test_dangerous_sources_are_refused_even_without_roots_in_the_document() -> None:
    found = messages(
        project("stages: {dev: {volumes: [{source: /var/run/docker.sock, target: /s}]}}")
    )
    assert "may not be mounted" in found["projects.app.stages.dev.volumes.0.source"]


def test_roots_in_the_document_may_allow_a_dangerous_path_explicitly() -> None:
    text = project(
        "volumes: [{source: /var/run/docker.sock, target: /var/run/docker.sock}]",
        head="global: {volume_roots: [/var/run/docker.sock]}\n",
    )
    assert parse_seed(text).projects["app"].volumes[0].source == "/var/run/docker.sock"


def test_a_bad_path_is_reported_once() -> None:
    found = messages(project("volumes: [{source: /data/../etc, target: x}]"))
    assert found == {
        "projects.app.volumes.0.source": "must not contain '..'",
        "projects.app.volumes.0.target": "must be an absolute path (starting with '/')",
    }


@pytest.mark.parametrize(
    ("env", "path", "expected"),
    [
        ('{A: "' + "x" * (env_rules.MAX_VALUE_CHARS + 1) + '"}', "projects.app.env.A", "longer"),
        ('{A: "a\\0b"}', "projects.app.env.A", "NUL"),
        (
            "{" + ", ".join(f"K{i}: v" for i in range(env_rules.MAX_ENTRIES + 1)) + "}",
            "projects.app.env",
            "more than",
        ),
    ],
)
def test_env_sizes_are_limited(env: str, path: str, expected: str) -> None:
    assert expected in messages(project(f"env: {env}\n"))[path]


def test_a_large_secret_survives_an_encrypted_export(tmp_path: Path) -> None:
    db = Database(tmp_path / "watcher.db")
    db.migrate()
    store = ConfigStore(db, SecretBox(os.urandom(32)))
    big = "s" * env_rules.MAX_VALUE_CHARS
    store.import_yaml(project(f"env: {{BIG: {{value: {big}, secret: true}}}}\n"), replace=False)
    exported = store.export_yaml(include_secrets="encrypted")
    assert big not in exported
    store.import_yaml(exported, replace=True)  # the ciphertext is longer than the limit
    db.close()
