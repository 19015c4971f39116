"""The seed / export YAML format: parse and validate a whole document, render it back.

Pure: no database and no key. Secrets travel as `SecretStr` holding either plaintext (from a
hand-written seed) or our `v1:` ciphertext (from an encrypted export); `ConfigStore` tells the
two apart with `services.secrets.is_encrypted` and checks ciphertexts against its key.

Every problem of a document is collected into one `ValidationFailed`, each `FieldError` naming
its dotted key path (`projects.web.stages.dev.max_instances: must be ≥ 1`), so a user fixes
the file in one go instead of one error per restart.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal, NamedTuple

import yaml
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
from pydantic_core import ErrorDetails, PydanticCustomError

from services import env_rules, subdomains, tags, volume_rules
from services.errors import FieldError, ValidationFailed
from services.imageref import ImageRef
from services.registry import names
from services.secrets import is_encrypted

SecretMode = Literal["omit", "encrypted"]
SecretKind = Literal["webhook", "npm", "registry", "env", "oidc"]

MAX_SEED_CHARS = 1_000_000
MAX_YAML_NODES = 100_000  # after alias expansion: stops "billion laughs" documents early
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_REGISTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_NETWORK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
_SLUG_HINT = "lowercase letters, digits and '-', not starting or ending with '-'"


# --- field checks (each raises a PydanticCustomError whose message is shown as is) ----------


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("seed", message)


def _slug(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not _SLUG.fullmatch(value) or len(value) > limit:
            raise _fail(f"must be a DNS-safe name: {_SLUG_HINT}, at most {limit} characters")
        return value

    return check


def _registry_name(value: str) -> str:
    if not _REGISTRY_NAME.fullmatch(value) or len(value) > 63:
        raise _fail("must be letters, digits, '.', '_' or '-' (at most 63 characters)")
    return value


def _env_key(value: str) -> str:
    problem = env_rules.key_problem(value)
    if problem:
        raise _fail(problem)
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
        raise _fail(problems[0].message)
    return value


def _with_rule(rule: Callable[[str, str], str]) -> Callable[[str], str]:
    """A field check from `services.volume_rules` (the rules deploys apply too)."""

    def check(value: str) -> str:
        try:
            return rule(value, "")
        except ValidationFailed as exc:
            raise _fail(exc.errors[0].message) from None

    return check


def _url(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if value and not (sep and scheme in ("http", "https") and rest and " " not in value):
        raise _fail("must be an http:// or https:// URL")
    return value


def _hostname(value: str) -> str:
    labels = value.split(".")
    if value and not (len(value) <= 253 and all(_HOST_LABEL.fullmatch(x) for x in labels)):
        raise _fail("must be a domain name such as example.com")
    return value


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value)) if value else value
    except ValueError:
        raise _fail("must be an IPv4 or IPv6 address") from None


def _email(value: str) -> str:
    if value and not _EMAIL.fullmatch(value):
        raise _fail("must be an e-mail address")
    return value


def _network(value: str) -> str:
    if not _NETWORK.fullmatch(value) or len(value) > 64:
        raise _fail("must be a Docker network name (letters, digits, '_', '.', '-')")
    return value


def _subdomain_pattern(value: str) -> str:
    """The same rule as the settings page and API (`subdomains.validate_pattern`)."""
    try:
        subdomains.validate_pattern(value)
    except ValidationFailed as exc:
        raise _fail(exc.errors[0].message) from None
    return value


def _dns_name(value: str) -> str:
    if not all(_SLUG.fullmatch(label) and len(label) <= 63 for label in value.split(".")):
        raise _fail(f"must be a DNS name: dot-separated labels of {_SLUG_HINT}")
    return value


def _image(value: str) -> str:
    try:
        ImageRef.parse_name(value)
    except ValidationFailed as exc:
        raise _fail(exc.errors[0].message) from None
    return value.strip()


def _tag_pattern(value: str) -> str:
    """A stage's tag glob: the characters a glob over tags needs, nothing else."""
    problem = tags.pattern_problem(value)
    if problem:
        raise _fail(problem)
    return value


