"""Importing a waiting list or cabinets: the dry run names every bad line, a real import writes all or
nothing, original dates are kept, duplicates are reported and left out, and spreadsheets' French exports
(Windows-1252, ";") read as they are — through the API and the ``lac`` command."""

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from lac_service.audit import AuditEvent
from lac_service.auth.models import Role
from lac_service.cabinets.models import Cabinet
from lac_service.intake.models import PatientRequest, StatusChange
from lac_service.kinds import Kind
from lac_service.notifications.models import Notification
from tests.conftest import REPO, count_rows, dispatch
from tests.payloads import request_body

HEADER = "type;prenom;nom;date_naissance;telephone;email;adresse;code_postal;commune;ald;date_demande"
GOOD = [
    "médecin traitant;Élodie;Lefèvre;14/03/1958;06 12 34 56 01;;12 rue Esquermoise;59000;Lille;oui;02/01/2025",
    "medecin_traitant;Bruno;Marchand;05/05/1980;06 12 34 56 02;;;59100;Roubaix;non;15/06/2025",
    "bilan orthophonique;Chloé;Petit;01/01/2019;;parents.petit@exemple.fr;;59200;Tourcoing;;",
    "MT;Denis;Roux;01/06/1955;06 12 34 56 04;;;59000;Lille;oui;01/09/2025 14:30",
    "médecin traitant;Emma;Blanc;09/09/1990;06 12 34 56 05;;;59650;Villeneuve-d'Ascq;;",
    "orthophonie;Félix;Noir;03/03/2018;06 12 34 56 06;;;59000;Lille;x;03/03/2026",
    "médecin traitant;Gaëlle;Vert;07/07/1970;06 12 34 56 07;;;59130;Lambersart;0;",
]
BAD = {
    4: "médecin traitant;Hugo;Gris;10/10/1960;06 12 34 56 08;;;99999;Lille;;",       # postal code
    7: "médecin traitant;Inès;Rose;10/10/2099;06 12 34 56 09;;;59000;Lille;;",       # born in the future
    10: "kinésithérapie;Jules;Brun;10/10/1960;06 12 34 56 10;;;59000;Lille;;",       # unknown kind
}


def csv_file(lines: list[str], encoding: str = "utf-8") -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode(encoding)


def ten_rows_three_bad() -> bytes:
    good = iter(GOOD)
    return csv_file([BAD[line] if line in BAD else next(good) for line in range(2, 12)])


@pytest.fixture
def coordinator(make_key, org_a):
    return make_key(org_a, Role.coordinator)


def post(client, headers, content: bytes, what="requests", **params):
    return client.post(f"/api/v1/imports/{what}", content=content, params=params,
                       headers=headers | {"Content-Type": "text/csv"})


def test_the_dry_run_names_the_three_bad_lines_and_writes_nothing(client, connection, coordinator):
    before = count_rows(connection)
    for dry_run in (True, False):
        answer = post(client, coordinator, ten_rows_three_bad(), dry_run=dry_run)
        assert answer.status_code == 422, answer.text
        report = answer.json()
        assert report["code"] == "import_refused" and report["written"] is False and report["rows"] == 10
        assert report["message"] == "3 ligne(s) à corriger : rien n'a été importé."
        assert [(e["line"], e["column"]) for e in report["errors"]] == [
            (4, "code_postal"), (7, "date_naissance"), (10, "type")]
        assert "99999" in report["errors"][0]["message"] and "futur" in report["errors"][1]["message"]
    assert count_rows(connection) == before, "nothing written, dry run or not"


def test_a_real_import_writes_every_row_with_its_original_date_and_no_message(client, db, coordinator):
    dry = post(client, coordinator, csv_file(GOOD), dry_run=True)
    assert dry.status_code == 200 and dry.json()["created"] == 7 and dry.json()["written"] is False
    assert db.scalar(sa.select(sa.func.count()).select_from(PatientRequest)) == 0
    done = post(client, coordinator, csv_file(GOOD))
    assert done.status_code == 201, done.text
    assert done.json()["created"] == 7 and done.json()["written"] is True
    db.expire_all()
    rows = {r.first_name: r for r in db.scalars(sa.select(PatientRequest))}
    assert set(rows) == {"Élodie", "Bruno", "Chloé", "Denis", "Emma", "Félix", "Gaëlle"}
    assert rows["Élodie"].waiting_since == datetime(2025, 1, 1, 23, 0, tzinfo=UTC), "Paris midnight, 2 January"
    assert rows["Denis"].waiting_since == datetime(2025, 9, 1, 12, 30, tzinfo=UTC)
    assert rows["Élodie"].source.value == "import" and rows["Élodie"].ald and rows["Élodie"].phone == "+33612345601"
    assert rows["Chloé"].kind.value == "bilan_orthophonique" and rows["Chloé"].email == "parents.petit@exemple.fr"
    assert rows["Emma"].department == "59" and rows["Emma"].location_precision == "commune"
    assert rows["Élodie"].priority_points > rows["Bruno"].priority_points, "ALD, age and 22 months of waiting"
    read = client.get(f"/api/v1/requests/{rows['Élodie'].id}", headers=coordinator).json()
    assert sum(r["points"] for r in read["priority"]["reasons"]) == read["priority"]["points"], "explained"
    history = db.scalars(sa.select(StatusChange.reason)).all()
    assert history == ["imported"] * 7
    assert db.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0, "no message to imported patients"
    assert db.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == "create")) == 7


