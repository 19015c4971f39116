"""From stored auth settings to the OIDC client's configuration and redirect URI."""

from __future__ import annotations

from app.origins import oidc_redirect_uri
from services.auth.oidc_settings import (
    client_config,
    oidc_enabled,
    password_enabled,
    redirect_uri,
)
from services.store.models import AuthMode, AuthSettings


def test_the_redirect_uri_follows_the_origin_and_the_path_prefix() -> None:
    assert redirect_uri("https://dw.example.com") == "https://dw.example.com/api/auth/oidc/callback"
    assert redirect_uri("http://nas:8080/", "/watcher/") == (
        "http://nas:8080/watcher/api/auth/oidc/callback"
    )
    scope = {"scheme": "https", "headers": [(b"host", b"DW.example.com:443")], "root_path": ""}
    assert oidc_redirect_uri(scope) == "https://dw.example.com/api/auth/oidc/callback"
    assert oidc_redirect_uri({"scheme": "https", "headers": []}) is None


def test_the_mode_decides_which_ways_in_are_open() -> None:
    configured = {"oidc_discovery_url": "https://id.test/.well-known/openid-configuration"}
    row = AuthSettings(mode=AuthMode.BOTH, oidc_client_id="dw", **configured)
    assert oidc_enabled(row) and password_enabled(row)
    assert not oidc_enabled(AuthSettings(mode=AuthMode.LOCAL, oidc_client_id="dw", **configured))
    assert not oidc_enabled(AuthSettings(mode=AuthMode.BOTH))  # not configured
    assert not password_enabled(AuthSettings(mode=AuthMode.OIDC))


def test_the_client_asks_for_the_configured_claims() -> None:
    row = AuthSettings(
        oidc_discovery_url="https://id.test/d",
        oidc_client_id="dw",
        oidc_scopes="openid email groups",
        oidc_username_claim="nickname",
        oidc_groups_claim="roles",
    )
    config = client_config(row, "s3cret")
    assert config.scopes == ("openid", "email", "groups")
    assert {"nickname", "roles", "email", "email_verified"} <= set(config.profile_claims)
    assert "s3cret" not in repr(config)
