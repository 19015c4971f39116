"""Who may enter through the OIDC provider, and with which role: pure rules, no I/O.

The provider vouches for a person (verified ID token claims); these rules decide whether the
auth settings let that person in. The allow-lists are optional: when any is set, the person must
match at least one entry of one list (a username or email in `allowed_users`, a group in
`allowed_groups`, or an email whose domain is in `allowed_email_domains`). An email only counts
when the provider says it is verified (`email_verified`), unless `require_verified_email` is off:
most providers let people type any address, so an unverified one proves nothing.

The role comes from the person's groups through `oidc_role_map` (the highest mapped role wins:
admin > deployer > viewer), else `oidc_default_role`, else the person is refused. Every refusal
carries fixed wording (never text the provider sent), since the person reads it on the login page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.store.models import AuthSettings, Role

MAX_USERNAME_CHARS = 150  # the column's limit
ROLE_PRECEDENCE = (Role.ADMIN, Role.DEPLOYER, Role.VIEWER)

NOT_ALLOWED = "Your account is not allowed to sign in to this dashboard."
UNVERIFIED_EMAIL = (
    "Your email address is not verified at the provider, so it cannot admit you. "
    "Verify it there and sign in again."
)
NO_ROLE = "Your account is in no group that has a role on this dashboard."
NO_USERNAME = "The provider did not send a usable username for your account."


class AccessRefused(Exception):
    """The person may not enter; the message is fixed wording meant for them."""


@dataclass(frozen=True)
class Admission:
    """A person the settings let in: the name to use for a new account, and the role."""

    username: str
    email: str | None
    role: Role


def admit(row: AuthSettings, claims: Mapping[str, Any]) -> Admission:
    """Apply the allow-lists and the role map to verified claims, or raise `AccessRefused`."""
    username = _username(claims.get(row.oidc_username_claim))
    email = _text(claims.get("email"))
    verified = _true(claims.get("email_verified"))
    groups = _groups(claims.get(row.oidc_groups_claim))
    _check_allow_lists(row, username, email, verified, groups)
    return Admission(username=username, email=email, role=_role(row, groups))


def _check_allow_lists(
    row: AuthSettings, username: str, email: str | None, verified: bool, groups: Sequence[str]
) -> None:
    if not (row.allowed_users or row.allowed_groups or row.allowed_email_domains):
        return  # no allow-list: anyone the provider signs in (the role map still applies)
    if username.casefold() in _folded(row.allowed_users):
        return
    if set(groups) & set(row.allowed_groups):
        return
    email_would_match = email is not None and (
        email.casefold() in _folded(row.allowed_users)
        or _domain(email) in {d.casefold().lstrip("@") for d in row.allowed_email_domains}
    )
    if email_would_match and (verified or not row.require_verified_email):
        return
    raise AccessRefused(UNVERIFIED_EMAIL if email_would_match else NOT_ALLOWED)


def _role(row: AuthSettings, groups: Sequence[str]) -> Role:
    mapped = {row.oidc_role_map[g] for g in groups if g in row.oidc_role_map}
    for role in ROLE_PRECEDENCE:
        if role.value in mapped:
            return role
    if row.oidc_default_role in {role.value for role in Role}:
        return Role(row.oidc_default_role)
    raise AccessRefused(NO_ROLE)


def _username(value: object) -> str:
    """The username claim, if it is usable as ours: text, printable, within the column."""
    text = _text(value)
    if text is None or len(text) > MAX_USERNAME_CHARS or not text.isprintable():
        raise AccessRefused(NO_USERNAME)
    return text


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _true(value: object) -> bool:
    """`email_verified` is a JSON boolean; a few providers send the string "true"."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _groups(value: object) -> list[str]:
    """The groups claim: a list of names (a single name is taken as a list of one)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _folded(values: Sequence[str]) -> set[str]:
    return {value.strip().casefold() for value in values}


def _domain(email: str) -> str:
    """The part after the last `@` ("" for a value without one, which matches no domain)."""
    local, at, domain = email.rpartition("@")
    return domain.casefold() if at and local else ""
