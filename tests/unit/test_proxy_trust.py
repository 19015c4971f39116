"""FORWARDED_ALLOW_IPS: a start-up warning when it trusts more than the proxy's own address."""

from __future__ import annotations

import logging

import pytest

from app.config import Settings, warn_about_proxy_trust, wide_proxy_trust


@pytest.mark.parametrize(
    ("value", "wide"),
    [
        ("127.0.0.1", []),
        ("172.18.0.5, 127.0.0.1", []),
        ("172.18.0.5/32,::1", []),
        ("172.18.0.0/16", ["172.18.0.0/16"]),
        ("127.0.0.1, *", ["*"]),
        ("fd00::/64,10.0.0.7", ["fd00::/64"]),
        ("/run/proxy.sock", []),
    ],
)
def test_only_entries_trusting_more_than_one_address_are_wide(value: str, wide: list[str]) -> None:
    assert wide_proxy_trust(value) == wide


def test_a_trusted_subnet_is_warned_about_at_start(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    warn_about_proxy_trust(Settings.model_validate({"FORWARDED_ALLOW_IPS": "172.18.0.0/16"}))
    warn_about_proxy_trust(Settings.model_validate({"FORWARDED_ALLOW_IPS": "172.18.0.5"}))
    (record,) = caplog.records
    assert "172.18.0.0/16" in record.getMessage() and "X-Forwarded-For" in record.getMessage()
