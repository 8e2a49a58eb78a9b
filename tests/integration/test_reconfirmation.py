"""Stale entries, with a fake clock: a waiting patient is asked at day 90, archived at day 111 without an
answer, kept by an OUI (or the tracking page), and brought back by a late OUI with their original date."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lac_service.auth.models import Role
from lac_service.intake.models import PatientRequest, Status
from lac_service.intake.reconfirmation import reconfirm
from lac_service.links import Links
from lac_service.notifications.channels import Backend, LocalBackend, PermanentError
from lac_service.notifications.models import Notification, NotificationStatus
from lac_service.replies.service import handle_reply
from tests.conftest import NOW, dispatch, make_settings
from tests.payloads import cabinet_body, request_body

PHONE = "+33612345678"


MORNING = timedelta(hours=5, minutes=1)  # from the nightly run: after 09:00 in Lille, winter and summer


def day(n: int, hours: int = 0):
    """The nightly run of day ``n`` (03:00 UTC; registration was at 09:00 on day 0)."""
    return NOW + timedelta(days=n, hours=hours - 6)


@pytest.fixture
def registered(client, make_key, org_a, clock):
    headers = make_key(org_a, Role.secretary)
    answer = client.post("/api/v1/requests", json=request_body(email=None), headers=headers)
    assert answer.status_code == 201, answer.text
    return {"id": answer.json()["id"], "tracking_url": answer.json()["tracking_url"], "headers": headers}


def run(db, settings, now, *, sms: Backend | None = None) -> tuple[int, int]:
    """The night's pass, then the dispatcher's the next morning in Lille (the question is sent; by ``sms`` if
    given)."""
    done = reconfirm(db, every_days=90, grace_days=21, links=Links.from_settings(settings), per_s=10, now=now)
    db.commit()
    dispatch(db, now + MORNING, sms=sms)
    return done.asked, done.archived


def request_row(db) -> PatientRequest:
    db.expire_all()
    return db.scalar(sa.select(PatientRequest))


def messages(db, template: str) -> list[Notification]:
    db.expire_all()
    return list(db.scalars(sa.select(Notification).where(Notification.template == template).order_by(Notification.id)))


def test_asked_on_day_90_and_archived_on_day_111_without_an_answer(db, settings, registered):
    assert run(db, settings, day(89)) == (0, 0)
    assert run(db, settings, day(90)) == (1, 0)
    (asked,) = messages(db, "reconfirmation")
    assert asked.recipient == PHONE and "Répondez OUI" in asked.body and asked.body.endswith(registered["tracking_url"])
    assert "Sans réponse d'ici le 12/03, elle sera archivée." in asked.body, "the last day before the night of day 111"
    assert run(db, settings, day(90, hours=12)) == (0, 0), "asked once, not at every run"
    assert run(db, settings, day(110)) == (0, 0)
    assert run(db, settings, day(111)) == (0, 1)
    request = request_row(db)
    assert request.status is Status.archived
    assert (request.history[-1].to_status, request.history[-1].reason) == (Status.archived, "not_confirmed")
    (told,) = messages(db, "archived")
    assert "répondez OUI" in told.body and told.body.endswith(registered["tracking_url"])
    assert run(db, settings, day(200)) == (0, 0), "an archived request is not asked again"


SAINT_DENIS = {"address": {"line": "2 rue de Paris", "postal_code": "97400", "city": "Saint-Denis"},
               "location": {"lat": -20.8823, "lon": 55.4504}}  # La Réunion: UTC+4


def test_the_nights_questions_reach_each_patient_at_nine_in_their_own_morning(client, db, settings, registered,
                                                                               secretary_a):
    """The pass runs at 03:00 UTC (04:00 in Lille, 07:00 in Saint-Denis de La Réunion): nobody is woken up."""
    client.post("/api/v1/requests", json=request_body(first_name="Alice", phone="0692123456", email=None, **SAINT_DENIS),
                headers=secretary_a)
    assert reconfirm(db, every_days=90, grace_days=21, links=Links.from_settings(settings), per_s=10,
                     now=day(90)).asked == 2
    db.commit()
    dispatch(db, day(90, hours=1))  # the registrations' confirmations go
    assert {m.status for m in messages(db, "reconfirmation")} == {NotificationStatus.created}
    reunion_nine = day(90, hours=2)  # 05:00 UTC
    assert dispatch(db, reunion_nine - timedelta(minutes=1)).sent == 0
    assert dispatch(db, reunion_nine).sent == 1
    assert [m.recipient for m in messages(db, "reconfirmation") if m.status is NotificationStatus.sent] == \
        ["+262692123456"]
    lille_nine = day(90, hours=5)  # 08:00 UTC
    assert dispatch(db, lille_nine - timedelta(minutes=1)).sent == 0
    assert dispatch(db, lille_nine).sent == 1
    assert {m.status for m in messages(db, "reconfirmation")} == {NotificationStatus.sent}


def test_the_nights_questions_go_in_turn_at_the_pace_given(client, db, settings, registered, secretary_a):
    """Thousands may fall due the same night: they go ``per_s`` a second, after those already waiting their turn,
    so that the morning's matches and offers pass between them."""
    for name, phone in (("Bruno", "0611111111"), ("Chloé", "0622222222")):
        client.post("/api/v1/requests", json=request_body(first_name=name, phone=phone, email=None),
                    headers=secretary_a)
    reconfirm(db, every_days=90, grace_days=21, links=Links.from_settings(settings), per_s=4, now=day(90))
    lille_nine = day(90, hours=5)
    assert [m.next_attempt_at for m in messages(db, "reconfirmation")] == \
        [lille_nine + timedelta(seconds=s) for s in (0, 0.25, 0.5)]


