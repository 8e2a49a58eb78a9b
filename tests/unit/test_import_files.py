"""Importing a waiting list from a spreadsheet export: what the coordinator reads back, line and column named."""

import gc
from datetime import UTC, date, datetime

import pytest

from lac_service.imports.files import RowError, UnreadableFile, read_cabinets, read_requests
from lac_service.kinds import Kind

UNKNOWN_KIND = "Type de demande inconnu : « kiné » (médecin traitant ou bilan orthophonique attendu)."
HEADER = ["Type", "Prénom", "Nom", "Date de naissance", "Téléphone", "CP", "Ville"]
GOOD = ["médecin traitant", "Jeanne", "Martin", "12/03/1950", "06 12 34 56 78", "59000", "Lille"]


def csv_file(header: list[str], *rows: list[str], sep: str = ";", encoding: str = "utf-8") -> bytes:
    return "".join(sep.join(cells) + "\r\n" for cells in (header, *rows)).encode(encoding)


def requests(*rows: list[str], header: list[str] = HEADER, **options) -> bytes:
    return csv_file(header, *rows, **options)


def with_cells(**changes: str) -> list[str]:
    """GOOD with some cells changed, each named by a short name of its column."""
    names = ["type", "prenom", "nom", "ddn", "tel", "cp", "ville"]
    return [changes.get(name, cell) for name, cell in zip(names, GOOD, strict=True)]


def unreadable(content: bytes, reader=read_requests, **options) -> str:
    with pytest.raises(UnreadableFile) as caught:
        reader(content, **options)
    return str(caught.value)


def test_ten_rows_three_bad_ones_named_by_line_and_column():
    rows = [with_cells(prenom=f"Patient{n}") for n in range(10)]
    rows[2] = with_cells(cp="5900A")
    rows[5] = with_cells(ddn="01/01/2999")
    rows[8] = with_cells(type="kiné")
    parsed = read_requests(requests(*rows))
    assert parsed.errors == [
        RowError(4, "CP", "Code postal invalide (5 chiffres, exemple : 59000)."),
        RowError(7, "Date de naissance", "La date de naissance ne peut pas être dans le futur."),
        RowError(10, "Type", UNKNOWN_KIND),
    ]
    assert [row.line for row in parsed.rows] == [2, 3, 5, 6, 8, 9, 11]
    first = parsed.rows[0].data
    assert first.kind is Kind.medecin_traitant and first.consent is True and first.source is None
    assert first.patient.first_name == "Patient0" and first.patient.birth_date == date(1950, 3, 12)
    assert first.patient.phone == "+33612345678" and first.patient.address.postal_code == "59000"
    assert first.patient.address.city == "Lille" and first.patient.address.line == ""
    assert parsed.rows[0].requested_at is None
    assert parsed.columns["patient.phone"] == "Téléphone" and parsed.columns["patient.address.postal_code"] == "CP"


def test_windows_1252_semicolon_export_with_accents():
    content = requests(["médecin traitant", "Élodie", "Lefèvre", "02/09/1987", "07 81 23 45 67", "42000",
                        "Saint-Étienne"], encoding="cp1252")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    [row] = read_requests(content).rows
    assert (row.data.patient.first_name, row.data.patient.last_name) == ("Élodie", "Lefèvre")
    assert row.data.patient.address.city == "Saint-Étienne" and row.data.kind is Kind.medecin_traitant


def test_utf8_with_bom_and_commas():
    content = b"\xef\xbb\xbf" + requests(with_cells(type="orthophonie", prenom="Zoé"), sep=",")
    [row] = read_requests(content).rows
    assert row.data.kind is Kind.bilan_orthophonique and row.data.patient.first_name == "Zoé"


def test_quoted_cells_hold_separators_and_line_breaks_and_lines_count_as_the_spreadsheet_shows_them():
    header = [*HEADER, "Adresse"]
    content = requests([*GOOD, '"Résidence Les Pins; bât. B\r\n12 rue des Lilas"'],
                       [*with_cells(cp="123"), '"Chez M. ""Durand""; 3e étage"'], header=header)
    parsed = read_requests(content)
    assert parsed.rows[0].data.patient.address.line == "Résidence Les Pins; bât. B\r\n12 rue des Lilas"
    assert parsed.errors == [RowError(3, "CP", "Code postal invalide (5 chiffres, exemple : 59000).")]


