"""Sign-in with an OpenID Connect provider: the relying-party side, without pages or routes.

`OidcClient.begin` makes the authorization request (fresh `state`, `nonce` and a PKCE S256
verifier); the caller keeps the returned `PendingSignIn` on the server side and sends the browser
to its URL. `OidcClient.finish` takes the callback's query: it checks `state`, redeems the code,
verifies the ID token against the provider's JWKS (issuer, audience, expiry, nonce) and fills
missing profile claims from `userinfo`.

Any provider works from its discovery URL. The discovery document is cached for a while; the key
set is cached until a token names a `kid` it lacks, which refetches it once (key rotation) and
then refuses. Authlib builds the authorization URL and the PKCE challenge; PyJWT checks the
token. Every refusal is an `OidcRefused` whose message says what was wrong and holds no token,
code or secret.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import httpx
import jwt
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from services.auth.oidc_keys import KeyCache, OidcRefused, fetch_json
from services.errors import WrongService

__all__ = ["OidcClient", "OidcClientConfig", "OidcIdentity", "OidcRefused", "PendingSignIn"]

Clock = Callable[[], float]
DISCOVERY_TTL = 3600.0  # seconds a discovery document is reused
CLOCK_LEEWAY = 30  # seconds of skew tolerated on exp/iat
# Asymmetric algorithms only: "none" and the HMAC family (keyed with the client secret) are out.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
DEFAULT_SCOPES = ("openid", "profile", "email")
DEFAULT_PROFILE_CLAIMS = ("preferred_username", "email", "email_verified", "groups")


@dataclass(frozen=True)
class OidcClientConfig:
    """What an admin configures: the provider's discovery URL and this client's registration."""

    discovery_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: Sequence[str] = DEFAULT_SCOPES
    # Claims wanted for sign-in decisions; any missing from the ID token sends us to userinfo.
    profile_claims: Sequence[str] = DEFAULT_PROFILE_CLAIMS


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of the discovery document this client uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    algorithms: tuple[str, ...]
    basic_auth: bool  # client_secret_basic allowed (else client_secret_post)


@dataclass(frozen=True)
class PendingSignIn:
    """One started sign-in; kept server-side until the callback. Never shown to anyone."""

    url: str
    state: str = field(repr=False)
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    redirect_uri: str


@dataclass(frozen=True)
class OidcIdentity:
    """Who the provider vouched for: the verified ID token's claims, topped up from userinfo."""

    issuer: str
    subject: str
    claims: Mapping[str, Any]