def _url_path(value: str) -> str:
    if not value.startswith("/") or any(ch.isspace() for ch in value):
        raise _fail("must be a URL path starting with '/', e.g. /health")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise _fail("must not be empty")
    return value


def _secret(value: SecretStr) -> SecretStr:
    if not value.get_secret_value():
        raise _fail("must not be empty (leave the key out instead)")
    return value


def _webhook_secret(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    if is_encrypted(text):
        return value
    try:
        return SecretStr(str(uuid.UUID(text)))
    except ValueError:
        raise _fail("must be a UUID such as 3f0c…; leave it out to have one generated") from None


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


ProjectName = Annotated[str, AfterValidator(_slug(63))]
StageName = Annotated[str, AfterValidator(_slug(32))]
RegistryName = Annotated[str, AfterValidator(_registry_name)]
EnvKey = Annotated[str, AfterValidator(_env_key)]
Url = Annotated[str, AfterValidator(_url)]
RequiredUrl = Annotated[str, AfterValidator(_not_blank), AfterValidator(_url)]
AbsolutePath = Annotated[str, AfterValidator(_with_rule(volume_rules.check_host_path))]
Secret = Annotated[SecretStr, AfterValidator(_secret)]
NonBlank = Annotated[str, AfterValidator(_not_blank)]
TagPattern = Annotated[str, AfterValidator(_tag_pattern)]


# --- the document -----------------------------------------------------------------------------


class _Section(BaseModel):
    """Strict (YAML `"3000"` is not a port), closed (unknown keys are errors), immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, hide_input_in_errors=True)


class GlobalSeed(_Section):
    domain: Annotated[str, AfterValidator(_hostname)] = ""
    server_ip: Annotated[str, AfterValidator(_ip)] = ""
    network: Annotated[str, AfterValidator(_network)] = "docker-watcher"
    subdomain_pattern: Annotated[str, AfterValidator(_subdomain_pattern)] = (
        "stage-{stage}-{project}"
    )
    notification_url: Annotated[list[Url], BeforeValidator(_one_or_many)] = []
    poll_interval: int = Field(300, ge=10)
    webhook_secret: Annotated[SecretStr, AfterValidator(_webhook_secret)] | None = None
    auto_create_allow: list[NonBlank] = []
    volume_roots: list[AbsolutePath] = []


class NpmSeed(_Section):
    url: Url = ""
    email: Annotated[str, AfterValidator(_email)] = ""
    password: Secret | None = None
    certificate_id: int | None = Field(None, ge=1)
    ssl_forced: bool = False


class RegistrySeed(_Section):
    url: RequiredUrl
    type: Literal["gitea", "github", "dockerhub", "generic"] = "generic"
    username: str = ""
    token: Secret | None = None


class EnvEntry(_Section):
    """One env value; written in YAML as a plain scalar, or `{value: ..., secret: true}`."""

    value: str | None = None
    secret: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_scalar(cls, data: object) -> object:
        if data is None:
            raise _fail("needs a value (null removes a key only in a stage's env)")
        if isinstance(data, (str, int, float)):  # bool is an int
            return {"value": data}
        if not isinstance(data, dict):
            raise _fail("must be text, a number, true/false, or {value: ..., secret: true}")
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
            raise _fail("needs a value (only a secret may leave it out, to keep the stored one)")
        checked = self.value is not None and _plain_length(self) > 0
        problem = env_rules.value_problem(self.value or "") if checked else None
        if problem:
            raise _fail(problem)
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Keep secret values out of reprs and therefore out of logs and tracebacks."""
        shown = "**********" if self.secret and self.value is not None else self.value
        yield "value", shown
        yield "secret", self.secret


class VolumeSeed(_Section):
    source: Annotated[str, AfterValidator(_with_rule(volume_rules.check_source))]
    target: Annotated[str, AfterValidator(_with_rule(volume_rules.check_target))]
    mode: Literal["shared", "isolated"] = "shared"
    read_only: bool = False


class StageSeed(_Section):
    tag_pattern: TagPattern = "*"
    auto_deploy: bool = False
    max_instances: int = Field(1, ge=1)
    confirm: bool = False
    promote_from: str | None = None
    subdomain: Annotated[str, AfterValidator(_dns_name)] | None = None
    blue_green: bool = False
    env: Annotated[dict[EnvKey, EnvEntry | None], AfterValidator(_env_scope)] = {}
    volumes: list[VolumeSeed] = []


class ProjectSeed(_Section):
    registry: str | None = None
    image: Annotated[str, AfterValidator(_image)]
    port: int = Field(80, ge=1, le=65535)
    healthcheck: Annotated[str, AfterValidator(_url_path)] | None = None
    healthcheck_retries: int = Field(3, ge=1, le=100)
    healthcheck_interval: float = Field(5.0, gt=0, le=3600)
    healthcheck_timeout: float = Field(10.0, gt=0, le=3600)
    env: Annotated[dict[EnvKey, EnvEntry], AfterValidator(_env_scope)] = {}
    volumes: list[VolumeSeed] = []
    stages: dict[StageName, StageSeed] = {}


class OidcSeed(_Section):
    discovery_url: Url = ""
    client_id: str = ""
    client_secret: Secret | None = None
    scopes: NonBlank = "openid email profile"
    allowed_users: list[NonBlank] = []
    allowed_groups: list[NonBlank] = []


class AuthSeed(_Section):
    mode: Literal["local", "oidc", "both"] = "local"
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
_ALL_KEYS = sorted({f.alias or n for m in _SECTIONS for n, f in m.model_fields.items()})


# --- parsing ----------------------------------------------------------------------------------


def parse_seed(text: str) -> SeedDocument:
    """Parse and validate a seed; raise one ValidationFailed listing every problem found.

    An empty file (or one holding only comments) is an empty document. Duplicate keys are
    errors, because YAML would otherwise keep the last one silently.
    """
    if len(text) > MAX_SEED_CHARS:
        raise ValidationFailed.single("", f"the seed is larger than {MAX_SEED_CHARS} characters")
    data, problems = _load_yaml(text)
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
        problems = [*problems, *(_field_error(err) for err in exc.errors())]
    problems += _cross_checks(data)
    if problems or document is None:
        raise ValidationFailed(list(dict.fromkeys(problems)))
    return document


def _load_yaml(text: str) -> tuple[object, list[FieldError]]:
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # the reader already rejects control characters here
        node = loader.get_single_node()
        if node is None:
            return None, []
        duplicates = _duplicate_keys(node)
        return loader.construct_document(node), duplicates
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ValidationFailed.single("", f"not valid YAML: {exc.problem}{where}") from None
    except yaml.YAMLError as exc:
        raise ValidationFailed.single("", f"not valid YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _duplicate_keys(root: yaml.Node) -> list[FieldError]:
    """Walk the node tree (aliases expanded, with a budget) and report keys given twice."""
    found: list[FieldError] = []
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    for _ in range(MAX_YAML_NODES):
        if not stack:
            return found
        node, path = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, _join(path, i)) for i, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key == "<<":  # a merge key: its keys may be overridden on purpose
                    stack.append((value_node, path))
                    continue
                if key in seen:
                    found.append(FieldError(_join(path, key), "duplicate key"))
                seen.add(key)
                stack.append((value_node, _join(path, key)))
    raise ValidationFailed.single("", "the seed is too large (too many values or aliases)")


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


# --- pydantic errors → friendly field errors --------------------------------------------------

_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "missing": lambda c: "is required",
    "string_type": lambda c: "must be text (quote it if it looks like a number or true/false)",
    "int_type": lambda c: "must be a whole number",
    "float_type": lambda c: "must be a number",
    "bool_type": lambda c: "must be true or false",
    "dict_type": lambda c: "must be a mapping (key: value)",
    "model_type": lambda c: "must be a mapping (key: value)",
    "list_type": lambda c: "must be a list",
    "literal_error": lambda c: f"must be one of {c['expected']}",
    "greater_than_equal": lambda c: f"must be ≥ {c['ge']}",
    "greater_than": lambda c: f"must be > {c['gt']}",
    "less_than_equal": lambda c: f"must be ≤ {c['le']}",
    "less_than": lambda c: f"must be < {c['lt']}",
    "too_long": lambda c: f"must have at most {c['max_length']} items",
}


