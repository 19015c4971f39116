"""GET /api/openapi.json: every public route documented, with summaries, tags and error shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api_app import ApiApp, api_app

INSTANCES = "/api/projects/{project_id}/stages/{stage}/instances"
PUBLIC_ROUTES = {
    ("get", "/api/projects"),
    ("post", "/api/projects"),
    ("get", "/api/projects/{project_id}"),
    ("put", "/api/projects/{project_id}"),
    ("delete", "/api/projects/{project_id}"),
    ("post", "/api/projects/{project_id}/stages"),
    ("put", "/api/projects/{project_id}/stages/{stage}"),
    ("delete", "/api/projects/{project_id}/stages/{stage}"),
    ("get", INSTANCES),
    ("post", INSTANCES),
    ("delete", INSTANCES + "/{instance_id}"),
    ("post", INSTANCES + "/{instance_id}/{action}"),
    ("get", "/api/projects/{project_id}/stages/{stage}/rollback"),
    ("post", "/api/projects/{project_id}/stages/{stage}/rollback"),
    ("post", "/api/deploy/inspect"),
    ("post", "/api/deploy/quick"),
    ("get", "/api/registries"),
    ("post", "/api/registries"),
    ("put", "/api/registries/{registry_id}"),
    ("delete", "/api/registries/{registry_id}"),
    ("post", "/api/registries/{registry_id}/test"),
    ("get", "/api/registries/{registry_id}/tags/{image}"),
    ("get", "/api/settings"),
    ("put", "/api/settings"),
    ("get", "/api/settings/webhook-url"),
    ("post", "/api/settings/webhook-url/regenerate"),
    ("get", "/api/deploys"),
    ("get", "/api/deploys/{deploy_id}/logs"),
    ("get", "/api/config/export"),
    ("post", "/api/config/import"),
    ("post", "/api/webhook/{secret}"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/logout"),
    ("get", "/healthz"),
    ("get", "/api/health"),
}
PUBLIC = {"/api/webhook/{secret}", "/api/auth/login", "/api/auth/logout", "/healthz"}


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[ApiApp]:
    async with api_app(tmp_path / "data") as built:
        yield built


@pytest.fixture
async def schema(app: ApiApp) -> dict[str, Any]:
    response = await app.client.get("/api/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operations(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }


async def test_the_schema_needs_sign_in(app: ApiApp) -> None:
    transport = httpx.ASGITransport(app.api)
    async with httpx.AsyncClient(transport=transport, base_url="http://dw.test") as anonymous:
        assert (await anonymous.get("/api/openapi.json")).status_code == 401


async def test_every_spec_route_is_documented_with_summary_and_tag(
    schema: dict[str, Any],
) -> None:
    documented = operations(schema)

    assert set(documented) >= PUBLIC_ROUTES
    for key, operation in documented.items():
        assert operation.get("summary") and operation.get("tags"), key


async def test_errors_share_one_documented_shape(schema: dict[str, Any]) -> None:
    ours = {key: op for key, op in operations(schema).items() if key[1] not in PUBLIC}
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}

    for key, operation in ours.items():
        for code, response in operation["responses"].items():
            if code.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == error_ref, (key, code)
    assert ours[("post", "/api/projects")]["responses"].keys() >= {
        "201",
        "400",
        "401",
        "409",
        "422",
    }
    assert schema["components"]["schemas"]["ErrorItem"]["required"] == ["field", "message"]
    not_signed_in = ours[("get", "/api/projects")]["responses"]["401"]["content"]
    assert not_signed_in["application/json"]["schema"] == error_ref


async def test_bearer_auth_is_declared_and_public_routes_are_marked(
    schema: dict[str, Any],
) -> None:
    documented = operations(schema)

    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert schema["security"] == [{"bearer": []}]
    for method, path in PUBLIC_ROUTES:
        expected = [] if path in PUBLIC else None
        assert documented[(method, path)].get("security") == expected, path


async def test_streams_and_downloads_declare_their_media_types(schema: dict[str, Any]) -> None:
    documented = operations(schema)

    logs = documented[("get", "/api/deploys/{deploy_id}/logs")]["responses"]
    assert "text/event-stream" in logs["200"]["content"]
    instance_logs = documented[("get", INSTANCES + "/{instance_id}/logs")]["responses"]
    assert "text/plain" in instance_logs["200"]["content"]
    config_import = documented[("post", "/api/config/import")]["requestBody"]["content"]
    assert {"application/x-yaml", "multipart/form-data"} <= set(config_import)
