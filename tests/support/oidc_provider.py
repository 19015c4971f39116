"""A small but real OpenID Connect provider on 127.0.0.1, for the sign-in tests.

It serves what a relying party meets at Gitea, Authentik or Keycloak: discovery
(``/.well-known/openid-configuration``), a JWKS of RSA keys made at start, an authorization
endpoint, a token endpoint (authorization code only, PKCE S256 required, codes usable once,
``client_secret_basic`` or ``client_secret_post``) and ``userinfo``. It is a real HTTP server
answering real requests, never a mock of our client.

The authorization endpoint either approves the configured user at once (API-level tests) or,
with ``login_form=True``, shows a tiny HTML form a headless browser fills in.

``Faults`` switches on the bad answers a client must refuse: an ID token with a wrong nonce, for
another audience, already expired, or signed by a key the JWKS does not publish; a thin ID token
whose claims only ``userinfo`` has. ``rotate_key`` publishes a new key and signs with it from then
on; ``stop`` takes the whole provider down (the port then refuses connections).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ID_TOKEN_LIFETIME = 300
CODE_LIFETIME = 60
CLIENT_ID = "docker-watcher"
CLIENT_SECRET = "client-secret-value"
# Claims a thin ID token leaves out, so the client has to ask userinfo for them.
PROFILE_CLAIMS = ("preferred_username", "name", "email", "email_verified", "groups")


@dataclass
class TestUser:
    """The person the provider signs in; ``groups`` lands in the ``groups`` claim."""

    __test__ = False  # a dataclass named Test*: not a pytest test class

    sub: str = "user-1"
    username: str = "alice"
    password: str = "alice-password"
    email: str = "alice@example.test"
    email_verified: bool = True
    name: str = "Alice Example"
    groups: list[str] = field(default_factory=lambda: ["watchers"])

    def claims(self) -> dict[str, Any]:
        """The profile claims, shared by the ID token and userinfo."""
        return {
            "sub": self.sub,
            "preferred_username": self.username,
            "name": self.name,
            "email": self.email,
            "email_verified": self.email_verified,
            "groups": list(self.groups),
        }


@dataclass
class Faults:
    """Switches for the negative cases; each bends the next ID tokens the provider issues."""

    wrong_nonce: bool = False
    audience: str | None = None  # an ``aud`` other than the client id
    extra_audience: str | None = None  # ``aud`` becomes [client id, this]
    azp: str | None = None  # the authorized party claim, absent unless set
    expired: bool = False
    unknown_key: bool = False  # signed by a key the JWKS never publishes
    thin_id_token: bool = False  # profile claims only in userinfo
    discovery_padding: int = 0  # bytes of filler in the discovery document (a huge answer)


@dataclass
class SigningKey:
    """One RSA key and the ``kid`` that names it in the JWKS and in token headers."""

    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh 2048-bit key with a random kid."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid=secrets.token_hex(8), private=private)

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK, as it appears in the JWKS."""
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }


@dataclass
class _Grant:
    """What an authorization code stands for until the token endpoint redeems it."""

    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str
    expires_at: float


@dataclass
class Counters:
    """How often each endpoint was called, so tests can see caching and the kid refetch."""

    discovery: int = 0
    jwks: int = 0
    authorize: int = 0
    token: int = 0
    userinfo: int = 0