@pytest.mark.parametrize("header", [
    ["type", "prenom", "nom", "date_naissance", "telephone", "code_postal", "commune"],
    ["TYPE", "PRÉNOM", "NOM", "DATE DE NAISSANCE", "TÉL", "Code postal", "COMMUNE"],
    [" Type ", "Prenom", "Nom de famille", "date-naissance", "Portable", "code postal", "Ville"],
    ["Type de demande", "prénom", "nom", "DDN", "e-mail", "CP", "ville"],
])
def test_header_synonyms_accents_and_case(header):
    cells = with_cells(tel="jeanne@exemple.fr") if "e-mail" in header else GOOD
    [row] = read_requests(requests(cells, header=header)).rows
    assert row.data.patient.last_name == "Martin" and row.data.patient.address.city == "Lille"


def test_missing_required_columns_are_named_with_the_names_accepted():
    message = unreadable(requests(GOOD[:3] + GOOD[4:6], header=["Type", "Prénom", "Nom", "Téléphone", "CP"]))
    assert message.startswith("Colonnes obligatoires absentes : date_naissance (noms acceptés : date_naissance, "
                              "date de naissance, naissance, ddn) ; commune (noms acceptés : commune, ville).")
    assert "Colonnes lues : « Type », « Prénom », « Nom », « Téléphone », « CP »." in message


def test_a_column_given_twice_is_refused():
    message = unreadable(requests([*GOOD, "07 81 23 45 67"], header=[*HEADER, "Portable"]))
    assert message == ("Les colonnes « Téléphone » et « Portable » désignent la même information (telephone) : "
                       "gardez-en une seule.")


@pytest.mark.parametrize(("content", "start"), [
    (b"", "Le fichier est vide"),
    (b"\r\n\r\n", "Le fichier est vide"),
    (requests(), "Le fichier ne contient aucune ligne sous l'en-tête."),
    (requests([""] * 7, [" "] * 7), "Le fichier ne contient aucune ligne sous l'en-tête."),
    (bytes(range(256)) * 8, "Le fichier n'est pas un fichier texte CSV"),
    (b"PK\x03\x04\x14\x00\x06\x00" + bytes(100), "Ce fichier est un classeur (.xlsx, .ods) et non un CSV"),
    ("Type;Prénom\n".encode("utf-16"), "Le fichier n'est pas un fichier texte CSV"),
])
def test_files_refused_whole(content, start):
    assert unreadable(content).startswith(start)


def test_a_quote_left_open_is_refused_rather_than_swallowing_the_rest():
    content = requests(GOOD, with_cells(prenom='"Jeanne'), GOOD)
    assert unreadable(content).startswith("Ligne 3 : guillemets mal placés")


@pytest.mark.parametrize(("cell", "expected"), [
    ("oui", True), ("OUI", True), ("o", True), ("1", True), ("x", True), ("X", True), ("Vrai", True), ("yes", True),
    ("non", False), ("N", False), ("0", False), ("faux", False), ("no", False), ("", False),
])
def test_booleans(cell, expected):
    [row] = read_requests(requests([*GOOD, cell, cell], header=[*HEADER, "ALD", "Enceinte"])).rows
    assert row.data.criteria.ald is expected and row.data.criteria.pregnant is expected


def test_an_unknown_boolean_is_named():
    parsed = read_requests(requests([*GOOD, "peut-être"], header=[*HEADER, "ald"]))
    assert parsed.errors == [RowError(2, "ald", "Valeur non reconnue : « peut-être » (oui ou non attendu).")]


@pytest.mark.parametrize(("cell", "expected"), [("25,5", 25.5), ("30", 30.0), ("12,5 km", 12.5), ("", None)])
def test_distance_with_a_decimal_comma(cell, expected):
    [row] = read_requests(requests([*GOOD, cell], header=[*HEADER, "Distance max"])).rows
    assert row.data.max_distance_km == expected


