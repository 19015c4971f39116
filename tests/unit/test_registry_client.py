"""RegistryClient against an in-process fake registry (httpx.MockTransport, stateful handler).

The fake covers what the real distribution 2.8 cannot show: Link pagination, rate limits, 5xx
bodies, a missing Docker-Content-Digest, token expiry under a controlled clock, and odd challenges.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from services.errors import (
    CannotConnect,
    InvalidAuth,
    NotFound,
    RateLimited,
    Timeout,
    UpstreamError,
    ValidationFailed,
)
from services.registry.auth import RegistryCredentials, canonical_scope, parse_challenges
from services.registry.client import RegistryClient
from services.registry.manifests import MANIFEST_MEDIA_TYPES
from services.registry.names import api_base_url, repository_path
from services.registry.tags import MAX_PAGES
from services.registry.transport import parse_retry_after

PASSWORD = "pa55-w0rd-SECRET"
CREDS = RegistryCredentials("alice", PASSWORD)
REALM = "https://auth.example/token"
MANIFEST = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}'
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None):
    body = {"errors": [{"code": code, "message": message, "detail": None}]}
    return httpx.Response(status, json=body, headers=headers)


@dataclass
class FakeRegistry:
    """A registry + token service: auth is "none", "basic" or "bearer"."""

    auth: str = "bearer"
    tags: dict[str, list[str]] = field(default_factory=lambda: {"demo/app": ["v1", "v2", "v3"]})
    public: set[str] = field(default_factory=set)
    realm: str = REALM
    service: str = "test-registry"
    token_body: Callable[[str], dict[str, object]] = lambda tok: {"token": tok, "expires_in": 300}
    page_size: int | None = None
    absolute_links: bool = False
    digest_header: bool = True
    head_allowed: bool = True
    calls: list[httpx.Request] = field(default_factory=list)
    token_calls: list[httpx.Request] = field(default_factory=list)
    grants: dict[str, set[str]] = field(default_factory=dict)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url.copy_with(query=None)) == self.realm:
            return self.issue_token(request)
        self.calls.append(request)
        denied = self.check_auth(request)
        return denied or self.route(request)

    # -- auth
    def issue_token(self, request: httpx.Request) -> httpx.Response:
        self.token_calls.append(request)
        header = request.headers.get("authorization")
        if header and header != _basic("alice", PASSWORD):
            return httpx.Response(401, json={"details": "incorrect username or password"})
        token = f"tok-{len(self.token_calls)}"
        scopes = set(request.url.params.get_list("scope"))
        self.grants[token] = scopes if header else {s for s in scopes if self._public(s)}
        return httpx.Response(200, json=self.token_body(token))

    def _public(self, scope: str) -> bool:
        return any(scope == f"repository:{name}:pull" for name in self.public)

    def check_auth(self, request: httpx.Request) -> httpx.Response | None:
        header = request.headers.get("authorization", "")
        if self.auth == "basic" and header != _basic("alice", PASSWORD):
            return _error(401, "UNAUTHORIZED", "authentication required", _basic_challenge())
        if self.auth == "bearer":
            return self.check_bearer(request, header)
        return None

    def check_bearer(self, request: httpx.Request, header: str) -> httpx.Response | None:
        scope = _scope_of(request.url.path)
        challenge = f'Bearer realm="{self.realm}",service="{self.service}"'
        challenge += f',scope="{scope}"' if scope else ""
        token = header.removeprefix("Bearer ")
        if not header:
            return _error(
                401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge}
            )
        if not header.startswith("Bearer ") or token not in self.grants:
            bad = challenge + ',error="invalid_token"'
            return _error(401, "UNAUTHORIZED", "bad token", {"WWW-Authenticate": bad})
        if scope and scope not in self.grants[token]:
            short = challenge + ',error="insufficient_scope"'
            return _error(401, "UNAUTHORIZED", "no access", {"WWW-Authenticate": short})
        return None

    def expire_all_tokens(self) -> None:
        self.grants.clear()

    # -- API
    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v2/":
            return httpx.Response(
                200, json={}, headers={"Docker-Distribution-API-Version": "registry/2.0"}
            )
        name, _, rest = path.removeprefix("/v2/").rpartition("/tags/")
        if rest == "list":
            return self.tag_page(request, name)
        name, _, ref = path.removeprefix("/v2/").rpartition("/manifests/")
        return self.manifest(request, name, ref)

    def tag_page(self, request: httpx.Request, name: str) -> httpx.Response:
        if name not in self.tags:
            return _error(404, "NAME_UNKNOWN", "repository name not known to registry")
        tags = self.tags[name]
        if self.page_size is None:
            return httpx.Response(200, json={"name": name, "tags": tags})
        start = int(request.url.params.get("last", "0"))
        end = start + self.page_size
        headers = {}
        if end < len(tags):
            link = f"/v2/{name}/tags/list?n={self.page_size}&last={end}"
            link = (
                f"{request.url.scheme}://{request.url.host}{link}" if self.absolute_links else link
            )
            headers["Link"] = f'<{link}>; rel="next"'
        return httpx.Response(200, json={"name": name, "tags": tags[start:end]}, headers=headers)

    def manifest(self, request: httpx.Request, name: str, ref: str) -> httpx.Response:
        if request.method == "HEAD" and not self.head_allowed:
            return httpx.Response(405)
        if name not in self.tags:
            return _error(404, "NAME_UNKNOWN", "repository name not known to registry")
        if ref not in self.tags[name]:
            return _error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        headers = {"Docker-Content-Digest": MANIFEST_DIGEST} if self.digest_header else {}
        return httpx.Response(200, content=MANIFEST, headers=headers)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _basic_challenge() -> dict[str, str]:
    return {"WWW-Authenticate": 'Basic realm="Registry Realm"'}


def _scope_of(path: str) -> str | None:
    for marker in ("/tags/", "/manifests/"):
        if marker in path:
            return f"repository:{path.removeprefix('/v2/').split(marker)[0]}:pull"
    return None


Handler = Callable[[httpx.Request], httpx.Response]
Factory = Callable[..., RegistryClient]


@pytest.fixture
async def make_client() -> AsyncIterator[Factory]:
    """Build RegistryClients over MockTransport; closes their httpx clients afterwards."""
    opened: list[httpx.AsyncClient] = []

    def factory(
        handler: Handler,
        *,
        credentials: RegistryCredentials | None = CREDS,
        kind: str = "generic",
        base_url: str = "https://reg.example",
        clock: Callable[[], float] | None = None,
    ) -> RegistryClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        opened.append(http)
        return RegistryClient(
            base_url, kind=kind, credentials=credentials, http=http, clock=clock or FakeClock()
        )

    yield factory
    for http in opened:
        await http.aclose()


# ---------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://a/token",service="reg",scope="repository:x/y:pull,push"',
            [
                (
                    "bearer",
                    {
                        "realm": "https://a/token",
                        "service": "reg",
                        "scope": "repository:x/y:pull,push",
                    },
                )
            ],
        ),
        (
            'bearer scope="repository:x:push,pull" , service="reg",realm="https://a/token"',
            [
                (
                    "bearer",
                    {
                        "scope": "repository:x:push,pull",
                        "service": "reg",
                        "realm": "https://a/token",
                    },
                )
            ],
        ),
        (
            "BEARER Realm=https://a/token,Service=reg",
            [("bearer", {"realm": "https://a/token", "service": "reg"})],
        ),
        ('Basic realm="a, b=c"', [("basic", {"realm": "a, b=c"})]),
        ('Bearer realm="say \\"hi\\""', [("bearer", {"realm": 'say "hi"'})]),
        (
            'Basic realm="x", Bearer realm="https://a/token",error="insufficient_scope"',
            [
                ("basic", {"realm": "x"}),
                ("bearer", {"realm": "https://a/token", "error": "insufficient_scope"}),
            ],
        ),
        ("Bearer", [("bearer", {})]),
        ("", []),
        ('="broken', []),
    ],
)
def test_parse_challenges(header: str, expected: list[tuple[str, dict[str, str]]]) -> None:
    parsed = [(c.scheme, dict(c.params)) for c in parse_challenges(header)]
    assert parsed == expected


def test_canonical_scope_ignores_action_and_entry_order() -> None:
    assert canonical_scope("repository:a/b:push,pull") == canonical_scope(
        "repository:a/b:pull,push"
    )
    assert (
        canonical_scope("repository:b:pull repository:a:pull")
        == "repository:a:pull repository:b:pull"
    )
    assert canonical_scope("*") == "*"
    assert canonical_scope("") == ""


@pytest.mark.parametrize(
    ("typed", "kind", "expected"),
    [
        ("127.0.0.1:5000", "generic", "http://127.0.0.1:5000"),
        ("localhost:5000/some/path", "generic", "http://localhost:5000"),
        ("git.example.com", "gitea", "https://git.example.com"),
        ("git.example.com/alexei/app", "gitea", "https://git.example.com"),
        ("http://git.lan:3000/", "gitea", "http://git.lan:3000"),
        ("https://user:pw@Reg.Example:443/x", "generic", "https://reg.example"),
        ("docker.io", "dockerhub", "https://registry-1.docker.io"),
        ("https://hub.docker.com/", "dockerhub", "https://registry-1.docker.io"),
        ("", "github", "https://ghcr.io"),
    ],
)
def test_api_base_url(typed: str, kind: str, expected: str) -> None:
    assert api_base_url(typed, kind) == expected


@pytest.mark.parametrize("typed", ["ftp://reg.example", "https://", ""])
def test_api_base_url_rejects_unusable_urls(typed: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        api_base_url(typed)
    assert caught.value.errors[0].path == "url"


@pytest.mark.parametrize(
    ("image", "kind", "expected"),
    [
        ("git.example.com/alexei/web-app", "gitea", "alexei/web-app"),
        ("127.0.0.1:5000/demo/app", "generic", "demo/app"),
        ("localhost/demo/app", "generic", "demo/app"),
        ("demo/app", "generic", "demo/app"),
        ("nginx", "dockerhub", "library/nginx"),
        ("docker.io/library/nginx", "dockerhub", "library/nginx"),
        ("ghcr.io/octo/tool", "github", "octo/tool"),
    ],
)
def test_repository_path(image: str, kind: str, expected: str) -> None:
    assert repository_path(image, kind) == expected


@pytest.mark.parametrize(
    "image", ["Demo/App", "demo/app:v1", "demo/../etc", "demo/app?x=1", "", "a//b"]
)
def test_repository_path_rejects_bad_names(image: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        repository_path(image)
    assert caught.value.errors[0].path == "image"


def test_parse_retry_after() -> None:
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=5), usegmt=True), now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_credentials_repr_hides_the_token() -> None:
    assert PASSWORD not in repr(CREDS)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="unknown registry type"):
        RegistryClient("reg.example", kind="quay", credentials=None, http=httpx.AsyncClient())


# ---------------------------------------------------------------- auth flows


async def test_open_registry_needs_one_request(make_client: Factory) -> None:
    client = make_client(FakeRegistry(auth="none"), credentials=None)
    assert await client.list_tags("demo/app") == ["v1", "v2", "v3"]
    assert client.requests_made == 1


async def test_basic_challenge_then_basic_up_front(make_client: Factory) -> None:
    fake = FakeRegistry(auth="basic")
    client = make_client(fake)
    assert await client.list_tags("demo/app") == ["v1", "v2", "v3"]
    assert await client.manifest_digest("demo/app", "v1") == MANIFEST_DIGEST
    assert [c.headers.get("authorization") for c in fake.calls] == [
        None,
        _basic("alice", PASSWORD),
        _basic("alice", PASSWORD),
    ]
    assert client.requests_made == 3


async def test_basic_wrong_password_is_invalid_auth(make_client: Factory) -> None:
    client = make_client(
        FakeRegistry(auth="basic"), credentials=RegistryCredentials("alice", "nope-SECRET")
    )
    with pytest.raises(InvalidAuth, match=r"reg\.example rejected .*'alice'") as caught:
        await client.list_tags("demo/app")
    assert "nope-SECRET" not in str(caught.value)
    assert client.requests_made == 2


async def test_basic_without_credentials_says_they_are_needed(make_client: Factory) -> None:
    client = make_client(FakeRegistry(auth="basic"), credentials=None)
    with pytest.raises(InvalidAuth, match="requires a username and token"):
        await client.list_tags("demo/app")


async def test_bearer_challenge_fetches_token_and_retries(make_client: Factory) -> None:
    fake = FakeRegistry()
    client = make_client(fake)
    assert await client.list_tags("demo/app") == ["v1", "v2", "v3"]
    token_call = fake.token_calls[0]
    assert token_call.url.params.get("service") == "test-registry"
    assert token_call.url.params.get_list("scope") == ["repository:demo/app:pull"]
    assert token_call.headers["authorization"] == _basic("alice", PASSWORD)
    assert fake.calls[-1].headers["authorization"] == "Bearer tok-1"
    assert client.requests_made == 3


async def test_token_is_cached_per_scope(make_client: Factory) -> None:
    fake = FakeRegistry(tags={"demo/app": ["v1"], "demo/other": ["x"]})
    client = make_client(fake)
    await client.list_tags("demo/app")
    assert await client.manifest_digest("demo/app", "v1") == MANIFEST_DIGEST
    assert len(fake.token_calls) == 1
    assert client.requests_made == 4
    await client.list_tags("demo/other")
    assert len(fake.token_calls) == 2, "another repository needs its own scope"
    assert client.requests_made == 6, "the realm is known: the token is fetched up front, no 401"


async def test_token_refetched_when_expired_by_clock(make_client: Factory) -> None:
    fake = FakeRegistry(token_body=lambda tok: {"access_token": tok, "expires_in": 60})
    clock = FakeClock()
    client = make_client(fake, clock=clock)
    await client.list_tags("demo/app")
    clock.now += 45
    await client.list_tags("demo/app")
    assert len(fake.token_calls) == 1
    clock.now += 10
    await client.list_tags("demo/app")
    assert len(fake.token_calls) == 2
    assert fake.calls[-1].headers["authorization"] == "Bearer tok-2"


async def test_missing_expires_in_means_sixty_seconds(make_client: Factory) -> None:
    fake = FakeRegistry(token_body=lambda tok: {"token": tok})
    clock = FakeClock()
    client = make_client(fake, clock=clock)
    await client.list_tags("demo/app")
    clock.now += 40
    await client.list_tags("demo/app")
    assert len(fake.token_calls) == 1
    clock.now += 20
    await client.list_tags("demo/app")
    assert len(fake.token_calls) == 2


async def test_token_rejected_by_registry_is_refetched_once(make_client: Factory) -> None:
    fake = FakeRegistry()
    client = make_client(fake)
    await client.list_tags("demo/app")
    fake.expire_all_tokens()
    assert await client.list_tags("demo/app") == ["v1", "v2", "v3"]
    assert len(fake.token_calls) == 2
    sent = [c.headers["authorization"] for c in fake.calls[-2:]]
    assert sent == ["Bearer tok-1", "Bearer tok-2"]


async def test_insufficient_scope_is_invalid_auth(make_client: Factory) -> None:
    client = make_client(FakeRegistry(), credentials=None)
    with pytest.raises(InvalidAuth, match=r"reg\.example gives anonymous access no pull access"):
        await client.list_tags("demo/app")


async def test_insufficient_scope_with_a_fresh_token_is_not_retried(make_client: Factory) -> None:
    fake = FakeRegistry(public={"demo/app"}, tags={"demo/app": ["v1"], "demo/private": ["v1"]})
    client = make_client(fake, credentials=None)
    await client.list_tags("demo/app")
    before = client.requests_made
    with pytest.raises(InvalidAuth, match="no pull access to repository demo/private"):
        await client.list_tags("demo/private")
    assert client.requests_made - before == 2, "token fetched up front, one refused request"
    assert len(fake.token_calls) == 2


async def test_token_service_refusing_credentials_is_invalid_auth(make_client: Factory) -> None:
    fake = FakeRegistry()
    client = make_client(fake, credentials=RegistryCredentials("alice", "wrong-SECRET"))
    with pytest.raises(InvalidAuth) as caught:
        await client.list_tags("demo/app")
    message = str(caught.value)
    assert "reg.example" in message and "auth.example" in message
    assert "wrong-SECRET" not in message
    assert fake.calls and all("authorization" not in c.headers for c in fake.calls)


async def test_anonymous_token_for_public_image(make_client: Factory) -> None:
    fake = FakeRegistry(
        public={"octo/tool"}, tags={"octo/tool": ["1.0"]}, realm="https://ghcr.io/token"
    )
    client = make_client(fake, kind="github", credentials=None)
    assert await client.list_tags("ghcr.io/octo/tool") == ["1.0"]
    assert "authorization" not in fake.token_calls[0].headers
    assert fake.calls[0].url.host == "ghcr.io"


async def test_docker_hub_library_names_and_separate_auth_host(make_client: Factory) -> None:
    fake = FakeRegistry(
        public={"library/nginx"},
        tags={"library/nginx": ["1.27"]},
        realm="https://auth.docker.io/token",
    )
    client = make_client(fake, kind="dockerhub", base_url="hub.docker.com", credentials=None)
    assert await client.manifest_digest("nginx", "1.27") == MANIFEST_DIGEST
    assert fake.calls[-1].url == "https://registry-1.docker.io/v2/library/nginx/manifests/1.27"
    assert fake.token_calls[0].url.params["scope"] == "repository:library/nginx:pull"


async def test_challenge_scope_is_passed_through_with_any_action_order(
    make_client: Factory,
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v2/token":
            return httpx.Response(200, json={"token": "t", "expires_in": 300})
        if request.headers.get("authorization") == "Bearer t":
            return httpx.Response(200, json={"tags": ["a"]})
        challenge = 'bearer scope="repository:demo/app:push,pull",realm="/v2/token",service="gitea"'
        return httpx.Response(401, headers={"www-authenticate": challenge})

    client = make_client(handler, kind="gitea", base_url="git.example.com")
    assert await client.list_tags("git.example.com/demo/app") == ["a"]
    token_call = seen[1]
    assert str(token_call.url.copy_with(query=None)) == "https://git.example.com/v2/token"
    assert token_call.url.params.get_list("scope") == ["repository:demo/app:push,pull"]


async def test_no_credentials_or_tokens_in_logs(
    make_client: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(FakeRegistry())
    await client.list_tags("demo/app")
    bad = make_client(FakeRegistry(), credentials=RegistryCredentials("alice", "wrong-SECRET"))
    with pytest.raises(InvalidAuth):
        await bad.list_tags("demo/app")
    for secret in (PASSWORD, "wrong-SECRET", "tok-1", base64.b64encode(b"alice:").decode()[:6]):
        assert secret not in caplog.text


# ---------------------------------------------------------------- pagination


@pytest.mark.parametrize("absolute", [False, True])
async def test_link_pagination(make_client: Factory, absolute: bool) -> None:
    tags = [f"v{i}" for i in range(7)]
    fake = FakeRegistry(auth="none", tags={"demo/app": tags}, page_size=3, absolute_links=absolute)
    client = make_client(fake)
    assert await client.list_tags("demo/app", page_size=3) == tags
    assert [c.url.params.get("last") for c in fake.calls] == [None, "3", "6"]
    assert fake.calls[0].url.params["n"] == "3"


async def test_pagination_loop_is_detected(make_client: Factory) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        nxt = (
            "/v2/demo/app/tags/list?last=b"
            if "last" not in str(request.url)
            else "/v2/demo/app/tags/list"
        )
        return httpx.Response(200, json={"tags": ["a"]}, headers={"Link": f'<{nxt}>; rel="next"'})

    client = make_client(handler)
    with pytest.raises(UpstreamError, match="in a loop"):
        await client.list_tags("demo/app")
    assert client.requests_made == 2


async def test_pagination_is_capped(make_client: Factory) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        last = int(request.url.params.get("last", "0")) + 1
        link = f'</v2/demo/app/tags/list?last={last}>; rel="next"'
        return httpx.Response(200, json={"tags": [str(last)]}, headers={"Link": link})

    client = make_client(handler)
    with pytest.raises(UpstreamError, match=f"more than {MAX_PAGES}"):
        await client.list_tags("demo/app")
    assert client.requests_made == MAX_PAGES


async def test_pagination_never_follows_another_host(make_client: Factory) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        link = '<https://evil.example/v2/demo/app/tags/list?last=a>; rel="next"'
        return httpx.Response(200, json={"tags": ["a"]}, headers={"Link": link})

    client = make_client(handler)
    with pytest.raises(UpstreamError, match="another host"):
        await client.list_tags("demo/app")
    assert client.requests_made == 1


async def test_repository_without_tags(make_client: Factory) -> None:
    client = make_client(lambda r: httpx.Response(200, json={"name": "demo/app", "tags": None}))
    assert await client.list_tags("demo/app") == []


async def test_unreadable_tag_list(make_client: Factory) -> None:
    client = make_client(lambda r: httpx.Response(200, text="<html>"))
    with pytest.raises(UpstreamError, match="unreadable tag list"):
        await client.list_tags("demo/app")


# ---------------------------------------------------------------- digests


async def test_digest_by_head_with_every_manifest_type(make_client: Factory) -> None:
    fake = FakeRegistry(auth="none")
    client = make_client(fake)
    assert await client.manifest_digest("demo/app", "v2") == MANIFEST_DIGEST
    (head,) = fake.calls
    assert head.method == "HEAD"
    assert [t.strip() for t in head.headers["accept"].split(",")] == list(MANIFEST_MEDIA_TYPES)


@pytest.mark.parametrize("case", ["no header", "no HEAD"])
async def test_digest_falls_back_to_hashing_the_body(make_client: Factory, case: str) -> None:
    fake = FakeRegistry(
        auth="none", digest_header=case != "no header", head_allowed=case != "no HEAD"
    )
    client = make_client(fake)
    assert await client.manifest_digest("demo/app", "v1") == MANIFEST_DIGEST
    assert [c.method for c in fake.calls] == ["HEAD", "GET"]
    assert fake.calls[1].headers["accept"] == fake.calls[0].headers["accept"]


async def test_unknown_tag_and_repository(make_client: Factory) -> None:
    client = make_client(FakeRegistry(auth="none"))
    with pytest.raises(NotFound, match="tag v9 not found in repository demo/app"):
        await client.manifest_digest("demo/app", "v9")
    with pytest.raises(NotFound, match="repository demo/nope not found"):
        await client.manifest_digest("demo/nope", "v1")
    with pytest.raises(NotFound, match="repository demo/nope not found"):
        await client.list_tags("demo/nope")


async def test_bad_tag_is_refused_before_any_request(make_client: Factory) -> None:
    client = make_client(FakeRegistry(auth="none"))
    with pytest.raises(ValidationFailed):
        await client.manifest_digest("demo/app", "../../x")
    assert client.requests_made == 0


# ---------------------------------------------------------------- error mapping


async def test_rate_limit_with_seconds(make_client: Factory) -> None:
    client = make_client(
        lambda r: _error(429, "TOOMANYREQUESTS", "slow down", {"Retry-After": "17"})
    )
    with pytest.raises(RateLimited, match="TOOMANYREQUESTS: slow down") as caught:
        await client.list_tags("demo/app")
    assert caught.value.retry_after == 17.0


async def test_rate_limit_with_http_date(make_client: Factory) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    client = make_client(lambda r: httpx.Response(429, headers={"Retry-After": when}))
    with pytest.raises(RateLimited) as caught:
        await client.manifest_digest("demo/app", "v1")
    assert caught.value.retry_after is not None
    assert 100 < caught.value.retry_after <= 120


async def test_server_error_carries_the_registry_message(make_client: Factory) -> None:
    client = make_client(lambda r: _error(500, "UNKNOWN", "filesystem: disk full"))
    with pytest.raises(UpstreamError, match=r"HTTP 500 \(UNKNOWN: filesystem: disk full\)"):
        await client.list_tags("demo/app")


async def test_server_error_without_body(make_client: Factory) -> None:
    client = make_client(lambda r: httpx.Response(503, text="Service Unavailable"))
    with pytest.raises(UpstreamError, match=r"reg\.example answered HTTP 503$"):
        await client.manifest_digest("demo/app", "v1")


async def test_forbidden_is_invalid_auth(make_client: Factory) -> None:
    client = make_client(lambda r: _error(403, "DENIED", "requested access is denied"))
    with pytest.raises(InvalidAuth, match=r"denied .*'alice' access to repository demo/app"):
        await client.list_tags("demo/app")


async def test_connection_refused_is_cannot_connect(make_client: Factory) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(CannotConnect, match=r"cannot reach registry at reg\.example: .*refused"):
        await make_client(refuse).list_tags("demo/app")


async def test_real_closed_port_is_cannot_connect() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with httpx.AsyncClient(timeout=5) as http:
        client = RegistryClient(f"127.0.0.1:{port}", credentials=None, http=http)
        with pytest.raises(CannotConnect, match=f"127.0.0.1:{port}"):
            await client.test_connection()


async def test_timeout_is_timeout(make_client: Factory) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(Timeout, match=r"reg\.example did not answer in time"):
        await make_client(slow).manifest_digest("demo/app", "v1")


async def test_token_service_timeout_is_timeout(make_client: Factory) -> None:
    fake = FakeRegistry()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            raise httpx.ConnectTimeout("timed out", request=request)
        return fake(request)

    with pytest.raises(Timeout, match="token service"):
        await make_client(handler).list_tags("demo/app")


# ---------------------------------------------------------------- test_connection


@pytest.mark.parametrize(
    ("auth", "credentials", "summary"),
    [
        ("none", None, "open registry, no sign-in needed"),
        ("none", CREDS, "open registry; the credentials were not needed, so not checked"),
        ("basic", CREDS, "signed in as 'alice' with basic auth"),
        ("bearer", CREDS, "signed in as 'alice' with a token"),
        ("bearer", None, "anonymous token accepted"),
    ],
)
async def test_test_connection_summaries(
    make_client: Factory, auth: str, credentials: RegistryCredentials | None, summary: str
) -> None:
    client = make_client(FakeRegistry(auth=auth), credentials=credentials)
    assert await client.test_connection() == f"Connected to reg.example: {summary}"


async def test_test_connection_wrong_password(make_client: Factory) -> None:
    client = make_client(FakeRegistry(), credentials=RegistryCredentials("alice", "x"))
    with pytest.raises(InvalidAuth, match="rejected"):
        await client.test_connection()


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(404, text="not found"),
        httpx.Response(200, text="<html>Welcome</html>", headers={"content-type": "text/html"}),
        httpx.Response(502, text="bad gateway"),
    ],
)
async def test_test_connection_on_something_else(
    make_client: Factory, response: httpx.Response
) -> None:
    client = make_client(lambda r: response)
    with pytest.raises(CannotConnect, match=r"reg\.example"):
        await client.test_connection()


# ---------------------------------------------------------------- odd answers


def _challenging(challenge: str | None, token_response: httpx.Response | None = None) -> Handler:
    """A registry that always challenges, with a token service answering `token_response`."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example" and token_response is not None:
            return token_response
        return httpx.Response(401, headers={"WWW-Authenticate": challenge} if challenge else {})

    return handler


