"""The screens over HTTP: CSRF, rate limits, the honeypot, logins and their lockout, tenancy, dead links,
security headers, the patient's tracking page actions and a cabinet's settings — each refused input leaving nothing
behind."""

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from fastapi.testclient import TestClient

from lac_service.auth import logins
from lac_service.auth.models import Role, User
from lac_service.auth.service import create_organisation, create_user, set_password
from lac_service.cabinets.models import Cabinet
from lac_service.db import create_db_engine, create_session_factory, session_scope
from lac_service.intake.models import PatientRequest, WithdrawReason
from lac_service.kit.clock import utcnow
from lac_service.main import create_app
from lac_service.notifications.models import Notification
from lac_service.notifications.templates import date_fr
from lac_service.offers.models import DeclineReason
from lac_service.offers.service import KEPT_AFTER_DEADLINE
from lac_service.web import duplicate_pages
from lac_service.web.secretary import history_reason
from tests.conftest import NOW, PUBLIC_URL, count_rows, dispatch, make_settings, twilio_post
from tests.payloads import cabinet_body, request_body

PASSWORD = "un mot de passe assez long"


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


def form(client, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf(client.get("/").text), "kind": "medecin_traitant", "patient.first_name": "Élodie",
            "patient.last_name": "Durand", "patient.birth_date": "14/03/1958", "patient.phone": "06 12 34 56 78",
            "patient.address.postal_code": "59000", "patient.address.city": "Lille", "consent": "on", **fields}


SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}  # what a browser adds to a post from the site's own page


def requests_count(db) -> int:
    db.expire_all()
    return db.scalar(sa.select(sa.func.count()).select_from(PatientRequest))


@pytest.fixture
def staff(db, make_org, org_a):
    def make(role: Role, email: str, organisation=None):
        create_user(db, organisation=organisation or org_a, email=email, full_name="Sophie Martin", role=role,
                    password=PASSWORD, now=NOW)
        db.commit()
        return email
    return make


def log_in(client, email: str, password: str = PASSWORD, suite: str = "/equipe"):
    page = client.get("/equipe/connexion")
    return client.post("/equipe/connexion", data={"csrf_token": csrf(page.text), "email": email, "password": password,
                                                  "suite": suite}, follow_redirects=False)


def test_a_form_without_its_csrf_token_is_refused_and_writes_nothing(client, connection, org_a):
    before = count_rows(connection)
    fields = form(client)
    del fields["csrf_token"]
    refused = client.post("/", data=fields, headers=SAME_ORIGIN)
    assert refused.status_code == 403 and "Page expirée" in refused.text
    assert 'value="Élodie"' in refused.text and 'value="06 12 34 56 78"' in refused.text, "the answers come back"
    forged = client.post("/", data={**fields, "csrf_token": "x" * 43})
    assert forged.status_code == 403
    fields = form(client)
    client.cookies.clear()
    client.cookies.set("lac_csrf", "another-nonce")
    stolen = client.post("/", data=fields)
    assert stolen.status_code == 403, "a token is only good with its own cookie"
    assert count_rows(connection) == before


@pytest.mark.parametrize("headers", [SAME_ORIGIN, {"Origin": PUBLIC_URL}], ids=["fetch-metadata", "origin"])
def test_a_registration_whose_page_expired_is_sent_again_from_the_page_that_refused_it(client, db, org_a, headers):
    fields = form(client)
    client.cookies.clear()  # the browser lost its cookie while the tab waited
    refused = client.post("/", data=fields, headers=headers)
    assert refused.status_code == 403 and requests_count(db) == 0 and 'value="Élodie"' in refused.text
    again = client.post("/", data={**fields, "csrf_token": csrf(refused.text)}, follow_redirects=False)
    assert again.status_code == 303 and requests_count(db) == 1


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://autre-site.fr"}, {}],
                         ids=["fetch-metadata", "origin", "neither"])
def test_another_sites_post_to_the_form_is_not_given_back_ready_to_send(client, db, org_a, headers):
    """Another site auto-posting chosen answers (its own e-mail, to get the tracking link) must not get the real
    form filled in, one tap from being sent: only the generic page."""
    fields = {**form(client), "patient.email": "attaquant@exemple.fr"}
    client.cookies.clear()
    refused = client.post("/", data=fields, headers=headers)
    assert refused.status_code == 403 and "Revenez en arrière, rechargez la page" in refused.text
    assert "attaquant@exemple.fr" not in refused.text and "Élodie" not in refused.text
    assert requests_count(db) == 0


def test_an_expired_page_other_than_the_form_says_to_reload_it(client, org_a):
    refused = client.post("/suivi/" + "t" * 43 + "/confirmation", data={})
    assert refused.status_code == 403 and "Revenez en arrière, rechargez la page" in refused.text


def test_the_form_registers_and_sends_to_the_tracking_page(client, db, org_a):
    answer = client.post("/", data=form(client), follow_redirects=False)
    assert answer.status_code == 303
    assert re.fullmatch(r"/suivi/[A-Za-z0-9_-]{40,}\?fait=enregistree", answer.headers["location"])
    page = client.get(answer.headers["location"])
    assert "Votre demande est en attente" in page.text and "Votre demande est enregistrée" in page.text
    assert requests_count(db) == 1
    again = client.post("/", data=form(client))
    assert again.status_code == 409 and "déjà en cours" in again.text and requests_count(db) == 1
    assert "Vous ne l&#39;avez plus ? Appelez l&#39;équipe de coordination" in again.text, "a way forward"


@pytest.mark.parametrize("typed", ["14031958", "1958-03-14", "14.03.1958", " 14 03 1958 "])
def test_a_birth_date_is_read_as_people_type_it(client, db, org_a, typed):
    """A phone's digit keypad has no "/"; a browser's autofill may give the ISO form."""
    answer = client.post("/", data=form(client, **{"patient.birth_date": typed}), follow_redirects=False)
    assert answer.status_code == 303, answer.text
    db.expire_all()
    assert db.scalar(sa.select(PatientRequest.birth_date)).isoformat() == "1958-03-14"


def test_the_21st_submission_from_one_address_in_a_minute_is_refused(client, db, org_a, clock):
    for _ in range(20):
        assert client.post("/", data=form(client, **{"patient.birth_date": "31/02/1958"})).status_code == 422
    refused = client.post("/", data=form(client))
    assert refused.status_code == 429 and "Trop de tentatives" in refused.text
    assert requests_count(db) == 0
    clock["now"] += timedelta(minutes=1)
    assert client.post("/", data=form(client), follow_redirects=False).status_code == 303, "a new minute, a new count"


def test_the_honeypot_answers_thanks_and_registers_nothing(client, db, org_a):
    answer = client.post("/", data=form(client, website="https://spam.example"))
    assert answer.status_code == 200 and "Merci" in answer.text
    assert requests_count(db) == 0


def test_bad_answers_come_back_next_to_their_fields_with_the_rest_kept(client, db, org_a):
    page = client.post("/", data=form(client, **{"patient.birth_date": "14/13/1958", "patient.phone": "12",
                                                 "household.0.first_name": "Léo"}))
    assert page.status_code == 422
    assert 'id="patient-birth_date-error"' in page.text and "Date invalide" in page.text
    assert 'id="patient-phone-error"' in page.text
    assert 'id="household-0-last_name-error"' in page.text, "a half-filled household member is named"
    assert 'value="Élodie"' in page.text and 'value="Léo"' in page.text
    assert '<details class="household" id="household" open>' in page.text
    no_consent = client.post("/", data={k: v for k, v in form(client).items() if k != "consent"})
    assert no_consent.status_code == 422 and 'id="consent-error"' in no_consent.text
    assert requests_count(db) == 0



