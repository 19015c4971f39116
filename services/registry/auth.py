"""Registry sign-in: answering ``WWW-Authenticate`` challenges and caching bearer tokens.

One generic flow serves every vendor. On 401 the client reads ``WWW-Authenticate`` and answers a
``Basic`` challenge with the credentials, or a ``Bearer`` challenge by fetching a token from the
challenge's realm (basic auth with the credentials when there are some, anonymous otherwise)
and retrying once. Tokens are cached per (realm, service, scope) until shortly before
``expires_in``; once a registry's realm is known, later calls fetch or reuse the token up front
instead of collecting another 401 first.

What differs between vendors (handled by the flow above, not by special cases):

- **Gitea**: the registry lives on the Gitea host itself; its realm is ``https://<host>/v2/token``
  (service ``container_registry``). The token is the account password or an access token with
  package read access. Public packages get anonymous tokens.
- **GitHub** (``kind="github"``): realm ``https://ghcr.io/token``. Public images get anonymous
  tokens; private ones need a personal access token with ``read:packages`` (GitHub ignores the
  username, but basic auth needs one).
- **Docker Hub** (``kind="dockerhub"``): tokens come from ``https://auth.docker.io/token``. A
  private and a missing repository both answer 401 ``insufficient_scope``, so the two cannot be
  told apart.
- **Generic** (distribution, Harbor, ...): basic auth (htpasswd) or bearer tokens, as challenged.

Messages name the registry host, the repository and the username, never a password or a token.
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from services.errors import InvalidAuth, UpstreamError, ValidationFailed, WatcherError
from services.registry.names import repository_path
from services.registry.transport import Transport, rate_limited

DEFAULT_TOKEN_LIFETIME = 60.0
TOKEN_MARGIN = 10.0
MAX_SCOPES_PER_TOKEN = 50  # keeps the token request's URL short
_CHECK_CREDENTIALS = "check the username and the password or access token (it needs read access)"

_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM_RE = re.compile(rf'[\s,]*({_TCHARS})\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)')
_SCHEME_RE = re.compile(rf"[\s,]*({_TCHARS})(?=[\s,]|$)(?!\s*=)")
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


# ---------------------------------------------------------------- challenges and scopes


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


def _challenge_of(response: httpx.Response) -> Challenge | None:
    """The challenge we answer: Bearer over Basic when a registry offers both, else the first."""
    challenges = parse_challenges(response.headers.get("www-authenticate", ""))
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


def _lifetime(expires_in: object) -> float:
    """A token's lifetime from ``expires_in``; the spec's default when absent or nonsense."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        return DEFAULT_TOKEN_LIFETIME
    return float(expires_in) if expires_in > 0 else DEFAULT_TOKEN_LIFETIME


# ---------------------------------------------------------------- the flow


class RegistryAuth:
    """What one registry asked for (its realm, or basic auth) and the tokens it gave us."""

    def __init__(
        self,
        transport: Transport,
        *,
        kind: str,
        credentials: RegistryCredentials | None,
        clock: Callable[[], float],
    ) -> None:
        self._transport = transport
        self._host = transport.host
        self._kind = kind
        self._credentials = credentials
        self._clock = clock
        self._realm: tuple[str, str] | None = None
        self._basic_required = False
        self._tokens: dict[tuple[str, str, str], _Token] = {}

    async def prefetch(self, repositories: Iterable[str]) -> None:
        """Fetch one bearer token covering every repository whose cached token is stale.

        Does nothing until the realm is known, for Basic auth, or when every token is fresh.
        Errors are left to the requests that follow (each would fetch its own token).
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
                scopes.append(f"repository:{repository_path(repository, self._kind)}:pull")
        return sorted(set(scopes))

    def _fresh(self, scope: str) -> bool:
        assert self._realm is not None
        cached = self._tokens.get((*self._realm, canonical_scope(scope)))
        return cached is not None and self._clock() < cached.fresh_until

    async def known(self, scope: str | None) -> dict[str, str]:
        """Auth for a request before any challenge: what this registry asked for last time."""
        if self._basic_required:
            return self._basic_header()
        if self._realm is None:
            return {}
        token = await self._bearer_token(*self._realm, scope or "", refresh=False)
        return {"Authorization": f"Bearer {token}"}

    async def answer(
        self, response: httpx.Response, scope: str | None, repository: str | None
    ) -> dict[str, str]:
        """The auth header that answers a 401's challenge, or InvalidAuth when none can."""
        challenge = _challenge_of(response)
        if challenge is None or challenge.params.get("error") == "insufficient_scope":
            raise self.error(response, repository)
        if challenge.scheme == "basic":
            # Refused although it carried our password: wrong credentials. A request sent
            # without them (before a concurrent one learnt that basic auth is wanted) retries.
            sent = response.request.headers.get("authorization", "").lower().startswith("basic ")
            if self._credentials is None or sent:
                raise self.error(response, repository)
            self._basic_required = True
            return self._basic_header()
        if challenge.scheme == "bearer":
            return await self._answer_bearer(response, challenge, scope)
        raise InvalidAuth(f"registry {self._host} wants unsupported auth {challenge.scheme!r}")

    async def _answer_bearer(
        self, response: httpx.Response, challenge: Challenge, scope: str | None
    ) -> dict[str, str]:
        realm = challenge.params.get("realm")
        if not realm:
            raise UpstreamError(f"registry {self._host} sent a bearer challenge without a realm")
        try:
            realm_url = response.url.join(realm)
        except httpx.InvalidURL as exc:
            raise UpstreamError(f"registry {self._host} sent an invalid token realm") from exc
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
        where = f"the token service of registry {self._host} ({httpx.URL(realm).host})"
        response = await self._transport.send(
            "GET", realm, headers=auth, params=params, target=where
        )
        if response.status_code in (401, 403):
            raise InvalidAuth(f"{where} rejected {self._who()}: {_CHECK_CREDENTIALS}")
        if response.status_code == 429:
            raise rate_limited(self._host, response)
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

    # ---------------------------------------------------------------- what went wrong

    def error(self, response: httpx.Response, repository: str | None) -> InvalidAuth:
        """InvalidAuth for a refused request, saying as precisely as possible why."""
        challenge = _challenge_of(response)
        target = f"repository {repository}" if repository else "the registry"
        if response.status_code == 403:
            return InvalidAuth(f"registry {self._host} denied {self._who()} access to {target}")
        if challenge and challenge.params.get("error") == "insufficient_scope":
            return InvalidAuth(
                f"registry {self._host} gives {self._who()} no pull access to {target} "
                "(it may also not exist)"
            )
        if self._credentials is None:
            return InvalidAuth(f"registry {self._host} requires a username and token")
        return InvalidAuth(f"registry {self._host} rejected {self._who()}: {_CHECK_CREDENTIALS}")

    def _who(self) -> str:
        if self._credentials is None:
            return "anonymous access"
        return f"the credentials of user {self._credentials.username!r}"

    def summary(self) -> str:
        """How this registry let us in, for the "test connection" answer."""
        user = self._credentials.username if self._credentials else None
        if self._realm is not None:
            return f"signed in as {user!r} with a token" if user else "anonymous token accepted"
        if self._basic_required:
            return f"signed in as {user!r} with basic auth"
        if user:
            return "open registry; the credentials were not needed, so not checked"
        return "open registry, no sign-in needed"
