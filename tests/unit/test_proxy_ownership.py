"""Is this proxy host ours? One answer (`services.npm.ownership`) that every caller asks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.npm.ownership import OurHosts, mark
from services.npm.values import ProxyHost

ROOT = Path(__file__).resolve().parents[2]
MARKED = {"managed_by": "docker-watcher"}


def host(host_id: int, meta: dict[str, Any] | None = None) -> ProxyHost:
    return ProxyHost.from_api({"id": host_id, "domain_names": ["a.test"], "meta": meta or {}})


def test_a_host_is_ours_by_the_marker_or_by_an_instance_holding_its_id() -> None:
    ours = OurHosts.held_by([{"a.test": 7}, {"b.test": 9, "c.test": 11}])

    assert ours.held == {7, 9, 11}
    assert ours.owns(host(3, MARKED))  # we made it
    assert ours.owns(host(9))  # made before the marker existed, held by an instance
    assert not ours.owns(host(4))  # someone else's
    assert not ours.owns(host(5, {"managed_by": "someone-else"}))


def test_a_leftover_is_marked_yet_held_by_no_instance() -> None:
    ours = OurHosts.held_by([{"a.test": 7}])

    assert ours.leftover(host(3, MARKED))
    assert not ours.leftover(host(7, MARKED))  # an instance serves through it
    assert not ours.leftover(host(4))  # not ours at all: never deleted


def test_marking_keeps_the_meta_and_makes_the_host_ours() -> None:
    meta = mark({"note": "kept"})

    assert meta == {"note": "kept", **MARKED}
    assert OurHosts().owns(host(1, meta))


def test_no_other_module_reads_or_writes_the_marker() -> None:
    """The marker's key appears in the ownership module only; everyone else asks it."""
    readers = [
        path.relative_to(ROOT).as_posix()
        for folder in ("services", "app", "pages")
        for path in (ROOT / folder).rglob("*.py")
        if "managed_by" in path.read_text(encoding="utf-8")
    ]

    assert readers == ["services/npm/ownership.py"]
