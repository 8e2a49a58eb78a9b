"""Possible duplicates for a secretary: merge (the older date is kept) or "two people". Each decision
redirects back to the list (Post/Redirect/Get): a reload does not send it again."""

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lac_service import audit
from lac_service.db import DbSession
from lac_service.errors import AppError
from lac_service.audit import Action
from lac_service.intake import duplicates
from lac_service.kit.clock import Now
from lac_service.web.forms import Errors, record_id, text
from lac_service.web.pages import render, see_other
from lac_service.web.public import Form
from lac_service.web.secretary import STATUS_LABELS, actor, load, visible_to
from lac_service.web.staff import Staff

router = APIRouter(prefix="/equipe/doublons", include_in_schema=False)
_SHOWN = 100  # the oldest first; each merge or "two people" makes room for the next
REASON_LABELS = {"names": "mêmes noms, dans un autre ordre", "email": "même e-mail", "phone": "même téléphone"}


def _page(request: Request, session: DbSession, user: Staff, now: datetime, *, notice: str | None = None,
          errors: Errors | None = None, status: int = 200) -> Response:
    pairs, total = duplicates.possible_duplicates(session, organisation_id=visible_to(user), limit=_SHOWN)
    audit.log_access(session, user, Action.list, [r for pair in pairs for r in (pair.first, pair.second)], now)
    return render(request, "duplicates.html", {
        "pairs": pairs, "total": total, "labels": REASON_LABELS,
        "statuses": STATUS_LABELS, "notice": notice, "errors": (errors or Errors()).by_field,
    }, status=status)


_DISTINCT = "C'est noté : ce sont deux personnes, elles ne seront plus signalées."


def _merged(keep_id: int) -> str:
    return f"Demandes fusionnées : la demande n° {keep_id} est gardée, avec la date la plus ancienne."


@router.get("")
def list_(request: Request, user: Staff, session: DbSession, now: Now, fusionnee: str | None = None,
          distinctes: str | None = None) -> Response:
    """``fusionnee``: the request a merge kept, named while a duplicate is merged into it; ``distinctes``:
    the last pair was two people."""
    notice = _DISTINCT if distinctes else None
    if (merged := record_id(fusionnee)) is not None:
        if duplicates.has_merged_into(session, merged, organisation_id=visible_to(user)):
            notice = _merged(merged)
    return _page(request, session, user, now, notice=notice)


def _ids(form: Form) -> tuple[int, int] | None:
    first, second = record_id(text(form, "first")), record_id(text(form, "second"))
    return (first, second) if first is not None and second is not None else None


@router.post("")
def decide(request: Request, user: Staff, form: Form, session: DbSession, now: Now) -> Response:
    ids, decision = _ids(form), text(form, "decision")
    errors = Errors()
    if ids is None or decision not in ("merge", "distinct"):
        errors.add("form", "Choix non reconnu.")
        return _page(request, session, user, now, errors=errors, status=422)
    first, second = (load(session, user, i, Action.merge if decision == "merge" else Action.update, now) for i in ids)
    try:
        if decision == "distinct":
            duplicates.mark_distinct(session, [first, second], actor=actor(user), now=now)
            return see_other("/equipe/doublons?distinctes=1")
        keep, duplicate = sorted((first, second), key=lambda r: (r.waiting_since, r.id))
        duplicates.merge(session, keep, duplicate, actor=actor(user), now=now)
        return see_other(f"/equipe/doublons?fusionnee={keep.id}")
    except AppError as exc:
        session.rollback()
        errors.add("form", exc.detail)  # the page has no field of its own: the pair is what is at fault
        return _page(request, session, user, now, errors=errors, status=exc.status_code)
