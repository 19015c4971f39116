"""The rules an env entry must follow, shared by the env service and the seed format.

Pure (no database, no key), so the YAML import and the UI refuse exactly the same input.
Limits keep a container startable: Linux refuses an `execve` whose environment exceeds
ARG_MAX (about 2 MiB) or holds a single string over 128 KiB, and a NUL byte cannot be passed.
"""

from __future__ import annotations

import re

from services.errors import FieldError

KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_KEY_CHARS = 255  # the column's width (EnvVar.key)
MAX_VALUE_CHARS = 32 * 1024
MAX_ENTRIES = 200  # per project, and per stage
MAX_SCOPE_CHARS = 256 * 1024  # keys and values of one project or stage together
KEY_HINT = "letters, digits and '_', not starting with a digit"


def key_problem(key: str) -> str | None:
    """Why `key` is not a usable POSIX environment variable name, or None when it is."""
    if len(key) > MAX_KEY_CHARS:
        return f"is longer than {MAX_KEY_CHARS} characters"
    if not KEY_PATTERN.fullmatch(key):
        return f"is not a valid environment variable name ({KEY_HINT})"
    return None


def value_problem(value: str) -> str | None:
    """Why `value` cannot be passed to a container, or None when it can."""
    if len(value) > MAX_VALUE_CHARS:
        return f"is longer than {MAX_VALUE_CHARS} characters"
    if "\0" in value:
        return "must not contain a NUL character"
    return None


def scope_problems(sizes: list[tuple[str, int]], path: str) -> list[FieldError]:
    """Limits over a whole project or stage: `sizes` holds (key, value length) per entry."""
    errors: list[FieldError] = []
    if len(sizes) > MAX_ENTRIES:
        errors.append(FieldError(path, f"has more than {MAX_ENTRIES} entries"))
    total = sum(len(key) + length for key, length in sizes)
    if total > MAX_SCOPE_CHARS:
        errors.append(FieldError(path, f"is larger than {MAX_SCOPE_CHARS} characters in total"))
    return errors


def key_path(base: str, key: str) -> str:
    """`base.KEY`, shortened when the key itself is absurdly long (it is shown to a person)."""
    shown = key if len(key) <= 64 else key[:61] + "..."
    return f"{base}.{shown or '(empty name)'}"