def _field_error(err: ErrorDetails) -> FieldError:
    path = ".".join(str(part) for part in err["loc"] if part != "[key]")
    kind = err["type"]
    if kind == "seed":
        return FieldError(path, err["msg"])
    if kind == "extra_forbidden":
        return FieldError(path, _unknown_key(str(err["loc"][-1])))
    message = _MESSAGES.get(kind)
    return FieldError(path, message(err.get("ctx", {})) if message else err["msg"])


def _unknown_key(key: str) -> str:
    close = difflib.get_close_matches(key, _ALL_KEYS, n=1)
    return f"unknown key (did you mean '{close[0]}'?)" if close else "unknown key"


# --- rules across fields, checked on the raw data so they add to the field errors -------------


def _mapping(value: object) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _cross_checks(data: dict[Any, Any]) -> list[FieldError]:
    registries = _mapping(data.get("registries"))
    roots = _roots(_mapping(data.get("global")).get("volume_roots"))
    errors: list[FieldError] = []
    subdomains: dict[str, str] = {}
    for name, raw in _mapping(data.get("projects")).items():
        project, base = _mapping(raw), f"projects.{name}"
        errors += _registry_reference(project.get("registry"), registries, base)
        errors += _image_host(project, registries, base)
        errors += _volume_checks(project.get("volumes"), roots, f"{base}.volumes")
        stages = _mapping(project.get("stages"))
        for stage_name, stage_raw in stages.items():
            stage, path = _mapping(stage_raw), f"{base}.stages.{stage_name}"
            errors += _promote_check(stage.get("promote_from"), stage_name, stages, path)
            errors += _volume_checks(stage.get("volumes"), roots, f"{path}.volumes")
            errors += _subdomain_clash(stage.get("subdomain"), path, subdomains)
    return errors + _auth_checks(_mapping(data.get("auth")))


