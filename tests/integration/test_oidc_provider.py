"""The test OIDC provider itself, driven through plain httpx over loopback.

The sign-in tests lean on it to say no in the right places, so these tests check that it does:
PKCE, one-time codes, client authentication, and each fault switch bending the ID token the way
its name says (checked with PyJWT against the provider's published JWKS).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from tests.support.oidc_provider import OidcProvider, s256

REDIRECT_URI = "http://127.0.0.1:9/api/auth/oidc/callback"


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with OidcProvider() as running:
        yield running


def authorize(provider: OidcProvider, verifier: str, nonce: str = "n-1") -> str:
    """Run the authorization request and return the code from the redirect."""
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email",
        "state": "s-1",
        "nonce": nonce,
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
    }
    reply = httpx.get(f"{provider.issuer}/authorize", params=params)
    assert reply.status_code == 302, reply.text
    location = urlsplit(reply.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = parse_qs(location.query)
    assert query["state"] == ["s-1"]
    return query["code"][0]


def exchange(provider: OidcProvider, code: str, verifier: str, **extra: str) -> httpx.Response:
    """Redeem a code with client_secret_post."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        **extra,
    }
    return httpx.post(f"{provider.issuer}/token", data=form)


def id_token_for(provider: OidcProvider, nonce: str = "n-1") -> str:
    verifier = secrets.token_urlsafe(48)
    reply = exchange(provider, authorize(provider, verifier, nonce), verifier)
    assert reply.status_code == 200, reply.text
    token: str = reply.json()["id_token"]
    return token


def verify(provider: OidcProvider, token: str) -> dict[str, Any]:
    """Verify an ID token the way a relying party must, against the published JWKS."""
    jwks = jwt.PyJWKSet.from_dict(httpx.get(f"{provider.issuer}/jwks").json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next((k for k in jwks.keys if k.key_id == kid), None)
    if key is None:
        raise LookupError(f"kid {kid} is not in the JWKS")
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=provider.client_id, issuer=provider.issuer
    )
    return claims


def test_discovery_names_every_endpoint_on_the_issuer(provider: OidcProvider) -> None:
    meta = httpx.get(provider.discovery_url).json()

    assert meta["issuer"] == provider.issuer
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert meta[name].startswith(provider.issuer + "/")
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert provider.counters.discovery == 1


def test_code_flow_gives_a_verifiable_id_token_and_userinfo(provider: OidcProvider) -> None:
    verifier = secrets.token_urlsafe(48)
    reply = exchange(provider, authorize(provider, verifier, nonce="nonce-42"), verifier)

    assert reply.status_code == 200
    body = reply.json()
    claims = verify(provider, body["id_token"])
    assert claims["nonce"] == "nonce-42"
    assert claims["sub"] == provider.user.sub
    assert claims["email"] == provider.user.email
    info = httpx.get(
        f"{provider.issuer}/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert info.status_code == 200
    assert info.json()["groups"] == provider.user.groups


def test_client_secret_basic_is_accepted_and_a_wrong_secret_is_not(
    provider: OidcProvider,
) -> None:
    verifier = secrets.token_urlsafe(48)
    form = {
        "grant_type": "authorization_code",
        "code": authorize(provider, verifier),
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    wrong = httpx.post(f"{provider.issuer}/token", data=form, auth=(provider.client_id, "nope"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"

    form["code"] = authorize(provider, verifier)
    right = httpx.post(
        f"{provider.issuer}/token", data=form, auth=(provider.client_id, provider.client_secret)
    )
    assert right.status_code == 200, right.text


def test_a_code_is_redeemed_once(provider: OidcProvider) -> None:
    verifier = secrets.token_urlsafe(48)
    code = authorize(provider, verifier)

    assert exchange(provider, code, verifier).status_code == 200
    replay = exchange(provider, code, verifier)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_a_wrong_pkce_verifier_is_refused_and_burns_the_code(provider: OidcProvider) -> None:
    verifier = secrets.token_urlsafe(48)
    code = authorize(provider, verifier)

    wrong = exchange(provider, code, secrets.token_urlsafe(48))
    assert wrong.status_code == 400
    assert wrong.json()["error_description"] == "PKCE verification failed"
    assert exchange(provider, code, verifier).status_code == 400


def test_an_authorization_request_without_pkce_is_refused(provider: OidcProvider) -> None:
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": "s",
    }
    reply = httpx.get(f"{provider.issuer}/authorize", params=params)

    assert reply.status_code == 400
    assert "PKCE" in reply.text


def test_the_login_form_signs_in_only_the_right_password() -> None:
    with OidcProvider(login_form=True) as provider:
        verifier = secrets.token_urlsafe(48)
        request = {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid",
            "state": 'st"<ate>',
            "nonce": "n",
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        }
        page = httpx.get(f"{provider.issuer}/authorize", params=request)
        assert page.status_code == 200
        assert 'name="username"' in page.text
        assert "&quot;&lt;ate&gt;" in page.text  # request values are escaped into the form

        user = provider.user
        bad = httpx.post(
            f"{provider.issuer}/authorize",
            data={**request, "username": user.username, "password": "wrong-é"},
        )
        assert bad.status_code == 200
        assert "Wrong username or password." in bad.text

        good = httpx.post(
            f"{provider.issuer}/authorize",
            data={**request, "username": user.username, "password": user.password},
        )
        assert good.status_code == 302
        back = parse_qs(urlsplit(good.headers["Location"]).query)
        assert back["state"] == ['st"<ate>']
        assert exchange(provider, back["code"][0], verifier).status_code == 200


def test_wrong_nonce_fault(provider: OidcProvider) -> None:
    provider.faults.wrong_nonce = True

    claims = verify(provider, id_token_for(provider, nonce="mine"))

    assert claims["nonce"] != "mine"


def test_wrong_audience_fault(provider: OidcProvider) -> None:
    provider.faults.audience = "another-client"

    with pytest.raises(jwt.InvalidAudienceError):
        verify(provider, id_token_for(provider))


def test_expired_fault(provider: OidcProvider) -> None:
    provider.faults.expired = True

    with pytest.raises(jwt.ExpiredSignatureError):
        verify(provider, id_token_for(provider))


def test_unknown_key_fault(provider: OidcProvider) -> None:
    provider.faults.unknown_key = True

    with pytest.raises(LookupError, match="not in the JWKS"):
        verify(provider, id_token_for(provider))


def test_thin_id_token_leaves_the_profile_to_userinfo(provider: OidcProvider) -> None:
    provider.faults.thin_id_token = True

    claims = verify(provider, id_token_for(provider))

    assert "email" not in claims
    assert "groups" not in claims
    assert claims["sub"] == provider.user.sub


def test_rotation_publishes_the_new_key_and_signs_with_it(provider: OidcProvider) -> None:
    old_kid = provider.keys[0].kid
    new_kid = provider.rotate_key()

    token = id_token_for(provider)

    assert jwt.get_unverified_header(token)["kid"] == new_kid
    published = {key["kid"] for key in httpx.get(f"{provider.issuer}/jwks").json()["keys"]}
    assert published == {old_kid, new_kid}
    assert verify(provider, token)["sub"] == provider.user.sub


def test_a_stopped_provider_refuses_connections() -> None:
    with OidcProvider() as provider:
        url = provider.discovery_url
        provider.stop()

        with pytest.raises(httpx.ConnectError):
            httpx.get(url)
