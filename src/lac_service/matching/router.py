"""``/api/v1/matching/runs``: run a round now, or read one back."""

from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from lac_service.auth.dependencies import AuthenticatedCaller
from lac_service.auth.models import Role
from lac_service.cabinets.models import Cabinet
from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES
from lac_service.kinds import Kind
from lac_service.kit.clock import Now
from lac_service.kit.fields import Input, RecordId
from lac_service.kit.pagination import Limit, Offset, Page
from lac_service.links import AppLinks
from lac_service.matching.models import MatchingRound, UnmatchedRequest
from lac_service.matching.service import RoundResult, get_round, round_offers, run_round

router = APIRouter(prefix="/api/v1/matching/runs", tags=["matching"], responses=ERROR_RESPONSES)


class RunIn(Input):
    kind: Kind | None = Field(default=None, description="Both kinds when absent.")
    engine: Literal["greedy", "optimal"] = "greedy"
    dry_run: bool = Field(default=False, description="Compute the batches without offering anything.")


class BatchOut(BaseModel):
    cabinet_id: int
    cabinet: str
    offer_id: int | None
    offer_url: str | None = Field(description="The practitioner's link; given in the answer to the run only.")
    expires_at: datetime | None
    request_ids: list[int]
    people: int


class RunOut(BaseModel):
    id: int | None = Field(description="The round kept; null for a dry run (nothing is kept) or for an admin's run "
                           "over several organisations (see round_ids).")
    round_ids: list[int] = Field(default_factory=list, description="The rounds kept, one per organisation: an admin's "
                                 "run keeps one for each, which its coordinators see; empty for a dry run.")
    cabinet_id: int | None = Field(default=None, description="Set: a round of this cabinet alone, which answered its "
                                   "ask for a batch now; such a round keeps no unmatched reasons.")
    kind: Kind | None
    engine: str
    started_at: datetime
    requests_considered: int
    cabinets_due: int
    requests_offered: int
    people_offered: int
    unmatched: dict[str, int] = Field(description="Unmatched requests by reason.")
    batches: list[BatchOut]


class UnmatchedOut(BaseModel):
    request_id: int
    reason: str


def _names(session: DbSession, cabinet_ids: list[int]) -> dict[int, str]:
    return dict(session.execute(sa.select(Cabinet.id, Cabinet.name).where(Cabinet.id.in_(cabinet_ids))).all())


@router.post("", status_code=201, response_model=RunOut, summary="Run a matching round now")
def run(
    body: RunIn, session: DbSession, caller: AuthenticatedCaller, settings: AppSettings, links: AppLinks, now: Now
) -> RunOut:
    """Coordinators run their organisation's round; admins every organisation's. 409 while another round runs
    (on SQLite, once it has waited a few seconds for it to end)."""
    caller.require(Role.admin, Role.coordinator)
    result: RoundResult = run_round(
        session, organisation_id=caller.scope,
        kind=body.kind, engine_name=body.engine, now=now, actor=f"apikey:{caller.api_key_id}",
        offer_ttl=timedelta(days=settings.offer_ttl_days), links=links,
        dry_run=body.dry_run,
    )
    names = _names(session, [b.cabinet_id for b in result.batches])
    return RunOut(
        id=result.rounds[0].id if len(result.rounds) == 1 else None, round_ids=[r.id for r in result.rounds],
        kind=body.kind, engine=body.engine, started_at=now,
        requests_considered=result.requests_considered, cabinets_due=result.cabinets_due,
        requests_offered=sum(len(b.request_ids) for b in result.batches),
        people_offered=sum(b.people for b in result.batches),
        unmatched=dict(sorted(Counter(result.unmatched.values()).items())),
        batches=[
            BatchOut(
                cabinet_id=b.cabinet_id, cabinet=names[b.cabinet_id], offer_id=b.offer_id,
                offer_url=b.url, expires_at=b.expires_at,
                request_ids=b.request_ids, people=b.people,
            )
            for b in result.batches
        ],
    )


def _round(session: DbSession, round_id: int, caller: AuthenticatedCaller) -> MatchingRound:
    caller.require(Role.admin, Role.coordinator)
    return get_round(session, round_id, visible_to=caller.scope)


@router.get("/{round_id}", response_model=RunOut, summary="A round, its batches and its unmatched reasons")
def read(round_id: RecordId, session: DbSession, caller: AuthenticatedCaller) -> RunOut:
    matching_round = _round(session, round_id, caller)
    offers = round_offers(session, round_id)
    return RunOut(
        id=matching_round.id, round_ids=[matching_round.id], cabinet_id=matching_round.cabinet_id,
        kind=matching_round.kind,
        engine=matching_round.engine, started_at=matching_round.started_at, requests_considered=matching_round.requests_considered,
        cabinets_due=matching_round.cabinets_due, requests_offered=matching_round.requests_offered,
        people_offered=matching_round.people_offered, unmatched=matching_round.summary["unmatched"],
        batches=[
            BatchOut(
                cabinet_id=o.cabinet_id, cabinet=o.cabinet.name, offer_id=o.id, offer_url=None,
                expires_at=o.expires_at, request_ids=[i.request_id for i in o.items],
                people=sum(i.people for i in o.items),
            )
            for o in offers
        ],
    )


@router.get("/{round_id}/unmatched", response_model=Page[UnmatchedOut], summary="Why each request got no offer")
def unmatched(
    round_id: RecordId, session: DbSession, caller: AuthenticatedCaller, settings: AppSettings,
    reason: Annotated[str | None, Query(max_length=32)] = None, limit: Limit = None, offset: Offset = 0,
) -> Page[UnmatchedOut]:
    _round(session, round_id, caller)
    query = sa.select(UnmatchedRequest).where(UnmatchedRequest.round_id == round_id)
    if reason:
        query = query.where(UnmatchedRequest.reason == reason)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    limit = limit or settings.default_page_size
    rows = session.scalars(query.order_by(UnmatchedRequest.request_id).limit(limit).offset(offset)).all()
    return Page[UnmatchedOut](
        items=[UnmatchedOut(request_id=r.request_id, reason=r.reason) for r in rows], total=total, limit=limit,
        offset=offset,
    )
