"""What NPM's API sends and takes, as our own frozen values (hosts, certificates, a host spec).

NPM has no API stability policy: every reader here tolerates missing or oddly typed fields
(older NPM sends 0/1 for booleans), so a surprising answer never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from services.errors import UpstreamError, ValidationFailed


def parse_timestamp(value: object) -> datetime | None:
    """Read NPM's `YYYY-MM-DD HH:MM:SS` (SQLite) or ISO-8601 (MySQL, tokens) as an aware datetime.

    SQLite timestamps carry no zone; NPM's container runs in UTC unless its TZ is changed, so they
    are read as UTC. Anything unreadable gives None rather than an exception.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def normalize_domain(domain: str) -> str:
    """Lowercase and trim a domain name; NPM compares names case-insensitively."""
    name = domain.strip().rstrip(".").lower()
    if not name:
        raise ValidationFailed.single("domain", "must not be empty")
    return name


def as_int(value: object, default: int = 0) -> int:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class ProxyHost:
    """One NPM proxy host as we read it back (older NPM sends 0/1 for booleans: both work).

    `meta` is a read-only copy and is left out of the hash.
    """

    id: int
    domain_names: tuple[str, ...]
    forward_host: str
    forward_port: int
    enabled: bool
    certificate_id: int
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False)
    nginx_online: bool | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ProxyHost:
        """Build from NPM's JSON, tolerating missing or oddly typed fields."""
        raw_meta = data.get("meta")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        online = meta.get("nginx_online")
        return cls(
            id=as_int(data.get("id")),
            domain_names=tuple(str(d) for d in data.get("domain_names") or ()),
            forward_host=str(data.get("forward_host") or ""),
            forward_port=as_int(data.get("forward_port")),
            enabled=bool(data.get("enabled", True)),
            certificate_id=as_int(data.get("certificate_id")),
            meta=MappingProxyType(dict(meta)),
            nginx_online=None if online is None else bool(online),
        )

    @property
    def nginx_err(self) -> str | None:
        """nginx's own complaint when NPM could not configure this host."""
        err = self.meta.get("nginx_err")
        return str(err) if err else None

    def serves(self, domain: str) -> bool:
        """Exact, case-insensitive match over the host's names (as NPM checks clashes)."""
        wanted = normalize_domain(domain)
        return any(name.lower() == wanted for name in self.domain_names)


@dataclass(frozen=True)
class Certificate:
    """An NPM certificate, enough to choose one for a proxy host."""

    id: int
    provider: str
    nice_name: str
    domain_names: tuple[str, ...]
    expires_on: datetime | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Certificate:
        return cls(
            id=as_int(data.get("id")),
            provider=str(data.get("provider") or ""),
            nice_name=str(data.get("nice_name") or ""),
            domain_names=tuple(str(d) for d in data.get("domain_names") or ()),
            expires_on=parse_timestamp(data.get("expires_on")),
        )

    def is_valid(self, now: datetime) -> bool:
        """Not expired; an unknown expiry counts as expired (we never attach a doubtful one)."""
        return self.expires_on is not None and self.expires_on > now

    def match_for(self, fqdn: str) -> int:
        """How this certificate covers `fqdn`: EXACT, WILDCARD (`*.x.com` covers one label
        in front of `x.com`, as TLS does) or NO_MATCH; expiry is not looked at here."""
        name = normalize_domain(fqdn)
        names = {entry.lower() for entry in self.domain_names}
        if name in names:
            return EXACT
        parent = name.split(".", 1)[1] if "." in name else ""
        return WILDCARD if parent and f"*.{parent}" in names else NO_MATCH

    def is_wildcard_for(self, domain: str, now: datetime) -> bool:
        """True when it names `*.<domain>` and has not expired (unknown expiry: expired)."""
        wildcard = f"*.{normalize_domain(domain)}"
        names = {name.lower() for name in self.domain_names}
        return wildcard in names and self.is_valid(now)


NO_MATCH, WILDCARD, EXACT = 0, 1, 2  # Certificate.match_for: higher is preferred


@dataclass(frozen=True)
class ProxyHostSpec:
    """What we want a proxy host to be; only NPM's writable fields, never a GET result."""

    domain_names: tuple[str, ...]
    forward_host: str
    forward_port: int
    forward_scheme: str = "http"
    certificate_id: int = 0
    ssl_forced: bool = False
    http2_support: bool = False
    allow_websocket_upgrade: bool = True
    block_exploits: bool = False
    trust_forwarded_proto: bool = False
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def body(self, *, trust_forwarded_proto_supported: bool) -> dict[str, Any]:
        """The POST/PUT body; `trust_forwarded_proto` only where NPM (>= 2.14) accepts it."""
        body: dict[str, Any] = {
            "domain_names": list(self.domain_names),
            "forward_scheme": self.forward_scheme,
            "forward_host": self.forward_host,
            "forward_port": self.forward_port,
            "certificate_id": self.certificate_id,
            "ssl_forced": self.ssl_forced and self.certificate_id > 0,
            "http2_support": self.http2_support and self.certificate_id > 0,
            "allow_websocket_upgrade": self.allow_websocket_upgrade,
            "block_exploits": self.block_exploits,
            "meta": dict(self.meta),
        }
        if trust_forwarded_proto_supported:
            body["trust_forwarded_proto"] = self.trust_forwarded_proto
        return body


class NginxConfigError(UpstreamError):
    """NPM stored the host but nginx refused its configuration (`meta.nginx_online == false`)."""

    def __init__(self, host_id: int, domain: str, nginx_err: str | None) -> None:
        self.host_id = host_id
        self.nginx_err = nginx_err
        detail = nginx_err or "no detail given"
        super().__init__(
            f"NPM stored proxy host #{host_id} for {domain} but nginx rejected its "
            f"configuration: {detail}"
        )
