"""NpmClient against an in-process fake NPM (httpx.MockTransport, stateful handler).

Narrow cases the real-nginx emulator makes awkward: exact request bodies, the 2FA answer,
`message_i18n` objects, both timestamp formats, renewal timing under a controlled clock, and
"retry once, not twice" on each stale-token answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.errors import (
    CannotConnect,
    Conflict,
    InvalidAuth,
    NotFound,
    Timeout,
    UpstreamError,
    ValidationFailed,
    WrongService,
)
from services.npm.client import NpmClient
from services.npm.session import TWO_FACTOR_MESSAGE
from services.npm.values import (
    Certificate,
    NginxConfigError,
    ProxyHost,
    ProxyHostSpec,
    parse_timestamp,
)

EMAIL = "robot@example.com"
PASSWORD = "s3cret-Passw0rd"
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOSTS = "/api/nginx/proxy-hosts"
Handler = Callable[[httpx.Request], httpx.Response]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def npm_error(status: int, message: str, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": status, "message": message, **extra}})


class FakeNpm:
    """Answers like NPM; `script` queues answers per (method, path) ahead of the defaults."""

    def __init__(self, clock: Clock, version: tuple[int, int, int] = (2, 15, 1)) -> None:
        self.clock = clock
        self.version = version
        self.calls: list[httpx.Request] = []
        self.script: dict[tuple[str, str], list[httpx.Response]] = {}
        self.issued = 0

    def queue(self, method: str, path: str, *answers: httpx.Response) -> None:
        self.script.setdefault((method, path), []).extend(answers)

    def paths(self, method: str, path: str) -> int:
        return sum(1 for c in self.calls if (c.method, c.url.path) == (method, path))

    def _token(self) -> httpx.Response:
        self.issued += 1
        expires = (self.clock() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
        return httpx.Response(200, json={"token": f"jwt-{self.issued}", "expires": expires})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        key = (request.method, request.url.path)
        if self.script.get(key):
            return self.script[key].pop(0)
        if key == ("GET", "/api/"):
            major, minor, revision = self.version
            version = {"major": major, "minor": minor, "revision": revision}
            return httpx.Response(200, json={"status": "OK", "version": version, "setup": True})
        if key in (("POST", "/api/tokens"), ("GET", "/api/tokens")):
            return self._token()
        if key in (("GET", HOSTS), ("GET", "/api/nginx/certificates")):
            return httpx.Response(200, json=[])
        return npm_error(404, f"Not Found - {request.url.path}")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeNpm:
    return FakeNpm(clock)


@pytest.fixture
async def client(fake: FakeNpm, clock: Clock) -> AsyncIterator[NpmClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as http:
        yield NpmClient("http://npm.test:81/", EMAIL, PASSWORD, http=http, clock=clock)


def host_json(host_id: int = 3, domain: str = "app.example.com", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": host_id,
        "created_on": "2026-06-01 12:00:00",
        "modified_on": "2026-06-01 12:00:00",
        "owner_user_id": 1,
        "domain_names": [domain],
        "forward_scheme": "http",
        "forward_host": "app-1",
        "forward_port": 8080,
        "certificate_id": 0,
        "enabled": True,
        "meta": {"managed_by": "docker-watcher", "nginx_online": True, "nginx_err": None},
    }
    return data | changes


# --------------------------------------------------------------------------- login


async def test_login_sends_exactly_identity_and_secret(client: NpmClient, fake: FakeNpm) -> None:
    await client.list_hosts()
    login = next(c for c in fake.calls if c.method == "POST")
    assert json.loads(login.content) == {"identity": EMAIL, "secret": PASSWORD}
    listing = fake.calls[-1]
    assert listing.headers["Authorization"] == "Bearer jwt-1"


async def test_two_factor_user_is_reported_clearly(client: NpmClient, fake: FakeNpm) -> None:
    answer = {"requires_2fa": True, "challenge_token": "challenge"}
    fake.queue("POST", "/api/tokens", httpx.Response(200, json=answer))
    with pytest.raises(InvalidAuth) as caught:
        await client.test_connection()
    assert str(caught.value) == TWO_FACTOR_MESSAGE


async def test_bad_password_with_i18n_string(client: NpmClient, fake: FakeNpm) -> None:
    refusal = npm_error(400, "Invalid email or password", message_i18n="error.invalid-auth")
    fake.queue("POST", "/api/tokens", refusal)
    with pytest.raises(InvalidAuth, match="Invalid email or password"):
        await client.test_connection()


async def test_test_connection_returns_version_text(client: NpmClient, fake: FakeNpm) -> None:
    assert await client.test_connection() == "2.15.1"
    assert fake.paths("POST", "/api/tokens") == 1


async def test_unfinished_setup_is_invalid_auth(client: NpmClient, fake: FakeNpm) -> None:
    status = {"status": "OK", "version": {"major": 2, "minor": 13, "revision": 0}, "setup": False}
    fake.queue("GET", "/api/", httpx.Response(200, json=status))
    with pytest.raises(InvalidAuth, match="setup"):
        await client.test_connection()


async def test_concurrent_calls_log_in_once(client: NpmClient, fake: FakeNpm) -> None:
    await asyncio.gather(*(client.list_hosts() for _ in range(5)))
    assert fake.paths("POST", "/api/tokens") == 1


# --------------------------------------------------------------------------- token lifetime


async def test_renews_shortly_before_expiry(client: NpmClient, fake: FakeNpm, clock: Clock) -> None:
    await client.list_hosts()
    clock.now += timedelta(days=1) - timedelta(minutes=10)
    await client.list_hosts()
    assert [(c.method, c.url.path) for c in fake.calls[-2:]] == [
        ("GET", "/api/tokens"),
        ("GET", HOSTS),
    ]
    assert fake.calls[-2].headers["Authorization"] == "Bearer jwt-1"
    assert fake.calls[-1].headers["Authorization"] == "Bearer jwt-2"
    assert fake.paths("POST", "/api/tokens") == 1


async def test_fresh_token_is_not_renewed(client: NpmClient, fake: FakeNpm, clock: Clock) -> None:
    await client.list_hosts()
    clock.now += timedelta(hours=20)
    await client.list_hosts()
    assert fake.paths("GET", "/api/tokens") == 0


async def test_expired_token_means_login_not_renewal(
    client: NpmClient, fake: FakeNpm, clock: Clock
) -> None:
    await client.list_hosts()
    clock.now += timedelta(days=2)
    await client.list_hosts()
    assert fake.paths("GET", "/api/tokens") == 0
    assert fake.paths("POST", "/api/tokens") == 2


async def test_refused_renewal_falls_back_to_login(
    client: NpmClient, fake: FakeNpm, clock: Clock
) -> None:
    await client.list_hosts()
    clock.now += timedelta(hours=23, minutes=50)
    fake.queue("GET", "/api/tokens", npm_error(400, "Token has expired"))
    await client.list_hosts()
    assert fake.paths("POST", "/api/tokens") == 2
    assert fake.calls[-1].headers["Authorization"] == "Bearer jwt-2"


# --------------------------------------------------------------------------- stale tokens

EXPIRED_I18N = {"name": "TokenExpiredError", "message": "jwt expired", "expiredAt": "2026-06-01"}
STALE_ANSWERS = [
    pytest.param(lambda: npm_error(400, "Token has expired", message_i18n=EXPIRED_I18N), id="400"),
    pytest.param(lambda: npm_error(401, "Unauthorized"), id="401"),
    pytest.param(lambda: npm_error(403, "Permission Denied"), id="403"),
    pytest.param(lambda: npm_error(404, f"Not Found - {HOSTS}"), id="404"),
    pytest.param(lambda: npm_error(500, "Internal Error", debug={"stack": ["x"]}), id="500"),
]


@pytest.mark.parametrize("stale", STALE_ANSWERS)
async def test_stale_answer_earns_one_relogin(
    client: NpmClient, fake: FakeNpm, stale: Callable[[], httpx.Response]
) -> None:
    fake.queue("GET", HOSTS, stale(), httpx.Response(200, json=[host_json()]))
    hosts = await client.list_hosts()
    assert [h.id for h in hosts] == [3]
    assert fake.paths("POST", "/api/tokens") == 2
    assert fake.calls[-1].headers["Authorization"] == "Bearer jwt-2"


@pytest.mark.parametrize(
    ("stale", "error"),
    [
        (STALE_ANSWERS[0], InvalidAuth),
        (STALE_ANSWERS[2], InvalidAuth),
        (STALE_ANSWERS[3], InvalidAuth),
        (STALE_ANSWERS[4], UpstreamError),
    ],
)
async def test_retries_once_not_twice(
    client: NpmClient, fake: FakeNpm, stale: Any, error: type[Exception]
) -> None:
    make = stale.values[0]
    fake.queue("GET", HOSTS, make(), make(), make())
    with pytest.raises(error):
        await client.list_hosts()
    assert fake.paths("GET", HOSTS) == 2
    assert fake.paths("POST", "/api/tokens") == 2


async def test_unknown_host_id_is_not_found_without_relogin(
    client: NpmClient, fake: FakeNpm
) -> None:
    fake.queue("GET", f"{HOSTS}/7", npm_error(404, "Not Found - 7"))
    with pytest.raises(NotFound, match="#7"):
        await client.get_host(7)
    assert fake.paths("POST", "/api/tokens") == 1


async def test_delete_of_missing_host_is_tolerated(client: NpmClient, fake: FakeNpm) -> None:
    fake.queue("DELETE", f"{HOSTS}/7", npm_error(404, "Not Found - 7"))
    await client.delete_host(7)
    fake.queue("DELETE", f"{HOSTS}/7", npm_error(404, "Not Found - 7"))
    with pytest.raises(NotFound):
        await client.delete_host(7, missing_ok=False)


async def test_enable_and_disable_tolerate_already(client: NpmClient, fake: FakeNpm) -> None:
    fake.queue("POST", f"{HOSTS}/3/enable", npm_error(400, "Host is already enabled"))
    fake.queue("POST", f"{HOSTS}/3/disable", npm_error(400, "Host is already disabled"))
    await client.enable_host(3)
    await client.disable_host(3)


# --------------------------------------------------------------------------- bodies


async def test_trust_forwarded_proto_only_from_2_14(clock: Clock) -> None:
    for version, expected in (((2, 13, 6), False), ((2, 14, 0), True)):
        fake = FakeNpm(clock, version)
        fake.queue("POST", HOSTS, httpx.Response(201, json=host_json()))
        async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as http:
            npm = NpmClient("http://npm.test", EMAIL, PASSWORD, http=http, clock=clock)
            await npm.create_host(ProxyHostSpec(("app.example.com",), "app-1", 8080))
        body = json.loads(next(c for c in fake.calls if c.url.path == HOSTS).content)
        assert ("trust_forwarded_proto" in body) is expected


async def test_update_sends_only_writable_fields(client: NpmClient, fake: FakeNpm) -> None:
    fake.queue("PUT", f"{HOSTS}/3", httpx.Response(200, json=host_json()))
    await client.update_host(3, ProxyHostSpec(("app.example.com",), "app-2", 9000))
    body = json.loads(fake.calls[-1].content)
    forbidden = {"id", "created_on", "modified_on", "owner_user_id", "owner", "certificate"}
    assert not forbidden & set(body)
    assert body["forward_host"] == "app-2"
    assert body["forward_port"] == 9000


async def test_ensure_host_attaches_certificate(client: NpmClient, fake: FakeNpm) -> None:
    fake.queue("POST", HOSTS, httpx.Response(201, json=host_json(certificate_id=4)))
    fake.queue("GET", f"{HOSTS}/3", httpx.Response(200, json=host_json(certificate_id=4)))
    await client.ensure_host("App.Example.com", "app-1", 8080, certificate_id=4, ssl_forced=True)
    create = json.loads(
        next(c for c in fake.calls if c.method == "POST" and c.url.path == HOSTS).content
    )
    assert create["domain_names"] == ["app.example.com"]
    assert (create["certificate_id"], create["ssl_forced"], create["http2_support"]) == (
        4,
        True,
        True,
    )
    assert create["meta"] == {"managed_by": "docker-watcher"}


async def test_ensure_host_with_a_seen_absence_creates_without_listing(
    client: NpmClient, fake: FakeNpm
) -> None:
    fake.queue("POST", HOSTS, httpx.Response(201, json=host_json()))
    fake.queue("GET", f"{HOSTS}/3", httpx.Response(200, json=host_json()))
    host = await client.ensure_host("app.example.com", "app-1", 8080, seen=None)
    assert host.id == 3
    assert fake.paths("GET", HOSTS) == 0 and fake.paths("POST", HOSTS) == 1


async def test_ensure_host_with_a_seen_host_updates_it_without_listing(
    client: NpmClient, fake: FakeNpm
) -> None:
    seen = ProxyHost.from_api(host_json())
    fake.queue("PUT", f"{HOSTS}/3", httpx.Response(200, json=host_json(forward_host="app-2")))
    fake.queue("GET", f"{HOSTS}/3", httpx.Response(200, json=host_json(forward_host="app-2")))
    host = await client.ensure_host("app.example.com", "app-2", 8080, seen=seen)
    assert host.forward_host == "app-2"
    assert fake.paths("GET", HOSTS) == 0 and fake.paths("PUT", f"{HOSTS}/3") == 1


async def test_ensure_host_whose_seen_host_was_deleted_since_looks_again_and_creates(
    client: NpmClient, fake: FakeNpm
) -> None:
    seen = ProxyHost.from_api(host_json())
    fake.queue("PUT", f"{HOSTS}/3", npm_error(404, "Not Found - 3"))
    fake.queue("POST", HOSTS, httpx.Response(201, json=host_json(host_id=4)))
    fake.queue("GET", f"{HOSTS}/4", httpx.Response(200, json=host_json(host_id=4)))
    host = await client.ensure_host("app.example.com", "app-1", 8080, seen=seen)
    assert host.id == 4
    assert fake.paths("GET", HOSTS) == 1  # the fresh look found nothing, so it created


async def test_ensure_host_whose_domain_was_taken_since_it_was_seen_free_is_refused(
    client: NpmClient, fake: FakeNpm
) -> None:
    foreign = host_json(host_id=9, meta={})
    fake.queue("POST", HOSTS, npm_error(400, "app.example.com is already in use"))
    fake.queue("GET", HOSTS, httpx.Response(200, json=[foreign]))
    with pytest.raises(Conflict):
        await client.ensure_host("app.example.com", "app-1", 8080, seen=None)
    assert fake.paths("PUT", f"{HOSTS}/9") == 0


async def test_find_host_never_sends_an_empty_query(client: NpmClient, fake: FakeNpm) -> None:
    await client.list_hosts()
    assert "query" not in fake.calls[-1].url.params
    with pytest.raises(ValidationFailed):
        await client.find_host("  ")


async def test_nginx_refusal_is_reported_with_its_error(client: NpmClient, fake: FakeNpm) -> None:
    meta = {"managed_by": "docker-watcher", "nginx_online": False, "nginx_err": "nginx: [emerg] x"}
    fake.queue("POST", HOSTS, httpx.Response(201, json=host_json()))
    fake.queue("GET", f"{HOSTS}/3", httpx.Response(200, json=host_json(meta=meta)))
    with pytest.raises(NginxConfigError) as caught:
        await client.ensure_host("app.example.com", "app-1", 8080)
    assert isinstance(caught.value, UpstreamError)
    assert caught.value.nginx_err == "nginx: [emerg] x"
    assert caught.value.host_id == 3


# --------------------------------------------------------------------------- errors


async def test_validation_error_names_the_field(client: NpmClient, fake: FakeNpm) -> None:
    fake.queue("POST", HOSTS, npm_error(400, "data/forward_port must be <= 65535"))
    with pytest.raises(ValidationFailed) as caught:
        await client.create_host(ProxyHostSpec(("a.example.com",), "a", 70000))
    assert caught.value.errors[0].path == "npm.forward_port"
    assert "must be <= 65535" in str(caught.value)


async def test_domain_in_use_is_conflict(client: NpmClient, fake: FakeNpm) -> None:
    fake.queue("POST", HOSTS, npm_error(400, "a.example.com is already in use"))
    with pytest.raises(Conflict, match=r"a\.example\.com is already in use"):
        await client.create_host(ProxyHostSpec(("a.example.com",), "a", 80))


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.ConnectError("refused"), CannotConnect),
        (httpx.ReadTimeout("slow"), Timeout),
        (httpx.RemoteProtocolError("cut"), CannotConnect),
    ],
)
async def test_transport_failures_become_ours(
    clock: Clock, failure: Exception, error: type[Exception]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        npm = NpmClient("http://npm.test", EMAIL, PASSWORD, http=http, clock=clock)
        with pytest.raises(error, match=r"npm\.test"):
            await npm.test_connection()


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(502, text="<html>Bad Gateway</html>"), CannotConnect),
        (httpx.Response(200, text="<html>a login page</html>"), WrongService),
        (httpx.Response(200, json={"hello": "world"}), WrongService),
        (npm_error(404, "Not Found - /api/"), WrongService),  # NPM's backend port
    ],
)
async def test_wrong_answers_from_the_url(
    client: NpmClient, fake: FakeNpm, answer: httpx.Response, error: type[Exception]
) -> None:
    fake.queue("GET", "/api/", answer)
    with pytest.raises(error):
        await client.test_connection()


async def test_secrets_never_leak_into_errors_or_logs(
    client: NpmClient, fake: FakeNpm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.queue("GET", HOSTS, *[npm_error(400, "Token has expired")] * 2)
    fake.queue("POST", HOSTS, npm_error(500, "Internal Error"), npm_error(500, "Internal Error"))
    failures: list[Exception] = []
    for call in (client.list_hosts(), client.create_host(ProxyHostSpec(("a.b",), "a", 80))):
        try:
            await call
        except Exception as exc:
            failures.append(exc)
    texts = [str(e) for e in failures] + [caplog.text, repr(client)]
    assert len(failures) == 2
    for text in texts:
        assert PASSWORD not in text
        assert "jwt-" not in text


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-01 12:00:00", datetime(2026, 6, 1, 12, 0, tzinfo=UTC)),
        ("2026-06-01T12:00:00.000Z", datetime(2026, 6, 1, 12, 0, tzinfo=UTC)),
        ("2026-06-01T14:00:00+02:00", datetime(2026, 6, 1, 12, 0, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
    ],
)
def test_parse_timestamp(text: str | None, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


async def test_picks_the_exact_then_the_wildcard_certificate(
    client: NpmClient, fake: FakeNpm
) -> None:
    certs = [
        {
            "id": 1,
            "nice_name": "old",
            "domain_names": ["*.example.com"],
            "expires_on": "2026-05-01 00:00:00",
        },
        {
            "id": 2,
            "nice_name": "good",
            "domain_names": ["*.Example.com", "example.com"],
            "expires_on": "2026-08-01T00:00:00.000Z",
        },
        {
            "id": 3,
            "nice_name": "other",
            "domain_names": ["*.example.org"],
            "expires_on": "2026-09-01 00:00:00",
        },
        {
            "id": 4,
            "nice_name": "plain",
            "domain_names": ["example.com"],
            "expires_on": "2026-09-01 00:00:00",
        },
    ]
    fake.queue("GET", "/api/nginx/certificates", httpx.Response(200, json=certs))
    picked = await client.pick_certificate("app.example.com")
    assert isinstance(picked, Certificate)
    assert picked.id == 2  # the valid wildcard; the expired one and *.example.org are not
    fake.queue("GET", "/api/nginx/certificates", httpx.Response(200, json=certs))
    exact = await client.pick_certificate("example.com")
    assert exact is not None and exact.id == 4  # an exact name beats the wildcard


def test_proxy_host_tolerates_old_shapes() -> None:
    host = ProxyHost.from_api({"id": "5", "domain_names": ["A.b.c"], "enabled": 0, "meta": None})
    assert (host.id, host.enabled, host.nginx_online, host.certificate_id) == (5, False, None, 0)
    assert host.serves("a.B.c")
