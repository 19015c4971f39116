"""ProjectAdmin over a real SQLite file: input rules, refusals, and what deleting removes first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.admin.project_admin import ProjectAdmin, ProjectInput, StageInput
from services.errors import CannotConnect, Conflict, NotFound, ValidationFailed
from services.store.models import DeployStatus, InstanceStatus
from tests.support.admin_fakes import RecordingControl, Stores, stores
from tests.support.audit import TESTER, audit_log


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Stores]:
    with stores(tmp_path) as built:
        yield built


@pytest.fixture
def control(db: Stores) -> RecordingControl:
    return RecordingControl(db.instances)


@pytest.fixture
def admin(db: Stores, control: RecordingControl) -> ProjectAdmin:
    return ProjectAdmin(
        db.projects,
        db.instances,
        db.registries,
        control,
        db.deploys,
        db.settings,  # type: ignore[arg-type]
        audit=audit_log(db.db),
    )


def fields(errors: ValidationFailed) -> dict[str, str]:
    return {e.path: e.message for e in errors.errors}


def project_input(**changes: Any) -> ProjectInput:
    return ProjectInput.parse({"name": "web", "image": "ghcr.io/me/web", **changes})


# --- input models ---------------------------------------------------------------------------


def test_project_input_names_every_bad_field_with_the_seed_wording() -> None:
    bad = {
        "name": "Web App",
        "image": "ghcr.io/me/web:v1",
        "port": 70000,
        "healthcheck": "health",
        "healthcheck_retries": 0,
        "healthcheck_interval": 0,
        "colour": "blue",
    }
    with pytest.raises(ValidationFailed) as caught:
        ProjectInput.parse(bad)

    found = fields(caught.value)
    assert set(found) == {
        "name",
        "image",
        "port",
        "healthcheck",
        "healthcheck_retries",
        "healthcheck_interval",
        "colour",
    }
    assert "DNS-safe" in found["name"] and "without tag" in found["image"]
    assert found["port"] == "must be ≤ 65535" and found["colour"] == "unknown key"


def test_blank_optional_fields_mean_not_set() -> None:
    project = project_input(healthcheck="  ")
    stage = StageInput.parse({"name": "dev", "subdomain": "", "promote_from": ""})

    assert project.healthcheck is None
    assert stage.subdomain is None and stage.promote_from is None


def test_stage_input_refuses_a_subdomain_that_is_not_one_label() -> None:
    with pytest.raises(ValidationFailed) as caught:
        StageInput.parse({"name": "prod", "subdomain": "Launcher.example", "max_instances": 0})

    found = fields(caught.value)
    assert "did you mean 'launcher-example'" in found["subdomain"]
    assert found["max_instances"] == "must be ≥ 1"


# --- projects -------------------------------------------------------------------------------


async def test_create_checks_the_registry_and_refuses_a_taken_name(
    admin: ProjectAdmin, db: Stores
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await admin.create_project(project_input(registry_id=7), actor=TESTER)
    assert fields(caught.value) == {"registry_id": "registry 7 does not exist"}

    registry = db.registries.create(name="ghcr", url="https://ghcr.io")
    created = await admin.create_project(
        project_input(registry_id=registry.id, port=3000), actor=TESTER
    )
    assert (created.name, created.port, created.registry_id) == ("web", 3000, registry.id)
    with pytest.raises(Conflict, match="already exists"):
        await admin.create_project(project_input(), actor=TESTER)


async def test_rename_is_refused_while_instances_run(admin: ProjectAdmin, db: Stores) -> None:
    project = db.project("web")
    assert project.id is not None
    db.instance(project, "dev")

    with pytest.raises(ValidationFailed) as caught:
        await admin.update_project(project.id, project_input(name="shop"), actor=TESTER)
    assert "remove them first" in fields(caught.value)["name"]

    changed = await admin.update_project(project.id, project_input(port=8080), actor=TESTER)
    assert changed.port == 8080 and changed.name == "web"


async def test_update_to_another_projects_name_is_a_conflict(
    admin: ProjectAdmin, db: Stores
) -> None:
    db.project("shop")
    project = db.project("web")
    assert project.id is not None

    with pytest.raises(Conflict):
        await admin.update_project(project.id, project_input(name="shop"), actor=TESTER)


async def test_delete_removes_instances_first_then_the_project(
    admin: ProjectAdmin, db: Stores, control: RecordingControl
) -> None:
    project = db.project("web", ("dev", "prod"))
    assert project.id is not None
    first, second = db.instance(project, "dev"), db.instance(project, "prod")

    await admin.delete_project(project.id, actor=TESTER)

    assert control.calls == [("remove", first.id), ("remove", second.id)]
    with pytest.raises(NotFound):
        db.projects.get(project.id)


async def test_delete_keeps_the_project_when_removing_an_instance_fails(
    admin: ProjectAdmin, db: Stores, control: RecordingControl
) -> None:
    project = db.project("web")
    assert project.id is not None
    db.instance(project, "dev")
    control.fail_with = CannotConnect("cannot reach NPM")

    with pytest.raises(CannotConnect):
        await admin.delete_project(project.id, actor=TESTER)
    assert db.projects.get(project.id).name == "web"


@pytest.mark.parametrize("status", [DeployStatus.QUEUED, DeployStatus.RUNNING])
async def test_delete_is_refused_while_a_deploy_is_unfinished(
    admin: ProjectAdmin, db: Stores, control: RecordingControl, status: DeployStatus
) -> None:
    project = db.project("web")
    assert project.id is not None
    db.instance(project, "dev")
    db.deploy(project, "dev", status)

    with pytest.raises(Conflict, match="wait until it finishes"):
        await admin.delete_project(project.id, actor=TESTER)
    assert control.calls == []


async def test_unknown_project_is_not_found(admin: ProjectAdmin) -> None:
    with pytest.raises(NotFound):
        await admin.get(99)
    with pytest.raises(NotFound):
        await admin.delete_project(99, actor=TESTER)


async def test_overview_counts_instances_and_shows_the_worst_light(
    admin: ProjectAdmin, db: Stores
) -> None:
    web, shop = db.project("web", ("dev", "prod")), db.project("shop")
    db.instance(web, "dev", "v1", status=InstanceStatus.HEALTHY)
    db.instance(web, "prod", "v2", status=InstanceStatus.UNHEALTHY)
    db.instance(shop, "dev", "v1", status=InstanceStatus.STOPPED)
    latest = db.deploy(web, "dev", DeployStatus.SUCCEEDED)

    by_name = {s.project.name: s for s in await admin.list_overview()}

    assert by_name["web"].stage_count == 2 and by_name["web"].running == 2
    assert by_name["web"].light == "failing" and by_name["web"].latest_deploy == latest
    assert by_name["shop"].light == "stopped" and by_name["shop"].latest_deploy is None
    assert by_name["shop"].instance_counts == {InstanceStatus.STOPPED: 1}


async def test_detail_groups_instances_by_stage_in_order(admin: ProjectAdmin, db: Stores) -> None:
    project = db.project("web", ("dev", "prod"))
    assert project.id is not None
    db.instance(project, "prod", "v1")
    db.instance(project, "dev", "dev-1")

    detail = await admin.get(project.id)

    assert [(s.stage.name, [i.tag for i in s.instances]) for s in detail.stages] == [
        ("dev", ["dev-1"]),
        ("prod", ["v1"]),
    ]


# --- stages ---------------------------------------------------------------------------------


async def test_add_stage_checks_promote_from_and_appends(admin: ProjectAdmin, db: Stores) -> None:
    project = db.project("web", ("dev",))
    assert project.id is not None

    with pytest.raises(ValidationFailed) as caught:
        await admin.add_stage(project.id, StageInput(name="prod", promote_from="rel"), actor=TESTER)
    assert fields(caught.value) == {"promote_from": "'rel' is not a stage of this project (dev)"}
    with pytest.raises(ValidationFailed, match="itself"):
        await admin.add_stage(
            project.id, StageInput(name="prod", promote_from="prod"), actor=TESTER
        )
    with pytest.raises(Conflict):
        await admin.add_stage(project.id, StageInput(name="dev"), actor=TESTER)

    added = await admin.add_stage(
        project.id, StageInput(name="prod", promote_from="dev"), actor=TESTER
    )
    assert (added.promote_from, added.position) == ("dev", 1)


async def test_custom_subdomain_must_be_free_across_the_installation(
    admin: ProjectAdmin, db: Stores
) -> None:
    web, shop = db.project("web", ("dev",)), db.project("shop", ())
    assert shop.id is not None
    db.instance(web, "dev", "v1", subdomains=["stage-dev-web-v1.example.com"])

    with pytest.raises(Conflict, match="stage web/dev"):
        await admin.add_stage(
            shop.id, StageInput(name="prod", subdomain="stage-dev-web"), actor=TESTER
        )
    with pytest.raises(Conflict, match="instance #"):
        await admin.add_stage(
            shop.id, StageInput(name="prod", subdomain="stage-dev-web-v1"), actor=TESTER
        )
    await admin.add_stage(shop.id, StageInput(name="prod", subdomain="launcher"), actor=TESTER)
    with pytest.raises(Conflict, match="stage shop/prod"):
        await admin.add_stage(shop.id, StageInput(name="rel", subdomain="launcher"), actor=TESTER)


async def test_a_stage_keeps_its_own_subdomain_when_updated(
    admin: ProjectAdmin, db: Stores
) -> None:
    project = db.project("web", ())
    assert project.id is not None
    await admin.add_stage(project.id, StageInput(name="prod", subdomain="launcher"), actor=TESTER)

    updated = await admin.update_stage(
        project.id,
        "prod",
        StageInput(name="prod", subdomain="launcher", max_instances=2),
        actor=TESTER,
    )
    assert updated.max_instances == 2


async def test_renaming_a_stage_follows_promote_from(admin: ProjectAdmin, db: Stores) -> None:
    project = db.project("web", ("rel",))
    assert project.id is not None
    await admin.add_stage(project.id, StageInput(name="prod", promote_from="rel"), actor=TESTER)

    await admin.update_stage(project.id, "rel", StageInput(name="release"), actor=TESTER)

    assert db.stage(project, "prod").promote_from == "release"


async def test_renaming_a_stage_with_instances_or_to_a_taken_name_is_refused(
    admin: ProjectAdmin, db: Stores
) -> None:
    project = db.project("web", ("dev", "rel"))
    assert project.id is not None
    db.instance(project, "dev")

    with pytest.raises(ValidationFailed, match="remove them first"):
        await admin.update_stage(project.id, "dev", StageInput(name="develop"), actor=TESTER)
    with pytest.raises(Conflict):
        await admin.update_stage(project.id, "rel", StageInput(name="dev"), actor=TESTER)
    with pytest.raises(NotFound):
        await admin.update_stage(project.id, "nope", StageInput(name="nope"), actor=TESTER)


async def test_delete_stage_removes_its_instances_but_not_others(
    admin: ProjectAdmin, db: Stores, control: RecordingControl
) -> None:
    project = db.project("web", ("dev", "rel"))
    assert project.id is not None
    dev, rel = db.instance(project, "dev"), db.instance(project, "rel")

    await admin.delete_stage(project.id, "dev", actor=TESTER)

    assert control.calls == [("remove", dev.id)]
    assert [s.name for s in db.projects.stages(project.id)] == ["rel"]
    assert db.instances.get(rel.id or 0).tag == "v1"


async def test_delete_stage_is_refused_while_promoted_from_or_deploying(
    admin: ProjectAdmin, db: Stores
) -> None:
    project = db.project("web", ("rel",))
    assert project.id is not None
    await admin.add_stage(project.id, StageInput(name="prod", promote_from="rel"), actor=TESTER)
    db.deploy(project, "prod", DeployStatus.RUNNING)

    with pytest.raises(Conflict, match="promotes from 'rel'"):
        await admin.delete_stage(project.id, "rel", actor=TESTER)
    with pytest.raises(Conflict, match="wait until it finishes"):
        await admin.delete_stage(project.id, "prod", actor=TESTER)
