"""SeenTagStore on a real SQLite file: claim semantics, racing claims, baseline, forgetting."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from services.errors import NotFound
from services.secrets import SecretBox
from services.store.db import Database
from services.store.projects import ProjectStore
from services.store.seen_tags import SeenState, SeenTagStore

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


@pytest.fixture
def store(tmp_path: Path) -> tuple[SeenTagStore, int]:
    db = Database(tmp_path / "watcher.db")
    db.migrate()
    project = ProjectStore(db, SecretBox(os.urandom(32))).create(name="app", image="h/app")
    assert project.id is not None
    return SeenTagStore(db), project.id


def test_claim_is_news_once_per_digest(store: tuple[SeenTagStore, int]) -> None:
    seen, pid = store
    assert seen.claim(pid, "v1", D1, SeenState.DEPLOYED) is True
    assert seen.claim(pid, "v1", D1, SeenState.DEPLOYED) is False
    assert seen.claim(pid, "v1", "", SeenState.DEPLOYED) is False  # unknown never overwrites
    assert seen.claim(pid, "v1", D2, SeenState.AVAILABLE) is True  # the tag moved
    assert seen.claim(pid, "v2", "", SeenState.AVAILABLE) is True  # unseen, digest unknown
    rows = seen.tags(pid)
    assert (rows["v1"].digest, rows["v1"].state) == (D2, "available")
    assert rows["v1"].first_seen <= rows["v1"].last_seen


def test_racing_claims_have_exactly_one_winner(store: tuple[SeenTagStore, int]) -> None:
    seen, pid = store
    start = threading.Barrier(16)
    wins: list[bool] = []

    def claim() -> None:
        start.wait()
        wins.append(seen.claim(pid, "dev-1", D1, SeenState.DEPLOYED))

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(wins) == [False] * 15 + [True]


def test_baseline_keeps_claims_and_follows_the_image(store: tuple[SeenTagStore, int]) -> None:
    seen, pid = store
    seen.claim(pid, "dev-9", D1, SeenState.DEPLOYED)
    assert seen.snapshot(pid)[1] is None  # no baseline yet

    seen.take_baseline(pid, "h/app", ["dev-8", "dev-9"] + [f"t{n}" for n in range(1200)])

    tags, marker = seen.snapshot(pid)
    assert marker == "h/app" and len(tags) == 1202 and "" not in tags
    assert (tags["dev-9"].state, tags["dev-8"].state) == ("deployed", "baseline")


def test_forget_missing_spares_claims_made_during_the_listing(
    store: tuple[SeenTagStore, int],
) -> None:
    seen, pid = store
    seen.take_baseline(pid, "h/app", ["old", "kept"])
    seen.claim(pid, "fresh", D1, SeenState.DEPLOYED)  # a webhook while the list was fetched
    listing_started = seen.tags(pid)["fresh"].last_seen  # at the latest: the claim's moment
    assert seen.tags(pid)["old"].last_seen < listing_started

    assert seen.forget_missing(pid, {"kept"}, listing_started) == 1
    assert set(seen.tags(pid)) == {"kept", "fresh"}
    assert seen.snapshot(pid)[1] == "h/app"  # the marker is never forgotten


def test_claims_for_a_deleted_project_raise_not_found(store: tuple[SeenTagStore, int]) -> None:
    seen, pid = store
    with pytest.raises(NotFound):
        seen.claim(pid + 1000, "v1", D1, SeenState.DEPLOYED)
    with pytest.raises(NotFound):
        seen.record(pid + 1000, [("v1", "", SeenState.BASELINE)])
