"""Registries as the settings page and the REST API manage them: CRUD, test, list tags.

Read models never carry the token, only `has_token`. Saving or testing without a token (None)
keeps the stored one, but only for the registry API it was saved for (a new URL or type needs
the token typed again, see `services.credential_scope`); an empty text clears it. "Test
connection" works on unsaved input, so a person learns that a URL or token is wrong before
saving it (errors: CannotConnect, InvalidAuth, Timeout, each in plain words naming the host).
"""

from __future__ import annotations

import asyncio
import builtins
from dataclasses import dataclass
from datetime import datetime

import httpx
from pydantic import Field

from services import credential_scope, tags
from services.admin.inputs import InputModel
from services.audit.changes import fields_of, record_change
from services.audit.log import Actor, AuditLog, Target
from services.errors import Conflict, ValidationFailed
from services.fields import (
    REGISTRY_DEFAULTS,
    RegistryKind,
    RegistryName,
    RegistryToken,
    RegistryUrl,
    Username,
)
from services.registry import names
from services.registry.auth import RegistryCredentials
from services.registry.client import RegistryClient
from services.store.models import Registry, RegistryType
from services.store.projects import ProjectStore
from services.store.registries import RegistryStore


class RegistryInput(InputModel):
    name: RegistryName = Field(description="letters, digits, '.', '_' or '-'")
    url: RegistryUrl = Field(
        description="e.g. https://git.example.com (Docker Hub and ghcr.io use fixed API hosts)"
    )
    type: RegistryKind = REGISTRY_DEFAULTS.type
    username: Username = REGISTRY_DEFAULTS.username
    token: RegistryToken | None = Field(
        None,
        description="password or access token; null keeps the stored one (same address only), "
        "'' clears it",
    )


@dataclass(frozen=True)
class RegistryView:
    """A registry as shown: never its token."""

    id: int
    name: str
    url: str
    type: str
    username: str
    has_token: bool
    created_at: datetime
    used_by: tuple[str, ...]  # names of the projects pulling from it


