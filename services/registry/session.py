"""A request to the registry API with the best known auth, and its answer in our words."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from services.errors import NotFound, UpstreamError
from services.registry.auth import RegistryAuth
from services.registry.transport import Params, Transport, detail_text, error_detail, rate_limited


class RegistrySession:
    """One registry's API at `base_url`, signed in as `auth` says."""

    def __init__(self, base_url: str, transport: Transport, auth: RegistryAuth) -> None:
        self.base_url = base_url
        self.host = transport.host
        self._transport = transport
        self._auth = auth

    async def request(
        self,
        method: str,
        url: str,
        *,
        repository: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Params | None = None,
    ) -> httpx.Response:
        """Send with the best known auth; answer one 401 challenge and retry once."""
        scope = f"repository:{repository}:pull" if repository else None
        base = dict(headers or {})
        auth = await self._auth.known(scope)
        response = await self._transport.send(method, url, headers=base | auth, params=params)
        if response.status_code != 401:
            return response
        auth = await self._auth.answer(response, scope, repository)
        response = await self._transport.send(method, url, headers=base | auth, params=params)
        if response.status_code == 401:
            raise self._auth.error(response, repository)
        return response

    def raise_for_status(
        self, response: httpx.Response, *, repository: str | None = None, tag: str | None = None
    ) -> None:
        """Translate a non-2xx answer into our error vocabulary."""
        if response.is_success:
            return
        status = response.status_code
        if status in (401, 403):
            raise self._auth.error(response, repository)
        if status == 404:
            raise NotFound(self._not_found(error_detail(response)[0], repository, tag))
        if status == 429:
            raise rate_limited(self.host, response)
        raise UpstreamError(f"registry {self.host} answered HTTP {status}{detail_text(response)}")

    def _not_found(self, code: str, repository: str | None, tag: str | None) -> str:
        if tag and code != "NAME_UNKNOWN":
            return f"tag {tag} not found in repository {repository} on {self.host}"
        if repository:
            return f"repository {repository} not found on {self.host}"
        return f"{self.host} has no registry API at /v2/"
