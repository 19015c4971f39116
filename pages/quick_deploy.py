"""Quick Deploy: paste an image reference → pull and inspect with progress → review a
prefilled project → deploy, landing on the project page that follows the deploy live.

The page calls `QuickDeploy.inspect` and `QuickDeploy.accept`, nothing else; the form edits a
copy of the proposal (dataclasses.replace) and every field error appears at its input.
"""

from __future__ import annotations

from nicegui import ui

from pages.components.acting import page_actor
from pages.components.config_widgets import ErrorBanner, FieldErrors
from pages.components.deps import PageServices
from pages.components.feedback import attempt
from pages.components.proposal_form import ProposalForm
from pages.components.roles import can, not_allowed
from pages.layout import frame
from services.detect.proposals import Proposal
from services.store.models import Role
from services.types import PullUpdate

EXAMPLE = "ghcr.io/owner/app:v1.2.0"


def register(deps: PageServices) -> None:
    @ui.page("/quick-deploy")
    async def quick_deploy_page(image: str = "") -> None:
        with frame("Quick deploy", deps.status):
            if not can(Role.ADMIN):
                not_allowed(Role.ADMIN, "Quick deploy creates a project: it")
                return
            _QuickDeploy(deps, image)


class _QuickDeploy:
    def __init__(self, deps: PageServices, image: str) -> None:
        self._deps = deps
        ui.label("Quick deploy").classes("text-2xl font-semibold")
        ui.label(
            "Paste an image reference. Docker Watcher pulls it, reads what the image declares "
            "(exposed port, health check, labels) and proposes a project you can adjust."
        ).classes("text-grey-8")
        with ui.card().classes("w-full gap-2"):
            with ui.row().classes("w-full items-start gap-2 no-wrap"):
                self.reference = ui.input("Image reference", value=image, placeholder=EXAMPLE)
                self.reference.classes("grow font-mono").props("outlined autofocus clearable")
                self.reference.mark("reference").on("keydown.enter", self.inspect)
                self.inspect_button = ui.button("Inspect", icon="search", on_click=self.inspect)
                self.inspect_button.classes("mt-2").mark("inspect")
            self.errors = FieldErrors()
            self.errors.add("reference", self.reference)
            self.progress = _PullProgress()
        self.banner = ErrorBanner()
        self.banner.card.mark("error-banner")
        self.form = ProposalForm(on_deploy=self.deploy, on_review=self._deps.quick.review)

    async def inspect(self) -> None:
        if not self.inspect_button.enabled:
            return  # Enter pressed while an inspection runs
        reference = (self.reference.value or "").strip()
        self.form.hide()
        self.progress.start(reference)
        call = self._deps.quick.inspect(reference, progress=self.progress.update)
        result = await attempt(
            self.banner,
            "Inspecting the image",
            call,
            button=self.inspect_button,
            fields=self.errors,
        )
        self.progress.stop()
        if result.value is not None:
            self.form.show(result.value)

    async def deploy(self, proposal: Proposal) -> None:
        call = self._deps.quick.accept(proposal, actor=page_actor())
        button = self.form.deploy_button
        result = await attempt(
            self.banner, "Deploying", call, button=button, fields=self.form.errors
        )
        if result.value is not None:
            ui.navigate.to(f"/projects/{result.value.project_id}?deploy={result.value.id}")


class _PullProgress:
    """A spinner with the pull's latest status line (layers downloading, digest, done)."""

    def __init__(self) -> None:
        with ui.row().classes("items-center gap-2 text-sm text-grey-8") as self.row:
            ui.spinner(size="sm")
            self.label = ui.label().mark("pull-progress")
        self.row.set_visibility(False)

    def start(self, reference: str) -> None:
        self.label.set_text(f"Pulling {reference}…")
        self.row.set_visibility(True)

    def update(self, update: PullUpdate) -> None:
        self.label.set_text(str(update))

    def stop(self) -> None:
        self.row.set_visibility(False)
