"""Proxy-host CRUD over NPM's API: list, find, read, create, update, delete, enable, disable.

Plain calls, one per NPM endpoint; who may change which host is decided by `NpmClient`.
"""

from __future__ import annotations

from typing import Any

from services.errors import NotFound, UpstreamError
from services.npm.session import NpmSession, error_message
from services.npm.values import ProxyHost, ProxyHostSpec, normalize_domain

HOSTS_PATH = "/api/nginx/proxy-hosts"
TRUST_FORWARDED_PROTO_SINCE = (2, 14)


class ProxyHosts:
    """The proxy hosts of one NPM instance."""

    def __init__(self, session: NpmSession) -> None:
        self._session = session

    async def all(self, query: str | None = None) -> list[ProxyHost]:
        """Every proxy host (NPM never paginates), or those NPM's `query` search matches."""
        params = {"query": query} if query else None  # an empty query= is a 400
        resp = await self._session.request("GET", HOSTS_PATH, params=params)
        if resp.status_code != 200:
            self._session.raise_for(resp, "list proxy hosts")
        data = self._session.json(resp)
        if not isinstance(data, list):
            raise UpstreamError("NPM listed proxy hosts as something other than a list")
        return [ProxyHost.from_api(item) for item in data if isinstance(item, dict)]

    async def find(self, domain: str) -> ProxyHost | None:
        """The proxy host serving exactly this domain (case-insensitive), if any."""
        name = normalize_domain(domain)
        matches = [h for h in await self.all(name) if h.serves(name)]
        return matches[0] if matches else None

    async def get(self, host_id: int) -> ProxyHost:
        """One proxy host read fresh (the only way to see `meta.nginx_online`)."""
        resp = await self._session.request("GET", f"{HOSTS_PATH}/{host_id}", item_id=host_id)
        if resp.status_code != 200:
            self._session.raise_for(resp, f"read proxy host #{host_id}", host_id)
        return ProxyHost.from_api(self._session.json(resp))

    async def _body(self, spec: ProxyHostSpec) -> dict[str, Any]:
        supported = await self._session.server_version() >= (*TRUST_FORWARDED_PROTO_SINCE, 0)
        return spec.body(trust_forwarded_proto_supported=supported)

    async def create(self, spec: ProxyHostSpec) -> ProxyHost:
        """Create a proxy host. A domain NPM already serves raises Conflict."""
        action = f"create a proxy host for {', '.join(spec.domain_names)}"
        resp = await self._session.request("POST", HOSTS_PATH, json=await self._body(spec))
        if resp.status_code not in (200, 201):
            self._session.raise_for(resp, action)
        return ProxyHost.from_api(self._session.json(resp))

    async def update(self, host_id: int, spec: ProxyHostSpec) -> ProxyHost:
        """Replace the writable fields of a host (a partial PUT built from `spec` only)."""
        body = await self._body(spec)
        path = f"{HOSTS_PATH}/{host_id}"
        resp = await self._session.request("PUT", path, json=body, item_id=host_id)
        if resp.status_code != 200:
            self._session.raise_for(resp, f"update proxy host #{host_id}", host_id)
        return ProxyHost.from_api(self._session.json(resp))

    async def delete(self, host_id: int, *, missing_ok: bool = True) -> None:
        """Delete a host (NPM frees its names); an already deleted one is fine unless told not."""
        path = f"{HOSTS_PATH}/{host_id}"
        resp = await self._session.request("DELETE", path, item_id=host_id)
        if resp.status_code == 200:
            return
        try:
            self._session.raise_for(resp, f"delete proxy host #{host_id}", host_id)
        except NotFound:
            if not missing_ok:
                raise

    async def toggle(self, host_id: int, verb: str) -> None:
        """`enable` or `disable` a host in nginx; "already enabled/disabled" counts as success."""
        path = f"{HOSTS_PATH}/{host_id}/{verb}"
        resp = await self._session.request("POST", path, item_id=host_id)
        if resp.status_code == 200:
            return
        if resp.status_code == 400 and "already" in error_message(resp).lower():
            return
        self._session.raise_for(resp, f"{verb} proxy host #{host_id}", host_id)
