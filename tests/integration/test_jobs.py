"""``lac worker``'s jobs on a clock the test sets: a round at each configured local time, once, caught up
after a restart; offers expiring back to the queue; nightly re-scoring."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from lac_service.auth.models import Organisation, Role
from lac_service.auth.service import create_organisation
from lac_service.intake.models import PatientRequest
from lac_service.jobs import Jobs
from lac_service.kit.clock import request_time, utcnow
from lac_service.matching.models import MatchingRound
from lac_service.notifications.models import Notification
from lac_service.notifications.templates import date_fr
from lac_service.offers.models import ItemStatus, OfferItem
from lac_service.organisations.schedule import schedule_of
from tests.conftest import make_settings
from tests.payloads import cabinet_body, request_body

PARIS = ZoneInfo("Europe/Paris")


def _at(day, hour, minute=0):
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS).astimezone(ZoneInfo("UTC"))


@pytest.fixture
def day():
    return (utcnow().astimezone(PARIS) + timedelta(days=1)).date()


@pytest.fixture
def queue(client, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(cadence_days=1, batch_size=1), headers=coordinator)
    for name, phone in (("Alice", "0611111111"), ("Bruno", "0622222222"), ("Chloé", "0633333333")):
        assert client.post(
            "/api/v1/requests", json=request_body(first_name=name, phone=phone, email=None), headers=coordinator
        ).status_code == 201


def _rounds(db):
    db.expire_all()
    return db.scalars(sa.select(MatchingRound).order_by(MatchingRound.id)).all()


def test_a_round_runs_once_per_configured_time_and_a_missed_one_is_caught_up(settings, session_factory, db, queue, day):
    jobs = Jobs(settings.model_copy(update={"jobs": settings.jobs.model_copy(update={"match_at": [time(8, 0)]})}), session_factory)
    assert "round:1" in jobs.tick(_at(day, 8, 30)), "the worker was down at 8:00: the round runs when it is back"
    assert not [job for job in jobs.tick(_at(day, 9)) if job.startswith("round")]
    restarted = Jobs(jobs.settings, session_factory)  # a new process remembers nothing: the database decides
    assert not [job for job in restarted.tick(_at(day + timedelta(days=1), 7, 59)) if job.startswith("round")]
    assert "round:1" in restarted.tick(_at(day + timedelta(days=1), 8, 0))
    rounds = _rounds(db)
    assert [r.requested_by for r in rounds] == ["schedule", "schedule"]
    assert [r.requests_offered for r in rounds] == [1, 1]
    down_all_day = Jobs(jobs.settings, session_factory)  # down from 07:00 until 02:00 the next night
    assert not [job for job in down_all_day.tick(_at(day + timedelta(days=3), 2, 0)) if job.startswith("round")], \
        "the day's missed round is not run in the night: its batches would wake the practitioners"


def _rounds_at(jobs: Jobs, moment: datetime) -> list[str]:
    return [job for job in Jobs(jobs.settings, jobs.session_factory).tick(moment) if job.startswith("round")]


@pytest.mark.parametrize(("at", "last_caught_up"), [(time(8, 0), time(19, 59)), (time(21, 0), time(21, 59))])
def test_a_missed_round_is_caught_up_until_the_evening_or_within_the_hour_of_an_evening_time(
        settings, session_factory, queue, day, at, last_caught_up):
    """A worker back at 23:40 would send the day's batches to practitioners in bed: the 08:00 round is caught up
    until 20:00; a time the coordinators chose in the evening (21:00), within the hour."""
    jobs = Jobs(settings.model_copy(update={"jobs": settings.jobs.model_copy(update={"match_at": [at]})}),
                session_factory)
    assert _rounds_at(jobs, _at(day, last_caught_up.hour, last_caught_up.minute)) == ["round:1"]
    too_late = datetime.combine(day, last_caught_up) + timedelta(minutes=1)
    assert _rounds_at(jobs, _at(day + timedelta(days=1), too_late.hour, too_late.minute)) == [], "left to the next day"
    assert _rounds_at(jobs, _at(day + timedelta(days=2), at.hour, at.minute)) == ["round:1"]


def test_each_organisation_has_its_own_scheduled_round_its_coordinators_can_read(
        client, settings, session_factory, db, make_key, org_a, org_b, queue, day):
    jobs = Jobs(settings.model_copy(update={"jobs": settings.jobs.model_copy(update={"match_at": [time(8, 0)]})}), session_factory)
    assert "round:1" in jobs.tick(_at(day, 8, 30))
    rounds = {r.organisation_id: r.id for r in _rounds(db)}
    assert set(rounds) == {org_a.id, org_b.id}
    for org, other, offered in ((org_a, org_b, 1), (org_b, org_a, 0)):
        coordinator = make_key(org, Role.coordinator)
        mine = client.get(f"/api/v1/matching/runs/{rounds[org.id]}", headers=coordinator)
        assert mine.status_code == 200 and mine.json()["requests_offered"] == offered
        assert client.get(f"/api/v1/matching/runs/{rounds[other.id]}", headers=coordinator).status_code == 404


def test_offers_expire_back_to_the_queue_and_are_not_offered_again_to_that_cabinet(settings, session_factory, db, queue, day):
    jobs = Jobs(settings, session_factory)
    jobs.tick(_at(day, 8, 30))
    offered = db.scalars(sa.select(OfferItem)).one()
    later = _at(day + timedelta(days=settings.offer_ttl_days + 1), 8, 30)
    done = jobs.tick(later)
    assert "expire:1" in done and "round:1" in done
    db.expire_all()
    items = db.scalars(sa.select(OfferItem).order_by(OfferItem.id)).all()
    assert items[0].status is ItemStatus.expired
    assert items[1].request_id != offered.request_id, "the cabinet let it expire: others go first"


def test_a_patient_let_expire_is_offered_to_that_cabinet_again_thirty_days_after_the_deadline(
        client, settings, session_factory, db, make_key, org_a, queue):
    """A deadline let pass is not a refusal (the practitioner was away): alone in the queue, the patient is not
    offered to that cabinet again at once, but is 30 days after the deadline. (From next year's 4 May: no change
    of the clocks in the weeks counted, which are days of 24 hours.)"""
    day = date(utcnow().year + 1, 5, 4)
    jobs = Jobs(settings, session_factory)
    jobs.tick(_at(day, 8, 30))
    offered = db.scalars(sa.select(OfferItem)).one()
    coordinator = make_key(org_a, Role.coordinator)
    for other in db.scalars(sa.select(PatientRequest.id).where(PatientRequest.id != offered.request_id)).all():
        assert client.post(f"/api/v1/requests/{other}/withdraw", json={"reason": "moved"},
                           headers=coordinator).status_code == 200
    deadline = day + timedelta(days=settings.offer_ttl_days)
    assert {"expire:1", "round:0"} <= set(jobs.tick(_at(deadline, 9))), "barred for now"
    assert "round:0" in jobs.tick(_at(deadline + timedelta(days=29), 9))
    assert "round:1" in jobs.tick(_at(deadline + timedelta(days=30), 9))
    db.expire_all()
    assert [item.request_id for item in db.scalars(sa.select(OfferItem).order_by(OfferItem.id))] == \
        [offered.request_id] * 2


def test_a_one_day_cadence_is_one_batch_a_calendar_day_however_many_rounds(settings, session_factory, queue, day):
    """Rounds at 08:00 and 20:00; the cabinet takes a batch a day. A round that ran late (10:30) does not make
    it miss the next day's 08:00 one."""
    twice = settings.jobs.model_copy(update={"match_at": [time(8, 0), time(20, 0)]})
    jobs = Jobs(settings.model_copy(update={"jobs": twice}), session_factory)
    assert "round:1" in jobs.tick(_at(day, 8, 0))
    assert "round:0" in jobs.tick(_at(day, 20, 0)), "the same day: not due again"
    assert "round:1" in jobs.tick(_at(day + timedelta(days=1), 10, 30)), "the 08:00 round, late"
    assert "round:1" in jobs.tick(_at(day + timedelta(days=2), 8, 0))


