"""Image tags: matching stages' shell-glob patterns and ordering tags newest first.

Ordering rule (`sort_newest_first`):
1. Version tags come first, highest version first. A version tag is an optional `v`/`V`, numbers
   joined by dots, then optionally `-prerelease` and `+build` (`1.2`, `v1.2.0`, `v2.0.0-rc.10`,
   `v1.2.0+build.5`, and date tags like `2024-05-01`). Versions compare numerically component by
   component, trailing `.0`s ignored (`1.2` == `1.2.0`); a release is newer than its pre-releases;
   pre-release parts compare in natural order (`rc.10` > `rc.9`, and also `rc10` > `rc9`, where
   strict semver would compare text); build metadata does not order.
2. All other tags follow (`latest`, `dev-10`, `main-abc123`), in descending natural order: digit
   runs compare as numbers, so `dev-10` comes before `dev-9`, and text compares as text.
3. Ties (`v1.2` vs `1.2.0`, `dev-010` vs `dev-10`) fall back to the plain string, descending, so
   the order is total and does not depend on the input order.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Protocol, TypeVar

_VERSION = re.compile(
    r"[vV]?(?P<core>[0-9]+(?:\.[0-9]+)*)"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?"
    r"(?:\+(?P<build>[0-9A-Za-z.-]+))?"
)
_CHUNKS = re.compile(r"([0-9]+)|([^0-9]+)")
# What a glob over tags needs: the tag characters plus `*`, `?` and `[...]` sets (`[!...]`
# negates, `-` makes ranges). Nothing else: a pattern is shown in pages and logs, and quotes,
# spaces or angle brackets have no business in it.
PATTERN_CHARS = re.compile(r"[A-Za-z0-9_.*?\[\]!-]+")
MAX_PATTERN_CHARS = 128
PATTERN_HINT = "letters, digits, '_', '.', '-', and the glob characters '*', '?', '[', ']', '!'"

# A natural-order chunk: (0, number, "") for a digit run, (1, 0, text) for anything else, so
# numbers sort below text, as semver ranks numeric pre-release parts below alphanumeric ones.
_Chunk = tuple[int, int, str]


class HasTagPattern(Protocol):
    """Anything with a stage's name and tag glob (the Stage model, a seed entry, a test double)."""

    @property
    def name(self) -> str: ...

    @property
    def tag_pattern(self) -> str: ...


StageT = TypeVar("StageT", bound=HasTagPattern)


def matches(pattern: str, tag: str) -> bool:
    """True when `tag` matches the shell glob `pattern` (`*`, `?`, `[...]`), case-sensitively.

    Case-sensitive because registries treat `V1` and `v1` as different tags.
    """
    return fnmatch.fnmatchcase(tag, pattern)


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is not a usable tag glob, or None when it is."""
    if not pattern.strip():
        return "must not be empty"
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"must be at most {MAX_PATTERN_CHARS} characters"
    if not PATTERN_CHARS.fullmatch(pattern):
        return f"may contain only {PATTERN_HINT}"
    return None


def stages_for_tag(stages: Iterable[StageT], tag: str) -> list[StageT]:
    """The stages whose `tag_pattern` matches `tag`, in the given order (routing a new tag)."""
    return [stage for stage in stages if matches(stage.tag_pattern, tag)]


def sort_newest_first(tags: Iterable[str]) -> list[str]:
    """Tags ordered newest first by the module's rule, for "deploy new version" lists."""
    return sorted(tags, key=_sort_key, reverse=True)


def _sort_key(tag: str) -> tuple[object, ...]:
    found = _VERSION.fullmatch(tag)
    if found is None:
        return (0, _natural(tag), tag)
    core = [int(part) for part in found["core"].split(".")]
    while len(core) > 1 and core[-1] == 0:
        core.pop()
    pre = found["pre"]
    release = (1, ()) if pre is None else (0, tuple(_natural(part) for part in pre.split(".")))
    return (1, tuple(core), release, tag)


def _natural(text: str) -> tuple[_Chunk, ...]:
    return tuple(
        (0, int(digits), "") if digits else (1, 0, other) for digits, other in _CHUNKS.findall(text)
    )