FORT_DE_FRANCE = {"address": {"line": "1 rue Victor Hugo", "postal_code": "97200", "city": "Fort-de-France"},
                  "location": {"lat": 14.6037, "lon": -61.0662}}  # La Martinique: UTC-4


def queued_questions(db, settings, client, secretary_a) -> None:
    """The night's questions for the patient in Lille and for one in Fort-de-France with a mainland mobile (her
    daytime is Fort-de-France's: where she lives, not where her number comes from)."""
    client.post("/api/v1/requests", json=request_body(first_name="Mylène", phone="0611223344", email=None,
                                                      **FORT_DE_FRANCE), headers=secretary_a)
    assert reconfirm(db, every_days=90, grace_days=21, links=Links.from_settings(settings), per_s=10,
                     now=day(90)).asked == 2
    db.commit()


def question_to(db, phone: str) -> Notification:
    return next(m for m in messages(db, "reconfirmation") if m.recipient == phone)


def test_questions_the_dispatcher_gets_to_in_the_evening_wait_for_the_next_morning(client, db, settings, registered,
                                                                                   secretary_a):
    """The dispatcher was down from 03:00 to 20:00 UTC: 21:00 in Lille, 16:00 in Fort-de-France. Fort-de-France's
    question goes; Lille's waits for 09:00 the next day rather than reach a patient in the night, while a
    registration's confirmation, which someone waits for, goes at once."""
    queued_questions(db, settings, client, secretary_a)
    evening = day(90, hours=17)
    client.post("/api/v1/requests", json=request_body(first_name="Noé", phone="0699887766", email=None),
                headers=secretary_a)
    assert dispatch(db, evening).sent == 4, "the registrations' three confirmations and Fort-de-France's question"
    assert question_to(db, "+33611223344").status is NotificationStatus.sent
    lille = question_to(db, PHONE)
    assert lille.status is NotificationStatus.created and lille.next_attempt_at == day(91) + timedelta(hours=5)
    assert dispatch(db, day(91, hours=5) - timedelta(seconds=1)).sent == 0
    assert dispatch(db, day(91, hours=5)).sent == 1 and question_to(db, PHONE).status is NotificationStatus.sent


