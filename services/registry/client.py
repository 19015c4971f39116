"""OCI distribution API client: lists a repository's tags and resolves a tag's manifest digest.

One generic flow serves every vendor. A request goes out; on 401 the client reads
``WWW-Authenticate`` and answers a ``Basic`` challenge with the credentials, or a ``Bearer``
challenge by fetching a token from the challenge's realm (basic auth with the credentials when
there are some, anonymous otherwise) and retrying once. Tokens are cached per (realm, service,
scope) until shortly before ``expires_in``; once a registry's realm is known, later calls fetch or
reuse the token up front instead of collecting another 401 first.

What differs between vendors (handled by the flow above, not by special cases):

- **Gitea**: the registry lives on the Gitea host itself; its realm is ``https://<host>/v2/token``
  (service ``container_registry``). The token is the account password or an access token with
  package read access. Public packages get anonymous tokens.
- **GitHub** (``kind="github"``): the API is always ``https://ghcr.io``, realm
  ``https://ghcr.io/token``. Public images get anonymous tokens; private ones need a personal
  access token with ``read:packages`` (GitHub ignores the username, but basic auth needs one).
- **Docker Hub** (``kind="dockerhub"``): the API is ``https://registry-1.docker.io`` whatever was
  typed (users type ``docker.io`` or ``hub.docker.com``); tokens come from
  ``https://auth.docker.io/token``. Official images live under ``library/`` (``nginx`` becomes
  ``library/nginx``). A private and a missing repository both answer 401 ``insufficient_scope``, so
  the two cannot be told apart. Manifest HEAD requests do not count against Docker Hub's pull rate
  limit, which is one reason digests are read with HEAD.
- **Generic** (distribution, Harbor, ...): basic auth (htpasswd) or bearer tokens, as challenged.

Every httpx exception and HTTP error is translated into ``services.errors`` here. Messages name the
registry host, the repository and the username, never a password or a token. Timeouts are the
caller's ``httpx.AsyncClient`` settings. ``requests_made`` counts every HTTP request this client
sent, token fetches included.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from services.errors import (
    CannotConnect,
    InvalidAuth,
    NotFound,
    RateLimited,
    Timeout,
    UpstreamError,
    ValidationFailed,
    WatcherError,
)

_log = logging.getLogger(__name__)

KINDS = ("gitea", "github", "dockerhub", "generic")
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
MANIFEST_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)
DEFAULT_TOKEN_LIFETIME = 60.0
TOKEN_MARGIN = 10.0
MAX_PAGES = 100
MAX_SCOPES_PER_TOKEN = 50  # keeps the token request's URL short

_FIXED_API = {"dockerhub": "https://registry-1.docker.io", "github": "https://ghcr.io"}
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"\w[\w.-]{0,127}")
_DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM_RE = re.compile(rf'[\s,]*({_TCHARS})\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)')
_SCHEME_RE = re.compile(rf"[\s,]*({_TCHARS})(?=[\s,]|$)(?!\s*=)")
_MAX_DETAIL = 200
_TOKEN_VALUE_RE = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class RegistryCredentials:
    """A username and its password or access token; the token stays out of ``repr`` and logs."""

    username: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: lower-case scheme, parameters with lower-case keys."""

    scheme: str
    params: Mapping[str, str]


@dataclass(frozen=True)
class _Token:
    value: str
    fresh_until: float


