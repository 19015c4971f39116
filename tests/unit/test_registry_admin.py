"""RegistryAdmin: tokens never shown, kept or cleared on update, tests before saving, tag order.

The registry is an in-process fake with basic auth (httpx.MockTransport); the real registry is
exercised through the API in tests/integration/test_api_registries.py.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from services.admin.registry_admin import RegistryAdmin, RegistryInput
from services.errors import Conflict, InvalidAuth, NotFound, ValidationFailed
from tests.support.admin_fakes import Stores, stores
from tests.support.audit import TESTER, audit_log

TOKEN = "reg-token-SECRET-1"
TAGS = ["v1.2.0", "dev-2", "v1.10.0", "dev-10", "latest", "v1.2.0-rc.1"]


def fake_registry(request: httpx.Request) -> httpx.Response:
    """Basic auth for alice/TOKEN; one repository, demo/app."""
    expected = "Basic " + base64.b64encode(f"alice:{TOKEN}".encode()).decode()
    if request.headers.get("authorization") != expected:
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="test"'})
    if request.url.path == "/v2/":
        return httpx.Response(200, json={}, headers={"Docker-Distribution-API-Version": "v2"})
    if request.url.path == "/v2/demo/app/tags/list":
        return httpx.Response(200, json={"name": "demo/app", "tags": TAGS})
    return httpx.Response(404, json={"errors": [{"code": "NAME_UNKNOWN", "message": "unknown"}]})


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Stores]:
    with stores(tmp_path) as built:
        yield built


@pytest.fixture
async def admin(db: Stores) -> AsyncIterator[RegistryAdmin]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake_registry)) as http:
        yield RegistryAdmin(db.registries, db.projects, http, audit_log(db.db))


def registry(**changes: object) -> RegistryInput:
    values = {"name": "local", "url": "https://registry.test", "username": "alice", "token": TOKEN}
    return RegistryInput.parse({**values, **changes})


def test_input_rules_name_each_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        RegistryInput.parse({"name": "my registry", "url": "ftp://x", "type": "quay"})

    assert {e.path for e in caught.value.errors} == {"name", "url", "type"}


async def test_read_models_never_hold_the_token(admin: RegistryAdmin, db: Stores) -> None:
    created = await admin.create(registry(), actor=TESTER)

    assert created.has_token and TOKEN not in repr(created)
    assert TOKEN not in repr(await admin.list())
    assert db.registries.get(created.id).token_enc not in (None, TOKEN)


async def test_update_keeps_the_token_when_none_and_clears_it_when_empty(
    admin: RegistryAdmin, db: Stores
) -> None:
    created = await admin.create(registry(), actor=TESTER)

    kept = await admin.update(created.id, registry(token=None, username="bob"), actor=TESTER)
    assert kept.has_token and kept.username == "bob"
    assert db.registries.token(db.registries.get(created.id)) == TOKEN

    cleared = await admin.update(created.id, registry(token=""), actor=TESTER)
    assert not cleared.has_token


async def test_names_are_unique_on_create_and_update(admin: RegistryAdmin) -> None:
    first = await admin.create(registry(), actor=TESTER)
    second = await admin.create(registry(name="other"), actor=TESTER)

    with pytest.raises(Conflict):
        await admin.create(registry(), actor=TESTER)
    with pytest.raises(Conflict):
        await admin.update(second.id, registry(name="local"), actor=TESTER)
    assert (
        await admin.update(first.id, registry(), actor=TESTER)
    ).name == "local"  # its own name is fine


async def test_delete_is_refused_while_a_project_uses_it(admin: RegistryAdmin, db: Stores) -> None:
    created = await admin.create(registry(), actor=TESTER)
    project = db.projects.create(name="web", image="registry.test/demo/app", registry_id=created.id)

    assert (await admin.get(created.id)).used_by == ("web",)
    with pytest.raises(Conflict, match="used by web"):
        await admin.delete(created.id, actor=TESTER)
    assert project.id is not None
    db.projects.delete(project.id)
    await admin.delete(created.id, actor=TESTER)
    with pytest.raises(NotFound):
        await admin.get(created.id)


async def test_test_before_saving_reports_refused_credentials(admin: RegistryAdmin) -> None:
    assert "registry.test" in await admin.test_input(registry())
    with pytest.raises(InvalidAuth):
        await admin.test_input(registry(token="wrong"))


async def test_an_edit_form_without_a_new_token_tests_the_stored_one(
    admin: RegistryAdmin,
) -> None:
    created = await admin.create(registry(), actor=TESTER)

    assert await admin.test_input(registry(token=None), registry_id=created.id)
    assert await admin.test(created.id)
    with pytest.raises(InvalidAuth):
        await admin.test_input(registry(token=None))  # nothing stored to fall back on


async def test_tags_come_newest_first(admin: RegistryAdmin) -> None:
    created = await admin.create(registry(), actor=TESTER)

    found = await admin.tags(created.id, "registry.test/demo/app")

    assert found[:4] == ["v1.10.0", "v1.2.0", "v1.2.0-rc.1", "latest"]
    assert sorted(found) == sorted(TAGS)
    with pytest.raises(NotFound):
        await admin.tags(created.id, "demo/missing")
