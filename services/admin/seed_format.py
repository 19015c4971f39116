"""The seed / export YAML format: the document's shape, and reading a document from YAML text.

Pure: no database and no key. Secrets travel as `SecretStr` holding either plaintext (from a
hand-written seed) or our `v1:` ciphertext (from an encrypted export); `ConfigStore` tells the
two apart with `services.secrets.is_encrypted` and checks ciphertexts against its key.
Every setting's type, limits and default come from `services.fields`, shared with the forms, the
REST API and the database. Rules across fields are in `seed_checks`; writing YAML in
`seed_render`.

Every problem of a document is collected into one `ValidationFailed`, each `FieldError` naming
its dotted key path (`projects.web.stages.dev.max_instances: must be ≥ 1`), so a user fixes
the file in one go instead of one error per restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from services import env_rules, volume_rules
from services import field_checks as check
from services.admin.seed_checks import cross_checks
from services.admin.seed_yaml import load_yaml
from services.errors import FieldError, ValidationFailed
from services.fields import (
    AUTH_DEFAULTS,
    GLOBAL_DEFAULTS,
    NPM_DEFAULTS,
    PROJECT_DEFAULTS,
    REGISTRY_DEFAULTS,
    STAGE_DEFAULTS,
    AllowedNames,
    AuditRetention,
    AutoCreateAllow,
    CertificateId,
    ClaimName,
    DefaultRole,
    Domain,
    Email,
    EmailDomains,
    HealthPath,
    HealthRetries,
    HealthSeconds,
    ImageName,
    MaxInstances,
    NamedVolumes,
    NetworkName,
    NpmUrl,
    OidcClientId,
    OidcDiscoveryUrl,
    OidcDisplayName,
    OidcScopes,
    PollInterval,
    Port,
    ProjectName,
    RegistryKind,
    RegistryName,
    RegistryUrl,
    RoleMap,
    RollbackKeep,
    SealedNotificationUrls,
    ServerIp,
    SignInMode,
    StageName,
    StageSubdomain,
    Strategy,
    SubdomainPattern,
    TagPattern,
    Username,
    VolumeRoots,
)
from services.secrets import is_encrypted

SecretMode = Literal["omit", "encrypted"]
SecretKind = Literal["webhook", "npm", "registry", "env", "oidc", "notify"]

MAX_SEED_CHARS = 1_000_000


def _env_key(value: str) -> str:
    problem = env_rules.key_problem(value)
    if problem:
        raise check.fail(problem)
    return value


def _plain_length(entry: EnvEntry) -> int:
    """A value's length for the size rules; 0 for an encrypted export's ciphertext."""
    text = entry.value or ""
    if entry.secret and is_encrypted(text):
        return 0  # its plaintext passed these rules when it was stored
    return len(text)


def _env_scope(value: dict[str, Any]) -> dict[str, Any]:
    sizes = [(k, _plain_length(v)) for k, v in value.items() if v is not None]
    problems = env_rules.scope_problems(sizes, "")
    if problems:
        raise check.fail(problems[0].message)
    return value


def _volume_rule(rule: Any) -> AfterValidator:
    """A field check from `services.volume_rules` (the rules deploys apply too)."""
    return AfterValidator(check.from_rule(lambda value: rule(value, "")))


EnvKey = Annotated[str, AfterValidator(_env_key)]
Secret = Annotated[SecretStr, AfterValidator(check.secret_given)]


# --- the document -----------------------------------------------------------------------------


class _Section(BaseModel):
    """Strict (YAML `"3000"` is not a port), closed (unknown keys are errors), immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, hide_input_in_errors=True)


class GlobalSeed(_Section):
    domain: Domain = GLOBAL_DEFAULTS.domain
    server_ip: ServerIp = GLOBAL_DEFAULTS.server_ip
    network: NetworkName = GLOBAL_DEFAULTS.network
    subdomain_pattern: SubdomainPattern = GLOBAL_DEFAULTS.subdomain_pattern
    notification_url: Annotated[SealedNotificationUrls, BeforeValidator(check.one_or_many)] = []
    poll_interval: PollInterval = GLOBAL_DEFAULTS.poll_interval
    webhook_secret: Annotated[SecretStr, AfterValidator(check.webhook_secret)] | None = None
    auto_create_allow: AutoCreateAllow = []
    volume_roots: VolumeRoots = []
    named_volumes: NamedVolumes = []
    rollback_keep: RollbackKeep = GLOBAL_DEFAULTS.rollback_keep
    audit_retention_days: AuditRetention = GLOBAL_DEFAULTS.audit_retention_days


