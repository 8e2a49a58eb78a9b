"""The screens, used as people use them: a patient on a phone with the keyboard alone, a secretary on a
call, a coordinator running a round, a practitioner answering from the link, the patient learning of the
match. Each page is scanned with axe-core on the way."""

import re
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from lac_service.auth.models import Role
from lac_service.cabinets.schemas import CabinetCreate
from lac_service.cabinets.service import create_cabinet
from lac_service.db import session_scope
from lac_service.geography.geocoder import Located
from tests.e2e.conftest import PHONE, Service, assert_accessible, log_in, tab_to


def _type_into(page: Page, selector: str, text: str) -> None:
    tab_to(page, selector)
    page.keyboard.type(text)


def _fill_request(page: Page, *, first_name: str, last_name: str, phone: str, postal_code: str = "59000",
                  staff: bool = False) -> None:
    page.get_by_label("Un médecin traitant").check()
    page.get_by_label("Prénom").first.fill(first_name)
    page.get_by_label("Nom", exact=True).first.fill(last_name)
    page.get_by_label("Date de naissance").first.fill("14/03/1958")
    page.get_by_label("Téléphone").fill(phone)
    page.get_by_label("Code postal").fill(postal_code)
    page.get_by_label("Commune").fill("Lille")
    page.get_by_label("Le patient accepte" if staff else "J'accepte que mes données").check()


