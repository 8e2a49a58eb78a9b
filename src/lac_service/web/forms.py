"""From a posted form to the API's schemas, and from their errors back to messages next to each field.

Fields are named by the API's dotted paths (``patient.address.postal_code``), so a validation error finds
its field without a mapping table. Dates are typed as people write them (14/03/1958).
"""

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from lac_service.error_handlers import field_errors
from lac_service.errors import AppError
from lac_service.kit.fields import MAX_RECORD_ID

Model = TypeVar("Model", bound=BaseModel)
# JJ/MM/AAAA with any usual separator; JJMMAAAA, all a phone's digit keypad can type; AAAA-MM-JJ, what a
# browser's autofill may give.
_DATE = re.compile(r"\s*(?:(\d{1,2})[/.\- ](\d{1,2})[/.\- ](\d{4})|(\d{2})(\d{2})(\d{4})|(\d{4})-(\d{2})-(\d{2}))\s*")
BAD_DATE = "Date invalide (exemple : 14/03/1958)."
# What an empty field's error says in the summary at the top of a form, where it stands without its label.
_EMPTY = {
    "first_name": "Indiquez le prénom.", "last_name": "Indiquez le nom.",
    "birth_date": "Indiquez la date de naissance (exemple : 14/03/1958).", "postal_code": "Indiquez le code postal.",
    "city": "Indiquez la commune.", "name": "Indiquez le nom.",
}


@dataclass
class Errors:
    """Messages by field, in the order met; rendered next to each field and in a summary at the top."""

    by_field: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, message)

    def __bool__(self) -> bool:
        return bool(self.by_field)


def answers(form: FormData) -> dict[str, str]:
    """What was typed, to put back in a refused form."""
    return {key: value for key, value in form.items() if isinstance(value, str) and key != "csrf_token"}


def text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def record_id(value: str | None) -> int | None:
    """A record's id as a form or an address gives it; None unless it is one (a hidden field tampered with, a
    number beyond the database's integer, which the database would refuse with an error, not an answer)."""
    return int(value) if value and re.fullmatch(r"[1-9]\d{0,9}", value) and int(value) <= MAX_RECORD_ID else None


def checked(form: FormData, name: str) -> bool:
    return form.get(name) is not None


def day(form: FormData, name: str, errors: Errors) -> str | None:
    """An ISO date for the schema, from what a person types (``_DATE``); a wrong one is reported at the field."""
    raw = text(form, name)
    if raw is None:
        return None
    match = _DATE.fullmatch(raw)
    try:
        if match is None:
            raise ValueError
        day_, month, year = match[1] or match[4] or match[9], match[2] or match[5] or match[8], match[3] or match[6] or match[7]
        return date(int(year), int(month), int(day_)).isoformat()
    except ValueError:
        errors.add(name, BAD_DATE)
        return "invalid"


def validate(model: type[Model], data: dict[str, Any], errors: Errors) -> Model | None:
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        for raw, error in zip(exc.errors(), field_errors(exc.errors())):  # type: ignore[arg-type]
            empty = raw["input"] is None or raw["type"] == "missing"
            errors.add(error.field, _EMPTY.get(error.field.rsplit(".", 1)[-1], "Ce champ est à remplir.") if empty
                       else error.message)
        return None
    return parsed if not errors else None


def service_error(exc: AppError, errors: Errors, *, default_field: str = "form") -> None:
    errors.add(exc.field or default_field, exc.detail)
