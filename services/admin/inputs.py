"""The base of every form/API input model of the admin services, and pydantic errors → ours.

Input models carry their rules as pydantic constraints, so the REST API's OpenAPI schema
documents them and FastAPI checks them; `InputModel.parse` gives pages the same checks as one
`ValidationFailed` naming each field. Field checks come from `services.admin.seed_format` (the seed
format), so a value the UI accepts imports, and the other way round.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from services.admin.seed_format import _field_error  # the seed's friendly wording, one vocabulary
from services.errors import FieldError, ValidationFailed

MAX_ID = 2**63 - 1  # SQLite's INTEGER: a larger id can only be "not found", never a crash
SLUG = r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
LABEL = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"


class InputModel(BaseModel):
    """Closed (unknown keys are errors) and never echoing values back (they may be secrets)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Self:
        """Validate form values; raises ValidationFailed with one FieldError per bad field."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise ValidationFailed(field_errors(exc.errors())) from None


def field_errors(
    errors: Iterable[ErrorDetails | Mapping[str, Any]], skip: int = 0
) -> list[FieldError]:
    """Pydantic's error dicts as FieldErrors; `skip` drops leading `loc` parts (`body`)."""
    found: list[FieldError] = []
    for err in errors:
        details: Any = dict(err)
        details["loc"] = tuple(details.get("loc", ()))[skip:]
        found.append(_field_error(details))
    return list(dict.fromkeys(found))


def documented(
    pattern: str | None = None, *, max_length: int | None = None, min_length: int | None = None
) -> dict[str, Any]:
    """JSON-schema keywords for the OpenAPI schema only: the rule itself is a validator whose
    message is friendlier than pydantic's "should match pattern" (use as json_schema_extra)."""
    extra: dict[str, Any] = {"pattern": pattern, "maxLength": max_length, "minLength": min_length}
    return {key: value for key, value in extra.items() if value is not None}


def none_if_blank(value: object) -> object:
    """An empty form field means "not set" (a custom subdomain, a health check path...)."""
    return None if isinstance(value, str) and not value.strip() else value