def _registry_reference(ref: object, registries: dict[Any, Any], base: str) -> list[FieldError]:
    if not isinstance(ref, str) or ref in registries:
        return []
    known = ", ".join(str(k) for k in registries) or "none defined"
    return [FieldError(f"{base}.registry", f"unknown registry '{ref}' (registries: {known})")]


def _image_host(project: dict[Any, Any], registries: dict[Any, Any], base: str) -> list[FieldError]:
    """The image must live on its registry's host, or the pull sends the credentials elsewhere."""
    name, image = project.get("registry"), project.get("image")
    registry = _mapping(registries.get(name)) if isinstance(name, str) else {}
    url, kind = registry.get("url"), registry.get("type", "generic")
    if not (isinstance(image, str) and isinstance(url, str) and isinstance(kind, str)):
        return []
    problem = names.image_host_problem(image, url, kind, str(name))
    return [FieldError(f"{base}.image", problem)] if problem else []


def _promote_check(
    source: object, stage: object, stages: dict[Any, Any], path: str
) -> list[FieldError]:
    if not isinstance(source, str):
        return []
    if source == stage:
        return [FieldError(f"{path}.promote_from", "a stage cannot promote from itself")]
    if source not in stages:
        return [FieldError(f"{path}.promote_from", f"'{source}' is not a stage of this project")]
    return []


def _subdomain_clash(value: object, path: str, seen: dict[str, str]) -> list[FieldError]:
    if not isinstance(value, str):
        return []
    if value in seen:
        return [FieldError(f"{path}.subdomain", f"'{value}' is already used by {seen[value]}")]
    seen[value] = path
    return []


def _roots(value: object) -> list[str]:
    items = value if isinstance(value, list) else []
    return [volume_rules.normal(i) for i in items if isinstance(i, str) and i.startswith("/")]


class _RawVolume(NamedTuple):
    """A volume entry of the raw document; a field of the wrong type reads as invalid text."""

    source: str
    target: str
    mode: str

    @classmethod
    def of(cls, raw: object) -> _RawVolume:
        entry = _mapping(raw)
        text = {k: entry.get(k, "shared" if k == "mode" else "") for k in cls._fields}
        return cls(**{k: v if isinstance(v, str) else "" for k, v in text.items()})