def test_in_martinique_the_cadence_counts_martinique_days(settings, session_factory, client, make_key, org_a, db):
    """A CPTS in Fort-de-France (UTC-4) rounds at 08:00 and 20:00, its time: 20:00 there is already the next
    day in Paris (01:00 or 02:00), yet the same day for the cabinet, which takes one batch a day. Its SMS gives
    the deadline in its own time."""
    here = ZoneInfo("America/Martinique")
    coordinator = make_key(org_a, Role.coordinator)
    home = {"address": {"line": "1 rue Victor Hugo", "postal_code": "97200", "city": "Fort-de-France"},
            "location": {"lat": 14.6065, "lon": -61.0725}}
    assert client.post("/api/v1/cabinets", headers=coordinator, json=cabinet_body(
        cadence_days=1, batch_size=1, channels=["sms"], phones=["0696 12 34 56"], **home)).status_code == 201
    for name, phone in (("Alice", "0696111111"), ("Bruno", "0696222222"), ("Chloé", "0696333333")):
        assert client.post("/api/v1/requests", headers=coordinator,
                           json=request_body(first_name=name, phone=phone, email=None, **home)).status_code == 201
    twice = settings.jobs.model_copy(update={"match_at": [time(8, 0), time(20, 0)], "timezone": here.key})
    jobs = Jobs(settings.model_copy(update={"jobs": twice}), session_factory)
    day = (utcnow().astimezone(here) + timedelta(days=1)).date()

    def local(on, hour):
        return datetime.combine(on, time(hour), tzinfo=here)

    assert "round:1" in jobs.tick(local(day, 8))
    assert "round:0" in jobs.tick(local(day, 20)), "the same day in Fort-de-France: not due again"
    assert "round:1" in jobs.tick(local(day + timedelta(days=1), 8))
    texts = db.scalars(sa.select(Notification.body).where(Notification.template == "batch_offer")
                       .order_by(Notification.id)).all()
    deadline = local(day, 8) + timedelta(days=settings.offer_ttl_days)
    assert date_fr(deadline, here) in texts[0] and date_fr(deadline) not in texts[0], "its time, not Paris's"