# ---------------------------------------------------------------- pure helpers


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value into its challenges.

    Handles quoted values holding commas and escaped quotes, any parameter order, several
    challenges in one header and any case of the scheme. Unparseable trailing text is ignored.
    """
    found: list[tuple[str, dict[str, str]]] = []
    pos = 0
    while pos < len(header) and header[pos:].strip(" \t,"):
        param = _PARAM_RE.match(header, pos) if found else None
        if param:
            found[-1][1][param[1].lower()] = _unquote(param[2])
            pos = param.end()
            continue
        scheme = _SCHEME_RE.match(header, pos)
        if scheme is None:
            break
        found.append((scheme[1].lower(), {}))
        pos = scheme.end()
    return [Challenge(scheme, params) for scheme, params in found]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _choose(challenges: list[Challenge]) -> Challenge | None:
    """Prefer Bearer over Basic when a registry offers both; otherwise the first one."""
    by_scheme = {c.scheme: c for c in reversed(challenges)}
    return by_scheme.get("bearer") or by_scheme.get("basic") or next(iter(challenges), None)


def canonical_scope(scope: str) -> str:
    """Order-independent form of a scope (``repository:a:push,pull`` → ``...:pull,push``).

    Registries list actions in random order, so cache keys must not depend on it.
    """
    return " ".join(sorted(_canonical_entry(entry) for entry in scope.split()))


def _canonical_entry(entry: str) -> str:
    head, sep, actions = entry.rpartition(":")
    if not sep or ":" not in head:
        return entry
    return f"{head}:{','.join(sorted({a for a in actions.split(',') if a}))}"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay seconds or an HTTP date), or None."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def api_base_url(url: str, kind: str = "generic") -> str:
    """The registry API origin (scheme, host, port) for what the user typed.

    Docker Hub and GitHub have fixed API hosts. Without a scheme, loopback hosts get ``http://``
    and everything else ``https://``. Paths and user info are dropped (the API lives at ``/v2/``
    on the root). Raises ValidationFailed (field ``url``) for an unusable URL.
    """
    if kind in _FIXED_API:
        return _FIXED_API[kind]
    text = url.strip()
    if "://" not in text:
        text = f"{_default_scheme(text)}://{text}"
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise ValidationFailed.single("url", "the registry URL is not a valid URL") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValidationFailed.single("url", "the registry URL needs an http(s) scheme and a host")
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{host}{port}"


def _default_scheme(text: str) -> str:
    try:
        host = httpx.URL(f"http://{text}").host
    except httpx.InvalidURL:
        return "https"
    return "http" if host == "localhost" or host == "::1" or host.startswith("127.") else "https"


def repository_path(repository: str, kind: str = "generic") -> str:
    """The repository name as the API wants it, from an image reference without tag.

    A leading registry host (``git.example.com/alexei/app``) is dropped, as Docker does when the
    first component has a dot, a colon or is ``localhost``; Docker Hub names without a namespace
    get ``library/``. Raises ValidationFailed (field ``image``) for anything else than a
    lower-case repository name, which also keeps paths and queries out of the URL.
    """
    text = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", repository.strip()).strip("/")
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        text = rest
    if kind == "dockerhub" and "/" not in text:
        text = f"library/{text}"
    if not _NAME_RE.fullmatch(text):
        raise ValidationFailed.single(
            "image",
            f"{repository!r} is not a repository name (lower-case letters, digits, '.', '_', "
            "'-' and '/'; no tag)",
        )
    return text


def _check_reference(tag: str) -> str:
    if _TAG_RE.fullmatch(tag) or _DIGEST_RE.fullmatch(tag):
        return tag
    raise ValidationFailed.single("tag", f"{tag!r} is not a valid tag or digest")


def _error_detail(response: httpx.Response) -> tuple[str, str]:
    """The first ``{"errors": [{"code", "message"}]}`` entry of an error body ("" when absent)."""
    try:
        errors = response.json().get("errors")
        first = errors[0] if isinstance(errors, list) and errors else {}
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(first, dict):
        return "", ""
    code, message = str(first.get("code") or ""), str(first.get("message") or "")
    return code[:_MAX_DETAIL], message[:_MAX_DETAIL]


def _token_fields(response: httpx.Response) -> tuple[str | None, object]:
    """``token`` (or ``access_token``) and ``expires_in`` of a token service answer.

    A token that is not a plain header-safe string is refused here: httpx would otherwise fail
    while sending it and quote it in its error message.
    """
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    value = body.get("token") or body.get("access_token")
    usable = isinstance(value, str) and _TOKEN_VALUE_RE.fullmatch(value)
    return (value if usable else None), body.get("expires_in")


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _lifetime(expires_in: object) -> float:
    """A token's lifetime from ``expires_in``; the spec's default when absent or nonsense."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        return DEFAULT_TOKEN_LIFETIME
    return float(expires_in) if expires_in > 0 else DEFAULT_TOKEN_LIFETIME


