"""Keeps known secret values out of text that leaves the process (logs, error messages).

Every plaintext secret the process learns (decrypted tokens, passwords from the environment)
is registered here; `redact()` masks any occurrence. It is a last line of defence: code should
not put secrets in messages in the first place.
"""

from __future__ import annotations

import json
import re
import threading

MASK = "••••••••"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words
_SENSITIVE_KEY = re.compile(r"(pass(word)?|secret|token|authorization|api[_-]?key)", re.I)


class Redactor:
    """A thread-safe set of secret strings, with masking of text and of structured fields."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def register(self, *values: str | None) -> None:
        """Remember values that must never be shown (ignores empty and very short ones)."""
        fresh = {v for v in values if v and len(v) >= MIN_SECRET_LENGTH}
        with self._lock:
            if fresh - self._secrets:
                self._secrets |= fresh
                forms = {f for s in self._secrets for f in (s, json.dumps(s)[1:-1])}
                ordered = sorted(forms, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(f) for f in ordered))

    def redact(self, text: str) -> str:
        """`text` with every registered secret (raw or JSON-escaped) replaced by the mask."""
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern else text

    @staticmethod
    def is_sensitive_key(key: str) -> bool:
        """Whether a field name suggests a secret value (password, token, ...)."""
        return bool(_SENSITIVE_KEY.search(key))
