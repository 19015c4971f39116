"""Where a stored credential may go: only to the address it was saved for.

Two rules keep a password or token from following an address someone else chose:
- a stored secret (NPM's password, a registry's token, the OIDC client secret) is reused only for
  the same origin (scheme, host and port) as the URL it was saved with; for any other URL the
  person types it again. Otherwise "Test connection" with a new URL and an empty password field
  would send the stored password to that URL.
- a project pulls with its registry's credentials only when its image lives on that registry's
  host: Docker sends the credentials to the host named in the image reference, whatever registry
  the project names.
"""

from __future__ import annotations

import httpx

from services.errors import FieldError, ValidationFailed
from services.imageref import ImageRef

# Docker Hub answers under several names; one account's credentials are valid for all of them.
_DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

Origin = tuple[str, str, int | None]  # scheme, lower-case host, port (None: the scheme's default)


def origin(url: str) -> Origin | None:
    """The origin of an http(s) URL, or None when there is none (empty or unreadable text)."""
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL:
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return None
    return parsed.scheme, parsed.host.lower(), parsed.port


def same_origin(saved: str, given: str) -> bool:
    """True when `given` reaches the same scheme, host and port as `saved` (never for bad URLs)."""
    first = origin(saved)
    return first is not None and first == origin(given)


def may_keep(saved_url: str, new_url: str) -> bool:
    """Whether a secret saved with `saved_url` may stay for `new_url` (an empty URL sends
    nothing anywhere, so clearing the address keeps it; any later address needs it again)."""
    return not new_url.strip() or same_origin(saved_url, new_url)


def retype(field: str, what: str) -> FieldError:
    """The error for a secret left empty while its address changed."""
    return FieldError(
        field,
        f"the address changed: type the {what} again (a stored {what} is only sent to the "
        "address it was saved for)",
    )


def image_host_problem(image: str, registry_api: str, name: str) -> str | None:
    """Why `image` may not be pulled with the credentials of registry `name`, whose API origin is
    `registry_api` (scheme://host[:port]), or None if it may.

    None also when the image cannot be read: its own field check reports that.
    """
    try:
        ref = ImageRef.parse_name(image)
        base = httpx.URL(registry_api)
        pulled = httpx.URL(f"{base.scheme}://{ref.api_host}")
    except (ValidationFailed, httpx.InvalidURL):
        return None
    registry_host = _host_key(base.host, base.port)
    if _host_key(pulled.host, pulled.port) == registry_host:
        return None
    shown = "docker.io" if registry_host[0] == "docker.io" else base.netloc.decode("ascii")
    return (
        f"the image is on {ref.registry}, but registry {name!r} is at {shown}: its credentials "
        f"are only sent there (write the image as {shown}/..., or pick the registry of "
        f"{ref.registry}, or none)"
    )


def _host_key(host: str, port: int | None) -> tuple[str, int | None]:
    host = host.lower()
    return ("docker.io", None) if host in _DOCKER_HUB_HOSTS and port is None else (host, port)
