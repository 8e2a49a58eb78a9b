"""Waiting lists kept in a spreadsheet (a practitioner's, a CPTS's): CSV bytes in, checked rows out.

Pure, with no database, so that a coordinator sees every problem of the file at once, each named by its line
and by the file's own column header, before anything is written. Only the schemas' checks run here: the
service's rules (a phone or an e-mail, duplicates, a household on GP requests only, a channel with somewhere
to send) are met when the caller writes the rows, and ``Parsed.columns`` names the file's column for them.
Messages quote cells, that is patient data: show them to whoever sent the file, never log them.
"""

import csv
import gc
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any, Generic, NamedTuple, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core.core_schema import ErrorType

from lac_service.cabinets.schemas import CabinetCreate
from lac_service.intake.schemas import RequestCreate
from lac_service.kinds import Kind
from lac_service.kit.clock import local_zone, utcnow
from lac_service.kit.text import fold

T = TypeVar("T")
SAVE_AS_CSV = "dans le tableur, « Enregistrer sous » au format « CSV (séparateur : point-virgule) »"


class UnreadableFile(ValueError):
    """The whole file is refused, in French: no row of it can be trusted."""


@dataclass(frozen=True)
class RowError:
    line: int  # as the spreadsheet numbers it: the header is line 1
    column: str | None  # the file's own header; None: the whole row
    message: str


@dataclass(frozen=True, slots=True)
class RequestRow:
    """``data.consent`` is true: whoever kept the list collected it when registering the patient, and the
    coordinator who imports the list vouches for it. ``data.source`` is the caller's to set."""

    line: int
    data: RequestCreate
    requested_at: datetime | None  # aware UTC, so the patient keeps their place in the queue


@dataclass(frozen=True, slots=True)
class CabinetRow:
    line: int
    data: CabinetCreate


@dataclass(frozen=True)
class Parsed(Generic[T]):
    """``columns`` maps a schema path (``patient.phone``) to the file's header, to place the service's refusals."""

    rows: list[T]
    errors: list[RowError]
    columns: dict[str, str] = field(default_factory=dict)


class _CellError(ValueError):
    pass


# Cells: each parser takes a stripped, non-empty cell and returns what the schema expects.
_DATE = re.compile(r"(?:(\d{1,2})([/.-])(\d{1,2})\2(\d{4})|(\d{4})-(\d{1,2})-(\d{1,2}))"
                   r"(?:[ T]+(\d{1,2})[:hH](\d{2})(?::(\d{2}))?)?")
_NUMBER = str.maketrans({",": ".", " ": None, "\u00a0": None, "\u202f": None})
_YES, _NO = {"oui", "o", "1", "x", "vrai", "yes", "y", "true"}, {"non", "n", "0", "faux", "no", "false"}
_KINDS = {fold(name): kind for kind, names in {
    Kind.medecin_traitant: ("medecin_traitant", "médecin traitant", "MT", "médecin", "généraliste"),
    Kind.bilan_orthophonique: ("bilan_orthophonique", "bilan orthophonique", "orthophonie", "ortho", "orthophoniste"),
}.items() for name in names}
_CHANNELS = {"sms": "sms", "email": "email", "mail": "email", "courriel": "email", "aucun": None, "et": None}
_KIND_SPLIT, _CHANNEL_SPLIT = re.compile(r"[,|+;/]"), re.compile(r"[\s,|+;/]+")
_LIST_SPLIT = re.compile(r"\s*[,|;]\s*|\s+/\s+")
# Members by "|" or line, and as people also write them: a date, then ",", ";", "+", "et" or " / ".
_MEMBER_SPLIT = re.compile(r"\s*[|\n]\s*|(?<=\d)\s*[,;+]\s*|(?<=\d)\s+(?:et|/)\s+", re.IGNORECASE)
_MEMBER = re.compile(r"(\S+)\s+(.+?)\s+(\S+)")
# Two people read as one: names joined ("Léa et Tom Martin 03/04/2015"), or a date inside the last name.
_JOINED = re.compile(r",|\s(?:et|&|\+)\s", re.IGNORECASE)
_BINARY = re.compile(rb"[\x00-\x08\x0e-\x19\x1c-\x1f]")


@lru_cache(maxsize=4096)
def _key(raw: str) -> str:
    """Yes/no, kinds and channels repeat on every row: fold each spelling once."""
    return fold(raw)