def test_a_question_due_in_fort_de_france_waits_for_its_morning_though_it_is_day_in_paris(client, db, settings,
                                                                                        registered, secretary_a):
    """Its turn was 09:00 there (13:00 UTC); the dispatcher comes back at 08:30 UTC the next day: 09:30 in Paris,
    04:30 in Fort-de-France. Lille's question goes; hers waits for 09:00 in Fort-de-France."""
    queued_questions(db, settings, client, secretary_a)
    assert "d'ici le 11/03" in question_to(db, "+33611223344").body and "d'ici le 12/03" in question_to(db, PHONE).body, \
        "the night of day 111 begins at 20:00 on the 12th in Fort-de-France: her last whole day is the 11th"
    back = day(91, hours=5) + timedelta(minutes=30)
    assert dispatch(db, back).sent == 3, "the two confirmations and Lille's question"
    martinique = question_to(db, "+33611223344")
    assert martinique.status is NotificationStatus.created and martinique.next_attempt_at == day(91, hours=10)
    assert dispatch(db, day(91, hours=10)).sent == 1


def test_messages_held_for_the_morning_go_in_turn_after_those_already_waiting(client, db, settings, registered,
                                                                               secretary_a):
    """Held at 21:00, the evening's questions take the next morning's turns one after the other, at the bulk pace
    (half the provider's: 500 a second here), not all at 09:00: the morning's offers and confirmations pass
    between them."""
    for name, phone in (("Bruno", "0611111111"), ("Chloé", "0622222222")):
        client.post("/api/v1/requests", json=request_body(first_name=name, phone=phone, email=None),
                    headers=secretary_a)
    reconfirm(db, every_days=90, grace_days=21, links=Links.from_settings(settings), per_s=10, now=day(90))
    db.commit()
    dispatch(db, day(90, hours=17))
    morning = day(91) + timedelta(hours=5)
    assert [m.next_attempt_at for m in messages(db, "reconfirmation")] == \
        [morning + timedelta(seconds=s) for s in (0, 0.002, 0.004)]


def test_a_request_back_before_the_morning_is_not_told_it_was_archived(db, settings, registered):
    """Archived at 03:00 on day 111, the notice waits for 09:00; the patient answers the question at 05:00 and
    the request comes back: the notice, which would now say the opposite, is not sent."""
    run(db, settings, day(90))
    assert reconfirm(db, every_days=90, grace_days=21, links=Links.from_settings(settings), per_s=10,
                     now=day(111)).archived == 1
    db.commit()
    assert [m.status for m in messages(db, "archived")] == [NotificationStatus.created]
    handle_reply(db, phone=PHONE, text="oui", now=day(111, hours=2))
    db.commit()
    assert request_row(db).status is Status.waiting
    dispatch(db, day(111) + MORNING)
    assert messages(db, "archived") == []


class WrongNumber(LocalBackend):
    def send(self, message):  # type: ignore[no-untyped-def]
        raise PermanentError("twilio:21211")


def test_a_question_that_never_reached_the_patient_archives_no_one_and_is_asked_again(db, settings, registered):
    """Silence means something only from someone asked: a wrong number must not push a patient off the list.
    Asked again 90 days later, to the number the request has by then."""
    assert run(db, settings, day(90), sms=WrongNumber()) == (1, 0)
    assert messages(db, "reconfirmation")[0].status is NotificationStatus.failed
    assert run(db, settings, day(111)) == (0, 0) and run(db, settings, day(179)) == (0, 0)
    assert request_row(db).status is Status.waiting
    assert run(db, settings, day(180)) == (1, 0)
    assert [m.status for m in messages(db, "reconfirmation")] == [NotificationStatus.failed, NotificationStatus.sent]
    assert run(db, settings, day(200)) == (0, 0) and run(db, settings, day(201)) == (0, 1), "reached: three weeks"


