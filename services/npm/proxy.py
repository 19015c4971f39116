"""What the deployer sees of a reverse proxy: the `ProxyManager` protocol and where it routes.

NPM is the first adapter; a second proxy (Traefik, Caddy) would implement the same protocol.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from enum import Enum
from typing import Literal, Protocol

from services.npm.values import Certificate, ProxyHost


class Lookup(Enum):
    """`ensure_host(seen=Lookup.NOT_DONE)`: nobody looked the domain up yet."""

    NOT_DONE = "not done"


Seen = ProxyHost | None | Literal[Lookup.NOT_DONE]  # what an earlier find_host returned


class ProxyManager(Protocol):
    """What the deployer needs from a reverse proxy."""

    async def test_connection(self) -> str: ...

    async def find_host(self, domain: str) -> ProxyHost | None: ...

    async def ensure_host(
        self,
        domain: str,
        forward_host: str,
        forward_port: int,
        *,
        owned_ids: Collection[int] = (),
        certificate_id: int | None = None,
        ssl_forced: bool = False,
        seen: Seen = Lookup.NOT_DONE,
    ) -> ProxyHost: ...

    async def delete_host(self, host_id: int, *, missing_ok: bool = True) -> None: ...

    async def enable_host(self, host_id: int) -> None: ...

    async def disable_host(self, host_id: int) -> None: ...

    async def pick_certificate(self, fqdn: str) -> Certificate | None: ...


@dataclass(frozen=True)
class ProxyTarget:
    """The proxy as currently configured: where a domain sends traffic and how it is served.

    `certificate_id` is the certificate chosen by a person: a stage's choice wins over the
    settings' one (`for_stage`); None lets the proxy attach a valid certificate it holds for
    each new host's name (exact, then wildcard) and lets existing hosts keep theirs.
    """

    proxy: ProxyManager
    certificate_id: int | None
    ssl_forced: bool
    domain: str

    def for_stage(self, stage_certificate_id: int | None) -> ProxyTarget:
        """This target with the stage's certificate choice applied (stage > settings > auto)."""
        if not stage_certificate_id:
            return self
        return replace(self, certificate_id=stage_certificate_id)

    @staticmethod
    def url(fqdn: str, certificate_id: int) -> str:
        """The address a host serves: https once it has a certificate."""
        scheme = "https" if certificate_id else "http"
        return f"{scheme}://{fqdn}"


class ProxySource(Protocol):
    """Anything that yields the currently configured proxy (see ProxyProvider)."""

    async def current(self) -> ProxyTarget | None: ...