def test_distance_out_of_bounds_or_not_a_number():
    parsed = read_requests(requests([*GOOD, "0"], [*GOOD, "loin"], header=[*HEADER, "distance"]))
    assert parsed.errors == [RowError(2, "distance", "La valeur doit être supérieure à 0."),
                             RowError(3, "distance", "Nombre invalide : « loin ».")]


def test_request_date_with_and_without_time_in_french_time():
    header = [*HEADER, "Date d'inscription"]
    parsed = read_requests(requests([*GOOD, "05/03/2024 10:15"], [*GOOD, "15/07/2024"], [*GOOD, "2023-11-02"],
                                    [*GOOD, ""], header=header))
    assert [row.requested_at for row in parsed.rows] == [
        datetime(2024, 3, 5, 9, 15, tzinfo=UTC),  # winter: UTC+1
        datetime(2024, 7, 14, 22, 0, tzinfo=UTC),  # summer: UTC+2, midnight in Paris
        datetime(2023, 11, 1, 23, 0, tzinfo=UTC),
        None,
    ]


def test_an_overseas_list_is_read_in_its_patients_time():
    """A list kept in Fort-de-France (UTC-4): « 01/03/2024 » is that day there, not the evening before."""
    martinique = ["médecin traitant", "Jeanne", "Martin", "12/03/1950", "0696 12 34 56", "97200", "Fort-de-France"]
    parsed = read_requests(requests([*martinique, "01/03/2024"], [*GOOD, "01/03/2024"],
                                    header=[*HEADER, "date_demande"]))
    assert [row.requested_at for row in parsed.rows] == [
        datetime(2024, 3, 1, 4, 0, tzinfo=UTC), datetime(2024, 2, 29, 23, 0, tzinfo=UTC),
    ]


def test_request_date_in_the_future_or_unreadable():
    parsed = read_requests(requests([*GOOD, "01/01/2999 08:00"], [*GOOD, "31/02/2024"], [*GOOD, "hier"],
                                    header=[*HEADER, "date_demande"]))
    assert parsed.errors == [
        RowError(2, "date_demande", "La date de la demande ne peut pas être dans le futur : « 01/01/2999 08:00 »."),
        RowError(3, "date_demande", "Date invalide : « 31/02/2024 » (format attendu : JJ/MM/AAAA)."),
        RowError(4, "date_demande", "Date invalide : « hier » (format attendu : JJ/MM/AAAA)."),
    ]


def test_a_request_date_before_2000_or_before_the_birth_is_refused_not_ranked_first():
    """Months waited raise the priority: a typo of a century, or the 01/01/0001 some software writes for an
    empty date (which also fell outside the calendar once moved to UTC), would put the patient first."""
    parsed = read_requests(requests([*GOOD, "01/01/0001 00:00:00"], [*GOOD, "01/02/1024"], [*GOOD, "01/02/1949"],
                                    [*GOOD, "31/12/9999 23:59"], [*GOOD, "01/02/2000"],
                                    header=[*HEADER, "date_demande"]))
    assert parsed.errors == [
        RowError(2, "date_demande", "La date de la demande précède la naissance du patient : « 01/01/0001 »."),
        RowError(3, "date_demande", "La date de la demande précède la naissance du patient : « 01/02/1024 »."),
        RowError(4, "date_demande", "La date de la demande précède la naissance du patient : « 01/02/1949 »."),
        RowError(5, "date_demande", "La date de la demande ne peut pas être dans le futur : « 31/12/9999 23:59 »."),
    ]
    assert [row.requested_at for row in parsed.rows] == [datetime(2000, 1, 31, 23, 0, tzinfo=UTC)]
    martinique = ["médecin traitant", "Jeanne", "Martin", "12/03/2001", "0696 12 34 56", "97200", "Fort-de-France"]
    parsed = read_requests(requests([*martinique, "31/12/9999 23:59"], [*martinique, "01/01/1999"],
                                    header=[*HEADER, "date_demande"]))
    assert [error.message for error in parsed.errors] == [
        "La date de la demande ne peut pas être dans le futur : « 31/12/9999 23:59 ».",
        "La date de la demande précède la naissance du patient : « 01/01/1999 ».",
    ]
    born_long_ago = read_requests(requests([*GOOD, "01/01/1999"], header=[*HEADER, "date_demande"]))
    assert [error.message for error in born_long_ago.errors] == [
        "La date de la demande est trop ancienne : « 01/01/1999 » (avant 2000 : une faute de frappe, ou une date "
        "vide écrite 01/01/0001)."]