def test_a_patient_with_a_landline_alone_is_not_counted_as_asked_nor_archived(client, db, settings, make_key, org_a,
                                                                                clock):
    client.post("/api/v1/requests", json=request_body(phone="03 20 12 34 56", email=None),
                headers=make_key(org_a, Role.secretary))
    assert run(db, settings, day(90)) == (0, 0) and messages(db, "reconfirmation") == []
    assert run(db, settings, day(111)) == (0, 0) and request_row(db).status is Status.waiting


def test_a_question_reported_undelivered_archives_no_one(db, settings, registered):
    run(db, settings, day(90))
    db.execute(sa.update(Notification).values(delivery_status="undelivered"))  # Twilio's status callback
    db.commit()
    assert run(db, settings, day(111)) == (0, 0)
    assert request_row(db).status is Status.waiting


def test_the_three_weeks_count_from_the_question_sent_not_queued(db, settings, registered):
    """The messages went out five days late (the dispatcher was down): the patient still gets three weeks."""
    assert reconfirm(db, every_days=90, grace_days=21, links=Links.from_settings(settings), per_s=10,
                     now=day(90)).asked == 1
    db.commit()
    dispatch(db, day(95) + MORNING)
    assert run(db, settings, day(111)) == (0, 0)
    assert run(db, settings, day(115)) == (0, 0) and run(db, settings, day(116)) == (0, 1)


def test_an_oui_keeps_the_request_and_the_next_question_comes_90_days_later(db, settings, registered):
    run(db, settings, day(90))
    outcome = handle_reply(db, phone=PHONE, text="Oui merci", now=day(95, hours=8))
    db.commit()
    assert outcome.request_ids == [registered["id"]]
    assert run(db, settings, day(111)) == (0, 0)
    assert request_row(db).status is Status.waiting
    assert run(db, settings, day(184)) == (0, 0)
    assert run(db, settings, day(185)) == (1, 0)
    assert len(messages(db, "reconfirmation")) == 2


def test_the_tracking_page_button_answers_too(client, db, settings, registered, clock):
    run(db, settings, day(90))
    clock["now"] = day(100, hours=10)
    path = registered["tracking_url"].removeprefix("http://127.0.0.1:8000")
    page = client.get(path)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert "reste en attente" in client.post(f"{path}/confirmation", data={"csrf_token": token}).text
    assert run(db, settings, day(111)) == (0, 0)
    assert request_row(db).confirmed_at == day(100, hours=10)


def test_a_patient_who_says_they_still_wait_before_the_question_goes_is_not_asked(client, db, settings, registered,
                                                                                  clock):
    reconfirm(db, every_days=90, grace_days=21, links=Links.from_settings(settings), per_s=10, now=day(90))
    db.commit()
    clock["now"] = day(90, hours=4)  # 07:00 in Lille: the question waits for 09:00
    path = registered["tracking_url"].removeprefix("http://127.0.0.1:8000")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)
    assert "reste en attente" in client.post(f"{path}/confirmation", data={"csrf_token": token}).text
    assert messages(db, "reconfirmation") == []


def test_a_late_answer_brings_an_archived_request_back_with_its_original_date(client, db, settings, registered, clock):
    run(db, settings, day(90))
    run(db, settings, day(111))
    path = registered["tracking_url"].removeprefix("http://127.0.0.1:8000")
    page = client.get(path)
    assert "Votre demande est archivée" in page.text and "Je cherche toujours" in page.text
    clock["now"] = day(130, hours=9)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert "reste en attente" in client.post(f"{path}/confirmation", data={"csrf_token": token}).text
    request = request_row(db)
    assert request.status is Status.waiting and request.waiting_since == NOW
    assert (request.history[-1].from_status, request.history[-1].reason) == (Status.archived, "reconfirmed")
    assert run(db, settings, day(131)) == (0, 0), "it answered: nothing to ask until 90 days later"


