"""OCI distribution API client: lists a repository's tags and resolves a tag's manifest digest.

`RegistryClient` is what the poller, the webhook intake and the settings call. The work is done
beside it: `auth` (challenges, bearer and basic, the token cache), `tags` (pagination),
`manifests` (digests), `names` (what the user typed, as API names) and `transport` (HTTP).
Every httpx exception and HTTP error leaves this package as one of ``services.errors``.

Docker Hub (``kind="dockerhub"``) and GitHub (``kind="github"``) have fixed API hosts:
``https://registry-1.docker.io`` whatever was typed (users type ``docker.io`` or
``hub.docker.com``), and ``https://ghcr.io``. Docker Hub's official images live under
``library/`` (``nginx`` becomes ``library/nginx``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import httpx

from services.errors import NotFound, RateLimited, UpstreamError, ValidationFailed, WrongService
from services.registry import manifests, tags
from services.registry.auth import RegistryAuth, RegistryCredentials
from services.registry.names import KINDS, api_base_url, repository_path
from services.registry.session import RegistrySession
from services.registry.transport import Transport


class RegistryClient:
    """Talks to one registry's OCI distribution API with one set of credentials (or none)."""

    def __init__(
        self,
        base_url: str,
        *,
        kind: str = "generic",
        credentials: RegistryCredentials | None,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if kind not in KINDS:
            raise ValidationFailed.single("type", f"unknown registry type {kind!r}")
        self.kind = kind
        self.base_url = api_base_url(base_url, kind)
        self.host = self.base_url.split("://", 1)[1]
        self._transport = Transport(self.host, http)
        self._auth = RegistryAuth(self._transport, kind=kind, credentials=credentials, clock=clock)
        self._session = RegistrySession(self.base_url, self._transport, self._auth)

    @property
    def requests_made(self) -> int:
        """Every HTTP request this client sent, token fetches included."""
        return self._transport.requests_made

    async def prefetch_tokens(self, repositories: Iterable[str]) -> None:
        """Fetch one bearer token covering every repository whose cached token is stale.

        A poll cycle then costs one request per repository plus one token request for the
        whole registry, instead of a token request per repository once tokens outlive the poll
        interval. Does nothing until the registry's token realm is known (its first challenge),
        for Basic auth, or when every token is fresh. Errors are left to the requests that follow
        (each would fetch its own token): this is only an optimisation.
        """
        await self._auth.prefetch(repositories)

    async def list_tags(self, repository: str, *, page_size: int | None = None) -> list[str]:
        """Every tag of a repository, in the registry's order, following ``Link`` pagination.

        Raises NotFound for an unknown repository, InvalidAuth, RateLimited, CannotConnect,
        Timeout, or UpstreamError (also when pagination loops, leaves the registry's host or
        exceeds ``MAX_PAGES`` pages).
        """
        name = repository_path(repository, self.kind)
        return await tags.list_tags(self._session, name, page_size)

    async def manifest_digest(self, repository: str, tag: str) -> str:
        """The content digest (``sha256:...``) of a tag's manifest, as ``docker pull`` sees it.

        Raises NotFound for an unknown repository or tag, and the other errors of `list_tags`.
        """
        name = repository_path(repository, self.kind)
        return await manifests.manifest_digest(self._session, name, tag)

    async def test_connection(self) -> str:
        """Check that the URL is a registry and the credentials work; a one-line summary.

        With a bearer registry this proves the token service accepts the credentials; with an
        open registry the credentials cannot be checked and the summary says so. Raises only
        CannotConnect, InvalidAuth or Timeout.
        """
        response = await self._session.request("GET", f"{self.base_url}/v2/")
        try:
            self._session.raise_for_status(response)
        except (NotFound, UpstreamError, RateLimited) as exc:
            raise WrongService(
                f"{self.host} does not answer as a registry: {exc}. {_ADVICE}"
            ) from exc
        if "html" in response.headers.get("content-type", "") and not response.headers.get(
            "docker-distribution-api-version"
        ):
            raise WrongService(
                f"{self.host} answered /v2/ with a web page, not the registry API. {_ADVICE}"
            )
        return f"Connected to {self.host}: {self._auth.summary()}"


_ADVICE = (
    "Check the address: the registry's own host and port (for Gitea, the Gitea address), "
    "without a path, e.g. https://git.example.com"
)
