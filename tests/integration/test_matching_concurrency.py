"""Two rounds at the same time on one database: never a request in two pending offers. On PostgreSQL the
second is refused (409); on SQLite it waits for the first, then finds every cabinet served."""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lac_service.auth.service import create_organisation
from lac_service.cabinets.schemas import CabinetCreate
from lac_service.cabinets.models import Cabinet
from lac_service.cabinets.service import create_cabinet, delete_cabinet, revoke_link, set_paused
from lac_service.db import session_scope
from lac_service.errors import Conflict, InvalidTransition
from lac_service.geography.geocoder import Located
from lac_service.intake.models import PatientRequest, Source, Status, WithdrawReason
from lac_service.intake.schemas import RequestCreate
from lac_service.intake.service import Actor, create_request, erase_request, get_request, withdraw_request
from lac_service.kit.clock import utcnow
from lac_service.links import Links
from lac_service.kinds import Kind
from lac_service.matching.models import MatchingRound
from lac_service.matching.service import Asked, ask_batch, lock_rounds, run_round
from lac_service.notifications.models import Notification
from lac_service.offers.models import ItemStatus, OfferItem
from lac_service.offers.service import Decision, NewOffer, Seat, create_offers, expire_offers, find_offer, respond
from tests.conftest import until_one_waits_for_a_lock
from tests.payloads import cabinet_body, request_body

LINKS = Links("http://lac.test", b"k")


def test_two_concurrent_rounds_never_offer_a_request_twice(committed):
    now = utcnow()
    with session_scope(committed) as session:
        organisation = create_organisation(session, slug="cpts-x", name="X", now=now)
        for index in range(20):
            create_cabinet(
                session, organisation_id=organisation.id, now=now, place=Located(50.63 + index / 1000, 3.06, "exact", "59"),
                data=CabinetCreate.model_validate(cabinet_body(batch_size=5, radius_km=30)),
            )
        for index in range(300):
            body = request_body(first_name=f"P{index}", phone=f"06{index:08d}", email=None)
            create_request(
                session, data=RequestCreate.model_validate(body), home=Located(50.60 + index / 5000, 3.05, "exact", "59"),
                organisation_id=organisation.id, outside_territory=False, source=Source.secretary,
                actor=Actor("test", True), max_distance_km=30, now=now, links=Links("http://lac.test", b"k"), notify=False,
            )
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def round_() -> None:
        barrier.wait()
        try:
            with session_scope(committed) as session:
                result = run_round(
                    session, organisation_id=None, kind=None, engine_name="greedy", now=now, actor="test",
                    offer_ttl=timedelta(days=14), links=Links("http://lac.test", b"k"),
                )
                outcomes.append(f"ran:{len(result.batches)}")
        except Conflict:
            outcomes.append("409")

    threads = [threading.Thread(target=round_) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes)[0] in ("409", "ran:0") and len(outcomes) == 2, outcomes
    with session_scope(committed) as session:
        pending = session.execute(
            sa.select(OfferItem.request_id, sa.func.count()).where(OfferItem.status == ItemStatus.pending)
            .group_by(OfferItem.request_id)
        ).all()
        assert len(pending) == 100, "20 cabinets × 5 seats"
        assert all(count == 1 for _, count in pending)


def _waiting(committed, names: list[str], now, **cabinet) -> tuple[int, list[int]]:
    """A cabinet and patients waiting near it: its id and their request ids."""
    with session_scope(committed) as session:
        organisation = create_organisation(session, slug="cpts-x", name="X", now=now)
        cabinet_id = create_cabinet(session, organisation_id=organisation.id, now=now,
                                    place=Located(50.63, 3.06, "exact", "59"),
                                    data=CabinetCreate.model_validate(cabinet_body(**cabinet))).id
        ids = [create_request(
            session, data=RequestCreate.model_validate(request_body(first_name=name, phone=f"06{index:08d}", email=None)),
            home=Located(50.62, 3.05, "exact", "59"), organisation_id=organisation.id, outside_territory=False,
            source=Source.secretary, actor=Actor("test", True), max_distance_km=30, now=now, links=LINKS, notify=False,
        )[0].id for index, name in enumerate(names)]
    return cabinet_id, ids


def _offered(committed, names: list[str], now) -> tuple[str, list[int]]:
    """Patients offered in one batch to a cabinet: the batch's token and their request ids."""
    _, ids = _waiting(committed, names, now)
    with session_scope(committed) as session:
        result = run_round(session, organisation_id=None, kind=None, engine_name="greedy", now=now, actor="test",
                           offer_ttl=timedelta(days=14), links=LINKS)
    return result.batches[0].url.rsplit("/", 1)[1], ids


