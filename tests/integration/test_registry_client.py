"""RegistryClient against the real distribution 2.8 registry, with htpasswd and bearer-token auth.

Images are pushed by the real Docker Engine, so "the digest the client reads" is compared with
"the digest the push reported" — the Accept trap (schema 1 conversion) would show up here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from docker import DockerClient

from services.errors import CannotConnect, InvalidAuth, NotFound
from services.registry.auth import RegistryCredentials
from services.registry.client import RegistryClient
from tests.support.images import push_test_image
from tests.support.registry_server import (
    RegistryServer,
    TokenRegistryServer,
    basic_auth_config,
    run_registry,
)

Server = RegistryServer | TokenRegistryServer


@dataclass(frozen=True)
class Pushed:
    """A repository pushed for this module: tag → digest reported by the Engine."""

    repo: str
    digests: dict[str, str]


def _push(client: DockerClient, server: Server, tags: list[str]) -> Pushed:
    repo = f"regclient/app-{uuid.uuid4().hex[:8]}"
    return Pushed(repo, {tag: push_test_image(client, server, repo, tag) for tag in tags})


@pytest.fixture(scope="module")
def basic_repo(docker_client: DockerClient, registry: RegistryServer) -> Pushed:
    return _push(docker_client, registry, ["dev-1", "v1.0.0"])


@pytest.fixture(scope="module")
def token_repo(docker_client: DockerClient, token_registry: TokenRegistryServer) -> Pushed:
    return _push(docker_client, token_registry, ["dev-2", "v2.0.0"])


@pytest.fixture(params=["basic", "token"])
def target(request: pytest.FixtureRequest) -> tuple[Server, Pushed]:
    """Each test that takes it runs once per auth mode."""
    if request.param == "basic":
        return request.getfixturevalue("registry"), request.getfixturevalue("basic_repo")
    return request.getfixturevalue("token_registry"), request.getfixturevalue("token_repo")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def _client(
    server: Server, http: httpx.AsyncClient, *, password: str | None = None
) -> RegistryClient:
    credentials = RegistryCredentials(server.username, password or server.password)
    return RegistryClient(server.url, credentials=credentials, http=http)


async def test_basic_auth_lists_tags(
    registry: RegistryServer, basic_repo: Pushed, http: httpx.AsyncClient
) -> None:
    client = _client(registry, http)
    assert sorted(await client.list_tags(basic_repo.repo)) == sorted(basic_repo.digests)
    assert client.requests_made == 2, "one 401 with a Basic challenge, one retry"


async def test_bearer_token_lists_tags_through_the_challenge(
    token_registry: TokenRegistryServer, token_repo: Pushed, http: httpx.AsyncClient
) -> None:
    client = _client(token_registry, http)
    assert sorted(await client.list_tags(token_repo.repo)) == sorted(token_repo.digests)
    assert client.requests_made == 3, "401 challenge, token fetch, retry"
    await client.manifest_digest(token_repo.repo, "dev-2")
    assert client.requests_made == 4, "the cached token serves the same repository scope"


async def test_digest_by_head_equals_push_digest(
    target: tuple[Server, Pushed], http: httpx.AsyncClient
) -> None:
    server, pushed = target
    client = _client(server, http)
    for tag, digest in pushed.digests.items():
        assert await client.manifest_digest(f"{server.host}/{pushed.repo}", tag) == digest
    assert len(set(pushed.digests.values())) == len(pushed.digests)


async def test_a_fresh_client_answers_many_concurrent_first_requests(
    target: tuple[Server, Pushed], http: httpx.AsyncClient
) -> None:
    server, pushed = target
    client = _client(server, http)  # knows nothing yet: every request meets the challenge
    (tag, digest), *_ = pushed.digests.items()
    image = f"{server.host}/{pushed.repo}"
    found = await asyncio.gather(*(client.manifest_digest(image, tag) for _ in range(20)))
    assert found == [digest] * 20


async def test_repushed_tag_has_a_new_digest(
    docker_client: DockerClient, registry: RegistryServer, http: httpx.AsyncClient
) -> None:
    pushed = _push(docker_client, registry, ["dev"])
    client = _client(registry, http)
    first = await client.manifest_digest(pushed.repo, "dev")
    second = push_test_image(docker_client, registry, pushed.repo, "dev", marker="rebuilt")
    assert first == pushed.digests["dev"]
    assert await client.manifest_digest(pushed.repo, "dev") == second != first


async def test_wrong_password_is_invalid_auth(
    target: tuple[Server, Pushed], http: httpx.AsyncClient
) -> None:
    server, pushed = target
    client = _client(server, http, password="wrong-password-123")
    with pytest.raises(InvalidAuth, match=server.host) as caught:
        await client.list_tags(pushed.repo)
    assert "wrong-password-123" not in str(caught.value)
    with pytest.raises(InvalidAuth):
        await client.test_connection()


async def test_anonymous_token_without_access_is_invalid_auth(
    token_registry: TokenRegistryServer, token_repo: Pushed, http: httpx.AsyncClient
) -> None:
    client = RegistryClient(token_registry.url, credentials=None, http=http)
    with pytest.raises(InvalidAuth, match="no pull access"):
        await client.list_tags(token_repo.repo)


async def test_unknown_repository_is_not_found(
    target: tuple[Server, Pushed], http: httpx.AsyncClient
) -> None:
    server, _ = target
    client = _client(server, http)
    with pytest.raises(NotFound, match="repository regclient/missing not found"):
        await client.list_tags("regclient/missing")
    with pytest.raises(NotFound, match="regclient/missing"):
        await client.manifest_digest("regclient/missing", "v1")


async def test_unknown_tag_is_not_found(
    target: tuple[Server, Pushed], http: httpx.AsyncClient
) -> None:
    server, pushed = target
    client = _client(server, http)
    with pytest.raises(NotFound, match=f"tag v9 not found in repository {pushed.repo}"):
        await client.manifest_digest(pushed.repo, "v9")


async def test_connection_summaries(
    registry: RegistryServer, token_registry: TokenRegistryServer, http: httpx.AsyncClient
) -> None:
    basic = await _client(registry, http).test_connection()
    token = await _client(token_registry, http).test_connection()
    assert basic == f"Connected to {registry.host}: signed in as 'tester' with basic auth"
    assert token == f"Connected to {token_registry.host}: signed in as 'token-tester' with a token"


async def test_stopped_registry_is_cannot_connect(tmp_path: Path, http: httpx.AsyncClient) -> None:
    auth = basic_auth_config(tmp_path, "stopper", "stopper-pw")
    with run_registry(tmp_path, auth) as url:
        client = RegistryClient(
            url, credentials=RegistryCredentials("stopper", "stopper-pw"), http=http
        )
        await client.test_connection()
    with pytest.raises(
        CannotConnect, match=f"cannot reach registry at {url.removeprefix('http://')}"
    ):
        await client.list_tags("demo/app")


async def test_one_token_request_covers_a_poll_of_many_repositories(
    docker_client: DockerClient, token_registry: TokenRegistryServer, http: httpx.AsyncClient
) -> None:
    repos = [_push(docker_client, token_registry, ["dev-1"]).repo for _ in range(3)]
    now = [1000.0]
    credentials = RegistryCredentials(token_registry.username, token_registry.password)
    client = RegistryClient(
        token_registry.url, credentials=credentials, http=http, clock=lambda: now[0]
    )
    for repo in repos:  # a first cycle: learns the realm, one token per repository
        assert await client.list_tags(repo) == ["dev-1"]
    now[0] += 3600  # the next cycle: every token has expired
    before = client.requests_made

    await client.prefetch_tokens(repos)
    for repo in repos:
        assert await client.list_tags(repo) == ["dev-1"]

    assert client.requests_made - before == 1 + len(repos)