def _date(raw: str, *, with_time: bool = False) -> datetime:
    if (match := _DATE.fullmatch(raw)) and (with_time or not match[8]):
        d, _, m, y, iso_y, iso_m, iso_d, hours, minutes, seconds = match.groups()
        try:
            return datetime(int(iso_y or y), int(iso_m or m), int(iso_d or d), int(hours or 0), int(minutes or 0),
                            int(seconds or 0))
        except ValueError:
            pass
    raise _CellError(f"Date invalide : « {raw} » (format attendu : JJ/MM/AAAA).")


def _birth_date(raw: str) -> date:
    return _date(raw).date()


def _requested_at(raw: str) -> datetime:
    """The wall time the list gives, in the patient's time: placed in UTC once their postal code is known
    (``_request_extras``)."""
    return _date(raw, with_time=True)


def _postal_code(raw: str) -> str:
    if len(raw) == 4 and raw.isdigit():
        raise _CellError(f"Code postal à 4 chiffres : « {raw} ». Le tableur a sans doute effacé le zéro initial "
                         f"(écrivez 0{raw}).")
    return raw


def _bool(raw: str) -> bool:
    if (key := _key(raw)) in _YES or key in _NO:
        return key in _YES
    raise _CellError(f"Valeur non reconnue : « {raw} » (oui ou non attendu).")


def _number(raw: str) -> float:
    try:
        return float((raw[:-2] if raw[-2:].lower() == "km" else raw).translate(_NUMBER))
    except ValueError:
        raise _CellError(f"Nombre invalide : « {raw} ».") from None


def _integer(raw: str) -> int:
    if not (value := _number(raw)).is_integer():
        raise _CellError(f"Nombre entier attendu : « {raw} ».")
    return int(value)


def _kind(raw: str) -> Kind:
    if (kind := _KINDS.get(_key(raw))) is None:
        raise _CellError(f"Type de demande inconnu : « {raw} » (médecin traitant ou bilan orthophonique attendu).")
    return kind


def _kinds(raw: str) -> list[Kind]:
    return list(dict.fromkeys(_kind(part.strip()) for part in _KIND_SPLIT.split(raw) if part.strip()))


def _channels(raw: str) -> list[str]:
    for part in (parts := list(filter(None, _CHANNEL_SPLIT.split(raw)))):
        if _key(part) not in _CHANNELS:
            raise _CellError(f"Canal inconnu : « {part} » (sms, email, sms+email ou aucun attendu).")
    return list(dict.fromkeys(channel for part in parts if (channel := _CHANNELS[_key(part)])))


def _split(raw: str) -> list[str]:
    return [part for part in _LIST_SPLIT.split(raw) if part]


def _household(raw: str) -> list[dict[str, Any]]:
    """One member per "|" (or per line of the cell): "Prénom Nom JJ/MM/AAAA", the first word being the first name."""
    members = []
    for number, entry in enumerate(filter(None, _MEMBER_SPLIT.split(raw)), start=1):
        if (match := _MEMBER.fullmatch(entry)) is None or _JOINED.search(f"{match[1]} {match[2]}") or any(
                c.isdigit() for c in match[2]):
            raise _CellError(f"Membre du foyer n° {number} illisible : « {entry} » (attendu : Prénom Nom "
                             "JJ/MM/AAAA, les membres séparés par « | »).")
        try:
            members.append({"first_name": match[1], "last_name": match[2], "birth_date": _birth_date(match[3])})
        except _CellError as exc:
            raise _CellError(f"Membre du foyer n° {number} : {exc}") from None
    return members


class Column(NamedTuple):
    name: str  # shown in messages; it, the synonyms and the file's headers are compared folded
    path: tuple[str, ...] | None  # where the value goes in the schema; None: kept beside it
    parse: Callable[[str], Any]
    required: bool = False
    synonyms: tuple[str, ...] = ()
    item: str | None = None  # names one element of a list in errors
    help: str = ""  # what a cell holds, for the import screen


