"""Quick deploy's review of an edited proposal: clashes and addresses worked out again."""

from __future__ import annotations

from dataclasses import replace

from services.detect.proposals import Context, Proposal, StagePlan, reviewed
from services.store.models import GlobalSettings

SETTINGS = GlobalSettings(domain="apps.test")


def context(**changes: object) -> Context:
    base = Context(
        taken_names={"web"},
        existing_project_id=None,
        settings=SETTINGS,
        subdomain_owners={},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def proposal(name: str, subdomain: str | None = None) -> Proposal:
    stage = StagePlan("dev", "dev-*", auto_deploy=True, subdomain=subdomain)
    return Proposal(image="registry.test/me/web", tag="dev-1", name=name, port=8080, stage=stage,
                    health_mode="running", registry_id=None)  # fmt: skip


def test_a_taken_name_is_flagged_and_a_free_one_is_not() -> None:
    assert reviewed(proposal("web"), context()).name_clash == "a project named 'web' already exists"
    assert reviewed(proposal("shop"), context()).name_clash is None


def test_addresses_follow_the_name_and_the_custom_subdomain() -> None:
    plain = reviewed(proposal("shop"), context())
    assert plain.tag_subdomain is not None and "shop" in plain.tag_subdomain
    custom = reviewed(proposal("shop", subdomain="launcher"), context())
    assert custom.subdomain == "launcher.apps.test"


def test_a_subdomain_held_by_an_instance_is_flagged_and_clears_when_changed() -> None:
    held = context(subdomain_owners={"launcher.apps.test": 7})
    flagged = reviewed(proposal("shop", subdomain="launcher"), held)
    assert flagged.subdomain_clash == "launcher.apps.test already used by another instance"
    assert reviewed(proposal("shop", subdomain="other"), held).subdomain_clash is None


def test_without_a_domain_there_is_no_preview_and_no_stale_one() -> None:
    edited = replace(proposal("shop"), subdomain="old.apps.test", tag_subdomain="x.apps.test")
    fresh = reviewed(edited, context(settings=GlobalSettings(domain="")))
    assert (fresh.subdomain, fresh.tag_subdomain, fresh.subdomain_clash) == (None, None, None)
