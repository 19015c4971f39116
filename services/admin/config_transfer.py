"""Export the whole configuration as seed YAML and re-import an edited file.

The settings page's "Export config" and "Re-import" go through here rather than to the store, so
the page makes one async call per action and the SQLite work runs in a thread. The format, the
validation and the all-or-nothing import are `ConfigStore`'s; this adds the summary a person
wants to read after an import and a file size cap for uploads.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

from services.admin.config_database import ConfigStore
from services.admin.seed_format import SecretMode
from services.audit.changes import record_change
from services.audit.log import Actor, AuditLog, Target
from services.errors import ValidationFailed

MAX_IMPORT_BYTES = 1024 * 1024  # a seed is a few KiB; anything this large is not one
EXPORT_FILENAME = "docker-watcher-config.yaml"


@dataclass(frozen=True)
class ImportSummary:
    """What a successful re-import touched (projects and registries left out are kept)."""

    registries: tuple[str, ...]
    projects: tuple[str, ...]
    settings: tuple[str, ...]  # "global", "npm", "auth": the single-row sections present


class ConfigTransfer:
    """Export and re-import over one `ConfigStore`."""

    def __init__(self, config: ConfigStore, audit: AuditLog) -> None:
        self._config = config
        self._audit = audit

    async def export_yaml(self, *, include_secrets: bool) -> str:
        """The current configuration as seed YAML.

        Without secrets it works even when ENCRYPTION_KEY changed (to rescue the rest). With
        secrets they are the stored ciphertexts, readable only with this installation's key;
        raises CryptoError naming the field when a stored secret cannot be decrypted.
        """
        mode: SecretMode = "encrypted" if include_secrets else "omit"
        return await asyncio.to_thread(self._config.export_yaml, include_secrets=mode)

    async def import_yaml(self, text: str | bytes, *, actor: Actor) -> ImportSummary:
        """Validate and import an edited export, all or nothing.

        Raises ValidationFailed listing every problem by key path (`projects.web.port`), also
        for a file that is not UTF-8 text or is too large. Projects and registries named in
        the file are updated or created; the others are kept. One audit row names what the
        file touched (or the key paths it was refused for).
        """
        return await record_change(
            self._audit,
            actor,
            Target(other="configuration"),
            self._import(text),
            change="import",
            facts=dataclasses.asdict,
            action="import",
        )

    async def _import(self, text: str | bytes) -> ImportSummary:
        decoded = _decode(text)
        doc = await asyncio.to_thread(self._config.import_yaml, decoded, replace=True)
        sections = ("global", "npm", "auth")
        present = (doc.global_, doc.npm, doc.auth)
        return ImportSummary(
            registries=tuple(doc.registries),
            projects=tuple(doc.projects),
            settings=tuple(name for name, seed in zip(sections, present, strict=True) if seed),
        )


def _decode(text: str | bytes) -> str:
    """Upload bytes as text, refusing what cannot be a seed file before parsing it."""
    if len(text) > MAX_IMPORT_BYTES:
        raise ValidationFailed.single("", f"the file is larger than {MAX_IMPORT_BYTES} bytes")
    if isinstance(text, str):
        return text
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed.single("", "the file is not UTF-8 text (a YAML file?)") from exc