REQUEST_COLUMNS = (
    Column("type", ("kind",), _kind, True, ("type de demande",),
            help="« médecin traitant » ou « bilan orthophonique » (ou « MT », « orthophonie »)."),
    Column("prenom", ("patient", "first_name"), str, True, ("prenoms",)),
    Column("nom", ("patient", "last_name"), str, True, ("nom de famille",)),
    Column("date_naissance", ("patient", "birth_date"), _birth_date, True, ("date de naissance", "naissance", "ddn"),
            help="JJ/MM/AAAA, par exemple 14/03/1958."),
    Column("telephone", ("patient", "phone"), str, False, ("tel", "portable", "mobile"),
            help="Un téléphone ou un e-mail au moins, pour joindre le patient."),
    Column("email", ("patient", "email"), str, False, ("mail", "courriel", "e-mail", "adresse e-mail")),
    Column("adresse", ("patient", "address", "line"), str, False, ("rue", "adresse postale")),
    Column("code_postal", ("patient", "address", "postal_code"), _postal_code, True, ("cp",),
            help="5 chiffres : avec la commune, il situe le domicile."),
    Column("commune", ("patient", "address", "city"), str, True, ("ville",)),
    Column("ald", ("criteria", "ald"), _bool, False, ("affection de longue durée",), help="oui ou non (vide : non)."),
    Column("grossesse", ("criteria", "pregnant"), _bool, False, ("enceinte",), help="oui ou non (vide : non)."),
    Column("distance_max_km", ("max_distance_km",), _number, False, ("distance", "distance max"),
            help="Jusqu'au cabinet, en km (vide : la distance par défaut du type de demande)."),
    Column("date_demande", None, _requested_at, False, ("date de la demande", "inscription", "date d'inscription"),
            help="JJ/MM/AAAA : l'attente compte depuis cette date, le patient garde son ancienneté "
                 "(vide : aujourd'hui)."),
    Column("foyer", ("household",), _household, False, ("membres du foyer",), "Membre du foyer n°",
            help="Médecin traitant : les proches à suivre par le même médecin, « Prénom Nom JJ/MM/AAAA » "
                 "séparés par « | » (ou par une virgule après chaque date)."),
)
_CABINET_COLUMNS = (
    Column("nom", ("name",), str, True, ("nom du cabinet", "cabinet")),
    Column("types", ("kinds",), _kinds, True, ("type",)),
    Column("adresse", ("address", "line"), str, False, ("rue", "adresse postale")),
    Column("code_postal", ("address", "postal_code"), _postal_code, True, ("cp",)),
    Column("commune", ("address", "city"), str, True, ("ville",)),
    Column("latitude", ("location", "lat"), _number, False, ("lat",)),
    Column("longitude", ("location", "lon"), _number, False, ("lon",)),
    Column("rayon_km", ("radius_km",), _number, True, ("rayon",)),
    Column("patients_par_lot", ("batch_size",), _integer, False, ("lot", "taille du lot")),
    Column("rythme_jours", ("cadence_days",), _integer, False, ("cadence", "rythme")),
    Column("canaux", ("channels",), _channels, False, ("canal",)),
    Column("telephones", ("phones",), _split, False, ("telephone", "tel"), "Téléphone n°"),
    Column("emails", ("emails",), _split, False, ("email", "mail", "courriel", "e-mail"), "Adresse e-mail n°"),
    Column("telephone_patients", ("patient_phone",), str, False, ("téléphone pour les patients", "tel patients")),
)

# Pydantic's own errors in the words of a file; the schemas' custom errors already speak French.
_BUILT_IN = frozenset(get_args(ErrorType))
_MESSAGES = {
    "missing": "Case vide : cette colonne est obligatoire.",
    "string_too_long": "Texte trop long ({max_length} caractères au plus).",
    "greater_than": "La valeur doit être supérieure à {gt}.",
    "greater_than_equal": "La valeur doit être supérieure ou égale à {ge}.",
    "less_than_equal": "La valeur doit être inférieure ou égale à {le}.",
    "too_long": "Trop d'éléments ({max_length} au plus).",
    "too_short": "Au moins une valeur attendue.",
    "finite_number": "Nombre invalide.",
}


def _message(error: Any) -> str:
    if (kind := error["type"]) not in _MESSAGES:
        return "Valeur invalide." if kind in _BUILT_IN else str(error["msg"])
    context = {k: f"{v:g}".replace(".", ",") if isinstance(v, float) else v for k, v in error.get("ctx", {}).items()}
    return _MESSAGES[kind].format(**context)


def _decode(content: bytes) -> str:
    if content.startswith(b"PK\x03\x04"):
        raise UnreadableFile(f"Ce fichier est un classeur (.xlsx, .ods) et non un CSV : {SAVE_AS_CSV}.")
    if not _BINARY.search(content):
        for encoding in ("utf-8-sig", "cp1252"):  # cp1252: what Excel writes in France
            try:
                return content.decode(encoding)
            except UnicodeDecodeError:
                pass
    raise UnreadableFile(f"Le fichier n'est pas un fichier texte CSV : {SAVE_AS_CSV}.")


def _separator(text: str) -> str:
    """The most frequent of ; , and tab on the header line, outside quotes; a tie goes to the French ";"."""
    counts, quoted = dict.fromkeys(";,\t", 0), False
    for char in text[:20_000]:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "\r\n":
            break
        elif not quoted and char in counts:
            counts[char] += 1
    return max(counts, key=counts.__getitem__)


