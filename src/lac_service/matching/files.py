"""The engine on files (``lac match-file``), and synthetic France-wide rounds written as such files.

Why files: anyone auditing a round (a coordinator, the ARS, a partner) can replay it from two CSVs without
the service, and the benchmark measures the engine alone. A bad row stops everything before anything is
written, with the file, line and column named in French (the person who exported the file reads it); a
``;``-separated export with decimal commas, as French spreadsheets write them, is read as well.
"""

import csv
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from lac_service.kinds import Kind
from lac_service.matching.engine import GP, REASONS, SPEECH_THERAPY, Cabinets, Requests, match_greedy, rank_by_priority
from lac_service.matching.optimal import match_optimal

KIND_CODES = {Kind.medecin_traitant.value: GP, Kind.bilan_orthophonique.value: SPEECH_THERAPY}
REQUEST_COLUMNS = ("id", "lat", "lon", "kind", "priority", "max_distance_km")
CABINET_COLUMNS = ("id", "lat", "lon", "kind", "radius_km", "capacity")


class MatchFileError(ValueError):
    """A bad input file; ``line`` counts from 1 (the header), ``column`` is a header name or None."""

    def __init__(self, path: Path, line: int, column: str | None, message: str) -> None:
        self.path, self.line, self.column = path, line, column
        where = f"{path.name}, ligne {line}" + (f", colonne « {column} »" if column else "")
        super().__init__(f"{where} : {message}")


@dataclass(frozen=True)
class MatchFileSummary:
    """What a run did, for the command to print: counts, and the unmatched by reason (every reason listed)."""

    engine: str
    requests: int
    cabinets: int
    matched: int
    people_matched: int
    unmatched: dict[str, int]