def test_rescoring_and_message_retention_run_once_a_night(settings, session_factory, queue, day):
    jobs = Jobs(settings, session_factory)
    assert not [j for j in jobs.tick(_at(day, 2, 59)) if j.startswith("rescore")]
    nightly = jobs.tick(_at(day, 3, 1))
    assert [j for j in nightly if j.startswith("rescore")] and "blank_messages:0" in nightly
    assert not [j for j in jobs.tick(_at(day, 23)) if j.startswith("rescore")]


def test_no_configured_time_means_no_scheduled_round(day):
    deployment = make_settings("sqlite://").jobs
    assert schedule_of([], None, deployment).last_slot(_at(day, 12)) is None
    assert schedule_of(None, None, deployment).last_slot(_at(day, 7)) is None, "yesterday's is not owed today"
    assert schedule_of(None, None, deployment).last_slot(_at(day, 9)) == _at(day, 8)


def test_each_organisation_rounds_at_its_own_times_in_its_own_time_zone(client, settings, session_factory, db,
                                                                       make_key, org_a, org_b, queue, day):
    """The CPTS of Fort-de-France chose 14:00, its time (19:00 or 20:00 in Paris); the other keeps the
    deployment's 08:00 in Paris. Each round runs at its organisation's time, once, and re-scores its own queue
    only."""
    coordinator = make_key(org_a, Role.coordinator)
    chosen = client.put("/api/v1/organisations/cpts-a/schedule", headers=coordinator,
                        json={"match_at": ["14:00"], "timezone": "America/Martinique"})
    assert chosen.status_code == 200, chosen.text
    jobs = Jobs(settings.model_copy(update={"jobs": settings.jobs.model_copy(update={"match_at": [time(8, 0)]})}),
                session_factory)
    jobs.tick(_at(day, 7))  # before either time: nothing owed yet (yesterday's are not caught up the next day)
    martinique = ZoneInfo("America/Martinique")
    waiting = (PatientRequest.organisation_id == org_a.id) & (PatientRequest.status == "waiting")
    db.execute(sa.update(PatientRequest).where(waiting).values(priority_points=1))  # scores gone stale
    db.commit()

    def points() -> set[int]:
        db.expire_all()
        return set(db.scalars(sa.select(PatientRequest.priority_points).where(waiting)))

    def rounds_by(moment: datetime) -> list[int]:
        before = {r.id for r in _rounds(db)}
        jobs.tick(moment)
        return [r.organisation_id for r in _rounds(db) if r.id not in before]

    assert rounds_by(_at(day, 8, 30)) == [org_b.id], "08:00 in Paris: the deployment's time"
    assert points() == {1}, "the other organisation's round left its queue alone"
    at_two_there = datetime.combine(day, time(14, 5), tzinfo=martinique)
    assert rounds_by(at_two_there - timedelta(minutes=10)) == []
    assert rounds_by(at_two_there) == [org_a.id], "14:00 in Fort-de-France"
    assert 1 not in points(), "its own round re-scored it first"
    assert rounds_by(at_two_there + timedelta(hours=3)) == [], "once a day"