# ---------------------------------------------------------------- the client


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
        self.requests_made = 0
        self._credentials = credentials
        self._http = http
        self._clock = clock
        self._realm: tuple[str, str] | None = None
        self._basic_required = False
        self._tokens: dict[tuple[str, str, str], _Token] = {}

    # ------------------------------------------------------------ public API

    async def prefetch_tokens(self, repositories: Iterable[str]) -> None:
        """Fetch one bearer token covering every repository whose cached token is stale.

        A poll cycle then costs one request per repository plus one token request for the
        whole registry, instead of a token request per repository once tokens outlive the poll
        interval. Does nothing until the registry's token realm is known (its first challenge),
        for Basic auth, or when every token is fresh. Errors are left to the requests that follow
        (each would fetch its own token): this is only an optimisation.
        """
        if self._realm is None or self._basic_required:
            return
        stale = [scope for scope in self._pull_scopes(repositories) if not self._fresh(scope)]
        for start in range(0, len(stale), MAX_SCOPES_PER_TOKEN):
            chunk = stale[start : start + MAX_SCOPES_PER_TOKEN]
            if len(chunk) < 2:
                return  # one scope: the request itself fetches it, no saving
            with contextlib.suppress(WatcherError):
                await self._bearer_token(*self._realm, " ".join(chunk), refresh=True, each=chunk)

    def _pull_scopes(self, repositories: Iterable[str]) -> list[str]:
        scopes: list[str] = []
        for repository in repositories:
            with contextlib.suppress(ValidationFailed):
                scopes.append(f"repository:{repository_path(repository, self.kind)}:pull")
        return sorted(set(scopes))

    def _fresh(self, scope: str) -> bool:
        assert self._realm is not None
        cached = self._tokens.get((*self._realm, canonical_scope(scope)))
        return cached is not None and self._clock() < cached.fresh_until

    async def list_tags(self, repository: str, *, page_size: int | None = None) -> list[str]:
        """Every tag of a repository, in the registry's order, following ``Link`` pagination.

        Raises NotFound for an unknown repository, InvalidAuth, RateLimited, CannotConnect,
        Timeout, or UpstreamError (also when pagination loops, leaves the registry's host or
        exceeds ``MAX_PAGES`` pages).
        """
        name = repository_path(repository, self.kind)
        url = f"{self.base_url}/v2/{name}/tags/list"
        params = (("n", str(page_size)),) if page_size else None
        tags: dict[str, None] = {}
        seen = {url}
        for _ in range(MAX_PAGES):
            response = await self._request("GET", url, repository=name, params=params)
            self._raise_for_status(response, repository=name)
            tags.update(dict.fromkeys(self._tags_in(response)))
            next_url = self._next_page(response)
            if next_url is None:
                return list(tags)
            if next_url in seen:
                raise UpstreamError(f"registry {self.host} paginates the tags of {name} in a loop")
            seen.add(next_url)
            url, params = next_url, None
        raise UpstreamError(f"registry {self.host} has more than {MAX_PAGES} tag pages for {name}")

    async def manifest_digest(self, repository: str, tag: str) -> str:
        """The content digest (``sha256:...``) of a tag's manifest, as ``docker pull`` sees it.

        Uses HEAD with every modern manifest type in Accept (without it, old registries convert
        to schema 1 and report another digest). Falls back to GET and hashes the body when the
        registry sends no ``Docker-Content-Digest`` or refuses HEAD; a 404 is also repeated as
        GET, since only a body says whether the tag or the whole repository is missing
        (distribution 2.8 says MANIFEST_UNKNOWN for both). Raises NotFound for an unknown
        repository or tag, and the other errors of ``list_tags``.
        """
        name = repository_path(repository, self.kind)
        url = f"{self.base_url}/v2/{name}/manifests/{_check_reference(tag)}"
        headers = {"Accept": MANIFEST_ACCEPT}
        head = await self._request("HEAD", url, repository=name, headers=headers)
        digest = self._header_digest(head)
        if digest and head.is_success:
            return digest
        if not (head.is_success or head.status_code in (404, 405)):
            self._raise_for_status(head, repository=name, tag=tag)
        response = await self._request("GET", url, repository=name, headers=headers)
        self._raise_for_status(response, repository=name, tag=tag)
        return (
            self._header_digest(response)
            or f"sha256:{hashlib.sha256(response.content).hexdigest()}"
        )

    async def test_connection(self) -> str:
        """Check that the URL is a registry and the credentials work; a one-line summary.

        With a bearer registry this proves the token service accepts the credentials; with an
        open registry the credentials cannot be checked and the summary says so. Raises only
        CannotConnect, InvalidAuth or Timeout.
        """
        response = await self._request("GET", f"{self.base_url}/v2/")
        try:
            self._raise_for_status(response)
        except (NotFound, UpstreamError, RateLimited) as exc:
            raise CannotConnect(f"{self.host} does not answer as a registry: {exc}") from exc
        if "html" in response.headers.get("content-type", "") and not response.headers.get(
            "docker-distribution-api-version"
        ):
            raise CannotConnect(f"{self.host} answered with a web page, not the registry API")
        return f"Connected to {self.host}: {self._auth_summary()}"

    # ------------------------------------------------------------ requests and auth

    async def _request(
        self,
        method: str,
        url: str,
        *,
        repository: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: tuple[tuple[str, str], ...] | None = None,
    ) -> httpx.Response:
        """Send with the best known auth; answer one 401 challenge and retry once."""
        scope = f"repository:{repository}:pull" if repository else None
        base = dict(headers or {})
        auth = await self._known_auth(scope)
        response = await self._send(method, url, headers=base | auth, params=params)
        if response.status_code != 401:
            return response
        auth = await self._answer_challenge(response, scope, repository)
        response = await self._send(method, url, headers=base | auth, params=params)
        if response.status_code == 401:
            raise self._auth_error(response, repository)
        return response

    async def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: tuple[tuple[str, str], ...] | None = None,
        target: str | None = None,
    ) -> httpx.Response:
        """One HTTP request, counted, with every transport failure translated."""
        where = target or f"registry at {self.host}"
        self.requests_made += 1
        try:
            response = await self._http.request(
                method,
                url,
                headers=headers,
                params=params,
                follow_redirects=True,
            )
        except httpx.TimeoutException as exc:
            raise Timeout(f"{where} did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise CannotConnect(f"cannot reach {where}: {_describe(exc)}") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise UpstreamError(f"{where}: {_describe(exc)}") from exc
        _log.debug("%s %s -> %s", method, response.request.url.path, response.status_code)
        return response

    async def _known_auth(self, scope: str | None) -> dict[str, str]:
        """Auth for a request before any challenge: what this registry asked for last time."""
        if self._basic_required:
            return self._basic_header()
        if self._realm is None:
            return {}
        token = await self._bearer_token(*self._realm, scope or "", refresh=False)
        return {"Authorization": f"Bearer {token}"}

    async def _answer_challenge(
        self, response: httpx.Response, scope: str | None, repository: str | None
    ) -> dict[str, str]:
        """The auth header that answers a 401's challenge, or InvalidAuth when none can."""
        challenge = _choose(parse_challenges(response.headers.get("www-authenticate", "")))
        if challenge is None or challenge.params.get("error") == "insufficient_scope":
            raise self._auth_error(response, repository)
        if challenge.scheme == "basic":
            if self._credentials is None or self._basic_required:
                raise self._auth_error(response, repository)
            self._basic_required = True
            return self._basic_header()
        if challenge.scheme == "bearer":
            return await self._answer_bearer(response, challenge, scope)
        raise InvalidAuth(f"registry {self.host} wants unsupported auth {challenge.scheme!r}")

    async def _answer_bearer(
        self, response: httpx.Response, challenge: Challenge, scope: str | None
    ) -> dict[str, str]:
        realm = challenge.params.get("realm")
        if not realm:
            raise UpstreamError(f"registry {self.host} sent a bearer challenge without a realm")
        try:
            realm_url = response.url.join(realm)
        except httpx.InvalidURL as exc:
            raise UpstreamError(f"registry {self.host} sent an invalid token realm") from exc
        self._realm = (str(realm_url), challenge.params.get("service", ""))
        wanted = challenge.params.get("scope") or scope or ""
        token = await self._bearer_token(*self._realm, wanted, refresh=True)
        return {"Authorization": f"Bearer {token}"}

    async def _bearer_token(
        self, realm: str, service: str, scope: str, *, refresh: bool, each: Sequence[str] = ()
    ) -> str:
        """A cached token for (realm, service, scope) while fresh, else a new one.

        `each` lists the single scopes a multi-scope token is also cached under.
        """
        key = (realm, service, canonical_scope(scope))
        cached = self._tokens.get(key)
        if cached and not refresh and self._clock() < cached.fresh_until:
            return cached.value
        started = self._clock()
        value, lifetime = await self._fetch_token(realm, service, scope)
        margin = min(TOKEN_MARGIN, lifetime / 2)
        token = _Token(value, started + lifetime - margin)
        for one in each or (scope,):
            self._tokens[(realm, service, canonical_scope(one))] = token
        return value

    async def _fetch_token(self, realm: str, service: str, scope: str) -> tuple[str, float]:
        """Ask the token service; returns (token, lifetime in seconds)."""
        scopes = tuple(("scope", entry) for entry in scope.split())
        params = ((("service", service),) if service else ()) + scopes
        auth = self._basic_header() if self._credentials else {}
        where = f"the token service of registry {self.host} ({httpx.URL(realm).host})"
        response = await self._send("GET", realm, headers=auth, params=params, target=where)
        if response.status_code in (401, 403):
            raise InvalidAuth(f"{where} rejected {self._who()}")
        if response.status_code == 429:
            self._raise_for_status(response)
        if not response.is_success:
            raise UpstreamError(f"{where} answered HTTP {response.status_code}")
        value, expires_in = _token_fields(response)
        if value is None:
            raise UpstreamError(f"{where} answered without a usable token")
        return value, _lifetime(expires_in)

    def _basic_header(self) -> dict[str, str]:
        if self._credentials is None:
            return {}
        pair = f"{self._credentials.username}:{self._credentials.token}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}

    # ------------------------------------------------------------ responses and errors

    def _raise_for_status(
        self, response: httpx.Response, *, repository: str | None = None, tag: str | None = None
    ) -> None:
        """Translate a non-2xx answer into our error vocabulary."""
        if response.is_success:
            return
        status = response.status_code
        code, message = _error_detail(response)
        detail = f" ({code}: {message})" if code or message else ""
        if status in (401, 403):
            raise self._auth_error(response, repository)
        if status == 404:
            raise NotFound(self._not_found(code, repository, tag))
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise RateLimited(f"registry {self.host} is rate limiting{detail}", retry_after)
        raise UpstreamError(f"registry {self.host} answered HTTP {status}{detail}")

    def _not_found(self, code: str, repository: str | None, tag: str | None) -> str:
        if tag and code != "NAME_UNKNOWN":
            return f"tag {tag} not found in repository {repository} on {self.host}"
        if repository:
            return f"repository {repository} not found on {self.host}"
        return f"{self.host} has no registry API at /v2/"

    def _auth_error(self, response: httpx.Response, repository: str | None) -> InvalidAuth:
        """InvalidAuth for a refused request, saying as precisely as possible why."""
        challenge = _choose(parse_challenges(response.headers.get("www-authenticate", "")))
        target = f"repository {repository}" if repository else "the registry"
        if response.status_code == 403:
            return InvalidAuth(f"registry {self.host} denied {self._who()} access to {target}")
        if challenge and challenge.params.get("error") == "insufficient_scope":
            return InvalidAuth(
                f"registry {self.host} gives {self._who()} no pull access to {target} "
                "(it may also not exist)"
            )
        if self._credentials is None:
            return InvalidAuth(f"registry {self.host} requires a username and token")
        return InvalidAuth(f"registry {self.host} rejected {self._who()}")

    def _who(self) -> str:
        if self._credentials is None:
            return "anonymous access"
        return f"the credentials of user {self._credentials.username!r}"

    def _auth_summary(self) -> str:
        user = self._credentials.username if self._credentials else None
        if self._realm is not None:
            return f"signed in as {user!r} with a token" if user else "anonymous token accepted"
        if self._basic_required:
            return f"signed in as {user!r} with basic auth"
        if user:
            return "open registry; the credentials were not needed, so not checked"
        return "open registry, no sign-in needed"

    def _tags_in(self, response: httpx.Response) -> list[str]:
        try:
            tags = response.json().get("tags") or []
        except (ValueError, AttributeError) as exc:
            raise UpstreamError(f"registry {self.host} sent an unreadable tag list") from exc
        if not isinstance(tags, list):
            raise UpstreamError(f"registry {self.host} sent an unreadable tag list")
        return [t for t in tags if isinstance(t, str)]

    def _next_page(self, response: httpx.Response) -> str | None:
        """The absolute URL of the next tag page; only on the registry's own origin, because
        the request carries our credentials."""
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        try:
            url, base = response.url.join(link), httpx.URL(self.base_url)
        except httpx.InvalidURL as exc:
            raise UpstreamError(f"registry {self.host} sent an invalid tag page link") from exc
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise UpstreamError(f"registry {self.host} sent a tag page link to another host")
        return str(url)

    @staticmethod
    def _header_digest(response: httpx.Response) -> str | None:
        digest = response.headers.get("docker-content-digest", "").strip()
        return digest if _DIGEST_RE.fullmatch(digest) else None