class _Table:
    """One file's layout: where each cell goes in the schema, and which column each error belongs to."""

    def __init__(self, header: list[str], columns: tuple[Column, ...], model: type[BaseModel],
                 given: dict[str, Any]) -> None:
        """``given``: by column name, the value of its empty cells, or of every row when the file has no such
        column (a speech therapist's list has no "type" column: all its rows are speech-therapy requests)."""
        known = {fold(name): column for column in columns for name in (column.name, *column.synonyms)}
        self.header, self.model = header, model
        self.layout: dict[int, Column] = {}
        for position, text in enumerate(header):
            if (column := known.get(fold(text))) is not None and column in self.layout.values():
                twin = next(p for p, c in self.layout.items() if c is column)
                raise UnreadableFile(f"Les colonnes « {header[twin]} » et « {text} » désignent la même "
                                     f"information ({column.name}) : gardez-en une seule.")
            if column is not None:
                self.layout[position] = column
        absent = [c for c in columns if c not in self.layout.values()]
        if missing := [c for c in absent if c.required and c.name not in given]:
            names = " ; ".join(f"{c.name} (noms acceptés : {', '.join((c.name, *c.synonyms))})" for c in missing)
            plural = "s obligatoires absentes" if len(missing) > 1 else " obligatoire absente"
            read = ", ".join(f"« {text} »" for text in header)
            raise UnreadableFile(f"Colonne{plural} : {names}. Colonnes lues : {read}.")
        self.position = {c.name: p for p, c in self.layout.items()}
        self.where = {c.path: p for p, c in self.layout.items() if c.path}
        # Sub-objects are made even when their cells are empty, so that "missing" names a column.
        nests = sorted({path[:i] for path in self.where for i in range(1, len(path))}, key=len)
        slot = {(): 0} | {nest: i for i, nest in enumerate(nests, start=1)}
        self.nests = [(slot[nest[:-1]], nest[-1]) for nest in nests]
        self.plan = [(p, c, slot[c.path[:-1]], c.path[-1]) if c.path else (p, c, 0, "") for p, c in self.layout.items()]
        self.given = {c.name: given[c.name] for c in self.layout.values() if c.name in given}
        # Only top-level fields are given (the kind): nothing to nest.
        self.constants = {c.path[0]: given[c.name] for c in absent if c.name in given and c.path and len(c.path) == 1}

    def check(self, line: int, cells: list[str], extras: Callable[..., list[tuple[str, str]]]
              ) -> tuple[BaseModel | None, dict[str, Any], list[RowError]]:
        nodes: list[dict[str, Any]] = [dict(self.constants)]
        for parent, key in self.nests:
            nodes[parent][key] = node = {}
            nodes.append(node)
        values: dict[str, Any] = {}
        found: list[tuple[int, str]] = []
        for position, column, node_index, leaf in self.plan:
            if raw := cells[position]:
                try:
                    values[column.name] = value = column.parse(raw)
                except _CellError as exc:
                    values[column.name] = None  # given, though wrong: no second message about it
                    found.append((position, str(exc)))
                    continue
                if leaf:
                    nodes[node_index][leaf] = value
            elif leaf and column.name in self.given:
                nodes[node_index][leaf] = self.given[column.name]
        found += [(self.position[name], message) for name, message in extras(values, nodes[0])]
        try:
            data = self.model.model_validate(nodes[0])
        except ValidationError as exc:
            data, failed = None, {position for position, _ in found}  # those have a clearer message already
            for error in exc.errors(include_url=False):
                path = tuple(part for part in error["loc"] if isinstance(part, str))
                while path and path not in self.where:
                    path = path[:-1]
                if (position := self.where.get(path, -1)) not in failed:
                    index = next((part for part in error["loc"] if isinstance(part, int)), None)
                    item = self.layout[position].item if position >= 0 and index is not None else None
                    found.append((position, f"{item} {index + 1} : {_message(error)}" if item else _message(error)))
        found.sort(key=lambda pair: pair[0])
        return data, values, [RowError(line, self.header[p] if p >= 0 else None, m) for p, m in found]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Rows keep a dozen objects each alive, and the full collections that this growth sets off took a third of
    an import's time, finding nothing (rows hold no cycles). Whoever found it on turns it back on, so imports
    overlapping in two threads cannot leave it off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse(content: bytes, columns: tuple[Column, ...], max_rows: int, model: type[BaseModel],
           extras: Callable[..., list[tuple[str, str]]], make: Callable[[int, Any, dict[str, Any]], T],
           given: dict[str, Any] | None = None) -> Parsed[T]:
    text = _decode(content)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_separator(text), skipinitialspace=True, strict=True)
    rows: list[T] = []
    errors: list[RowError] = []
    count = line = 0
    try:
        if not any(header := [cell.strip() for cell in next(reader, [])]):
            raise UnreadableFile("Le fichier est vide : sa première ligne doit donner les noms des colonnes.")
        table, width = _Table(header, columns, model, given or {}), len(header)
        with collector_paused():
            for line, cells in enumerate(reader, start=2):
                if not any(cells := [cell.strip() for cell in cells]):
                    continue
                if (count := count + 1) > max_rows:
                    limit = f"{max_rows:,}".replace(",", "\u00a0")
                    raise UnreadableFile(f"Le fichier dépasse {limit} lignes : découpez-le en plusieurs fichiers.")
                if len(cells) > width and any(cells[width:]):
                    errors.append(RowError(line, None, "Cette ligne a plus de colonnes que l'en-tête."))
                    continue
                data, values, found = table.check(line, cells + [""] * (width - len(cells)), extras)
                if found:
                    errors += found
                else:
                    rows.append(make(line, data, values))
    except csv.Error:
        raise UnreadableFile(f"Ligne {line + 1} : guillemets mal placés (une case qui commence par « \" » doit "
                             "finir par « \" »).") from None
    if count == 0:
        raise UnreadableFile("Le fichier ne contient aucune ligne sous l'en-tête.")
    return Parsed(rows, errors, {".".join(path): header[position] for path, position in table.where.items()})


