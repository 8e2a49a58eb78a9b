"""``lac match-file``'s engine: CSV in, CSV out, and a bad row named before anything is written."""

import csv
from pathlib import Path

import numpy as np
import pytest

from lac_service.matching.engine import match_greedy
from lac_service.matching.files import MatchFileError, match_files, read_cabinets, read_requests
from lac_service.matching.synthetic import synthetic_round

KIND_NAMES = {0: "medecin_traitant", 1: "bilan_orthophonique"}
CABINET_KINDS = {1: "medecin_traitant", 2: "bilan_orthophonique", 3: "medecin_traitant|bilan_orthophonique"}


def write_round(folder: Path, n: int = 300, m: int = 30) -> tuple[Path, Path]:
    requests, cabinets, priority = synthetic_round(n, m, seed=3)
    requests_csv, cabinets_csv = folder / "requests.csv", folder / "cabinets.csv"
    with requests_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "lat", "lon", "kind", "priority", "max_distance_km", "people"])
        for row in range(len(requests)):
            writer.writerow([requests.ids[row], repr(float(requests.lat[row])), repr(float(requests.lon[row])),
                             KIND_NAMES[int(requests.kind[row])], priority[row], requests.max_km[row],
                             requests.people[row]])
    with cabinets_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "lat", "lon", "kind", "radius_km", "capacity"])
        for row in range(len(cabinets)):
            writer.writerow([cabinets.ids[row], repr(float(cabinets.lat[row])), repr(float(cabinets.lon[row])),
                             CABINET_KINDS[int(cabinets.kinds[row])], cabinets.radius_km[row], cabinets.capacity[row]])
    return requests_csv, cabinets_csv


def test_round_trip(tmp_path):
    requests_csv, cabinets_csv = write_round(tmp_path)
    summary = match_files(requests_csv, cabinets_csv, tmp_path / "out.csv", engine="greedy")
    with (tmp_path / "out.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["request_id", "cabinet_id", "distance_km"]
    requests, _ = read_requests(requests_csv)
    expected = match_greedy(requests, read_cabinets(cabinets_csv))
    assert [(int(r), int(c)) for r, c, _ in rows[1:]] == list(
        zip(expected.request_ids.tolist(), expected.cabinet_ids.tolist(), strict=True))
    assert [d for _, _, d in rows[1:]] == [f"{d:.3f}" for d in expected.distance_km.tolist()]
    rank = dict(zip(requests.ids.tolist(), requests.rank.tolist(), strict=True))
    assert [rank[int(r)] for r, _, _ in rows[1:]] == sorted(rank[int(r)] for r, _, _ in rows[1:])
    assert summary.matched == len(rows) - 1 and summary.requests == 300 and summary.cabinets == 30
    assert sum(summary.unmatched.values()) == 300 - summary.matched
    assert summary.people_matched == int(requests.people[np.isin(requests.ids, expected.request_ids)].sum())


def test_optimal_engine_on_files(tmp_path):
    requests_csv, cabinets_csv = write_round(tmp_path)
    greedy = match_files(requests_csv, cabinets_csv, tmp_path / "greedy.csv", engine="greedy")
    optimal = match_files(requests_csv, cabinets_csv, tmp_path / "optimal.csv", engine="optimal")
    assert optimal.engine == "optimal" and optimal.people_matched >= greedy.people_matched - 4


def test_french_spreadsheet_export_reads_the_same(tmp_path):
    (tmp_path / "r.csv").write_text("id;lat;lon;kind;priority;max_distance_km\n1;45,76;4,83;medecin_traitant;10;25,5\n",
                                    encoding="utf-8-sig")
    (tmp_path / "c.csv").write_text("id;lat;lon;kind;radius_km;capacity\n7;45,77;4,84;medecin_traitant;20;3\n")
    summary = match_files(tmp_path / "r.csv", tmp_path / "c.csv", tmp_path / "out.csv")
    assert summary.matched == 1
    assert (tmp_path / "out.csv").read_text().splitlines()[1].startswith("1,7,")


REQUESTS_HEADER = "id,lat,lon,kind,priority,max_distance_km,people"
GOOD_REQUEST = "1,45.76,4.83,medecin_traitant,10,30,1"


@pytest.mark.parametrize(
    ("lines", "line", "column", "words"),
    [
        ([REQUESTS_HEADER, GOOD_REQUEST, "2,abc,4.83,medecin_traitant,10,30,1"], 3, "lat", "latitude"),
        ([REQUESTS_HEADER, GOOD_REQUEST, "2,45.7,4.83,medecin,10,30,1"], 3, "kind", "type inconnu"),
        ([REQUESTS_HEADER, GOOD_REQUEST, "2,45.7,4.83,medecin_traitant,10,30,0"], 3, "people", "personnes"),
        ([REQUESTS_HEADER, GOOD_REQUEST, "2,45.7,4.83,medecin_traitant,dix,30,1"], 3, "priority", "points"),
        ([REQUESTS_HEADER, GOOD_REQUEST, "2,45.7,4.83,medecin_traitant,10,-3,1"], 3, "max_distance_km", "distance"),
        ([REQUESTS_HEADER, GOOD_REQUEST, "2,45.7,4.83,medecin_traitant,10,nan,1"], 3, "max_distance_km", "distance"),
        ([REQUESTS_HEADER, GOOD_REQUEST, "", GOOD_REQUEST], 4, "id", "en double (déjà ligne 2)"),
        ([REQUESTS_HEADER, GOOD_REQUEST, "2,45.7,4.83"], 3, None, "7 valeurs attendues, 3 lues"),
        (["id,lat,lon,kind,priority", GOOD_REQUEST], 1, "max_distance_km", "colonne manquante"),
        ([REQUESTS_HEADER + ",age", GOOD_REQUEST + ",3"], 1, "age", "colonne inconnue"),
        ([], 1, None, "fichier vide"),
    ],
)
def test_a_bad_request_row_is_named_and_nothing_is_written(tmp_path, lines, line, column, words):
    requests_csv, cabinets_csv = write_round(tmp_path, n=5, m=2)
    requests_csv.write_text("".join(f"{text}\n" for text in lines))
    out = tmp_path / "out.csv"
    with pytest.raises(MatchFileError) as caught:
        match_files(requests_csv, cabinets_csv, out)
    assert (caught.value.path.name, caught.value.line, caught.value.column) == ("requests.csv", line, column)
    assert str(caught.value).startswith(f"requests.csv, ligne {line}")
    assert words in str(caught.value)
    assert not out.exists()


def test_a_bad_cabinet_row_leaves_the_previous_output_alone(tmp_path):
    requests_csv, cabinets_csv = write_round(tmp_path, n=5, m=2)
    text = cabinets_csv.read_text().splitlines()
    cabinets_csv.write_text("\n".join([*text, "99,45.7,4.8,medecin_traitant,10,-1"]) + "\n")
    out = tmp_path / "out.csv"
    out.write_text("previous\n")
    with pytest.raises(MatchFileError, match="cabinets.csv, ligne 4, colonne « capacity »"):
        match_files(requests_csv, cabinets_csv, out)
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
