"""The checks behind the settings' types (`services.fields`), and pydantic's errors in our words.

Each check raises a `PydanticCustomError` of type FIELD_ERROR whose message is shown to a person
as is (`field_error` keeps it), so a value gets the same sentence whether it was typed in a form,
sent to the REST API or written in a seed file. The rules themselves live in the shared rule
modules (`subdomains`, `volume_rules`, `imageref`, `urls`); these wrappers only turn their
ValidationFailed into pydantic's error type.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import SecretStr
from pydantic_core import ErrorDetails, PydanticCustomError

from services import subdomains, tags, url_mask, urls
from services.errors import FieldError, ValidationFailed
from services.imageref import ImageRef
from services.secrets import is_encrypted

FIELD_ERROR = "field"  # the pydantic error type whose message is ours, shown unchanged
SLUG_HINT = "lowercase letters, digits and '-', not starting or ending with '-'"
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_REGISTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_NETWORK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")


def fail(message: str) -> PydanticCustomError:
    """The error a check raises: `message` reaches the person unchanged."""
    return PydanticCustomError(FIELD_ERROR, message)


def from_rule(rule: Callable[[str], object]) -> Callable[[str], str]:
    """A check from a shared rule that raises ValidationFailed (its first message is kept).

    A rule that returns text (a normalised path, say) gives that text; otherwise the value stays.
    """

    def check(value: str) -> str:
        try:
            result = rule(value)
        except ValidationFailed as exc:
            raise fail(exc.errors[0].message) from None
        return result if isinstance(result, str) else value

    return check


def slug(limit: int) -> Callable[[str], str]:
    """A DNS-safe name (project, stage) of at most `limit` characters."""

    def check(value: str) -> str:
        if not _SLUG.fullmatch(value) or len(value) > limit:
            raise fail(f"must be a DNS-safe name: {SLUG_HINT}, at most {limit} characters")
        return value

    return check


def registry_name(value: str) -> str:
    if not _REGISTRY_NAME.fullmatch(value) or len(value) > 63:
        raise fail("must be letters, digits, '.', '_' or '-' (at most 63 characters)")
    return value


def http_url(value: str) -> str:
    """Empty, or an http(s) URL (NPM, a registry, OIDC discovery; the client checks the rest)."""
    scheme, sep, rest = value.partition("://")
    if value and not (sep and scheme in ("http", "https") and rest and " " not in value):
        raise fail("must be an http:// or https:// URL")
    return value


def notification_url(value: str) -> str:
    """The notifier's own rule, so a saved URL is one it will post to."""
    try:
        return urls.validate_url(value)
    except ValidationFailed as exc:
        raise fail(exc.errors[0].message) from None


def sealed_or_notification_url(value: str) -> str:
    """A notification URL, or its `v1:` ciphertext from an export with encrypted secrets."""
    return value if is_encrypted(value) else notification_url(value)


def notification_url_or_mask(value: str) -> str:
    """A notification URL, or a saved URL's mask sent back to keep that URL."""
    return value.strip() if url_mask.kept(value) else notification_url(value)


_VOLUME_GLOB = re.compile(r"[A-Za-z0-9_.*?\[\]!-]+")


def volume_glob(value: str) -> str:
    """A glob over Docker volume names: their characters plus `*`, `?` and `[...]`."""
    if not _VOLUME_GLOB.fullmatch(value):
        raise fail(
            "must be a glob over Docker volume names, e.g. app-* (letters, digits, _.-*?[]!)"
        )
    return value


def hostname(value: str) -> str:
    labels = value.split(".")
    if value and not (len(value) <= 253 and all(_HOST_LABEL.fullmatch(x) for x in labels)):
        raise fail("must be a domain name such as example.com")
    return value


def ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value)) if value else value
    except ValueError:
        raise fail("must be an IPv4 or IPv6 address") from None


def email(value: str) -> str:
    if value and not _EMAIL.fullmatch(value):
        raise fail("must be an e-mail address")
    return value


def network_name(value: str) -> str:
    if not _NETWORK.fullmatch(value) or len(value) > 64:
        raise fail("must be a Docker network name (letters, digits, '_', '.', '-')")
    return value


