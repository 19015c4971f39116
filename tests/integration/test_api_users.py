"""/api/users over the real runtime: adding, role changes, disabling, password resets and removal,
each ending the user's sessions at once and after a restart, the last admin kept, one audit row
per change with the admin as actor and never a password."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from services.store.models import AuditEvent, Role
from tests.support.api_app import ApiApp, api_app, build_api, errors
from tests.support.runtime import open_runtime

PASSWORD = "bob-secret-1"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[ApiApp]:
    async with api_app(tmp_path / "data") as built:
        yield built


async def add_bob(app: ApiApp, role: str = "deployer") -> int:
    body = {"username": "bob", "password": PASSWORD, "role": role}
    answer = await app.client.post("/api/users", json=body)
    assert answer.status_code == 201, answer.text
    user_id: int = answer.json()["id"]
    return user_id


async def sign_in(app: ApiApp, username: str, password: str) -> httpx.Response:
    transport = httpx.ASGITransport(app.api)
    async with httpx.AsyncClient(transport=transport, base_url="http://dw.test") as http:
        return await http.post("/api/auth/login", json={"username": username, "password": password})


async def token_of(app: ApiApp, username: str = "bob", password: str = PASSWORD) -> str:
    answer = await sign_in(app, username, password)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


async def as_user(app: ApiApp, token: str, path: str) -> int:
    answer = await app.client.get(path, headers={"Authorization": f"Bearer {token}"})
    return answer.status_code


def audit_rows(app: ApiApp) -> list[AuditEvent]:
    with app.runtime.db.session() as session:
        return list(session.exec(select(AuditEvent).order_by(AuditEvent.id)).all())  # type: ignore[arg-type]


async def test_an_admin_adds_a_user_who_signs_in_with_that_role(app: ApiApp) -> None:
    user_id = await add_bob(app)
    token = await token_of(app)

    listed = (await app.client.get("/api/users")).json()
    bob = next(u for u in listed if u["id"] == user_id)
    assert bob["role"] == "deployer" and bob["has_password"] and not bob["oidc"]
    assert bob["last_login_at"] is not None and not bob["disabled"]
    assert "password" not in str(listed).replace("has_password", "")
    assert await as_user(app, token, "/api/registries") == 200  # deployer: reads registries
    assert await as_user(app, token, "/api/users") == 403
    rows = [r for r in audit_rows(app) if r.action == "user_add"]
    assert [(r.actor, r.target, r.detail) for r in rows] == [("admin", "bob", {"role": "deployer"})]


async def test_invalid_users_are_refused_naming_the_field(app: ApiApp) -> None:
    short = {"username": "carol", "password": "short", "role": "viewer"}
    bad_name = {"username": "no spaces", "password": PASSWORD}
    await add_bob(app)

    assert "password" in errors(await app.client.post("/api/users", json=short), 422)
    assert "username" in errors(await app.client.post("/api/users", json=bad_name), 422)
    taken = {"username": "BOB", "password": PASSWORD}
    assert errors(await app.client.post("/api/users", json=taken), 422) == {
        "username": "is already taken"
    }
    assert "role" in errors(await app.client.post("/api/users", json={**short, "role": "x"}), 422)


async def test_a_role_change_ends_the_users_sessions_and_the_new_role_applies(app: ApiApp) -> None:
    user_id = await add_bob(app, "viewer")
    old = await token_of(app)
    assert await as_user(app, old, "/api/registries") == 403

    answer = await app.client.patch(f"/api/users/{user_id}", json={"role": "deployer"})

    assert answer.status_code == 200 and answer.json()["role"] == "deployer"
    assert await as_user(app, old, "/api/projects") == 401
    assert await as_user(app, await token_of(app), "/api/registries") == 200
    rows = [r for r in audit_rows(app) if r.action == "user_role"]
    assert [(r.actor, r.target, r.detail) for r in rows] == [
        ("admin", "bob", {"from": "viewer", "to": "deployer"})
    ]


async def test_a_disabled_user_is_signed_out_and_cannot_sign_in(app: ApiApp) -> None:
    user_id = await add_bob(app)
    token = await token_of(app)

    answer = await app.client.patch(f"/api/users/{user_id}", json={"disabled": True})

    assert answer.status_code == 200 and answer.json()["disabled"] is True
    assert await as_user(app, token, "/api/projects") == 401
    refused = await sign_in(app, "bob", PASSWORD)
    wrong = await sign_in(app, "bob", "not-the-password")
    assert refused.status_code == wrong.status_code == 401
    assert refused.json() == wrong.json()  # the same generic failure
    await app.client.patch(f"/api/users/{user_id}", json={"disabled": False})
    assert await as_user(app, await token_of(app), "/api/projects") == 200
    actions = [r.action for r in audit_rows(app) if r.target == "bob"]
    assert [a for a in actions if a.startswith("user_")] == [
        "user_add",
        "user_disable",
        "user_enable",
    ]
    assert actions.count("sign_in") == 4  # bob's tokens, the refused and the wrong password


async def test_a_password_reset_ends_the_sessions_and_the_new_password_works(
    app: ApiApp,
) -> None:
    user_id = await add_bob(app)
    token = await token_of(app)

    answer = await app.client.post(
        f"/api/users/{user_id}/password", json={"password": "new-pw-123"}
    )

    assert answer.status_code == 200
    assert await as_user(app, token, "/api/projects") == 401
    assert (await sign_in(app, "bob", PASSWORD)).status_code == 401
    assert await as_user(app, await token_of(app, "bob", "new-pw-123"), "/api/projects") == 200
    rows = [r for r in audit_rows(app) if r.action == "user_password_reset"]
    assert len(rows) == 1 and rows[0].actor == "admin"
    everything = " ".join(f"{r.detail} {r.message} {r.target}" for r in audit_rows(app))
    assert "new-pw-123" not in everything and PASSWORD not in everything


async def test_the_last_enabled_admin_cannot_be_demoted_disabled_or_removed(app: ApiApp) -> None:
    admin_id = next(u.id for u in app.runtime.stores.users.all() if u.username == "admin")
    path = f"/api/users/{admin_id}"

    assert "role" in errors(await app.client.patch(path, json={"role": "viewer"}), 422)
    assert "disabled" in errors(await app.client.patch(path, json={"disabled": True}), 422)
    assert "role" in errors(await app.client.delete(path), 422)
    assert (await app.client.get("/api/users")).json()[0]["role"] == "admin"
    assert not [r for r in audit_rows(app) if r.action.startswith("user_")]
    bob = await add_bob(app, "admin")
    assert (await app.client.patch(path, json={"role": "viewer"})).status_code == 200
    assert app.runtime.stores.users.get(bob).role == Role.ADMIN


async def test_a_removed_users_token_stays_void_after_a_restart(app: ApiApp) -> None:
    user_id = await add_bob(app)
    token = await token_of(app)

    assert (await app.client.delete(f"/api/users/{user_id}")).status_code == 204

    assert await as_user(app, token, "/api/projects") == 401
    assert (await app.client.get(f"/api/users/{user_id}/password")).status_code == 405
    changes = [r.action for r in audit_rows(app) if r.target == "bob" and r.action != "sign_in"]
    assert changes == ["user_add", "user_remove"]
    restarted = open_runtime(app.runtime.settings)
    try:
        restarted.auth.restore()
        again = build_api(restarted)
        transport = httpx.ASGITransport(again)
        async with httpx.AsyncClient(transport=transport, base_url="http://dw.test") as http:
            answer = await http.get("/api/projects", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401
        # A new user may get the same id; tokens issued to it are its own.
        new = restarted.stores.users.create(username="bob", role=Role.VIEWER)
        assert new.id == user_id
        assert restarted.auth.is_valid(restarted.auth.verify(restarted.auth.issue_token(new).token))
    finally:
        await restarted.close(drain_seconds=5, notify_grace=1)


async def test_a_viewer_sees_projects_without_their_configuration(app: ApiApp) -> None:
    project = {"name": "web", "image": "library/web", "port": 80}
    created = await app.client.post("/api/projects", json=project)
    assert created.status_code == 201, created.text
    await add_bob(app, "viewer")
    viewer = {"Authorization": f"Bearer {await token_of(app)}"}

    seen = (await app.client.get(f"/api/projects/{created.json()['id']}", headers=viewer)).json()
    admin_seen = (await app.client.get(f"/api/projects/{created.json()['id']}")).json()

    assert seen["name"] == "web" and seen["env"] is None and seen["volumes"] is None
    assert admin_seen["env"] is not None and admin_seen["volumes"] is not None


async def test_sessions_ended_by_a_role_change_stay_ended_after_a_restart(app: ApiApp) -> None:
    user_id = await add_bob(app, "admin")
    token = await token_of(app)
    answer = await app.client.patch(f"/api/users/{user_id}", json={"role": "viewer"})
    assert answer.status_code == 200

    restarted = open_runtime(app.runtime.settings)
    try:
        restarted.auth.restore()
        transport = httpx.ASGITransport(build_api(restarted))
        async with httpx.AsyncClient(transport=transport, base_url="http://dw.test") as http:
            answer = await http.get("/api/users", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401
    finally:
        await restarted.close(drain_seconds=5, notify_grace=1)
