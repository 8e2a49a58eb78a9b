"""Possible duplicates, for a secretary to look at: the same birth date with the same name words in any
order (first and last names swapped), the same e-mail, or the same phone, among the active requests of one
kind. (The same name after folding accents and hyphens, with the same birth date, is refused at registration
already: those never get in twice. A shared phone is not: twins registered by a parent share it.) A merge keeps the older date; "two people"
stops the flag."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from lac_service.errors import Conflict, InvalidInput
from lac_service.intake.models import (
    ACTIVE_STATUSES, DistinctPeople, HouseholdMember, PatientRequest, Status, WithdrawReason,
)
from lac_service.intake.ranking import apply_score
from lac_service.intake.schemas import MAX_HOUSEHOLD
from lac_service.intake.service import Actor, set_status
from lac_service.kit.text import identity_key

REASONS = ("names", "email", "phone")


@dataclass(frozen=True)
class PossibleDuplicate:
    first: PatientRequest
    second: PatientRequest
    reasons: list[str]


def _reasons(a: PatientRequest, b: PatientRequest) -> list[str]:
    same = {
        "names": a.person_key == b.person_key,
        "email": a.email is not None and b.email is not None and a.email.casefold() == b.email.casefold(),
        "phone": a.phone is not None and a.phone == b.phone,
    }
    return [reason for reason in REASONS if same[reason]]


def possible_duplicates(session: Session, *, organisation_id: int | None, limit: int,
                        offset: int = 0) -> tuple[list[PossibleDuplicate], int]:
    """One page of pairs within one organisation (None: each organisation's, for an admin), oldest first,
    and how many pairs there are in all."""
    a, b = aliased(PatientRequest), aliased(PatientRequest)
    dismissed = sa.exists().where(DistinctPeople.first_request_id == a.id, DistinctPeople.second_request_id == b.id)
    pairs = [
        a.id < b.id, a.birth_date == b.birth_date, a.kind == b.kind, a.organisation_id == b.organisation_id,
        a.status.in_(ACTIVE_STATUSES), b.status.in_(ACTIVE_STATUSES), ~dismissed,
        sa.or_(a.person_key == b.person_key, sa.func.lower(a.email) == sa.func.lower(b.email), a.phone == b.phone),
    ]
    if organisation_id is not None:
        pairs.append(a.organisation_id == organisation_id)
    page = session.execute(sa.select(a, b).where(*pairs).order_by(a.id, b.id).limit(limit).offset(offset)).all()
    total = session.scalar(sa.select(sa.func.count()).select_from(a).join(b, sa.true()).where(*pairs))
    return [PossibleDuplicate(first, second, _reasons(first, second)) for first, second in page], total or 0


def _pair(first: PatientRequest, second: PatientRequest) -> tuple[PatientRequest, PatientRequest]:
    if first.id == second.id:
        raise InvalidInput("Une demande ne peut pas être fusionnée avec elle-même.", field="duplicate_id")
    if first.kind is not second.kind or first.organisation_id != second.organisation_id:
        raise Conflict("Ces deux demandes ne sont pas du même type ou de la même organisation.", field="duplicate_id")
    return (first, second) if first.id < second.id else (second, first)


def mark_distinct(session: Session, requests: Sequence[PatientRequest], *, actor: Actor, now: datetime) -> None:
    first, second = _pair(*requests)
    if session.get(DistinctPeople, (first.id, second.id)) is None:
        session.add(DistinctPeople(first_request_id=first.id, second_request_id=second.id, decided_by=actor.label,
                                   decided_at=now))
        session.flush()


def has_merged_into(session: Session, keep_id: int, *, organisation_id: int | None) -> bool:
    """Whether a duplicate was merged into ``keep_id`` (within one organisation; None: any, for an admin)."""
    merged = sa.select(PatientRequest.id).where(PatientRequest.merged_into_id == keep_id)
    if organisation_id is not None:
        merged = merged.where(PatientRequest.organisation_id == organisation_id)
    return session.scalar(sa.select(merged.exists())) or False


def merge(session: Session, keep: PatientRequest, duplicate: PatientRequest, *, actor: Actor,
          now: datetime) -> PatientRequest:
    """``duplicate`` leaves the queue (withdrawn, reason ``merged``); ``keep`` takes the older date, and a
    phone, an e-mail or a following organisation it lacked (which then follows the person there), what either
    says of the person's health (ALD, pregnancy, an urgency set by the staff), and the household members it
    lacked. Whichever is kept, nothing the other said that raises the priority or brings a child is lost. A
    request being offered to a cabinet waits for the cabinet's answer: as a duplicate, or as the request
    kept when its household would grow."""
    _pair(keep, duplicate)
    for request in (keep, duplicate):
        if request.status not in ACTIVE_STATUSES:
            raise Conflict(f"La demande n° {request.id} n'est plus en attente.", field="duplicate_id")
    known = {(identity_key(m.first_name, m.last_name), m.birth_date) for m in keep.household}
    joining = [m for m in duplicate.household if (identity_key(m.first_name, m.last_name), m.birth_date) not in known]
    if len(keep.household) + len(joining) > MAX_HOUSEHOLD:
        raise Conflict(f"Les deux demandes réunies compteraient plus de {MAX_HOUSEHOLD} membres du foyer : retirez "
                       "d'abord ceux qui n'en font plus partie.", field="duplicate_id")
    for offered in (duplicate, keep if joining else None):
        if offered is not None and offered.status is Status.offered:
            raise Conflict(f"La demande n° {offered.id} est proposée à un cabinet : fusionnez après sa réponse.",
                           field="duplicate_id")
    set_status(session, duplicate, Status.withdrawn, actor=actor, now=now, reason=WithdrawReason.merged.value)
    duplicate.merged_into_id = keep.id
    session.flush()  # the duplicate is no longer active: its phone may now move to the request kept
    keep.waiting_since = min(keep.waiting_since, duplicate.waiting_since)
    keep.phone = keep.phone or duplicate.phone
    keep.email = keep.email or duplicate.email
    keep.followed_by_organisation_id = keep.followed_by_organisation_id or duplicate.followed_by_organisation_id
    keep.ald, keep.pregnant = keep.ald or duplicate.ald, keep.pregnant or duplicate.pregnant
    if duplicate.urgent and not keep.urgent:
        keep.urgent, keep.urgent_reason = True, duplicate.urgent_reason
    keep.household.extend(HouseholdMember(first_name=m.first_name, last_name=m.last_name, birth_date=m.birth_date)
                          for m in joining)
    keep.people_count = 1 + len(keep.household)
    keep.updated_at = now
    apply_score(session, keep, now=now)
    session.flush()
    return keep