def summary(page: str) -> list[str]:
    """The lines of the error summary at the top of a form, as a person reads them."""
    block = page.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    return [html.unescape(re.sub(r"<[^>]+>", "", item)).split("\n")[0].strip() for item in block.split("<li>")[1:]]


def test_an_empty_form_says_at_once_what_to_fill_in_each_line_naming_its_field(client, db, org_a):
    """The summary stands without the labels: "Ce champ doit être un texte." four times told nothing; and the
    missing contact came only on a second try, once the rest was right."""
    page = client.post("/", data={"csrf_token": csrf(client.get("/").text)})
    assert page.status_code == 422
    assert sorted(summary(page.text)) == sorted([
        "Choisissez le type de demande.", "Indiquez le prénom.", "Indiquez le nom.",
        "Indiquez la date de naissance (exemple : 14/03/1958).", "Indiquez au moins un téléphone ou une adresse e-mail.",
        "Indiquez le code postal.", "Indiquez la commune.", "Le consentement du patient est obligatoire.",
    ])
    assert requests_count(db) == 0


def test_household_members_typed_on_a_speech_therapy_request_are_refused_not_dropped(client, db, org_a):
    page = client.post("/", data=form(client, kind="bilan_orthophonique", **{
        "household.0.first_name": "Léa", "household.0.last_name": "Durand", "household.0.birth_date": "02/09/2019"}))
    assert page.status_code == 422 and requests_count(db) == 0
    assert summary(page.text) == ["Les membres du foyer s'inscrivent avec une demande de médecin traitant seulement : "
                                  "pour un bilan orthophonique, faites une demande par personne."]
    assert 'href="#household"' in page.text and '<details class="household has-error" id="household" open>' in page.text
    assert 'value="Léa"' in page.text, "what was typed is kept, to be moved or emptied"


def test_a_landline_alone_on_the_public_form_is_told_who_can_register_them_by_phone(client, db, org_a):
    landline = form(client, **{"patient.phone": "03 20 65 43 21"})
    assert summary(client.post("/", data=landline).text) == [
        "Ce numéro est un fixe, qui ne reçoit pas de SMS : donnez un numéro de portable ou une adresse e-mail."]
    org_a.contact_phone = "+33320123456"
    db.commit()
    assert summary(client.post("/", data=form(client, **{"patient.phone": "03 20 65 43 21"})).text) == [
        "Ce numéro est un fixe, qui ne reçoit pas de SMS : donnez un numéro de portable ou une adresse e-mail. Sans "
        "l'un ni l'autre, appelez CPTS cpts-a au 03 20 12 34 56 : l'équipe vous inscrira."]
    assert requests_count(db) == 0

def test_the_intake_screen_speaks_to_the_secretary_and_the_public_form_to_the_patient(client, staff, org_a):
    public = client.get("/").text
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    intake = client.get("/equipe/demandes/nouvelle").text
    for to_the_patient, to_the_secretary in (
        ("Que demandez-vous ?", "Type de demande"), ("Pour vous prévenir", "Pour joindre le patient"),
        ("Votre situation", "Situation du patient"), ("Nous n'appelons pas", "Un fixe seul est possible"),
        ("voient vos coordonnées", "voient ses coordonnées"),
    ):
        assert to_the_patient in public and to_the_patient not in intake
        assert to_the_secretary in intake and to_the_secretary not in public
    assert public.count("(au moins l&#39;un des deux)") == intake.count("(au moins l&#39;un des deux)") == 2

def test_the_tracking_page_gives_the_day_of_registration_in_french_time(client, org_a, clock):
    clock["now"] = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)  # 00:30 on the 23rd in Paris
    url = client.post("/", data=form(client), follow_redirects=False).headers["location"].split("?")[0]
    assert "<dt>Inscrite le</dt><dd>23/11/2026</dd>" in client.get(url).text


def test_the_tracking_page_names_the_person_by_the_first_name_alone(client, make_key, org_a):
    """A parent with two children waiting for a speech-therapy assessment holds two links: the first name tells
    them apart. Nothing else of the person shows: the link may be opened on a phone left unlocked."""
    secretary = make_key(org_a, Role.secretary)
    lea = client.post("/api/v1/requests", json=request_body(first_name="Léa", last_name="Durand"),
                      headers=secretary).json()
    page = client.get(_tracking_path(lea)).text
    assert "<dt>Pour</dt><dd>Léa</dd>" in page
    assert not [told for told in ("Durand", "14/03", "1958", "12 rue") if told in page]
    family = request_body(first_name="Marc", last_name="Durand", phone="0622222222", email=None)
    family["household"] = [{"first_name": name, "last_name": "Durand", "birth_date": "2018-01-01"}
                           for name in ("Jules", "Inès")]
    page = client.get(_tracking_path(client.post("/api/v1/requests", json=family, headers=secretary).json())).text
    assert "<dt>Pour</dt><dd>Marc et 2 personnes de son foyer</dd>" in page and "Jules" not in page


def test_the_patient_confirms_updates_and_withdraws_from_the_tracking_page(client, db, org_a):
    url = client.post("/", data=form(client), follow_redirects=False).headers["location"].split("?")[0]
    page = client.get(url)
    confirmed = client.post(f"{url}/confirmation", data={"csrf_token": csrf(page.text)})
    assert "reste en attente" in confirmed.text
    db.expire_all()
    assert db.scalar(sa.select(PatientRequest.confirmed_at)) is not None

    bad = client.post(f"{url}/contact", data={"csrf_token": csrf(page.text), "patient.phone": "06 12 34 56",
                                             "patient.email": "nouvelle@exemple.fr"})
    assert bad.status_code == 422 and "Numéro de téléphone invalide" in bad.text
    assert 'href="#patient-phone"' in bad.text and 'id="patient-phone-error"' in bad.text, "said at its field"
    assert re.search(r'<input[^>]*id="patient-phone"[^>]*aria-invalid="true"', bad.text)
    assert 'value="06 12 34 56"' in bad.text and 'value="nouvelle@exemple.fr"' in bad.text, "what was typed, kept"
    none = client.post(f"{url}/contact", data={"csrf_token": csrf(page.text), "patient.phone": "", "patient.email": ""})
    assert none.status_code == 422
    db.expire_all()
    assert db.scalar(sa.select(PatientRequest.phone)) == "+33612345678", "a refused change changes nothing"
    changed = client.post(f"{url}/contact", data={"csrf_token": csrf(page.text), "patient.phone": "07 98 76 54 32",
                                                 "patient.email": "elodie@exemple.fr"})
    assert "mises à jour" in changed.text
    db.expire_all()
    assert db.scalar(sa.select(PatientRequest.phone)) == "+33798765432"

    unticked = client.post(f"{url}/retrait", data={"csrf_token": csrf(page.text)})
    assert unticked.status_code == 422 and 'id="confirm-error"' in unticked.text
    gone = client.post(f"{url}/retrait", data={"csrf_token": csrf(page.text), "confirm": "oui"})
    assert "vos données personnelles sont effacées" in gone.text
    db.expire_all()
    assert db.scalar(sa.select(PatientRequest.first_name)) is None
    dead = client.get(url)
    assert dead.status_code == 404 and "Élodie" not in dead.text


def _tracking_path(created: dict) -> str:
    return "/suivi/" + created["tracking_url"].rsplit("/suivi/", 1)[1]


