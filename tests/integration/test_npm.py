"""NpmClient against the NPM emulator, whose proxy hosts are served by a real nginx.

Every routing claim is checked with a request through nginx (`Host: <domain>`) reaching a real
upstream HTTP server on 127.0.0.1. A few tests check the emulator itself against npm-api.md.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from docker import DockerClient

from services.errors import (
    CannotConnect,
    Conflict,
    InvalidAuth,
    UpstreamError,
    ValidationFailed,
)
from services.npm.client import NpmClient
from services.npm.session import TWO_FACTOR_MESSAGE
from services.npm.values import NginxConfigError, ProxyHostSpec
from tests.support.docker_env import create_container, create_network, wait_until
from tests.support.images import build_test_image
from tests.support.npm_emulator import EchoUpstream, EmulatorFactory, NpmEmulator, docker_resolver

pytest_plugins = ["tests.support.npm_fixtures"]

DOMAIN = "stage-dev-app.example.com"
HOSTS = "/api/nginx/proxy-hosts"
Upstreams = Callable[[str], EchoUpstream]


@pytest.fixture
async def npm(npm_emulator: NpmEmulator) -> AsyncIterator[NpmClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield NpmClient(npm_emulator.url, npm_emulator.email, npm_emulator.password, http=http)


def served_by(npm_emulator: NpmEmulator, domain: str) -> str | None:
    """Which upstream answers for `domain` through nginx right now (None: not routed)."""
    resp = npm_emulator.get_via_proxy(domain, "/probe")
    if resp.status_code != 200:
        return None
    body = resp.json()
    assert body["headers"]["Host"] == domain
    return str(body["upstream"])


# --------------------------------------------------------------------------- connection and auth


async def test_test_connection_logs_in(npm: NpmClient, npm_emulator: NpmEmulator) -> None:
    assert await npm.test_connection() == "2.15.1"
    assert npm_emulator.logins == 1


async def test_wrong_password_is_invalid_auth(npm_emulator: NpmEmulator) -> None:
    async with httpx.AsyncClient() as http:
        npm = NpmClient(npm_emulator.url, npm_emulator.email.upper(), "wrong", http=http)
        with pytest.raises(InvalidAuth, match="Invalid email or password"):
            await npm.test_connection()


async def test_email_is_case_insensitive(npm_emulator: NpmEmulator) -> None:
    async with httpx.AsyncClient() as http:
        npm = NpmClient(
            npm_emulator.url, npm_emulator.email.upper(), npm_emulator.password, http=http
        )
        assert await npm.test_connection() == "2.15.1"


async def test_two_factor_user(npm: NpmClient, npm_emulator: NpmEmulator) -> None:
    npm_emulator.two_factor = True
    with pytest.raises(InvalidAuth) as caught:
        await npm.test_connection()
    assert str(caught.value) == TWO_FACTOR_MESSAGE


@pytest.mark.parametrize("mode", ["refuse", "502"])
async def test_npm_down_is_cannot_connect(
    npm: NpmClient, npm_emulator: NpmEmulator, mode: str
) -> None:
    await npm.list_hosts()  # a pooled keep-alive connection exists
    npm_emulator.down(mode)  # type: ignore[arg-type]
    with pytest.raises(CannotConnect):
        await npm.list_hosts()
    npm_emulator.up()
    assert await npm.list_hosts() == []


async def test_token_expiry_mid_session_is_transparent(
    npm: NpmClient, npm_emulator: NpmEmulator, echo_upstream: Upstreams
) -> None:
    blue = echo_upstream("blue")
    await npm.ensure_host(DOMAIN, "127.0.0.1", blue.port)
    npm_emulator.expire_tokens()
    host = await npm.ensure_host(DOMAIN, "127.0.0.1", blue.port)
    assert npm_emulator.logins == 2
    assert host.nginx_online is True


async def test_one_fault_costs_one_retry(npm: NpmClient, npm_emulator: NpmEmulator) -> None:
    await npm.list_hosts()
    npm_emulator.fail_next(500, "Internal Error", method="GET")
    assert await npm.list_hosts() == []
    assert npm_emulator.logins == 2


# --------------------------------------------------------------------------- routing through nginx


async def test_created_host_routes_through_nginx(
    npm: NpmClient, npm_emulator: NpmEmulator, echo_upstream: Upstreams
) -> None:
    blue = echo_upstream("blue")
    host = await npm.ensure_host(DOMAIN, "127.0.0.1", blue.port)
    assert host.nginx_online is True
    assert host.meta["managed_by"] == "docker-watcher"
    resp = npm_emulator.get_via_proxy(DOMAIN, "/hello?x=1")
    assert resp.json()["path"] == "/hello?x=1"
    assert resp.json()["headers"]["X-Forwarded-Proto"] == "http"
    assert served_by(npm_emulator, "other.example.com") is None


async def test_ensure_host_twice_is_one_host(
    npm: NpmClient, npm_emulator: NpmEmulator, echo_upstream: Upstreams
) -> None:
    blue = echo_upstream("blue")
    first = await npm.ensure_host(DOMAIN, "127.0.0.1", blue.port)
    second = await npm.ensure_host(DOMAIN.upper(), "127.0.0.1", blue.port)
    assert first.id == second.id
    assert len(npm_emulator.live_hosts()) == 1
    assert served_by(npm_emulator, DOMAIN) == "blue"


async def test_update_moves_the_upstream(
    npm: NpmClient, npm_emulator: NpmEmulator, echo_upstream: Upstreams
) -> None:
    blue, green = echo_upstream("blue"), echo_upstream("green")
    first = await npm.ensure_host(DOMAIN, "127.0.0.1", blue.port)
    assert served_by(npm_emulator, DOMAIN) == "blue"
    moved = await npm.ensure_host(DOMAIN, "127.0.0.1", green.port, owned_ids={first.id})
    assert moved.id == first.id
    assert moved.forward_port == green.port
    assert served_by(npm_emulator, DOMAIN) == "green"


async def test_delete_stops_routing(
    npm: NpmClient, npm_emulator: NpmEmulator, echo_upstream: Upstreams
) -> None:
    blue = echo_upstream("blue")
    host = await npm.ensure_host(DOMAIN, "127.0.0.1", blue.port)
    assert served_by(npm_emulator, DOMAIN) == "blue"
    await npm.delete_host(host.id)
    assert served_by(npm_emulator, DOMAIN) is None
    assert await npm.find_host(DOMAIN) is None
    await npm.delete_host(host.id)  # already gone is fine


async def test_disable_and_enable(
    npm: NpmClient, npm_emulator: NpmEmulator, echo_upstream: Upstreams
) -> None:
    blue = echo_upstream("blue")
    host = await npm.ensure_host(DOMAIN, "127.0.0.1", blue.port)
    await npm.disable_host(host.id)
    await npm.disable_host(host.id)
    assert served_by(npm_emulator, DOMAIN) is None
    again = await npm.ensure_host(DOMAIN, "127.0.0.1", blue.port)  # re-enables our host
    assert again.enabled is True
    assert served_by(npm_emulator, DOMAIN) == "blue"


async def test_nginx_refusing_the_config_is_reported(
    npm: NpmClient, npm_emulator: NpmEmulator, echo_upstream: Upstreams
) -> None:
    npm_emulator.nginx_config_fails = True
    with pytest.raises(NginxConfigError) as caught:
        await npm.ensure_host(DOMAIN, "127.0.0.1", echo_upstream("blue").port)
    assert "unknown directive" in (caught.value.nginx_err or "")
    assert served_by(npm_emulator, DOMAIN) is None


async def test_create_retried_after_a_late_500_adopts_its_own_row(
    npm: NpmClient, npm_emulator: NpmEmulator, echo_upstream: Upstreams
) -> None:
    blue = echo_upstream("blue")
    npm_emulator.fail_next_reload()  # the row is written, then NPM answers 500
    host = await npm.ensure_host(DOMAIN, "127.0.0.1", blue.port)
    assert npm_emulator.logins == 2  # the 500 looked like a stale token: one retry
    assert [h["id"] for h in npm_emulator.live_hosts()] == [host.id]
    assert served_by(npm_emulator, DOMAIN) == "blue"


async def test_nginx_down_is_an_upstream_error(
    npm: NpmClient, npm_emulator: NpmEmulator, echo_upstream: Upstreams
) -> None:
    npm_emulator.fail_next_reload(times=10)
    with pytest.raises(UpstreamError, match="500 Internal Error"):
        await npm.ensure_host(DOMAIN, "127.0.0.1", echo_upstream("blue").port)


# --------------------------------------------------------------------------- ownership and clashes


async def test_foreign_host_is_conflict_and_untouched(
    npm: NpmClient, npm_emulator: NpmEmulator, echo_upstream: Upstreams
) -> None:
    theirs, ours = echo_upstream("theirs"), echo_upstream("ours")
    body = {
        "domain_names": [DOMAIN],
        "forward_scheme": "http",
        "forward_host": "127.0.0.1",
        "forward_port": theirs.port,
    }
    foreign = npm_emulator.add_host(body)
    with pytest.raises(Conflict) as caught:
        await npm.ensure_host(DOMAIN, "127.0.0.1", ours.port, owned_ids=set())
    assert str(caught.value) == (
        f"{DOMAIN} is already served by NPM proxy host #{foreign['id']}, "
        "which Docker Watcher did not create"
    )
    assert npm_emulator.host(foreign["id"])["forward_port"] == theirs.port
    assert served_by(npm_emulator, DOMAIN) == "theirs"


async def test_owned_by_id_without_marker_is_updated(
    npm: NpmClient, npm_emulator: NpmEmulator, echo_upstream: Upstreams
) -> None:
    old, new = echo_upstream("old"), echo_upstream("new")
    body = {"domain_names": [DOMAIN], "forward_scheme": "http", "forward_host": "127.0.0.1"}
    legacy = npm_emulator.add_host(body | {"forward_port": old.port})
    host = await npm.ensure_host(DOMAIN, "127.0.0.1", new.port, owned_ids={legacy["id"]})
    assert host.id == legacy["id"]
    assert host.meta["managed_by"] == "docker-watcher"
    assert served_by(npm_emulator, DOMAIN) == "new"


async def test_duplicate_domain_is_a_clear_conflict(
    npm: NpmClient, npm_emulator: NpmEmulator
) -> None:
    spec = ProxyHostSpec((DOMAIN,), "127.0.0.1", 8080)
    await npm.create_host(spec)
    with pytest.raises(Conflict, match=f"{DOMAIN.upper()} is already in use"):
        await npm.create_host(ProxyHostSpec((DOMAIN.upper(),), "127.0.0.1", 8081))
    assert len(npm_emulator.live_hosts()) == 1


async def test_domain_held_by_a_redirection_host(npm: NpmClient, npm_emulator: NpmEmulator) -> None:
    npm_emulator.add_redirection_host([DOMAIN])
    with pytest.raises(Conflict, match="redirection or 404 host"):
        await npm.ensure_host(DOMAIN, "127.0.0.1", 8080)


async def test_validation_error_is_clear(npm: NpmClient) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await npm.ensure_host("bad,name.example.com", "127.0.0.1", 8080)
    assert caught.value.errors[0].path == "npm.domain_names.0"
    with pytest.raises(ValidationFailed, match="must be <= 65535"):
        await npm.ensure_host(DOMAIN, "127.0.0.1", 70000)


# --------------------------------------------------------------------------- certificates


@pytest.mark.parametrize("timestamps", ["sqlite", "iso"])
async def test_certificate_picking_and_attaching(
    npm_emulator_factory: EmulatorFactory, echo_upstream: Upstreams, timestamps: str
) -> None:
    npm_emulator = npm_emulator_factory(timestamp_style=timestamps)
    async with httpx.AsyncClient() as http:
        npm = NpmClient(npm_emulator.url, npm_emulator.email, npm_emulator.password, http=http)
        await _pick_and_attach(npm, npm_emulator, echo_upstream("blue"))


async def _pick_and_attach(npm: NpmClient, npm_emulator: NpmEmulator, blue: EchoUpstream) -> None:
    now = datetime.now(UTC)
    npm_emulator.add_certificate(["*.example.com"], expires_on=now - timedelta(days=1))
    good = npm_emulator.add_certificate(["example.com", "*.example.com"], nice_name="wild")
    npm_emulator.add_certificate(["*.example.org"], expires_on=now + timedelta(days=90))
    picked = await npm.pick_certificate(DOMAIN)
    assert picked is not None and picked.id == good
    assert await npm.pick_certificate("app.example.net") is None
    host = await npm.ensure_host(
        DOMAIN, "127.0.0.1", blue.port, certificate_id=good, ssl_forced=True
    )
    row = npm_emulator.host(host.id)
    assert (row["certificate_id"], row["ssl_forced"], row["http2_support"]) == (good, True, True)


def certificate_of(npm_emulator: NpmEmulator, host_id: int) -> int:
    return int(npm_emulator.host(host_id)["certificate_id"])


async def test_new_host_gets_the_valid_wildcard_covering_it(
    npm: NpmClient, npm_emulator: NpmEmulator, echo_upstream: Upstreams
) -> None:
    now = datetime.now(UTC)
    npm_emulator.add_certificate(["*.example.com"], expires_on=now - timedelta(hours=1))
    wildcard = npm_emulator.add_certificate(["*.example.com"], nice_name="wild")
    npm_emulator.add_certificate(["*.dev-app.example.com"], nice_name="one level too deep")
    npm_emulator.add_certificate(["*.example.org"], nice_name="other domain")
    host = await npm.ensure_host(DOMAIN, "127.0.0.1", echo_upstream("blue").port)
    assert certificate_of(npm_emulator, host.id) == wildcard
    assert served_by(npm_emulator, DOMAIN) == "blue"


async def test_an_exact_certificate_is_preferred_to_a_wildcard(
    npm: NpmClient, npm_emulator: NpmEmulator, echo_upstream: Upstreams
) -> None:
    later = datetime.now(UTC) + timedelta(days=300)
    npm_emulator.add_certificate(["*.example.com"], expires_on=later, nice_name="a wild")
    exact = npm_emulator.add_certificate([DOMAIN.upper()], nice_name="b exact")
    host = await npm.ensure_host(DOMAIN, "127.0.0.1", echo_upstream("blue").port)
    assert certificate_of(npm_emulator, host.id) == exact


async def test_only_expired_certificates_attach_none(
    npm: NpmClient, npm_emulator: NpmEmulator, echo_upstream: Upstreams
) -> None:
    past = datetime.now(UTC) - timedelta(minutes=5)
    npm_emulator.add_certificate([DOMAIN], expires_on=past)
    npm_emulator.add_certificate(["*.example.com"], expires_on=past)
    host = await npm.ensure_host(DOMAIN, "127.0.0.1", echo_upstream("blue").port)
    assert certificate_of(npm_emulator, host.id) == 0


async def test_a_chosen_certificate_wins_and_a_moved_host_keeps_its_own(
    npm: NpmClient, npm_emulator: NpmEmulator, echo_upstream: Upstreams
) -> None:
    npm_emulator.add_certificate(["*.example.com"], nice_name="wild")
    chosen = npm_emulator.add_certificate(["other.example.net"], nice_name="chosen")
    blue, green = echo_upstream("blue"), echo_upstream("green")
    host = await npm.ensure_host(DOMAIN, "127.0.0.1", blue.port, certificate_id=chosen)
    assert certificate_of(npm_emulator, host.id) == chosen
    moved = await npm.ensure_host(DOMAIN, "127.0.0.1", green.port, owned_ids={host.id})
    assert moved.id == host.id and certificate_of(npm_emulator, host.id) == chosen
    assert served_by(npm_emulator, DOMAIN) == "green"


# --------------------------------------------------------------------------- the emulator itself


@pytest.fixture
def api(npm_emulator: NpmEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=npm_emulator.url) as client:
        login = {"identity": npm_emulator.email, "secret": npm_emulator.password}
        token = client.post("/api/tokens", json=login).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


HOST_BODY = {
    "domain_names": ["a.example.com"],
    "forward_scheme": "http",
    "forward_host": "127.0.0.1",
    "forward_port": "8080",
}


def error_of(resp: httpx.Response) -> tuple[int, str]:
    return resp.status_code, resp.json()["error"]["message"]


def test_emulator_rejects_unknown_fields(api: httpx.Client) -> None:
    assert error_of(api.post("/api/nginx/proxy-hosts", json=HOST_BODY | {"x": 1})) == (
        400,
        "data must NOT have additional properties",
    )
    bad_location = {
        "path": "/a",
        "forward_scheme": "http",
        "forward_host": "h",
        "forward_port": 1,
        "y": 2,
    }
    resp = api.post("/api/nginx/proxy-hosts", json=HOST_BODY | {"locations": [bad_location]})
    assert error_of(resp) == (400, "data/locations/0 must NOT have additional properties")
    login = {"identity": "a@b.c", "secret": "x", "remember": True}
    assert api.post("/api/tokens", json=login).status_code == 400


def test_emulator_rejects_empty_query(api: httpx.Client) -> None:
    assert api.get("/api/nginx/proxy-hosts", params={"query": ""}).status_code == 400
    assert api.get("/api/nginx/proxy-hosts", params={"query": "a.ex"}).json() == []


def test_emulator_rejects_a_get_body_on_put(api: httpx.Client) -> None:
    created = api.post("/api/nginx/proxy-hosts", json=HOST_BODY)
    assert created.status_code == 201
    assert created.json()["forward_port"] == 8080  # numeric string coerced
    host = api.get(f"/api/nginx/proxy-hosts/{created.json()['id']}").json()
    resp = api.put(f"/api/nginx/proxy-hosts/{host['id']}", json=host)
    assert error_of(resp) == (400, "data must NOT have additional properties")
    assert api.put(f"/api/nginx/proxy-hosts/{host['id']}", json={}).status_code == 400


def test_emulator_auth_answers(npm_emulator: NpmEmulator, api: httpx.Client) -> None:
    with httpx.Client(base_url=npm_emulator.url) as anonymous:
        assert error_of(anonymous.get("/api/nginx/proxy-hosts")) == (
            404,
            "Not Found - /api/nginx/proxy-hosts",
        )
        assert error_of(anonymous.post("/api/nginx/proxy-hosts", json=HOST_BODY))[0] == 500
        assert error_of(anonymous.get("/api/tokens")) == (500, "Internal Error")
        forged = {"Authorization": "Bearer not.a.jwt"}
        assert error_of(anonymous.get("/api/nginx/proxy-hosts", headers=forged))[0] == 500
    npm_emulator.expire_tokens()
    expired = api.get("/api/nginx/proxy-hosts")
    assert error_of(expired) == (400, "Token has expired")
    assert expired.json()["error"]["message_i18n"]["name"] == "TokenExpiredError"


def test_emulator_domain_rules(api: httpx.Client) -> None:
    assert api.post("/api/nginx/proxy-hosts", json=HOST_BODY).status_code == 201
    upper = HOST_BODY | {"domain_names": ["A.Example.com"]}
    assert error_of(api.post("/api/nginx/proxy-hosts", json=upper)) == (
        400,
        "A.Example.com is already in use",
    )
    wildcard = HOST_BODY | {"domain_names": ["*.example.com"]}
    assert api.post("/api/nginx/proxy-hosts", json=wildcard).status_code == 201
    hosts = api.get("/api/nginx/proxy-hosts").json()
    assert [h["domain_names"] for h in hosts] == [["*.example.com"], ["a.example.com"]]
    assert api.put(f"/api/nginx/proxy-hosts/{hosts[1]['id']}", json=HOST_BODY).status_code == 200
    assert api.delete(f"/api/nginx/proxy-hosts/{hosts[1]['id']}").json() is True
    assert api.post("/api/nginx/proxy-hosts", json=HOST_BODY).status_code == 201  # freed
    assert api.post("/api/nginx/proxy-hosts/99/enable").status_code == 404


def test_emulator_cleans_flags_and_gates_versions(api: httpx.Client) -> None:
    body = HOST_BODY | {"ssl_forced": True, "http2_support": True, "hsts_enabled": True}
    created = api.post("/api/nginx/proxy-hosts", json=body).json()
    assert (created["ssl_forced"], created["http2_support"], created["hsts_enabled"]) == (
        False,
        False,
        False,
    )
    assert "nginx_online" not in created["meta"]


async def test_older_npm_gets_no_trust_forwarded_proto(
    npm_emulator_factory: EmulatorFactory, echo_upstream: Upstreams
) -> None:
    old = npm_emulator_factory(version="2.13.0")
    with httpx.Client(base_url=old.url) as api:
        token = api.post("/api/tokens", json={"identity": old.email, "secret": old.password})
        headers = {"Authorization": f"Bearer {token.json()['token']}"}
        body = HOST_BODY | {"trust_forwarded_proto": True}
        resp = api.post("/api/nginx/proxy-hosts", json=body, headers=headers)
        assert error_of(resp) == (400, "data must NOT have additional properties")
    async with httpx.AsyncClient() as http:
        npm = NpmClient(old.url, old.email, old.password, http=http)
        await npm.ensure_host(DOMAIN, "127.0.0.1", echo_upstream("blue").port)
    sent = [body for method, path, body in old.requests if (method, path) == ("POST", HOSTS)]
    assert "trust_forwarded_proto" not in sent[-1]
    assert served_by(old, DOMAIN) == "blue"


# --------------------------------------------------------------------------- real containers


async def test_forward_host_is_a_container_name(
    npm: NpmClient,
    npm_emulator: NpmEmulator,
    docker_client: DockerClient,
    test_session_label: dict[str, str],
) -> None:
    suffix = uuid.uuid4().hex[:10]
    network = create_network(docker_client, f"dwt-npm-{suffix}", labels=test_session_label)
    image = f"dw-test/npm:{suffix}"
    build_test_image(docker_client, image, variant="nohealth", marker=f"tag-{suffix}")
    name = f"dwt-npm-app-{suffix}"
    create_container(
        docker_client, image, name=name, network=network.name, labels=test_session_label
    )
    npm_emulator.resolve = docker_resolver(docker_client, str(network.name))
    await npm.ensure_host(DOMAIN, name, 8080)

    def answered() -> httpx.Response | None:  # the container's httpd may still be starting
        resp = npm_emulator.get_via_proxy(DOMAIN, "/tag.txt")
        return resp if resp.status_code == 200 else None

    resp = wait_until(answered, timeout=10, message="the container never answered via nginx")
    assert resp is not None
    assert resp.text.strip() == f"tag-{suffix}"
