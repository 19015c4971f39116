"""Which NPM proxy host points at which instance, and moving a domain between instances.

The instance rows are the source of truth for which instance serves a domain:
`Instance.proxy_host_ids` maps each domain the instance serves to its NPM host id (and, with the
marker, tells which hosts are ours: `services.npm.ownership`). Moving a domain updates the NPM
host first and then transfers the row entry, so a failure in between leaves NPM pointing at a
live container.
"""

from __future__ import annotations

import asyncio
import logging

from services.errors import CannotConnect, NotFound, Timeout, ValidationFailed, WatcherError
from services.npm.ownership import OurHosts
from services.npm.proxy import Lookup, ProxyTarget, Seen
from services.store.instances import InstanceStore
from services.store.models import Instance

log = logging.getLogger(__name__)


class Router:
    """Points domains at instances through the proxy; the instance rows say who serves what."""

    def __init__(self, instances: InstanceStore) -> None:
        self._instances = instances

    async def point(
        self,
        target: ProxyTarget,
        fqdn: str,
        instance: Instance,
        port: int,
        *,
        seen: Seen = Lookup.NOT_DONE,
    ) -> int:
        """Make `fqdn` forward to `instance`; returns the proxy host id.

        `seen` is what the deploy's plan found for `fqdn`. Raises Conflict when NPM already
        serves the domain with a host that is not ours, CannotConnect or UpstreamError when
        NPM fails; the previous owner keeps the domain in that case.
        """
        if not target.domain:
            raise ValidationFailed.single("domain", "set the domain in Settings before routing")
        ours = await asyncio.to_thread(self._ours)
        try:
            host = await target.proxy.ensure_host(
                fqdn,
                instance.container_name,
                port,
                owned_ids=ours.held,
                certificate_id=target.certificate_id,
                ssl_forced=target.ssl_forced,
                seen=seen,
            )
        except (CannotConnect, Timeout):
            await self._discard_leftover(target, fqdn, ours)
            raise  # NPM did not answer: nothing to point back, and no second wait
        except WatcherError:
            await self._discard_leftover(target, fqdn, ours)
            await self._restore_holder(target, fqdn, instance, port, ours)
            raise
        host_id = int(host.id)
        url = target.url(fqdn, host.certificate_id)
        await asyncio.to_thread(self._transfer, fqdn, host_id, instance, url)
        return host_id

    async def release(self, target: ProxyTarget | None, instance: Instance, fqdn: str) -> None:
        """Delete the proxy host for `fqdn` held by `instance` (already gone is fine)."""
        host_id = instance.proxy_host_ids.get(fqdn)
        if target is not None and host_id is not None:
            try:
                await target.proxy.delete_host(host_id)
            except NotFound:
                log.info("proxy host %s for %s was already gone", host_id, fqdn)
        await asyncio.to_thread(self._drop, instance, fqdn)

    async def _discard_leftover(self, target: ProxyTarget, fqdn: str, ours: OurHosts) -> None:
        """NPM may store a host and still fail (nginx refused it, reload failed): a host of ours
        that no instance holds is this attempt's leftover, so delete it."""
        try:
            host = await target.proxy.find_host(fqdn)
            if host is not None and ours.leftover(host):
                await target.proxy.delete_host(int(host.id))
                log.info("deleted proxy host #%s left by a failed change of %s", host.id, fqdn)
        except WatcherError as exc:
            log.warning("could not check for a leftover proxy host of %s: %s", fqdn, exc)

    async def _restore_holder(
        self, target: ProxyTarget, fqdn: str, instance: Instance, port: int, ours: OurHosts
    ) -> None:
        """A failed change may still have changed NPM's host (nginx refused the new config and
        NPM dropped it, or NPM failed after writing the row): point the domain back at the
        instance that holds it, so the failed move costs no downtime."""
        holders = await asyncio.to_thread(self._instances.all)
        holder = self.owner_of(fqdn, [i for i in holders if i.id != instance.id])
        if holder is None:
            return
        try:
            await target.proxy.ensure_host(
                fqdn,
                holder.container_name,
                port,
                owned_ids=ours.held,
                certificate_id=target.certificate_id,
                ssl_forced=target.ssl_forced,
            )
            log.info("pointed %s back at %s after a failed change", fqdn, holder.container_name)
        except WatcherError as exc:
            log.warning("could not point %s back at %s: %s", fqdn, holder.container_name, exc)

    def owner_of(self, fqdn: str, among: list[Instance]) -> Instance | None:
        """The instance among `among` that serves `fqdn` through a proxy host, if any."""
        return next((i for i in among if fqdn in i.proxy_host_ids), None)

    def _ours(self) -> OurHosts:
        return OurHosts.held_by(instance.proxy_host_ids for instance in self._instances.all())

    def _transfer(self, fqdn: str, host_id: int, new_owner: Instance, url: str) -> None:
        for other in self._instances.all():
            if other.id != new_owner.id and fqdn in other.proxy_host_ids:
                self._drop(other, fqdn)
        assert new_owner.id is not None
        fresh = self._instances.find(new_owner.id) or new_owner
        hosts = {**fresh.proxy_host_ids, fqdn: host_id}
        domains = sorted(set(fresh.subdomains) | {fqdn})
        updated = self._instances.update(
            new_owner.id, proxy_host_ids=hosts, subdomains=domains, url=fresh.url or url
        )
        new_owner.proxy_host_ids, new_owner.subdomains = updated.proxy_host_ids, updated.subdomains
        new_owner.url = updated.url

    def _drop(self, instance: Instance, fqdn: str) -> None:
        assert instance.id is not None
        fresh = self._instances.find(instance.id)
        if fresh is None:
            return
        hosts = {d: h for d, h in fresh.proxy_host_ids.items() if d != fqdn}
        domains = [d for d in fresh.subdomains if d != fqdn]
        self._instances.update(instance.id, proxy_host_ids=hosts, subdomains=domains)
        instance.proxy_host_ids, instance.subdomains = hosts, domains