def test_a_closed_requests_tracking_page_still_erases_its_data(client, db, make_key, org_a):
    """The form promises erasure at any time: once withdrawn by the team (or matched, or archived), the link
    still offers it."""
    secretary = make_key(org_a, Role.secretary)
    created = client.post("/api/v1/requests", json=request_body(), headers=secretary).json()
    client.post(f"/api/v1/requests/{created['id']}/withdraw", json={"reason": "found_elsewhere"}, headers=secretary)
    url = _tracking_path(created)
    page = client.get(url)
    assert "Effacer mes données" in page.text and "Retirer ma demande" not in page.text
    unticked = client.post(f"{url}/retrait", data={"csrf_token": csrf(page.text)})
    assert unticked.status_code == 422 and "confirmer l&#39;effacement" in unticked.text
    db.expire_all()
    assert db.scalar(sa.select(PatientRequest.first_name)) == "Élodie", "nothing erased without the box ticked"
    gone = client.post(f"{url}/retrait", data={"csrf_token": csrf(page.text), "confirm": "oui"})
    assert "Données effacées" in gone.text and "retirée de la liste" not in gone.text
    db.expire_all()
    assert db.scalar(sa.select(PatientRequest.first_name)) is None
    assert db.scalar(sa.select(PatientRequest.status)).value == "withdrawn"
    assert client.get(url).status_code == 404


def test_a_merged_duplicates_link_says_the_other_registration_is_followed(client, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    kept = client.post("/api/v1/requests", json=request_body(), headers=coordinator).json()
    twice = client.post("/api/v1/requests", json=request_body(first_name="Elodie", last_name="Durand", phone="0698765432"),
                        headers=coordinator).json()
    merged = client.post(f"/api/v1/requests/{kept['id']}/merge", json={"duplicate_id": twice["id"]}, headers=coordinator)
    assert merged.status_code == 200, merged.text
    page = client.get(_tracking_path(twice))
    assert "regroupée avec l'autre" in page.text and "Pour vous inscrire de nouveau" not in page.text
    assert "effacer cette inscription en double" in page.text
    gone = client.post(f"{_tracking_path(twice)}/retrait", data={"csrf_token": csrf(page.text), "confirm": "oui"})
    assert "Cette inscription en double est effacée" in gone.text and "inscrire de nouveau" not in gone.text
    still = client.get(f"/api/v1/requests/{kept['id']}", headers=coordinator).json()
    assert (still["status"], still["patient"]["first_name"]) == ("waiting", "Élodie")


def test_a_matched_patient_is_warned_before_erasing_and_the_cabinet_sees_it_happened(client, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator)
    created = client.post("/api/v1/requests", json=request_body(), headers=coordinator).json()
    batch = client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()["batches"][0]
    token = batch["offer_url"].rsplit("/", 1)[1]
    client.post(f"/api/v1/offers/{token}/responses", json={"request_id": created["id"], "decision": "accept"})
    page = client.get(_tracking_path(created))
    assert "Le cabinet ne verra plus vos coordonnées" in page.text
    client.post(f"{_tracking_path(created)}/retrait", data={"csrf_token": csrf(page.text), "confirm": "oui"})
    offer = client.get(f"/o/{token}").text
    assert "Le patient a effacé ses données depuis." in offer and "Élodie" not in offer


def test_a_secretary_sends_the_tracking_link_again_from_the_request_page(client, db, staff, make_key, org_a):
    created = client.post("/api/v1/requests", json=request_body(email=None),
                          headers=make_key(org_a, Role.secretary)).json()
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    page = client.get(f"/equipe/demandes/{created['id']}")
    assert "Renvoyer le lien de suivi au patient" in page.text
    forged = client.post(f"/equipe/demandes/{created['id']}/lien", data={})
    assert forged.status_code == 403
    sent = client.post(f"/equipe/demandes/{created['id']}/lien", data={"csrf_token": csrf(page.text)})
    assert sent.status_code == 200 and "Le lien de suivi est envoyé au patient par SMS." in sent.text
    messages = db.scalars(sa.select(Notification).where(Notification.template == "tracking_link")).all()
    assert [(m.channel, m.recipient) for m in messages] == [("sms", "+33612345678")]
    assert created["tracking_url"] in messages[0].body
    client.post(f"/api/v1/requests/{created['id']}/withdraw", json={"reason": "moved"},
                headers=make_key(org_a, Role.secretary))
    page = client.get(f"/equipe/demandes/{created['id']}")
    assert "Renvoyer le lien de suivi" not in page.text
    refused = client.post(f"/equipe/demandes/{created['id']}/lien", data={"csrf_token": csrf(page.text)})
    assert refused.status_code == 409 and "aucun message n&#39;est plus envoyé" in refused.text


def test_no_lock_is_held_while_a_password_is_checked(settings, committed_url, monkeypatch):
    """argon2 takes about 0.1 s. Meanwhile the user's row (PostgreSQL) and the database's write lock (SQLite)
    stay free: otherwise each login attempt would stall the other logins and, on SQLite, every writer."""
    email = "secretaire@cpts-a.fr"
    engine = create_db_engine(committed_url)
    with session_scope(create_session_factory(engine)) as session:
        create_user(session, organisation=create_organisation(session, slug="cpts-a", name="A", now=NOW), email=email,
                    full_name="Sophie Martin", role=Role.secretary, password=PASSWORD, now=NOW)
    probes = []

    class WhileAnotherWrites:
        def hash(self, password: str) -> str:  # the app's start makes the unknown e-mails' hash
            return hasher.hash(password)

        def verify(self, stored: str, password: str) -> bool:
            with engine.connect() as other:
                wait = "PRAGMA busy_timeout = 50" if engine.dialect.name == "sqlite" else "SET lock_timeout = '50ms'"
                other.exec_driver_sql(wait)
                other.execute(sa.update(User).where(User.email == email).values(failed_logins=User.failed_logins))
                other.rollback()
            probes.append("written")
            return hasher.verify(stored, password)

    hasher = logins._hasher
    monkeypatch.setattr(logins, "_hasher", WhileAnotherWrites())
    app = create_app(settings.model_copy(update={"database_url": committed_url}))
    try:
        with TestClient(app) as client:
            assert log_in(client, email).status_code == 303
            assert log_in(client, email, "mauvais mot de passe").status_code == 401
    finally:
        app.state.engine.dispose()
        engine.dispose()
    assert probes == ["written", "written"]


def test_staff_log_in_out_and_are_locked_after_five_wrong_passwords(client, staff, clock):
    email = staff(Role.secretary, "secretaire@cpts-a.fr")
    assert client.get("/equipe", follow_redirects=False).headers["location"] == "/equipe/connexion?suite=/equipe"
    unknown = log_in(client, "personne@cpts-a.fr")
    for _ in range(5):
        wrong = log_in(client, email, "mauvais mot de passe")
        assert wrong.status_code == 401
    assert re.sub(r'value="[^"]*"', "", wrong.text) == re.sub(r'value="[^"]*"', "", unknown.text), \
        "a wrong e-mail and a wrong password read the same"
    assert log_in(client, email).status_code == 401, "locked: even the right password is refused"
    clock["now"] += timedelta(minutes=16)
    opened = log_in(client, email)
    assert opened.status_code == 303 and opened.headers["location"] == "/equipe"
    cookie = opened.headers["set-cookie"]
    assert "lac_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/equipe").status_code == 200
    page = client.get("/equipe")
    out = client.post("/equipe/deconnexion", data={"csrf_token": csrf(page.text)}, follow_redirects=False)
    assert out.headers["location"] == "/equipe/connexion"
    client.cookies.set("lac_session", cookie.split("lac_session=")[1].split(";")[0].strip('"'))
    assert client.get("/equipe", follow_redirects=False).status_code == 303, "a session ended at logout stays ended"


