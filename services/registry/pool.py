"""Which registry serves an image, and one long-lived RegistryClient per registry.

Shared by the poller, the webhook intake and quick deploy. Reusing a client keeps what it learnt
(that basic auth is needed, the token realm, cached tokens), which is what keeps a poll cycle at
one request per project. A client is rebuilt when its registry's URL, type or credentials change.
An image whose host matches no configured registry is read anonymously. A project naming a
registry whose host is not its image's host is refused (ValidationFailed on `image`): Docker would
send that registry's credentials to the image's host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from services.errors import NotFound, ValidationFailed
from services.imageref import ImageRef
from services.registry.auth import RegistryCredentials
from services.registry.client import RegistryClient
from services.registry.names import api_base_url, image_host_problem
from services.store.models import Project, Registry
from services.store.registries import RegistryStore

_ANONYMOUS_KINDS = {"docker.io": "dockerhub", "ghcr.io": "github"}


@dataclass(frozen=True)
class Source:
    """A registry as the clients see it; `key` groups projects (one back-off per source)."""

    key: str
    label: str
    base_url: str
    kind: str
    credentials: RegistryCredentials | None
    registry_id: int | None = None

    @property
    def pull_auth(self) -> tuple[str, str] | None:
        """(username, token) for `docker pull`, or None for anonymous pulls."""
        creds = self.credentials
        return (creds.username, creds.token) if creds else None


class RegistryPool:
    """Finds the registry of a project or image reference and hands out its cached client."""

    def __init__(self, registries: RegistryStore, http: httpx.AsyncClient) -> None:
        self._registries = registries
        self._http = http
        self._clients: dict[str, tuple[Source, RegistryClient]] = {}

    # sources (blocking: they read the database; call them in a thread) ----------------------
    def sources(self, projects: Iterable[Project]) -> tuple[dict[int, Source], dict[int, str]]:
        """The source of each project, and an error text for projects whose image is unusable."""
        configured = self._configured()
        found: dict[int, Source] = {}
        errors: dict[int, str] = {}
        for project in projects:
            assert project.id is not None
            try:
                found[project.id] = self._source(project, configured)
            except ValidationFailed as exc:
                errors[project.id] = str(exc)
        return found, errors

    def source_for(self, project: Project) -> Source:
        """The source of one project (its own registry, or the one serving its image's host)."""
        return self._source(project, self._configured())

    def check_image_host(self, registry_id: int | None, image: str) -> None:
        """ValidationFailed on `image` when it does not live on registry `registry_id`'s host
        (None: no registry, anything goes; an unknown id is the caller's `registry_id` check)."""
        if registry_id is None:
            return
        try:
            registry = self._registries.get(registry_id)
        except NotFound:
            return
        _refuse_foreign_image(image, registry.url, str(registry.type), registry.name)

    def source_for_ref(self, ref: ImageRef) -> Source:
        """The configured registry serving `ref`'s host, or anonymous access to that host."""
        return self._by_host(ref, self._configured())

    # clients ------------------------------------------------------------------------------
    def client(self, source: Source) -> RegistryClient:
        """The cached client of a source (cheap; safe on the event loop)."""
        cached = self._clients.get(source.key)
        if cached is not None and cached[0] == source:
            return cached[1]
        client = RegistryClient(
            source.base_url, kind=source.kind, credentials=source.credentials, http=self._http
        )
        self._clients[source.key] = (source, client)
        return client

    async def client_for(self, project: Project) -> tuple[Source, RegistryClient]:
        source = await asyncio.to_thread(self.source_for, project)
        return source, self.client(source)

    def requests_made(self) -> int:
        """Requests sent by every client so far (benchmarks and tests count them)."""
        return sum(client.requests_made for _, client in self._clients.values())

    # internals ----------------------------------------------------------------------------
    def _configured(self) -> list[tuple[str, Source]]:
        """(api host, source) of every configured registry whose URL is usable."""
        result = []
        for registry in self._registries.all():
            try:
                source = self._registry_source(registry)
            except ValidationFailed:
                continue  # a broken registry URL is reported by "test connection", not here
            result.append((source.base_url.split("://", 1)[1], source))
        return result

    def _registry_source(self, registry: Registry) -> Source:
        token = self._registries.token(registry)
        creds = RegistryCredentials(registry.username, token) if token else None
        base = api_base_url(registry.url, str(registry.type))
        return Source(
            f"registry:{registry.id}", registry.name, base, str(registry.type), creds, registry.id
        )

    def _source(self, project: Project, configured: list[tuple[str, Source]]) -> Source:
        own = [s for _, s in configured if s.registry_id == project.registry_id]
        if project.registry_id is not None and own:
            _refuse_foreign_image(project.image, own[0].base_url, own[0].kind, own[0].label)
            return own[0]
        return self._by_host(ImageRef.parse_name(project.image, field="image"), configured)

    @staticmethod
    def _by_host(ref: ImageRef, configured: list[tuple[str, Source]]) -> Source:
        for host, source in configured:
            if host == ref.api_host:
                return source
        kind = _ANONYMOUS_KINDS.get(ref.registry, "generic")
        base = api_base_url(ref.api_host, kind)
        return Source(f"host:{ref.api_host}", ref.registry, base, kind, None)


def _refuse_foreign_image(image: str, url: str, kind: str, name: str) -> None:
    problem = image_host_problem(image, url, kind, name)
    if problem:
        raise ValidationFailed.single("image", problem)
