"""The harness end to end: images pushed to real registries come back intact, with auth enforced.

These tests guard the fixtures everyone else builds on: if they fail, suspect the environment
(Engine, registry, token server) before the product code.
"""

from __future__ import annotations

import base64
import re
import uuid

import docker.errors
import httpx
import jwt
import pytest
from cryptography import x509
from docker import DockerClient

from tests.support.images import push_test_image
from tests.support.registry_server import RegistryServer, TokenRegistryServer
from tests.support.token_server import Scope, TokenIssuer, TokenServer, parse_scopes

MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)
CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def unique_repo(prefix: str) -> str:
    """A repository no other test writes to, so tag lists can be compared exactly."""
    return f"roundtrip/{prefix}-{uuid.uuid4().hex[:8]}"


def push_tags(
    client: DockerClient, registry: RegistryServer | TokenRegistryServer, repo: str, tags: list[str]
) -> dict[str, str]:
    """Push one image per tag; returns tag → manifest digest."""
    return {tag: push_test_image(client, registry, repo, tag) for tag in tags}


def bearer_challenge(response: httpx.Response) -> dict[str, str]:
    """The parameters of a ``WWW-Authenticate: Bearer ...`` answer."""
    header = response.headers["WWW-Authenticate"]
    assert header.startswith("Bearer "), header
    return dict(CHALLENGE_PARAM.findall(header))


def test_basic_registry_lists_heads_and_pulls_back(
    docker_client: DockerClient, registry: RegistryServer
) -> None:
    repo, tags = unique_repo("basic"), ["dev-1", "dev-2", "v1.0.0"]
    digests = push_tags(docker_client, registry, repo, tags)
    assert len(set(digests.values())) == len(tags), "each tag must get its own digest"

    with httpx.Client(base_url=registry.url, timeout=10) as http:
        auth = (registry.username, registry.password)
        listed = http.get(f"/v2/{repo}/tags/list", auth=auth)
        head = http.head(
            f"/v2/{repo}/manifests/dev-2", auth=auth, headers={"Accept": MANIFEST_ACCEPT}
        )
        anonymous = http.get(f"/v2/{repo}/tags/list")
        wrong = http.get(f"/v2/{repo}/tags/list", auth=(registry.username, "wrong"))

    assert listed.status_code == 200
    assert listed.json()["name"] == repo
    assert sorted(listed.json()["tags"]) == sorted(tags)
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == digests["dev-2"]
    assert (anonymous.status_code, wrong.status_code) == (401, 401)


def test_image_removed_locally_is_pulled_back_with_auth(
    docker_client: DockerClient, registry: RegistryServer
) -> None:
    repo = unique_repo("pull")
    digest = push_test_image(docker_client, registry, repo, "v2", variant="nohealth")
    ref = f"{registry.host}/{repo}:v2"
    image_id = docker_client.images.get(ref).id
    docker_client.images.remove(ref)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(ref)

    credentials = {"username": registry.username, "password": registry.password}
    pulled = docker_client.images.pull(f"{registry.host}/{repo}", tag="v2", auth_config=credentials)

    assert pulled.id == image_id
    assert f"{registry.host}/{repo}@{digest}" in pulled.attrs["RepoDigests"]
    assert pulled.attrs["Config"].get("Healthcheck") is None
    assert pulled.attrs["Config"]["ExposedPorts"] == {"8080/tcp": {}}


def test_token_registry_challenge_token_and_tag_list(
    docker_client: DockerClient, token_registry: TokenRegistryServer
) -> None:
    repo, tags = unique_repo("token"), ["dev-a", "dev-b"]
    digests = push_tags(docker_client, token_registry, repo, tags)

    with httpx.Client(base_url=token_registry.url, timeout=10) as http:
        challenged = http.get(f"/v2/{repo}/tags/list")
        challenge = bearer_challenge(challenged)
        assert challenged.status_code == 401
        assert challenge["realm"] == token_registry.token_url
        assert challenge["scope"] == f"repository:{repo}:pull"

        params = {"service": challenge["service"], "scope": challenge["scope"]}
        auth = (token_registry.username, token_registry.password)
        token = http.get(challenge["realm"], params=params, auth=auth).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        listed = http.get(f"/v2/{repo}/tags/list", headers=bearer)
        head = http.head(
            f"/v2/{repo}/manifests/dev-b", headers={**bearer, "Accept": MANIFEST_ACCEPT}
        )

    assert listed.status_code == 200
    assert sorted(listed.json()["tags"]) == sorted(tags)
    assert head.headers["Docker-Content-Digest"] == digests["dev-b"]


def test_token_registry_refuses_wrong_password(
    docker_client: DockerClient, token_registry: TokenRegistryServer
) -> None:
    params = {"service": "test-registry", "scope": "repository:roundtrip/any:pull"}
    wrong = httpx.get(
        token_registry.token_url, params=params, auth=(token_registry.username, "wrong"), timeout=10
    )
    assert wrong.status_code == 401

    with pytest.raises(docker.errors.APIError) as refused:
        docker_client.login(
            username=token_registry.username,
            password="wrong",
            registry=token_registry.host,
            reauth=True,
        )
    # Engine 20.10 answers 500 with the registry's 401 inside the message.
    assert "unauthorized" in str(refused.value).lower()


def test_anonymous_token_grants_nothing_and_registry_says_insufficient_scope(
    token_registry: TokenRegistryServer,
) -> None:
    repo = unique_repo("anon")
    params = {"service": "test-registry", "scope": f"repository:{repo}:pull"}
    with httpx.Client(timeout=10) as http:
        token = http.get(token_registry.token_url, params=params).json()["token"]
        refused = http.get(
            f"{token_registry.url}/v2/{repo}/tags/list",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert jwt.decode(token, options={"verify_signature": False})["access"] == []
    assert refused.status_code == 401
    assert bearer_challenge(refused)["error"] == "insufficient_scope"


# The token server alone, without Docker or a registry.


def test_token_server_refuses_wrong_password_and_grants_the_right_one() -> None:
    issuer = TokenIssuer(users={"alice": "s3cret"})
    query = {"service": "test-registry", "scope": "repository:demo/app:pull,push"}
    with TokenServer(issuer) as server, httpx.Client(timeout=5) as http:
        wrong = http.get(server.token_url, params=query, auth=("alice", "nope"))
        unknown = http.get(server.token_url, params=query, auth=("mallory", "s3cret"))
        right = http.get(server.token_url, params=query, auth=("alice", "s3cret"))

    assert (wrong.status_code, unknown.status_code) == (401, 401)
    assert "token" not in wrong.text
    body = right.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] > 0 and body["issued_at"].endswith("Z")
    claims = jwt.decode(
        body["token"], issuer.key.public_key(), algorithms=["RS256"], audience="test-registry"
    )
    assert isinstance(claims["aud"], str)
    assert all(isinstance(claims[k], int) for k in ("exp", "nbf", "iat"))
    assert claims["access"] == [
        {"type": "repository", "name": "demo/app", "actions": ["pull", "push"]}
    ]
    (x5c,) = jwt.get_unverified_header(body["token"])["x5c"]
    assert x509.load_der_x509_certificate(base64.standard_b64decode(x5c)) == issuer.certificate


def test_scope_parsing_handles_repeated_and_space_separated_scopes() -> None:
    scopes = parse_scopes(
        ["repository:a/b:pull", "repository:c:push,pull registry:catalog:*", "junk"]
    )
    assert scopes == [
        Scope("repository", "a/b", ("pull",)),
        Scope("repository", "c", ("push", "pull")),
        Scope("registry", "catalog", ("*",)),
    ]
