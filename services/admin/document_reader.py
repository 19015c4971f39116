"""Reads the stored configuration back as a seed document (the export's half that reads tables).

Built with `model_construct`, without re-validating: an export must work for any stored state.
Secrets are their stored `v1:` ciphertext, or left out.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from sqlmodel import Session, col, select

from services.admin.document_writer import OIDC_COLUMNS, PROJECT_NESTED, plain
from services.admin.seed_format import (
    AuthSeed,
    EnvEntry,
    GlobalSeed,
    NpmSeed,
    OidcSeed,
    ProjectSeed,
    RegistrySeed,
    SeedDocument,
    StageSeed,
    VolumeSeed,
)
from services.store.models import (
    AuthMode,
    AuthSettings,
    DeployStrategy,
    EnvVar,
    GlobalSettings,
    NpmSettings,
    Project,
    Registry,
    RegistryType,
    Stage,
    VolumeMode,
    VolumeMount,
)


def read_document(session: Session, *, with_secrets: bool) -> SeedDocument:
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


def _sealed_urls(stored: list[str], with_secrets: bool) -> dict[str, Any]:
    """Notification URLs carry tokens: their ciphertexts when exporting secrets, else left out."""
    return {"notification_url": list(stored)} if with_secrets else {}


def _read_global(session: Session, with_secrets: bool) -> GlobalSeed:
    row = session.get(GlobalSettings, 1) or GlobalSettings(id=1)
    return GlobalSeed.model_construct(
        domain=row.domain,
        server_ip=row.server_ip,
        network=row.network,
        subdomain_pattern=row.subdomain_pattern,
        poll_interval=row.poll_interval,
        auto_create_allow=list(row.auto_create_allow),
        volume_roots=list(row.volume_roots),
        named_volumes=list(row.named_volumes),
        rollback_keep=row.rollback_keep,
        audit_retention_days=row.audit_retention_days,
        **_secret("webhook_secret", row.webhook_secret_enc, with_secrets),
        # Notification URLs carry tokens: sealed when exporting secrets, else left out.
        **_sealed_urls(row.notification_urls, with_secrets),
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
    fields: dict[str, Any] = {n: plain(getattr(row, c)) for n, c in OIDC_COLUMNS.items()}
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
    fields = {n: getattr(row, n) for n in ProjectSeed.model_fields.keys() - PROJECT_NESTED}
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
        **fields | {"strategy": DeployStrategy(row.strategy).value},  # YAML writes plain text
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
