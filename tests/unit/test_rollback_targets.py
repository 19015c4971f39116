"""Which deploy "Roll back" returns to, which digests image clean-up keeps, and the snapshot."""

from __future__ import annotations

from typing import Any

from services.deploy import container_config, snapshot
from services.deploy.image_cleanup import kept_digests
from services.deploy.rollback import pick_target
from services.store.models import (
    Deploy,
    DeployStatus,
    DeployTrigger,
    EnvVar,
    Project,
    Stage,
    VolumeMount,
)

SNAP_A: dict[str, Any] = {"version": 1, "env": [], "mounts": [], "project": {"port": 80}}
SNAP_B: dict[str, Any] = {**SNAP_A, "project": {"port": 81}}


def deploy(number: int, digest: str, snap: dict[str, Any] | None = None) -> Deploy:
    return Deploy(
        id=number,
        project_name="p",
        stage_name="s",
        tag=f"v{number}",
        digest=digest,
        trigger=DeployTrigger.MANUAL,
        status=DeployStatus.SUCCEEDED,
        config_snapshot=SNAP_A if snap is None else snap,
    )


def test_the_target_is_the_newest_older_deploy_that_ran_something_else() -> None:
    newest_first = [deploy(4, "d2"), deploy(3, "d2"), deploy(2, "d1"), deploy(1, "d0")]
    assert pick_target(newest_first) is newest_first[2]


def test_another_config_with_the_same_digest_is_a_target() -> None:
    newest_first = [deploy(2, "d1"), deploy(1, "d1", SNAP_B)]
    assert pick_target(newest_first) is newest_first[1]


def test_no_target_without_an_older_runnable_deploy() -> None:
    assert pick_target([]) is None
    assert pick_target([deploy(1, "d1")]) is None
    assert pick_target([deploy(2, "d1"), deploy(1, "d0", {})]) is None  # before snapshots
    assert pick_target([deploy(2, "d1"), deploy(1, "")]) is None  # no digest recorded


def test_kept_digests_are_the_last_distinct_ones() -> None:
    newest_first = [deploy(4, "d3"), deploy(3, "d3"), deploy(2, "d2"), deploy(1, "d1")]
    assert kept_digests(newest_first, 2) == ["d3", "d2"]
    assert kept_digests(newest_first, 1) == ["d3"]


class Rows:
    """Project rows as the ProjectStore returns them ("secret" values stand for ciphertext)."""

    def __init__(self) -> None:
        self.env = [
            EnvVar(project_id=1, key="A", value="plain"),
            EnvVar(project_id=1, key="S", value="v1:cipher", secret=True),
            EnvVar(project_id=1, stage_id=7, key="A", value="stage"),
        ]
        self.mounts = [VolumeMount(project_id=1, source="/data/x", target="/x")]

    def env_entries(self, project_id: int) -> list[EnvVar]:
        return self.env

    def volumes(self, project_id: int) -> list[VolumeMount]:
        return self.mounts

    def reveal(self, entry: EnvVar) -> str:
        return "opened" if entry.secret else entry.value or ""


def test_a_snapshot_keeps_ciphertext_and_gives_back_the_same_fingerprint() -> None:
    rows = Rows()
    project = Project(id=1, name="p", image="r/p", port=8080, healthcheck="/health")
    stage = Stage(id=7, project_id=1, name="s")
    taken = snapshot.take(rows, project, stage)

    assert {"key": "S", "value": "v1:cipher", "secret": True} in taken["env"]
    assert "opened" not in repr(taken)
    assert taken["project"]["port"] == 8080 and snapshot.usable(taken)
    again = snapshot.SnapshotRows(taken, 1, rows)
    original = container_config.current_fingerprint(rows, 1, stage)
    assert container_config.current_fingerprint(again, 1, stage) == original
    env = container_config.resolve_env(again.env_entries(1), stage.id)
    assert {k: again.reveal(v) for k, v in env.items()} == {"A": "stage", "S": "opened"}
    moved = snapshot.project_as_deployed(project.model_copy(update={"port": 9000}), taken)
    assert moved.port == 8080 and moved.image == "r/p"
