"""SQLModel tables for everything the product keeps.

Columns ending in `_enc` hold AES-256-GCM ciphertext made by `services.secrets.SecretBox`; the
stores encrypt on write and decrypt only where a service needs the plaintext.
Times are timezone-aware UTC (SQLModel's UTCDateTime refuses naive ones); `utcnow()` is the clock.
The settings' defaults are `services.fields`' (Python-side only: the columns have no server
default, so they match the forms, the API and the seed format without a migration).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.fields import (
    AUTH_DEFAULTS,
    GLOBAL_DEFAULTS,
    NPM_DEFAULTS,
    PROJECT_DEFAULTS,
    REGISTRY_DEFAULTS,
    STAGE_DEFAULTS,
)


def utcnow() -> datetime:
    """Aware UTC now, the form every timestamp column takes."""
    return datetime.now(UTC)


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


def _json_dict() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class RegistryType(StrEnum):
    GITEA = "gitea"
    GITHUB = "github"
    DOCKERHUB = "dockerhub"
    GENERIC = "generic"


class DeployStrategy(StrEnum):
    """How a stage replaces an instance (`services.fields.STRATEGY_EXPLAINED` says how)."""

    BLUE_GREEN = "blue_green"
    STOP_FIRST = "stop_first"


class InstanceStatus(StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    STOPPED = "stopped"
    FAILED = "failed"
    MISSING = "missing"  # its container vanished outside our control


class DeployStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"  # a rule said no (promote, clash, confirm) before anything was touched
    SKIPPED = "skipped"  # nothing to do (same digest already running)


class DeployTrigger(StrEnum):
    WEBHOOK = "webhook"
    POLL = "poll"
    MANUAL = "manual"
    QUICK = "quick"
    PROMOTE = "promote"
    ROLLBACK = "rollback"  # a person asked for a stage's previous deploy back


class StepStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class VolumeMode(StrEnum):
    SHARED = "shared"
    ISOLATED = "isolated"


class AuthMode(StrEnum):
    LOCAL = "local"
    OIDC = "oidc"
    BOTH = "both"


class Role(StrEnum):
    """What a signed-in person may do: admin everything; deployer deploys, promotes and
    stops/starts/restarts and sees configuration; viewer only reads."""

    ADMIN = "admin"
    DEPLOYER = "deployer"
    VIEWER = "viewer"


class ActorKind(StrEnum):
    """Who did something: a person, or the product acting on its own."""

    USER = "user"
    WEBHOOK = "webhook"
    POLLER = "poller"
    SYSTEM = "system"


class AuditOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"  # tried and did not work (a deploy that failed, a wrong password)
    REFUSED = "refused"  # not allowed (a role without the right, a person outside allow-lists)


class AppState(SQLModel, table=True):
    """Small key/value facts about the installation (e.g. when the seed was imported)."""

    __tablename__ = "app_state"

    key: str = Field(primary_key=True, max_length=100)
    value: str


class GlobalSettings(SQLModel, table=True):
    """The single row of installation-wide settings (id is always 1)."""

    __tablename__ = "global_settings"

    id: int = Field(default=1, primary_key=True)
    domain: str = GLOBAL_DEFAULTS.domain
    server_ip: str = GLOBAL_DEFAULTS.server_ip
    network: str = GLOBAL_DEFAULTS.network
    subdomain_pattern: str = GLOBAL_DEFAULTS.subdomain_pattern
    notification_urls: list[str] = _json_list()  # each sealed (`v1:`): they carry tokens
    poll_interval: int = GLOBAL_DEFAULTS.poll_interval
    webhook_secret_enc: str | None = None
    auto_create_allow: list[str] = _json_list()
    volume_roots: list[str] = _json_list()
    named_volumes: list[str] = _json_list()  # globs of Docker volume names projects may mount
    rollback_keep: int = GLOBAL_DEFAULTS.rollback_keep  # successful digests kept per stage
    audit_retention_days: int = GLOBAL_DEFAULTS.audit_retention_days
    updated_at: datetime = Field(default_factory=utcnow)


class NpmSettings(SQLModel, table=True):
    """The single row describing how to reach Nginx Proxy Manager (id is always 1)."""

    __tablename__ = "npm_settings"

    id: int = Field(default=1, primary_key=True)
    url: str = NPM_DEFAULTS.url
    email: str = NPM_DEFAULTS.email
    password_enc: str | None = None
    certificate_id: int | None = NPM_DEFAULTS.certificate_id
    ssl_forced: bool = NPM_DEFAULTS.ssl_forced
    updated_at: datetime = Field(default_factory=utcnow)


class Registry(SQLModel, table=True):
    __tablename__ = "registry"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=63)
    url: str
    type: RegistryType = RegistryType(REGISTRY_DEFAULTS.type)
    username: str = REGISTRY_DEFAULTS.username
    token_enc: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Project(SQLModel, table=True):
    __tablename__ = "project"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=63)
    registry_id: int | None = Field(default=None, foreign_key="registry.id", ondelete="SET NULL")
    image: str
    port: int = PROJECT_DEFAULTS.port
    healthcheck: str | None = PROJECT_DEFAULTS.healthcheck
    healthcheck_retries: int = PROJECT_DEFAULTS.healthcheck_retries
    healthcheck_interval: float = PROJECT_DEFAULTS.healthcheck_interval
    healthcheck_timeout: float = PROJECT_DEFAULTS.healthcheck_timeout
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Stage(SQLModel, table=True):
    __tablename__ = "stage"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=32)
    tag_pattern: str = STAGE_DEFAULTS.tag_pattern
    auto_deploy: bool = STAGE_DEFAULTS.auto_deploy
    max_instances: int = STAGE_DEFAULTS.max_instances
    confirm: bool = STAGE_DEFAULTS.confirm
    promote_from: str | None = STAGE_DEFAULTS.promote_from
    subdomain: str | None = STAGE_DEFAULTS.subdomain
    strategy: DeployStrategy = DeployStrategy(STAGE_DEFAULTS.strategy)
    certificate_id: int | None = STAGE_DEFAULTS.certificate_id  # NPM certificate for new hosts
    position: int = 0


class EnvVar(SQLModel, table=True):
    """One env entry of a project (stage_id None) or a stage override (`unset` removes the key)."""

    __tablename__ = "env_var"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", ondelete="CASCADE", index=True)
    stage_id: int | None = Field(default=None, foreign_key="stage.id", ondelete="CASCADE")
    key: str = Field(max_length=255)
    value: str | None = None  # plaintext, or ciphertext when `secret`
    secret: bool = False
    unset: bool = False


class VolumeMount(SQLModel, table=True):
    """A mount of a project (stage_id None) or a stage override (same target replaces)."""

    __tablename__ = "volume_mount"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", ondelete="CASCADE", index=True)
    stage_id: int | None = Field(default=None, foreign_key="stage.id", ondelete="CASCADE")
    source: str
    target: str
    mode: VolumeMode = VolumeMode.SHARED
    read_only: bool = False


class Instance(SQLModel, table=True):
    """One container of a project/stage/tag that we started and still track."""

    __tablename__ = "instance"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", ondelete="CASCADE", index=True)
    stage_id: int = Field(foreign_key="stage.id", ondelete="CASCADE", index=True)
    deploy_id: int | None = None
    tag: str
    digest: str = ""
    container_id: str | None = None
    container_name: str = ""
    subdomains: list[str] = _json_list()
    proxy_host_ids: dict[str, int] = _json_dict()  # domain -> NPM proxy host id
    url: str = ""
    status: InstanceStatus = InstanceStatus.STARTING
    error: str | None = None
    config_hash: str = ""  # env/volumes fingerprint, to tell outdated instances
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    healthy_at: datetime | None = None
    stopped_at: datetime | None = None
    # The stop_first deploy that stopped it: started again if that deploy ends without it.
    stopped_by_deploy: int | None = None


class Deploy(SQLModel, table=True):
    """Every deploy attempt, kept as history even after its project is gone."""

    __tablename__ = "deploy"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int | None = Field(
        default=None, foreign_key="project.id", ondelete="SET NULL", index=True
    )
    project_name: str
    stage_name: str
    tag: str
    digest: str = ""
    trigger: DeployTrigger
    status: DeployStatus = DeployStatus.QUEUED
    step: str | None = None  # the step running now, or the one that failed
    error: str | None = None
    instance_id: int | None = None
    # What the container was built from (see services/deploy/snapshot.py); secrets as ciphertext.
    config_snapshot: dict[str, Any] = _json_dict()
    rollback_of: int | None = None  # the deploy a rollback returns to
    # A failed deploy whose undo could not finish (engine or NPM unreachable): its instance rows
    # stay, with container names and proxy host ids, until the reconciler's clean-up removes them.
    cleanup_pending: bool = False
    # Who asked for it: a username, or "webhook" / "poller" / "system".
    actor: str = Field(default="", max_length=150)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class DeployStep(SQLModel, table=True):
    __tablename__ = "deploy_step"

    id: int | None = Field(default=None, primary_key=True)
    deploy_id: int = Field(foreign_key="deploy.id", ondelete="CASCADE", index=True)
    name: str
    status: StepStatus = StepStatus.RUNNING
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    duration_ms: int | None = None


class DeployLogLine(SQLModel, table=True):
    __tablename__ = "deploy_log_line"

    id: int | None = Field(default=None, primary_key=True)
    deploy_id: int = Field(foreign_key="deploy.id", ondelete="CASCADE", index=True)
    step: str
    level: str = "info"
    message: str
    ts: datetime = Field(default_factory=utcnow)


class User(SQLModel, table=True):
    __tablename__ = "user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=150)
    password_hash: str | None = None  # None for OIDC-only users
    email: str | None = None
    oidc_subject: str | None = Field(default=None, index=True)
    oidc_issuer: str | None = None  # with oidc_subject: the provider's identity of this user
    role: Role = Role.VIEWER
    disabled: bool = False  # may not sign in; sessions ended when set
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None
    # Epoch seconds: session tokens issued earlier are void (set by a password change).
    sessions_valid_from: int = 0


class RevokedToken(SQLModel, table=True):
    """A signed-out session token, kept until it would have expired anyway."""

    __tablename__ = "revoked_token"

    token_id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    expires_at: int = Field(index=True)  # epoch seconds


class RemovedUser(SQLModel, table=True):
    """A removed user's id and when: its session tokens issued earlier stay void after a
    restart (the id may be given to a new user later; that one's tokens are newer)."""

    __tablename__ = "removed_user"

    user_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    removed_at_ms: int  # epoch milliseconds, rounded up


class AuthSettings(SQLModel, table=True):
    """The single row of authentication settings (id is always 1)."""

    __tablename__ = "auth_settings"

    id: int = Field(default=1, primary_key=True)
    mode: AuthMode = AuthMode(AUTH_DEFAULTS.mode)
    oidc_discovery_url: str = ""
    oidc_client_id: str = ""
    oidc_client_secret_enc: str | None = None
    oidc_scopes: str = AUTH_DEFAULTS.oidc_scopes
    oidc_display_name: str = AUTH_DEFAULTS.oidc_display_name  # "Sign in with <name>"
    oidc_username_claim: str = AUTH_DEFAULTS.oidc_username_claim
    oidc_groups_claim: str = AUTH_DEFAULTS.oidc_groups_claim
    allowed_users: list[str] = _json_list()  # usernames or emails; empty: anyone
    allowed_groups: list[str] = _json_list()  # empty: any group
    allowed_email_domains: list[str] = _json_list()  # e.g. "example.com"
    require_verified_email: bool = AUTH_DEFAULTS.require_verified_email  # emails allowed by domain
    oidc_role_map: dict[str, str] = _json_dict()  # provider group -> Role value
    oidc_default_role: str = AUTH_DEFAULTS.oidc_default_role  # "" : no group matched -> refused


class AuditEvent(SQLModel, table=True):
    """One thing someone (or the product itself) did, append-only: never updated, only purged
    after the retention period."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    ts: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(index=True, max_length=150)  # username, or webhook/poller/system
    actor_kind: ActorKind = ActorKind.USER
    action: str = Field(index=True, max_length=64)  # e.g. sign_in, deploy, stop, config_change
    outcome: AuditOutcome = AuditOutcome.OK
    project_name: str | None = Field(default=None, index=True)
    stage_name: str | None = None
    instance_id: int | None = None
    target: str = ""  # what else was acted on: a setting section, a username, a registry
    # Facts that help later (digest, tag, names of changed fields): never a secret value.
    detail: dict[str, Any] = _json_dict()
    address: str = ""  # the client address, when a request caused it
    message: str = ""  # why it failed or was refused


class SeenTag(SQLModel, table=True):
    """A tag (and its digest) noticed in a project's repository, so restarts never redeploy it."""

    __tablename__ = "seen_tag"
    __table_args__ = (UniqueConstraint("project_id", "tag"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", ondelete="CASCADE", index=True)
    tag: str
    digest: str = ""
    state: str = "baseline"  # baseline | available | deployed | refused
    first_seen: datetime = Field(default_factory=utcnow)
    last_seen: datetime = Field(default_factory=utcnow)
