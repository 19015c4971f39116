""" "Roll back" on a stage: what it would return to, a confirmation, then the rollback.

The confirmation names the deploy, tag and digest it returns to, and says when that image is no
longer on this host (the rollback then pulls it by digest from the registry). With nothing to
return to, the page says so in the error banner instead of queuing anything.
"""

from __future__ import annotations

from nicegui import ui

from pages.components import dialogs
from pages.components.acting import page_actor
from pages.components.config_widgets import ErrorBanner
from pages.components.deps import PageServices
from pages.components.feedback import attempt
from pages.components.roles import checked
from services.deploy.rollback import RollbackTarget
from services.errors import WatcherError
from services.store.models import Role
from services.views.models import StageView, short_digest

GONE = (
    "its image is no longer on this host and will be pulled by digest from the registry "
    "(the rollback fails if the registry no longer has it)"
)


class RollbackControl:
    """One "Roll back" button per stage, its dialogs in the page's dialog host."""

    def __init__(
        self,
        deps: PageServices,
        project_id: int,
        panel: ErrorBanner,
        host: ui.element,
        role: Role | None,
    ) -> None:
        self._deps, self._project_id = deps, project_id
        self._panel, self._host = panel, host
        self._role = role  # the page's; checked again before rolling back
        # Who acts, taken while the page is built: a click may reach a control that a live
        # update has since re-rendered, whose slot no longer leads to the page's request.
        self._actor = page_actor()

    def button(self, stage: StageView) -> None:
        ui.button("Roll back", icon="undo", on_click=lambda: self.ask(stage)).props(
            "flat no-caps"
        ).mark(f"rollback-{stage.name}")

    def image_note(self, stage: StageView) -> None:
        """A line under the stage's title, filled in once the engine answered, when the image
        "Roll back" would run is no longer on this host (it would be pulled from the registry).
        """
        note = ui.label().classes("text-xs text-amber-10").mark(f"rollback-image-{stage.name}")
        note.set_visibility(False)

        async def fill() -> None:
            try:
                target = await self._deps.rollbacks.target(self._project_id, stage.name)
            except WatcherError:  # the engine or the stage is gone: the button says why
                return
            if target is not None and not target.image_present and not note.is_deleted:
                note.set_text(f"Roll back to {target.deploy.tag}: {GONE}")
                note.set_visibility(True)

        ui.timer(0, fill, once=True)

    async def ask(self, stage: StageView) -> None:
        actor = self._actor
        call = self._deps.rollbacks.target(self._project_id, stage.name)
        found = await attempt(self._panel, "Finding the previous deploy", call)
        if not found.ok:
            return
        target = found.value
        if target is None:
            ui.notify(
                f"Stage {stage.name} has no previous successful deploy to roll back to",
                type="warning",
                position="top",
            )
            return
        if not await dialogs.confirm(
            self._host,
            f"Roll {stage.name} back to {target.deploy.tag}?",
            describe(target),
            ok="Roll back",
        ):
            return
        rollbacks, project_id = self._deps.rollbacks, self._project_id
        queued = checked(
            self._role,
            Role.DEPLOYER,
            lambda: rollbacks.roll_back(project_id, stage.name, actor=actor),
        )
        if (await attempt(self._panel, "Rolling back", queued)).ok:
            ui.notify(f"Rolling {stage.name} back to {target.deploy.tag}", position="top")


def describe(target: RollbackTarget) -> str:
    """The confirmation's text: what runs again, and where its image comes from."""
    deploy = target.deploy
    text = (
        f"Deploy #{deploy.id} runs again: {deploy.tag} at digest "
        f"{short_digest(deploy.digest)}, with the env, volumes and health settings it ran with."
    )
    if not target.image_present:
        text += f" {GONE[0].upper()}{GONE[1:]}."
    return text