def test_the_login_sends_back_only_into_the_staff_screens(client, staff):
    email = staff(Role.coordinator, "coordination@cpts-a.fr")
    assert log_in(client, email, suite="https://evil.example/").headers["location"] == "/equipe"
    client.cookies.clear()
    assert log_in(client, email, suite="//evil.example/equipe").headers["location"] == "/equipe"
    client.cookies.clear()
    assert log_in(client, email, suite="/equipe/tableau").headers["location"] == "/equipe/tableau"


def test_a_secretary_never_sees_another_organisations_request_nor_the_dashboard(client, db, staff, make_org, make_key):
    org_b = make_org("cpts-b")
    foreign = client.post("/api/v1/requests", json=request_body(first_name="Bérénice"),
                          headers=make_key(org_b, Role.secretary)).json()
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    page = client.get(f"/equipe/demandes/{foreign['id']}")
    assert page.status_code == 404 and "Bérénice" not in page.text
    assert "Bérénice" not in client.get("/equipe?statut=").text
    dashboard = client.get("/equipe/tableau")
    assert dashboard.status_code == 403 and "réservée à la coordination" in dashboard.text
    assert client.get("/equipe/export.csv").status_code == 403


def test_an_admins_round_from_the_dashboard_shows_on_each_organisations_dashboard(client, staff, make_org,
                                                                                  make_key, clock):
    org_b = make_org("cpts-b")
    client.post("/api/v1/requests", json=request_body(), headers=make_key(org_b, Role.secretary))
    log_in(client, staff(Role.admin, "exploitation@lac.fr"))
    page = client.get("/equipe/tableau").text
    ran = client.post("/equipe/tournees", data={"csrf_token": csrf(page), "kind": ""}, follow_redirects=False)
    assert (ran.status_code, ran.headers["location"]) == (303, "/equipe/tableau?tournees=1")
    listed = client.get(ran.headers["location"]).text
    assert "Tournées lancées, une par organisation" in listed
    rounds = listed.split('id="rounds-title"')[1].split("</section>")[0]
    assert '<th scope="col">Organisation</th>' in rounds and "<td>CPTS cpts-a</td>" in rounds \
        and "<td>CPTS cpts-b</td>" in rounds, "an admin sees whose each round is"
    client.cookies.clear()
    log_in(client, staff(Role.coordinator, "coordination@cpts-b.fr", organisation=org_b))
    rounds = client.get("/equipe/tableau").text.split('id="rounds-title"')[1].split("</section>")[0]
    (round_id,) = re.findall(r'href="/equipe/tournees/(\d+)"', rounds)
    assert "0 sur 1" in rounds and "Organisation</th>" not in rounds, "its round, its figures"
    assert client.get(f"/equipe/tournees/{round_id}").status_code == 200


def test_an_id_beyond_the_database_integer_is_a_french_error_page(client, staff):
    log_in(client, staff(Role.coordinator, "coordination@cpts-a.fr"))
    for path in (f"/equipe/demandes/{2**63}", f"/equipe/tournees/{2**40}", f"/equipe/cabinets/{2**31}"):
        page = client.get(path)
        assert page.status_code == 422, path
        assert page.headers["content-type"].startswith("text/html") and "lang=\"fr\"" in page.text


def test_partners_have_no_screen_login(client, staff):
    assert log_in(client, staff(Role.partner, "logiciel@partenaire.fr")).status_code == 303
    assert client.get("/equipe", follow_redirects=False).status_code == 303, "a partner works through the API"


@pytest.fixture
def offered(client, make_key, org_a, clock):
    """Alice, offered to a cabinet on the tests' clock: the batch's page path and link token, and her request id."""
    coordinator = make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator)
    client.post("/api/v1/requests", json=request_body(first_name="Alice"), headers=coordinator)
    batch = client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()["batches"][0]
    (request_id,) = batch["request_ids"]
    return {"headers": coordinator, "cabinet_id": batch["cabinet_id"], "request_id": request_id,
            "path": batch["offer_url"].removeprefix("http://127.0.0.1:8000"), "token": batch["offer_url"].rsplit("/", 1)[1]}


def test_an_expired_offer_link_says_so_in_french_and_shows_nothing(client, offered, clock):
    path = offered["path"]
    assert "Alice" in client.get(path).text
    clock["now"] += timedelta(days=15)
    past = client.get(path)
    assert past.status_code == 200 and "Le délai de réponse est passé" in past.text and "Alice" not in past.text
    clock["now"] += KEPT_AFTER_DEADLINE
    expired = client.get(path)
    assert expired.status_code == 404 and "n&#39;est plus ouverte" in expired.text and "Alice" not in expired.text
    assert client.get("/o/" + "A" * 43).status_code == 404
    truncated = client.get("/o/short")
    assert truncated.status_code == 422 and "vérifiez le lien" in truncated.text


def test_a_patient_accepted_on_the_last_day_can_still_be_called_the_next(client, offered, clock):
    path = offered["path"]
    clock["now"] += timedelta(days=13, hours=23)
    client.post(f"/api/v1/offers/{offered['token']}/responses",
                json={"request_id": offered["request_id"], "decision": "accept"})
    clock["now"] += timedelta(days=2)
    page = client.get(path).text
    assert "1 patient accepté pour le cabinet : " in page and 'href="tel:+33612345678">06 12 34 56 78</a>' in page
    assert "Accepter" not in page
    link = client.get(f"/api/v1/cabinets/{offered['cabinet_id']}/link", headers=offered["headers"]).json()["url"]
    standing = client.get(link.removeprefix("http://127.0.0.1:8000")).text
    assert "1 patient accepté, coordonnées sur la page" in standing and path in standing



def test_an_accepted_patients_address_opens_whole_in_a_mail_program(client, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator)
    client.post("/api/v1/requests", json=request_body(email="elodie+lac?rdv#2@exemple.fr"), headers=coordinator)
    batch = client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()["batches"][0]
    token = batch["offer_url"].rsplit("/", 1)[1]
    client.post(f"/api/v1/offers/{token}/responses", json={"request_id": batch["request_ids"][0], "decision": "accept"})
    page = client.get(f"/o/{token}").text
    assert '<a href="mailto:elodie+lac%3Frdv%232@exemple.fr">elodie+lac?rdv#2@exemple.fr</a>' in page

SAINT_DENIS = {"address": {"line": "2 rue de Paris", "postal_code": "97400", "city": "Saint-Denis"},
               "location": {"lat": -20.8823, "lon": 55.4504}}  # La Réunion: UTC+4


def test_a_practitioner_in_reunion_reads_deadlines_and_days_in_reunion_time(client, make_key, org_a, clock):
    """Saint-Denis is 3 hours ahead of Paris in winter: "avant 18h00" in Paris time would be 21h00 there."""
    coordinator = make_key(org_a, Role.coordinator)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(**SAINT_DENIS), headers=coordinator).json()
    client.post("/api/v1/requests", json=request_body(first_name="Alice", phone="0692123456", **SAINT_DENIS),
                headers=coordinator)
    batch = client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()["batches"][0]
    deadline, reunion = datetime.fromisoformat(batch["expires_at"]), ZoneInfo("Indian/Reunion")
    assert date_fr(deadline, reunion) != date_fr(deadline)
    page = client.get(batch["offer_url"].removeprefix("http://127.0.0.1:8000")).text
    assert f"Répondez avant le <strong>{date_fr(deadline, reunion)}</strong>" in page
    link = client.get(f"/api/v1/cabinets/{cabinet['id']}/link", headers=coordinator).json()["url"]
    standing = client.get(link.removeprefix("http://127.0.0.1:8000")).text
    assert f"avant le {date_fr(deadline, reunion)}" in standing and date_fr(deadline) not in standing


