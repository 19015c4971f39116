"""services/auth/oidc.py against the real test provider on loopback (no browser, no routes yet).

The browser's part of the round trip is played by httpx: follow the authorization URL, read the
code and state from the provider's redirect, hand them to `finish`. Each negative case of the
sign-in is its own test and must be refused with a message that says what was wrong.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from services.auth.oidc import OidcClient, OidcClientConfig, OidcRefused, PendingSignIn
from services.errors import CannotConnect, WrongService
from tests.support.oidc_provider import OidcProvider

REDIRECT_URI = "http://127.0.0.1:9/api/auth/oidc/callback"


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with OidcProvider() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def client_for(provider: OidcProvider, http: httpx.AsyncClient, **config: str) -> OidcClient:
    settings = {
        "discovery_url": provider.discovery_url,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        **config,
    }
    return OidcClient(OidcClientConfig(**settings), http)


async def approve(http: httpx.AsyncClient, pending: PendingSignIn) -> dict[str, str]:
    """What the browser would bring back to the callback: the redirect's query parameters."""
    reply = await http.get(pending.url)
    assert reply.status_code == 302, reply.text
    location = urlsplit(reply.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return {key: values[0] for key, values in parse_qs(location.query).items()}


async def sign_in(client: OidcClient, http: httpx.AsyncClient) -> dict[str, object]:
    pending = await client.begin(REDIRECT_URI)
    identity = await client.finish(pending, await approve(http, pending))
    return dict(identity.claims)


async def test_a_sign_in_gives_the_verified_identity(
    provider: OidcProvider, http: httpx.AsyncClient
) -> None:
    client = client_for(provider, http)
    pending = await client.begin(REDIRECT_URI)

    query = parse_qs(urlsplit(pending.url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] == [pending.state]
    assert query["nonce"] == [pending.nonce]
    assert query["code_challenge"][0] != pending.code_verifier
    identity = await client.finish(pending, await approve(http, pending))

    assert identity.issuer == provider.issuer
    assert identity.subject == provider.user.sub
    assert identity.claims["email"] == provider.user.email
    assert identity.claims["groups"] == provider.user.groups
    assert provider.auth_methods_used == ["client_secret_basic"]
    assert provider.counters.userinfo == 0  # the ID token had every claim


async def test_client_secret_post_when_the_provider_only_takes_that(
    http: httpx.AsyncClient,
) -> None:
    with OidcProvider(auth_methods=("client_secret_post",)) as provider:
        claims = await sign_in(client_for(provider, http), http)

        assert claims["sub"] == provider.user.sub
        assert provider.auth_methods_used == ["client_secret_post"]


async def test_the_discovery_document_is_fetched_once(
    provider: OidcProvider, http: httpx.AsyncClient
) -> None:
    client = client_for(provider, http)

    await sign_in(client, http)
    await sign_in(client, http)

    assert provider.counters.discovery == 1
    assert provider.counters.jwks == 1


async def test_wrong_state_is_refused(provider: OidcProvider, http: httpx.AsyncClient) -> None:
    client = client_for(provider, http)
    pending = await client.begin(REDIRECT_URI)
    callback = await approve(http, pending)

    with pytest.raises(OidcRefused, match="state does not match"):
        await client.finish(pending, {**callback, "state": "forged"})
    assert provider.counters.token == 0  # the code was never redeemed


async def test_a_replayed_code_is_refused(provider: OidcProvider, http: httpx.AsyncClient) -> None:
    client = client_for(provider, http)
    pending = await client.begin(REDIRECT_URI)
    callback = await approve(http, pending)
    await client.finish(pending, callback)

    with pytest.raises(OidcRefused, match="invalid_grant") as refused:
        await client.finish(pending, callback)
    assert callback["code"] not in str(refused.value)
    assert provider.client_secret not in str(refused.value)


async def test_a_provider_error_on_the_callback_is_refused(
    provider: OidcProvider, http: httpx.AsyncClient
) -> None:
    client = client_for(provider, http)
    pending = await client.begin(REDIRECT_URI)

    with pytest.raises(OidcRefused, match="access_denied"):
        await client.finish(pending, {"state": pending.state, "error": "access_denied"})


async def test_wrong_nonce_is_refused(provider: OidcProvider, http: httpx.AsyncClient) -> None:
    provider.faults.wrong_nonce = True

    with pytest.raises(OidcRefused, match="nonce does not match"):
        await sign_in(client_for(provider, http), http)


async def test_wrong_audience_is_refused(provider: OidcProvider, http: httpx.AsyncClient) -> None:
    provider.faults.audience = "another-client"

    with pytest.raises(OidcRefused, match="another client"):
        await sign_in(client_for(provider, http), http)


async def test_an_expired_id_token_is_refused(
    provider: OidcProvider, http: httpx.AsyncClient
) -> None:
    provider.faults.expired = True

    with pytest.raises(OidcRefused, match="expired"):
        await sign_in(client_for(provider, http), http)


async def test_an_unknown_key_refetches_the_jwks_once_then_refuses(
    provider: OidcProvider, http: httpx.AsyncClient
) -> None:
    client = client_for(provider, http)
    await sign_in(client, http)
    provider.faults.unknown_key = True

    with pytest.raises(OidcRefused, match="key the provider does not publish"):
        await sign_in(client, http)
    assert provider.counters.jwks == 2  # the cached set, then exactly one refetch


async def test_a_rotated_key_is_picked_up_by_one_refetch(
    provider: OidcProvider, http: httpx.AsyncClient
) -> None:
    client = client_for(provider, http)
    await sign_in(client, http)
    new_kid = provider.rotate_key()
    provider.retire_key(provider.keys[0].kid)

    pending = await client.begin(REDIRECT_URI)
    identity = await client.finish(pending, await approve(http, pending))

    assert identity.subject == provider.user.sub
    assert provider.counters.jwks == 2
    assert [key.kid for key in provider.keys] == [new_kid]


async def test_a_thin_id_token_is_completed_from_userinfo(
    provider: OidcProvider, http: httpx.AsyncClient
) -> None:
    provider.faults.thin_id_token = True

    claims = await sign_in(client_for(provider, http), http)

    assert provider.counters.userinfo == 1
    assert claims["email"] == provider.user.email
    assert claims["groups"] == provider.user.groups


async def test_a_provider_that_is_down_is_a_clear_connection_error(
    http: httpx.AsyncClient,
) -> None:
    with OidcProvider() as provider:
        client = client_for(provider, http)
        provider.stop()

        with pytest.raises(CannotConnect, match="could not be reached") as refused:
            await client.begin(REDIRECT_URI)
    assert provider.client_secret not in str(refused.value)


async def test_a_provider_going_down_mid_sign_in_is_a_connection_error(
    http: httpx.AsyncClient,
) -> None:
    with OidcProvider() as provider:
        client = client_for(provider, http)
        pending = await client.begin(REDIRECT_URI)
        callback = await approve(http, pending)
        provider.stop()

        with pytest.raises(CannotConnect):
            await client.finish(pending, callback)


async def test_a_discovery_document_of_another_issuer_is_refused(
    provider: OidcProvider, http: httpx.AsyncClient
) -> None:
    other_host = provider.discovery_url.replace("127.0.0.1", "localhost")
    client = client_for(provider, http, discovery_url=other_host)

    with pytest.raises(WrongService, match="another issuer"):
        await client.begin(REDIRECT_URI)


async def test_an_hmac_signed_id_token_is_refused(
    provider: OidcProvider, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token keyed with the client secret (alg confusion) never verifies."""

    def hmac_token(nonce: str | None) -> str:
        claims = {"iss": provider.issuer, "aud": provider.client_id, "sub": "x", "nonce": nonce}
        return jwt.encode(claims, provider.client_secret * 2, algorithm="HS256")

    monkeypatch.setattr(provider, "id_token", hmac_token)

    with pytest.raises(OidcRefused, match="algorithm"):
        await sign_in(client_for(provider, http), http)


async def test_a_non_ascii_state_is_refused_not_crashed(
    provider: OidcProvider, http: httpx.AsyncClient
) -> None:
    """The callback's query is the browser's to write: any text must get a plain refusal."""
    client = client_for(provider, http)
    pending = await client.begin(REDIRECT_URI)
    callback = await approve(http, pending)

    with pytest.raises(OidcRefused, match="state does not match"):
        await client.finish(pending, {**callback, "state": "état"})


async def test_openid_is_always_requested(provider: OidcProvider, http: httpx.AsyncClient) -> None:
    client = OidcClient(
        OidcClientConfig(
            discovery_url=provider.discovery_url,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            scopes=("profile", "email"),
        ),
        http,
    )

    claims = await sign_in(client, http)

    assert claims["sub"] == provider.user.sub


async def test_a_huge_provider_answer_is_refused(
    provider: OidcProvider, http: httpx.AsyncClient
) -> None:
    provider.faults.discovery_padding = 2 * 1024 * 1024

    with pytest.raises(WrongService, match="too large"):
        await client_for(provider, http).begin(REDIRECT_URI)


async def test_several_audiences_need_us_as_the_authorized_party(
    provider: OidcProvider, http: httpx.AsyncClient
) -> None:
    provider.faults.extra_audience = "another-client"
    client = client_for(provider, http)

    with pytest.raises(OidcRefused, match="several audiences"):
        await sign_in(client, http)
    provider.faults.azp = provider.client_id
    assert (await sign_in(client, http))["sub"] == provider.user.sub