def test_with_notify_each_patient_imported_is_told_by_what_they_gave(client, db, coordinator):
    done = post(client, coordinator, csv_file(GOOD), notify=True)
    assert done.status_code == 201, done.text
    db.expire_all()
    told = {(n.channel.value, n.recipient, n.template) for n in db.scalars(sa.select(Notification))}
    assert len(told) == 7 and ("email", "parents.petit@exemple.fr", "imported") in told, "Chloé by e-mail"
    assert {template for *_, template in told} == {"imported"}
    keys = db.scalars(sa.select(Notification.idempotency_key)).all()
    assert all(key.startswith("request:") and ":imported:" in key for key in keys)


def test_an_imported_list_is_told_in_each_patients_daytime_in_turn_at_half_the_sms_rate(client, db, coordinator, clock):
    """Imported at 22:00 in Lille: nobody is texted at night. The list goes from 09:00 where each patient lives
    (Saint-Denis de La Réunion's morning first), ten a second — half of the 20 the provider takes; a second list
    waits for the first, and a message queued meanwhile, due at once, passes before the rest of them."""
    clock["now"] = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)
    reunion = "médecin traitant;Hugo;Payet;10/10/1960;06 92 12 34 56;;;97400;Saint-Denis;;"
    done = post(client, coordinator, csv_file([*GOOD, reunion]), notify=True)
    assert done.status_code == 201, done.text
    db.expire_all()
    due = {n.recipient: n.next_attempt_at for n in db.scalars(sa.select(Notification))}
    assert due.pop("+262692123456") == datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    lille_nine = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert sorted(due.values()) == [lille_nine + timedelta(seconds=i / 10) for i in range(7)]
    assert done.json()["told_by"] == "2026-11-23T08:00:00.600000Z"
    assert done.json()["message"] == ("8 demande(s) importée(s), 0 doublon(s) écarté(s). Les patients seront "
                                      "prévenus entre 09h00 et 20h00, heure de chez eux, chacun à son tour : le "
                                      "dernier message partira le lundi 23 novembre à 09h00.")
    second = post(client, coordinator, csv_file(["médecin traitant;Inès;Rose;10/10/1960;06 12 34 56 09;;;59000;Lille;;"]),
                  notify=True)
    assert second.json()["told_by"] == "2026-11-23T08:00:00.700000Z", "after the first list, not alongside it"

    assert dispatch(db, lille_nine - timedelta(seconds=1)).sent == 1, "La Réunion's"
    clock["now"] = lille_nine + timedelta(seconds=0.25)
    assert client.post("/api/v1/requests", json=request_body(), headers=coordinator).status_code == 201
    assert dispatch(db, clock["now"]).sent == 3 + 2, "three of the list, then the confirmation (SMS and e-mail)"
    db.expire_all()
    waiting = db.scalars(sa.select(Notification.template).where(Notification.status == "created")).all()
    assert waiting == ["imported"] * 5

    gaelle = db.scalar(sa.select(PatientRequest.id).where(PatientRequest.first_name == "Gaëlle"))
    assert client.post(f"/api/v1/requests/{gaelle}/withdraw", json={"reason": "found_elsewhere"},
                       headers=coordinator).status_code == 200
    db.expire_all()
    assert db.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.resource == f"request:{gaelle}")) == 0, "withdrawn before her turn: not told she is on the list"


def test_a_windows_1252_semicolon_file_with_accents_imports_as_typed(client, db, coordinator):
    content = csv_file(["médecin traitant;Anaïs;Lefèvre-Brûlé;01/02/1975;06 12 34 56 11;;5 rue de l'Église;"
                        "59000;Lille;non;"], encoding="cp1252")
    assert b"\xe9" in content, "é as Windows-1252 writes it"
    assert post(client, coordinator, content).status_code == 201
    db.expire_all()
    assert db.execute(sa.select(PatientRequest.first_name, PatientRequest.last_name, PatientRequest.address_line)).one() \
        == ("Anaïs", "Lefèvre-Brûlé", "5 rue de l'Église")