@pytest.mark.postgres_only
def test_two_taps_on_accept_in_flight_together_both_answer_accepted(committed, committed_url):
    """The second tap read the offer before the first committed: once it holds the lock it must see the
    item as the first left it (accepted: the same answer, nothing to do), not as it read it (pending)."""
    if committed_url.startswith("sqlite"):
        pytest.skip("SQLite runs the two taps' transactions one after the other: the second reads after the first")
    now, links = utcnow(), LINKS
    token, (request_id,) = _offered(committed, ["Alice"], now)
    with session_scope(committed) as second:
        read_early = find_offer(second, token, now=now)
        assert read_early.items[0].status is ItemStatus.pending
        with session_scope(committed) as first:
            respond(first, find_offer(first, token, now=now), request_id=request_id, decision=Decision.accept,
                    reason=None, now=now, links=links)
        item = respond(second, read_early, request_id=request_id, decision=Decision.accept, reason=None, now=now,
                       links=links)
        assert item.status is ItemStatus.accepted
    with session_scope(committed) as session:
        request = session.get(PatientRequest, request_id)
        assert request.status is Status.matched
        assert [change.to_status for change in request.history].count(Status.matched) == 1, "accepted once"


@pytest.mark.postgres_only
@pytest.mark.parametrize("leave", ["withdraw", "erase"])
def test_a_withdrawal_read_before_an_accept_committed_does_not_undo_the_match(committed, committed_url, leave):
    """The secretary's withdrawal, or the erasure asked, read Alice as offered; the practitioner's « Accepter »
    committed before it wrote: the match stands (a matched request is not withdrawn), and Alice's data goes
    with her erasure, her status kept."""
    if committed_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writing transaction at a time: the withdrawal reads after the accept")
    now = utcnow()
    token, (alice,) = _offered(committed, ["Alice"], now)
    with session_scope(committed) as leaving:
        read_early = get_request(leaving, alice, visible_to=None)
        assert read_early.status is Status.offered
        with session_scope(committed) as accepting:
            respond(accepting, find_offer(accepting, token, now=now), request_id=alice, decision=Decision.accept,
                    reason=None, now=now, links=LINKS)
        if leave == "withdraw":
            with pytest.raises(InvalidTransition):
                withdraw_request(leaving, read_early, reason=WithdrawReason.found_elsewhere, actor=Actor("test", True),
                                 now=now)
        else:
            erase_request(leaving, read_early, actor=Actor("test", True), now=now)
    with session_scope(committed) as session:
        request = session.get(PatientRequest, alice)
        assert request.status is Status.matched and request.history[-1].to_status is Status.matched
        assert (request.first_name is None) is (leave == "erase")


@pytest.mark.postgres_only
def test_expiry_does_not_wait_for_an_answer_in_flight_and_the_answer_stands(committed, committed_url):
    """The deadline passes while the practitioner's « Accepter » is being written: the expiry pass returns
    the other patient to the queue without queueing behind that answer, which then stands."""
    if committed_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writing transaction at a time: the answer commits before the expiry starts")
    now, links = utcnow(), LINKS
    token, (alice, bruno) = _offered(committed, ["Alice", "Bruno"], now)
    with session_scope(committed) as answering:
        respond(answering, find_offer(answering, token, now=now), request_id=alice, decision=Decision.accept,
                reason=None, now=now, links=links)  # holds Alice's rows until it commits
        with session_scope(committed) as expiring:
            expiring.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
            assert expire_offers(expiring, now=now + timedelta(days=14)) == 1
    with session_scope(committed) as session:
        statuses = {r.id: r.status for r in session.scalars(sa.select(PatientRequest))}
        assert statuses == {alice: Status.matched, bruno: Status.waiting}
        items = dict(session.execute(sa.select(OfferItem.request_id, OfferItem.status)).all())
        assert items == {alice: ItemStatus.accepted, bruno: ItemStatus.expired}