def test_a_request_being_offered_is_neither_asked_nor_archived(client, db, settings, registered, make_key, org_a, clock):
    coordinator = make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator)
    clock["now"] = day(80, hours=9)
    assert client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()["requests_offered"] == 1
    assert run(db, settings, day(90)) == (0, 0)
    assert request_row(db).status is Status.offered


def test_a_patient_offered_before_the_morning_is_not_asked_whether_they_still_wait(client, db, settings, registered,
                                                                                    make_key, org_a, clock):
    """The night queued the question for 09:00; the 08:00 round offered them: being offered, they are not asked."""
    coordinator = make_key(org_a, Role.coordinator)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator).json()
    assert reconfirm(db, every_days=90, grace_days=21, links=Links.from_settings(settings), per_s=10,
                     now=day(90)).asked == 1
    db.commit()
    clock["now"] = day(90, hours=4)  # 08:00 in Lille, before the question's turn
    assert client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()["requests_offered"] == 1
    dispatch(db, day(90) + MORNING)
    assert messages(db, "reconfirmation") == []
    assert [m.status for m in messages(db, "batch_offer")] == [NotificationStatus.sent] * 2
    token = client.get(f"/api/v1/cabinets/{cabinet['id']}/link", headers=coordinator).json()["url"].rsplit("/", 1)[1]
    offer = client.get(f"/api/v1/practitioner/{token}").json()["offers"][0]["url"].rsplit("/", 1)[1]
    declined = client.post(f"/api/v1/offers/{offer}/responses",
                           json={"request_id": registered["id"], "decision": "decline"})
    assert declined.status_code == 200, declined.text
    assert run(db, settings, day(91)) == (1, 0), "back in the queue, never asked: asked the next night"


@pytest.mark.parametrize(("phone", "sent_to"), [("07 81 23 45 67", ["+33781234567"]), ("03 20 12 34 56", [])])
def test_a_number_corrected_before_the_morning_gets_the_question_and_the_old_one_nothing(client, db, settings,
                                                                                         registered, phone, sent_to):
    """A secretary corrects a mistyped number at 08:00; the question queued in the night for 09:00 carries the
    patient's link: it goes to the mobile corrected (a landline gets no SMS: the staff call), never to the
    stranger who holds the old number."""
    reconfirm(db, every_days=90, grace_days=21, links=Links.from_settings(settings), per_s=10, now=day(90))
    db.commit()
    corrected = client.patch(f"/api/v1/requests/{registered['id']}", json={"patient": {"phone": phone}},
                             headers=registered["headers"])
    assert corrected.status_code == 200, corrected.text
    dispatch(db, day(90) + MORNING)
    assert [(m.recipient, m.status) for m in messages(db, "reconfirmation")] == [
        (number, NotificationStatus.sent) for number in sent_to]


def test_a_late_oui_does_not_revive_a_request_the_patient_has_since_replaced(client, db, settings, registered):
    run(db, settings, day(90))
    run(db, settings, day(111))
    again = client.post("/api/v1/requests", json=request_body(email=None), headers=registered["headers"])
    assert again.status_code == 201
    handle_reply(db, phone=PHONE, text="OUI", now=day(130, hours=9))
    db.commit()
    db.expire_all()
    statuses = dict(db.execute(sa.select(PatientRequest.id, PatientRequest.status)).all())
    assert statuses == {registered["id"]: Status.archived, again.json()["id"]: Status.waiting}


