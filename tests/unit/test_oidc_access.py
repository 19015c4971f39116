"""Who may enter through the provider, and with which role (services/auth/oidc_access.py)."""

from __future__ import annotations

from typing import Any

import pytest

from services.auth.oidc_access import (
    NO_ROLE,
    NO_USERNAME,
    NOT_ALLOWED,
    UNVERIFIED_EMAIL,
    AccessRefused,
    admit,
)
from services.store.models import AuthSettings, Role


def settings(**changes: Any) -> AuthSettings:
    return AuthSettings(**{"id": 1, "oidc_default_role": "viewer", **changes})


def claims(**changes: Any) -> dict[str, Any]:
    return {
        "sub": "s-1",
        "preferred_username": "alice",
        "email": "alice@example.test",
        "email_verified": True,
        "groups": ["staff"],
        **changes,
    }


def refusal(row: AuthSettings, person: dict[str, Any]) -> str:
    with pytest.raises(AccessRefused) as refused:
        admit(row, person)
    return str(refused.value)


def test_without_allow_lists_anyone_enters_with_the_default_role() -> None:
    admission = admit(settings(), claims())
    assert (admission.username, admission.email, admission.role) == (
        "alice",
        "alice@example.test",
        Role.VIEWER,
    )


@pytest.mark.parametrize(
    "lists",
    [
        {"allowed_users": ["Alice"]},  # the username, case-insensitively
        {"allowed_users": ["ALICE@example.test"]},  # or the email
        {"allowed_groups": ["staff"]},
        {"allowed_email_domains": ["example.test"]},
        {"allowed_email_domains": ["@example.test"]},
        {"allowed_users": ["bob"], "allowed_groups": ["staff"]},  # one match in any list
    ],
)
def test_a_match_in_any_allow_list_lets_the_person_in(lists: dict[str, list[str]]) -> None:
    assert admit(settings(**lists), claims()).username == "alice"


@pytest.mark.parametrize(
    "lists",
    [
        {"allowed_users": ["bob", "bob@example.test"]},
        {"allowed_groups": ["admins"]},
        {"allowed_email_domains": ["example.org", "test"]},  # whole domain only
    ],
)
def test_a_person_in_no_allow_list_is_refused(lists: dict[str, list[str]]) -> None:
    assert refusal(settings(**lists), claims()) == NOT_ALLOWED


def test_an_unverified_email_admits_nobody_unless_verification_is_not_required() -> None:
    unverified = claims(email_verified=False)
    by_domain = settings(allowed_email_domains=["example.test"])
    by_address = settings(allowed_users=["alice@example.test"])
    assert refusal(by_domain, unverified) == UNVERIFIED_EMAIL
    assert refusal(by_address, unverified) == UNVERIFIED_EMAIL
    assert refusal(by_domain, claims(email_verified="false")) == UNVERIFIED_EMAIL
    assert admit(by_domain, claims(email_verified="true")).username == "alice"
    lax = settings(allowed_email_domains=["example.test"], require_verified_email=False)
    assert admit(lax, unverified).username == "alice"


def test_a_value_without_at_sign_is_no_email_domain() -> None:
    row = settings(allowed_email_domains=["example.test"])
    assert refusal(row, claims(email="example.test")) == NOT_ALLOWED


def test_the_highest_mapped_role_wins_whatever_the_group_order() -> None:
    row = settings(oidc_role_map={"ops": "deployer", "root": "admin", "staff": "viewer"})
    assert admit(row, claims(groups=["staff", "ops"])).role == Role.DEPLOYER
    assert admit(row, claims(groups=["staff", "root", "ops"])).role == Role.ADMIN
    assert admit(row, claims(groups=["other"])).role == Role.VIEWER  # the default role


def test_no_mapped_group_and_no_default_role_is_refused() -> None:
    row = settings(oidc_role_map={"root": "admin"}, oidc_default_role="")
    assert refusal(row, claims(groups=["staff"])) == NO_ROLE
    assert admit(row, claims(groups="root")).role == Role.ADMIN  # a single group as text


def test_the_groups_come_from_the_configured_claim() -> None:
    row = settings(oidc_groups_claim="roles", allowed_groups=["staff"])
    assert refusal(row, claims()) == NOT_ALLOWED
    assert admit(row, claims(roles=["staff"])).username == "alice"


@pytest.mark.parametrize("value", [None, "", "   ", 42, "a\nb", "x" * 151])
def test_an_unusable_username_is_refused(value: object) -> None:
    assert refusal(settings(), claims(preferred_username=value)) == NO_USERNAME


def test_the_username_comes_from_the_configured_claim() -> None:
    assert admit(settings(oidc_username_claim="email"), claims()).username == "alice@example.test"
