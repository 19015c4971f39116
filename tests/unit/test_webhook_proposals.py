"""Defaults for projects made from an image (quick deploy, auto-creation) and poll back-off."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from services.detect import proposals
from services.detect.poll_status import SourceStatus
from services.errors import RateLimited, UpstreamError, ValidationFailed
from services.imageref import ImageRef
from services.store.models import GlobalSettings, utcnow
from services.types import ImageHealthcheck, ImageInfo


def _context(
    domain: str = "example.com", owners: dict[str, int] | None = None
) -> proposals.Context:
    return proposals.Context(
        taken_names=set(),
        existing_project_id=None,
        settings=GlobalSettings(domain=domain),
        subdomain_owners=owners or {},
    )


@pytest.mark.parametrize(
    ("repository", "taken", "name"),
    [
        ("ghcr.io/me/web_app", set(), "web-app"),
        ("ghcr.io/me/app", {"app"}, "app-2"),
        ("ghcr.io/me/app", {"app", "app-2", "app-3"}, "app-4"),
        ("ghcr.io/me/" + "x" * 60, set(), "x" * 40),
    ],
)
def test_project_name_from_the_last_component(repository: str, taken: set[str], name: str) -> None:
    got, clash = proposals.project_name(ImageRef.parse_name(repository), taken)
    assert got == name and (clash is None) == (not taken)


@pytest.mark.parametrize(
    ("tag", "plan"),
    [
        ("v1.2.0", ("rel", "v*", False)),
        ("dev-12", ("dev", "dev-*", True)),
        ("main.abc123", ("dev", "main.*", True)),
        ("feature_x", ("dev", "feature_*", True)),
        ("latest", ("dev", "latest", True)),
        ("1.2.3", ("dev", "1.2.3", True)),
    ],
)
def test_stage_chosen_by_tag(tag: str, plan: tuple[str, str, bool]) -> None:
    stage = proposals.stage_for_tag(tag)
    assert (stage.name, stage.tag_pattern, stage.auto_deploy) == plan


def test_build_reads_ports_healthcheck_and_labels() -> None:
    info = ImageInfo(
        id="sha256:1",
        digest="sha256:" + "a" * 64,
        exposed_ports=(3000, 9090),
        healthcheck=ImageHealthcheck(test=("CMD", "true")),
        labels={proposals.LABEL_TITLE: "Shop", proposals.LABEL_URL: "https://shop.example"},
    )
    proposal = proposals.build(ImageRef.parse("ghcr.io/me/shop:v2"), info, 7, _context())

    assert (proposal.port, proposal.health_mode, proposal.registry_id) == (3000, "docker", 7)
    assert (proposal.title, proposal.url, proposal.description) == (
        "Shop",
        "https://shop.example",
        None,
    )
    assert proposal.subdomain == "stage-rel-shop.example.com"
    assert proposal.tag_subdomain == "stage-rel-shop-v2.example.com"
    assert proposal.reference == "ghcr.io/me/shop:v2"


def test_build_without_expose_or_domain() -> None:
    proposal = proposals.build(
        ImageRef.parse("nginx:latest"), ImageInfo(id="sha256:1"), None, _context(domain="")
    )
    assert (proposal.port, proposal.health_mode, proposal.subdomain) == (80, "running", None)
    assert proposal.image == "docker.io/library/nginx" and proposal.name == "nginx"


def test_subdomains_held_by_others_are_flagged() -> None:
    owners = {"stage-dev-shop.example.com": 4}
    proposal = proposals.build(
        ImageRef.parse("ghcr.io/me/shop:dev-1"), ImageInfo(id="x"), None, _context(owners=owners)
    )
    assert proposal.subdomain_clash == "stage-dev-shop.example.com already used by another instance"


def test_validate_names_every_bad_field() -> None:
    good = proposals.build(
        ImageRef.parse("ghcr.io/me/shop:dev-1"), ImageInfo(id="x"), None, _context()
    )
    proposals.validate(good)
    stage = dataclasses.replace(good.stage, name="Dev!", tag_pattern="v*", max_instances=0)
    bad = dataclasses.replace(good, name="-x", port=70000, healthcheck="health", stage=stage)

    with pytest.raises(ValidationFailed) as caught:
        proposals.validate(bad)
    assert [e.path for e in caught.value.errors] == [
        "name",
        "port",
        "healthcheck",
        "stage.name",
        "stage.tag_pattern",
        "stage.max_instances",
    ]


def test_source_backs_off_exponentially_up_to_the_cap() -> None:
    state = SourceStatus("k", "reg")
    delays = [state.failed(UpstreamError("500"), 0.0, 10.0, 60.0) for _ in range(5)]
    assert delays == [10.0, 20.0, 40.0, 60.0, 60.0]
    assert state.failures == 5 and not state.ok and state.last_error == "500"

    state.succeeded(100.0, 10.0)
    assert state.ok and state.due == 110.0 and state.last_ok is not None
    assert state.last_error == "500"  # kept for the UI, with its time


def test_retry_after_wins_when_longer_and_is_capped() -> None:
    state = SourceStatus("k", "reg")
    assert state.failed(RateLimited("slow down", 300.0), 0.0, 10.0, 3600.0) == 300.0
    assert state.failed(RateLimited("slow down", 99999.0), 0.0, 10.0, 3600.0) == 3600.0
    assert state.next_at is not None and state.next_at - utcnow() > timedelta(seconds=3500)