class RegistryAdmin:
    def __init__(
        self,
        registries: RegistryStore,
        projects: ProjectStore,
        http: httpx.AsyncClient,
        audit: AuditLog,
    ) -> None:
        self._audit = audit
        self._registries = registries
        self._projects = projects
        self._http = http

    async def list(self) -> list[RegistryView]:
        """Every registry by name, with the projects using it."""
        return await asyncio.to_thread(self._list)

    async def get(self, registry_id: int) -> RegistryView:
        """NotFound for an unknown id."""
        return await asyncio.to_thread(self._view_of, registry_id)

    async def create(self, data: RegistryInput, *, actor: Actor) -> RegistryView:
        """Conflict when the name is taken."""
        work = asyncio.to_thread(self._create, data)
        target = Target(other=f"registry {data.name}")
        row = await record_change(
            self._audit, actor, target, work, change="create", after=fields_of
        )
        assert row.id is not None
        return await self.get(row.id)

    async def update(self, registry_id: int, data: RegistryInput, *, actor: Actor) -> RegistryView:
        """`data.token` None keeps the stored token. NotFound, Conflict (name taken)."""
        before = await asyncio.to_thread(self._registries.get, registry_id)
        work = asyncio.to_thread(self._update_and_get, registry_id, data)
        target = Target(other=f"registry {before.name}")
        await record_change(
            self._audit, actor, target, work, before=fields_of(before), after=fields_of
        )
        return await self.get(registry_id)

    async def delete(self, registry_id: int, *, actor: Actor) -> None:
        """Refused (Conflict, naming them) while projects pull from it."""
        before = await asyncio.to_thread(self._registries.get, registry_id)
        work = asyncio.to_thread(self._delete, registry_id)
        target = Target(other=f"registry {before.name}")
        await record_change(self._audit, actor, target, work, change="delete")

    async def test(self, registry_id: int) -> str:
        """Test the stored URL and credentials; a one-line summary of what was proven."""
        client = await asyncio.to_thread(self._stored_client, registry_id)
        return await client.test_connection()

    async def test_input(self, data: RegistryInput, *, registry_id: int | None = None) -> str:
        """Test unsaved input; with `token` None, the stored token of `registry_id` is used,
        but only for the registry API it was saved for (ValidationFailed on `token` otherwise).

        Raises CannotConnect, InvalidAuth, Timeout, or ValidationFailed (`url`, `token`).
        """
        token = data.token
        if token is None and registry_id is not None:
            token = await asyncio.to_thread(self._stored_token, registry_id, data)
        return await self._client(data.url, data.type, data.username, token).test_connection()

    async def tags(self, registry_id: int, image: str) -> builtins.list[str]:
        """Tags of `image` (repository, optionally with host) in this registry, newest first.

        Raises NotFound (unknown registry or repository), ValidationFailed (`image`),
        InvalidAuth, RateLimited, CannotConnect, Timeout, UpstreamError.
        """
        client = await asyncio.to_thread(self._stored_client, registry_id)
        return tags.sort_newest_first(await client.list_tags(image))

    # blocking helpers ----------------------------------------------------------------------
    def _list(self) -> builtins.list[RegistryView]:
        users = self._users()
        return [_view(row, users) for row in self._registries.all()]

    def _view_of(self, registry_id: int) -> RegistryView:
        return _view(self._registries.get(registry_id), self._users())

    def _users(self) -> dict[int, builtins.list[str]]:
        users: dict[int, builtins.list[str]] = {}
        for project in self._projects.all():
            if project.registry_id is not None:
                users.setdefault(project.registry_id, []).append(project.name)
        return users

    def _create(self, data: RegistryInput) -> Registry:
        fields = data.model_dump(exclude={"token", "type"})
        return self._registries.create(token=data.token, type=RegistryType(data.type), **fields)

    def _update_and_get(self, registry_id: int, data: RegistryInput) -> Registry:
        self._update(registry_id, data)
        return self._registries.get(registry_id)

    def _update(self, registry_id: int, data: RegistryInput) -> None:
        current = self._registries.get(registry_id)
        taken = self._registries.get_by_name(data.name)
        if taken is not None and taken.id != current.id:
            raise Conflict(f"a registry named {data.name!r} already exists")
        if data.token is None:
            _refuse_moved_token(current, data)
        fields = data.model_dump(exclude={"token", "type"})
        self._registries.update(
            registry_id, token=data.token, type=RegistryType(data.type), **fields
        )

    def _delete(self, registry_id: int) -> None:
        row = self._registries.get(registry_id)
        users = self._users().get(registry_id, [])
        if users:
            raise Conflict(
                f"registry {row.name!r} is used by {', '.join(users)}; change those projects first"
            )
        self._registries.delete(registry_id)

    def _stored_token(self, registry_id: int, data: RegistryInput) -> str | None:
        row = self._registries.get(registry_id)
        _refuse_moved_token(row, data)
        return self._registries.token(row)

    def _stored_client(self, registry_id: int) -> RegistryClient:
        row = self._registries.get(registry_id)
        return self._client(row.url, str(row.type), row.username, self._registries.token(row))

    def _client(self, url: str, kind: str, username: str, token: str | None) -> RegistryClient:
        credentials = RegistryCredentials(username, token) if token else None
        return RegistryClient(url, kind=kind, credentials=credentials, http=self._http)


def _refuse_moved_token(row: Registry, data: RegistryInput) -> None:
    """A stored token is only ever sent to the registry API it was saved for."""
    if row.token_enc and not names.same_api(row.url, str(row.type), data.url, data.type):
        raise ValidationFailed(credential_scope.retype("token", "token"))


def _view(row: Registry, users: dict[int, list[str]]) -> RegistryView:
    assert row.id is not None
    return RegistryView(
        id=row.id,
        name=row.name,
        url=row.url,
        type=str(row.type),
        username=row.username,
        has_token=bool(row.token_enc),
        created_at=row.created_at,
        used_by=tuple(users.get(row.id, [])),
    )
