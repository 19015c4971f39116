"""How a stored notification URL is shown: `https://hooks.slack.com/… [saved 1a2b3c4d]`.

Slack, Discord and ntfy URLs carry their token in the path or the user part, so pages and the
API only ever show the scheme and host. The fingerprint names one stored URL: it is taken from
the URL's ciphertext (random nonce), so it reveals nothing about the URL, and sending the mask
back unchanged means "keep this saved URL".
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

_KEPT = re.compile(r"https?://[^\s/@]+/… \[saved ([0-9a-f]{8})\]")


def fingerprint(sealed: str) -> str:
    """A short name for one stored ciphertext."""
    return hashlib.sha256(sealed.encode("ascii")).hexdigest()[:8]


def mask(url: str, sealed: str) -> str:
    """`scheme://host[:port]/… [saved <fingerprint>]`: no user part, path, query or fragment."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        scheme, host, port = "http", "?", ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    scheme = scheme if scheme in ("http", "https") else "http"
    return f"{scheme}://{host}{port}/… [saved {fingerprint(sealed)}]"


def kept(text: str) -> str | None:
    """The fingerprint when `text` is a mask sent back to keep a saved URL, else None."""
    match = _KEPT.fullmatch(text.strip())
    return match.group(1) if match else None