def test_duplicates_of_the_queue_and_within_the_file_are_reported_and_left_out(client, db, coordinator, make_key, org_a):
    existing = client.post("/api/v1/requests", json=request_body(first_name="Élodie", last_name="Lefèvre",
                                                                 birth_date="1958-03-14", phone="0698765432"),
                           headers=make_key(org_a, Role.secretary)).json()
    lines = [GOOD[0], GOOD[1], GOOD[1].replace("06 12 34 56 02", "07 98 76 54 32"), GOOD[2]]
    answer = post(client, coordinator, csv_file(lines))
    assert answer.status_code == 201, answer.text
    report = answer.json()
    assert report["created"] == 2
    assert report["duplicates"] == [
        {"line": 2, "existing_request_id": existing["id"], "same_as_line": None},
        {"line": 4, "existing_request_id": None, "same_as_line": 3},
    ]
    db.expire_all()
    assert db.scalar(sa.select(sa.func.count()).select_from(PatientRequest)) == 3


def test_service_rules_are_checked_before_anything_is_written(client, connection, coordinator):
    before = count_rows(connection)
    no_contact = "médecin traitant;Karl;Sans;10/10/1960;;;;59000;Lille;;"
    wrong_city = "médecin traitant;Léon;Ville;10/10/1960;06 12 34 56 12;;;59000;Marseille;;"
    report = post(client, coordinator, csv_file([GOOD[0], no_contact, wrong_city])).json()
    assert [(e["line"], e["column"]) for e in report["errors"]] == [(3, "telephone"), (4, "commune")]
    assert count_rows(connection) == before



def test_an_import_refuses_what_the_api_refuses_in_the_same_words(client, connection, coordinator):
    before = count_rows(connection)
    row = "bilan orthophonique;Chloé;Petit;01/01/2019;06 12 34 56 11;;;59200;Tourcoing;;;Léo Petit 02/02/2020"
    report = post(client, coordinator, (f"{HEADER};foyer\n{row}\n").encode()).json()
    body = request_body(first_name="Chloé", last_name="Petit", birth_date="2019-01-01")
    body |= {"kind": "bilan_orthophonique",
             "household": [{"first_name": "Léo", "last_name": "Petit", "birth_date": "2020-02-02"}]}
    refused = client.post("/api/v1/requests", json=body, headers=coordinator)
    assert refused.status_code == 422
    assert [(e["column"], e["message"]) for e in report["errors"]] == [("foyer", refused.json()["message"])]
    assert count_rows(connection) == before


@pytest.mark.parametrize(("content", "words"), [
    (b"", "vide"),
    (b"prenom;nom\nA;B\n", "type"),
    (b"PK\x03\x04 not a csv", "classeur"),
])
def test_an_unreadable_file_is_refused_with_a_clear_message(client, coordinator, content, words):
    answer = post(client, coordinator, content)
    assert answer.status_code == 422 and answer.json()["field"] == "file" and words in answer.json()["message"]


def test_staff_import_lists_coordinators_cabinets_and_an_admin_chooses_the_organisation(client, db, make_key, org_a,
                                                                                       org_b):
    cabinets = "nom;types;code_postal;commune;rayon_km\nMSP;MT;59000;Lille;10\n".encode()
    assert post(client, make_key(org_a, Role.partner), csv_file(GOOD), dry_run=True).status_code == 403
    assert post(client, make_key(org_a, Role.secretary), csv_file(GOOD), dry_run=True).status_code == 200
    assert post(client, make_key(org_a, Role.secretary), cabinets, "cabinets", dry_run=True).status_code == 403
    assert post(client, make_key(org_a, Role.coordinator), cabinets, "cabinets", dry_run=True).status_code == 200
    assert post(client, make_key(org_a, Role.coordinator), csv_file(GOOD), organisation="cpts-b").status_code == 403
    assert post(client, make_key(org_a, Role.admin), csv_file(GOOD), organisation="cpts-b").status_code == 201
    db.expire_all()
    assert set(db.scalars(sa.select(PatientRequest.organisation_id))) == {org_b.id}


def test_a_list_without_a_type_column_takes_the_kind_given(client, db, coordinator):
    speech_therapist = "nom;prenom;date_naissance;telephone;code_postal;commune;type\n" \
                       "Petit;Chloé;01/01/2019;06 12 34 56 11;59000;Lille;\n" \
                       "Roux;Denis;01/06/1955;06 12 34 56 04;59000;Lille;MT\n"
    without_column = "\n".join(line.rsplit(";", 1)[0] for line in speech_therapist.splitlines()).encode()
    refused = post(client, coordinator, without_column)
    assert refused.status_code == 422 and "Colonne obligatoire absente : type" in refused.json()["message"]
    assert post(client, coordinator, without_column, kind="medecin").status_code == 422, "a kind of the API's own"
    assert post(client, coordinator, speech_therapist.encode(), kind="bilan_orthophonique").status_code == 201
    db.expire_all()
    assert {name: kind for name, kind in db.execute(sa.select(PatientRequest.first_name, PatientRequest.kind))} == {
        "Chloé": Kind.bilan_orthophonique, "Denis": Kind.medecin_traitant}, "an empty cell takes it, a given one wins"


