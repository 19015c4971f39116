"""Imports a seed document into the database and exports the database as one.

An import is one transaction: every secret is encrypted before it is written, and any failure
(a ciphertext made with another key, a name that already exists, a constraint) rolls the whole
document back, so nothing is ever half-imported.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from sqlmodel import Session, col, delete, select

from services import credential_scope
from services.admin.seed_format import (
    AuthSeed,
    EnvEntry,
    GlobalSeed,
    NpmSeed,
    OidcSeed,
    ProjectSeed,
    RegistrySeed,
    SecretKind,
    SecretMode,
    SeedDocument,
    StageSeed,
    VolumeSeed,
    iter_secrets,
    parse_seed,
    render_seed,
)
from services.errors import ConfigError, CryptoError, FieldError, ValidationFailed
from services.registry import names
from services.secrets import SecretBox, is_encrypted
from services.store.db import Database
from services.store.models import (
    AppState,
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
    VolumeMode,
    VolumeMount,
    utcnow,
)
from services.store.projects import ENV_CONTEXT
from services.store.registries import TOKEN_CONTEXT
from services.store.settings_store import NPM_PASSWORD_CONTEXT, OIDC_SECRET_CONTEXT, WEBHOOK_CONTEXT

SEED_MARKER = "seed_imported_at"
CONTEXTS: dict[SecretKind, str] = {
    "webhook": WEBHOOK_CONTEXT,
    "npm": NPM_PASSWORD_CONTEXT,
    "registry": TOKEN_CONTEXT,
    "env": ENV_CONTEXT,
    "oidc": OIDC_SECRET_CONTEXT,
}
_OIDC_COLUMNS = {
    "discovery_url": "oidc_discovery_url",
    "client_id": "oidc_client_id",
    "scopes": "oidc_scopes",
    "allowed_users": "allowed_users",
    "allowed_groups": "allowed_groups",
}
_NESTED = {"registry", "env", "volumes", "stages"}
EnvScope = tuple[str | None, str]  # (stage name or None for the project, key)


class ConfigStore:
    """Whole-configuration import and export, and the first-launch seed.

    Re-import (`replace=True`) updates settings and the registries and projects named in the
    document; projects and registries absent from the document are KEPT, never deleted. The
    stages of a project in the document become exactly the document's stages (rows of stages
    whose name matches keep their ids, since instances reference them; stages left out are
    deleted, unless they still have instances: then the whole import is refused).
    A secret left out of the document (as in an export without secrets) keeps the stored one.
    """

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    def import_document(self, doc: SeedDocument, *, replace: bool) -> None:
        """Write `doc` in one transaction.

        `replace=False` refuses (ValidationFailed, nothing written) registries or projects that
        already exist; `replace=True` updates them. A `v1:` ciphertext that this key cannot
        decrypt is a ValidationFailed naming its field.
        """
        self._check_ciphertexts(doc)
        with self._db.session() as session:
            _Writer(session, self._box, replace=replace).write(doc)

    def import_yaml(self, text: str, *, replace: bool) -> SeedDocument:
        """Parse and import seed text (the API's and the UI's re-import); returns the document."""
        doc = parse_seed(text)
        self.import_document(doc, replace=replace)
        return doc

    def export_document(self, *, include_secrets: SecretMode = "encrypted") -> SeedDocument:
        """The stored configuration as a document; secrets as their stored `v1:` ciphertext.

        With "encrypted" every ciphertext is first decrypted as a check, so an export never
        carries secrets the next install could not read: raises CryptoError (naming the field)
        when ENCRYPTION_KEY is not the one that encrypted them. "omit" leaves secrets out and
        works even with a lost key, to rescue the rest of the configuration.
        """
        with self._db.session() as session:
            doc = _read_document(session, with_secrets=include_secrets == "encrypted")
        for slot in iter_secrets(doc):
            try:
                self._box.decrypt(slot.value, CONTEXTS[slot.kind])
            except CryptoError as exc:
                raise CryptoError(f"{slot.path}: {exc}") from exc
        return doc

    def export_yaml(self, *, include_secrets: SecretMode) -> str:
        """The configuration as seed YAML (the "Export config" download)."""
        doc = self.export_document(include_secrets=include_secrets)
        return render_seed(doc, include_secrets=include_secrets)

    def seed_on_first_launch(self, path: Path) -> bool:
        """Import the seed file once, on the very first start; return whether it imported.

        The marker is written in the same transaction as the import (and also when no file
        exists), so the YAML is never read again. A bad seed raises ValidationFailed and leaves
        no marker: the fixed file is imported at the next start.
        """
        with self._db.session() as session:
            if session.get(AppState, SEED_MARKER) is not None:
                return False
            doc = _read_seed_file(path)
            if doc is not None:
                self._check_ciphertexts(doc)
                _Writer(session, self._box, replace=False).write(doc)
            session.add(AppState(key=SEED_MARKER, value=utcnow().isoformat()))
        return doc is not None

    def _check_ciphertexts(self, doc: SeedDocument) -> None:
        problems = [
            FieldError(slot.path, "cannot be decrypted with this ENCRYPTION_KEY; give the value")
            for slot in iter_secrets(doc)
            if is_encrypted(slot.value) and not self._decrypts(slot.value, CONTEXTS[slot.kind])
        ]
        if problems:
            raise ValidationFailed(problems)

    def _decrypts(self, stored: str, context: str) -> bool:
        try:
            self._box.decrypt(stored, context)
        except CryptoError:
            return False
        return True


def _read_seed_file(path: Path) -> SeedDocument | None:
    if not path.exists():
        return None
    if not path.is_file():  # Docker makes a directory when a bind-mounted file is missing
        raise ConfigError(f"the seed path {path} exists but is not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the seed file {path}: {exc}") from exc
    return parse_seed(text)


# --- writing ----------------------------------------------------------------------------------


class _Writer:
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
            _copy_given(row, seed, {"notification_url": "notification_urls"}, {"webhook_secret"})
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
        _copy_given(row, oidc, _OIDC_COLUMNS, {"client_secret"})
        if "client_secret" in oidc.model_fields_set:
            secret = oidc.client_secret
            row.oidc_client_secret_enc = self._seal(secret, "oidc") if secret else None
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
        _copy_all(row, seed, skip=_NESTED)
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
        setattr(row, rename.get(name, name), _plain(getattr(seed, name)))


def _copy_all(row: Any, seed: BaseModel, skip: set[str]) -> None:
    """Copy every field, defaults included (named items are complete definitions)."""
    for name in type(seed).model_fields.keys() - skip:
        setattr(row, name, _plain(getattr(seed, name)))


def _plain(value: object) -> object:
    return list(value) if isinstance(value, list) else value


# --- reading ----------------------------------------------------------------------------------


def _read_document(session: Session, *, with_secrets: bool) -> SeedDocument:
    """Build the document without re-validating: the export must work for any stored state."""
    registries = session.exec(select(Registry).order_by(col(Registry.name))).all()
    names = {r.id: r.name for r in registries}
    projects = session.exec(select(Project).order_by(col(Project.name))).all()
    return SeedDocument.model_construct(
        global_=_read_global(session, with_secrets),
        npm=_read_npm(session, with_secrets),
        registries={r.name: _read_registry(r, with_secrets) for r in registries},
        projects={p.name: _read_project(session, p, names, with_secrets) for p in projects},
        auth=_read_auth(session, with_secrets),
    )


def _secret(name: str, stored: str | None, with_secrets: bool) -> dict[str, Any]:
    """`{name: ciphertext}` when exporting secrets and one is stored, else nothing (left out)."""
    return {name: SecretStr(stored)} if stored and with_secrets else {}


def _read_global(session: Session, with_secrets: bool) -> GlobalSeed:
    row = session.get(GlobalSettings, 1) or GlobalSettings(id=1)
    return GlobalSeed.model_construct(
        domain=row.domain,
        server_ip=row.server_ip,
        network=row.network,
        subdomain_pattern=row.subdomain_pattern,
        notification_url=list(row.notification_urls),
        poll_interval=row.poll_interval,
        auto_create_allow=list(row.auto_create_allow),
        volume_roots=list(row.volume_roots),
        **_secret("webhook_secret", row.webhook_secret_enc, with_secrets),
    )


def _read_npm(session: Session, with_secrets: bool) -> NpmSeed:
    row = session.get(NpmSettings, 1) or NpmSettings(id=1)
    return NpmSeed.model_construct(
        url=row.url,
        email=row.email,
        certificate_id=row.certificate_id,
        ssl_forced=row.ssl_forced,
        **_secret("password", row.password_enc, with_secrets),
    )


def _read_auth(session: Session, with_secrets: bool) -> AuthSeed:
    row = session.get(AuthSettings, 1) or AuthSettings(id=1)
    fields: dict[str, Any] = {n: _plain(getattr(row, c)) for n, c in _OIDC_COLUMNS.items()}
    secret = _secret("client_secret", row.oidc_client_secret_enc, with_secrets)
    oidc = OidcSeed.model_construct(**fields, **secret)
    return AuthSeed.model_construct(mode=AuthMode(row.mode).value, oidc=oidc)


def _read_registry(row: Registry, with_secrets: bool) -> RegistrySeed:
    return RegistrySeed.model_construct(
        url=row.url,
        type=RegistryType(row.type).value,
        username=row.username,
        **_secret("token", row.token_enc, with_secrets),
    )


def _read_project(
    session: Session, row: Project, registry_names: dict[int | None, str], with_secrets: bool
) -> ProjectSeed:
    assert row.id is not None
    stages = session.exec(
        select(Stage).where(Stage.project_id == row.id).order_by(col(Stage.position), col(Stage.id))
    ).all()
    env = session.exec(select(EnvVar).where(EnvVar.project_id == row.id).order_by(col(EnvVar.id)))
    env_rows = list(env.all())
    mounts = session.exec(
        select(VolumeMount).where(VolumeMount.project_id == row.id).order_by(col(VolumeMount.id))
    ).all()
    fields = {n: getattr(row, n) for n in ProjectSeed.model_fields.keys() - _NESTED}
    return ProjectSeed.model_construct(
        **fields,
        registry=registry_names.get(row.registry_id),
        env=_read_env(env_rows, None, with_secrets),
        volumes=_read_volumes(mounts, None),
        stages={s.name: _read_stage(s, env_rows, mounts, with_secrets) for s in stages},
    )


def _read_stage(row: Stage, env_rows: list[EnvVar], mounts: Any, with_secrets: bool) -> StageSeed:
    fields = {n: getattr(row, n) for n in StageSeed.model_fields.keys() - {"env", "volumes"}}
    return StageSeed.model_construct(
        **fields,
        env=_read_env(env_rows, row.id, with_secrets),
        volumes=_read_volumes(mounts, row.id),
    )


def _read_env(rows: list[EnvVar], stage_id: int | None, with_secrets: bool) -> dict[str, Any]:
    out: dict[str, EnvEntry | None] = {}
    for row in (r for r in rows if r.stage_id == stage_id):
        if row.unset:
            out[row.key] = None
        elif row.secret:
            value = row.value if with_secrets else None
            out[row.key] = EnvEntry.model_construct(value=value, secret=True)
        else:
            out[row.key] = EnvEntry.model_construct(value=row.value, secret=False)
    return out


def _read_volumes(mounts: Any, stage_id: int | None) -> list[VolumeSeed]:
    return [
        VolumeSeed.model_construct(
            source=m.source, target=m.target, mode=VolumeMode(m.mode).value, read_only=m.read_only
        )
        for m in mounts
        if m.stage_id == stage_id
    ]
