"""DNS-safe subdomain labels: sanitising text, rendering patterns, checking uniqueness.

Pure functions, no database: callers pass in what is taken.

Sanitising rule (`sanitize_label`): Unicode is folded to ASCII first (NFKD, combining accents
dropped, case-folded, so `Café` → `cafe`, `Straße` → `strasse`, `ＡＢＣ` → `abc`); then every
character outside `[a-z0-9-]` (dots, underscores, plus signs, `/`, letters with no ASCII
decomposition such as `ж` or `中`) becomes `-`; repeated dashes collapse; leading and trailing
dashes go. A result longer than 63 characters keeps its first 54 characters and gets `-` plus
8 hex characters of the SHA-256 of the *original* text, so two long inputs sharing a prefix never
share a label (a 32-bit suffix: collisions are practically impossible, and `check_unique` still
guards). Short inputs that differ only in replaced characters (`v1.2`, `v1_2`) give the same label
by design; `check_unique` reports such a clash before a deploy.
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from collections.abc import Iterable, Mapping

from services.errors import Conflict, ValidationFailed

LABEL_MAX = 63
FQDN_MAX = 253
HASH_CHARS = 8
DEFAULT_PATTERN = "stage-{stage}-{project}"
PLACEHOLDERS = frozenset({"stage", "project", "tag"})
REQUIRED_PLACEHOLDERS = ("stage", "project")
PATTERN_FIELD = "subdomain_pattern"

LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_OUTSIDE = re.compile(r"[^a-z0-9-]")
_DASHES = re.compile(r"-{2,}")
_LITERAL_RE = re.compile(r"[a-z0-9-]*")


def sanitize_label(text: str, *, field: str = "subdomain") -> str:
    """Turn any text (a tag, a name) into one DNS label following the module's rule.

    Raises ValidationFailed naming `field` when nothing usable is left (e.g. `"..."`), since an
    empty label cannot be routed.
    """
    cleaned = _clean(text)
    if not cleaned:
        raise ValidationFailed.single(
            field, f"'{text}' has no letters or digits to build a subdomain from"
        )
    return _fit(cleaned, text)


def validate_label(text: str, *, field: str = "subdomain") -> str:
    """Check a label the user typed (a stage's custom subdomain) and return it unchanged.

    We refuse rather than silently rewrite, so what the user sees in the form is what DNS gets.
    Only one label is allowed: a wildcard record `*.domain` (and its certificate) covers one level.
    """
    if LABEL_RE.fullmatch(text):
        return text
    hint = _clean(text)
    suggestion = f"; did you mean '{_fit(hint, text)}'?" if hint else ""
    raise ValidationFailed.single(
        field,
        f"'{text}' is not a valid subdomain: use 1 to {LABEL_MAX} lowercase letters, digits and "
        f"inner dashes, without dots{suggestion}",
    )


def validate_pattern(pattern: str) -> None:
    """Check a `subdomain_pattern` setting before saving it; raises ValidationFailed naming it.

    Allowed: lowercase letters, digits, dashes and the placeholders {stage}, {project} and {tag};
    {stage} and {project} are required so every stage of every project gets its own name.
    """
    names = _pattern_fields(pattern)
    missing = [name for name in REQUIRED_PLACEHOLDERS if name not in names]
    if missing:
        wanted = " and ".join("{" + name + "}" for name in missing)
        raise ValidationFailed.single(
            PATTERN_FIELD, f"'{pattern}' must contain {wanted} so every stage gets its own name"
        )


def render(
    pattern: str,
    *,
    project: str,
    stage: str,
    tag: str | None = None,
    custom: str | None = None,
) -> str:
    """Render one DNS label: the stage default (no `tag`) or an instance's tag-specific label.

    The stage default is `custom` (a stage's `subdomain` override such as `launcher`) when given,
    else the pattern without its `{tag}`. With a tag, the pattern gets `-{tag}` appended unless it
    already holds `{tag}`; `custom` is then ignored, since every instance has its own name.
    Each value is sanitised, and the whole label is shortened with a hash when over 63 chars.
    """
    validate_pattern(pattern)
    if tag is None and custom and custom.strip():
        return validate_label(custom.strip(), field="subdomain")
    if tag is not None and "{tag}" not in pattern:
        pattern += "-{tag}"
    values = {
        "project": _clean_value(project, "project"),
        "stage": _clean_value(stage, "stage"),
        "tag": "" if tag is None else _clean_value(tag, "tag"),
    }
    label = _DASHES.sub("-", pattern.format(**values)).strip("-")
    return _fit(label, "\0".join((pattern, project, stage, tag or "")))


def fqdn(label: str, domain: str) -> str:
    """`label.domain`, checked, for the NPM proxy host and the instance URL."""
    checked = validate_label(label)
    host = domain.strip().lower().rstrip(".")
    parts = host.split(".")
    if not host or not all(LABEL_RE.fullmatch(part) for part in parts):
        raise ValidationFailed.single("domain", f"'{domain}' is not a valid domain name")
    name = f"{checked}.{host}"
    if len(name) > FQDN_MAX:
        raise ValidationFailed.single(
            "domain", f"'{name}' is longer than the {FQDN_MAX} characters DNS allows"
        )
    return name


def check_unique(wanted: Iterable[str], taken: Mapping[str, str]) -> None:
    """Refuse subdomains someone else holds, before a deploy creates anything.

    `taken` maps each subdomain in use to a description of its holder (`web/dev v1.2.0`); leave
    out names the caller may take over (its own stage default). Raises Conflict naming every clash.
    """
    holders = {name.lower(): holder for name, holder in taken.items()}
    clashes = [
        f"subdomain '{name}' is already used by {holders[name]}"
        for name in dict.fromkeys(w.lower() for w in wanted)
        if name in holders
    ]
    if clashes:
        raise Conflict("; ".join(clashes))


def _clean(text: str) -> str:
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    ascii_ish = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _DASHES.sub("-", _OUTSIDE.sub("-", ascii_ish)).strip("-")


def _fit(label: str, key: str) -> str:
    if len(label) <= LABEL_MAX:
        return label
    suffix = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    keep = LABEL_MAX - HASH_CHARS - 1
    return f"{label[:keep].rstrip('-')}-{suffix}"


def _clean_value(value: str, field: str) -> str:
    cleaned = _clean(value)
    if not cleaned:
        raise ValidationFailed.single(
            field, f"'{value}' has no letters or digits to build a subdomain from"
        )
    return cleaned


def _pattern_fields(pattern: str) -> set[str]:
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError:
        raise ValidationFailed.single(
            PATTERN_FIELD, f"'{pattern}' has an unmatched '{{' or '}}'"
        ) from None
    names: set[str] = set()
    for literal, name, spec, conversion in parts:
        if not _LITERAL_RE.fullmatch(literal):
            raise ValidationFailed.single(PATTERN_FIELD, _pattern_help(pattern))
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            raise ValidationFailed.single(
                PATTERN_FIELD, f"unknown placeholder '{{{name}}}': " + _pattern_help(pattern)
            )
        if spec or conversion:
            raise ValidationFailed.single(
                PATTERN_FIELD, f"write '{{{name}}}' plainly, without a format spec or conversion"
            )
        names.add(name)
    return names


def _pattern_help(pattern: str) -> str:
    return (
        f"'{pattern}' may contain only lowercase letters, digits, dashes and the placeholders "
        "{stage}, {project} and {tag}"
    )