class OidcProvider:
    """The provider: state, signing and the HTTP server in a background thread.

    Use it as a context manager. ``issuer`` is the base URL (``http://127.0.0.1:PORT``).
    """

    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        user: TestUser | None = None,
        login_form: bool = False,
        auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post"),
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.user = user or TestUser()
        self.login_form = login_form
        self.auth_methods = auth_methods
        self.faults = Faults()
        self.counters = Counters()
        self.auth_methods_used: list[str] = []
        self.keys = [SigningKey.generate()]
        self._stray_key: SigningKey | None = None  # made on first use: RSA keys are slow
        self._codes: dict[str, _Grant] = {}
        self._access_tokens: dict[str, float] = {}
        self._lock = threading.Lock()
        self._httpd = _ProviderHTTPServer(("127.0.0.1", 0), _ProviderHandler)
        self._httpd.provider = self
        # A short poll interval lets stop() return quickly (the default makes it wait 0.5 s).
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._running = False

    # -- the outside view --------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        """The issuer and base URL, e.g. ``http://127.0.0.1:41234``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def discovery_url(self) -> str:
        """What a person pastes into the settings page."""
        return f"{self.issuer}/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        """The discovery document."""
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "groups"],
            "token_endpoint_auth_methods_supported": list(self.auth_methods),
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", *PROFILE_CLAIMS],
            **(
                {"padding": "x" * self.faults.discovery_padding}
                if self.faults.discovery_padding
                else {}
            ),
        }

    def jwks(self) -> dict[str, Any]:
        """Every published key (after a rotation, the old ones too)."""
        with self._lock:
            return {"keys": [key.public_jwk() for key in self.keys]}

    # -- test controls -----------------------------------------------------------------------

    def rotate_key(self) -> str:
        """Publish a new key and sign every later token with it; returns its kid."""
        key = SigningKey.generate()
        with self._lock:
            self.keys.append(key)
        return key.kid

    def retire_key(self, kid: str) -> None:
        """Stop publishing a key (it stays unusable for signing too)."""
        with self._lock:
            self.keys = [key for key in self.keys if key.kid != kid]

    def stop(self) -> None:
        """Take the provider down: the port stops answering. Safe to call twice."""
        if not self._running:
            return
        self._running = False
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OidcProvider:
        self._thread.start()
        self._running = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the protocol ------------------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """Check an authorization request; returns (status, headers, body).

        A request for an unknown client or without PKCE S256 gets a plain 400 (a provider never
        redirects to a redirect URI it cannot trust); otherwise the user is approved and sent back
        with a fresh one-time code and the caller's ``state``.
        """
        problem = self._authorization_problem(query)
        if problem:
            return 400, {"Content-Type": "text/plain"}, problem
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Grant(
                client_id=query["client_id"],
                redirect_uri=query["redirect_uri"],
                nonce=query.get("nonce"),
                code_challenge=query["code_challenge"],
                expires_at=time.time() + CODE_LIFETIME,
            )
        back = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        separator = "&" if urlsplit(query["redirect_uri"]).query else "?"
        return 302, {"Location": f"{query['redirect_uri']}{separator}{urlencode(back)}"}, ""

    def _authorization_problem(self, query: dict[str, str]) -> str | None:
        if query.get("client_id") != self.client_id:
            return "unknown client_id"
        if query.get("response_type") != "code":
            return "response_type must be code"
        if not query.get("redirect_uri", "").startswith(("http://", "https://")):
            return "redirect_uri missing"
        if "openid" not in query.get("scope", "").split():
            return "scope must include openid"
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return "PKCE with S256 is required"
        return None

    def exchange(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, Any]:
        """The token endpoint: redeem a code once, verify the client and the PKCE verifier."""
        method = "client_secret_basic" if basic else "client_secret_post"
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        self.auth_methods_used.append(method)
        if method not in self.auth_methods:
            return 401, {"error": "invalid_client"}
        if client_id != self.client_id or not _same(secret, self.client_secret):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # used once, even when refused
        if grant is None or grant.expires_at < time.time():
            return 400, {"error": "invalid_grant", "error_description": "unknown or used code"}
        if grant.client_id != client_id or grant.redirect_uri != form.get("redirect_uri"):
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
        if not _same(s256(form.get("code_verifier", "")), grant.code_challenge):
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        access_token = secrets.token_urlsafe(24)
        with self._lock:
            self._access_tokens[access_token] = time.time() + ID_TOKEN_LIFETIME
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ID_TOKEN_LIFETIME,
            "scope": "openid profile email groups",
            "id_token": self.id_token(grant.nonce),
        }

    def id_token(self, nonce: str | None) -> str:
        """An ID token for the configured user, bent by whatever ``faults`` says."""
        faults = self.faults
        now = int(time.time())
        issued = now - 2 * ID_TOKEN_LIFETIME if faults.expired else now
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": faults.audience or self.client_id,
            "iat": issued,
            "exp": issued + ID_TOKEN_LIFETIME,
            "auth_time": issued,
            **self.user.claims(),
        }
        if faults.extra_audience:
            claims["aud"] = [claims["aud"], faults.extra_audience]
        if faults.azp:
            claims["azp"] = faults.azp
        if faults.thin_id_token:
            for claim in PROFILE_CLAIMS:
                claims.pop(claim, None)
        if nonce is not None:
            claims["nonce"] = "not-the-nonce-you-sent" if faults.wrong_nonce else nonce
        with self._lock:
            if faults.unknown_key and self._stray_key is None:
                self._stray_key = SigningKey.generate()
            key = self._stray_key if faults.unknown_key and self._stray_key else self.keys[-1]
        return jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid})

    def userinfo(self, access_token: str) -> tuple[int, dict[str, Any]]:
        """The profile for a live access token, 401 otherwise."""
        with self._lock:
            expires_at = self._access_tokens.get(access_token)
        if expires_at is None or expires_at < time.time():
            return 401, {"error": "invalid_token"}
        return 200, self.user.claims()

    def login_page(self, query: dict[str, str], error: str = "") -> str:
        """The tiny login form; every value is escaped, the request rides in hidden fields."""
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
            if k not in ("username", "password")
        )
        message = f'<p id="error">{html.escape(error)}</p>' if error else ""
        return (
            "<!doctype html><html><head><title>Test provider sign-in</title></head><body>"
            f"<h1>Test provider</h1>{message}"
            '<form method="post" action="/authorize">'
            f"{hidden}"
            '<label>Username <input id="username" name="username"></label>'
            '<label>Password <input id="password" name="password" type="password"></label>'
            '<button id="submit" type="submit">Sign in</button>'
            "</form></body></html>"
        )

    def check_login(self, username: str, password: str) -> bool:
        """The form's credentials against the configured user, in constant time."""
        return username == self.user.username and _same(password, self.user.password)


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge for a verifier."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _same(received: str, expected: str) -> bool:
    """Constant-time equality for any text (compare_digest on str takes only ASCII)."""
    return secrets.compare_digest(received.encode(), expected.encode())