def test_a_patient_in_reunion_registered_late_at_night_reads_their_own_day(client, org_a, clock):
    clock["now"] = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)  # 01:30 on the 24th in Saint-Denis
    created = client.post("/api/v1/requests", json=request_body(phone="0692123456", **SAINT_DENIS))
    page = client.get(created.json()["tracking_url"].removeprefix("http://127.0.0.1:8000")).text
    assert "<dt>Inscrite le</dt><dd>24/11/2026</dd>" in page


def test_the_request_page_says_which_cabinets_it_went_to_and_what_each_answered(client, offered, staff, clock):
    """The question on the phone: "has a doctor got my file?"."""
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))

    def offers() -> str:
        page = client.get(f"/equipe/demandes/{offered['request_id']}").text
        section = between(page, "Propositions aux cabinets", "Messages échangés avec le patient")
        return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", section).split()))

    assert offers() == ("Propositions aux cabinets Date Cabinet Réponse dimanche 22 novembre à 10h00 Maison de santé "
                        "Wazemmes en attente de sa réponse, jusqu'au dimanche 6 décembre à 10h00")
    clock["now"] += timedelta(hours=3)
    client.post(f"/api/v1/offers/{offered['token']}/responses",
                json={"request_id": offered["request_id"], "decision": "decline", "reason": "too_far"})
    assert offers().endswith("Maison de santé Wazemmes déclinée : trop loin")
    page = client.get(f"/equipe/demandes/{offered['request_id']}").text
    assert "Proposée (envoyée à un cabinet)" in page and "(offered)" not in page
    opened = client.get(f"/equipe/demandes/{offered['request_id']}/modifier", follow_redirects=False)
    assert opened.headers["location"] == f"/equipe/demandes/{offered['request_id']}", "a form's address opened later"

@pytest.mark.parametrize("ending", ["deadline", "cabinet_removed"])
def test_an_offer_left_unanswered_or_closed_says_so_on_the_request_page(client, offered, staff, clock, ending):
    if ending == "deadline":
        clock["now"] += timedelta(days=15)
    else:
        assert client.delete(f"/api/v1/cabinets/{offered['cabinet_id']}", headers=offered["headers"]).status_code == 204
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    page = html.unescape(client.get(f"/equipe/demandes/{offered['request_id']}").text)
    said = "restée sans réponse" if ending == "deadline" else "proposition close (cabinet retiré ou lien remplacé)"
    assert f"Maison de santé Wazemmes</td>\n    <td>{said}</td>" in page and "en attente de sa réponse" not in page

def test_a_secretary_withdraws_a_request_and_a_reload_withdraws_nothing_again(client, db, make_key, org_a, staff):
    created = client.post("/api/v1/requests", json=request_body(), headers=make_key(org_a, Role.secretary)).json()
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    path = f"/equipe/demandes/{created['id']}"
    token = csrf(client.get(path).text)
    no_reason = client.post(f"{path}/retrait", data={"csrf_token": token})
    assert no_reason.status_code == 422 and "Choisissez la raison du retrait." in no_reason.text
    done = client.post(f"{path}/retrait", data={"csrf_token": token, "reason": "moved"}, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, f"{path}?retiree=1")
    page = client.get(done.headers["location"]).text
    assert "La demande est retirée de la file d&#39;attente." in page and "Retirée (a déménagé)" in page
    db.expire_all()
    assert db.get(PatientRequest, created["id"]).status == "withdrawn"

def test_a_name_searched_in_the_waiting_list_points_to_the_same_name_under_other_statuses(client, offered, staff):
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    page = client.get("/equipe?statut=waiting&q=alice").text
    status = html.unescape(re.sub(r"<[^>]+>", "", page.split('<p role="status">', 1)[1].split("</p>", 1)[0]))
    assert status == ("0 demande, par ordre de priorité. 1 autre correspond à « alice » sous un autre statut : la voir "
                      "avec tous les statuts.")
    link = html.unescape(re.search(r'<a href="(\?statut=&[^"]+)">la voir', page).group(1))
    assert f"/equipe/demandes/{offered['request_id']}" in client.get("/equipe" + link).text
    assert "autre statut" not in client.get("/equipe?statut=waiting&q=personne").text
    assert "autre statut" not in client.get("/equipe?statut=&q=alice").text

def test_every_answer_on_a_link_page_sends_back_to_the_page_so_a_reload_sends_nothing_again(client, offered):
    """A phone restoring a tab, or a bookmark, opens the address last shown: a page, never an action's address
    (which once answered "Méthode non autorisée")."""
    path, request_id = offered["path"], offered["request_id"]
    answered = client.post(f"{path}/reponse", data={"csrf_token": csrf(client.get(path).text),
                                                    "request_id": str(request_id), "decision": "accept"},
                           follow_redirects=False)
    assert (answered.status_code, answered.headers["location"]) == (303, f"{path}?reponse=acceptee#patient-{request_id}")
    assert "Patient accepté : ses coordonnées sont ci-dessous" in client.get(answered.headers["location"]).text
    assert "Patient accepté :" not in client.get(path).text, "said once, not on every later visit"

    standing = client.get(f"/api/v1/cabinets/{offered['cabinet_id']}/link",
                          headers=offered["headers"]).json()["url"].removeprefix("http://127.0.0.1:8000")
    paused = client.post(f"{standing}/pause", data={"csrf_token": csrf(client.get(standing).text)},
                         follow_redirects=False)
    assert (paused.status_code, paused.headers["location"]) == (303, f"{standing}?fait=pause")
    assert "Participation en pause : vous ne recevrez plus" in client.get(paused.headers["location"]).text
    asked = client.post(f"{standing}/lot", data={"csrf_token": csrf(client.get(standing).text)}, follow_redirects=False)
    assert (asked.status_code, asked.headers["location"]) == (303, f"{standing}?fait=personne-garde")
    assert "Personne en attente ne vous correspond" in client.get(asked.headers["location"]).text
    assert "Participation en pause" not in client.get(paused.headers["location"]).text, "resumed since: not said"
    for count in ("²", "9" * 5000, "0"):
        assert client.get(f"{standing}?fait=lot&patients={count}").status_code == 200, "a crafted address is no error"

    tracking = client.post("/", data=form(client), follow_redirects=False).headers["location"].split("?")[0]
    confirmed = client.post(f"{tracking}/confirmation", data={"csrf_token": csrf(client.get(tracking).text)},
                            follow_redirects=False)
    assert (confirmed.status_code, confirmed.headers["location"]) == (303, f"{tracking}?fait=confirmee")
    assert "Merci : votre demande reste en attente." in client.get(confirmed.headers["location"]).text
    changed = client.post(f"{tracking}/contact", data={"csrf_token": csrf(client.get(tracking).text),
                                                       "patient.phone": "06 99 88 77 66"}, follow_redirects=False)
    assert (changed.status_code, changed.headers["location"]) == (303, f"{tracking}?fait=coordonnees")

    for page, action in ((path, "reponse"), (standing, "lot"), (standing, "pause"), (tracking, "confirmation"),
                         (tracking, "retrait")):
        opened = client.get(f"{page}/{action}", follow_redirects=False)
        assert (opened.status_code, opened.headers["location"]) == (303, page), action
    assert client.head(tracking, follow_redirects=False).status_code == 405, "a link checker's HEAD goes nowhere"
    assert client.get("/suivi/%E2%82%AC/retrait", follow_redirects=False).headers["location"] == "/suivi/%E2%82%AC"
    assert client.get(f"{tracking}/nulle-part", follow_redirects=False).status_code == 404, "no form posts there"

