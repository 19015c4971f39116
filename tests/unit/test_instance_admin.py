"""InstanceAdmin: a person's deploy is checked against the stage's rules before it is queued,
and controls only ever act on an instance of the named project and stage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.admin.instance_admin import InstanceAdmin
from services.errors import NotFound, ValidationFailed
from services.store.models import DeployTrigger, InstanceStatus, Project
from tests.support.admin_fakes import RecordingControl, RecordingDeployer, Stores, stores
from tests.support.audit import TESTER, audit_log


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Stores]:
    with stores(tmp_path) as built:
        yield built


@pytest.fixture
def control(db: Stores) -> RecordingControl:
    return RecordingControl(db.instances)


@pytest.fixture
def deployer(db: Stores) -> RecordingDeployer:
    return RecordingDeployer(db.deploys)


@pytest.fixture
def admin(db: Stores, control: RecordingControl, deployer: RecordingDeployer) -> InstanceAdmin:
    return InstanceAdmin(db.projects, db.instances, control, deployer, audit_log(db.db))  # type: ignore[arg-type]


@pytest.fixture
def project(db: Stores) -> Project:
    project = db.project("web", ())
    assert project.id is not None
    db.projects.add_stage(project.id, name="rel", tag_pattern="v*")
    db.projects.add_stage(project.id, name="prod", tag_pattern="v*", promote_from="rel")
    db.projects.add_stage(project.id, name="live", tag_pattern="v*", confirm=True)
    return project


def problem(caught: pytest.ExceptionInfo[ValidationFailed]) -> tuple[str, str]:
    (error,) = caught.value.errors
    return error.path, error.message


@pytest.mark.parametrize(
    ("stage", "tag", "field", "says"),
    [
        ("rel", "dev-1", "tag", "does not match stage 'rel' (v*)"),
        ("rel", "v1 beta", "tag", "not a valid tag"),
        ("live", "v1", "confirmed", "only when confirmed"),
        ("prod", "v1", "tag", "not running healthy in stage 'rel'"),
    ],
)
async def test_deploys_breaking_a_rule_are_refused_before_queuing(
    admin: InstanceAdmin,
    deployer: RecordingDeployer,
    project: Project,
    stage: str,
    tag: str,
    field: str,
    says: str,
) -> None:
    assert project.id is not None
    with pytest.raises(ValidationFailed) as caught:
        await admin.deploy(project.id, stage, tag, actor=TESTER)

    path, message = problem(caught)
    assert path == field and says in message
    assert deployer.requests == []


async def test_a_healthy_source_tag_is_promoted(
    admin: InstanceAdmin, deployer: RecordingDeployer, db: Stores, project: Project
) -> None:
    assert project.id is not None
    db.instance(project, "rel", "v1", status=InstanceStatus.UNHEALTHY)
    with pytest.raises(ValidationFailed):
        await admin.deploy(project.id, "prod", "v1", actor=TESTER)
    db.instance(project, "rel", "v1", status=InstanceStatus.HEALTHY)

    queued = await admin.deploy(project.id, "prod", "v1", actor=TESTER)

    (request,) = deployer.requests
    assert (request.stage, request.tag, request.trigger) == ("prod", "v1", DeployTrigger.PROMOTE)
    assert queued.id is not None


async def test_confirmed_and_plain_deploys_are_manual(
    admin: InstanceAdmin, deployer: RecordingDeployer, project: Project
) -> None:
    assert project.id is not None
    await admin.deploy(project.id, "live", "v2", confirmed=True, actor=TESTER)
    await admin.deploy(project.id, "rel", "v3", actor=TESTER)

    assert [(r.stage, r.trigger, r.confirmed) for r in deployer.requests] == [
        ("live", DeployTrigger.MANUAL, True),
        ("rel", DeployTrigger.MANUAL, False),
    ]


async def test_unknown_project_or_stage_is_not_found(
    admin: InstanceAdmin, project: Project
) -> None:
    assert project.id is not None
    with pytest.raises(NotFound):
        await admin.deploy(999, "rel", "v1", actor=TESTER)
    with pytest.raises(NotFound):
        await admin.list(project.id, "nope")


async def test_controls_act_only_on_an_instance_of_that_stage(
    admin: InstanceAdmin, control: RecordingControl, db: Stores, project: Project
) -> None:
    assert project.id is not None
    instance = db.instance(project, "rel", "v1")
    assert instance.id is not None

    with pytest.raises(NotFound):
        await admin.stop(project.id, "prod", instance.id, actor=TESTER)  # right id, wrong stage
    with pytest.raises(NotFound):
        await admin.remove(project.id, "rel", instance.id + 1, actor=TESTER)
    assert control.calls == []

    stopped = await admin.stop(project.id, "rel", instance.id, actor=TESTER)
    await admin.start(project.id, "rel", instance.id, actor=TESTER)
    await admin.restart(project.id, "rel", instance.id, actor=TESTER)
    assert await admin.logs(project.id, "rel", instance.id, tail=5) == "last 5 lines"
    await admin.remove(project.id, "rel", instance.id, actor=TESTER)

    assert stopped.status == InstanceStatus.STOPPED
    assert [name for name, _ in control.calls] == ["stop", "start", "restart", "logs", "remove"]
    assert await admin.list(project.id, "rel") == []
