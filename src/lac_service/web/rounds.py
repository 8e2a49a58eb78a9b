"""Matching rounds from the dashboard: run one now, then see its batches and why requests got none."""

from collections import Counter
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.kinds import Kind
from lac_service.kit.clock import Now
from lac_service.kit.fields import RecordId
from lac_service.links import AppLinks
from lac_service.matching.service import get_round, round_offers, run_round
from lac_service.web.dashboard import UNMATCHED_LABELS
from lac_service.web.forms import text
from lac_service.web.pages import render, see_other
from lac_service.web.public import Form
from lac_service.web.secretary import visible_to
from lac_service.web.staff import Coordinator

router = APIRouter(prefix="/equipe/tournees", include_in_schema=False)


@router.post("")
def run(request: Request, user: Coordinator, form: Form, session: DbSession, settings: AppSettings, links: AppLinks,
        now: Now) -> Response:
    raw_kind = text(form, "kind")
    kind = Kind(raw_kind) if raw_kind in {k.value for k in Kind} else None
    result = run_round(  # a round already running: 409, shown as a page
        session, organisation_id=visible_to(user), kind=kind, engine_name="greedy", now=now,
        actor=user.label, offer_ttl=timedelta(days=settings.offer_ttl_days), links=links,
    )
    if len(result.rounds) == 1:
        return see_other(f"/equipe/tournees/{result.rounds[0].id}")
    return see_other("/equipe/tableau?tournees=1")  # an admin's: one per organisation, listed there


@router.get("/{round_id}")
def detail(request: Request, round_id: RecordId, user: Coordinator, session: DbSession) -> Response:
    found = get_round(session, round_id, visible_to=visible_to(user))
    offers = round_offers(session, round_id)
    return render(request, "round.html", {
        "round": found, "offers": offers, "unmatched": Counter(found.summary.get("unmatched", {})),
        "unmatched_labels": UNMATCHED_LABELS,
    })
