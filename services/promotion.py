"""The promote rule: a stage with `promote_from` only deploys tags running healthy in that stage.

One rule for everyone who applies it: the deployer refuses any other tag whatever the trigger,
detection (webhook, poller) records why a new tag waits or is refused, and the project page
offers only the promotable tags. Callers pass the source stage's instances (None when that
stage does not exist: nothing is promotable then).
"""

from __future__ import annotations

from collections.abc import Iterable

from services import tags
from services.store.models import Instance, InstanceStatus, Stage


def healthy_tags(instances: Iterable[Instance]) -> set[str]:
    """Tags with a healthy instance: what a `promote_from` stage may take from its source."""
    return {i.tag for i in instances if i.status == InstanceStatus.HEALTHY}


def refusal(stage: Stage, tag: str, source_instances: Iterable[Instance] | None) -> str | None:
    """Why `tag` may not be deployed to `stage` now, or None when it may (or needs no source)."""
    if not stage.promote_from or tag in healthy_tags(source_instances or ()):
        return None
    return (
        f"tag {tag!r} is not running healthy in stage {stage.promote_from!r}; "
        f"stage {stage.name!r} only promotes from there"
    )


def promotable_tags(stage: Stage, source_instances: Iterable[Instance] | None) -> list[str]:
    """The tags `stage` may take from its source: healthy there and matching its pattern."""
    if not stage.promote_from:
        return []
    running = healthy_tags(source_instances or ())
    return tags.sort_newest_first(t for t in running if tags.matches(stage.tag_pattern, t))
