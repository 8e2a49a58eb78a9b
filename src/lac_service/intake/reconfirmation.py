"""Stale entries: every waiting patient is asked, now and then, whether they still wait.

A waiting request is asked ``every`` days after its registration or its last confirmation (an SMS ``OUI``,
the tracking page's button); with no answer ``grace`` days after the question reached the patient, it is
archived and the patient is told how to come back (the same ``OUI``, or the tracking page, brings it back
with its original date). Days are calendar days (UTC): asked on day 90, archived on day 111 with the
defaults. A question that never reached them (refused by the provider, reported undelivered by Twilio, or no
contact at all) archives no one, since silence means something only from someone asked; it is asked again
``every`` days later, to the contacts the request has by then. A request being offered is neither asked nor
archived; it is, if still due, once back in the queue. The pass runs at night; its messages wait for the
patient's daytime, and their turn.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.intake.models import PatientRequest, Status
from lac_service.intake.service import SYSTEM, set_status, tell_patient, tracking_url
from lac_service.links import Links
from lac_service.notifications.models import UNDELIVERED, Notification, NotificationStatus
from lac_service.notifications.outbox import Turns

ARCHIVED_REASON = "not_confirmed"
_BATCH = 500
R = PatientRequest
_LAST_SIGN = sa.func.coalesce(R.confirmed_at, R.created_at)


@dataclass(frozen=True)
class Reconfirmed:
    asked: int
    archived: int


def _day_start(now: datetime) -> datetime:
    return datetime.combine(now.date(), time(), tzinfo=now.tzinfo)


def _tell(session: Session, request: PatientRequest, template: str, *, links: Links, turns: Turns,
          now: datetime, grace_days: int) -> bool:
    """Whether a message went (a landline and no e-mail: none can). It waits for its turn in the patient's
    daytime: the pass runs at night, and may ask thousands at once. The question gives the last day to answer,
    in the patient's calendar: the whole of it comes before the pass that would archive the request (those
    passes count UTC days)."""
    archive_from = _day_start(now) + timedelta(days=grace_days)
    answer_by = archive_from.astimezone(request.zone).date() - timedelta(days=1)
    return bool(tell_patient(session, request, template, event=f"{template}:{now:%Y-%m-%d}",
                             link=tracking_url(request, links) or links.site_url, now=now,
                             due=turns.next(request.zone), answer_by=f"{answer_by:%d/%m}"))


def _reached_before(moment: datetime) -> sa.ColumnElement[bool]:
    """The request's last question was accepted by the provider before ``moment``, and not reported
    undelivered since (Twilio's status callback)."""
    N = Notification
    return sa.exists().where(
        N.resource == sa.literal("request:") + sa.cast(R.id, sa.String), N.template == "reconfirmation",
        N.created_at >= R.reconfirm_asked_at, N.status == NotificationStatus.sent, N.sent_at < moment,
        sa.or_(N.delivery_status.is_(None), N.delivery_status.not_in(UNDELIVERED)),
    )


def _due(session: Session, condition: sa.ColumnElement[bool]) -> list[PatientRequest]:
    return list(session.scalars(
        sa.select(R).where(R.status == Status.waiting, R.erased_at.is_(None), condition)
        .order_by(R.id).limit(_BATCH).with_for_update(of=R)
    ))


def reconfirm(session: Session, *, every_days: int, grace_days: int, links: Links, per_s: float,
              now: datetime) -> Reconfirmed:
    """One pass (nightly, in ``lac worker``, or ``lac reconfirm``): archives the unanswered, then asks the due;
    the messages go ``per_s`` a second (``Turns``). Safe to run twice: a request asked today is not asked again
    until it answers and falls due again."""
    today = _day_start(now)
    turns = Turns(session, now=now, per_s=per_s)
    archived = asked = 0
    answer_by = today - timedelta(days=grace_days - 1)
    while batch := _due(session, sa.and_(  # a question sent by then was asked by then: the cheap test first
        R.reconfirm_asked_at < answer_by, R.reconfirm_asked_at >= _LAST_SIGN, _reached_before(answer_by),
    )):
        for request in batch:
            set_status(session, request, Status.archived, actor=SYSTEM, now=now, reason=ARCHIVED_REASON)
            _tell(session, request, "archived", links=links, turns=turns, now=now, grace_days=grace_days)
        session.flush()
        archived += len(batch)
    ask_before = today - timedelta(days=every_days - 1)
    while batch := _due(session, sa.and_(_LAST_SIGN < ask_before, sa.or_(
        R.reconfirm_asked_at.is_(None), R.reconfirm_asked_at < _LAST_SIGN,
        sa.and_(R.reconfirm_asked_at < ask_before, sa.not_(_reached_before(now))),
    ))):
        for request in batch:
            request.reconfirm_asked_at = now  # even when no message can go: the pass moves on, and asks again later
            asked += _tell(session, request, "reconfirmation", links=links, turns=turns, now=now,
                           grace_days=grace_days)
        session.flush()
    return Reconfirmed(asked=asked, archived=archived)
