"""AES-256-GCM secret storage: round trips, tamper detection, key parsing."""

from __future__ import annotations

import base64

import pytest

from services.errors import ConfigError, CryptoError
from services.secrets import SecretBox, generate_key_hex, is_encrypted, parse_key

KEY = bytes(range(32))


def test_round_trip_and_random_nonce() -> None:
    box = SecretBox(KEY)
    first, second = box.encrypt("hunter2", "npm.password"), box.encrypt("hunter2", "npm.password")
    assert first != second and is_encrypted(first)
    assert "hunter2" not in first
    assert box.decrypt(first, "npm.password") == "hunter2"
    assert box.decrypt(box.encrypt("", "x"), "x") == ""
    assert box.decrypt(box.encrypt("ünïcødé ✓", "x"), "x") == "ünïcødé ✓"


def test_wrong_key_is_a_clear_error() -> None:
    stored = SecretBox(KEY).encrypt("token", "registry.token")
    with pytest.raises(CryptoError, match="ENCRYPTION_KEY differs"):
        SecretBox(bytes(32)).decrypt(stored, "registry.token")


def test_context_binds_the_value_to_its_column() -> None:
    stored = SecretBox(KEY).encrypt("token", "registry.token")
    with pytest.raises(CryptoError):
        SecretBox(KEY).decrypt(stored, "npm.password")


@pytest.mark.parametrize("position", [3, 10, 20, -1])
def test_any_tampered_byte_is_detected(position: int) -> None:
    box = SecretBox(KEY)
    stored = box.encrypt("a secret value", "ctx")
    blob = bytearray(base64.urlsafe_b64decode(stored[3:]))
    blob[position] ^= 0x01
    with pytest.raises(CryptoError):
        box.decrypt("v1:" + base64.urlsafe_b64encode(bytes(blob)).decode(), "ctx")


@pytest.mark.parametrize("junk", ["plain", "v1:", "v1:!!!notbase64", "v1:AAAA"])
def test_junk_is_refused(junk: str) -> None:
    with pytest.raises(CryptoError):
        SecretBox(KEY).decrypt(junk, "ctx")


def test_reveal_hook_sees_plaintexts() -> None:
    seen: list[str] = []
    box = SecretBox(KEY, on_reveal=seen.append)
    box.decrypt(box.encrypt("tok", "c"), "c")
    assert seen == ["tok", "tok"]


def test_key_forms() -> None:
    hex_key = generate_key_hex()
    assert len(hex_key) == 64 and parse_key(hex_key) == bytes.fromhex(hex_key)
    assert parse_key(f"  {hex_key}\n") == bytes.fromhex(hex_key)
    assert parse_key(base64.b64encode(KEY).decode()) == KEY
    assert parse_key(base64.urlsafe_b64encode(b"\xff" * 32).decode()) == b"\xff" * 32


@pytest.mark.parametrize(
    "bad", ["", "abc", "zz" * 32, base64.b64encode(b"x" * 31).decode(), "a" * 63]
)
def test_malformed_key_says_how_to_make_one(bad: str) -> None:
    with pytest.raises(ConfigError, match="python -m app keygen"):
        parse_key(bad)
