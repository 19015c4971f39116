"""Gives the deployer the proxy as currently configured (NPM settings may change at any time)."""

from __future__ import annotations

import asyncio

import httpx

from services.npm.client import NpmClient
from services.npm.proxy import ProxyTarget
from services.store.models import NpmSettings
from services.store.settings_store import SettingsStore


class ProxyProvider:
    """Builds the NPM client from stored settings; reuses it (and its token) while unchanged."""

    def __init__(self, settings: SettingsStore, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http
        self._client: NpmClient | None = None
        self._key: tuple[str, str, str] | None = None

    async def current(self) -> ProxyTarget | None:
        """The proxy target, or None when NPM is not configured (deploys then skip routing)."""
        read = await asyncio.to_thread(self._read)  # one trip to the database, not three
        if read is None:
            return None
        npm, password, domain = read
        key = (npm.url, npm.email, password)
        if self._client is None or key != self._key:
            self._client = NpmClient(npm.url, npm.email, password, http=self._http)
            self._key = key
        return ProxyTarget(self._client, npm.certificate_id, npm.ssl_forced, domain)

    def _read(self) -> tuple[NpmSettings, str, str] | None:
        npm = self._settings.get_npm()
        if not npm.url:
            return None
        return npm, self._settings.npm_password() or "", self._settings.get_global().domain
