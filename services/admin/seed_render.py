"""Writing a seed document as YAML (the configuration export), secrets never in plaintext."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, SecretStr

from services.admin.seed_checks import join
from services.admin.seed_format import EnvEntry, SecretMode, SeedDocument
from services.secrets import is_encrypted

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
        if key == "notification_url":  # URLs carry tokens: secrets, left out or sealed
            if mode == "omit":
                continue
            raw = [SecretStr(url) for url in raw]
        value = _value_out(raw, mode, join(path, key), only_set=only_set)
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
        return {k: _value_out(v, mode, join(path, k), only_set=False) for k, v in value.items()}
    if isinstance(value, list):
        return [_value_out(v, mode, join(path, i), only_set=False) for i, v in enumerate(value)]
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
