"""Image references: parsing, validation and Docker Hub normalisation (distribution grammar).

Grammar (github.com/distribution/reference, `reference.go`):

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain "/"] path-component ["/" path-component]*
    domain           := host [":" port]
    host             := domain-component ["." domain-component]* | "[" IPv6 "]"
    domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
    path-component   := [a-z0-9]+ ((\\.|_|__|-+) [a-z0-9]+)*
    tag              := [\\w][\\w.-]{0,127}
    digest           := algorithm ":" hex   (algorithm [A-Za-z][A-Za-z0-9]* joined by [+._-])

Decisions beyond the grammar, each for a clearer error or a safer result:
- surrounding whitespace is stripped (pasted text); a scheme (`https://`) is refused with a hint;
- the first component is a domain when it contains `.` or `:` or is `localhost` (any case), as in
  Docker. Docker also treats an *uppercase* first component (`Owner/app`) as a registry host; we
  treat it as a path and refuse the uppercase, which is what the user almost always meant;
- ports must be 1..65535; a bracketed IPv6 host must be a real IPv6 address;
- digests of the registered algorithms must have their exact length in lowercase hex
  (sha256: 64, sha384: 96, sha512: 128), as the OCI image spec requires;
- a bare 64-hex string is refused: it is an image id, not a reference (as Docker does).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from services.errors import ValidationFailed

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io"})
_OFFICIAL_PREFIX = "library/"
NAME_TOTAL_LENGTH_MAX = 255

_DOMAIN_COMPONENT = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_TAG_CHARS = re.compile(r"[A-Za-z0-9_.-]+")
_PORT = re.compile(r"[0-9]+")
_IPV6_CHARS = re.compile(r"[a-fA-F0-9:]+")
_DIGEST_ALGORITHM = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*")
_DIGEST_HEX = re.compile(r"[0-9a-fA-F]{32,}")
_KNOWN_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_IMAGE_ID = re.compile(r"[a-f0-9]{64}")


class _InvalidError(Exception):
    """Internal: one reason a reference is invalid; `parse` turns it into ValidationFailed."""


@dataclass(frozen=True)
class ImageRef:
    """A parsed, normalised image reference (`registry/repository[:tag][@digest]`).

    Build it with `ImageRef.parse` (or `parse_name` for a repository without tag); the
    constructor does not validate. `registry` is the lowercase host[:port], `docker.io` for
    Docker Hub; `repository` is the path, with `library/` for official Docker Hub images.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str, *, field: str = "image") -> ImageRef:
        """Parse and validate `text`; raises ValidationFailed naming `field` with the reason.

        Every image reference from outside (webhook bodies, UI forms, seed YAML) goes through
        here, so the rest of the code can rely on a well-formed, normalised reference.
        """
        if not isinstance(text, str):
            raise ValidationFailed.single(field, "must be a text such as 'ghcr.io/owner/app:v1'")
        raw = text.strip()
        try:
            return _parse(raw)
        except _InvalidError as exc:
            shown = raw if len(raw) <= 80 else raw[:77] + "..."
            raise ValidationFailed.single(field, f"'{shown}' is not a valid image: {exc}") from None

    @classmethod
    def parse_name(cls, text: str, *, field: str = "image") -> ImageRef:
        """Parse a repository name that must carry neither tag nor digest (a project's image)."""
        ref = cls.parse(text, field=field)
        if ref.tag is not None or ref.digest is not None:
            raise ValidationFailed.single(
                field, f"give the repository without tag or digest, e.g. '{ref.familiar_name}'"
            )
        return ref

    @property
    def name(self) -> str:
        """`registry/repository`, the fully qualified name without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def is_docker_hub(self) -> bool:
        """True for Docker Hub, whose API host and auth differ from its name."""
        return self.registry == DOCKER_HUB

    @property
    def api_host(self) -> str:
        """The host[:port] serving the distribution API (`registry-1.docker.io` for Docker Hub)."""
        return DOCKER_HUB_API if self.is_docker_hub else self.registry

    @property
    def familiar_name(self) -> str:
        """The short name Docker shows (`nginx`, `alexei/app`, `ghcr.io/o/app`)."""
        if not self.is_docker_hub:
            return self.name
        rest = self.repository.removeprefix(_OFFICIAL_PREFIX)
        return self.repository if "/" in rest else rest

    @property
    def familiar(self) -> str:
        """The short form Docker shows, with tag and digest (`nginx:1.27`)."""
        return self.familiar_name + self._suffix()

    def with_tag(self, tag: str, *, field: str = "tag") -> ImageRef:
        """The same repository at another tag; the digest is dropped (it named other content)."""
        if not _TAG.fullmatch(tag):
            raise ValidationFailed.single(field, f"'{tag}' is not a valid tag: {_tag_problem(tag)}")
        return replace(self, tag=tag, digest=None)

    def require_tag(self, *, field: str = "image") -> str:
        """The tag, for callers that deploy by tag; raises ValidationFailed when there is none."""
        if self.tag is None:
            raise ValidationFailed.single(
                field, f"'{self.familiar}' has no tag; add one, e.g. '{self.familiar_name}:v1.0'"
            )
        return self.tag

    def _suffix(self) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return tag + digest

    def __str__(self) -> str:
        return self.name + self._suffix()


def parse(text: str, *, field: str = "image") -> ImageRef:
    """Module-level shortcut for `ImageRef.parse`."""
    return ImageRef.parse(text, field=field)


def _parse(raw: str) -> ImageRef:
    _check_shape(raw)
    rest, digest = _split_digest(raw)
    name, tag = _split_tag(rest)
    domain, path = _split_domain(name)
    registry = _normalise_domain(domain) if domain is not None else DOCKER_HUB
    _check_path(path)
    if registry == DOCKER_HUB and "/" not in path:
        path = _OFFICIAL_PREFIX + path
    full = f"{registry}/{path}"
    if len(full) > NAME_TOTAL_LENGTH_MAX:
        raise _InvalidError(f"the name is longer than {NAME_TOTAL_LENGTH_MAX} characters")
    return ImageRef(registry, path, tag, digest)


def _check_shape(raw: str) -> None:
    if not raw:
        raise _InvalidError("it is empty")
    if "://" in raw:
        raise _InvalidError(
            "leave out the scheme (http:// or https://), e.g. 'ghcr.io/owner/app:tag'"
        )
    if any(ch.isspace() for ch in raw):
        raise _InvalidError("it contains whitespace")
    if _IMAGE_ID.fullmatch(raw):
        raise _InvalidError("a 64-character hex string is an image id, not a repository name")


def _split_digest(raw: str) -> tuple[str, str | None]:
    if "@" not in raw:
        return raw, None
    rest, _, digest = raw.partition("@")
    _check_digest(digest)
    return rest, digest


def _check_digest(digest: str) -> None:
    algorithm, sep, hex_part = digest.partition(":")
    if not sep or not _DIGEST_ALGORITHM.fullmatch(algorithm) or not _DIGEST_HEX.fullmatch(hex_part):
        raise _InvalidError(f"digest '{digest}' must look like 'sha256:<64 hex characters>'")
    expected = _KNOWN_DIGEST_LENGTHS.get(algorithm)
    if expected is not None and (len(hex_part) != expected or hex_part != hex_part.lower()):
        raise _InvalidError(
            f"a {algorithm} digest needs exactly {expected} lowercase hex characters"
        )


def _split_tag(rest: str) -> tuple[str, str | None]:
    colon = rest.rfind(":")
    if colon == -1 or colon < rest.rfind("/"):
        return rest, None
    name, tag = rest[:colon], rest[colon + 1 :]
    if not _TAG.fullmatch(tag):
        raise _InvalidError(f"tag '{tag}' {_tag_problem(tag)}")
    return name, tag


def _tag_problem(tag: str) -> str:
    if not tag:
        return "is empty"
    if len(tag) > 128:
        return "is longer than 128 characters"
    if not _TAG_CHARS.fullmatch(tag):
        return "may contain only letters, digits, '_', '.' and '-'"
    return "must not start with '.' or '-'"


def _split_domain(name: str) -> tuple[str | None, str]:
    first, sep, rest = name.partition("/")
    if not sep:
        return None, name
    if "." in first or ":" in first or first.lower() == "localhost":
        return first, rest
    return None, name


def _normalise_domain(domain: str) -> str:
    host, port = _split_port(domain)
    if host.startswith("["):
        _check_ipv6(host)
    else:
        _check_host(host)
    if port is not None and not (_PORT.fullmatch(port) and 0 < int(port) <= 65535):
        raise _InvalidError(
            f"port '{port}' of registry '{domain}' must be a number from 1 to 65535"
        )
    host = host.lower()
    if port is None and host in _DOCKER_HUB_ALIASES:
        return DOCKER_HUB
    return host if port is None else f"{host}:{port}"


def _split_port(domain: str) -> tuple[str, str | None]:
    if domain.startswith("["):
        end = domain.find("]")
        if end == -1:
            raise _InvalidError(f"registry '{domain}' has an unclosed '[' around its IPv6 address")
        host, after = domain[: end + 1], domain[end + 1 :]
        if after and not after.startswith(":"):
            raise _InvalidError(f"registry '{domain}' has text after its IPv6 address")
        return host, (after[1:] if after else None)
    host, sep, port = domain.partition(":")
    return host, (port if sep else None)


def _check_ipv6(host: str) -> None:
    inner = host[1:-1]
    try:
        valid = bool(_IPV6_CHARS.fullmatch(inner)) and bool(ipaddress.IPv6Address(inner))
    except ValueError:
        valid = False
    if not valid:
        raise _InvalidError(f"'{host}' is not a valid IPv6 address")


def _check_host(host: str) -> None:
    for part in host.split("."):
        if not _DOMAIN_COMPONENT.fullmatch(part):
            raise _InvalidError(
                f"registry host '{host}' is invalid: each dot-separated part must be letters, "
                "digits and inner dashes"
            )


def _check_path(path: str) -> None:
    for part in path.split("/"):
        if _PATH_COMPONENT.fullmatch(part):
            continue
        if not part:
            raise _InvalidError("the repository path has an empty part (a doubled or trailing '/')")
        if _PATH_COMPONENT.fullmatch(part.lower()):
            hint = f": write '{path.lower()}' instead of '{path}'" if len(path) <= 80 else ""
            raise _InvalidError(f"repository names must be lowercase{hint}")
        raise _InvalidError(
            f"repository part '{part}' may contain only lowercase letters and digits, "
            "separated by single '.', '_', '__' or dashes"
        )
