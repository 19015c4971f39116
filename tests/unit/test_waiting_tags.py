"""Tags waiting for a manual deploy: a stage already running the tag is left out, unless its
instance of that tag is lost (its container is gone for good)."""

from __future__ import annotations

from services.store.models import Instance, InstanceStatus, SeenTag, Stage
from services.views.overview import waiting_tags


def _stage() -> Stage:
    return Stage(id=1, project_id=1, name="rel", tag_pattern="v*", auto_deploy=False)


def _instance(status: InstanceStatus) -> Instance:
    return Instance(id=1, project_id=1, stage_id=1, tag="v1", status=status)


def test_a_running_tag_does_not_wait() -> None:
    seen = [SeenTag(project_id=1, tag="v1", digest="sha256:" + "a" * 64)]
    assert waiting_tags(seen, [_stage()], [_instance(InstanceStatus.HEALTHY)]) == []


def test_a_lost_instances_tag_waits_again() -> None:
    seen = [SeenTag(project_id=1, tag="v1", digest="sha256:" + "a" * 64)]
    for status in (InstanceStatus.MISSING, InstanceStatus.FAILED):
        (waiting,) = waiting_tags(seen, [_stage()], [_instance(status)])
        assert waiting.tag == "v1" and waiting.stages == ("rel",)