def test_a_patient_registers_on_a_phone_with_the_keyboard_alone(service: Service, pages, shot):
    page = pages(PHONE)
    page.goto(service.url + "/confidentialite")
    assert_accessible(page)
    page.goto(service.url + "/")
    assert_accessible(page)
    shot(page, "form")
    tab_to(page, "#kind-medecin_traitant")
    page.keyboard.press("Space")
    _type_into(page, "#patient-first_name", "Élodie")
    _type_into(page, "#patient-last_name", "Clavier")
    _type_into(page, "#patient-birth_date", "14/03/1958")
    _type_into(page, "#patient-phone", "06 12 34 56 01")
    _type_into(page, "#patient-address-line", "12 rue Esquermoise")
    _type_into(page, "#patient-address-postal_code", "59000")
    _type_into(page, "#patient-address-city", "Lille")
    tab_to(page, "#criteria-ald")
    page.keyboard.press("Space")
    tab_to(page, "#consent")
    page.keyboard.press("Space")
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/suivi/[A-Za-z0-9_-]{40,}\?fait=enregistree$"))
    expect(page.get_by_role("status")).to_contain_text("Votre demande est enregistrée")
    expect(page.get_by_role("heading", name="Votre demande est en attente")).to_be_visible()
    expect(page.get_by_text("116 117").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling on a phone"
    assert_accessible(page)
    shot(page, "tracking")


def test_a_wrong_postal_code_is_shown_next_to_its_field_and_the_answers_are_kept(service: Service, pages, shot):
    page = pages(PHONE)
    page.goto(service.url + "/")
    _fill_request(page, first_name="Bastien", last_name="Erreur", phone="06 12 34 56 02", postal_code="99999")
    page.get_by_role("button", name="Envoyer ma demande").click()

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Une information est à corriger")
    field = page.locator(".field", has=page.locator("#patient-address-postal_code"))
    expect(field.locator(".error")).to_contain_text("99999")
    expect(page.locator("#patient-address-postal_code")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#patient-first_name")).to_have_value("Bastien")
    expect(page.locator("#patient-phone")).to_have_value("06 12 34 56 02")
    expect(page.locator("#kind-medecin_traitant")).to_be_checked()
    summary.get_by_role("link").click()
    expect(page.locator("#patient-address-postal_code")).to_be_focused()
    assert_accessible(page)
    shot(page, "error")


def test_a_form_filled_in_one_tab_is_sent_after_another_tab_came_from_another_site(service: Service, pages, shot):
    """A parent registers two children, each on the form opened from the CPTS's site in a tab of its own.
    Arriving from another site must not make the first tab's form "expired", and lose what was typed."""
    first = pages()
    first.goto(service.url + "/")
    _fill_request(first, first_name="Inès", last_name="Onglet", phone="06 12 34 56 09")
    elsewhere = first.context.new_page()  # the same person: the same cookies
    elsewhere.goto(service.url.replace("127.0.0.1", "localhost") + "/confidentialite")  # another site
    elsewhere.evaluate("url => { const a = document.createElement('a'); a.href = url; a.id = 'vers-lac';"
                       " a.textContent = 'Liste d’attente commune'; document.body.append(a); }", service.url + "/")
    elsewhere.click("#vers-lac")
    expect(elsewhere.get_by_role("button", name="Envoyer ma demande")).to_be_visible()
    first.get_by_role("button", name="Envoyer ma demande").click()
    expect(first).to_have_url(re.compile(r"/suivi/[A-Za-z0-9_-]{40,}\?fait=enregistree$"))
    shot(first, "sent")


def test_a_form_whose_page_expired_comes_back_with_its_answers_and_is_sent_again(service: Service, pages, shot):
    """The phone's browser lost its cookies while the form waited in a tab: sending is refused, registers
    nothing, and gives back every answer, so that one more tap sends them."""
    page = pages(PHONE)
    page.goto(service.url + "/")
    _fill_request(page, first_name="Maëlle", last_name="Expirée", phone="06 12 34 56 08")
    page.context.clear_cookies()
    page.get_by_role("button", name="Envoyer ma demande").click()
    expect(page.get_by_role("alert")).to_contain_text("Page expirée : rien n'a été enregistré")
    expect(page.locator("#patient-first_name")).to_have_value("Maëlle")
    expect(page.locator("#patient-phone")).to_have_value("06 12 34 56 08")
    expect(page.locator("#kind-medecin_traitant")).to_be_checked()
    expect(page.locator("#consent")).to_be_checked()
    shot(page, "expired")
    page.get_by_role("button", name="Envoyer ma demande").click()
    expect(page).to_have_url(re.compile(r"/suivi/[A-Za-z0-9_-]{40,}\?fait=enregistree$"))


def test_a_secretary_logs_in_and_registers_an_urgent_request(service: Service, pages, shot):
    email = service.user("secretaire.urgence@cpts-e2e.fr", Role.secretary)
    page = pages()
    page.goto(service.url + "/equipe")
    expect(page).to_have_url(re.compile(r"/equipe/connexion\?suite=/equipe$"))
    assert_accessible(page)
    log_in(page, service, email)
    expect(page.get_by_role("heading", name="File d'attente")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="Nouvelle demande").click()
    _fill_request(page, first_name="Gérard", last_name="Urgent", phone="06 12 34 56 03", staff=True)
    page.get_by_label("Demande urgente (après entretien)").check()
    page.get_by_label("Motif de l'urgence").fill("Sortie d'hospitalisation sans suivi")
    assert_accessible(page)
    page.get_by_role("button", name="Enregistrer la demande").click()

    expect(page.get_by_role("heading", name=re.compile("Gérard Urgent"))).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("La demande est enregistrée")
    expect(page.get_by_text("Sortie d'hospitalisation sans suivi")).to_be_visible()
    expect(page.get_by_role("heading", name="Priorité : 80 points")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Situation urgente .*\(\+80 points\)"))).to_be_visible()
    assert_accessible(page)
    shot(page, "detail")
    page.get_by_label("Nom", exact=True).first.fill("Urgent-Martin")
    page.get_by_role("button", name="Enregistrer les corrections").click()
    expect(page.get_by_role("status")).to_contain_text("Les modifications sont enregistrées")
    expect(page.get_by_role("heading", name=re.compile("Gérard Urgent-Martin"))).to_be_visible()
    expect(page.get_by_label("Motif de l'urgence")).to_have_value("Sortie d'hospitalisation sans suivi")
    page.get_by_role("link", name="Doublons").click()
    expect(page.get_by_role("heading", name="Doublons possibles")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="File d'attente").first.click()
    first = page.locator("tbody tr").first
    expect(first).to_contain_text("Gérard Urgent")
    expect(first).to_contain_text("Urgent")


def test_a_secretary_checks_then_imports_a_speech_therapists_list(service: Service, pages, shot):
    page = pages()
    log_in(page, service, service.user("secretaire.import@cpts-e2e.fr", Role.secretary))
    page.get_by_role("link", name="Importer une liste").click()
    expect(page.get_by_role("heading", name="Importer une liste d'attente")).to_be_visible()
    assert_accessible(page)
    header = "Nom;Prénom;Date de naissance;Tél;CP;Ville\n"
    wrong = header + "Import;Anaïs;31/02/2019;06 12 34 56 21;59000;Lille\n"
    page.get_by_label("Fichier CSV").set_input_files(files=[
        {"name": "liste-ortho.csv", "mimeType": "text/csv", "buffer": wrong.encode("cp1252")}])
    page.get_by_label("Type des demandes").select_option(label="Bilan orthophonique")
    page.get_by_role("button", name="Vérifier le fichier").click()
    expect(page.get_by_role("alert").first).to_contain_text("1 ligne(s) à corriger")
    expect(page.locator("tbody tr").first).to_contain_text("Date de naissance")
    assert_accessible(page)
    shot(page, "refused")

    good = (header + "Import;Anaïs;28/02/2019;06 12 34 56 21;59000;Lille\n"
            "Import;Basile;03/04/2016;06 12 34 56 22;59100;Roubaix\n")
    for button, said in (("Vérifier le fichier", "Vérification faite : 2 demande(s) à importer"),
                         ("Importer", "2 demande(s) importée(s), 0 doublon(s) écarté(s).")):
        page.get_by_label("Fichier CSV").set_input_files(files=[
            {"name": "liste-ortho.csv", "mimeType": "text/csv", "buffer": good.encode("cp1252")}])
        expect(page.get_by_label("Type des demandes")).to_have_value("bilan_orthophonique")
        page.get_by_role("button", name=button, exact=True).click()
        expect(page.get_by_role("status").first).to_contain_text(said)
    assert_accessible(page)
    shot(page, "imported")
    page.get_by_role("link", name="Voir la file d'attente").click()
    page.get_by_label("Nom, téléphone, e-mail ou code postal").fill("Import")
    page.get_by_role("button", name="Filtrer").click()
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(page.locator("tbody")).to_contain_text("Bilan orthophonique")


def _cabinet(service: Service) -> None:
    with session_scope(service.sessions) as session:
        create_cabinet(session, organisation_id=service.organisation_id, now=datetime.now(UTC),
                       place=Located(50.6285, 3.0485, "exact", "59"), data=CabinetCreate.model_validate({
                           "name": "Maison de santé Wazemmes", "kinds": ["medecin_traitant"],
                           "address": {"line": "3 place de la Nouvelle Aventure", "postal_code": "59000", "city": "Lille"},
                           "radius_km": 10, "batch_size": 20, "cadence_days": 42, "channels": ["sms"],
                           "phones": ["06 20 12 34 56"],
                       }))


def test_a_round_an_answer_from_the_offer_page_and_the_match_on_the_tracking_page(service: Service, pages, shot):
    _cabinet(service)
    patient = pages(PHONE)
    tracking = {}
    for name, phone in (("Alice", "06 12 34 56 04"), ("Bruno", "06 12 34 56 05")):
        patient.goto(service.url + "/")
        _fill_request(patient, first_name=name, last_name="Attente", phone=phone)
        patient.get_by_role("button", name="Envoyer ma demande").click()
        expect(patient.get_by_role("heading", name="Votre demande est en attente")).to_be_visible()
        tracking[name] = patient.url.split("?")[0]

    coordinator = pages()
    log_in(coordinator, service, service.user("coordination.tournee@cpts-e2e.fr", Role.coordinator))
    coordinator.goto(service.url + "/equipe/tableau")
    assert_accessible(coordinator)
    shot(coordinator, "dashboard")
    coordinator.get_by_role("button", name="Lancer une tournée maintenant").click()
    expect(coordinator.get_by_role("heading", name=re.compile("Tournée du"))).to_be_visible()
    expect(coordinator.get_by_text(re.compile(r"Maison de santé Wazemmes : \d+ patients"))).to_be_visible()
    assert_accessible(coordinator)
    coordinator.get_by_role("link", name="← Tableau de bord").click()
    coordinator.get_by_role("link", name="Maison de santé Wazemmes").click()
    assert_accessible(coordinator)
    standing_link = coordinator.get_by_role("link", name=re.compile("praticien")).get_attribute("href")
    assert standing_link

    practitioner = pages(PHONE)
    practitioner.goto(standing_link)
    assert_accessible(practitioner)
    practitioner.get_by_role("link", name=re.compile("Proposition du")).click()
    expect(practitioner.get_by_role("heading", name=re.compile(r"\d+ patients pour le cabinet : Maison de santé Wazemmes"))) \
        .to_be_visible()
    assert_accessible(practitioner)
    shot(practitioner, "offer")
    practitioner.get_by_role("button", name="Accepter Alice").click()
    expect(practitioner.get_by_role("status")).to_contain_text("Patient accepté")
    alice = practitioner.locator(".card", has_text="Alice")
    expect(alice).to_contain_text("06 12 34 56 04")
    bruno = practitioner.locator(".card", has_text="Bruno")
    bruno.get_by_label("Raison du refus").select_option(label="Trop loin")
    bruno.get_by_role("button", name="Décliner Bruno").click()
    expect(practitioner.get_by_role("status")).to_contain_text("Patient décliné")
    expect(practitioner.locator(".card", has_text="Bruno")).to_contain_text("Décliné (Trop loin)")
    assert_accessible(practitioner)

    practitioner.get_by_role("button", name="Mettre ma participation en pause").click()
    expect(practitioner.get_by_role("status")).to_contain_text("Participation en pause")
    expect(practitioner.get_by_role("button", name="Reprendre ma participation")).to_be_visible()

    patient.goto(tracking["Alice"])
    expect(patient.get_by_role("heading", name="Un cabinet vous prend")).to_be_visible()
    expect(patient.get_by_text("Maison de santé Wazemmes")).to_be_visible()
    assert_accessible(patient)
    shot(patient, "matched")
    patient.goto(tracking["Bruno"])
    expect(patient.get_by_role("heading", name="Votre demande est en attente")).to_be_visible()


def test_a_coordinator_chooses_the_kind_and_the_period_of_the_indicators(service: Service, pages, shot):
    page = pages()
    log_in(page, service, service.user("coordination.indicateurs@cpts-e2e.fr", Role.coordinator))
    page.goto(service.url + "/equipe/tableau")
    page.get_by_label("Indicateurs pour").select_option(label="Bilan orthophonique")
    page.get_by_label("Du", exact=True).fill("2026-01-01")
    page.get_by_label("Au (inclus)").fill("2026-06-30")
    page.get_by_role("button", name="Afficher").click()
    expect(page.get_by_text("Bilan orthophonique, du 01/01/2026 au 30/06/2026.")).to_be_visible()
    expect(page.get_by_label("Indicateurs pour")).to_have_value("bilan_orthophonique")
    rows = page.locator("table", has=page.get_by_role("columnheader", name="Prise en charge")).locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("rowheader")).to_have_text("Bilan orthophonique")
    assert_accessible(page)
    page.get_by_label("Du", exact=True).fill("2026-12-01")
    page.get_by_role("button", name="Afficher").click()
    expect(page.get_by_role("alert")).to_contain_text("La date de début doit précéder la date de fin.")
    expect(page.get_by_label("Du", exact=True)).to_have_value("2026-12-01")
    assert_accessible(page)
    shot(page, "refused")


def test_a_coordinator_adds_an_age_band_to_the_speech_therapy_rules(service: Service, pages, shot):
    page = pages()
    log_in(page, service, service.user("coordination.priorites@cpts-e2e.fr", Role.coordinator))
    page.goto(service.url + "/equipe/tableau")
    page.get_by_role("link", name="Modifier les règles (bilan orthophonique)").click()
    expect(page.get_by_role("heading", name="Règles de priorité : bilan orthophonique")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("ALD (affection de longue durée) : points").fill("beaucoup")
    page.get_by_label("Tranche 3 : à partir de").fill("12")
    page.get_by_label("Tranche 3 : moins de").fill("16")
    page.get_by_role("button", name="Enregistrer et recalculer la file").click()
    expect(page.get_by_role("alert")).to_contain_text("Indiquez un nombre entier")
    expect(page.get_by_label("Tranche 3 : à partir de")).to_have_value("12")
    assert_accessible(page)
    shot(page, "refused")
    page.get_by_label("ALD (affection de longue durée) : points").fill("40")
    page.get_by_label("Tranche 3 : points").fill("10")
    page.get_by_role("button", name="Enregistrer et recalculer la file").click()
    expect(page.get_by_role("status")).to_contain_text(re.compile(r"Règles enregistrées \(version \d+\)"))
    expect(page.get_by_label("Tranche 3 : points")).to_have_value("10")
    expect(page.locator("tbody").last).to_contain_text("Âge : de 12 à 15 ans : 10 points")
    assert_accessible(page)
    shot(page, "saved")


def test_a_coordinator_types_the_territorys_postal_codes_and_sees_their_communes(service: Service, pages, shot):
    page = pages()
    log_in(page, service, service.user("coordination.territoire@cpts-e2e.fr", Role.coordinator,
                                       organisation="cpts-e2e-territoire"))
    page.goto(service.url + "/equipe/tableau")
    page.get_by_role("link", name="Codes postaux et contour du territoire").click()
    expect(page.get_by_role("heading", name="Territoire de CPTS cpts-e2e-territoire")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Codes postaux").fill("62100 6220")
    page.get_by_role("button", name="Enregistrer le territoire").click()
    expect(page.get_by_role("alert")).to_contain_text("Codes postaux mal écrits : 6220")
    assert_accessible(page)
    page.get_by_label("Codes postaux").fill("62100, 62200")
    page.get_by_role("button", name="Enregistrer le territoire").click()
    expect(page.get_by_role("status")).to_contain_text("Territoire enregistré")
    expect(page.get_by_role("row", name="62200 Boulogne-sur-Mer")).to_be_visible()
    assert_accessible(page)
    shot(page, "saved")


def test_a_coordinator_on_a_phone_reads_every_screen_without_scrolling_sideways(service: Service, pages, shot):
    """Long labels ("Patients de 70 ans et plus parmi les attribués") and a practitioner's link wrap; only a
    wide table scrolls, inside its own frame, and the queue's priority is in view; a chart's text reads at 10
    pixels or more, its labels apart."""
    page = pages(PHONE)
    log_in(page, service, service.user("coordination.telephone@cpts-e2e.fr", Role.coordinator))
    page.goto(service.url + "/equipe/demandes/nouvelle")  # a waiting request: the dashboard draws a bar
    _fill_request(page, first_name="Inès", last_name="Telephone", phone="06 12 34 56 09", staff=True)
    page.locator("#criteria-ald").check()  # the queue then explains her priority: a longer column
    page.get_by_role("button", name="Enregistrer la demande").click()
    expect(page.get_by_role("status")).to_contain_text("La demande est enregistrée")
    page.goto(service.url + "/equipe/cabinets/nouveau")
    page.get_by_label("Nom du cabinet").fill("Cabinet médical des Bois-Blancs")
    page.get_by_label("Médecin traitant").check()
    page.get_by_label("Code postal").fill("59000")
    page.get_by_label("Commune").fill("Lille")
    page.get_by_label("Rayon (km)").fill("10")
    page.get_by_label("Patients par lot").fill("5")
    page.get_by_label("Rythme (jours entre deux lots)").fill("30")
    page.get_by_label("E-mail", exact=True).check()
    page.get_by_label("Adresses e-mail").fill("accueil@bois-blancs.fr")
    page.get_by_role("button", name=re.compile("Enregistrer")).click()
    expect(page.get_by_role("status")).to_contain_text("Le cabinet est enregistré.")
    for path in ("", "/equipe/tableau", "/equipe", "/equipe/demandes/nouvelle", "/equipe/priorites/medecin_traitant"):
        if path:
            page.goto(service.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            shot(page, "overflow")
        wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right
            > document.documentElement.clientWidth && !e.closest('.table-scroll')).map(e => e.tagName + '.'
            + e.className + '#' + e.id).slice(0, 5)""")
        assert overflow <= 0, f"{path or 'the cabinet page'} is {overflow} px wider than the phone: {wide}"
    page.goto(service.url + "/equipe/tableau")
    texts = page.evaluate("""[...document.querySelectorAll('svg.chart text')].map(t => {
        const svg = t.ownerSVGElement, box = t.getBoundingClientRect();
        return {chart: [...document.querySelectorAll('svg.chart')].indexOf(svg), cls: t.getAttribute('class'),
                px: t.getAttribute('font-size') * svg.getBoundingClientRect().width / svg.viewBox.baseVal.width,
                left: box.left, right: box.right, text: t.textContent}; })""")
    assert "x-label" in {t["cls"] for t in texts}, "the bar chart is drawn"
    small = [(t["text"], round(t["px"], 1)) for t in texts if t["px"] < 10]
    assert not small, f"chart text too small to read on a phone: {small}"
    for chart in {t["chart"] for t in texts}:
        labels = sorted((t for t in texts if t["chart"] == chart and t["cls"] == "x-label"), key=lambda t: t["left"])
        assert all(a["right"] <= b["left"] for a, b in zip(labels, labels[1:])), f"labels overlap: {labels}"
    page.goto(service.url + "/equipe")  # the queue: who, and how urgent, without scrolling the table
    for column in ("Patient", "Priorité"):
        box = page.get_by_role("columnheader", name=column).bounding_box()
        assert box and box["x"] + box["width"] <= PHONE["width"], f"« {column} » is off the screen"
    shot(page, "queue")
