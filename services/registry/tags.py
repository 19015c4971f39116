"""Listing a repository's tags, following the registry's ``Link`` pagination."""

from __future__ import annotations

import httpx

from services.errors import UpstreamError
from services.registry.session import RegistrySession

MAX_PAGES = 100


async def list_tags(session: RegistrySession, name: str, page_size: int | None) -> list[str]:
    """Every tag of repository `name` (already an API path), in the registry's order.

    Raises UpstreamError when pagination loops, leaves the registry's host or exceeds
    ``MAX_PAGES`` pages, and the errors of `RegistrySession.raise_for_status`.
    """
    url = f"{session.base_url}/v2/{name}/tags/list"
    params = (("n", str(page_size)),) if page_size else None
    tags: dict[str, None] = {}
    seen = {url}
    for _ in range(MAX_PAGES):
        response = await session.request("GET", url, repository=name, params=params)
        session.raise_for_status(response, repository=name)
        tags.update(dict.fromkeys(_tags_in(session.host, response)))
        next_url = _next_page(session, response)
        if next_url is None:
            return list(tags)
        if next_url in seen:
            raise UpstreamError(f"registry {session.host} paginates the tags of {name} in a loop")
        seen.add(next_url)
        url, params = next_url, None
    raise UpstreamError(f"registry {session.host} has more than {MAX_PAGES} tag pages for {name}")


def _tags_in(host: str, response: httpx.Response) -> list[str]:
    try:
        tags = response.json().get("tags") or []
    except (ValueError, AttributeError) as exc:
        raise UpstreamError(f"registry {host} sent an unreadable tag list") from exc
    if not isinstance(tags, list):
        raise UpstreamError(f"registry {host} sent an unreadable tag list")
    return [t for t in tags if isinstance(t, str)]


def _next_page(session: RegistrySession, response: httpx.Response) -> str | None:
    """The absolute URL of the next tag page; only on the registry's own origin, because the
    request carries our credentials."""
    link = response.links.get("next", {}).get("url")
    if not link:
        return None
    try:
        url, base = response.url.join(link), httpx.URL(session.base_url)
    except httpx.InvalidURL as exc:
        raise UpstreamError(f"registry {session.host} sent an invalid tag page link") from exc
    if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
        raise UpstreamError(f"registry {session.host} sent a tag page link to another host")
    return str(url)
