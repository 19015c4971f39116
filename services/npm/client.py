"""The Nginx Proxy Manager adapter: `NpmClient` is the deployer's `ProxyManager`.

It decides what may be changed (only hosts we created) and checks that nginx accepted each
change; the calls themselves live in `hosts` and `certificates`, the login and the error
translation in `session`. The password and the token never appear in a message or a log line.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

import httpx

from services.errors import Conflict, InvalidAuth, NotFound
from services.npm.certificates import Certificates
from services.npm.hosts import ProxyHosts
from services.npm.ownership import OurHosts, mark
from services.npm.proxy import Lookup, Seen
from services.npm.session import NpmSession, utcnow
from services.npm.values import (
    Certificate,
    NginxConfigError,
    ProxyHost,
    ProxyHostSpec,
    normalize_domain,
)

_NGINX_META_KEYS = ("nginx_online", "nginx_err")


class NpmClient:
    """Talks to one NPM instance over its HTTP API (`ProxyManager` for the deployer).

    Safe to share between concurrent deploys: they share one login (see `NpmSession`).
    """

    def __init__(
        self,
        base_url: str,
        email: str,
        password: str,
        *,
        http: httpx.AsyncClient,
        clock: Callable[[], datetime] = utcnow,
        renew_before: timedelta = timedelta(minutes=30),
    ) -> None:
        self._session = NpmSession(
            base_url, email, password, http=http, clock=clock, renew_before=renew_before
        )
        self._hosts = ProxyHosts(self._session)
        self._certificates = Certificates(self._session, clock)

    def __repr__(self) -> str:
        return f"NpmClient({self._session.base!r}, {self._session.email!r})"

    async def test_connection(self) -> str:
        """Check the URL and the credentials before they are saved; returns NPM's version text.

        Raises CannotConnect / Timeout when NPM is unreachable, InvalidAuth for refused or
        two-factor credentials and for an NPM whose first-run setup is not finished.
        """
        status = await self._session.status()
        if status.get("setup") is False:
            raise InvalidAuth("NPM has no user yet: finish its setup and create a user for us")
        version = await self._session.server_version(fresh=True)
        await self._session.log_in()
        return ".".join(str(part) for part in version)

    # ----------------------------------------------------------------- proxy hosts

    async def list_hosts(self) -> list[ProxyHost]:
        """Every proxy host (NPM never paginates)."""
        return await self._hosts.all()

    async def find_host(self, domain: str) -> ProxyHost | None:
        """The proxy host serving exactly this domain (case-insensitive), if any."""
        return await self._hosts.find(domain)

    async def get_host(self, host_id: int) -> ProxyHost:
        """One proxy host read fresh (the only way to see `meta.nginx_online`)."""
        return await self._hosts.get(host_id)

    async def create_host(self, spec: ProxyHostSpec) -> ProxyHost:
        """Create a proxy host. A domain NPM already serves raises Conflict."""
        return await self._hosts.create(spec)

    async def update_host(self, host_id: int, spec: ProxyHostSpec) -> ProxyHost:
        """Replace the writable fields of a host (a partial PUT built from `spec` only)."""
        return await self._hosts.update(host_id, spec)

    async def delete_host(self, host_id: int, *, missing_ok: bool = True) -> None:
        """Delete a host (NPM frees its names); an already deleted one is fine unless told not."""
        await self._hosts.delete(host_id, missing_ok=missing_ok)

    async def enable_host(self, host_id: int) -> None:
        """Put a host into nginx; "already enabled" counts as success."""
        await self._hosts.toggle(host_id, "enable")

    async def disable_host(self, host_id: int) -> None:
        """Take a host out of nginx (a PUT `enabled: false` would not); idempotent."""
        await self._hosts.toggle(host_id, "disable")

    # ----------------------------------------------------------------- certificates

    async def list_certificates(self) -> list[Certificate]:
        """Every certificate NPM holds (Let's Encrypt and uploaded ones)."""
        return await self._certificates.all()

    async def pick_certificate(self, fqdn: str) -> Certificate | None:
        """The valid certificate covering `fqdn`: an exact name first, then a wildcard
        (`*.example.com` covers one label); the one expiring last among equals; or None."""
        return await self._certificates.covering(fqdn)

    # ----------------------------------------------------------------- the deployer's call

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
    ) -> ProxyHost:
        """Make `domain` route to `forward_host:forward_port`, creating or updating our host.

        `certificate_id` None lets the host keep its certificate, or for a new host attaches
        the best valid one NPM holds for the domain (see `pick_certificate`).
        Idempotent. A host that is not ours (see `OurHosts`; `owned_ids` are the host ids our
        instances hold) is never touched: Conflict. After the change the host is read back;
        when nginx refused the configuration, NginxConfigError (an UpstreamError) carries
        nginx's error.
        `seen` is what an earlier `find_host` of the same domain returned: it spares listing
        every host again (slow on an NPM with many). A host created since is adopted only if
        ours (see `_create_ours`); one deleted since is looked up afresh and created.
        """
        name, ours = normalize_domain(domain), OurHosts(frozenset(owned_ids))
        existing = await self.find_host(name) if seen is Lookup.NOT_DONE else seen
        if existing is not None:
            self._check_ours(existing, name, ours)
        spec = ProxyHostSpec(
            domain_names=existing.domain_names if existing else (name,),
            forward_host=forward_host,
            forward_port=forward_port,
            certificate_id=await self._certificate_for(name, existing, certificate_id),
            ssl_forced=ssl_forced,
            http2_support=True,
            meta=_our_meta(existing),
        )
        try:
            host = await (
                self._update_ours(existing, spec) if existing else self._create_ours(spec, ours)
            )
        except NotFound:
            if seen is Lookup.NOT_DONE:
                raise
            return await self.ensure_host(  # deleted since it was seen: look again
                domain,
                forward_host,
                forward_port,
                owned_ids=owned_ids,
                certificate_id=certificate_id,
                ssl_forced=ssl_forced,
            )
        return await self._confirm_online(host.id, name)

    async def _certificate_for(
        self, fqdn: str, existing: ProxyHost | None, chosen: int | None
    ) -> int:
        """The certificate a host gets: the one chosen (stage or settings) when there is one;
        else an existing host keeps its own, and a new host gets the best valid certificate
        NPM holds for its name (exact, then wildcard), or none (0)."""
        if chosen:
            return chosen
        if existing is not None:
            return existing.certificate_id
        picked = await self.pick_certificate(fqdn)
        return picked.id if picked is not None else 0

    @staticmethod
    def _check_ours(host: ProxyHost, domain: str, ours: OurHosts) -> None:
        if ours.owns(host):
            return
        raise Conflict(
            f"{domain} is already served by NPM proxy host #{host.id}, "
            "which Docker Watcher did not create"
        )

    async def _update_ours(self, host: ProxyHost, spec: ProxyHostSpec) -> ProxyHost:
        updated = await self.update_host(host.id, spec)
        if not updated.enabled:
            await self.enable_host(host.id)
        return updated

    async def _create_ours(self, spec: ProxyHostSpec, ours: OurHosts) -> ProxyHost:
        """Create; if NPM says the name is taken, adopt the host only when it is ours.

        A create retried after a stale-token 500 may find the row its first attempt left.
        """
        domain = spec.domain_names[0]
        try:
            return await self.create_host(spec)
        except Conflict:
            found = await self.find_host(domain)
            if found is None:
                raise Conflict(
                    f"{domain} is already in use in NPM by a redirection or 404 host"
                ) from None
            self._check_ours(found, domain, ours)
            return await self._update_ours(found, spec)

    async def _confirm_online(self, host_id: int, domain: str) -> ProxyHost:
        host = await self.get_host(host_id)
        if host.nginx_online is False:
            raise NginxConfigError(host_id, domain, host.nginx_err)
        return host


def _our_meta(existing: ProxyHost | None) -> dict[str, Any]:
    """Keep whatever meta the host had (minus NPM's nginx status) and add our marker."""
    kept = (existing.meta if existing else {}).items()
    return mark({k: v for k, v in kept if k not in _NGINX_META_KEYS})