def test_on_a_family_number_a_reply_acts_on_the_request_last_asked_about(client, db, settings, registered, clock):
    """A parent's mobile on their own GP request and on a child's speech-therapy request, registered ten
    days apart: each question is answered for its own request."""
    clock["now"] = NOW + timedelta(days=10)
    child = client.post("/api/v1/requests", json=request_body(first_name="Léo", birth_date="2019-04-02", email=None)
                        | {"kind": "bilan_orthophonique"}, headers=registered["headers"]).json()["id"]
    assert run(db, settings, day(90)) == (1, 0), "the parent's request only"
    stop = handle_reply(db, phone=PHONE, text="STOP", now=day(91, hours=8))
    db.commit()
    assert (stop.request_ids, stop.reply) == ([registered["id"]], (
        "Votre demande de médecin traitant est retirée de la liste d'attente commune. Vous pouvez vous réinscrire "
        "à tout moment."))
    assert run(db, settings, day(100)) == (1, 0), "now the child's"
    yes = handle_reply(db, phone=PHONE, text="oui", now=day(101, hours=8))
    db.commit()
    assert yes.request_ids == [child] and "bilan orthophonique reste inscrite" in yes.reply
    db.expire_all()
    statuses = dict(db.execute(sa.select(PatientRequest.id, PatientRequest.status)).all())
    assert statuses == {registered["id"]: Status.withdrawn, child: Status.waiting}
    assert db.get(PatientRequest, child).confirmed_at == day(101, hours=8)


def test_with_no_question_asked_a_reply_on_a_family_number_changes_nothing(client, db, registered):
    client.post("/api/v1/requests", json=request_body(first_name="Léo", birth_date="2019-04-02", email=None)
                | {"kind": "bilan_orthophonique"}, headers=registered["headers"])
    outcome = handle_reply(db, phone=PHONE, text="STOP", now=day(5))
    db.commit()
    assert outcome.request_ids == [] and "Plusieurs demandes" in outcome.reply and "lien de suivi" in outcome.reply
    db.expire_all()
    assert set(db.scalars(sa.select(PatientRequest.status))) == {Status.waiting}


def test_an_oui_long_after_the_notice_of_archiving_does_not_bring_the_request_back(db, settings, registered):
    """A stray OUI months later (answering nothing) is no sign the person still waits: the tracking page is."""
    run(db, settings, day(90))
    run(db, settings, day(111))
    outcome = handle_reply(db, phone=PHONE, text="OUI", now=day(111 + 91))
    db.commit()
    assert outcome.request_ids == [] and request_row(db).status is Status.archived


def _twin(client, registered, first_name):
    body = request_body(first_name=first_name, last_name="Martin", birth_date="2019-04-02", email=None)
    answer = client.post("/api/v1/requests", json=body | {"kind": "bilan_orthophonique"}, headers=registered["headers"])
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def test_twins_asked_the_same_night_are_both_kept_by_one_oui_and_a_stop_withdraws_neither(
        client, db, settings, registered, clock):
    """Lou and Max, registered together on their parent's phone; the parent's own request was asked earlier
    and answered."""
    run(db, settings, day(90))
    handle_reply(db, phone=PHONE, text="OUI", now=day(90, hours=9))
    clock["now"] = NOW + timedelta(days=10)
    twins = [_twin(client, registered, "Lou"), _twin(client, registered, "Max")]
    assert run(db, settings, day(100)) == (2, 0), "each twin is asked"
    stop = handle_reply(db, phone=PHONE, text="STOP", now=day(100, hours=9))
    db.commit()
    assert stop.request_ids == [] and "Plusieurs demandes" in stop.reply
    yes = handle_reply(db, phone=PHONE, text="oui", now=day(100, hours=10))
    db.commit()
    assert sorted(yes.request_ids) == twins
    assert yes.reply == "Merci, vos demandes de bilan orthophonique restent inscrites sur la liste d'attente commune."
    assert run(db, settings, day(121)) == (0, 0), "answered: neither twin is archived"
    db.expire_all()
    assert set(db.scalars(sa.select(PatientRequest.status))) == {Status.waiting}


def test_a_grace_too_short_to_give_a_whole_day_to_answer_is_refused_at_start_up():
    """One day: a question reaching Fort-de-France at 09:00 would give yesterday as the last day to answer."""
    with pytest.raises(ValueError, match="greater than or equal to 3"):
        make_settings("sqlite://", requests={"reconfirm_grace_days": 2})
