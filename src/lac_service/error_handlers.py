"""Turns every failure into the one error shape of ``errors.py``, in French, and never into a bare 500."""

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from lac_service.errors import AppError, Busy, ErrorBody, FieldError, TooManyRequests
from lac_service.middleware import route_template

log = logging.getLogger(__name__)

_MESSAGES = {
    "missing": "Ce champ est obligatoire.",
    "extra_forbidden": "Ce champ n'est pas reconnu.",
    "string_type": "Ce champ doit être un texte.",
    "string_too_short": "Ce champ est trop court ({min_length} caractère(s) au moins).",
    "string_too_long": "Ce champ est trop long ({max_length} caractères au plus).",
    "string_pattern_mismatch": "Le format de ce champ est invalide.",
    "int_type": "Ce champ doit être un nombre entier.",
    "int_parsing": "Ce champ doit être un nombre entier.",
    "int_from_float": "Ce champ doit être un nombre entier.",
    "float_type": "Ce champ doit être un nombre.",
    "float_parsing": "Ce champ doit être un nombre.",
    "finite_number": "Ce champ doit être un nombre fini.",
    "bool_type": "Ce champ doit valoir true ou false.",
    "bool_parsing": "Ce champ doit valoir true ou false.",
    "date_type": "Date invalide (format attendu : AAAA-MM-JJ).",
    "date_parsing": "Date invalide (format attendu : AAAA-MM-JJ).",
    "date_from_datetime_parsing": "Date invalide (format attendu : AAAA-MM-JJ).",
    "date_from_datetime_inexact": "Date invalide (format attendu : AAAA-MM-JJ).",
    "literal_error": "Valeur non reconnue (valeurs possibles : {expected}).",
    "enum": "Valeur non reconnue (valeurs possibles : {expected}).",
    "greater_than": "La valeur doit être supérieure à {gt}.",
    "greater_than_equal": "La valeur doit être supérieure ou égale à {ge}.",
    "less_than": "La valeur doit être inférieure à {lt}.",
    "less_than_equal": "La valeur doit être inférieure ou égale à {le}.",
    "list_type": "Ce champ doit être une liste.",
    "too_long": "Trop d'éléments ({max_length} au plus).",
    "too_short": "Pas assez d'éléments ({min_length} au moins).",
    "dict_type": "Ce champ doit être un objet.",
    "model_type": "Ce champ doit être un objet.",
    "model_attributes_type": "Ce champ doit être un objet.",
    "json_invalid": "Le contenu envoyé n'est pas du JSON valide.",
    "json_type": "Le contenu envoyé n'est pas du JSON valide.",
    "uuid_parsing": "Identifiant invalide.",
}
_LOCATION_ROOTS = {"body", "query", "path", "header", "cookie"}


def _field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATION_ROOTS:
        parts = parts[1:] if len(parts) > 1 and not parts[1].isdigit() else parts[:1]
    return ".".join(parts) or "body"


def _message(error: dict[str, Any]) -> str:
    template = _MESSAGES.get(error["type"])
    if template is None:
        # Our own checks raise PydanticCustomError with a French message already.
        return str(error.get("msg", "Valeur invalide.")).removeprefix("Value error, ")
    try:
        return template.format(**error.get("ctx", {}))
    except (KeyError, IndexError):
        return template


def field_errors(errors: Sequence[dict[str, Any]]) -> list[FieldError]:
    return [FieldError(field=_field(e["loc"]), message=_message(e), type=e["type"]) for e in errors]


def _json(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=body.model_dump(exclude_none=True), headers=headers)


async def _on_app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return _json(exc.status_code, exc.body(), headers)


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _invalid(field_errors(exc.errors()))


def _invalid(errors: list[FieldError]) -> JSONResponse:
    first = errors[0] if errors else None
    message = f"{first.field} : {first.message}" if first else "Certaines informations sont invalides."
    body = ErrorBody(
        code="validation_error", message=message, field=first.field if first else None, errors=errors
    )
    return _json(422, body)


_HTTP_CODES = {
    404: ("not_found", "Ressource introuvable."),
    405: ("method_not_allowed", "Méthode non autorisée pour cette adresse."),
}


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's "error parsing the body" (e.g. bytes that are not UTF-8): invalid input like any other.
        return _invalid([FieldError(field="body", message=_MESSAGES["json_invalid"], type="json_invalid")])
    code, message = _HTTP_CODES.get(exc.status_code, ("http_error", "Requête refusée."))
    return _json(exc.status_code, ErrorBody(code=code, message=message), getattr(exc, "headers", None))


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    """SQLite's write lock still taken after its busy timeout: an overload to retry, not a fault."""
    assert isinstance(exc, OperationalError)
    if "database is locked" not in str(exc.orig):
        return await _on_unexpected(request, exc)
    log.warning("database busy on %s %s", request.method, route_template(request.scope))
    return _json(Busy.status_code, Busy().body(), {"Retry-After": "1"})


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Only the exception type and the route: messages may carry patient data.
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, route_template(request.scope))
    body = ErrorBody(code="internal_error", message="Une erreur inattendue est survenue. Réessayez plus tard.")
    return _json(500, body)


HANDLERS: dict[type[Exception], Callable[[Request, Exception], Awaitable[JSONResponse]]] = {
    AppError: _on_app_error,
    RequestValidationError: _on_validation_error,
    StarletteHTTPException: _on_http_error,
    OperationalError: _on_database_error,
    Exception: _on_unexpected,
}

