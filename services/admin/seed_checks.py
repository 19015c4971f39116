"""Seed rules across fields, checked on the raw YAML data so they add to the field errors.

A registry a project names must be in the document and be where its image lives,
`promote_from` must name another stage of the same project, two stages may not claim one custom
subdomain, volumes follow the rules deploys apply (as far as text can tell), and OIDC sign-in
needs its discovery URL and client id.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from services import volume_rules
from services.errors import FieldError, ValidationFailed
from services.registry import names


def join(path: str, key: object) -> str:
    """A dotted key path: `join("projects.web", "port")` → `projects.web.port`."""
    return f"{path}.{key}" if path else str(key)


def _mapping(value: object) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def cross_checks(data: dict[Any, Any]) -> list[FieldError]:
    """Every problem across fields of a document's raw data (empty when there is none)."""
    registries = _mapping(data.get("registries"))
    roots = _roots(_mapping(data.get("global")).get("volume_roots"))
    named = _named(_mapping(data.get("global")).get("named_volumes"))
    errors: list[FieldError] = []
    subdomains: dict[str, str] = {}
    for name, raw in _mapping(data.get("projects")).items():
        project, base = _mapping(raw), f"projects.{name}"
        errors += _registry_reference(project.get("registry"), registries, base)
        errors += _image_host(project, registries, base)
        errors += _volume_checks(project.get("volumes"), roots, named, f"{base}.volumes")
        stages = _mapping(project.get("stages"))
        for stage_name, stage_raw in stages.items():
            stage, path = _mapping(stage_raw), f"{base}.stages.{stage_name}"
            errors += _promote_check(stage.get("promote_from"), stage_name, stages, path)
            errors += _volume_checks(stage.get("volumes"), roots, named, f"{path}.volumes")
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


def _named(value: object) -> list[str] | None:
    """The document's named_volumes globs, or None when it leaves the key out."""
    if not isinstance(value, list):
        return None
    return [item for item in value if isinstance(item, str)]


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


def _volume_checks(
    volumes: object, roots: list[str], named: list[str] | None, base: str
) -> list[FieldError]:
    """The rules deploys apply, as far as text can tell (the real paths are checked later).

    Without volume_roots (named_volumes) in the document the installation's lists are unknown
    here, so only dangerous paths are refused (Docker volumes are checked at deploy).
    """
    entries = [_RawVolume.of(raw) for raw in (volumes if isinstance(volumes, list) else [])]
    errors = volume_rules.cross_problems(entries, base)
    check = volume_rules.root_problem if roots else volume_rules.danger_problem
    for i, volume in enumerate(entries):
        if named is not None and volume_rules.NAMED_VOLUME.fullmatch(volume.source):
            problem = volume_rules.named_problem(volume.source, named)
            errors += [FieldError(f"{base}.{i}.source", problem)] if problem else []
            continue
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
