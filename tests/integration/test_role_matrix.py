"""Every REST operation x each role, generated from the app's own OpenAPI document.

The rights are written down here, apart from the code: an operation the document lists and
this table does not (a new route) fails the test until someone decides who may call it. Each
operation is called by a viewer, a deployer and an admin (bearer tokens of real users) on ids
that do not exist, so an allowed call answers 404/422/... and a refused one 403 naming the role.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.roles import route_roles
from app.auth_guard import is_public
from services.auth.roles import allows
from services.store.models import Role
from tests.support.api_app import ApiApp, api_app

A, D, V = Role.ADMIN, Role.DEPLOYER, Role.VIEWER
PROJECT = "/api/projects/{project_id}"
STAGE = PROJECT + "/stages/{stage}"
INSTANCES = STAGE + "/instances"
REGISTRY = "/api/registries/{registry_id}"
RIGHTS: dict[tuple[str, str], Role | None] = {  # None: public, no sign-in
    ("post", "/api/auth/login"): None,
    ("post", "/api/auth/logout"): None,
    ("post", "/api/webhook/{secret}"): None,
    ("get", "/healthz"): None,
    ("post", "/api/auth/password"): V,
    ("get", "/api/health"): V,
    ("get", "/api/projects"): V,
    ("post", "/api/projects"): A,
    ("get", PROJECT): V,
    ("put", PROJECT): A,
    ("delete", PROJECT): A,
    ("post", PROJECT + "/stages"): A,
    ("put", STAGE): A,
    ("delete", STAGE): A,
    ("get", PROJECT + "/env"): D,
    ("put", PROJECT + "/env"): A,
    ("put", STAGE + "/env"): A,
    ("get", PROJECT + "/volumes"): D,
    ("put", PROJECT + "/volumes"): A,
    ("put", STAGE + "/volumes"): A,
    ("get", INSTANCES): V,
    ("post", INSTANCES): D,
    ("delete", INSTANCES + "/{instance_id}"): A,
    ("post", INSTANCES + "/{instance_id}/{action}"): D,
    ("get", INSTANCES + "/{instance_id}/logs"): D,
    ("get", STAGE + "/rollback"): V,
    ("post", STAGE + "/rollback"): D,
    ("get", "/api/registries"): D,
    ("post", "/api/registries"): A,
    ("post", "/api/registries/test"): A,
    ("get", REGISTRY): D,
    ("put", REGISTRY): A,
    ("delete", REGISTRY): A,
    ("post", REGISTRY + "/test"): A,
    ("get", REGISTRY + "/tags/{image}"): D,
    ("get", "/api/settings"): A,
    ("put", "/api/settings"): A,
    ("get", "/api/settings/webhook-url"): A,
    ("post", "/api/settings/webhook-url/regenerate"): A,
    ("get", "/api/settings/subdomain-example"): A,
    ("post", "/api/settings/npm/test"): A,
    ("get", "/api/settings/npm/certificates"): A,
    ("post", "/api/settings/notifications/test"): A,
    ("get", "/api/settings/auth"): A,
    ("put", "/api/settings/auth"): A,
    ("post", "/api/settings/auth/test-discovery"): A,
    ("get", "/api/audit"): A,
    ("get", "/api/deploys"): V,
    ("get", "/api/deploys/{deploy_id}"): V,
    ("get", "/api/deploys/{deploy_id}/logs"): V,
    ("post", "/api/deploy/inspect"): A,
    ("post", "/api/deploy/quick"): A,
    ("get", "/api/config/export"): A,
    ("post", "/api/config/import"): A,
    ("get", "/api/users"): A,
    ("post", "/api/users"): A,
    ("patch", "/api/users/{user_id}"): A,
    ("post", "/api/users/{user_id}/password"): A,
    ("delete", "/api/users/{user_id}"): A,
}
PARAMS = {"stage": "nope", "secret": "not-the-secret", "image": "no/such", "action": "stop"}
MISSING_ID = "999999"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[ApiApp]:
    async with api_app(tmp_path / "data") as built:
        yield built


def bearer_of(app: ApiApp, role: Role) -> dict[str, str]:
    """A signed-in user of `role` (a real user row, a real token)."""
    user = app.runtime.stores.users.create(username=f"{role.value}-person", role=role)
    return {"Authorization": f"Bearer {app.runtime.auth.issue_token(user).token}"}


async def documented(app: ApiApp) -> dict[tuple[str, str], dict[str, Any]]:
    answer = await app.client.get("/api/openapi.json")
    assert answer.status_code == 200, answer.text
    paths: dict[str, dict[str, Any]] = answer.json()["paths"]
    return {(m, path): op for path, ops in paths.items() for m, op in ops.items()}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS.get(m.group(1), MISSING_ID), path)


async def test_every_documented_operation_has_its_rights_written_down(app: ApiApp) -> None:
    operations = await documented(app)

    assert sorted(set(operations) - set(RIGHTS)) == [], "new routes: add them to RIGHTS"
    assert sorted(set(RIGHTS) - set(operations)) == [], "gone routes: remove them from RIGHTS"
    for key, operation in operations.items():
        need = RIGHTS[key]
        assert operation.get("x-required-role") == (need.value if need else None), key
        if need is not None:
            assert "403" in operation["responses"], key


async def test_every_role_gets_what_its_rights_say(app: ApiApp) -> None:
    operations = await documented(app)
    tokens = {role: bearer_of(app, role) for role in Role}
    app.client.headers.pop("Authorization")
    wrong: list[str] = []

    for (method, path), _ in sorted(operations.items()):
        need = RIGHTS.get((method, path))
        if need is None:
            continue  # public ones: below
        body = {"json": {}} if method in {"post", "put", "patch"} else {}
        for role, headers in tokens.items():
            answer = await app.client.request(
                method,
                concrete(path),
                headers=headers,
                **body,  # type: ignore[arg-type]
            )
            verdict = _verdict(answer, role, need)
            if verdict:
                wrong.append(f"{method.upper()} {path} as {role.value}: {verdict}")
        anonymous = await app.client.request(method, concrete(path), **body)  # type: ignore[arg-type]
        if anonymous.status_code != 401:
            wrong.append(f"{method.upper()} {path} without a session: {anonymous.status_code}")

    assert wrong == []


def _verdict(answer: httpx.Response, role: Role, need: Role) -> str:
    """What is wrong with `answer` (empty: nothing)."""
    if not allows(role, need):
        expected = {"errors": [{"field": None, "message": f"needs the {need.value} role"}]}
        if answer.status_code != 403 or answer.json() != expected:
            return f"expected 403 naming {need.value}, got {answer.status_code} {answer.text}"
        return ""
    if answer.status_code in {401, 403}:
        return f"allowed, but refused with {answer.status_code} {answer.text}"
    return ""


async def test_public_operations_answer_without_a_session(app: ApiApp) -> None:
    app.client.headers.pop("Authorization")
    for (method, path), need in RIGHTS.items():
        if need is None and "logout" not in path:
            body = {"json": {}} if method == "post" else {}
            answer = await app.client.request(method, concrete(path), **body)  # type: ignore[arg-type]
            assert answer.status_code != 401, (method, path)


def test_every_signed_in_route_declares_a_role_also_undocumented_ones(app: ApiApp) -> None:
    """Routes left out of the document (the schema itself) count too."""
    routes = route_roles(app.api)
    undeclared = [
        f"{sorted(r.methods)} {r.path}"
        for r in routes
        if not is_public(r.path.split("{", 1)[0]) and r.role is None
    ]

    assert len(routes) > len(RIGHTS) // 2  # included routers are seen, not only the app's own
    assert undeclared == []
    assert not [r.path for r in routes if is_public(r.path.split("{", 1)[0]) and r.role]
