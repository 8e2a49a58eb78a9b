"""Requests in priority order: each score stored with its policy version and day, explained on demand,
and refreshed in bulk (daily, before a matching round, after a policy change)."""

from collections.abc import Iterable
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.intake.models import ACTIVE_STATUSES, HouseholdMember, PatientRequest
from lac_service.kinds import Kind
from lac_service.policies.service import current_policy, policy_version
from lac_service.priority import PriorityInput, Score, score, score_many


def _input(request: PatientRequest) -> PriorityInput:
    assert request.birth_date is not None
    return PriorityInput(
        kind=request.kind.value, birth_date=request.birth_date, ald=request.ald, pregnant=request.pregnant,
        urgent=request.urgent, household_birth_dates=tuple(m.birth_date for m in request.household),
        waiting_since=request.waiting_since,
    )


def apply_score(session: Session, request: PatientRequest, *, now: datetime) -> None:
    """Scores one request (on creation and on every change): in the queue, with its organisation's current
    policy; once it left (a correction after the match), with the policy and on the day it was last scored, so
    that only what was corrected changes, its wait does not grow, and the figures by band stand."""
    if request.status in ACTIVE_STATUSES:
        versioned = current_policy(session, organisation_id=request.organisation_id, kind=request.kind)
    else:
        versioned = policy_version(session, organisation_id=request.organisation_id, kind=request.kind,
                                   version=request.priority_policy_version)
        now = request.priority_scored_at
    request.priority_points = score(_input(request), versioned.policy, now).points
    request.priority_policy_version = versioned.version
    request.priority_scored_at = now


def explain(session: Session, requests: Iterable[PatientRequest]) -> dict[int, Score]:
    """The reasons behind each stored score: the same policy version, on the same day, so they add up."""
    policies: dict[tuple[int, Kind, int], object] = {}
    explained = {}
    for request in requests:
        if request.erased_at is not None:
            continue
        key = (request.organisation_id, request.kind, request.priority_policy_version)
        if key not in policies:
            policies[key] = policy_version(
                session, organisation_id=key[0], kind=key[1], version=key[2]
            ).policy
        explained[request.id] = score(_input(request), policies[key], request.priority_scored_at)  # type: ignore[arg-type]
    return explained


def rescore(session: Session, *, now: datetime, organisation_id: int | None = None, kind: Kind | None = None) -> int:
    """Re-scores every active request (of one organisation and kind, or all) with the current policies;
    writes only the rows whose points or policy changed. Returns how many changed."""
    groups = sa.select(PatientRequest.organisation_id, PatientRequest.kind).where(
        PatientRequest.status.in_(ACTIVE_STATUSES)
    )
    if organisation_id is not None:
        groups = groups.where(PatientRequest.organisation_id == organisation_id)
    if kind is not None:
        groups = groups.where(PatientRequest.kind == kind)
    changed = 0
    for org, group_kind in session.execute(groups.distinct()).all():
        changed += _rescore_group(session, organisation_id=org, kind=group_kind, now=now)
    return changed


def _rescore_group(session: Session, *, organisation_id: int, kind: Kind, now: datetime) -> int:
    versioned = current_policy(session, organisation_id=organisation_id, kind=kind)
    youngest = (
        sa.select(HouseholdMember.request_id, sa.func.max(HouseholdMember.birth_date).label("born"))
        .group_by(HouseholdMember.request_id)
        .subquery()
    )
    rows = session.execute(
        sa.select(
            PatientRequest.id, PatientRequest.birth_date, PatientRequest.ald, PatientRequest.pregnant,
            PatientRequest.urgent, youngest.c.born, PatientRequest.waiting_since, PatientRequest.priority_points,
            PatientRequest.priority_policy_version,
        )
        .outerjoin(youngest, youngest.c.request_id == PatientRequest.id)
        .where(
            PatientRequest.organisation_id == organisation_id, PatientRequest.kind == kind,
            PatientRequest.status.in_(ACTIVE_STATUSES),
        )
    ).all()
    if not rows:
        return 0
    ids, born, ald, pregnant, urgent, household, waiting, old_points, old_version = zip(*rows, strict=True)
    points = score_many(
        versioned.policy, now,
        birth_dates=np.array(born, dtype="M8[D]"), ald=np.array(ald), pregnant=np.array(pregnant),
        urgent=np.array(urgent), youngest_household_birth_dates=np.array(household, dtype="M8[D]"),
        waiting_since=np.array([w.replace(tzinfo=None) for w in waiting], dtype="M8[us]"),
    )
    stale = (points != np.array(old_points)) | (np.array(old_version) != versioned.version)
    updates = [
        {"id": ids[i], "priority_points": int(points[i]), "priority_policy_version": versioned.version,
         "priority_scored_at": now}
        for i in np.flatnonzero(stale)
    ]
    # Unchanged rows keep their scoring day: their explanation, computed on that day, still adds up.
    if updates:
        session.execute(sa.update(PatientRequest), updates)
    return len(updates)