@pytest.mark.parametrize("cell", ["Léa Martin 03/04/2015, Tom Martin 01/02/2019",
                                  "Léa Martin 03/04/2015 et Tom Martin 01/02/2019",
                                  "Léa Martin 03/04/2015 / Tom Martin 01/02/2019",
                                  '"Léa Martin 03/04/2015 ; Tom Martin 01/02/2019"',  # quoted: ";" separates cells
                                  "Léa Martin 03/04/2015 + Tom Martin 01/02/2019"])
def test_household_members_as_people_write_them_between_dates(cell):
    """Read as one member, « Léa » would have been born on Tom's birthday with a last name holding a date, and
    Tom would have been lost."""
    [row] = read_requests(requests([*GOOD, cell], header=[*HEADER, "Foyer"])).rows
    assert [(m.first_name, m.last_name, m.birth_date) for m in row.data.household] == [
        ("Léa", "Martin", date(2015, 4, 3)), ("Tom", "Martin", date(2019, 2, 1))]


@pytest.mark.parametrize("cell", ["Léa Martin 03/04/2015 Tom Martin 01/02/2019", "Léa et Tom Martin 03/04/2015",
                                  "Léa, Tom Martin 03/04/2015", "Léa & Tom Martin 03/04/2015"])
def test_household_members_that_cannot_be_told_apart_are_refused(cell):
    """Twins written with one date are two people: read as one, the second would be lost."""
    parsed = read_requests(requests([*GOOD, f'"{cell}"'], header=[*HEADER, "Foyer"]))
    assert [error.message for error in parsed.errors] == [
        f"Membre du foyer n° 1 illisible : « {cell} » (attendu : Prénom Nom JJ/MM/AAAA, les membres séparés par "
        "« | »)."]


@pytest.mark.parametrize("cell", ["12/03/1950", "12-03-1950", "12.03.1950", "1950-03-12", "12/3/1950"])
def test_birth_date_writings(cell):
    [row] = read_requests(requests(with_cells(ddn=cell))).rows
    assert row.data.patient.birth_date == date(1950, 3, 12)


def test_household_members():
    cell = "Léa Martin 03/04/2015 | Jean-Paul De La Tour 2018-06-05"
    [row] = read_requests(requests([*GOOD, cell], header=[*HEADER, "Foyer"])).rows
    assert [(m.first_name, m.last_name, m.birth_date) for m in row.data.household] == [
        ("Léa", "Martin", date(2015, 4, 3)), ("Jean-Paul", "De La Tour", date(2018, 6, 5))]


def test_household_members_one_per_line_of_the_cell():
    [row] = read_requests(requests([*GOOD, '"Léa Martin 03/04/2015\nTom Martin 01/02/2019"'],
                                   header=[*HEADER, "foyer"])).rows
    assert [m.first_name for m in row.data.household] == ["Léa", "Tom"]


def test_bad_household_members_are_named():
    parsed = read_requests(requests([*GOOD, "Léa Martin 03/04/2015 | Paul"], [*GOOD, "Léa Martin 2015"],
                                    [*GOOD, "Léa Martin 01/01/2999"], header=[*HEADER, "Foyer"]))
    assert parsed.errors == [
        RowError(2, "Foyer", "Membre du foyer n° 2 illisible : « Paul » (attendu : Prénom Nom JJ/MM/AAAA, "
                             "les membres séparés par « | »)."),
        RowError(3, "Foyer", "Membre du foyer n° 1 : Date invalide : « 2015 » (format attendu : JJ/MM/AAAA)."),
        RowError(4, "Foyer", "Membre du foyer n° 1 : La date de naissance ne peut pas être dans le futur."),
    ]