@pytest.mark.postgres_only
@pytest.mark.parametrize("change", ["revoke", "pause"])
def test_a_link_revoked_while_a_round_runs_gets_no_batch_from_that_round(committed, committed_url, change):
    """The round read the cabinet; its coordinator revoked the practitioner's link, or the practitioner
    paused, before the round wrote. A batch would be closed at once, or sent to a cabinet that said it has no
    room, and its SMS sent all the same: the round makes none, the patient waits."""
    if committed_url.startswith("sqlite"):
        pytest.skip("SQLite: a round holds the one write lock from its start, so a revocation comes before or after")
    now, links = utcnow(), LINKS
    with session_scope(committed) as session:
        organisation = create_organisation(session, slug="cpts-x", name="X", now=now)
        cabinet_id = create_cabinet(session, organisation_id=organisation.id, now=now, place=Located(50.63, 3.06, "exact", "59"),
                                    data=CabinetCreate.model_validate(cabinet_body())).id
        request_id = create_request(
            session, data=RequestCreate.model_validate(request_body(email=None)), home=Located(50.62, 3.05, "exact", "59"),
            organisation_id=organisation.id, outside_territory=False, source=Source.secretary,
            actor=Actor("test", True), max_distance_km=30, now=now, links=links, notify=False,
        )[0].id
        matching_round = MatchingRound(organisation_id=organisation.id, engine="greedy", requested_by="test", started_at=now,
                                       finished_at=now, requests_considered=1, cabinets_due=1, requests_offered=0,
                                       people_offered=0, summary={})
        session.add(matching_round)
        session.flush()
        round_id = matching_round.id
    with session_scope(committed) as round_:
        as_read = round_.get(Cabinet, cabinet_id)
        with session_scope(committed) as coordinator:
            if change == "revoke":
                revoke_link(coordinator, coordinator.get(Cabinet, cabinet_id), now=now + timedelta(seconds=1))
            else:
                set_paused(coordinator, coordinator.get(Cabinet, cabinet_id), paused=True, now=now + timedelta(seconds=1))
        made = create_offers(round_, round_id=round_id, now=now, ttl=timedelta(days=14), links=links,
                             offers=[NewOffer(as_read, [Kind.medecin_traitant], [Seat(request_id, 1, 1.0)])])
        assert made == []
    with session_scope(committed) as session:
        assert session.get(PatientRequest, request_id).status is Status.waiting
        assert session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0, "no SMS for a closed batch"


@pytest.mark.postgres_only
def test_a_cabinet_removed_during_a_round_leaves_its_patients_waiting_with_a_reason(committed, committed_url):
    """The removal commits while the round is about to write: the round waits for it, makes no batch, and says
    why the patient was not offered."""
    if committed_url.startswith("sqlite"):
        pytest.skip("SQLite: a round holds the one write lock from its start, so a removal comes before or after")
    now, links = utcnow(), LINKS
    _, (request_id,) = _offered(committed, ["Alice"], now)
    with session_scope(committed) as session:  # that first batch closed without a refusal; the cabinet due again
        session.execute(sa.update(OfferItem).values(status=ItemStatus.cancelled))
        session.execute(sa.update(PatientRequest).values(status=Status.waiting))
        session.execute(sa.update(Cabinet).values(last_batch_at=None))
        cabinet_id = session.scalar(sa.select(Cabinet.id))
    removed = []

    def remove_first(conn, cursor, statement, *args):  # noqa: ANN001
        if "FOR NO KEY UPDATE" in statement and not removed:
            with session_scope(committed) as coordinator:
                delete_cabinet(coordinator, coordinator.get(Cabinet, cabinet_id), now=now)
            removed.append(True)

    with session_scope(committed) as round_:
        sa.event.listen(round_.connection(), "before_cursor_execute", remove_first)
        result = run_round(round_, organisation_id=None, kind=None, engine_name="greedy", now=now, actor="test",
                           offer_ttl=timedelta(days=14), links=links)
    assert removed and result.batches == [] and result.unmatched == {request_id: "changed_during_round"}
    with session_scope(committed) as session:
        assert session.get(PatientRequest, request_id).status is Status.waiting
        assert session.scalars(sa.select(MatchingRound.summary).order_by(MatchingRound.id.desc())).first()["unmatched"] \
            == {"changed_during_round": 1}


