"""Errors people and partners can act on: one JSON shape, a stable ``code``, a French ``message``.

Every error body is ``{"code", "message", "field"?, "errors"?}``. Codes are part of the API contract;
messages are for people and may be reworded.
"""

from typing import Any, ClassVar

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. `patient.birth_date`.")
    message: str = Field(description="What is wrong, in French.")
    type: str = Field(description="Stable machine code of the check that failed.")


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine code, e.g. `validation_error`, `duplicate_request`.")
    message: str = Field(description="Human message, in French.")
    field: str | None = Field(default=None, description="The first offending field, when one is to blame.")
    errors: list[FieldError] | None = Field(default=None, description="Every offending field.")
    existing_request_id: int | None = Field(
        default=None, description="For `duplicate_request`: the active request of the same person and kind."
    )


class AppError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    message: ClassVar[str] = "Requête invalide."

    def __init__(self, message: str | None = None, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message or self.message)
        self.detail = message or self.message
        self.field = field
        self.extra = extra

    def body(self) -> ErrorBody:
        return ErrorBody(code=self.code, message=self.detail, field=self.field, **self.extra)


class InvalidInput(AppError):
    status_code = 422
    code = "validation_error"
    message = "Certaines informations sont invalides."


class Unauthenticated(AppError):
    status_code = 401
    code = "unauthenticated"
    message = "Clé d'API absente ou invalide."


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "Vous n'avez pas le droit de faire cette action."


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Ressource introuvable."


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "Cette action est impossible dans l'état actuel."


class DuplicateRequest(Conflict):
    code = "duplicate_request"
    message = "Une demande de ce type est déjà en cours pour cette personne."


class InvalidTransition(Conflict):
    code = "invalid_status"
    message = "Cette action n'est pas possible pour une demande dans cet état."


class RoundRunning(Conflict):
    """Another round holds the lock: the same call succeeds in a moment."""

    code = "round_running"
    message = "Une tournée d'attribution est déjà en cours : réessayez dans un instant."


class KeyInUse(Conflict):
    """The same ``Idempotency-Key`` is being used by a call not finished yet: sent again afterwards, this one
    gets that call's answer."""

    code = "idempotency_key_in_use"
    message = "Une requête avec cette clé d'idempotence est déjà en cours."


class ChangedMeanwhile(Conflict):
    """Someone else changed the same thing first: read it again, then decide."""

    code = "changed_meanwhile"
    message = "Ces informations viennent d'être modifiées par ailleurs : rechargez-les."


class NoLongerAvailable(Conflict):
    """An offered patient already answered for, or who left the queue: nothing to answer any more."""

    code = "no_longer_available"
    message = "Ce patient n'est plus disponible pour cette proposition."


class IdempotencyKeyReused(AppError):
    status_code = 422
    code = "idempotency_key_reused"
    message = "Cette clé d'idempotence a déjà servi pour une requête différente."


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    message = "Le contenu envoyé est trop volumineux."


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"
    message = "Trop de requêtes depuis cette adresse : patientez une minute, puis réessayez."

    def __init__(self, *, retry_after_s: int) -> None:
        super().__init__()
        self.retry_after_s = retry_after_s


class Busy(AppError):
    status_code = 503
    code = "busy"
    message = "Le service est très sollicité en ce moment : réessayez dans un instant."


class ServiceNotConfigured(AppError):
    status_code = 503
    code = "not_configured"
    message = "Le service n'est pas encore configuré pour recevoir des demandes."


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        401: "Missing or invalid API key.",
        403: "The caller's role may not do this.",
        404: "Not found, or not visible to the caller's organisation.",
        409: "Conflicts with the current state (e.g. a duplicate request).",
        413: "Body larger than the configured limit.",
        422: "Invalid input; `field` names the offending field.",
        429: "Too many requests from this address (public form, link pages); `Retry-After` says when to retry.",
        503: "`busy`: the database is saturated, retry after `Retry-After`; `not_configured`: see the message.",
    }.items()
}