class NpmSeed(_Section):
    url: NpmUrl = NPM_DEFAULTS.url
    email: Email = NPM_DEFAULTS.email
    password: Secret | None = None
    certificate_id: CertificateId | None = NPM_DEFAULTS.certificate_id
    ssl_forced: bool = NPM_DEFAULTS.ssl_forced


class RegistrySeed(_Section):
    url: RegistryUrl
    type: RegistryKind = REGISTRY_DEFAULTS.type
    username: Username = REGISTRY_DEFAULTS.username
    token: Secret | None = None


class EnvEntry(_Section):
    """One env value; written in YAML as a plain scalar, or `{value: ..., secret: true}`."""

    value: str | None = None
    secret: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_scalar(cls, data: object) -> object:
        if data is None:
            raise check.fail("needs a value (null removes a key only in a stage's env)")
        if isinstance(data, (str, int, float)):  # bool is an int
            return {"value": data}
        if not isinstance(data, dict):
            raise check.fail("must be text, a number, true/false, or {value: ..., secret: true}")
        return data

    @field_validator("value", mode="before")
    @classmethod
    def _stringify(cls, value: object) -> object:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value) if isinstance(value, (int, float)) else value

    @model_validator(mode="after")
    def _value_unless_secret(self) -> EnvEntry:
        if self.value is None and not self.secret:
            raise check.fail(
                "needs a value (only a secret may leave it out, to keep the stored one)"
            )
        checked = self.value is not None and _plain_length(self) > 0
        problem = env_rules.value_problem(self.value or "") if checked else None
        if problem:
            raise check.fail(problem)
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Keep secret values out of reprs and therefore out of logs and tracebacks."""
        shown = "**********" if self.secret and self.value is not None else self.value
        yield "value", shown
        yield "secret", self.secret


class VolumeSeed(_Section):
    source: Annotated[str, _volume_rule(volume_rules.check_source)]
    target: Annotated[str, _volume_rule(volume_rules.check_target)]
    mode: Literal["shared", "isolated"] = "shared"
    read_only: bool = False


class StageSeed(_Section):
    tag_pattern: TagPattern = STAGE_DEFAULTS.tag_pattern
    auto_deploy: bool = STAGE_DEFAULTS.auto_deploy
    max_instances: MaxInstances = STAGE_DEFAULTS.max_instances
    confirm: bool = STAGE_DEFAULTS.confirm
    promote_from: StageName | None = STAGE_DEFAULTS.promote_from
    subdomain: StageSubdomain | None = STAGE_DEFAULTS.subdomain
    strategy: Strategy = STAGE_DEFAULTS.strategy
    certificate_id: CertificateId | None = STAGE_DEFAULTS.certificate_id
    env: Annotated[dict[EnvKey, EnvEntry | None], AfterValidator(_env_scope)] = {}
    volumes: list[VolumeSeed] = []

    @model_validator(mode="before")
    @classmethod
    def _legacy_blue_green(cls, data: object) -> object:
        """Older exports carry `blue_green: true/false`, a switch no deploy ever read (every
        deploy was blue-green): it is accepted and means nothing, `strategy` decides."""
        if not isinstance(data, dict) or "blue_green" not in data:
            return data
        if not isinstance(data["blue_green"], bool):
            raise check.fail("blue_green (replaced by strategy) must be true or false")
        return {key: value for key, value in data.items() if key != "blue_green"}


class ProjectSeed(_Section):
    registry: str | None = None
    image: ImageName
    port: Port = PROJECT_DEFAULTS.port
    healthcheck: HealthPath | None = PROJECT_DEFAULTS.healthcheck
    healthcheck_retries: HealthRetries = PROJECT_DEFAULTS.healthcheck_retries
    healthcheck_interval: HealthSeconds = PROJECT_DEFAULTS.healthcheck_interval
    healthcheck_timeout: HealthSeconds = PROJECT_DEFAULTS.healthcheck_timeout
    env: Annotated[dict[EnvKey, EnvEntry], AfterValidator(_env_scope)] = {}
    volumes: list[VolumeSeed] = []
    stages: dict[StageName, StageSeed] = {}


class OidcSeed(_Section):
    display_name: OidcDisplayName = AUTH_DEFAULTS.oidc_display_name
    discovery_url: OidcDiscoveryUrl = ""
    client_id: OidcClientId = ""
    client_secret: Secret | None = None
    scopes: OidcScopes = AUTH_DEFAULTS.oidc_scopes
    username_claim: ClaimName = AUTH_DEFAULTS.oidc_username_claim
    groups_claim: ClaimName = AUTH_DEFAULTS.oidc_groups_claim
    allowed_users: AllowedNames = []
    allowed_groups: AllowedNames = []
    allowed_email_domains: EmailDomains = []
    require_verified_email: bool = AUTH_DEFAULTS.require_verified_email
    role_map: RoleMap = {}
    default_role: DefaultRole = AUTH_DEFAULTS.oidc_default_role


class AuthSeed(_Section):
    mode: SignInMode = AUTH_DEFAULTS.mode
    oidc: OidcSeed = OidcSeed()


class SeedDocument(_Section):
    """A whole seed. Sections left out are None: importing them changes nothing.

    Inside the single-row sections (global, npm, auth) only keys present in the file are
    applied (`model_fields_set`); registries, projects and stages are complete definitions.
    """

    global_: GlobalSeed | None = Field(None, alias="global")
    npm: NpmSeed | None = None
    registries: dict[RegistryName, RegistrySeed] = {}
    projects: dict[ProjectName, ProjectSeed] = {}
    auth: AuthSeed | None = None


_SECTIONS: tuple[type[BaseModel], ...] = (
    SeedDocument,
    GlobalSeed,
    NpmSeed,
    RegistrySeed,
    ProjectSeed,
    StageSeed,
    EnvEntry,
    VolumeSeed,
    AuthSeed,
    OidcSeed,
)
SEED_KEYS = sorted({f.alias or n for m in _SECTIONS for n, f in m.model_fields.items()})


def field_error(err: ErrorDetails | dict[str, Any]) -> FieldError:
    """A pydantic error in the seed's words; an unknown key gets a "did you mean" from its keys."""
    return check.field_error(err, SEED_KEYS)