def _b64url_uint(value: int) -> str:
    data = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _single_values(raw: dict[str, list[str]]) -> dict[str, str]:
    return {key: values[0] for key, values in raw.items() if values}


class _ProviderHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    provider: OidcProvider


class _ProviderHandler(BaseHTTPRequestHandler):
    server: _ProviderHTTPServer

    def do_GET(self) -> None:
        provider = self.server.provider
        url = urlsplit(self.path)
        query = _single_values(parse_qs(url.query))
        if url.path == "/.well-known/openid-configuration":
            provider.counters.discovery += 1
            self._json(200, provider.metadata())
        elif url.path == "/jwks":
            provider.counters.jwks += 1
            self._json(200, provider.jwks())
        elif url.path == "/authorize":
            provider.counters.authorize += 1
            if provider.login_form:
                self._send(200, {"Content-Type": "text/html"}, provider.login_page(query))
            else:
                self._send(*provider.authorize(query))
        elif url.path == "/userinfo":
            provider.counters.userinfo += 1
            scheme, _, token = self.headers.get("Authorization", "").partition(" ")
            status, body = provider.userinfo(token if scheme.lower() == "bearer" else "")
            self._json(status, body)
        else:
            self._json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        provider = self.server.provider
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = _single_values(parse_qs(self.rfile.read(length).decode()))
        if url.path == "/token":
            provider.counters.token += 1
            self._json(*provider.exchange(form, self._basic_auth()))
        elif url.path == "/authorize" and provider.login_form:
            if provider.check_login(form.get("username", ""), form.get("password", "")):
                self._send(*provider.authorize(form))
            else:
                page = provider.login_page(form, "Wrong username or password.")
                self._send(200, {"Content-Type": "text/html"}, page)
        else:
            self._json(404, {"error": "not_found"})

    def _basic_auth(self) -> tuple[str, str] | None:
        """Client credentials from ``Authorization: Basic``; both parts are form-url-encoded."""
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except ValueError:
            return ("", "")
        client_id, _, secret = decoded.partition(":")
        return unquote_plus(client_id), unquote_plus(secret)

    def _json(self, status: int, body: Any) -> None:
        headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
        self._send(status, headers, json.dumps(body))

    def _send(self, status: int, headers: dict[str, str], body: str) -> None:
        data = body.encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: request lines on stderr would only clutter pytest's output."""
