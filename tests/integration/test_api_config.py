"""POST /api/config/import (raw YAML or upload) and its round trip with GET /api/config/export."""

from __future__ import annotations

import httpx

from services.admin.config_transfer import MAX_IMPORT_BYTES
from tests.support.api_app import errors

SEED = """
global: {domain: example.com, poll_interval: 60}
registries:
  local: {url: "https://registry.example.com", token: "reg-SECRET-token"}
projects:
  web:
    registry: local
    image: registry.example.com/me/web
    port: 3000
    env: {API_KEY: {value: "env-SECRET-value", secret: true}}
    stages: {dev: {tag_pattern: "dev-*", max_instances: 2}}
"""
YAML = {"content-type": "application/x-yaml"}
CUSTOM = {"X-Requested-With": "script"}  # a header no other site's page can add


async def test_import_raw_yaml_then_export_it_without_secrets(client: httpx.AsyncClient) -> None:
    imported = await client.post("/api/config/import", content=SEED, headers=YAML)

    assert imported.status_code == 200, imported.text
    assert imported.json() == {"registries": ["local"], "projects": ["web"], "settings": ["global"]}
    (summary,) = (await client.get("/api/projects")).json()
    assert summary["project"]["port"] == 3000 and summary["registry_name"] == "local"
    exported = (await client.get("/api/config/export")).text
    assert "max_instances: 2" in exported
    assert "SECRET" not in exported


async def test_import_an_uploaded_file(client: httpx.AsyncClient) -> None:
    files = {"file": ("config.yaml", SEED.encode(), "application/x-yaml")}

    imported = await client.post("/api/config/import", files=files, headers=CUSTOM)

    assert imported.status_code == 200, imported.text
    assert (await client.get("/api/settings")).json()["global"]["domain"] == "example.com"


async def test_every_problem_is_listed_by_key_path_and_nothing_is_written(
    client: httpx.AsyncClient,
) -> None:
    bad = SEED.replace("port: 3000", "port: 0").replace("max_instances: 2", "max_instances: -1")
    bad += "colour: blue\n"

    found = errors(await client.post("/api/config/import", content=bad, headers=YAML), 422)

    assert found == {
        "projects.web.port": "must be ≥ 1",
        "projects.web.stages.dev.max_instances": "must be ≥ 1",
        "colour": "unknown key",
    }
    assert (await client.get("/api/projects")).json() == []
    assert (await client.get("/api/registries")).json() == []


async def test_unreadable_uploads_are_refused(client: httpx.AsyncClient) -> None:
    not_yaml = await client.post("/api/config/import", content=b"a: [1", headers=YAML)
    binary = await client.post("/api/config/import", content=b"\xff\xfe", headers=YAML)
    huge = await client.post(
        "/api/config/import", content=b"#" * (MAX_IMPORT_BYTES + 1), headers=YAML
    )
    no_file = await client.post("/api/config/import", files={"other": ("x", b"x")}, headers=CUSTOM)

    assert "not valid YAML" in errors(not_yaml, 422)[None]
    assert "not UTF-8" in errors(binary, 422)[None]
    assert "larger than" in errors(huge, 422)[None]
    assert "field 'file'" in errors(no_file, 422)["file"]


async def test_control_characters_are_a_validation_error(client: httpx.AsyncClient) -> None:
    text = b"global: {domain: a\x1bb}\n"

    found = errors(await client.post("/api/config/import", content=text, headers=YAML), 422)

    assert "not valid YAML" in found[None]


async def test_deeply_nested_yaml_is_a_validation_error(client: httpx.AsyncClient) -> None:
    for text in (b"[" * 5000, b"global: " + b"{a: " * 3000 + b"}" * 3000):
        answer = await client.post("/api/config/import", content=text, headers=YAML)
        assert "nested deeper than" in errors(answer, 422)[None]


async def test_only_bodies_a_foreign_page_cannot_send_unasked_are_imported(
    client: httpx.AsyncClient,
) -> None:
    """text/plain, a form upload or no type at all: what a page may post anywhere without a
    CORS preflight; those need X-Requested-With beside them."""
    upload = {"file": ("config.yaml", SEED.encode(), "application/x-yaml")}
    plain = {"content-type": "text/plain"}
    refused = [
        await client.post("/api/config/import", content=SEED, headers=plain),
        await client.post("/api/config/import", files=upload),
        await client.post("/api/config/import", content=SEED),
        await client.post("/api/config/import", data={"file": SEED}),
    ]
    for response in refused:
        assert "X-Requested-With" in errors(response, 415)[None]
    assert (await client.get("/api/projects")).json() == []

    as_text = await client.post("/api/config/import", content=SEED, headers={**plain, **CUSTOM})
    as_json = await client.post("/api/config/import", json={"global": {"poll_interval": 90}})
    assert as_text.status_code == 200, as_text.text
    assert as_json.status_code == 200, as_json.text
    assert (await client.get("/api/settings")).json()["global"]["poll_interval"] == 90
