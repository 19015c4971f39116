"""Origins compare after normalising, malformed ones never match, DW_PUBLIC_URL is an origin."""

from __future__ import annotations

import pytest

from app.config import load_settings
from app.origins import Origin, parse_host, parse_origin
from services.errors import ConfigError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://Watcher.Example.com", Origin("https", "watcher.example.com", 443)),
        ("https://watcher.example.com:443", Origin("https", "watcher.example.com", 443)),
        ("http://127.0.0.1:8080", Origin("http", "127.0.0.1", 8080)),
        ("http://[::1]:8080", Origin("http", "::1", 8080)),
    ],
)
def test_origins_are_normalised(value: str, expected: Origin) -> None:
    assert parse_origin(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "null",
        "",
        "ftp://watcher.example.com",
        "https://watcher.example.com/",
        "https://user@watcher.example.com",
        "https://watcher.example.com:99999",
        "https://watcher .example.com",
        "//watcher.example.com",
    ],
)
def test_anything_but_an_origin_is_none(value: str) -> None:
    assert parse_origin(value) is None


def test_a_host_header_gives_the_origin_it_was_sent_to() -> None:
    assert parse_host("wss", "Watcher.example.com") == parse_origin("https://watcher.example.com")
    assert parse_host("http", "dw.test:8080") == Origin("http", "dw.test", 8080)
    assert parse_host("http", "dw.test/evil") is None
    assert parse_host("http", None) is None
    assert str(Origin("https", "::1", 8443)) == "https://[::1]:8443"
    assert Origin("https", "a.b", 443).netloc == "a.b"


def test_public_url_is_kept_as_an_origin_or_refused_by_name() -> None:
    settings = load_settings({"DW_PUBLIC_URL": "HTTPS://Watcher.Example.com:443/"})
    assert settings.public_url == "https://watcher.example.com"
    assert load_settings({}).public_url is None
    with pytest.raises(ConfigError, match="DW_PUBLIC_URL"):
        load_settings({"DW_PUBLIC_URL": "https://watcher.example.com/dashboard"})