def test_a_practitioner_declines_in_two_taps_without_giving_a_reason(client, db, offered):
    path, request_id = offered["path"], offered["request_id"]
    page = client.get(path).text
    assert re.search(r'<select[^>]*name="reason">\s*<option value="">Sans préciser</option>', page), "the default"
    answered = client.post(f"{path}/reponse", data={"csrf_token": csrf(page), "request_id": str(request_id),
                                                    "decision": "decline", "reason": ""})
    assert answered.status_code == 200, answered.text
    assert "Patient décliné" in answered.text and "<strong>Décliné</strong>." in answered.text
    db.expire_all()
    assert db.get(PatientRequest, request_id).status == "waiting"


@pytest.mark.parametrize("tampered", ["99999999999999999999", "-1", "0", "٣", "abc", ""])
def test_a_tampered_patient_in_a_practitioners_answer_is_not_recognised(client, db, offered, tampered):
    """A hidden field edited by hand: the same page with its message, never a server error."""
    path = offered["path"]
    answered = client.post(f"{path}/reponse", data={"csrf_token": csrf(client.get(path).text), "request_id": tampered,
                                                    "decision": "accept"})
    assert answered.status_code == 422 and "Réponse non reconnue." in answered.text
    db.expire_all()
    assert db.get(PatientRequest, offered["request_id"]).status == "offered"


def test_pages_carry_the_security_headers(client, org_a):
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in page.headers, "HSTS only behind HTTPS"
    assert "style=" not in page.text and "<script" not in page.text
    css = client.get("/static/lac.css")
    assert css.status_code == 200 and "font-family" in css.text


def test_behind_https_cookies_are_secure_and_hsts_is_sent(settings, engine, session_factory, org_a):
    from fastapi.testclient import TestClient

    from lac_service.main import create_app

    secure = make_settings(settings.database_url, public_base_url="https://lac.cpts-exemple.fr")
    with TestClient(create_app(secure, engine=engine, session_factory=session_factory),
                    base_url="https://testserver") as client:
        page = client.get("/")
        assert "max-age=" in page.headers["strict-transport-security"]
        assert "Secure" in page.headers["set-cookie"] and "SameSite=lax" in page.headers["set-cookie"]


def test_a_referral_link_records_the_cabinet_that_sent_the_patient(client, db, make_key, org_a):
    coordinator = make_key(org_a, Role.coordinator)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(channels=[]), headers=coordinator).json()
    link = client.get(f"/api/v1/cabinets/{cabinet['id']}/link", headers=coordinator).json()["url"]
    referral = client.get("/api/v1/practitioner/" + link.rsplit("/", 1)[1]).json()["referral_url"]
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/\?ref=[A-Z2-9]{8}", referral)
    page = client.get(referral.removeprefix("http://127.0.0.1:8000"))
    code = referral.rsplit("=", 1)[1]
    assert f'name="ref" value="{code}"' in page.text
    client.post("/", data={**form(client), "ref": code.lower()}, follow_redirects=False)
    client.post("/", data={**form(client, **{"patient.first_name": "Paul", "patient.phone": "07 98 76 54 31"}),
                           "ref": "INCONNU"}, follow_redirects=False)
    db.expire_all()
    referred = dict(db.execute(sa.select(PatientRequest.first_name, PatientRequest.referred_by_cabinet_id)).all())
    assert referred == {"Élodie": cabinet["id"], "Paul": None}, "an unknown code registers the patient all the same"
    staff_view = client.get("/api/v1/requests", headers=coordinator).json()["items"]
    assert {r["referred_by_cabinet_id"] for r in staff_view} == {cabinet["id"], None}


@pytest.mark.parametrize(("kinds", "who"), [
    (["medecin_traitant"], "un patient sans médecin traitant :"),
    (["bilan_orthophonique"], "un patient qui attend un bilan orthophonique :"),
    (["medecin_traitant", "bilan_orthophonique"], "un patient sans médecin traitant ou qui attend un bilan orthophonique :"),
])
def test_the_practitioner_page_names_whom_to_refer_and_the_day_its_next_batch_may_come(client, make_key, org_a,
                                                                                      clock, kinds, who):
    coordinator = make_key(org_a, Role.coordinator)
    cabinet = client.post("/api/v1/cabinets", json=cabinet_body(kinds=kinds, cadence_days=30), headers=coordinator).json()
    client.post("/api/v1/requests", json=request_body(), headers=coordinator)
    client.post("/api/v1/matching/runs", json={}, headers=coordinator)
    link = client.get(f"/api/v1/cabinets/{cabinet['id']}/link", headers=coordinator).json()["url"]
    page = html.unescape(client.get(link.removeprefix("http://127.0.0.1:8000")).text)
    assert f"<h1>Ma participation : {cabinet['name']}</h1>" in page
    assert f"Donnez ce lien à {who} il s'inscrit lui-même" in page
    if kinds != ["bilan_orthophonique"]:  # the batch went out: the next one comes after the cadence, on a day
        assert "<dt>Prochaine proposition</dt><dd>À partir du mardi 22 décembre</dd>" in page

def test_a_person_gets_an_error_page_and_a_partner_gets_json(client, org_a):
    page = client.get("/nulle-part")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Introuvable" in page.text and 'href="/"' in page.text
    api = client.get("/api/v1/nulle-part")
    assert api.status_code == 404 and api.json()["code"] == "not_found"


