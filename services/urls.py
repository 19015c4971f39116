"""Web addresses the settings hold: the notification URL rule, and URLs safe to show.

A pure module (no HTTP client), so the settings' field definitions (`services.fields`) and the
notifier apply the same rule: a URL saved in the settings page or imported from a seed is one the
notifier will post to.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from services.errors import ValidationFailed


def redact_url(url: str) -> str:
    """`scheme://host[:port]` plus `/…` when there was more: safe to log, still recognisable.

    The query string and often the path of a webhook URL (Slack, Discord, Gitea) carry its secret.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    if not parts.scheme or not host:
        return "<invalid url>"
    host = f"[{host}]" if ":" in host else host
    more = "/…" if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{host}{port}{more}"


def validate_url(url: str, *, field: str = "notification_url") -> str:
    """Check a notification URL before saving it (http or https, with a host); returns it.

    Raises ValidationFailed naming `field`; the message shows the URL redacted.
    """
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port
    except ValueError:
        valid = False
    if not valid:
        got = redact_url(url) if url else "an empty value"
        raise ValidationFailed.single(field, f"give an http:// or https:// URL (got {got})")
    return url