def test_too_many_household_members():
    cell = " | ".join(f"Enfant{n} Martin 01/01/2010" for n in range(13))
    parsed = read_requests(requests([*GOOD, cell], header=[*HEADER, "Foyer"]))
    assert parsed.errors == [RowError(2, "Foyer", "Trop d'éléments (12 au plus).")]


def test_other_columns_are_ignored():
    [row] = read_requests(requests(["Remarque", *GOOD, "x"], header=["Commentaire", *HEADER, ""])).rows
    assert row.data.patient.first_name == "Jeanne"


def test_a_row_longer_than_the_header_is_named_but_empty_trailing_cells_are_not():
    parsed = read_requests(requests([*GOOD, "en trop"], [*GOOD, "", ""]))
    assert parsed.errors == [RowError(2, None, "Cette ligne a plus de colonnes que l'en-tête.")]
    assert [row.line for row in parsed.rows] == [3]


def test_short_rows_and_empty_rows():
    parsed = read_requests(requests(GOOD[:5], [], [""] * 7, GOOD))
    assert parsed.errors == [RowError(2, "CP", "Case vide : cette colonne est obligatoire."),
                             RowError(2, "Ville", "Case vide : cette colonne est obligatoire.")]
    assert [row.line for row in parsed.rows] == [5]


def test_errors_follow_lines_then_the_file_column_order():
    header = ["Ville", "CP", "Téléphone", "Nom", "Prénom", "Date de naissance", "Type"]
    parsed = read_requests(requests(["Lille", "590", "12", "Martin", "", "12/03/1950", "MT"],
                                    ["Lille", "59000", "06 12 34 56 78", "", "Jeanne", "32/01/1950", "kiné"],
                                    header=header))
    assert [(error.line, error.column) for error in parsed.errors] == [
        (2, "CP"), (2, "Téléphone"), (2, "Prénom"), (3, "Nom"), (3, "Date de naissance"), (3, "Type")]
    assert parsed.errors[1].message == "Numéro de téléphone invalide (exemple : 06 12 34 56 78)."


def test_four_digit_postal_code_points_at_the_lost_zero():
    parsed = read_requests(requests(with_cells(cp="1000")))
    assert parsed.errors == [RowError(2, "CP", "Code postal à 4 chiffres : « 1000 ». Le tableur a sans doute "
                                               "effacé le zéro initial (écrivez 01000).")]


def test_email_checked():
    parsed = read_requests(requests([*GOOD, "jeanne@"], [*GOOD, "Jeanne@Exemple.fr"], header=[*HEADER, "Courriel"]))
    assert parsed.errors == [RowError(2, "Courriel", "Adresse e-mail invalide (exemple : nom@exemple.fr).")]
    assert parsed.rows[0].data.patient.email == "Jeanne@exemple.fr"


def test_max_rows():
    content = requests(*[GOOD] * 4)
    assert len(read_requests(content, max_rows=4).rows) == 4
    assert unreadable(content, max_rows=3) == "Le fichier dépasse 3 lignes : découpez-le en plusieurs fichiers."


def test_twenty_thousand_rows():
    rows = [[("MT", "ortho")[n % 2], f"Prénom{n}", f"Nom{n}", f"{n % 28 + 1}/{n % 12 + 1}/{1930 + n % 90}",
             f"06 12 {n % 90 + 10} {n % 89 + 10} {n % 83 + 10}", "59000", "Lille", "oui" if n % 3 else "",
             "01/02/2024 10:00", "Léa Martin 01/01/2015" if n % 2 == 0 else ""] for n in range(20_000)]
    collecting = gc.isenabled()
    parsed = read_requests(requests(*rows, header=[*HEADER, "ALD", "date_demande", "Foyer"]))
    assert parsed.errors == [] and len(parsed.rows) == 20_000 and parsed.rows[-1].line == 20_001
    assert gc.isenabled() == collecting


CABINET_HEADER = ["Nom", "Types", "Adresse", "Code postal", "Commune", "Latitude", "Longitude", "Rayon (km)",
                  "Taille du lot", "Cadence", "Canaux", "Téléphones", "E-mails"]