def _volume_checks(volumes: object, roots: list[str], base: str) -> list[FieldError]:
    """The rules deploys apply, as far as text can tell (the real paths are checked later).

    Without volume_roots in the document the installation's roots are unknown here, so only
    dangerous paths are refused.
    """
    entries = [_RawVolume.of(raw) for raw in (volumes if isinstance(volumes, list) else [])]
    errors = volume_rules.cross_problems(entries, base)
    check = volume_rules.root_problem if roots else volume_rules.danger_problem
    for i, volume in enumerate(entries):
        try:  # named volumes and bad paths are left to the field checks
            source = volume_rules.check_host_path(volume.source, "")
        except ValidationFailed:
            continue
        problem = check(source, roots)
        errors += [FieldError(f"{base}.{i}.source", problem)] if problem else []
    return errors


def _auth_checks(auth: dict[Any, Any]) -> list[FieldError]:
    if auth.get("mode") not in ("oidc", "both"):
        return []
    oidc = _mapping(auth.get("oidc"))
    return [
        FieldError(f"auth.oidc.{key}", f"is required when auth.mode is {auth['mode']}")
        for key in ("discovery_url", "client_id")
        if not oidc.get(key)
    ]


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


# --- rendering --------------------------------------------------------------------------------

_HEADER = "# Docker Watcher configuration (seed format)\n"


def render_seed(doc: SeedDocument, *, include_secrets: SecretMode) -> str:
    """YAML in the seed format, keys in a stable order; secrets left out or as `v1:` ciphertext.

    Raises ValueError when asked for "encrypted" while `doc` holds a plaintext secret: this
    function never writes a plaintext secret (export via `ConfigStore.export_document`).
    """
    if include_secrets not in ("omit", "encrypted"):
        raise ValueError(f"include_secrets must be 'omit' or 'encrypted', not {include_secrets!r}")
    tree = _model_out(doc, include_secrets, "", only_set=True)
    return _HEADER + yaml.safe_dump(tree, sort_keys=False, allow_unicode=True, width=100)


def _model_out(model: BaseModel, mode: SecretMode, path: str, *, only_set: bool) -> dict[str, Any]:
    """Fields in declaration order; single-row sections write only keys that were given."""
    out: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        if only_set and name not in model.model_fields_set:
            continue
        key, raw = field.alias or name, getattr(model, name)
        value = _value_out(raw, mode, _join(path, key), only_set=only_set)
        if value is None and not (only_set and raw is None):  # an explicit null clears a setting
            continue
        if not only_set and value in ({}, [], ""):
            continue
        out[key] = value[0] if key == "notification_url" and len(value) == 1 else value
    return out


def _value_out(value: object, mode: SecretMode, path: str, *, only_set: bool) -> Any:
    if isinstance(value, EnvEntry):
        return _env_out(value, mode, path)
    if isinstance(value, BaseModel):
        return _model_out(value, mode, path, only_set=only_set)
    if isinstance(value, SecretStr):
        return _secret_out(value.get_secret_value(), mode, path)
    if isinstance(value, dict):  # named items: complete definitions
        return {k: _value_out(v, mode, _join(path, k), only_set=False) for k, v in value.items()}
    if isinstance(value, list):
        return [_value_out(v, mode, _join(path, i), only_set=False) for i, v in enumerate(value)]
    return value


def _env_out(entry: EnvEntry, mode: SecretMode, path: str) -> object:
    if not entry.secret:
        return entry.value
    out: dict[str, object] = {}
    if entry.value is not None and (sealed := _secret_out(entry.value, mode, path)) is not None:
        out["value"] = sealed
    out["secret"] = True
    return out


def _secret_out(text: str, mode: SecretMode, path: str) -> str | None:
    if mode == "omit":
        return None
    if not is_encrypted(text):
        raise ValueError(f"{path} holds a plaintext secret; only ciphertext may be exported")
    return text
