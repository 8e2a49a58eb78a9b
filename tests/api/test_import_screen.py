"""A secretary imports a practitioner's waiting list from the screen: the check names every line to fix and
writes nothing, the import writes the rows into her organisation with their original dates, a second sending
writes nothing twice, and a list without a "type" column takes the type chosen on the screen."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from lac_service.audit import AuditEvent
from lac_service.auth.models import Role
from lac_service.imports.files import read_requests
from lac_service.intake.models import PatientRequest, Source
from lac_service.kinds import Kind
from lac_service.notifications.models import Notification
from tests.api.test_imports import GOOD, csv_file, ten_rows_three_bad
from tests.api.test_web_pages import csrf, log_in, staff  # noqa: F401  (staff: a fixture)
from tests.conftest import count_rows, dispatch
from tests.payloads import request_body

ORTHOPHONIST_LIST = ("Nom;Prénom;Date de naissance;Tél;CP;Ville\n"
                     "Petit;Chloé;01/01/2019;06 12 34 56 11;59000;Lille\n"
                     "Lemaire;Hugo;12/05/2017;06 12 34 56 12;59100;Roubaix\n").encode("cp1252")


@pytest.fixture
def secretary(client, staff):  # noqa: F811
    email = staff(Role.secretary, "secretaire@cpts-a.fr")
    log_in(client, email)
    return email


def send(client, content: bytes | None, *, action: str = "importer", kind: str = "", name: str = "liste.csv",
         token: str | None = None, tell: bool = False):
    data = {"csrf_token": token or csrf(client.get("/equipe/import").text), "action": action, "type": kind,
            **({"prevenir": "on"} if tell else {})}
    files = {"fichier": (name, content or b"", "text/csv")}
    return client.post("/equipe/import", data=data, files=files)


def shown(page) -> str:
    return html.unescape(page.text)


def requests_in(db) -> list[PatientRequest]:
    db.expire_all()
    return list(db.scalars(sa.select(PatientRequest).order_by(PatientRequest.id)))


def test_the_check_names_each_line_to_fix_and_nothing_is_written_even_on_import(client, connection, secretary):
    before = count_rows(connection)
    for action in ("verifier", "importer"):
        page = send(client, ten_rows_three_bad(), action=action)
        assert page.status_code == 422
        text = shown(page)
        assert "3 ligne(s) à corriger : rien n'a été importé." in text
        rows = [cells.split("</td><td>")[:2] for cells in text.split("<tr><td>")[1:]]
        assert rows[:3] == [["4", "code_postal"], ["7", "date_naissance"], ["10", "type"]]
        assert "99999" in text and "futur" in text
    assert count_rows(connection) == before


def test_a_checked_file_is_imported_into_her_organisation_and_a_second_sending_writes_nothing(client, db, org_a,
                                                                                             secretary):
    checked = send(client, csv_file(GOOD), action="verifier")
    assert checked.status_code == 200
    assert "Vérification faite : 7 demande(s) à importer, 0 doublon(s)." in shown(checked)
    assert "Rien n'est encore enregistré" in shown(checked)
    assert requests_in(db) == []

    done = send(client, csv_file(GOOD))
    assert done.status_code == 200 and "Import terminé : liste.csv" in shown(done)
    assert "7 demande(s) importée(s), 0 doublon(s) écarté(s)." in shown(done)
    imported = requests_in(db)
    assert len(imported) == 7
    assert {(r.organisation_id, r.source) for r in imported} == {(org_a.id, Source.import_)}
    assert min(r.waiting_since for r in imported).date().isoformat() == "2025-01-01", "the list's own date is kept"
    user_id = db.scalar(sa.text("select id from users where email = 'secretaire@cpts-a.fr'"))
    audited = db.scalars(sa.select(AuditEvent.actor).where(AuditEvent.action == "create")).all()
    assert audited and set(audited) == {f"user:{user_id}"}

    again = send(client, csv_file(GOOD))
    assert "0 demande(s) importée(s), 7 doublon(s) écarté(s)." in shown(again)
    first = imported[0]
    assert f'<a href="/equipe/demandes/{first.id}">demande n° {first.id}</a>' in again.text
    assert len(requests_in(db)) == 7


def test_a_patient_waiting_with_another_cpts_is_a_duplicate_she_cannot_open(client, db, make_key, org_b, secretary):
    other = client.post("/api/v1/requests", headers=make_key(org_b, Role.secretary), json=request_body(
        first_name="Bruno", last_name="Marchand", birth_date="1980-05-05"))
    assert other.status_code == 201, other.text
    page = send(client, csv_file(GOOD))
    assert "6 demande(s) importée(s), 1 doublon(s) écarté(s)." in shown(page)
    assert "Ligne 3 : déjà sur la liste d'une autre CPTS." in " ".join(shown(page).split())
    assert f"/equipe/demandes/{other.json()['id']}" not in page.text


def test_a_list_without_a_type_column_takes_the_type_chosen_on_the_screen(client, db, secretary):
    refused = send(client, ORTHOPHONIST_LIST)
    assert refused.status_code == 422 and "Colonne obligatoire absente : type" in shown(refused)
    assert requests_in(db) == []
    page = send(client, ORTHOPHONIST_LIST, kind="bilan_orthophonique")
    assert page.status_code == 200, shown(page)
    assert {(r.first_name, r.kind) for r in requests_in(db)} == {("Chloé", Kind.bilan_orthophonique),
                                                                 ("Hugo", Kind.bilan_orthophonique)}
    assert '<option value="bilan_orthophonique" selected>' in page.text, "the choice stays on the page"


def test_each_patient_imported_is_told_with_a_tracking_link_unless_she_unticks_it(client, db, secretary, clock):
    """Put on a list by someone else, a patient learns it, and how to follow, leave or be erased: the box is
    ticked when the screen opens. A patient with a landline alone cannot be told."""
    assert 'name="prevenir" type="checkbox" value="on" checked' in client.get("/equipe/import").text
    landline = ORTHOPHONIST_LIST + "Durand;Léon;03/03/2018;03 20 12 34 56;59000;Lille\n".encode("cp1252")
    checked = send(client, landline, action="verifier", kind="bilan_orthophonique", tell=True)
    assert 'name="prevenir" type="checkbox" value="on" checked' in checked.text, "the choice stays for the import"
    assert not db.scalar(sa.select(sa.func.count()).select_from(Notification)), "a check tells nobody"
    imported = send(client, landline, kind="bilan_orthophonique", tell=True)
    assert "le dernier message partira le dimanche 22 novembre à 10h00" in shown(imported), "10/s from 10h00"
    dispatch(db, clock["now"] + timedelta(seconds=1))
    db.expire_all()
    told = db.scalars(sa.select(Notification).order_by(Notification.id)).all()
    assert [(m.template, m.channel.value, m.recipient) for m in told] == [
        ("imported", "sms", "+33612345611"), ("imported", "sms", "+33612345612")]
    assert told[0].body.startswith("Liste d'attente commune (CPTS cpts-a) : un soignant y a inscrit "
                                   "votre demande de bilan orthophonique.")
    (link,) = re.findall(r"/suivi/[A-Za-z0-9_-]{40,}", told[0].body)  # the local backend keeps it, for /outbox
    assert "<dt>Pour</dt><dd>Chloé</dd>" in client.get(link).text, "her own page opens"
    others = ORTHOPHONIST_LIST.decode("cp1252").replace("Chloé", "Zoé").replace("Lemaire;Hugo", "Roux;Noé")
    unticked = send(client, others.encode("cp1252"), kind="bilan_orthophonique")
    assert not re.search(r'name="prevenir"[^>]*checked', unticked.text) and len(requests_in(db)) == 5
    assert db.scalar(sa.select(sa.func.count()).select_from(Notification)) == 2, "unticked: nobody more is told"


def test_a_list_imported_in_the_evening_is_told_the_next_morning_as_the_patients_page_says(client, db, secretary,
                                                                                            clock):
    """Chloé calls at 22h30: "nothing came". Her page says when her message goes."""
    clock["now"] = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)  # 22h00 in Lille
    imported = send(client, ORTHOPHONIST_LIST, kind="bilan_orthophonique", tell=True)
    assert "le dernier message partira le lundi 23 novembre à 09h00" in shown(imported)
    dispatch(db, clock["now"] + timedelta(minutes=30))
    chloe = requests_in(db)[0]
    page = shown(client.get(f"/equipe/demandes/{chloe.id}"))
    assert "<td>prévu le lundi 23 novembre à 09h00</td>" in page
    dispatch(db, datetime(2026, 11, 23, 8, 0, 1, tzinfo=UTC))
    assert "<td>envoyé</td>" in shown(client.get(f"/equipe/demandes/{chloe.id}"))


@pytest.mark.parametrize(("content", "name", "kind", "field", "words"), [
    (None, "", "", "fichier", "Choisissez le fichier CSV"),
    (b"PK\x03\x04 not a csv", "liste.xlsx", "", "fichier", "classeur"),
    (b"", "vide.csv", "", "fichier", "vide"),
    (csv_file(GOOD), "liste.csv", "kinésithérapie", "type", "Type de demande inconnu"),
])
def test_a_missing_or_unreadable_file_is_named_at_its_field(client, connection, secretary, content, name, kind,
                                                            field, words):
    before = count_rows(connection)
    page = send(client, content, name=name, kind=kind)
    assert page.status_code == 422
    assert f'<a href="#{field}">' in page.text and words in shown(page)
    assert re.search(f'id="{field}"[^>]*aria-invalid="true"', page.text), "the field itself is marked"
    assert count_rows(connection) == before


def test_a_file_over_the_limit_gets_a_page_in_french(client, connection, secretary, settings):
    before = count_rows(connection)
    page = send(client, csv_file(GOOD) + b"#" * (settings.max_import_bytes + 1))
    assert page.status_code == 413 and page.headers["content-type"].startswith("text/html")
    assert "Envoi trop volumineux" in shown(page) and "découpez le fichier" in shown(page)

    def streamed():  # no Content-Length: cut as it passes the limit
        for _ in range(settings.max_import_bytes // (1 << 20) + 2):
            yield b"x" * (1 << 20)

    cut = client.post("/equipe/import", content=streamed(),
                      headers={"Content-Type": "multipart/form-data; boundary=lac"})
    assert cut.status_code == 413 and "Envoi trop volumineux" in shown(cut)
    assert count_rows(connection) == before


def test_without_its_csrf_token_or_a_login_nothing_is_imported(client, connection, staff):  # noqa: F811
    anonymous = client.get("/equipe/import", follow_redirects=False)
    assert anonymous.headers["location"] == "/equipe/connexion?suite=/equipe/import"
    log_in(client, staff(Role.secretary, "secretaire@cpts-a.fr"))
    before = count_rows(connection)
    assert send(client, csv_file(GOOD), token="x" * 43).status_code == 403
    assert count_rows(connection) == before


def test_the_template_lists_every_column_the_import_reads(client, secretary):
    answer = client.get("/equipe/import/modele.csv")
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.content.startswith("\ufeff".encode()), "a BOM, so that a spreadsheet reads the accents"
    header = answer.content.decode("utf-8-sig").strip()
    filled = f"{header}\r\nMT;Élodie;Lefèvre;14/03/1958;0612345601;;;59000;Lille;oui;non;;02/01/2025;\r\n".encode()
    parsed = read_requests(filled)
    assert parsed.errors == [] and len(parsed.rows) == 1
    assert set(parsed.columns) >= {"kind", "patient.phone", "household", "max_distance_km", "criteria.pregnant"}
    page = client.get("/equipe/import")
    for name in header.split(";"):
        assert f"<strong>{name}</strong>" in page.text, "the screen explains every column of the template"
