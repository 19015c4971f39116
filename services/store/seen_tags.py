"""Tags (and digests) the webhook and the poller have noticed, so nothing is deployed twice.

One row per (project, tag). `claim` is the single place that decides whether a sighting is news:
one SQL upsert, atomic in SQLite, so a webhook and the poller racing on the same push cannot both
win. A row with the empty tag `""` (never a valid image tag) marks that the poller has taken its
baseline of the project's repository; its `digest` column holds the image name the baseline was
taken for, so changing a project's image takes a new baseline. Rows cascade with their project.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete
from sqlalchemy.dialects.sqlite import insert
from sqlmodel import col, select

from services.errors import NotFound
from services.store.db import Database
from services.store.models import SeenTag, utcnow

BASELINE_MARKER = ""  # the tag of the row that marks a taken baseline
_CHUNK = 500


class SeenState(StrEnum):
    BASELINE = "baseline"  # already in the repository when the poller first looked
    AVAILABLE = "available"  # waiting for a person to deploy it
    DEPLOYED = "deployed"  # handed to the deployer
    REFUSED = "refused"  # a rule refused it (promote_from)
    IGNORED = "ignored"  # no stage matches it
    SUPERSEDED = "superseded"  # arrived together with newer tags; only the newest were routed
    MARKER = "marker"  # the baseline marker row


class SeenTagStore:
    """Reads and claims seen tags; every method is one short transaction (call in a thread)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def tags(self, project_id: int) -> dict[str, SeenTag]:
        """Every seen tag of a project by name (the baseline marker left out)."""
        with self._db.session() as session:
            query = select(SeenTag).where(
                SeenTag.project_id == project_id, SeenTag.tag != BASELINE_MARKER
            )
            return {row.tag: row for row in session.exec(query).all()}

    def snapshot(self, project_id: int) -> tuple[dict[str, SeenTag], str | None]:
        """Every seen tag by name, and the image the baseline was taken for (None: not yet)."""
        with self._db.session() as session:
            rows = session.exec(select(SeenTag).where(SeenTag.project_id == project_id)).all()
        marker = next((row.digest for row in rows if row.tag == BASELINE_MARKER), None)
        return {row.tag: row for row in rows if row.tag != BASELINE_MARKER}, marker

    def claim(self, project_id: int, tag: str, digest: str, state: SeenState) -> bool:
        """Record a sighting; True when it is news (tag unseen, or seen with another digest).

        An empty `digest` (unknown) claims only an unseen tag and never overwrites a known digest.
        """
        now = utcnow()
        row = {"project_id": project_id, "tag": tag, "digest": digest, "state": state.value}
        stmt = insert(SeenTag).values(**row, first_seen=now, last_seen=now)
        keys = ["project_id", "tag"]
        if digest:
            stmt = stmt.on_conflict_do_update(
                index_elements=keys,
                set_={"digest": digest, "state": state.value, "last_seen": now},
                where=col(SeenTag.digest) != digest,
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        with _project_must_exist(project_id), self._db.session() as session:
            return bool(session.exec(stmt).rowcount)

    def record(self, project_id: int, entries: Iterable[tuple[str, str, SeenState]]) -> None:
        """Insert (tag, digest, state) rows for tags not seen yet; existing rows are kept."""
        now = utcnow()
        rows = [
            {"project_id": project_id, "tag": tag, "digest": digest, "state": state.value}
            | {"first_seen": now, "last_seen": now}
            for tag, digest, state in entries
        ]
        stmt = insert(SeenTag).on_conflict_do_nothing(index_elements=["project_id", "tag"])
        with _project_must_exist(project_id), self._db.session() as session:
            for start in range(0, len(rows), _CHUNK):  # SQLite caps variables per statement
                session.exec(stmt.values(rows[start : start + _CHUNK]))

    def forget_missing(self, project_id: int, present: set[str], before: datetime) -> int:
        """Drop tags gone from the repository, so a tag pushed again later counts as new.

        Only rows last touched before `before` (the start of the listing) go: a webhook that
        claimed a tag while the list was being fetched keeps its claim.
        """
        with self._db.session() as session:
            query = select(SeenTag.tag).where(
                SeenTag.project_id == project_id,
                SeenTag.tag != BASELINE_MARKER,
                col(SeenTag.last_seen) < before,
            )
            gone = [tag for tag in session.exec(query).all() if tag not in present]
            if gone:
                session.exec(
                    delete(SeenTag).where(
                        col(SeenTag.project_id) == project_id, col(SeenTag.tag).in_(gone)
                    )
                )
            return len(gone)

    def take_baseline(self, project_id: int, image: str, tags: Iterable[str]) -> None:
        """Record every current tag as baseline (deploying nothing) and mark the baseline taken.

        Tags already claimed (say by a webhook moments earlier) keep their row.
        """
        self.record(project_id, ((tag, "", SeenState.BASELINE) for tag in tags))
        self.claim(project_id, BASELINE_MARKER, image, SeenState.MARKER)


@contextmanager
def _project_must_exist(project_id: int) -> Iterator[None]:
    """A project deleted meanwhile fails its foreign key (NotFound): say which project."""
    try:
        yield
    except NotFound as exc:
        raise NotFound(f"project {project_id} no longer exists") from exc