@pytest.mark.postgres_only
@pytest.mark.parametrize("channels", [["sms", "email"], []], ids=["told", "browse"])
def test_a_batch_asked_for_while_a_round_runs_is_kept_only_for_a_cabinet_the_next_round_tells(
        committed, committed_url, settings, channels):
    """The practitioner's page does not wait on a long round. A cabinet told of its batches has the next round
    serve its ask; one in browse mode would never hear of it, and is asked to try again in a moment."""
    if committed_url.startswith("sqlite"):
        pytest.skip("SQLite: the ask waits for the round's write lock, then is served")
    now, links = utcnow(), LINKS
    cabinet_id, _ = _waiting(committed, ["Alice", "Bruno"], now, channels=channels, batch_size=1)
    with session_scope(committed) as rounding:
        lock_rounds(rounding)
        with session_scope(committed) as asking:
            asked = ask_batch(asking, asking.get(Cabinet, cabinet_id), settings=settings, links=links, now=now,
                              actor="test")
            assert (asked.outcome, asked.kept) == (Asked.busy, bool(channels)), "refused at once, not queued"
    with session_scope(committed) as session:
        assert (session.get(Cabinet, cabinet_id).batch_requested_at is not None) is bool(channels)
        later = run_round(session, organisation_id=None, kind=None, engine_name="greedy", now=now + timedelta(hours=1),
                          actor="test", offer_ttl=timedelta(days=14), links=links)
        assert [batch.cabinet_id for batch in later.batches] == ([cabinet_id] if channels else [])


@pytest.mark.postgres_only
def test_a_second_tap_on_send_me_patients_waits_for_the_first_and_makes_no_second_batch(committed, committed_url,
                                                                                      settings):
    if committed_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writing transaction at a time: the second tap reads after the first")
    now, links = utcnow(), LINKS
    cabinet_id, _ = _waiting(committed, ["Alice", "Bruno"], now, channels=[], batch_size=1)
    second: list[Asked] = []

    def tap() -> None:
        with session_scope(committed) as session:
            second.append(ask_batch(session, session.get(Cabinet, cabinet_id), settings=settings, links=links,
                                    now=now, actor="test").outcome)

    with session_scope(committed) as first:
        assert ask_batch(first, first.get(Cabinet, cabinet_id), settings=settings, links=links, now=now,
                         actor="test").outcome is Asked.served
        thread = threading.Thread(target=tap)
        thread.start()
        until_one_waits_for_a_lock(first, "the second tap")
    thread.join()
    assert second == [Asked.unanswered]
    with session_scope(committed) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(OfferItem)) == 1


def _offer_as_read(session, cabinet_id: int, request_ids: list[int], now):  # type: ignore[no-untyped-def]
    """A round's offer of these requests to the cabinet, each read as one person before its household changed."""
    matching_round = MatchingRound(organisation_id=None, engine="greedy", requested_by="test", started_at=now,
                                   finished_at=now, requests_considered=len(request_ids), cabinets_due=1,
                                   requests_offered=0, people_offered=0, summary={})
    session.add(matching_round)
    session.flush()
    return create_offers(session, round_id=matching_round.id, now=now, ttl=timedelta(days=14), links=LINKS, offers=[
        NewOffer(session.get(Cabinet, cabinet_id), [Kind.medecin_traitant], [Seat(r, 1, 1.0) for r in request_ids])])


def test_a_household_edited_while_the_round_ran_is_offered_as_it_stands(committed):
    """The round read one person (its seat); a secretary added a child before it wrote its offer: the cabinet
    is shown, and counts, two."""
    now = utcnow()
    cabinet_id, (request_id,) = _waiting(committed, ["Alice"], now)
    with session_scope(committed) as session:
        session.get(PatientRequest, request_id).people_count = 2
        made = _offer_as_read(session, cabinet_id, [request_id], now)
        assert [offer.people for offer in made] == [2]
        assert session.scalars(sa.select(OfferItem.people)).all() == [2]


def test_a_household_grown_past_the_batch_while_the_round_ran_waits_for_the_next_one(committed):
    """The round read three people for a batch of three; two households grew before it wrote its offer: the
    lower in the queue (Chloé, registered last) waits for the next round, and the cabinet gets three people,
    Bruno's two included, never five."""
    now = utcnow()
    cabinet_id, (alice, bruno, chloe) = _waiting(committed, ["Alice", "Bruno", "Chloé"], now, batch_size=3)
    with session_scope(committed) as session:
        for grown in (bruno, chloe):
            session.get(PatientRequest, grown).people_count = 2
        made = _offer_as_read(session, cabinet_id, [alice, bruno, chloe], now)
        assert [(offer.request_ids, offer.people) for offer in made] == [([alice, bruno], 3)]
    with session_scope(committed) as session:
        assert dict(session.execute(sa.select(OfferItem.request_id, OfferItem.people)).all()) == {
            alice: 1, bruno: 2}
        assert session.get(PatientRequest, chloe).status is Status.waiting
        assert [change.to_status for change in session.get(PatientRequest, chloe).history] == ["waiting"], \
            "no trace of an offer she never had"

