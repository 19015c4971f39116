"""The quick deploy review form: a proposal's fields, editable, with its warnings.

It edits a copy of the proposal (`dataclasses.replace`); the service validates it on accept and
each refused field gets its message at its input. While the name, stage, pattern or subdomain
change, `on_review` works the clash warnings and the address preview out again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from nicegui import ui

from pages.components.config_widgets import FieldErrors
from services.detect.proposals import Proposal, StagePlan
from services.errors import WatcherError
from services.fields import MAX_INSTANCES_MAX, MAX_INSTANCES_MIN, PORT_MAX, PORT_MIN

HEALTH_MODES = {
    "docker": "the image's own HEALTHCHECK",
    "running": "the container staying up (the image has no HEALTHCHECK)",
}


Review = Callable[[Proposal], Awaitable[Proposal]]


class ProposalForm:
    def __init__(
        self, on_deploy: Callable[[Proposal], Awaitable[None]], on_review: Review | None = None
    ) -> None:
        self._base: Proposal | None = None
        self._on_review = on_review
        self._reviews = 0  # only the latest review's answer is shown
        self._shown: tuple[object, ...] | None = None  # what the warnings and addresses say
        with ui.card().classes("w-full gap-4").mark("proposal") as self.card:
            self._about()
            with ui.grid(columns=3).classes("w-full gap-x-4 gap-y-2"):
                self.name = _input("Project name", "lowercase letters, digits, dashes")
                self.port = ui.number("Container port", min=PORT_MIN, max=PORT_MAX, precision=0)
                self.port.props("outlined dense").mark("port")
                self.health = _input("Health check path", "e.g. /health; empty: see below")
                self.stage = _input("Stage", "e.g. dev, rel, prod")
                self.pattern = _input("Tag pattern", "shell glob, e.g. dev-*")
                self.max = ui.number(
                    "Max instances", min=MAX_INSTANCES_MIN, max=MAX_INSTANCES_MAX, precision=0
                ).props("outlined dense")
                self.subdomain = _input("Stage subdomain", "optional, e.g. launcher")
            self.auto = ui.switch("Deploy new matching tags automatically").mark("auto-deploy")
            self.env = EnvRows()
            self.addresses = ui.column().classes("gap-0 text-sm")
            with ui.row().classes("w-full justify-end"):
                self.deploy_button = ui.button("Deploy", icon="rocket_launch").mark("deploy")
        self.deploy_button.on_click(lambda: on_deploy(self.proposal()))
        self.errors = self._register()
        for field in (self.name, self.stage, self.pattern, self.subdomain):
            field.on_value_change(self._review)
        self.card.set_visibility(False)

    async def _review(self) -> None:
        if self._on_review is None or self._base is None:
            return
        self._reviews += 1
        mine = self._reviews
        try:
            fresh = await self._on_review(self.proposal())
        except (WatcherError, ValueError):
            return  # a half-typed value: the deploy button reports it properly
        if fresh.name == self._base.name and fresh.name_clash is None:
            # the suggested name itself: keep saying why it differs from the image's
            fresh = replace(fresh, name_clash=self._base.name_clash)
        if mine == self._reviews and not self.card.is_deleted:
            self._show_review(fresh)

    def _show_review(self, proposal: Proposal) -> None:
        """Redraw the warnings and addresses only when they change (setting the fields in
        `show` fires reviews too, and a redraw then would move the page under the pointer)."""
        said = (
            proposal.existing_project_id,
            proposal.name_clash,
            proposal.subdomain_clash,
            proposal.subdomain,
            proposal.tag_subdomain,
            proposal.health_mode,
        )
        if said != self._shown:
            self._shown = said
            self._fill_warnings(proposal)
            self._fill_addresses(proposal)

    def _about(self) -> None:
        ui.label("Review the project").classes("text-lg font-semibold")
        self.source = ui.label().classes("text-sm text-grey-8")
        self.warnings = ui.column().classes("w-full gap-1")

    def _register(self) -> FieldErrors:
        errors = FieldErrors()
        for path, field in (
            ("name", self.name),
            ("port", self.port),
            ("healthcheck", self.health),
            ("stage.name", self.stage),
            ("stage.tag_pattern", self.pattern),
            ("stage.max_instances", self.max),
            ("stage.subdomain", self.subdomain),
        ):
            errors.add(path, field)
        return errors

    def show(self, proposal: Proposal) -> None:
        self._base = proposal
        self.name.set_value(proposal.name)
        self.port.set_value(proposal.port)
        self.health.set_value(proposal.healthcheck or "")
        self.stage.set_value(proposal.stage.name)
        self.pattern.set_value(proposal.stage.tag_pattern)
        self.max.set_value(proposal.stage.max_instances)
        self.auto.set_value(proposal.stage.auto_deploy)
        self.subdomain.set_value(proposal.stage.subdomain or "")
        self.env.fill(proposal.env)
        self.source.set_text(_source(proposal))
        self._shown = None
        self._show_review(proposal)
        self.errors.clear()
        self.card.set_visibility(True)

    def hide(self) -> None:
        self.card.set_visibility(False)

    def proposal(self) -> Proposal:
        """The reviewed proposal (the inspected one with this form's values)."""
        assert self._base is not None
        stage = StagePlan(
            (self.stage.value or "").strip(),
            (self.pattern.value or "").strip(),
            bool(self.auto.value),
            int(self.max.value or 0),
            (self.subdomain.value or "").strip() or None,
        )
        for key, field in self.env.key_fields():
            self.errors.add(f"env.{key}", field)  # a refused variable shows at its key
        return replace(
            self._base,
            name=(self.name.value or "").strip(),
            port=int(self.port.value or 0),
            healthcheck=(self.health.value or "").strip() or None,
            stage=stage,
            env=self.env.values(),
        )

    def _fill_warnings(self, proposal: Proposal) -> None:
        self.warnings.clear()
        with self.warnings:
            if proposal.existing_project_id is not None:
                target = f"/projects/{proposal.existing_project_id}"
                with _warning("This image is already deployed by a project."):
                    ui.link("Open it", target).classes("text-primary ml-1")
            for clash in (proposal.name_clash, proposal.subdomain_clash):
                if clash:
                    _warning(f"{clash[0].upper()}{clash[1:]}.")

    def _fill_addresses(self, proposal: Proposal) -> None:
        self.addresses.clear()
        with self.addresses:
            ui.label(
                f"Health: {HEALTH_MODES.get(proposal.health_mode, proposal.health_mode)}, "
                "unless you give a path above."
            ).classes("text-grey-8")
            if proposal.subdomain:
                ui.label(f"Stage address: https://{proposal.subdomain}").classes("font-mono")
                ui.label(f"This tag: https://{proposal.tag_subdomain}").classes("font-mono")
            else:
                ui.label("No domain is set in Settings: instances get no public address.")
            ui.label(
                "Volumes and further stages are set under Configure once the project exists."
            ).classes("text-grey-7")


class EnvRows:
    """Key / value / secret rows: the new project's env, written before its first deploy."""

    def __init__(self) -> None:
        self._rows: list[tuple[ui.input, ui.input, ui.checkbox, ui.row]] = []
        with ui.column().classes("w-full gap-1").mark("env"):
            ui.label("Environment").classes("text-sm font-semibold")
            self._list = ui.column().classes("w-full gap-1")
            add = ui.button("Add variable", icon="add", on_click=lambda: self.add())
            add.props("flat dense no-caps").mark("add-env")

    def add(self, key: str = "", value: str = "", secret: bool = False) -> None:
        with self._list, ui.row().classes("w-full items-center gap-2 no-wrap") as row:
            name = ui.input("Key", value=key).props("outlined dense").mark("env-key")
            text = ui.input("Value", value=value, password=secret).props("outlined dense")
            text.classes("grow").mark("env-value")
            hidden = ui.checkbox("Secret", value=secret).mark("env-secret")
            hidden.on_value_change(lambda e, t=text: t.props.update(type=_kind(e.value)))
            ui.button(icon="close", on_click=lambda r=row: self._remove(r)).props(
                "flat round dense"
            )
        self._rows.append((name, text, hidden, row))

    def fill(self, env: tuple[tuple[str, str, bool], ...]) -> None:
        for *_, row in self._rows:
            row.delete()
        self._rows.clear()
        for key, value, secret in env:
            self.add(key, value, secret)

    def values(self) -> tuple[tuple[str, str, bool], ...]:
        """Rows with a key (blank rows are ignored)."""
        rows = [(k.value or "", v.value or "", bool(s.value)) for k, v, s, _ in self._rows]
        return tuple((k.strip(), v, s) for k, v, s in rows if k.strip())

    def key_fields(self) -> list[tuple[str, ui.input]]:
        return [((k.value or "").strip(), k) for k, *_ in self._rows if (k.value or "").strip()]

    def _remove(self, row: ui.row) -> None:
        self._rows = [entry for entry in self._rows if entry[3] is not row]
        row.delete()


def _kind(secret: bool) -> str:
    return "password" if secret else "text"


def _input(label: str, hint: str) -> ui.input:
    field = ui.input(label).props("outlined dense")
    field.props["hint"] = hint
    return field.mark(label.lower().replace(" ", "-"))


def _warning(text: str) -> ui.row:
    with ui.row().classes("items-center gap-1 text-amber-10 text-sm") as row:
        ui.icon("warning", color="warning")
        ui.label(text)
    return row.mark("warning")


def _source(proposal: Proposal) -> str:
    parts = [proposal.reference]
    if proposal.title:
        parts.append(proposal.title)
    if proposal.description:
        parts.append(proposal.description)
    if proposal.digest:
        parts.append(proposal.digest.split(":", 1)[-1][:12])
    return " · ".join(parts)
