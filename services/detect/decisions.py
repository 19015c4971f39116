"""What detection decided about a pushed image, as the webhook answers it and the logs show it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["queued", "merged", "waiting", "refused", "ignored", "creating"]


@dataclass(frozen=True)
class Decision:
    """One stage's (or the whole image's, when `stage` is None) fate.

    queued: a deploy runs in the background (`deploy_id`); merged: that deploy was already
    waiting in the queue and this request joined it (`deploy_id`); waiting: recorded for a
    manual deploy; refused: a rule said no (`deploy_id` of the recorded refusal); ignored:
    nothing to do (why in `detail`); creating: a project is being created for an unknown image
    on the allow-list.
    """

    action: Action
    detail: str
    stage: str | None = None
    deploy_id: int | None = None

    @property
    def text(self) -> str:
        """`deploy queued`, `waiting for manual deploy`, `refused: <reason>`, `ignored: <why>`."""
        if self.action in ("refused", "ignored"):
            return f"{self.action}: {self.detail}"
        return self.detail

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "action": self.action,
            "decision": self.text,
            "deploy_id": self.deploy_id,
        }


@dataclass(frozen=True)
class Outcome:
    """The decisions about one `image:tag` for one project (None: no project uses the image)."""

    image: str
    project: str | None
    decisions: tuple[Decision, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "project": self.project,
            "decisions": [d.to_json() for d in self.decisions],
        }