def test_a_time_saved_once_past_waits_for_the_next_day(client, app, settings, session_factory, db, make_key, org_a,
                                                      queue, day):
    """Saving at 15:00 a schedule of 14:00 is not running a round: the first is tomorrow's."""
    app.dependency_overrides[request_time] = lambda: _at(day, 15)
    assert client.put("/api/v1/organisations/cpts-a/schedule", headers=make_key(org_a, Role.coordinator),
                      json={"match_at": ["14:00"], "timezone": None}).status_code == 200
    jobs = Jobs(settings.model_copy(update={"jobs": settings.jobs.model_copy(update={"match_at": []})}), session_factory)
    assert not [job for job in jobs.tick(_at(day, 15, 1)) if job.startswith("round")]
    assert "round:1" in jobs.tick(_at(day + timedelta(days=1), 14))


def test_a_time_in_the_hour_skipped_in_spring_runs_once(settings, session_factory, db, queue):
    """02:30 does not exist in Paris on the last Sunday of March: the round runs at the change, once, not at
    every tick of the hour after."""
    spring = date(2027, 3, 28)
    jobs = Jobs(settings.model_copy(update={"jobs": settings.jobs.model_copy(update={"match_at": [time(2, 30)]})}),
                session_factory)
    jobs.tick(_at(spring - timedelta(days=1), 12))  # yesterday's round owed: run, then square
    ticks = [datetime(2027, 3, 28, 1, 0, tzinfo=UTC) + timedelta(seconds=30 * n) for n in range(130)]  # 03:00-04:05
    ran = [job for moment in ticks for job in jobs.tick(moment) if job.startswith("round")]
    assert ran == ["round:1"]


def test_a_schedule_this_host_cannot_read_stops_only_its_organisation(settings, session_factory, db, org_a, org_b,
                                                                     queue, day, caplog):
    db.execute(sa.update(Organisation).where(Organisation.id == org_b.id).values(timezone="Mars/Olympus_Mons"))
    db.commit()
    jobs = Jobs(settings.model_copy(update={"jobs": settings.jobs.model_copy(update={"match_at": [time(8, 0)]})}),
                session_factory)
    assert "round:1" in jobs.tick(_at(day, 8, 30))
    assert [r.organisation_id for r in _rounds(db)] == [org_a.id]
    assert f"organisation {org_b.id}: its round schedule cannot be read" in caplog.text


def test_an_unknown_time_zone_is_refused_at_start_up():
    with pytest.raises(ValueError, match="unknown time zone"):
        make_settings("sqlite://", jobs={"timezone": "Europe/Paname"})


def test_a_schedule_saved_again_unchanged_cancels_no_round_still_owed(client, app, settings, session_factory, db,
                                                                      make_key, org_a, queue, day):
    """The worker was down at 08:00; a coordinator saves the same times at 10:00: the day's round still runs."""
    clock = {"now": _at(day - timedelta(days=1), 12)}
    app.dependency_overrides[request_time] = lambda: clock["now"]
    coordinator, same = make_key(org_a, Role.coordinator), {"match_at": ["08:00"], "timezone": None}
    assert client.put("/api/v1/organisations/cpts-a/schedule", headers=coordinator, json=same).status_code == 200
    jobs = Jobs(settings.model_copy(update={"jobs": settings.jobs.model_copy(update={"match_at": []})}), session_factory)
    assert not [job for job in jobs.tick(_at(day - timedelta(days=1), 12, 1)) if job.startswith("round")]
    clock["now"] = _at(day, 10)
    assert client.put("/api/v1/organisations/cpts-a/schedule", headers=coordinator, json=same).status_code == 200
    assert "round:1" in jobs.tick(_at(day, 10, 5))


def test_a_new_organisation_owes_no_round_from_before_it_existed(settings, session_factory, db, queue, day):
    late = create_organisation(db, slug="cpts-nouvelle", name="CPTS nouvelle", now=_at(day, 9))
    db.commit()
    jobs = Jobs(settings.model_copy(update={"jobs": settings.jobs.model_copy(update={"match_at": [time(8, 0)]})}),
                session_factory)
    jobs.tick(_at(day, 9, 30))
    assert late.id not in {r.organisation_id for r in _rounds(db)}, "the 08:00 round was before its creation"
    jobs.tick(_at(day + timedelta(days=1), 8))
    assert late.id in {r.organisation_id for r in _rounds(db)}
