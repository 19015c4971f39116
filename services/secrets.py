"""AES-256-GCM encryption of the secrets we keep at rest (tokens, passwords, secret env values).

Each value gets a fresh 96-bit random nonce; the stored form is `v1:` + urlsafe base64 of
nonce || ciphertext || tag, so a value can be recognised, versioned and moved between rows.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets as _stdlib_secrets
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.errors import ConfigError, CryptoError

_PREFIX = "v1:"
_NONCE_BYTES = 12
KEY_HINT = (
    "ENCRYPTION_KEY must be 32 random bytes written as 64 hex characters or as base64. "
    "Make one with: python -m app keygen   (or: openssl rand -hex 32)"
)


def parse_key(text: str) -> bytes:
    """Read a 32-byte key from hex or base64 text; raise ConfigError saying how to make one."""
    raw = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", raw):
        return bytes.fromhex(raw)
    for altchars in (None, b"-_"):
        try:
            key = base64.b64decode(raw, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(key) == 32:
            return key
    raise ConfigError(f"ENCRYPTION_KEY is malformed. {KEY_HINT}")


def generate_key_hex() -> str:
    """A fresh random key in the hex form ENCRYPTION_KEY accepts."""
    return _stdlib_secrets.token_hex(32)


def is_encrypted(value: str) -> bool:
    """Whether a stored value is in our ciphertext format (used by migrations and checks)."""
    return value.startswith(_PREFIX)


class SecretBox:
    """Encrypts and decrypts secret strings with one AES-256-GCM key.

    `context` is bound as associated data, so a ciphertext copied into another column or row
    kind (e.g. an env value pasted into the NPM password) fails to decrypt instead of leaking.
    """

    def __init__(self, key: bytes, on_reveal: Callable[[str], None] | None = None) -> None:
        if len(key) != 32:
            raise ConfigError(f"encryption key must be 32 bytes, got {len(key)}. {KEY_HINT}")
        self._aead = AESGCM(key)
        self._on_reveal = on_reveal  # e.g. Redactor.register: a revealed secret is never logged

    def encrypt(self, plaintext: str, context: str = "") -> str:
        """Seal a value; `context` must be given again to decrypt it."""
        if self._on_reveal:
            self._on_reveal(plaintext)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode() or None)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, stored: str, context: str = "") -> str:
        """Raise CryptoError when the key is wrong or the value was altered; never return junk."""
        if not is_encrypted(stored):
            raise CryptoError("stored secret is not in the encrypted format")
        try:
            blob = base64.urlsafe_b64decode(stored[len(_PREFIX) :].encode("ascii"))
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("stored secret is corrupted (bad encoding)") from exc
        if len(blob) < _NONCE_BYTES + 16:
            raise CryptoError("stored secret is corrupted (too short)")
        try:
            plain = self._aead.decrypt(
                blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], context.encode() or None
            )
        except InvalidTag as exc:
            raise CryptoError(
                "a stored secret cannot be decrypted: ENCRYPTION_KEY differs from the one that "
                "encrypted it, or the database was altered"
            ) from exc
        text = plain.decode("utf-8")
        if self._on_reveal:
            self._on_reveal(text)
        return text


def derive_subkey(key: bytes, purpose: str) -> bytes:
    """A separate 32-byte key for another use (JWT signing, session cookies) from the master key.

    HKDF keeps the uses independent: a leaked session secret reveals nothing about the key
    that encrypts the stored credentials.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
    return hkdf.derive(key)
