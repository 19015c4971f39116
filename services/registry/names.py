"""What the user typed, made into the registry API's names: API origin, repository path, tag.

Each function refuses what the API could not take (ValidationFailed naming the field), which
also keeps paths and queries out of the URLs the client builds.
"""

from __future__ import annotations

import re

import httpx

from services import credential_scope
from services.errors import ValidationFailed

KINDS = ("gitea", "github", "dockerhub", "generic")
DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")

_FIXED_API = {"dockerhub": "https://registry-1.docker.io", "github": "https://ghcr.io"}
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"\w[\w.-]{0,127}")


def api_base_url(url: str, kind: str = "generic") -> str:
    """The registry API origin (scheme, host, port) for what the user typed.

    Docker Hub and GitHub have fixed API hosts. Without a scheme, loopback hosts get ``http://``
    and everything else ``https://``. Paths and user info are dropped (the API lives at ``/v2/``
    on the root). Raises ValidationFailed (field ``url``) for an unusable URL.
    """
    if kind in _FIXED_API:
        return _FIXED_API[kind]
    text = url.strip()
    if "://" not in text:
        text = f"{_default_scheme(text)}://{text}"
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise ValidationFailed.single("url", "the registry URL is not a valid URL") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValidationFailed.single("url", "the registry URL needs an http(s) scheme and a host")
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{host}{port}"


def same_api(saved_url: str, saved_kind: str, new_url: str, new_kind: str) -> bool:
    """Whether a token stored with the first URL and type may be sent to the second: both name
    the same API origin (where the token goes; a type change to Docker Hub or GitHub moves it)."""
    saved = _api_or_none(saved_url, saved_kind)
    return saved is not None and saved == _api_or_none(new_url, new_kind)


def image_host_problem(image: str, url: str, kind: str, name: str) -> str | None:
    """Why `image` may not be pulled with the credentials of registry `name` (URL and type), or
    None (also for an unusable URL: it gives no credentials anywhere)."""
    api = _api_or_none(url, kind)
    return None if api is None else credential_scope.image_host_problem(image, api, name)


def _api_or_none(url: str, kind: str) -> str | None:
    try:
        return api_base_url(url, kind)
    except ValidationFailed:
        return None


def _default_scheme(text: str) -> str:
    try:
        host = httpx.URL(f"http://{text}").host
    except httpx.InvalidURL:
        return "https"
    return "http" if host == "localhost" or host == "::1" or host.startswith("127.") else "https"


def repository_path(repository: str, kind: str = "generic") -> str:
    """The repository name as the API wants it, from an image reference without tag.

    A leading registry host (``git.example.com/alexei/app``) is dropped, as Docker does when the
    first component has a dot, a colon or is ``localhost``; Docker Hub names without a namespace
    get ``library/``. Raises ValidationFailed (field ``image``) for anything else than a
    lower-case repository name, which also keeps paths and queries out of the URL.
    """
    text = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", repository.strip()).strip("/")
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        text = rest
    if kind == "dockerhub" and "/" not in text:
        text = f"library/{text}"
    if not _NAME_RE.fullmatch(text):
        raise ValidationFailed.single(
            "image",
            f"{repository!r} is not a repository name (lower-case letters, digits, '.', '_', "
            "'-' and '/'; no tag)",
        )
    return text


def check_reference(tag: str) -> str:
    """A tag or a digest, unchanged; ValidationFailed (field ``tag``) for anything else."""
    if _TAG_RE.fullmatch(tag) or DIGEST_RE.fullmatch(tag):
        return tag
    raise ValidationFailed.single("tag", f"{tag!r} is not a valid tag or digest")