# Waits counted from before this would rank a patient above every urgency: a typo (1024 for 2024), or what
# some software writes for an empty date.
_OLDEST_REQUEST = datetime(2000, 1, 1)


def _request_extras(values: dict[str, Any], payload: dict[str, Any]) -> list[tuple[str, str]]:
    """A list is kept in its patients' time (metropolitan, or their overseas department's); the queue keeps
    UTC."""
    payload["consent"] = True
    if (local := values.get("date_demande")) is None:
        return []
    patient = payload.get("patient", {})
    written = f"{local.day:02d}/{local.month:02d}/{local.year:04d}"  # year 1 too: strftime would write "1"
    written += f" {local:%H:%M}" if local.time() != time() else ""
    born = patient.get("birth_date")
    if isinstance(born, date) and local.date() < born:
        return [("date_demande", f"La date de la demande précède la naissance du patient : « {written} ».")]
    if local < _OLDEST_REQUEST:
        return [("date_demande", f"La date de la demande est trop ancienne : « {written} » (avant "
                                 f"{_OLDEST_REQUEST:%Y} : une faute de frappe, ou une date vide écrite 01/01/0001).")]
    try:
        moment = local.replace(tzinfo=local_zone(patient.get("address", {}).get("postal_code") or "")).astimezone(UTC)
    except OverflowError:  # 31/12/9999 late in the evening, overseas: past the calendar's end in UTC
        moment = datetime.max.replace(tzinfo=UTC)
    values["date_demande"] = moment
    if moment > utcnow():
        return [("date_demande", f"La date de la demande ne peut pas être dans le futur : « {written} ».")]
    return []


def _cabinet_extras(values: dict[str, Any], payload: dict[str, Any]) -> list[tuple[str, str]]:
    """One coordinate alone is a typo, not a place; none at all: the address will be located."""
    if len(given := [name for name in ("latitude", "longitude") if name in values]) != 2:
        payload.pop("location", None)
    message = "Indiquez la latitude et la longitude, ou aucune des deux (l'adresse sera alors localisée)."
    return [(given[0], message)] if len(given) == 1 else []


def read_requests(content: bytes, *, kind: Kind | None = None, max_rows: int = 200_000) -> Parsed[RequestRow]:
    """Required columns: type (unless ``kind`` is given: the type of rows without one), prenom, nom,
    date_naissance, code_postal, commune; see ``REQUEST_COLUMNS``."""
    return _parse(content, REQUEST_COLUMNS, max_rows, RequestCreate, _request_extras,
                  lambda line, data, values: RequestRow(line, data, values.get("date_demande")),
                  {"type": kind} if kind else None)


def read_cabinets(content: bytes, *, max_rows: int = 10_000) -> Parsed[CabinetRow]:
    """Required columns: nom, types, code_postal, commune, rayon_km; see ``_CABINET_COLUMNS``."""
    return _parse(content, _CABINET_COLUMNS, max_rows, CabinetCreate, _cabinet_extras,
                  lambda line, data, values: CabinetRow(line, data))