def test_cabinets_good_rows():
    content = csv_file(CABINET_HEADER,
                       ["Cabinet du Parc", "MT", "1 place du Parc", "59000", "Lille", "50,63", "3,06", "15", "", "",
                        "sms+email", "03 20 12 34 56 | 06 12 34 56 78", "accueil@parc.fr"],
                       ["Orthophonie Nord", "ortho, MT", "", "59100", "Roubaix", "", "", "7,5", "4", "30", "aucun",
                        "", ""])
    parsed = read_cabinets(content)
    assert parsed.errors == []
    first, second = (row.data for row in parsed.rows)
    assert first.kinds == [Kind.medecin_traitant] and first.location.lat == 50.63 and first.location.lon == 3.06
    assert (first.radius_km, first.batch_size, first.cadence_days) == (15.0, 10, 42)
    assert first.channels == ["sms", "email"] and first.emails == ["accueil@parc.fr"]
    assert first.phones == ["+33320123456", "+33612345678"]
    assert second.kinds == [Kind.bilan_orthophonique, Kind.medecin_traitant] and second.location is None
    assert (second.radius_km, second.batch_size, second.cadence_days, second.channels) == (7.5, 4, 30, [])


def test_a_cabinets_number_for_patients_has_its_own_column():
    header = ["Nom", "Types", "Code postal", "Commune", "Rayon (km)", "Téléphones", "Téléphone pour les patients"]
    parsed = read_cabinets(csv_file(header, ["Cabinet du Parc", "MT", "59000", "Lille", "15", "06 12 34 56 78",
                                             "03 20 12 34 56"],
                                    ["Cabinet Sud", "MT", "59000", "Lille", "15", "", "12"]))
    assert parsed.rows[0].data.patient_phone == "+33320123456" and parsed.rows[0].data.phones == ["+33612345678"]
    assert [(e.line, e.column) for e in parsed.errors] == [(3, "Téléphone pour les patients")]


def test_cabinets_bad_rows():
    good = ["Cabinet", "MT", "", "59000", "Lille", "", "", "10", "", "", "", "", ""]

    def row(**changes: str) -> list[str]:
        return [changes.get(name, cell) for name, cell in zip(CABINET_HEADER, good, strict=True)]

    parsed = read_cabinets(csv_file(CABINET_HEADER, row(Types="kiné"), row(**{"Rayon (km)": "0"}),
                                    row(Latitude="50,6"), row(Canaux="fax"), row(Téléphones="06 12 34 56 78 / 12"),
                                    row(Cadence="2,5", Nom="")))
    assert parsed.errors == [
        RowError(2, "Types", UNKNOWN_KIND),
        RowError(3, "Rayon (km)", "La valeur doit être supérieure à 0."),
        RowError(4, "Latitude", "Indiquez la latitude et la longitude, ou aucune des deux (l'adresse sera alors "
                                "localisée)."),
        RowError(5, "Canaux", "Canal inconnu : « fax » (sms, email, sms+email ou aucun attendu)."),
        RowError(6, "Téléphones", "Téléphone n° 2 : Numéro de téléphone invalide (exemple : 06 12 34 56 78)."),
        RowError(7, "Nom", "Case vide : cette colonne est obligatoire."),
        RowError(7, "Cadence", "Nombre entier attendu : « 2,5 »."),
    ]
    assert parsed.rows == []


def test_cabinets_missing_column():
    message = unreadable(csv_file(["Nom", "Types", "CP", "Ville"], ["Cabinet", "MT", "59000", "Lille"]),
                         read_cabinets)
    assert message.startswith("Colonne obligatoire absente : rayon_km (noms acceptés : rayon_km, rayon).")


@pytest.mark.parametrize("sep", ["\t", ",", ";"])
def test_separators_and_old_mac_line_ends(sep):
    content = requests(GOOD, GOOD, sep=sep).replace(b"\r\n", b"\r")
    assert [row.line for row in read_requests(content).rows] == [2, 3]


def test_a_wrong_coordinate_is_named_once():
    header = ["Nom", "Types", "CP", "Ville", "Rayon", "Lat", "Lon"]
    parsed = read_cabinets(csv_file(header, ["Cabinet", "MT", "59000", "Lille", "10", "nord", "3,06"]))
    assert parsed.errors == [RowError(2, "Lat", "Nombre invalide : « nord ».")]
