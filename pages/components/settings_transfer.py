"""The export / re-import card: download the configuration as YAML, upload an edited one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import events, ui

from pages.components.acting import page_actor
from pages.components.config_widgets import ErrorBanner, busy, section
from services.admin.config_transfer import (
    EXPORT_FILENAME,
    MAX_IMPORT_BYTES,
    ConfigTransfer,
    ImportSummary,
)
from services.errors import ValidationFailed, WatcherError


class TransferSection:
    """After a successful import `on_imported` runs (the page reloads what it shows)."""

    def __init__(
        self, transfer: ConfigTransfer, on_imported: Callable[[], Awaitable[None]]
    ) -> None:
        self._transfer, self._on_imported = transfer, on_imported
        hint = "The same YAML format as the first-launch seed file."
        with section("Export and re-import", hint):
            self._export_row()
            self.failure = ErrorBanner()
            self._import_area()

    def _export_row(self) -> None:
        with ui.row().classes("items-center gap-4"):
            self.export_button = ui.button("Download config", icon="download")
            self.export_button.mark("export").on_click(self.export)
            self.secrets = ui.checkbox("Include secrets (encrypted)").mark("export-secrets")
            self.secrets.tooltip(
                "Readable only with this installation's ENCRYPTION_KEY; without them, "
                "stored secrets are kept when the file is imported here again."
            )

    def _import_area(self) -> None:
        ui.label(
            "Re-import updates the settings and the registries and projects named in the "
            "file; others are kept. Nothing is changed when the file has an error."
        ).classes("text-sm text-gray-600")
        self.upload = ui.upload(
            label="Upload a config YAML",
            auto_upload=True,
            max_file_size=MAX_IMPORT_BYTES,
            on_upload=self.imported,
        )
        self.upload.props('accept=".yaml,.yml,text/yaml" flat bordered').mark("import")
        self.upload.on_rejected(lambda: ui.notify("That file is too large for a config."))
        self.report = ui.column().classes("w-full gap-1").mark("import-report")

    async def export(self) -> None:
        self.failure.hide()
        async with busy(self.export_button):
            try:
                text = await self._transfer.export_yaml(include_secrets=bool(self.secrets.value))
            except WatcherError as exc:
                self.failure.show(exc, "Export failed")
                return
        ui.download.content(text.encode(), EXPORT_FILENAME, "application/x-yaml")

    async def imported(self, event: events.UploadEventArguments) -> None:
        self.report.clear()
        try:
            summary = await self._transfer.import_yaml(await event.file.read(), actor=page_actor())
        except ValidationFailed as exc:
            self._errors(event.file.name, exc)
            return
        except WatcherError as exc:
            self.failure.show(exc, f"{event.file.name} not imported")
            return
        finally:
            self.upload.reset()
        self._summary(event.file.name, summary)
        await self._on_imported()

    def _summary(self, filename: str, summary: ImportSummary) -> None:
        with self.report:
            ui.label(f"Imported {filename}.").classes("text-green-700 font-medium")
            for kind, names in (
                ("Settings", summary.settings),
                ("Registries", summary.registries),
                ("Projects", summary.projects),
            ):
                if names:
                    ui.label(f"{kind}: {', '.join(names)}").classes("text-sm")

    def _errors(self, filename: str, exc: ValidationFailed) -> None:
        with self.report:
            ui.label(
                f"{filename} was not imported; nothing changed. Fix these and upload it again:"
            ).classes("text-red-700 font-medium")
            for error in exc.errors:
                with ui.row().classes("gap-2 no-wrap text-sm"):
                    ui.label(error.path or "(file)").classes("font-mono text-red-800")
                    ui.label(error.message)
