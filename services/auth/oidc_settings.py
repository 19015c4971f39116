"""From the stored auth settings to what the OIDC sign-in needs: the client's configuration and
the redirect URI to register with the provider."""

from __future__ import annotations

from collections.abc import Iterable

from services.auth.oidc import DEFAULT_PROFILE_CLAIMS, OidcClientConfig
from services.store.models import AuthMode, AuthSettings, Role, User

# Where the provider sends the browser back to (under the app's own path prefix, if any).
CALLBACK_PATH = "/api/auth/oidc/callback"
DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
LOCK_OUT = (
    "OIDC only would lock everyone out: an enabled admin must first sign in through this "
    "provider once (keep mode 'both' until then)"
)
# Where the login page's "Sign in with <name>" button starts a sign-in.
LOGIN_START_PATH = "/api/auth/oidc/login"
# The login page's query parameter naming a failed sign-in's kept message.
ERROR_PARAM = "oidc_error"


def redirect_uri(origin: str, root_path: str = "") -> str:
    """The exact redirect URI for a dashboard reached at `origin` (`https://host[:port]`)
    under `root_path`: what the admin registers with the provider, and what sign-ins send."""
    return f"{origin.rstrip('/')}{root_path.rstrip('/')}{CALLBACK_PATH}"


def oidc_enabled(row: AuthSettings) -> bool:
    """Whether the mode lets people sign in through the provider and it is configured."""
    return row.mode in {AuthMode.OIDC, AuthMode.BOTH} and oidc_configured(row)


def oidc_configured(row: AuthSettings) -> bool:
    return bool(row.oidc_discovery_url and row.oidc_client_id)


def password_enabled(row: AuthSettings) -> bool:
    """Local passwords work unless the mode is OIDC only."""
    return row.mode != AuthMode.OIDC


def client_config(row: AuthSettings, client_secret: str | None) -> OidcClientConfig:
    """The client's configuration; the claims wanted are the username, email and group claims
    (any missing from the ID token are read from userinfo)."""
    claims = dict.fromkeys(
        [row.oidc_username_claim, *DEFAULT_PROFILE_CLAIMS, row.oidc_groups_claim]
    )
    return OidcClientConfig(
        discovery_url=row.oidc_discovery_url,
        client_id=row.oidc_client_id,
        client_secret=client_secret or "",
        scopes=tuple(row.oidc_scopes.split()),
        profile_claims=tuple(c for c in claims if c),
    )


def oidc_only_safe(users: Iterable[User], discovery_url: str) -> bool:
    """Whether "OIDC only" leaves a way in: an enabled admin who has signed in through the
    provider at `discovery_url` (its issuer, when the account recorded one) at least once."""
    issuer = discovery_url.rstrip("/").removesuffix(DISCOVERY_SUFFIX).rstrip("/")
    return any(_signed_in_admin(user, issuer) for user in users)


def _signed_in_admin(user: User, issuer: str) -> bool:
    same = user.oidc_issuer is None or user.oidc_issuer.rstrip("/") == issuer
    usable = user.role == Role.ADMIN and not user.disabled
    return usable and bool(user.oidc_subject) and user.last_login_at is not None and same
