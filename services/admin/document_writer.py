"""Writes a seed document's rows inside one session (the import's half that touches tables).

Single-row settings take only the keys the document gave; registries, projects and stages are
complete definitions. Secrets are sealed (encrypted, or kept when already our ciphertext) with
the context of their column. `document_reader` reads the same columns back.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, SecretStr
from sqlmodel import Session, col, delete, select

from services import credential_scope
from services.admin.seed_format import (
    AuthSeed,
    EnvEntry,
    GlobalSeed,
    NpmSeed,
    ProjectSeed,
    RegistrySeed,
    SecretKind,
    SeedDocument,
    StageSeed,
    VolumeSeed,
)
from services.auth.oidc_settings import LOCK_OUT, oidc_only_safe
from services.errors import FieldError, ValidationFailed
from services.registry import names
from services.secrets import SecretBox, is_encrypted
from services.store.models import (
    AuthMode,
    AuthSettings,
    EnvVar,
    GlobalSettings,
    Instance,
    NpmSettings,
    Project,
    Registry,
    RegistryType,
    Stage,
    User,
    VolumeMode,
    VolumeMount,
    utcnow,
)
from services.store.projects import ENV_CONTEXT
from services.store.registries import TOKEN_CONTEXT
from services.store.settings_store import (
    NOTIFY_URL_CONTEXT,
    NPM_PASSWORD_CONTEXT,
    OIDC_SECRET_CONTEXT,
    WEBHOOK_CONTEXT,
)

CONTEXTS: dict[SecretKind, str] = {
    "webhook": WEBHOOK_CONTEXT,
    "npm": NPM_PASSWORD_CONTEXT,
    "registry": TOKEN_CONTEXT,
    "env": ENV_CONTEXT,
    "oidc": OIDC_SECRET_CONTEXT,
    "notify": NOTIFY_URL_CONTEXT,
}
OIDC_COLUMNS = {  # the seed's auth.oidc keys -> AuthSettings columns
    "display_name": "oidc_display_name",
    "discovery_url": "oidc_discovery_url",
    "client_id": "oidc_client_id",
    "scopes": "oidc_scopes",
    "username_claim": "oidc_username_claim",
    "groups_claim": "oidc_groups_claim",
    "allowed_users": "allowed_users",
    "allowed_groups": "allowed_groups",
    "allowed_email_domains": "allowed_email_domains",
    "require_verified_email": "require_verified_email",
    "role_map": "oidc_role_map",
    "default_role": "oidc_default_role",
}
PROJECT_NESTED = {"registry", "env", "volumes", "stages"}  # ProjectSeed keys that are not columns
EnvScope = tuple[str | None, str]  # (stage name or None for the project, key)


class DocumentWriter:
    """Applies one document inside one session; raises before commit on any conflict."""

    def __init__(self, session: Session, box: SecretBox, *, replace: bool) -> None:
        self._s = session
        self._box = box
        self._replace = replace
        self._conflicts: list[FieldError] = []

    def write(self, doc: SeedDocument) -> None:
        self._global(doc.global_)
        if doc.npm is not None:
            self._npm(doc.npm)
        if doc.auth is not None:
            self._auth(doc.auth)
        registry_ids = {name: self._registry(name, seed) for name, seed in doc.registries.items()}
        for name, seed in doc.projects.items():
            self._project(name, seed, registry_ids)
        if self._conflicts:
            raise ValidationFailed(self._conflicts)
        self._s.flush()  # constraint errors surface here, inside the transaction

    def _seal(self, secret: SecretStr | str, kind: SecretKind) -> str:
        """Ciphertext for the column: plaintext is encrypted, checked `v1:` text kept as is."""
        text = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        return text if is_encrypted(text) else self._box.encrypt(text, CONTEXTS[kind])

    def _global(self, seed: GlobalSeed | None) -> None:
        row = self._s.get(GlobalSettings, 1) or GlobalSettings(id=1)
        if seed is not None:
            _copy_given(row, seed, {}, {"webhook_secret", "notification_url"})
            if "notification_url" in seed.model_fields_set:
                urls = seed.notification_url
                row.notification_urls = [self._seal(url, "notify") for url in urls]
            if "webhook_secret" in seed.model_fields_set:
                secret = seed.webhook_secret
                row.webhook_secret_enc = self._seal(secret, "webhook") if secret else None
        if row.webhook_secret_enc is None:  # the webhook URL must always exist
            row.webhook_secret_enc = self._seal(str(uuid.uuid4()), "webhook")
        row.updated_at = utcnow()
        self._s.add(row)

    def _npm(self, seed: NpmSeed) -> None:
        row = self._s.get(NpmSettings, 1) or NpmSettings(id=1)
        given = seed.model_fields_set
        if row.password_enc and "password" not in given and "url" in given:
            self._refuse_moved_secret(row.url, seed.url, "npm.password", "password")
        _copy_given(row, seed, {}, {"password"})
        if "password" in seed.model_fields_set:
            row.password_enc = self._seal(seed.password, "npm") if seed.password else None
        row.updated_at = utcnow()
        self._s.add(row)

    def _auth(self, seed: AuthSeed) -> None:
        row = self._s.get(AuthSettings, 1) or AuthSettings(id=1)
        if "mode" in seed.model_fields_set:
            row.mode = AuthMode(seed.mode)
        oidc = seed.oidc
        given = oidc.model_fields_set
        if row.oidc_client_secret_enc and "client_secret" not in given and "discovery_url" in given:
            path = "auth.oidc.client_secret"
            self._refuse_moved_secret(row.oidc_discovery_url, oidc.discovery_url, path, "secret")
        _copy_given(row, oidc, OIDC_COLUMNS, {"client_secret"})
        if "client_secret" in oidc.model_fields_set:
            secret = oidc.client_secret
            row.oidc_client_secret_enc = self._seal(secret, "oidc") if secret else None
        users = self._s.exec(select(User)).all()
        if row.mode == AuthMode.OIDC and not oidc_only_safe(users, row.oidc_discovery_url):
            self._conflicts.append(FieldError("auth.mode", LOCK_OUT))
        self._s.add(row)

    def _registry(self, name: str, seed: RegistrySeed) -> int:
        row = self._existing(Registry, name, f"registries.{name}")
        row = row or Registry(name=name, url=seed.url)
        if row.token_enc and "token" not in seed.model_fields_set:
            kept = names.same_api(row.url, str(row.type), seed.url, seed.type)
            if not kept:
                self._conflicts.append(credential_scope.retype(f"registries.{name}.token", "token"))
        row.url, row.type, row.username = seed.url, RegistryType(seed.type), seed.username
        if "token" in seed.model_fields_set:
            row.token_enc = self._seal(seed.token, "registry") if seed.token else None
        self._s.add(row)
        self._s.flush()
        assert row.id is not None
        return row.id

    def _refuse_moved_secret(self, saved_url: str, new_url: str, path: str, what: str) -> None:
        """A stored secret left out of the document stays only for the address it was saved for."""
        if not credential_scope.may_keep(saved_url, new_url):
            self._conflicts.append(credential_scope.retype(path, what))

    def _existing(self, model: type[Registry] | type[Project], name: str, path: str) -> Any:
        row = self._s.exec(select(model).where(model.name == name)).first()
        if row is not None and not self._replace:
            self._conflicts.append(FieldError(path, "already exists (re-import to update it)"))
        return row

    def _project(self, name: str, seed: ProjectSeed, registry_ids: dict[str, int]) -> None:
        row: Project = self._existing(Project, name, f"projects.{name}")
        row = row or Project(name=name, image=seed.image)
        _copy_all(row, seed, skip=PROJECT_NESTED)
        row.registry_id = registry_ids[seed.registry] if seed.registry else None
        row.updated_at = utcnow()
        self._s.add(row)
        self._s.flush()
        assert row.id is not None
        old_env = self._clear_env_and_volumes(row.id)
        stage_ids = self._stages(row.id, seed.stages)
        self._env(row.id, None, seed.env, old_env)
        self._volumes(row.id, None, seed.volumes)
        for stage_name, stage in seed.stages.items():
            self._env(row.id, stage_ids[stage_name], stage.env, old_env, stage_name)
            self._volumes(row.id, stage_ids[stage_name], stage.volumes)

    def _clear_env_and_volumes(self, project_id: int) -> dict[EnvScope, EnvVar]:
        """Delete the project's env and mounts; return the old secret env rows by scope/key."""
        names = {s.id: s.name for s in self._stage_rows(project_id)}
        rows = self._s.exec(select(EnvVar).where(EnvVar.project_id == project_id)).all()
        old = {(names.get(r.stage_id) if r.stage_id else None, r.key): r for r in rows if r.secret}
        self._s.exec(delete(EnvVar).where(col(EnvVar.project_id) == project_id))
        self._s.exec(delete(VolumeMount).where(col(VolumeMount.project_id) == project_id))
        return old

    def _stage_rows(self, project_id: int) -> list[Stage]:
        return list(self._s.exec(select(Stage).where(Stage.project_id == project_id)).all())

    def _stages(self, project_id: int, seeds: dict[str, StageSeed]) -> dict[str, int]:
        existing = {row.name: row for row in self._stage_rows(project_id)}
        rows: dict[str, Stage] = {}
        for position, (name, seed) in enumerate(seeds.items()):
            row = existing.pop(name, None) or Stage(project_id=project_id, name=name)
            _copy_all(row, seed, skip={"env", "volumes"})
            row.position = position
            self._s.add(row)
            rows[name] = row
        for gone in existing.values():
            self._refuse_if_running(gone)
            self._s.delete(gone)
        self._s.flush()
        return {name: row.id for name, row in rows.items() if row.id is not None}

    def _refuse_if_running(self, stage: Stage) -> None:
        """Deleting a stage with instances would orphan live containers: refuse, write nothing."""
        held = self._s.exec(select(Instance).where(Instance.stage_id == stage.id)).first()
        if held is not None:
            project = self._s.get(Project, stage.project_id)
            raise ValidationFailed.single(
                f"projects.{project.name if project else stage.project_id}.stages",
                f"stage {stage.name!r} is missing from the document but still has instances; "
                "remove them first or keep the stage",
            )

    def _env(
        self,
        project_id: int,
        stage_id: int | None,
        env: dict[str, EnvEntry] | dict[str, EnvEntry | None],
        old: dict[EnvScope, EnvVar],
        stage_name: str | None = None,
    ) -> None:
        for key, entry in env.items():
            row = EnvVar(project_id=project_id, stage_id=stage_id, key=key)
            if entry is None:
                row.unset = True
            elif entry.secret:
                row.secret = True
                kept = old.get((stage_name, key))
                row.value = self._seal(entry.value, "env") if entry.value else _value(kept)
            else:
                row.value = entry.value
            self._s.add(row)

    def _volumes(self, project_id: int, stage_id: int | None, volumes: list[VolumeSeed]) -> None:
        for volume in volumes:
            mode = VolumeMode(volume.mode)
            row = VolumeMount(project_id=project_id, stage_id=stage_id, mode=mode, **_mount(volume))
            self._s.add(row)


def _mount(volume: VolumeSeed) -> dict[str, Any]:
    return {"source": volume.source, "target": volume.target, "read_only": volume.read_only}


def _value(row: EnvVar | None) -> str | None:
    return row.value if row is not None else None


def _copy_given(row: Any, seed: BaseModel, rename: dict[str, str], skip: set[str]) -> None:
    """Copy only the keys the document gave (single-row settings merge)."""
    for name in seed.model_fields_set - skip:
        setattr(row, rename.get(name, name), plain(getattr(seed, name)))


def _copy_all(row: Any, seed: BaseModel, skip: set[str]) -> None:
    """Copy every field, defaults included (named items are complete definitions)."""
    for name in type(seed).model_fields.keys() - skip:
        setattr(row, name, plain(getattr(seed, name)))


def plain(value: object) -> object:
    """A column value: lists and mappings copied (a JSON column must not share the
    document's)."""
    if isinstance(value, dict):
        return dict(value)
    return list(value) if isinstance(value, list) else value