BEARER = f'Bearer realm="{REALM}",service="reg"'


@pytest.mark.parametrize(
    ("handler", "error", "message"),
    [
        (_challenging(None), InvalidAuth, r"reg\.example rejected"),
        (_challenging('Negotiate realm="x"'), InvalidAuth, "unsupported auth 'negotiate'"),
        (_challenging('Bearer service="reg"'), UpstreamError, "without a realm"),
        (
            _challenging('Bearer realm="http://auth:port/token"'),
            UpstreamError,
            "invalid token realm",
        ),
        (
            _challenging(BEARER, httpx.Response(200, json={"nothing": 1})),
            UpstreamError,
            "answered without a usable token",
        ),
        (
            _challenging(BEARER, httpx.Response(200, json={"token": "a b\nX-Evil: 1"})),
            UpstreamError,
            "without a usable token",
        ),
        (
            _challenging(BEARER, httpx.Response(200, text="not json")),
            UpstreamError,
            "without a usable token",
        ),
        (
            _challenging(BEARER, httpx.Response(500, text="boom")),
            UpstreamError,
            "token service .* answered HTTP 500",
        ),
        (
            _challenging(BEARER, httpx.Response(429, headers={"Retry-After": "3"})),
            RateLimited,
            "rate limiting",
        ),
        (
            _challenging(BEARER, httpx.Response(200, json={"token": "t"})),
            InvalidAuth,
            r"reg\.example rejected",
        ),
    ],
)
async def test_odd_auth_answers(
    make_client: Factory, handler: Handler, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await make_client(handler).list_tags("demo/app")


async def test_garbage_link_header(make_client: Factory) -> None:
    link = '<http://reg.example:port/v2/x>; rel="next"'
    client = make_client(
        lambda r: httpx.Response(200, json={"tags": ["a"]}, headers={"Link": link})
    )
    with pytest.raises(UpstreamError, match="invalid tag page link"):
        await client.list_tags("demo/app")


class MultiScopeRegistry:
    """A bearer registry whose token service grants every scope asked for, counting requests."""

    def __init__(self) -> None:
        self.token_requests: list[list[str]] = []
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if request.url.path == "/token":
            self.token_requests.append(request.url.params.get_list("scope"))
            granted = " ".join(request.url.params.get_list("scope")).encode()
            token = base64.urlsafe_b64encode(granted).decode()
            return httpx.Response(200, json={"token": token, "expires_in": 60})
        repo = request.url.path.removeprefix("/v2/").removesuffix("/tags/list")
        header = request.headers.get("authorization", "").removeprefix("Bearer ")
        granted_scopes = base64.urlsafe_b64decode(header.encode() or b"").decode().split()
        if f"repository:{repo}:pull" not in granted_scopes:
            challenge = (
                'Bearer realm="https://reg.test/token",service="reg",'
                f'scope="repository:{repo}:pull"'
            )
            return httpx.Response(401, headers={"www-authenticate": challenge})
        return httpx.Response(200, json={"name": repo, "tags": ["v1"]})


async def test_prefetch_covers_many_repositories_with_one_token_request() -> None:
    registry, clock = MultiScopeRegistry(), FakeClock()
    async with httpx.AsyncClient(transport=httpx.MockTransport(registry)) as http:
        client = RegistryClient("https://reg.test", credentials=None, http=http, clock=clock)
        await client.list_tags("team/first")  # learns the realm: 401, token, retry
        repos = [f"team/app{i}" for i in range(5)]
        clock.now += 120  # every cached token is stale now
        before = client.requests_made

        await client.prefetch_tokens([*repos, "team/first"])
        for repo in repos:
            assert await client.list_tags(repo) == ["v1"]

        assert client.requests_made - before == 1 + len(repos)  # one token request in all
        assert sorted(registry.token_requests[-1]) == sorted(
            f"repository:{r}:pull" for r in [*repos, "team/first"]
        )


async def test_prefetch_does_nothing_before_the_realm_is_known_or_for_basic() -> None:
    registry = MultiScopeRegistry()
    async with httpx.AsyncClient(transport=httpx.MockTransport(registry)) as http:
        client = RegistryClient("https://reg.test", credentials=None, http=http)
        await client.prefetch_tokens(["team/a", "team/b"])
        assert registry.calls == 0