def test_a_secretary_merges_a_flagged_pair_on_the_duplicates_page(client, db, staff, make_key, org_a, clock):
    headers = make_key(org_a, Role.secretary)
    older = client.post("/api/v1/requests", json=request_body(phone="0611111111", email=None), headers=headers).json()
    clock["now"] += timedelta(days=30)
    newer = client.post("/api/v1/requests", json=request_body(first_name="Durand-Lefèvre", last_name="Élodie",
                                                              phone="0622222222", email=None), headers=headers).json()
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    page = client.get("/equipe/doublons")
    assert "Mêmes noms, dans un autre ordre" in page.text and f"n° {newer['id']}" in page.text
    decision = {"csrf_token": csrf(page.text), "first": str(older["id"]), "second": str(newer["id"]),
                "decision": "merge"}
    sent = client.post("/equipe/doublons", data=decision, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"] == f"/equipe/doublons?fusionnee={older['id']}"
    merged = client.get(sent.headers["location"])  # a reload asks for this page: the merge is not sent again
    assert f"la demande n° {older['id']} est gardée" in merged.text
    assert "Aucun doublon possible" in merged.text
    statuses = dict(db.execute(sa.select(PatientRequest.id, PatientRequest.status)).all())
    assert statuses == {older["id"]: "waiting", newer["id"]: "withdrawn"}
    for untrue in (newer["id"], "²", "9" * 30, "-1"):  # no merge kept it: no notice says so
        page = client.get(f"/equipe/doublons?fusionnee={untrue}")
        assert page.status_code == 200 and "Demandes fusionnées" not in page.text
    forged = client.post("/equipe/doublons", data={"csrf_token": csrf(page.text), "first": "x", "second": "1",
                                                   "decision": "merge"})
    assert forged.status_code == 422
    twice = client.post("/equipe/doublons", data=decision)  # a second click, sent before the first answer showed
    assert twice.status_code == 409 and f"La demande n° {newer['id']} n&#39;est plus en attente." in twice.text
    assert_summary_links_lead_to_fields(twice.text)


def assert_summary_links_lead_to_fields(page: str) -> None:
    """Each error in the summary at the top of a page links to the field it is about, which exists."""
    summary = page.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    for target in re.findall(r'href="#([^"]+)"', summary):
        assert f'id="{target}"' in page, f"#{target} leads nowhere"


def test_the_duplicates_page_says_when_more_pairs_wait_than_it_shows(client, staff, make_key, org_a, monkeypatch):
    monkeypatch.setattr(duplicate_pages, "_SHOWN", 2)
    headers = make_key(org_a, Role.secretary)
    for n, born in enumerate(("1981-01-01", "1982-02-02", "1983-03-03")):
        for first, last in (("Lou", "Martin"), ("Martin", "Lou")):
            client.post("/api/v1/requests", json=request_body(first_name=first, last_name=last, birth_date=born,
                                                              phone=None, email=f"{first}{n}@exemple.fr"), headers=headers)
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    page = client.get("/equipe/doublons").text
    assert "3 paires possibles : les 2 plus anciennes sont affichées" in page
    assert page.count("Ce sont deux personnes") == 2
    first, second = re.findall(r'name="(?:first|second)" value="(\d+)"', page)[:2]
    sent = client.post("/equipe/doublons", data={"csrf_token": csrf(page), "first": first, "second": second,
                                                 "decision": "distinct"}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"] == "/equipe/doublons?distinctes=1"
    page = client.get(sent.headers["location"]).text
    assert "ce sont deux personnes, elles ne seront plus signalées" in page
    assert "paires possibles" not in page and page.count("Ce sont deux personnes") == 2  # the third came up


def _cabinet_form(page: str, **fields: str) -> dict[str, str]:
    """The form as a browser sends it: its hidden fields, and the answers."""
    hidden = dict(re.findall(r'<input type="hidden" name="(once)" value="([^"]*)">', page))
    return {**hidden, "csrf_token": csrf(page), "name": "Maison de santé du Centre", "kinds.medecin_traitant": "on",
            "address.line": "3 place de la Nouvelle Aventure", "address.postal_code": "59000", "address.city": "Lille",
            "radius_km": "15", "batch_size": "8", "cadence_days": "42", "channels.email": "on",
            "emails": "cabinet@exemple.fr", **fields}


def test_a_wrong_number_among_a_cabinets_numbers_is_named_at_their_field(client, db, staff):
    assert log_in(client, staff(Role.coordinator, "coord@cpts-a.fr")).status_code == 303
    page = client.get("/equipe/cabinets/nouveau").text
    refused = client.post("/equipe/cabinets/nouveau", data=_cabinet_form(page, **{
        "channels.sms": "on", "phones": "06 12 34 56 78, 12", "emails": "cabinet@exemple.fr, cabinet@"}))
    assert refused.status_code == 422
    assert re.search(r'id="phones-error">.*« 12 » : Numéro de téléphone invalide', refused.text)
    assert re.search(r'id="emails-error">.*« cabinet@ » : ', refused.text)
    assert_summary_links_lead_to_fields(refused.text)
    assert db.scalar(sa.select(sa.func.count()).select_from(Cabinet)) == 0


def test_a_double_click_on_a_new_cabinet_registers_it_once(client, db, staff):
    """Two sendings of the same page: one cabinet (two would each get batches), and both answers lead to it."""
    assert log_in(client, staff(Role.coordinator, "coord@cpts-a.fr")).status_code == 303
    filled = _cabinet_form(client.get("/equipe/cabinets/nouveau").text)
    first = client.post("/equipe/cabinets/nouveau", data=filled, follow_redirects=False)
    second = client.post("/equipe/cabinets/nouveau", data=filled, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert db.scalar(sa.select(sa.func.count()).select_from(Cabinet)) == 1
    another = client.post("/equipe/cabinets/nouveau", data=_cabinet_form(client.get("/equipe/cabinets/nouveau").text,
                                                                        name="Cabinet du Nord"))
    assert another.status_code == 200 and db.scalar(sa.select(sa.func.count()).select_from(Cabinet)) == 2, \
        "a new page is a new cabinet"


def test_a_coordinator_registers_a_cabinet_then_changes_its_settings_and_its_address(client, db, staff):
    assert log_in(client, staff(Role.coordinator, "coord@cpts-a.fr")).status_code == 303
    created = client.post("/equipe/cabinets/nouveau", data=_cabinet_form(client.get("/equipe/cabinets/nouveau").text),
                          follow_redirects=False)
    assert created.status_code == 303, created.text
    path = created.headers["location"].split("?")[0]
    page = client.get(created.headers["location"])
    assert "Le cabinet est enregistré." in page.text
    cabinet = db.scalar(sa.select(Cabinet))
    lille = (cabinet.lat, cabinet.lon)

    saved = client.post(path, data=_cabinet_form(page.text, radius_km="20", batch_size="5",
                                                 patient_phone="03 20 99 88 77"), follow_redirects=False)
    assert (saved.status_code, saved.headers["location"]) == (303, f"{path}?regle=1"), "a reload sends nothing again"
    settings = client.get(saved.headers["location"])
    assert settings.status_code == 200 and "Les réglages du cabinet sont enregistrés." in settings.text
    db.expire_all()
    assert (cabinet.radius_km, cabinet.batch_size, (cabinet.lat, cabinet.lon)) == (20, 5, lille)
    assert cabinet.patient_phone == "+33320998877" and 'value="03 20 99 88 77"' in settings.text

    wrong = client.post(path, data=_cabinet_form(settings.text, **{"address.postal_code": "59100",
                                                                  "address.city": "Marseille", "radius_km": "30"}))
    assert wrong.status_code == 422 and 'value="Marseille"' in wrong.text
    assert re.findall(r'<li><a href="(#[^"]+)">([^<]+)', wrong.text) == [
        ("#address-city", "La commune « Marseille » ne correspond pas au code postal 59100. "
                          "Ce code postal correspond à : Roubaix.")
    ]
    db.expire_all()
    assert (cabinet.city, cabinet.radius_km) == ("Lille", 20), "a refused change leaves the cabinet as it was"

    moved = client.post(path, data=_cabinet_form(settings.text, **{"address.line": "1 Grand Place",
                                                                  "address.postal_code": "59100",
                                                                  "address.city": "Roubaix"}))
    assert moved.status_code == 200 and "Les réglages du cabinet sont enregistrés." in moved.text
    db.expire_all()
    assert cabinet.city == "Roubaix" and (cabinet.lat, cabinet.lon) != lille


def test_a_password_replaced_while_the_old_one_was_being_checked_opens_nothing(db, session_factory, org_a):
    """The check runs outside any lock: a ``lac user set-password`` landing meanwhile must win."""
    email, new = "secretaire@cpts-a.fr", "une toute nouvelle phrase de passe"
    user = create_user(db, organisation=org_a, email=email, full_name="Sophie Martin", role=Role.secretary,
                       password=PASSWORD, now=NOW)
    db.commit()
    verified = logins.check_password(session_factory, email=email, password=PASSWORD)
    assert verified is not None
    set_password(db, user, new)
    db.commit()
    assert logins.log_in(db, email=email, verified=verified, now=NOW) is None
    assert logins.log_in(db, email=email, verified=logins.check_password(session_factory, email=email, password=new),
                         now=NOW) is not None


def test_the_history_on_the_request_page_is_in_french(client, make_key, org_a, staff):
    coordinator = make_key(org_a, Role.coordinator)
    client.post("/api/v1/cabinets", json=cabinet_body(), headers=coordinator)
    created = client.post("/api/v1/requests", json=request_body(), headers=coordinator).json()
    batch = client.post("/api/v1/matching/runs", json={}, headers=coordinator).json()["batches"][0]
    client.post(f"/api/v1/offers/{batch['offer_url'].rsplit('/', 1)[1]}/responses",
                json={"request_id": created["id"], "decision": "decline", "reason": "too_far"})
    client.post(f"/api/v1/requests/{created['id']}/withdraw", json={"reason": "moved"}, headers=coordinator)
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    page = client.get(f"/equipe/demandes/{created['id']}").text
    history = page[page.index("<h2>Historique</h2>"):]
    assert "(déclinée par le cabinet : trop loin)" in history and "(a déménagé)" in history
    assert history_reason("declined:outside_practice") == "déclinée par le cabinet : hors de sa pratique"
    assert "too_far" not in history and "moved" not in history


@pytest.mark.parametrize("code", [*WithdrawReason, "accepted", "declined", "expired", "offer_closed", "reconfirmed",
                                  "not_confirmed", *(f"declined:{reason}" for reason in DeclineReason)])
def test_every_reason_the_history_keeps_has_its_french_words(code):
    assert history_reason(code) != code


def between(page: str, heading: str, next_heading: str) -> str:
    """One section of a page: from its heading to the next one's."""
    return page[page.index(f"<h2>{heading}</h2>"):page.index(f"<h2>{next_heading}</h2>")]


def test_the_request_page_says_which_messages_reached_the_patient(client, db, make_key, org_a, staff):
    """The first question when a patient calls: were they told? The page answers, message by message."""
    created = client.post("/api/v1/requests", json=request_body(), headers=make_key(org_a, Role.coordinator)).json()
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))

    def messages() -> str:
        return between(client.get(f"/equipe/demandes/{created['id']}").text, "Messages échangés avec le patient", "Historique")

    queued = messages()
    assert queued.count("Confirmation d&#39;inscription") == 2 and queued.count("à envoyer") == 2
    assert "SMS (06 12 34 56 78)" in queued and "e-mail (" in queued
    dispatch(db, utcnow())
    db.execute(sa.update(Notification).where(Notification.channel == "sms").values(delivery_status="undelivered"))
    db.commit()
    told = messages()
    assert "non remis (signalé par l&#39;opérateur)" in told and told.count("envoyé") == 1
    db.execute(sa.update(Notification).where(Notification.channel == "email").values(delivery_status="bounced"))
    db.commit()
    returned = messages()
    assert "non remis (renvoyé par la messagerie du destinataire)" in returned and "e-mail (" in returned


def test_the_privacy_page_says_how_long_requests_and_messages_are_kept_as_configured(client, app):
    page = " ".join(client.get("/confidentialite").text.split())
    assert "pendant 90 jours, les messages échangés" in page and "puis 365 jours après sa clôture" in page
    assert "qui efface le texte de chaque SMS au plus tard 48 heures après l'envoi" in page.replace("&#39;", "'")
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={
        "notifications": settings.notifications.model_copy(update={"keep_days": 30, "twilio_redact_after_hours": 0}),
        "requests": settings.requests.model_copy(update={"purge_after_days": 180})})
    try:
        page = " ".join(client.get("/confidentialite").text.split())
    finally:
        app.state.settings = settings
    assert "pendant 30 jours, les messages échangés" in page and "puis 180 jours après sa clôture" in page
    assert "qui efface le texte de chaque SMS quand vos données sont effacées" in page, "redaction turned off"