class OidcClient:
    """The relying party for one configured provider."""

    def __init__(
        self, config: OidcClientConfig, http: httpx.AsyncClient, *, clock: Clock = time.monotonic
    ) -> None:
        self._config = config
        self._http = http
        self._clock = clock
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._keys = KeyCache(http)

    async def metadata(self) -> ProviderMetadata:
        """The discovery document, fetched once per `DISCOVERY_TTL` (failures are not cached)."""
        cached = self._metadata
        if cached is not None and self._clock() - cached[0] < DISCOVERY_TTL:
            return cached[1]
        document = await fetch_json(self._http, self._config.discovery_url, "discovery document")
        metadata = parse_metadata(self._config.discovery_url, document)
        self._metadata = (self._clock(), metadata)
        return metadata

    async def begin(self, redirect_uri: str) -> PendingSignIn:
        """Start a sign-in: the provider URL to send the browser to, and the secrets to keep."""
        metadata = await self.metadata()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        url = prepare_grant_uri(
            metadata.authorization_endpoint,
            self._config.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=" ".join(["openid", *(s for s in self._config.scopes if s != "openid")]),
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return PendingSignIn(str(url), state, nonce, verifier, redirect_uri)

    async def finish(self, pending: PendingSignIn, callback: Mapping[str, str]) -> OidcIdentity:
        """Complete a sign-in from the callback's query parameters, or raise `OidcRefused`."""
        if not _same(callback.get("state", ""), pending.state):
            raise OidcRefused("the sign-in state does not match; start the sign-in again")
        if "error" in callback:
            raise OidcRefused(f"the provider refused the sign-in ({_short(callback['error'])})")
        code = callback.get("code", "")
        if not code:
            raise OidcRefused("the provider sent no authorization code")
        metadata = await self.metadata()
        tokens = await self._redeem(metadata, pending, code)
        claims = await self._verify_id_token(metadata, tokens.get("id_token"), pending.nonce)
        missing = [name for name in self._config.profile_claims if name not in claims]
        if missing and metadata.userinfo_endpoint and isinstance(tokens.get("access_token"), str):
            claims = await self._with_userinfo(metadata.userinfo_endpoint, tokens, claims)
        return OidcIdentity(issuer=metadata.issuer, subject=str(claims["sub"]), claims=claims)

    async def _redeem(
        self, metadata: ProviderMetadata, pending: PendingSignIn, code: str
    ) -> dict[str, Any]:
        """The token request: the code, our PKCE verifier and this client's credentials."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "code_verifier": pending.code_verifier,
        }
        client_id, secret = self._config.client_id, self._config.client_secret
        headers: dict[str, str] = {}
        if metadata.basic_auth:
            headers["Authorization"] = basic_authorization(client_id, secret)
        else:
            form |= {"client_id": client_id, "client_secret": secret}
        return await fetch_json(
            self._http, metadata.token_endpoint, "token endpoint", data=form, headers=headers
        )

    async def _verify_id_token(
        self, metadata: ProviderMetadata, token: object, nonce: str
    ) -> dict[str, Any]:
        """Signature (against the JWKS), issuer, audience, expiry and nonce of the ID token."""
        if not isinstance(token, str) or not token:
            raise OidcRefused("the provider sent no ID token")
        key = await self._keys.key_for(metadata.jwks_uri, token, metadata.algorithms)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(metadata.algorithms),
                audience=self._config.client_id,
                issuer=metadata.issuer,
                leeway=CLOCK_LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise OidcRefused("the ID token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise OidcRefused("the ID token was issued for another client (audience)") from exc
        except jwt.InvalidIssuerError as exc:
            raise OidcRefused("the ID token was issued by another issuer") from exc
        except jwt.InvalidSignatureError as exc:
            raise OidcRefused("the ID token's signature does not verify") from exc
        except jwt.PyJWTError as exc:
            raise OidcRefused(f"the ID token is not valid ({type(exc).__name__})") from exc
        if not _same(str(claims.get("nonce", "")), nonce):
            raise OidcRefused("the ID token's nonce does not match this sign-in")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self._config.client_id:
            # Shared with other clients: only valid when it names us as the authorized party.
            raise OidcRefused("the ID token names several audiences but not us as its party")
        return claims

    async def _with_userinfo(
        self, endpoint: str, tokens: Mapping[str, Any], claims: dict[str, Any]
    ) -> dict[str, Any]:
        """Claims the ID token lacked, from userinfo; its `sub` must be the ID token's."""
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        info = await fetch_json(self._http, endpoint, "userinfo endpoint", headers=headers)
        if info.get("sub") != claims["sub"]:
            raise OidcRefused("the userinfo answer is about another user")
        return {**info, **claims}


def parse_metadata(discovery_url: str, document: Mapping[str, Any]) -> ProviderMetadata:
    """Check a discovery document; its issuer must be the one the discovery URL belongs to."""
    required = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    missing = [name for name in required if not isinstance(document.get(name), str)]
    if missing:
        raise WrongService(f"the discovery document lacks {', '.join(missing)}")
    issuer = str(document["issuer"])
    if discovery_url.rstrip("/") != f"{issuer.rstrip('/')}/.well-known/openid-configuration":
        raise WrongService(f"the discovery document names another issuer ({_short(issuer)})")
    offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = tuple(alg for alg in SIGNING_ALGORITHMS if alg in offered)
    if not algorithms:
        raise WrongService("the provider signs ID tokens with no algorithm we accept")
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    userinfo = document.get("userinfo_endpoint")
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=str(document["authorization_endpoint"]),
        token_endpoint=str(document["token_endpoint"]),
        jwks_uri=str(document["jwks_uri"]),
        userinfo_endpoint=userinfo if isinstance(userinfo, str) else None,
        algorithms=algorithms,
        basic_auth="client_secret_basic" in methods,
    )


def basic_authorization(client_id: str, secret: str) -> str:
    """client_secret_basic: both parts form-url-encoded before base64, as OAuth 2.0 says."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    return f"Basic {base64.b64encode(pair.encode()).decode()}"


def _same(received: str, expected: str) -> bool:
    """Constant-time equality for any text (compare_digest on str takes only ASCII)."""
    return secrets.compare_digest(received.encode(), expected.encode())


def _short(value: object) -> str:
    """A provider-supplied word, cut short and printable, for an error message."""
    text = "".join(ch for ch in str(value) if ch.isprintable())
    return text[:60]
