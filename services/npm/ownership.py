"""Which NPM proxy hosts are Docker Watcher's: decided here, and every caller asks here.

A host is ours when it carries our marker (`meta.managed_by`, written on every host we create or
change) or when one of our instance rows holds its id (hosts made before the marker existed).
Only our hosts are ever changed or deleted; any other host serving a domain we want is a clash
that a person resolves in NPM.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

MANAGED_BY = "docker-watcher"
_MARKER_KEY = "managed_by"


class Host(Protocol):
    """What the decision reads of a proxy host (`ProxyHost` fits)."""

    @property
    def id(self) -> int: ...

    @property
    def meta(self) -> Mapping[str, Any]: ...


def mark(meta: Mapping[str, Any]) -> dict[str, Any]:
    """`meta` with our marker added: what we write on every host we create or change."""
    return {**meta, _MARKER_KEY: MANAGED_BY}


def _marked(host: Host) -> bool:
    return host.meta.get(_MARKER_KEY) == MANAGED_BY


@dataclass(frozen=True)
class OurHosts:
    """The one answer to "is this proxy host ours?", given the host ids our instances hold."""

    held: frozenset[int] = frozenset()

    @classmethod
    def held_by(cls, proxy_host_ids: Iterable[Mapping[str, int]]) -> OurHosts:
        """From each instance's `proxy_host_ids` (domain -> host id)."""
        return cls(frozenset(host_id for hosts in proxy_host_ids for host_id in hosts.values()))

    def owns(self, host: Host) -> bool:
        """Ours: we may point it elsewhere, enable it or delete it."""
        return _marked(host) or host.id in self.held

    def leftover(self, host: Host) -> bool:
        """Made by us yet held by no instance: what a failed change left behind (to delete)."""
        return _marked(host) and host.id not in self.held
