"""Nginx Proxy Manager adapter: proxy hosts for our containers, behind the `ProxyManager` protocol.

NPM has no API stability policy, so this module follows the facts collected in
`reference/npm-api.md` (v2.10 to v2.15.1): tokens live one day and are renewed before they expire,
a stale token shows up as several different answers (400, 401/403, 404, 500) and is answered by one
fresh login and one retry, and every outside failure leaves this module as one of our own errors.
The password and the token never appear in a message or a log line.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from types import MappingProxyType
from typing import Any, Literal, NoReturn, Protocol

import httpx

from services.errors import (
    CannotConnect,
    Conflict,
    InvalidAuth,
    NotFound,
    RateLimited,
    Timeout,
    UpstreamError,
    ValidationFailed,
)

log = logging.getLogger(__name__)

MANAGED_BY = "docker-watcher"
TWO_FACTOR_MESSAGE = "the NPM user has two-factor authentication; use a dedicated user without it"
HOSTS_PATH = "/api/nginx/proxy-hosts"
CERTIFICATES_PATH = "/api/nginx/certificates"
TRUST_FORWARDED_PROTO_SINCE = (2, 14)
_NGINX_META_KEYS = ("nginx_online", "nginx_err")
_JSON = Any


def _utcnow() -> datetime:
    return datetime.now(UTC)


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


def _as_int(value: object, default: int = 0) -> int:
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
            id=_as_int(data.get("id")),
            domain_names=tuple(str(d) for d in data.get("domain_names") or ()),
            forward_host=str(data.get("forward_host") or ""),
            forward_port=_as_int(data.get("forward_port")),
            enabled=bool(data.get("enabled", True)),
            certificate_id=_as_int(data.get("certificate_id")),
            meta=MappingProxyType(dict(meta)),
            nginx_online=None if online is None else bool(online),
        )

    @property
    def nginx_err(self) -> str | None:
        """nginx's own complaint when NPM could not configure this host."""
        err = self.meta.get("nginx_err")
        return str(err) if err else None

    @property
    def carries_our_marker(self) -> bool:
        return self.meta.get("managed_by") == MANAGED_BY

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
            id=_as_int(data.get("id")),
            provider=str(data.get("provider") or ""),
            nice_name=str(data.get("nice_name") or ""),
            domain_names=tuple(str(d) for d in data.get("domain_names") or ()),
            expires_on=parse_timestamp(data.get("expires_on")),
        )

    def is_wildcard_for(self, domain: str, now: datetime) -> bool:
        """True when it names `*.<domain>` and has not expired (unknown expiry: expired)."""
        wildcard = f"*.{normalize_domain(domain)}"
        names = {name.lower() for name in self.domain_names}
        return wildcard in names and self.expires_on is not None and self.expires_on > now


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


class Lookup(Enum):
    """`ensure_host(seen=Lookup.NOT_DONE)`: nobody looked the domain up yet."""

    NOT_DONE = "not done"


Seen = ProxyHost | None | Literal[Lookup.NOT_DONE]  # what an earlier find_host returned


class ProxyManager(Protocol):
    """What the deployer needs from a reverse proxy; NPM is the first adapter."""

    async def test_connection(self) -> str: ...

    async def find_host(self, domain: str) -> ProxyHost | None: ...

    async def ensure_host(
        self,
        domain: str,
        forward_host: str,
        forward_port: int,
        *,
        owned_ids: set[int] | None = None,
        certificate_id: int | None = None,
        ssl_forced: bool = False,
        seen: Seen = Lookup.NOT_DONE,
    ) -> ProxyHost: ...

    async def delete_host(self, host_id: int, *, missing_ok: bool = True) -> None: ...

    async def enable_host(self, host_id: int) -> None: ...

    async def disable_host(self, host_id: int) -> None: ...

    async def pick_wildcard_certificate(self, domain: str) -> Certificate | None: ...


def _error_message(resp: httpx.Response) -> str:
    """NPM's `error.message`, or a short text for non-NPM answers; `message_i18n` is ignored."""
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        message = data["error"].get("message")
        if isinstance(message, str) and message:
            return message
    return resp.reason_phrase or f"HTTP {resp.status_code}"


def _is_stale_token_answer(status: int, message: str, item_id: int | None) -> bool:
    """The answers NPM gives for an expired, malformed or missing token (see npm-api.md)."""
    if status in (401, 403):
        return True
    if status == 400:
        return "token has expired" in message.lower()
    if status == 404:
        return message.startswith("Not Found") and message != f"Not Found - {item_id}"
    return status == 500 and message == "Internal Error"


