"""The practitioner's pages, by link alone: a batch at ``/o/{token}`` (accept, or decline with a reason,
each patient in two taps on a phone) and the cabinet's standing page at ``/praticien/{token}`` (open
batches, pause, "send me a batch now"). An unknown link, or one past its time, shows a message and no data."""

import re
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lac_service.cabinets import service as cabinets
from lac_service.cabinets.models import Cabinet
from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import AppError, RoundRunning
from lac_service.kit.clock import Now
from lac_service.links import AppLinks, Links, LinkToken
from lac_service.matching import service as matching
from lac_service.matching.service import Asked
from lac_service.offers import service as offers
from lac_service.offers.models import DeclineReason, Offer
from lac_service.offers.service import Decision
from lac_service.offers.views import offer_view, practitioner_view
from lac_service.web.forms import record_id, text
from lac_service.web.pages import checked_then, render, see_other
from lac_service.ratelimit import LinkRateLimit
from lac_service.web.public import Form

router = APIRouter(include_in_schema=False)
DECLINE_LABELS = {
    DeclineReason.no_capacity: "Plus de place", DeclineReason.too_far: "Trop loin",
    DeclineReason.outside_practice: "Hors de ma pratique", DeclineReason.patient_unreachable: "Patient injoignable",
    DeclineReason.patient_refused: "Le patient a refusé", DeclineReason.other: "Autre raison",
}


def _offer_page(request: Request, session: DbSession, offer: Offer, token: str, links: Links, now: datetime, *,
                notice: str | None = None, error: str | None = None, status: int = 200) -> Response:
    view = offer_view(session, offer, links, now)
    return render(request, "offer.html", {
        "offer": view, "zone": offer.cabinet.zone, "token": token, "reasons": DECLINE_LABELS, "notice": notice,
        "error": error, "standing_path": urlsplit(view.practitioner_url).path,
    }, status=status)


# Each answer sends the browser back to the page (a reload re-sends nothing), which then says what was done.
_ANSWERED = {
    "acceptee": "Patient accepté : ses coordonnées sont ci-dessous, avec ce qu'il sait de la suite.",
    "declinee": "Patient décliné : il revient dans la liste d'attente.",
}


@router.get("/o/{token}", dependencies=[LinkRateLimit])
def offer_page(request: Request, token: LinkToken, session: DbSession, links: AppLinks, now: Now,
               reponse: str | None = None) -> Response:
    offer = offers.find_offer(session, token, now=now, to_answer=False)
    return _offer_page(request, session, offer, token, links, now, notice=_ANSWERED.get(reponse or ""))


@router.post("/o/{token}/reponse", dependencies=checked_then(LinkRateLimit))
def answer(request: Request, token: LinkToken, form: Form, session: DbSession, links: AppLinks, now: Now) -> Response:
    offer = offers.find_offer(session, token, now=now)
    request_id = record_id(text(form, "request_id"))
    try:
        decision: Decision | None = Decision(text(form, "decision"))
        reason = DeclineReason(text(form, "reason")) if text(form, "reason") else None
    except ValueError:
        decision = None
    if request_id is None or decision is None:
        return _offer_page(request, session, offer, token, links, now, error="Réponse non reconnue.", status=422)
    try:
        offers.respond(session, offer, request_id=request_id, decision=decision, reason=reason, now=now, links=links)
    except AppError as exc:
        session.rollback()
        return _offer_page(request, session, offer, token, links, now, error=exc.detail, status=exc.status_code)
    answered = "acceptee" if decision is Decision.accept else "declinee"
    return see_other(f"/o/{token}?reponse={answered}#patient-{request_id}")


def _standing_page(request: Request, session: DbSession, cabinet: Cabinet, token: str, links: Links, now: datetime,
                   notice: str | None = None) -> Response:
    return render(request, "practitioner.html", {
        "page": practitioner_view(session, cabinet, links, now), "zone": cabinet.zone, "token": token,
        "notice": notice,
    })


@router.get("/praticien/{token}", dependencies=[LinkRateLimit])
def standing_page(request: Request, token: LinkToken, session: DbSession, links: AppLinks, now: Now,
                  fait: str | None = None, patients: str | None = None) -> Response:
    """``fait``: what the practitioner just did, said on top while it still holds (the page may be opened again
    days later); ``patients``: how many a batch asked for brought."""
    cabinet = cabinets.find_by_link(session, token)
    if fait == "lot" and patients and re.fullmatch(r"[1-9]\d{0,3}", patients):
        count = int(patients)
        notice: str | None = (f"Proposition prête : {count} patient{'s' if count > 1 else ''} à traiter, en tête de "
                              "la liste ci-dessous.")
    elif fait in ("pause", "reprise") and (fait == "pause") != cabinet.paused:
        notice = None  # resumed, or paused again, since
    else:
        notice = _DONE.get(fait or "")
    return _standing_page(request, session, cabinet, token, links, now, notice=notice)


def _cabinet_action(path: str, act: Callable[[DbSession, Cabinet, datetime], object]) -> None:
    def action(token: LinkToken, form: Form, session: DbSession, now: Now) -> Response:
        act(session, cabinets.find_by_link(session, token), now)
        return see_other(f"/praticien/{token}?fait={path}")

    router.post(f"/praticien/{{token}}/{path}", dependencies=checked_then(LinkRateLimit))(action)


_cabinet_action("pause", lambda s, c, now: cabinets.set_paused(s, c, paused=True, now=now))
_cabinet_action("reprise", lambda s, c, now: cabinets.set_paused(s, c, paused=False, now=now))


_NOBODY = "Personne en attente ne vous correspond pour l'instant. "
_KEPT = ("Votre demande reste enregistrée : à la prochaine tournée d'attribution, si un patient vous correspond, il "
         "vous sera proposé et vous en serez prévenu.")
_UNANSWERED = "Des patients de vos propositions attendent encore votre réponse : répondez-leur d'abord"
# Why an ask for a batch brought none, as ``fait`` says it in the page's address (``-garde``: the ask is kept).
_NOT_SERVED = {Asked.nobody: "personne", Asked.unanswered: "reponses-attendues", Asked.busy: "tournee-en-cours"}
_DONE = {
    "pause": "Participation en pause : vous ne recevrez plus de proposition jusqu'à la reprise.",
    "reprise": "Participation reprise.",
    "personne-garde": _NOBODY + _KEPT,
    "personne": _NOBODY + "Revenez demander des patients un autre jour : cette page ne prévient pas.",
    "reponses-attendues-garde": _UNANSWERED + ". " + _KEPT,
    "reponses-attendues": _UNANSWERED + ", puis demandez-en d'autres.",
    "tournee-en-cours-garde": "Une tournée d'attribution est en cours. " + _KEPT,
    "tournee-en-cours": RoundRunning.message,
}


@router.post("/praticien/{token}/lot", dependencies=checked_then(LinkRateLimit))
def ask_batch_page(token: LinkToken, form: Form, session: DbSession, settings: AppSettings, links: AppLinks,
                   now: Now) -> Response:
    """The page comes back saying what came of it: the batch on top, or why none, and what happens next."""
    cabinet = cabinets.find_by_link(session, token)
    asked = matching.ask_batch(session, cabinet, settings=settings, links=links, now=now, actor=f"cabinet:{cabinet.id}",
                               resume=True)
    if asked.batch is not None:
        return see_other(f"/praticien/{token}?fait=lot&patients={len(asked.batch.request_ids)}")
    return see_other(f"/praticien/{token}?fait={_NOT_SERVED[asked.outcome]}{'-garde' if asked.kept else ''}")

