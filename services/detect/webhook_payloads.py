"""Webhook bodies → pushed image references.

Accepted: our own `{"image": "registry/owner/app:tag"}` (optionally `"digest": "sha256:..."`),
Gitea/Forgejo `package` events and GitHub `package`/`registry_package` events. Rules:
- host and repository are lowercased, the tag is kept as sent;
- registry events for a delete, a non-container package, or an untagged push (empty tag, or a
  `sha256:` version: multi-arch children pushed by digest) are *ignored* with a reason, not
  errors, so the registry does not mark its delivery failed; other events (GitHub's `ping`) too;
- Gitea sends no registry host: it is taken from the configured Gitea registries, or the host of
  `package.html_url` when none is configured (see `_gitea_host`);
- malformed bodies raise ValidationFailed naming the field (`package.version`, `image`...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from services.errors import ValidationFailed
from services.imageref import ImageRef

EVENT_HEADERS = (
    "x-gitea-event-type",
    "x-forgejo-event-type",
    "x-gitea-event",
    "x-forgejo-event",
    "x-github-event",
)
PACKAGE_EVENTS = ("package", "registry_package")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_SHAPES = 'expected {"image": "registry/owner/app:tag"} or a Gitea or GitHub package event'


@dataclass(frozen=True)
class Pushed:
    """One pushed image: a reference with a tag, and its digest when the sender said."""

    ref: ImageRef
    digest: str | None = None


@dataclass(frozen=True)
class Extracted:
    pushed: tuple[Pushed, ...] = ()
    ignored: tuple[str, ...] = ()


def extract(data: object, headers: Mapping[str, str], gitea_hosts: Sequence[str] = ()) -> Extracted:
    """The pushes a body announces; `headers` keys lowercase; raises ValidationFailed."""
    if not isinstance(data, dict):
        raise ValidationFailed.single("body", f"must be a JSON object: {_SHAPES}")
    event = next((headers[h] for h in EVENT_HEADERS if headers.get(h)), "")
    if event and event not in PACKAGE_EVENTS:
        return Extracted(ignored=(f"event {event[:40]!r} is not a package push",))
    if "image" in data:
        return _dedupe([_ours(data)])
    package = data.get("registry_package", data.get("package"))
    if not isinstance(package, dict):
        raise ValidationFailed.single("body", _SHAPES)
    if "package_version" in package:
        return _github(data, package)
    return _gitea(data, package, gitea_hosts)


def lower_name(text: str) -> str:
    """Lowercase the registry host and repository of a reference, not its tag or digest."""
    end = text.find("@")
    end = len(text) if end == -1 else end
    colon, slash = text.rfind(":", 0, end), text.rfind("/", 0, end)
    if colon > slash:
        end = colon
    return text[:end].lower() + text[end:]


# --- our own body -----------------------------------------------------------------------------
def _ours(data: dict[str, Any]) -> Pushed:
    image = _text(data, "image", "image")
    ref = ImageRef.parse(lower_name(image), field="image")
    ref.require_tag(field="image")
    digest = data.get("digest")
    if digest is not None and not (isinstance(digest, str) and _DIGEST.fullmatch(digest)):
        raise ValidationFailed.single("digest", "must look like 'sha256:<64 hex characters>'")
    return Pushed(ref, digest or ref.digest)


# --- Gitea / Forgejo --------------------------------------------------------------------------
def _gitea(data: dict[str, Any], package: dict[str, Any], hosts: Sequence[str]) -> Extracted:
    action = data.get("action")
    if action != "created":
        return Extracted(ignored=(f"package action {str(action)[:20]!r} is not a push",))
    if str(package.get("type", "container")).lower() != "container":
        return Extracted(ignored=("the package is not a container image",))
    version = _text(package, "version", "package.version")
    if not version or version.startswith("sha256:"):
        return Extracted(ignored=("untagged push (by digest); the tagged push follows",))
    name = _text(package, "name", "package.name")
    owner = _text(_object(package, "owner", "package.owner"), "login", "package.owner.login")
    host = _gitea_host(package.get("html_url"), hosts)
    ref = ImageRef.parse(lower_name(f"{host}/{owner}/{name}:{version}"), field="package")
    return _dedupe([Pushed(ref)])


def _gitea_host(html_url: object, configured: Sequence[str]) -> str:
    """The registry host: a configured Gitea registry's, preferring the one html_url names."""
    seen = _url_host(html_url) if isinstance(html_url, str) else None
    if seen and (seen in configured or len(configured) != 1):
        return seen
    if len(configured) == 1:
        return configured[0]
    raise ValidationFailed.single(
        "package.html_url",
        "missing or not a URL, so the registry host is unknown; add the Gitea registry in "
        'Settings or send {"image": ...}',
    )


def _url_host(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.hostname.lower()}{port}"


# --- GitHub -----------------------------------------------------------------------------------
def _github(data: dict[str, Any], package: dict[str, Any]) -> Extracted:
    action = data.get("action")
    if action not in ("published", "updated"):
        return Extracted(ignored=(f"package action {str(action)[:20]!r} is not a push",))
    if str(package.get("package_type", "container")).lower() != "container":
        return Extracted(ignored=("the package is not a container image",))
    version = _object(package, "package_version", "package.package_version")
    metadata = version.get("container_metadata")
    tag_info = metadata.get("tag") if isinstance(metadata, dict) else None
    tag_info = tag_info if isinstance(tag_info, dict) else {}
    name = tag_info.get("name")
    tag = name if isinstance(name, str) else ""
    url = version.get("package_url")
    text = _github_reference(package, url.rstrip(":") if isinstance(url, str) else "", tag)
    if not text:
        return Extracted(ignored=("untagged push (by digest); the tagged push follows",))
    ref = ImageRef.parse(lower_name(text), field="package.package_version.package_url")
    digest = tag_info.get("digest")
    valid = isinstance(digest, str) and _DIGEST.fullmatch(digest)
    return _dedupe([Pushed(ref, digest if valid else None)])


def _github_reference(package: dict[str, Any], url: str, tag: str) -> str:
    """`ghcr.io/owner/name:tag` from package_url, else from owner and name; "" when untagged."""
    if url and ":" in url.rsplit("/", 1)[-1]:
        name, _, url_tag = url.rpartition(":")
        tag = url_tag or tag
    elif url:
        name = url
    else:
        owner = _text(_object(package, "owner", "package.owner"), "login", "package.owner.login")
        name = f"ghcr.io/{owner}/{_text(package, 'name', 'package.name')}"
    if not tag or tag.startswith("sha256:"):
        return ""
    return f"{name}:{tag}"


# --- helpers ----------------------------------------------------------------------------------
def _object(data: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ValidationFailed.single(path, "is missing or not an object")
    return value


def _text(data: dict[str, Any], key: str, path: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValidationFailed.single(path, "is missing or not a text")
    return value


def _dedupe(items: Sequence[Pushed]) -> Extracted:
    """One entry per (reference, digest): senders may repeat a push in one body."""
    return Extracted(tuple(dict.fromkeys(items)))