class _Table:
    """One CSV as text columns, each row remembering its line for the error message."""

    def __init__(self, path: Path, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
        self.path = path
        with path.open(newline="", encoding="utf-8-sig") as handle:
            first = handle.readline()
            self.french = first.count(";") > first.count(",")
            handle.seek(0)
            reader = csv.reader(handle, delimiter=";" if self.french else ",")
            header = [name.strip() for name in next(reader, [])]
            if not header:
                raise MatchFileError(path, 1, None, f"fichier vide, en-tête attendu : {','.join(required)}")
            for name in header:
                if name not in required + optional or header.count(name) > 1:
                    raise MatchFileError(path, 1, name, "colonne inconnue ou en double")
            for name in required:
                if name not in header:
                    raise MatchFileError(path, 1, name, "colonne manquante")
            rows, self.lines = [], []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise MatchFileError(path, reader.line_num, None,
                                         f"{len(header)} valeurs attendues, {len(row)} lues")
                rows.append(row)
                self.lines.append(reader.line_num)
        cells = list(zip(*rows, strict=True)) if rows else [()] * len(header)
        self.columns = {name: [cell.strip() for cell in column] for name, column in zip(header, cells, strict=True)}
        self.size = len(rows)

    def _fail(self, name: str, at: int, message: str) -> None:
        raise MatchFileError(self.path, self.lines[at], name, message.format(self.columns[name][at]))

    def numbers(self, name: str, dtype: type, low: float, high: float, what: str,
                default: str | None = None) -> np.ndarray:
        """A numeric column within [low, high]; the first bad cell is named."""
        text = self.columns.get(name, [default] * self.size)
        text = [cell or default or "" for cell in text]
        if self.french:
            text = [cell.replace(",", ".") for cell in text]
        try:
            values = np.array(text, dtype=dtype)
            ok = bool(np.all(np.isfinite(values)) and np.all((values >= low) & (values <= high)))
        except (ValueError, OverflowError):
            ok = False
        if not ok:
            for at, cell in enumerate(text):
                try:
                    value = np.array(cell, dtype=dtype)
                    good = bool(np.isfinite(value) and low <= value <= high)
                except (ValueError, OverflowError):
                    good = False
                if not good:
                    self._fail(name, at, f"« {{}} » : {what} attendu")
        return values

    def kinds(self, several: bool) -> list[int]:
        """Kind codes (or bitmasks of ``|``-separated kinds, for cabinets)."""
        codes = []
        for at, cell in enumerate(self.columns["kind"]):
            names = cell.split("|") if several else [cell]
            if not all(name.strip() in KIND_CODES for name in names):
                self._fail("kind", at, "type inconnu « {} » : medecin_traitant ou bilan_orthophonique attendu")
            codes.append(sum({1 << KIND_CODES[name.strip()] for name in names}) if several else KIND_CODES[cell])
        return codes

    def ids(self) -> np.ndarray:
        ids = self.numbers("id", np.int64, 0, 2**62, "identifiant entier")
        unique, first, counts = np.unique(ids, return_index=True, return_counts=True)
        if np.any(counts > 1):
            twice = int(unique[counts > 1][0])
            at = int(np.flatnonzero(ids == twice)[1])
            earlier = self.lines[int(first[counts > 1][0])]
            self._fail("id", at, f"identifiant « {{}} » en double (déjà ligne {earlier})")
        return ids


def read_requests(path: Path) -> tuple[Requests, np.ndarray]:
    """Requests and their priority points; ``people`` defaults to 1."""
    table = _Table(path, REQUEST_COLUMNS, ("people",))
    ids = table.ids()
    priority = table.numbers("priority", np.int64, -(2**62), 2**62, "nombre de points entier")
    requests = Requests(
        ids=ids, lat=table.numbers("lat", np.float64, -90, 90, "latitude entre -90 et 90"),
        lon=table.numbers("lon", np.float64, -180, 180, "longitude entre -180 et 180"),
        kind=np.array(table.kinds(several=False), dtype=np.int8),
        people=table.numbers("people", np.int32, 1, 1000, "nombre de personnes entier, au moins 1", default="1"),
        rank=rank_by_priority(priority, ids),
        max_km=table.numbers("max_distance_km", np.float64, 0, 20_100, "distance en km positive"),
    )
    return requests, priority


def read_cabinets(path: Path) -> Cabinets:
    table = _Table(path, CABINET_COLUMNS)
    return Cabinets(
        ids=table.ids(), lat=table.numbers("lat", np.float64, -90, 90, "latitude entre -90 et 90"),
        lon=table.numbers("lon", np.float64, -180, 180, "longitude entre -180 et 180"),
        kinds=np.array(table.kinds(several=True), dtype=np.uint8),
        radius_km=table.numbers("radius_km", np.float64, 0, 20_100, "rayon en km positif"),
        capacity=table.numbers("capacity", np.int32, 0, 100_000, "capacité entière, 0 ou plus"),
    )


def match_files(requests_csv: Path, cabinets_csv: Path, out_csv: Path,
                engine: Literal["greedy", "optimal"] = "greedy") -> MatchFileSummary:
    """Reads both files, runs one engine, writes ``request_id,cabinet_id,distance_km`` in rank order.

    The output appears whole or not at all (written aside, then renamed)."""
    engines = {"greedy": match_greedy, "optimal": match_optimal}
    if engine not in engines:
        raise ValueError(f"unknown engine {engine!r}: greedy or optimal")
    requests, _ = read_requests(Path(requests_csv))
    cabinets = read_cabinets(Path(cabinets_csv))
    result = engines[engine](requests, cabinets)
    out = Path(out_csv)
    lines = [f"{r},{c},{d:.3f}\n" for r, c, d in zip(result.request_ids.tolist(), result.cabinet_ids.tolist(),
                                                   result.distance_km.tolist(), strict=True)]
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write("request_id,cabinet_id,distance_km\n")
            stream.writelines(lines)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    reasons = Counter(result.unmatched_reasons)
    return MatchFileSummary(
        engine=engine, requests=len(requests), cabinets=len(cabinets), matched=int(result.request_ids.size),
        people_matched=int(requests.people[np.isin(requests.ids, result.request_ids)].sum()),
        unmatched={reason: reasons.get(reason, 0) for reason in REASONS},
    )
