"""Input types shared by every form and API body, each failing with a French message that names the rule."""

import re
from datetime import date, time, timedelta
from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema, field_validator,
)
from pydantic_core import PydanticCustomError

from lac_service.kit.clock import utcnow
from lac_service.kit.phone import InvalidPhone, to_e164

MAX_AGE_YEARS = 125

MAX_RECORD_ID = 2**31 - 1
RecordId = Annotated[int, Field(ge=1, le=MAX_RECORD_ID)]
"""A row id as paths and bodies accept it: within PostgreSQL's ``integer``, so a larger number is a 422
naming the field rather than a database error."""


def _phone(value: str) -> str:
    try:
        return to_e164(value)
    except InvalidPhone:
        raise PydanticCustomError("phone_invalid", "Numéro de téléphone invalide (exemple : 06 12 34 56 78).")


# The everyday address (ASCII, dotted words, a public top-level domain) normalised as email_validator would
# — the domain lower-cased — without its full check, which costs a tenth of a millisecond: an import checks
# 100,000. Anything else goes through email_validator. tests/unit/test_kit.py compares the two.
_PLAIN_EMAIL = re.compile(
    r"(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)
_SPECIAL_USE = tuple(SPECIAL_USE_DOMAIN_NAMES)


def _plain_email(value: str) -> str | None:
    match = _PLAIN_EMAIL.fullmatch(value)
    if match is None or len(match["local"]) > 64 or len(match["domain"]) > 253:
        return None
    domain = match["domain"].lower()
    if "--" in domain or any(domain == name or domain.endswith("." + name) for name in _SPECIAL_USE):
        return None  # punycode and hyphen rules, special-use names: email_validator's to judge
    return f"{match['local']}@{domain}"


def _email(value: str) -> str:
    """An accented domain is kept (it is sent in its IDNA form); accents before the "@" are refused: they need
    SMTPUTF8, which few mail servers offer, so such an address would get nothing."""
    if (plain := _plain_email(value)) is not None:
        return plain
    try:
        return validate_email(value, check_deliverability=False, allow_smtputf8=False).normalized
    except EmailNotValidError:
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError:
            raise PydanticCustomError("email_invalid", "Adresse e-mail invalide (exemple : nom@exemple.fr).") from None
        raise PydanticCustomError("email_accented", "Les messageries n'acceptent pas les accents avant le « @ » : "
                                                    "écrivez cette partie de l'adresse sans accent.") from None


def _postal_code(value: str) -> str:
    compact = value.replace(" ", "")
    if not re.fullmatch(r"\d{5}", compact):
        raise PydanticCustomError("postal_code_invalid", "Code postal invalide (5 chiffres, exemple : 59000).")
    return compact


def _iso_day(value: object) -> object:
    """Only ``AAAA-MM-JJ`` (or a date): pydantic would also read a number as seconds since 1970, so a
    partner's ``"birth_date": 0`` would have become the 1st of January 1970."""
    if isinstance(value, date) or (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        return value
    raise PydanticCustomError("date_parsing", "Date invalide (format attendu : AAAA-MM-JJ).")


_AHEAD_OF_UTC = timedelta(hours=14)  # the calendar's furthest lead on UTC: no date past it is today anywhere


def _birth_date(value: date) -> date:
    today = (utcnow() + _AHEAD_OF_UTC).date()  # no French time zone (Paris, Nouméa…) is a day beyond it
    if value > today:
        raise PydanticCustomError("birth_date_future", "La date de naissance ne peut pas être dans le futur.")
    if today.year - value.year > MAX_AGE_YEARS:
        raise PydanticCustomError("birth_date_too_old", "Date de naissance invraisemblable.")
    return value


def _clock_time(value: object) -> object:
    """``HH:MM`` on the 24-hour clock, as a timetable writes it (``8:00`` too); nothing finer than the minute."""
    if isinstance(value, str) and (match := re.fullmatch(r"([01]?\d|2[0-3])[:h]([0-5]\d)", value.strip())):
        return time(int(match[1]), int(match[2]))
    raise PydanticCustomError("time_parsing", "Heure invalide (exemples : 08:00, 8h30).")


@cache
def _time_zones() -> frozenset[str]:
    """The IANA names this host knows: a folder ("Europe") is none, nor the host's own setting or a placeholder."""
    return frozenset(available_timezones()) - {"localtime", "posixrules", "Factory"}


def _time_zone(value: str) -> str:
    if value not in _time_zones():
        raise PydanticCustomError("timezone_unknown", "Fuseau horaire inconnu (exemple : America/Martinique).")
    return value


ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
PhoneNumber = Annotated[str, StringConstraints(max_length=30), AfterValidator(_phone)]
EmailAddress = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254), AfterValidator(_email)]
PostalCode = Annotated[str, StringConstraints(max_length=10), AfterValidator(_postal_code)]
Day = Annotated[date, BeforeValidator(_iso_day)]
BirthDate = Annotated[Day, AfterValidator(_birth_date)]
ClockTime = Annotated[time, BeforeValidator(_clock_time), WithJsonSchema(
    {"type": "string", "pattern": r"^([01]?\d|2[0-3])[:h][0-5]\d$", "description": 'A time of day, "08:00".'})]
TimeZone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), AfterValidator(_time_zone)]


# C0 control characters but the tab and line breaks, and DEL: nobody types them, and PostgreSQL refuses NUL
# in a text (SQLite would keep it): refused in every body, on both databases alike.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control(value: object) -> bool:
    """A text, or a list of texts, holding a control character (neither a tab nor a line break)."""
    if isinstance(value, str):
        return _CONTROL.search(value) is not None
    return isinstance(value, list) and any(has_control(v) for v in value)


class Input(BaseModel):
    """Every request body refuses unknown fields, so a typo is an error and not silently dropped, and control
    characters in texts and lists of texts (a file's contents, a GeoJSON, are not texts typed: they keep
    theirs); checked once a field is read, so that a nested body's own field is the one named."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_control_character(cls, value: object) -> object:
        if has_control(value):
            raise PydanticCustomError("control_character", "Ce texte contient un caractère invisible non autorisé : "
                                                           "retapez-le.")
        return value


class Address(Input):
    line: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = Field(
        default="", description="Street and number."
    )
    postal_code: PostalCode
    city: ShortText


# Read back as stored, not checked again: the rules for what may be written have grown since some were.
class AddressOut(BaseModel):
    """An address as the service holds it."""

    line: str
    postal_code: str
    city: str


class Location(Input):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
