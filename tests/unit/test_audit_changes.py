"""How a change and a deploy outcome become audit rows: field names only (secrets named without
`_enc`), refusals by field path and never their text, and the actor of a detection deploy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.audit.changes import changed_fields, record_change
from services.audit.log import Actor, Target
from services.deploy.records import record_outcome
from services.detect.intake import detector
from services.errors import FieldError, ValidationFailed
from services.store.db import Database
from services.store.models import (
    ActorKind,
    AuditOutcome,
    Deploy,
    DeployStatus,
    DeployTrigger,
)
from tests.support.audit import TESTER, audit_log, audit_rows


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "watcher.db")
    database.migrate()
    yield database
    database.close()


def test_changed_fields_name_secrets_without_their_suffix_and_skip_bookkeeping() -> None:
    before = {"id": 1, "url": "a", "token_enc": "v1:x", "updated_at": 1, "username": "u"}
    after = {"id": 2, "url": "a", "token_enc": "v1:y", "updated_at": 2, "username": "u"}
    assert changed_fields(before, after) == ["token"]
    assert changed_fields({}, {"port": 80}) == ["port"]


async def test_a_refused_change_names_the_fields_never_the_submitted_value(db: Database) -> None:
    async def refused() -> None:
        raise ValidationFailed([FieldError("env.API_KEY", "bad value 'hunter2-SECRET'")])

    with pytest.raises(ValidationFailed):
        await record_change(audit_log(db), TESTER, Target(project="web"), refused())

    (row,) = audit_rows(db)
    assert (row.actor, row.outcome, row.detail) == (
        "tester",
        AuditOutcome.REFUSED,
        {"change": "update", "fields": ["env.API_KEY"]},
    )
    assert "hunter2" not in row.model_dump_json()


@pytest.mark.parametrize(
    ("trigger", "status", "action", "actor", "outcome"),
    [
        (DeployTrigger.POLL, DeployStatus.SUCCEEDED, "deploy", ("poller", "poller"), "ok"),
        (DeployTrigger.WEBHOOK, DeployStatus.FAILED, "deploy", ("webhook", "webhook"), "failed"),
        (DeployTrigger.PROMOTE, DeployStatus.REFUSED, "promote", ("bob", "user"), "refused"),
        (DeployTrigger.ROLLBACK, DeployStatus.SKIPPED, "rollback", ("bob", "user"), "ok"),
    ],
)
async def test_a_finished_deploy_without_its_request_names_the_actor_of_its_record(
    db: Database,
    trigger: DeployTrigger,
    status: DeployStatus,
    action: str,
    actor: tuple[str, str],
    outcome: str,
) -> None:
    name = (
        detector(trigger).name if trigger in (DeployTrigger.POLL, DeployTrigger.WEBHOOK) else "bob"
    )
    deploy = Deploy(
        id=7,
        project_name="web",
        stage_name="dev",
        tag="v1",
        digest="sha256:" + "a" * 64,
        trigger=trigger,
        status=status,
        actor=name,
    )
    await record_outcome(audit_log(db), deploy)

    (row,) = audit_rows(db)
    assert (row.action, (row.actor, str(row.actor_kind)), str(row.outcome)) == (
        action,
        actor,
        outcome,
    )
    assert (row.detail["tag"], row.detail["digest"], row.detail["deploy_id"]) == (
        "v1",
        deploy.digest,
        7,
    )


async def test_the_request_actor_wins_with_its_address(db: Database) -> None:
    deploy = Deploy(
        project_name="web", stage_name="dev", tag="v1", trigger=DeployTrigger.MANUAL, actor="alice"
    )
    await record_outcome(audit_log(db), deploy, Actor.user("alice", "192.0.2.1"))
    (row,) = audit_rows(db)
    assert (row.actor, row.actor_kind, row.address) == ("alice", ActorKind.USER, "192.0.2.1")
