"""The base of every form/API input model of the admin services, and pydantic errors → ours.

Input models carry their rules as pydantic constraints, so the REST API's OpenAPI schema
documents them and FastAPI checks them; `InputModel.parse` gives pages the same checks as one
`ValidationFailed` naming each field. Types, limits and defaults come from `services.fields`,
shared with the seed format, so a value the UI accepts imports, and the other way round; errors
are worded as the seed's (`seed_format.field_error`), one vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from services.admin.seed_format import field_error
from services.errors import FieldError, ValidationFailed


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
        found.append(field_error(details))
    return list(dict.fromkeys(found))