def test_a_file_over_the_import_limit_is_refused(client, coordinator, settings):
    huge = csv_file(GOOD) + b"#" * (settings.max_import_bytes + 1)
    assert post(client, coordinator, huge).status_code == 413
    assert post(client, coordinator, csv_file(GOOD * 500), dry_run=True).status_code == 200, "past the API limit"


def test_cabinets_import_all_or_nothing(client, db, coordinator):
    header = "nom;types;adresse;code_postal;commune;rayon_km;patients_par_lot;rythme_jours;canaux;telephones;emails"
    good = ["MSP Wazemmes;médecin traitant;3 place de la Nouvelle Aventure;59000;Lille;10;8;42;sms;06 20 12 34 56;",
            "Orthophonie du Vieux-Lille;bilan orthophonique;;59000;Lille;15;4;60;email;;ortho@exemple.fr"]
    bad = "Cabinet sans numéro;médecin traitant;;59000;Lille;10;8;42;sms;;"
    refused = post(client, coordinator, "\n".join([header, *good, bad]).encode(), what="cabinets")
    assert refused.status_code == 422
    assert [e["line"] for e in refused.json()["errors"]] == [4]
    db.expire_all()
    assert db.scalar(sa.select(sa.func.count()).select_from(Cabinet)) == 0, "the two good ones are undone too"
    elsewhere = ["Cabinet à Londres;médecin traitant;;59000;Lille;10;8;42;sms;03 20 12 34 57;;51.5;-0.12",
                 "Cabinet perdu;médecin traitant;;99999;Lille;10;8;42;sms;03 20 12 34 58;;;"]
    refused = post(client, coordinator, "\n".join([header + ";latitude;longitude", *elsewhere]).encode(),
                   what="cabinets").json()
    assert [(e["line"], e["column"]) for e in refused["errors"]] == [(2, None), (3, "code_postal")]
    assert "France" in refused["errors"][0]["message"], "coordinates outside France, as the API refuses them"
    done = post(client, coordinator, "\n".join([header, *good]).encode(), what="cabinets")
    assert done.status_code == 201 and done.json()["created"] == 2
    db.expire_all()
    assert sorted(db.scalars(sa.select(Cabinet.name))) == ["MSP Wazemmes", "Orthophonie du Vieux-Lille"]


def test_the_lac_command_imports_and_names_the_bad_lines(tmp_path):
    env = {"LAC_DATABASE_URL": f"sqlite:///{tmp_path / 'ops.db'}", "LAC_ENVIRONMENT": "development", "PATH": "/usr/bin"}

    def lac(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lac_service.cli", *args], env=env, cwd=REPO, capture_output=True,
                              text=True, timeout=120, check=False)

    assert lac("db", "upgrade").returncode == 0
    assert lac("org", "create", "cpts", "--name", "CPTS").returncode == 0
    (tmp_path / "bad.csv").write_bytes(ten_rows_three_bad())
    (tmp_path / "good.csv").write_bytes(csv_file(GOOD, encoding="cp1252"))
    refused = lac("import", "requests", str(tmp_path / "bad.csv"), "--org", "cpts", "--dry-run")
    assert refused.returncode == 1
    assert [line.split(" :")[0] for line in refused.stdout.splitlines()] == [
        "ligne 4, colonne « code_postal »", "ligne 7, colonne « date_naissance »", "ligne 10, colonne « type »"]
    assert "3 ligne(s) à corriger" in refused.stderr
    done = lac("import", "requests", str(tmp_path / "good.csv"), "--org", "cpts")
    assert done.returncode == 0, done.stderr
    assert "7 ligne(s) importée(s), 0 doublon(s)" in done.stdout
    wrong = lac("import", "cabinets", str(tmp_path / "good.csv"), "--org", "cpts", "--kind", "medecin_traitant")
    assert wrong.returncode == 1 and "--kind et --notify ne valent que pour une liste de demandes" in wrong.stderr
    again = lac("import", "requests", str(tmp_path / "good.csv"), "--org", "cpts")
    assert "0 ligne(s) importée(s), 7 doublon(s)" in again.stdout
    (tmp_path / "one.csv").write_bytes(csv_file([BAD[4].replace("99999", "59000")]))
    told = lac("import", "requests", str(tmp_path / "one.csv"), "--org", "cpts", "--notify")
    assert "1 ligne(s) importée(s)" in told.stdout, told.stderr
    with sqlite3.connect(tmp_path / "ops.db") as connection:
        assert connection.execute("select template, recipient from notifications").fetchall() == [
            ("imported", "+33612345608")], "no message for the 7 imported without --notify"