# --- parsing ----------------------------------------------------------------------------------


def parse_seed(text: str) -> SeedDocument:
    """Parse and validate a seed; raise one ValidationFailed listing every problem found.

    An empty file (or one holding only comments) is an empty document. Duplicate keys are
    errors, because YAML would otherwise keep the last one silently.
    """
    if len(text) > MAX_SEED_CHARS:
        raise ValidationFailed.single("", f"the seed is larger than {MAX_SEED_CHARS} characters")
    data, problems = load_yaml(text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed.single(
            "", "the seed must be a mapping with keys global, npm, registries, projects, auth"
        )
    try:
        document: SeedDocument | None = SeedDocument.model_validate(data)
    except ValidationError as exc:
        document = None
        problems = [*problems, *(field_error(err) for err in exc.errors())]
    problems += cross_checks(data)
    if problems or document is None:
        raise ValidationFailed(list(dict.fromkeys(problems)))
    return document


# --- secrets ----------------------------------------------------------------------------------


class SecretSlot(NamedTuple):
    """Where a secret sits in a document, what kind it is, and its text (plain or `v1:`)."""

    path: str
    kind: SecretKind
    value: str


def iter_secrets(doc: SeedDocument) -> Iterator[SecretSlot]:
    """Every secret present in `doc`, so a store can check or encrypt them all in one pass."""
    if doc.global_ is not None and doc.global_.webhook_secret is not None:
        yield _slot("global.webhook_secret", "webhook", doc.global_.webhook_secret)
    for index, url in enumerate(doc.global_.notification_url if doc.global_ else []):
        yield SecretSlot(f"global.notification_url.{index}", "notify", url)
    if doc.npm is not None and doc.npm.password is not None:
        yield _slot("npm.password", "npm", doc.npm.password)
    for name, registry in doc.registries.items():
        if registry.token is not None:
            yield _slot(f"registries.{name}.token", "registry", registry.token)
    for name, project in doc.projects.items():
        yield from _env_secrets(project.env, f"projects.{name}.env")
        for stage_name, stage in project.stages.items():
            yield from _env_secrets(stage.env, f"projects.{name}.stages.{stage_name}.env")
    if doc.auth is not None and doc.auth.oidc.client_secret is not None:
        yield _slot("auth.oidc.client_secret", "oidc", doc.auth.oidc.client_secret)


def _slot(path: str, kind: SecretKind, value: SecretStr) -> SecretSlot:
    return SecretSlot(path, kind, value.get_secret_value())


def _env_secrets(
    env: dict[str, EnvEntry] | dict[str, EnvEntry | None], base: str
) -> Iterator[SecretSlot]:
    for key, entry in env.items():
        if entry is not None and entry.secret and entry.value is not None:
            yield SecretSlot(f"{base}.{key}", "env", entry.value)
