"""Resolving a tag to its manifest digest, the one ``docker pull`` would fetch.

Digests are read with HEAD where possible: on Docker Hub a manifest HEAD does not count against
the pull rate limit.
"""

from __future__ import annotations

import hashlib

import httpx

from services.registry.names import DIGEST_RE, check_reference
from services.registry.session import RegistrySession

MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
MANIFEST_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)


async def manifest_digest(session: RegistrySession, name: str, tag: str) -> str:
    """The content digest (``sha256:...``) of `tag` in repository `name` (an API path).

    HEAD with every modern manifest type in Accept (without it, old registries convert to
    schema 1 and report another digest). Falls back to GET and hashes the body when the
    registry sends no ``Docker-Content-Digest`` or refuses HEAD; a 404 is also repeated as GET,
    since only a body says whether the tag or the whole repository is missing (distribution
    2.8 says MANIFEST_UNKNOWN for both).
    """
    url = f"{session.base_url}/v2/{name}/manifests/{check_reference(tag)}"
    headers = {"Accept": MANIFEST_ACCEPT}
    head = await session.request("HEAD", url, repository=name, headers=headers)
    digest = _header_digest(head)
    if digest and head.is_success:
        return digest
    if not (head.is_success or head.status_code in (404, 405)):
        session.raise_for_status(head, repository=name, tag=tag)
    response = await session.request("GET", url, repository=name, headers=headers)
    session.raise_for_status(response, repository=name, tag=tag)
    return _header_digest(response) or f"sha256:{hashlib.sha256(response.content).hexdigest()}"


def _header_digest(response: httpx.Response) -> str | None:
    digest = response.headers.get("docker-content-digest", "").strip()
    return digest if DIGEST_RE.fullmatch(digest) else None