def test_the_form_gives_the_default_distances_the_deployment_chose(client, app):
    page = " ".join(client.get("/").text.split())
    assert "Par défaut : 30 km pour un médecin traitant, 50 km pour un bilan orthophonique." in page
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"requests": settings.requests.model_copy(update={
        "max_distance_km_medecin_traitant": 15, "max_distance_km_bilan_orthophonique": 62.5})})
    try:
        page = " ".join(client.get("/").text.split())
    finally:
        app.state.settings = settings
    assert "Par défaut : 15 km pour un médecin traitant, 62,5 km pour un bilan orthophonique." in page


def test_the_privacy_page_names_what_a_cabinet_sees_before_it_accepts(client, offered):
    """The offer page shows the priority's reasons (health data: an ALD, a pregnancy) before any answer: the
    notice must say so, not only "prénom, âge et distance"."""
    offer_page = " ".join(client.get(offered["path"]).text.split())
    assert "Priorité : Affection de longue durée (ALD)" in offer_page
    privacy = " ".join(client.get("/confidentialite").text.split()).replace("&#39;", "'")
    assert "ce qui rend votre demande prioritaire (par exemple une ALD" in privacy
    assert "l'âge des membres de votre foyer" in privacy
    assert "les logiciels des partenaires avec lesquels elle travaille" in privacy, "a partner's key reads requests"


def test_the_request_page_shows_what_the_patient_wrote_by_sms_and_the_answer(client, db, make_key, org_a, staff,
                                                                            twilio_app):
    """« I answered your message! »: the secretary reads the patient's SMS, in their words (not OUI or STOP
    alone), and the answer the service sent."""
    created = client.post("/api/v1/requests", json=request_body(), headers=make_key(org_a, Role.coordinator)).json()
    words = "<b>Toujours</b> intéressée, je suis joignable le soir"
    assert twilio_post(client, "/api/v1/twilio/messages", {"From": "+33612345678", "Body": words,
                                                           "MessageSid": "SM" + "7" * 32}).status_code == 200
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    messages = between(client.get(f"/equipe/demandes/{created['id']}").text, "Messages échangés avec le patient", "Historique")
    assert f"SMS reçu : « {html.escape(words)} »</td>" in messages
    assert "<td>reçu</td>" in messages and "Réponse à son SMS" in messages and "<b>" not in messages


def test_a_cabinets_page_says_whether_its_batches_reached_it(client, db, offered, staff, clock):
    """"We never got anything": the coordinator sees each batch message, by SMS and by e-mail, and its fate."""
    log_in(client, staff(Role.coordinator, "coordination@cpts-a.fr"))

    def messages() -> str:
        return between(client.get(f"/equipe/cabinets/{offered['cabinet_id']}").text, "Messages échangés avec le cabinet",
                       "Remplacer le lien du praticien")

    queued = messages()
    assert queued.count("Lot de patients à étudier") == 2 and queued.count("à envoyer") == 2
    assert "SMS (06 20 12 34 56)" in queued and "e-mail (accueil@msp-wazemmes.fr)" in queued
    dispatch(db, clock["now"])
    db.execute(sa.update(Notification).where(Notification.channel == "email",
                                             Notification.resource == f"cabinet:{offered['cabinet_id']}")
               .values(delivery_status="bounced"))
    db.commit()
    told = messages()
    assert "non remis (renvoyé par la messagerie du destinataire)" in told and told.count("<td>envoyé</td>") == 1


def test_a_cabinets_page_shows_what_it_answered_by_sms(client, offered, staff, twilio_app):
    assert twilio_post(client, "/api/v1/twilio/messages", {"From": "+33620123456", "Body": "Je prends Alice",
                                                           "MessageSid": "SM" + "8" * 32}).status_code == 200
    log_in(client, staff(Role.coordinator, "coordination@cpts-a.fr"))
    page = between(client.get(f"/equipe/cabinets/{offered['cabinet_id']}").text, "Messages échangés avec le cabinet",
                   "Remplacer le lien du praticien")
    assert "SMS reçu : « Je prends Alice »</td>" in page and "Réponse à son SMS" in page


def test_a_patient_no_message_can_reach_is_flagged_for_a_call(client, make_key, org_a, staff):
    created = client.post("/api/v1/requests", json=request_body(phone="03 20 12 34 56", email=None),
                          headers=make_key(org_a, Role.coordinator)).json()
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    page = client.get(f"/equipe/demandes/{created['id']}").text
    assert "Aucun message ne peut joindre ce patient (un numéro fixe et pas d'adresse e-mail)" in page
    assert "Renvoyer le lien de suivi" not in page and "Aucun message échangé avec le patient." in page
    client.post("/api/v1/requests", json=request_body(first_name="Zoé", phone="06 11 22 33 44", email=None),
                headers=make_key(org_a, Role.coordinator))
    rows = client.get("/equipe").text.split("<tr>")
    (landline,) = [row for row in rows if f"/equipe/demandes/{created['id']}" in row]
    assert "À appeler" in landline and not any("À appeler" in row for row in rows if "Zoé" in row)