def image_name(value: str) -> str:
    """A repository without tag; surrounding spaces are dropped."""
    try:
        ImageRef.parse_name(value)
    except ValidationFailed as exc:
        raise fail(exc.errors[0].message) from None
    return value.strip()


def url_path(value: str) -> str:
    if not value.startswith("/") or any(ch.isspace() for ch in value):
        raise fail("must be a URL path starting with '/', e.g. /health")
    return value


def tag_pattern(value: str) -> str:
    """A stage's tag glob: the characters a glob over tags needs, nothing else."""
    problem = tags.pattern_problem(value)
    if problem:
        raise fail(problem)
    return value


def no_spaces(value: str) -> str:
    """One word (a client id, a claim name): surrounding spaces dropped, none inside."""
    value = value.strip()
    if any(ch.isspace() for ch in value):
        raise fail("must not contain spaces")
    return value


def oidc_scopes(value: str) -> str:
    """Space-separated scopes, normalised; `openid` is added when missing (OIDC needs it)."""
    words = list(dict.fromkeys(value.split()))
    if any(not word.isprintable() or '"' in word for word in words):
        raise fail("must be scope names separated by spaces, e.g. openid email profile")
    return " ".join(words if "openid" in words else ["openid", *words])


def email_domain(value: str) -> str:
    """A domain people's emails end in (`example.com`); a leading `@` is dropped."""
    domain = value.strip().removeprefix("@").lower()
    if not domain or "." not in domain:
        raise fail("must be an email domain such as example.com")
    return hostname(domain)


def not_blank(value: str) -> str:
    if not value.strip():
        raise fail("must not be empty")
    return value


subdomain_label = from_rule(subdomains.validate_label)
subdomain_pattern = from_rule(subdomains.validate_pattern)


def secret_given(value: SecretStr) -> SecretStr:
    if not value.get_secret_value():
        raise fail("must not be empty (leave the key out instead)")
    return value


def webhook_secret(value: SecretStr) -> SecretStr:
    """A UUID (normalised), or an encrypted export's `v1:` ciphertext of one."""
    text = value.get_secret_value()
    if is_encrypted(text):
        return value
    try:
        return SecretStr(str(uuid.UUID(text)))
    except ValueError:
        raise fail("must be a UUID such as 3f0c…; leave it out to have one generated") from None


def one_or_many(value: object) -> object:
    """A single text where a list is expected (YAML `notification_url: https://...`)."""
    return [value] if isinstance(value, str) else value


def none_if_blank(value: object) -> object:
    """An empty form field means "not set" (a custom subdomain, a health check path...)."""
    return None if isinstance(value, str) and not value.strip() else value


# --- pydantic errors → friendly field errors --------------------------------------------------

_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "missing": lambda c: "is required",
    "string_type": lambda c: "must be text (quote it if it looks like a number or true/false)",
    "int_type": lambda c: "must be a whole number",
    "float_type": lambda c: "must be a number",
    "bool_type": lambda c: "must be true or false",
    "dict_type": lambda c: "must be a mapping (key: value)",
    "model_type": lambda c: "must be a mapping (key: value)",
    "list_type": lambda c: "must be a list",
    "literal_error": lambda c: f"must be one of {c['expected']}",
    "greater_than_equal": lambda c: f"must be ≥ {c['ge']}",
    "greater_than": lambda c: f"must be > {c['gt']}",
    "less_than_equal": lambda c: f"must be ≤ {c['le']}",
    "less_than": lambda c: f"must be < {c['lt']}",
    "too_long": lambda c: f"must have at most {c['max_length']} items",
}


def field_error(err: ErrorDetails | dict[str, Any], known_keys: Iterable[str] = ()) -> FieldError:
    """One pydantic error as a FieldError with a dotted path; `known_keys` feed "did you mean"."""
    path = ".".join(str(part) for part in err["loc"] if part != "[key]")
    kind = err["type"]
    if kind == FIELD_ERROR:
        return FieldError(path, err["msg"])
    if kind == "extra_forbidden":
        return FieldError(path, unknown_key(str(err["loc"][-1]), known_keys))
    message = _MESSAGES.get(kind)
    return FieldError(path, message(err.get("ctx", {})) if message else err["msg"])


def unknown_key(key: str, known_keys: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known_keys), n=1)
    return f"unknown key (did you mean '{close[0]}'?)" if close else "unknown key"