def _validation_error(action: str, message: str) -> ValidationFailed:
    """Turn NPM's validator text (`data/forward_port must be <= 65535`) into a named field."""
    match = re.match(r"^data/(\S+) (.+)$", message)
    if match:
        path = match.group(1).replace("/", ".")
        return ValidationFailed.single(f"npm.{path}", f"NPM refused to {action}: {match.group(2)}")
    return ValidationFailed.single("npm", f"NPM refused to {action}: {message}")


@dataclass
class _Token:
    value: str = field(repr=False)
    expires: datetime = field(default_factory=_utcnow)


class NpmClient:
    """Talks to one NPM instance over its HTTP API (`ProxyManager` for the deployer).

    Safe to share between concurrent deploys: login and renewal are serialized by a lock, so a
    burst of calls with an old token logs in once.
    """

    def __init__(
        self,
        base_url: str,
        email: str,
        password: str,
        *,
        http: httpx.AsyncClient,
        clock: Callable[[], datetime] = _utcnow,
        renew_before: timedelta = timedelta(minutes=30),
    ) -> None:
        self._base = re.sub(r"(/api)?/*$", "", base_url.strip())
        self._email = email
        self._password = password
        self._http = http
        self._clock = clock
        self._renew_before = renew_before
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self._version: tuple[int, int, int] | None = None

    def __repr__(self) -> str:
        return f"NpmClient({self._base!r}, {self._email!r})"

    # ----------------------------------------------------------------- transport

    async def _call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: object = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One HTTP exchange, with httpx's exceptions translated at this boundary."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            return await self._http.request(
                method, self._base + path, headers=headers, json=json, params=params
            )
        except httpx.TimeoutException as exc:
            raise Timeout(f"NPM at {self._base} did not answer in time") from exc
        except httpx.TransportError as exc:
            reason = str(exc) or exc.__class__.__name__
            raise CannotConnect(f"cannot reach NPM at {self._base}: {reason}") from exc
        except httpx.InvalidURL as exc:
            raise CannotConnect(f"the NPM URL {self._base!r} is not a valid URL") from exc

    def _json(self, resp: httpx.Response) -> _JSON:
        try:
            return resp.json()
        except ValueError as exc:
            raise UpstreamError(
                f"{self._base} answered something that is not JSON; is it NPM's admin port "
                "(usually 81)?"
            ) from exc

    def _raise_for(self, resp: httpx.Response, action: str, item_id: int | None = None) -> NoReturn:
        """Map an unsuccessful answer to our vocabulary, naming what we were doing."""
        status, message = resp.status_code, _error_message(resp)
        what = f"NPM could not {action}"
        if status == 400 and message.endswith("is already in use"):
            raise Conflict(f"{what}: {message}")
        if status == 400 and "token has expired" in message.lower():
            raise InvalidAuth(f"{what}: it calls a fresh token expired; check both clocks")
        if status == 400:
            raise _validation_error(action, message)
        if status == 404 and message == f"Not Found - {item_id}":
            raise NotFound(f"NPM proxy host #{item_id} does not exist")
        if status in (401, 403, 404):
            raise InvalidAuth(f"{what}: {message} (does the NPM user {self._email} have access?)")
        if status == 429:
            raise RateLimited(f"{what}: NPM asks us to slow down")
        if status in (502, 503, 504):
            raise CannotConnect(f"{what}: NPM at {self._base} is unavailable (HTTP {status})")
        raise UpstreamError(f"{what}: HTTP {status} {message}")

    # ----------------------------------------------------------------- tokens

    async def _login(self) -> _Token:
        """POST /api/tokens with exactly `identity` and `secret` (v2.12+ rejects anything else)."""
        resp = await self._call(
            "POST", "/api/tokens", json={"identity": self._email, "secret": self._password}
        )
        if resp.status_code in (400, 401, 403):
            raise InvalidAuth(f"NPM refused the login of {self._email}: {_error_message(resp)}")
        if resp.status_code != 200:
            self._raise_for(resp, "log in")
        token = self._token_from(self._json(resp))
        log.debug("logged in to NPM at %s as %s", self._base, self._email)
        return token

    def _token_from(self, data: _JSON) -> _Token:
        if isinstance(data, dict) and data.get("requires_2fa"):
            raise InvalidAuth(TWO_FACTOR_MESSAGE)
        value = data.get("token") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise UpstreamError(f"NPM at {self._base} answered the login without a token")
        expires = parse_timestamp(data.get("expires")) or self._clock() + timedelta(hours=1)
        self._token = _Token(value, expires)
        return self._token

    async def _renew(self, current: _Token) -> _Token:
        """GET /api/tokens for a fresh day; a refused renewal falls back to a full login."""
        resp = await self._call("GET", "/api/tokens", token=current.value)
        if resp.status_code == 200:
            return self._token_from(self._json(resp))
        if _is_stale_token_answer(resp.status_code, _error_message(resp), None):
            return await self._login()
        self._raise_for(resp, "renew its login token")

    async def _valid_token(self) -> str:
        """The current token, logging in or renewing first when it is missing or nearly expired."""
        async with self._lock:
            now, token = self._clock(), self._token
            if token is None or token.expires <= now:
                token = await self._login()
            elif token.expires - now <= self._renew_before:
                token = await self._renew(token)
            return token.value

    async def _relogin(self, stale: str) -> str:
        """Log in again unless a concurrent call already replaced the stale token."""
        async with self._lock:
            if self._token is None or self._token.value == stale:
                return (await self._login()).value
            return self._token.value

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Mapping[str, str] | None = None,
        item_id: int | None = None,
    ) -> httpx.Response:
        """An authenticated call; a stale-token answer earns one fresh login and one retry."""
        token = await self._valid_token()
        resp = await self._call(method, path, token=token, json=json, params=params)
        if _is_stale_token_answer(resp.status_code, _error_message(resp), item_id):
            log.info("NPM refused our token (HTTP %s); logging in again", resp.status_code)
            token = await self._relogin(token)
            resp = await self._call(method, path, token=token, json=json, params=params)
        return resp

    # ----------------------------------------------------------------- server facts

    async def _status(self) -> dict[str, Any]:
        resp = await self._call("GET", "/api/")
        if resp.status_code != 200:
            self._raise_for(resp, "report its status")
        data = self._json(resp)
        if not isinstance(data, dict) or not isinstance(data.get("version"), dict):
            raise UpstreamError(f"{self._base}/api/ does not look like Nginx Proxy Manager")
        return data

    async def server_version(self) -> tuple[int, int, int]:
        """NPM's version from `GET /api/` (cached): decides which optional fields we may send."""
        if self._version is None:
            raw = (await self._status())["version"]
            self._version = (
                _as_int(raw.get("major")),
                _as_int(raw.get("minor")),
                _as_int(raw.get("revision")),
            )
        return self._version

    async def test_connection(self) -> str:
        """Check the URL and the credentials before they are saved; returns NPM's version text.

        Raises CannotConnect / Timeout when NPM is unreachable, InvalidAuth for refused or
        two-factor credentials and for an NPM whose first-run setup is not finished.
        """
        status = await self._status()
        if status.get("setup") is False:
            raise InvalidAuth("NPM has no user yet: finish its setup and create a user for us")
        self._version = None
        version = await self.server_version()
        async with self._lock:
            await self._login()
        return ".".join(str(part) for part in version)

    # ----------------------------------------------------------------- proxy hosts

    async def list_hosts(self) -> list[ProxyHost]:
        """Every proxy host (NPM never paginates)."""
        return await self._list_hosts(None)

    async def _list_hosts(self, query: str | None) -> list[ProxyHost]:
        params = {"query": query} if query else None  # an empty query= is a 400
        resp = await self._request("GET", HOSTS_PATH, params=params)
        if resp.status_code != 200:
            self._raise_for(resp, "list proxy hosts")
        data = self._json(resp)
        if not isinstance(data, list):
            raise UpstreamError("NPM listed proxy hosts as something other than a list")
        return [ProxyHost.from_api(item) for item in data if isinstance(item, dict)]

    async def find_host(self, domain: str) -> ProxyHost | None:
        """The proxy host serving exactly this domain (case-insensitive), if any."""
        name = normalize_domain(domain)
        matches = [h for h in await self._list_hosts(name) if h.serves(name)]
        return matches[0] if matches else None

    async def get_host(self, host_id: int) -> ProxyHost:
        """One proxy host read fresh (the only way to see `meta.nginx_online`)."""
        resp = await self._request("GET", f"{HOSTS_PATH}/{host_id}", item_id=host_id)
        if resp.status_code != 200:
            self._raise_for(resp, f"read proxy host #{host_id}", host_id)
        return ProxyHost.from_api(self._json(resp))

    async def _body(self, spec: ProxyHostSpec) -> dict[str, Any]:
        supported = await self.server_version() >= (*TRUST_FORWARDED_PROTO_SINCE, 0)
        return spec.body(trust_forwarded_proto_supported=supported)

    async def create_host(self, spec: ProxyHostSpec) -> ProxyHost:
        """Create a proxy host. A domain NPM already serves raises Conflict."""
        action = f"create a proxy host for {', '.join(spec.domain_names)}"
        resp = await self._request("POST", HOSTS_PATH, json=await self._body(spec))
        if resp.status_code not in (200, 201):
            self._raise_for(resp, action)
        return ProxyHost.from_api(self._json(resp))

    async def update_host(self, host_id: int, spec: ProxyHostSpec) -> ProxyHost:
        """Replace the writable fields of a host (a partial PUT built from `spec` only)."""
        body = await self._body(spec)
        resp = await self._request("PUT", f"{HOSTS_PATH}/{host_id}", json=body, item_id=host_id)
        if resp.status_code != 200:
            self._raise_for(resp, f"update proxy host #{host_id}", host_id)
        return ProxyHost.from_api(self._json(resp))

    async def delete_host(self, host_id: int, *, missing_ok: bool = True) -> None:
        """Delete a host (NPM frees its names); an already deleted one is fine unless told not."""
        resp = await self._request("DELETE", f"{HOSTS_PATH}/{host_id}", item_id=host_id)
        if resp.status_code == 200:
            return
        try:
            self._raise_for(resp, f"delete proxy host #{host_id}", host_id)
        except NotFound:
            if not missing_ok:
                raise

    async def enable_host(self, host_id: int) -> None:
        """Put a host into nginx; "already enabled" counts as success."""
        await self._toggle(host_id, "enable")

    async def disable_host(self, host_id: int) -> None:
        """Take a host out of nginx (a PUT `enabled: false` would not); idempotent."""
        await self._toggle(host_id, "disable")

    async def _toggle(self, host_id: int, verb: str) -> None:
        path = f"{HOSTS_PATH}/{host_id}/{verb}"
        resp = await self._request("POST", path, item_id=host_id)
        if resp.status_code == 200:
            return
        if resp.status_code == 400 and "already" in _error_message(resp).lower():
            return
        self._raise_for(resp, f"{verb} proxy host #{host_id}", host_id)

    # ----------------------------------------------------------------- certificates

    async def list_certificates(self) -> list[Certificate]:
        """Every certificate NPM holds (Let's Encrypt and uploaded ones)."""
        resp = await self._request("GET", CERTIFICATES_PATH)
        if resp.status_code != 200:
            self._raise_for(resp, "list certificates")
        data = self._json(resp)
        if not isinstance(data, list):
            raise UpstreamError("NPM listed certificates as something other than a list")
        return [Certificate.from_api(item) for item in data if isinstance(item, dict)]

    async def pick_wildcard_certificate(self, domain: str) -> Certificate | None:
        """A valid certificate for `*.<domain>`, the one expiring last; None when there is none."""
        now = self._clock()
        usable = [c for c in await self.list_certificates() if c.is_wildcard_for(domain, now)]
        return max(usable, key=lambda c: c.expires_on or now, default=None)

    # ----------------------------------------------------------------- the deployer's call

    async def ensure_host(
        self,
        domain: str,
        forward_host: str,
        forward_port: int,
        *,
        owned_ids: set[int] | None = None,
        certificate_id: int | None = None,
        ssl_forced: bool = False,
        seen: Seen = Lookup.NOT_DONE,
    ) -> ProxyHost:
        """Make `domain` route to `forward_host:forward_port`, creating or updating our host.

        Idempotent. A host we did not create (id not in `owned_ids`, no `meta.managed_by`
        marker) is never touched: Conflict. After the change the host is read back; when nginx
        refused the configuration, NginxConfigError (an UpstreamError) carries nginx's error.
        `seen` is what an earlier `find_host` of the same domain returned: it spares listing
        every host again (slow on an NPM with many). A host created since is adopted only if
        ours (see `_create_ours`); one deleted since is looked up afresh and created.
        """
        name = normalize_domain(domain)
        existing = await self.find_host(name) if seen is Lookup.NOT_DONE else seen
        if existing is not None:
            self._check_ours(existing, name, owned_ids)
        spec = ProxyHostSpec(
            domain_names=existing.domain_names if existing else (name,),
            forward_host=forward_host,
            forward_port=forward_port,
            certificate_id=certificate_id or 0,
            ssl_forced=ssl_forced,
            http2_support=True,
            meta=_our_meta(existing),
        )
        try:
            host = await (
                self._update_ours(existing, spec) if existing else self._create_ours(spec)
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

    @staticmethod
    def _check_ours(host: ProxyHost, domain: str, owned_ids: set[int] | None) -> None:
        if host.carries_our_marker or (owned_ids is not None and host.id in owned_ids):
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

    async def _create_ours(self, spec: ProxyHostSpec) -> ProxyHost:
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
            self._check_ours(found, domain, None)
            return await self._update_ours(found, spec)

    async def _confirm_online(self, host_id: int, domain: str) -> ProxyHost:
        host = await self.get_host(host_id)
        if host.nginx_online is False:
            raise NginxConfigError(host_id, domain, host.nginx_err)
        return host


def _our_meta(existing: ProxyHost | None) -> dict[str, Any]:
    """Keep whatever meta the host had (minus NPM's nginx status) and add our marker."""
    meta = {
        k: v for k, v in (existing.meta if existing else {}).items() if k not in _NGINX_META_KEYS
    }
    meta["managed_by"] = MANAGED_BY
    return meta
