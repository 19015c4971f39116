""" "Deploy new version": the registry's tags for a stage, newest first, then one deploy.

For a `promote_from` stage only the tags running healthy in the source stage are offered; a
stage with `confirm` asks once more before anything is queued. The dialog closes as soon as the
deploy is queued; its progress then shows in the page's history, live.
"""

from __future__ import annotations

from nicegui import ui

from pages.components import dialogs
from pages.components.acting import page_actor
from pages.components.config_widgets import ErrorBanner
from pages.components.deps import PageServices
from pages.components.feedback import attempt
from pages.components.roles import checked
from services.store.models import Role
from services.views.models import StageView


class DeployDialog:
    """Opens one picker per click, inside the page's dialog host."""

    def __init__(
        self, deps: PageServices, project_id: int, host: ui.element, role: Role | None
    ) -> None:
        self._deps, self._project_id, self._host = deps, project_id, host
        self._role = role  # the page's; checked again before queuing
        # Who acts, taken while the page is built: a click may reach a control that a live
        # update has since re-rendered, whose slot no longer leads to the page's request.
        self._actor = page_actor()

    async def open(self, stage: StageView, tag: str | None = None) -> None:
        """Open for `stage`; with `tag` (a waiting tag) it is preselected once listed."""
        with self._host:
            picker = _Picker(self, stage)
        picker.dialog.open()
        call = self._deps.quick.tags_for_stage(self._project_id, stage.name)
        result = await attempt(picker.panel, "Listing tags", call)
        picker.loading.set_visibility(False)
        if result.ok:
            picker.offer(result.value or [], tag)

    async def deploy(self, picker: _Picker, stage: StageView, tag: str) -> None:
        actor = self._actor
        if stage.confirm and not await dialogs.confirm(
            self._host,
            f"Deploy {tag} to {stage.name}?",
            f"Stage {stage.name} asks for confirmation before every deploy.",
            ok=f"Deploy {tag}",
        ):
            return
        instances, project_id = self._deps.instances, self._project_id
        call = checked(
            self._role,
            Role.DEPLOYER,
            lambda: instances.deploy(project_id, stage.name, tag, actor=actor, confirmed=True),
        )
        result = await attempt(picker.panel, f"Queuing {tag}", call, button=picker.go)
        if result.ok:
            ui.notify(f"Deploying {tag} to {stage.name}", type="info", position="top")
            picker.dialog.close()


class _Picker:
    """The dialog's elements: explanation, error panel, spinner, tag select, buttons."""

    def __init__(self, owner: DeployDialog, stage: StageView) -> None:
        self.stage = stage
        with ui.dialog() as self.dialog, ui.card().classes("w-[32rem] max-w-full gap-3"):
            ui.label(f"Deploy a new version to {stage.name}").classes("text-lg font-semibold")
            ui.label(_explain(stage)).classes("text-sm text-grey-7")
            self.panel = ErrorBanner()
            with ui.row().classes("items-center gap-2") as self.loading:
                ui.spinner(size="md")
                ui.label("Asking the registry for tags…").classes("text-sm")
            self.select = ui.select([], label="Tag", with_input=True).classes("w-full")
            self.select.mark("tag-select").set_visibility(False)
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=self.dialog.close).props("flat")
                self.go = ui.button(f"Deploy to {stage.name}", icon="rocket_launch")
        self.dialog.mark(f"deploy-dialog-{stage.name}").on("hide", self.dialog.delete)
        self.go.mark("deploy-go").disable()
        self.go.on_click(lambda: owner.deploy(self, stage, self.select.value))
        self.select.on_value_change(lambda e: self.go.set_enabled(bool(e.value)))

    def offer(self, tags: list[str], tag: str | None) -> None:
        self.select.set_options(tags)
        self.select.set_visibility(True)
        if tags:
            self.select.set_value(tag if tag in tags else tags[0])
        else:
            self.select.props["hint"] = _nothing(self.stage)  # a value: the pattern is data


def _explain(stage: StageView) -> str:
    if stage.promote_from:
        return (
            f"Tags running healthy in {stage.promote_from} that match {stage.tag_pattern}: "
            f"{stage.name} only promotes what {stage.promote_from} has proven."
        )
    return f"Registry tags matching {stage.tag_pattern}, newest first."


def _nothing(stage: StageView) -> str:
    if stage.promote_from:
        return f"Nothing runs healthy in {stage.promote_from} yet."
    return f"The registry has no tag matching {stage.tag_pattern}."
