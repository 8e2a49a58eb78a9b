"""Writing an imported list, all or nothing.

A file with any bad row writes nothing: the report names every bad line (line, the file's column, a French
message), so the coordinator fixes the file and sends it again. A row of someone already in the queue (same
name once folded, with the same birth date and kind), or twice in the file, is a duplicate:
reported and left out, while the rest is written. ``dry_run`` reports exactly what a real import would do.

Requests keep their original date (``date_demande``), so the waiting-time points are fair; they are located
by the offline gazetteer (a file may hold 100,000 rows: no address service is called), and written set-wise.
The patients are told only when the importer asks (a platform moving a list already told does not), each in
their turn (``outbox.Turns``), so that the messages people wait for pass before theirs.
Cabinets are few: each goes through the same service as the API, and a refusal becomes its line's error.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import TypeVar

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service import audit
from lac_service.auth.models import Organisation
from lac_service.cabinets.service import create_cabinet
from lac_service.errors import AppError, ChangedMeanwhile, InvalidInput
from lac_service.geography.gazetteer import Place
from lac_service.geography.geocoder import known_place, offline_location
from lac_service.imports.files import (
    CabinetRow, Parsed, RequestRow, RowError, collector_paused, read_cabinets, read_requests,
)
from lac_service.intake.service import check_contact, check_household, to_patient
from lac_service.intake.models import ACTIVE_STATUSES, HouseholdMember, PatientRequest, Source, Status, StatusChange
from lac_service.kinds import Kind
from lac_service.kit.clock import local_zone
from lac_service.kit.text import identity_key, person_key
from lac_service.links import Issued, LinkKind, Links
from lac_service.notifications.outbox import Turn, Turns, enqueue_new
from lac_service.notifications.templates import date_fr
from lac_service.policies.service import current_policy
from lac_service.priority import score_many

_CHUNK = 1000
R = PatientRequest


@dataclass(frozen=True)
class Duplicate:
    line: int
    existing_request_id: int | None = None  # already in the queue
    same_as_line: int | None = None  # earlier in the same file


@dataclass
class Report:
    dry_run: bool
    rows: int = 0
    created: int = 0
    duplicates: list[Duplicate] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    told: Turn | None = None  # when the last imported patient's message is due, in their zone: the time they read

    @property
    def written(self) -> bool:
        return not self.dry_run and not self.errors

    def summary(self, what: str, done: str) -> str:
        """In French, for whoever sent the file: ``what`` names the rows ("demande(s)"), ``done`` agrees with
        it ("importée(s)")."""
        if self.errors:
            return f"{len({e.line for e in self.errors})} ligne(s) à corriger : rien n'a été importé."
        if self.dry_run:
            return f"Vérification faite : {self.created} {what} à importer, {len(self.duplicates)} doublon(s)."
        written = f"{self.created} {what} {done}, {len(self.duplicates)} doublon(s) écarté(s)."
        if self.told is None:
            return written
        return f"{written} Les patients seront prévenus entre 09h00 et 20h00, heure de chez eux, chacun à son " \
               f"tour : le dernier message partira le {date_fr(self.told.at, self.told.zone)}."


@dataclass(frozen=True)
class Importer:
    """Who imports into which organisation: ``actor`` is recorded in each request's history and the audit log."""

    organisation_id: int
    actor: str
    actor_organisation_id: int | None


T = TypeVar("T")


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


# A row's name key is needed three times (the queue, the file, the row): folded once.
_identity = lru_cache(maxsize=262144)(identity_key)


# Files name the same few communes again and again.
_place = lru_cache(maxsize=65536)(known_place)


def _located(rows: list[RequestRow], parsed: Parsed[RequestRow]) -> tuple[dict[int, Place], list[RowError]]:
    places, errors = {}, []
    for row in rows:
        address = row.data.patient.address
        try:
            places[row.line] = _place(address.postal_code, address.city, field="patient")
        except InvalidInput as exc:
            errors.append(RowError(row.line, parsed.columns.get(exc.field or ""), exc.detail))
    return places, errors


def _service_rules(row: RequestRow, parsed: Parsed[RequestRow]) -> list[RowError]:
    """What the API's service refuses and a schema cannot see: the same checks, in the same words."""
    errors = []
    patient = row.data.patient
    for check in (lambda: check_contact(patient.phone, patient.email),
                  lambda: check_household(row.data.kind, row.data.household)):
        try:
            check()
        except InvalidInput as exc:
            errors.append(RowError(row.line, parsed.columns.get(exc.field or ""), exc.detail))
    return errors


def _in_queue(session: Session, rows: list[RequestRow]) -> dict[tuple[str, str, object], int]:
    """Active requests sharing a row's key: (kind, name key, birth date) → request id."""
    found: dict[tuple[str, str, object], int] = {}
    names = sorted({_identity(r.data.patient.first_name, r.data.patient.last_name) for r in rows})
    for chunk in (names[i:i + 5 * _CHUNK] for i in range(0, len(names), 5 * _CHUNK)):
        for id_, kind, name, born in session.execute(
            sa.select(R.id, R.kind, R.identity_key, R.birth_date)
            .where(R.status.in_(ACTIVE_STATUSES), R.identity_key.in_(chunk))
        ):
            found.setdefault((kind.value, name, born), id_)
    return found


def _key(row: RequestRow) -> tuple[str, str, object]:
    patient = row.data.patient
    return row.data.kind.value, _identity(patient.first_name, patient.last_name), patient.birth_date


def _without_duplicates(session: Session, rows: list[RequestRow], report: Report) -> list[RequestRow]:
    queue, seen, kept = _in_queue(session, rows), {}, []
    for row in rows:
        key = _key(row)
        if (existing := queue.get(key)) is not None:
            report.duplicates.append(Duplicate(row.line, existing_request_id=existing))
        elif (earlier := seen.get(key)) is not None:
            report.duplicates.append(Duplicate(row.line, same_as_line=earlier))
        else:
            seen[key] = row.line
            kept.append(row)
    return kept


def _points(session: Session, rows: list[RequestRow], organisation_id: int, now: datetime) -> dict[int, tuple[int, int]]:
    """line → (points, policy version): the organisation's current policy, on the original dates."""
    scored: dict[int, tuple[int, int]] = {}
    for kind in {row.data.kind for row in rows}:
        group = [row for row in rows if row.data.kind is kind]
        versioned = current_policy(session, organisation_id=organisation_id, kind=kind)
        points = score_many(
            versioned.policy, now,
            birth_dates=np.array([r.data.patient.birth_date for r in group], dtype="M8[D]"),
            ald=np.array([r.data.criteria.ald for r in group]), pregnant=np.array([r.data.criteria.pregnant for r in group]),
            urgent=np.zeros(len(group), dtype=bool),
            youngest_household_birth_dates=np.array(
                [max((m.birth_date for m in r.data.household), default=None) for r in group], dtype="M8[D]"),
            waiting_since=np.array([(r.requested_at or now).replace(tzinfo=None) for r in group], dtype="M8[us]"),
        )
        scored.update({row.line: (int(p), versioned.version) for row, p in zip(group, points, strict=True)})
    return scored


def _request_values(row: RequestRow, place: Place, points: tuple[int, int], importer: Importer, link: Issued,
                    max_distance_km: float, now: datetime) -> dict[str, object]:
    patient, criteria, since = row.data.patient, row.data.criteria, row.requested_at or now
    return {
        "organisation_id": importer.organisation_id, "kind": row.data.kind, "status": Status.waiting, "source": Source.import_,
        "first_name": patient.first_name, "last_name": patient.last_name,
        "identity_key": _identity(patient.first_name, patient.last_name),
        "person_key": person_key(patient.first_name, patient.last_name),
        "birth_date": patient.birth_date, "birth_year": patient.birth_date.year, "phone": patient.phone,
        "email": patient.email, "address_line": patient.address.line, "postal_code": patient.address.postal_code,
        "city": patient.address.city, "department": place.department, "lat": place.lat, "lon": place.lon,
        "location_precision": place.precision, "outside_territory": False, "ald": criteria.ald,
        "pregnant": criteria.pregnant, "urgent": False, "max_distance_km": row.data.max_distance_km or max_distance_km,
        "people_count": 1 + len(row.data.household), "priority_points": points[0], "priority_policy_version": points[1],
        "priority_scored_at": now, "waiting_since": since, "consent_at": since, "tracking_token_hash": link.token_hash,
        "tracking_token_nonce": link.nonce, "created_at": now, "updated_at": now, "status_changed_at": now,
    }


def _write_requests(session: Session, rows: list[RequestRow], places: dict[int, Place], importer: Importer,
                    links: Links, max_distance_km: Callable[[Kind], float], now: datetime,
                    notify_per_s: float | None) -> Turn | None:
    """Returns when the last message to the patients is due, if they are told."""
    points = _points(session, rows, importer.organisation_id, now)
    table = R.__table__
    issued = [links.issue(LinkKind.tracking) for _ in rows]
    hashes = [link.token_hash for link in issued]
    try:
        for chunk in _chunks(list(zip(rows, issued, strict=True))):
            values = [_request_values(row, places[row.line], points[row.line], importer, link,
                                      max_distance_km(row.data.kind), now) for row, link in chunk]
            # Core, not the ORM: the ORM's bulk insert leaves out None values, so rows with and without an e-mail
            # would go in separate statements. No RETURNING: it makes PostgreSQL's many-row insert six times
            # slower, and SQLite's row by row when ordered.
            session.execute(table.insert(), values)
        # History and audit rows in one statement each, from the rows just written: this import's rows share
        # their organisation, source and instant.
        just_written = (R.organisation_id == importer.organisation_id, R.source == Source.import_, R.created_at == now)
        mine = sa.select(R.id, R.organisation_id).where(*just_written)
        ids = mine.subquery()
        session.execute(sa.insert(StatusChange).from_select(
            ["request_id", "to_status", "reason", "actor", "at"],
            sa.select(ids.c.id, sa.literal(Status.waiting.value, sa.String()), sa.literal("imported", sa.String()),
                      sa.literal(importer.actor, sa.String()), sa.literal(now, StatusChange.at.type)),
        ))
        audit.record_all(session, actor=importer.actor, actor_organisation_id=importer.actor_organisation_id,
                         action=audit.Action.create, requests=mine, now=now)
        request_ids: list[int] = []
        if notify_per_s or any(row.data.household for row in rows):
            by_hash = dict(session.execute(sa.select(R.tracking_token_hash, R.id).where(*just_written)).all())
            request_ids = [by_hash[key] for key in hashes]
            if members := [{"request_id": request_id, **member.model_dump()}
                           for request_id, row in zip(request_ids, rows, strict=True) for member in row.data.household]:
                session.execute(sa.insert(HouseholdMember), members)
    except sa.exc.IntegrityError:
        raise ChangedMeanwhile("Un patient du fichier vient d'être inscrit par ailleurs : relancez l'import, il sera signalé "
                       "comme doublon.") from None
    if not notify_per_s:
        return None
    return _tell(session, rows, request_ids, issued, places, importer, links,
                 Turns(session, now=now, per_s=notify_per_s), now)


def _tell(session: Session, rows: list[RequestRow], ids: list[int], issued: list[Issued], places: dict[int, Place],
          importer: Importer, links: Links, turns: Turns, now: datetime) -> Turn | None:
    """Each patient hears that a practitioner put them on the list, with their tracking link, as a patient
    registering hears it (``to_patient``), and by whom; nobody is waiting for these, so each waits its turn."""
    organisation = session.get_one(Organisation, importer.organisation_id).name
    messages, last = [], None
    for row, request_id, link in zip(rows, ids, issued, strict=True):
        zone = local_zone(places[row.line].department)
        for message in to_patient(request_id, importer.organisation_id, row.data.patient.phone, row.data.patient.email,
                                  "imported", event="imported",
                                  context={"kind": row.data.kind.value, "organisation": organisation,
                                           "link": links.url(LinkKind.tracking, link.token)}):
            messages.append(replace(message, due=turns.next(zone)))
            if last is None or messages[-1].due.at > last.at:
                last = messages[-1].due
    enqueue_new(session, messages, now=now)
    return last


def import_requests(session: Session, content: bytes, *, importer: Importer, links: Links,
                    max_distance_km: Callable[[Kind], float], now: datetime, dry_run: bool,
                    kind: Kind | None = None, notify_per_s: float | None = None) -> Report:
    """Raises ``UnreadableFile`` for a file that is not a readable list at all. ``kind``: the type of the rows
    that give none; ``notify_per_s``: each patient imported is told, with their tracking link, at this pace
    (``NotificationSettings.bulk_per_s``)."""
    parsed = read_requests(content, kind=kind)
    report = Report(dry_run=dry_run, rows=len(parsed.rows) + len({e.line for e in parsed.errors}))
    places, errors = _located(parsed.rows, parsed)
    report.errors = sorted([*parsed.errors, *errors, *(e for row in parsed.rows for e in _service_rules(row, parsed))],
                           key=lambda e: e.line)
    if report.errors:
        return report
    kept = _without_duplicates(session, parsed.rows, report)
    if not dry_run:
        with collector_paused():
            report.told = _write_requests(session, kept, places, importer, links, max_distance_km, now, notify_per_s)
    report.created = len(kept)
    return report


def import_cabinets(session: Session, content: bytes, *, importer: Importer, now: datetime, dry_run: bool) -> Report:
    """Each row through ``create_cabinet`` inside a savepoint; any refusal, or a dry run, undoes them all."""
    parsed: Parsed[CabinetRow] = read_cabinets(content)
    report = Report(dry_run=dry_run, rows=len(parsed.rows) + len({e.line for e in parsed.errors}),
                    errors=list(parsed.errors))
    created = 0
    with session.begin_nested() as everything:
        for row in parsed.rows:
            address, location = row.data.address, row.data.location
            try:
                with session.begin_nested():
                    located = offline_location(_place(address.postal_code, address.city, field=""),
                                               (location.lat, location.lon) if location else None, field="")
                    create_cabinet(session, data=row.data, place=located, organisation_id=importer.organisation_id,
                                   now=now)
                    created += 1
            except AppError as exc:
                report.errors.append(RowError(row.line, parsed.columns.get(exc.field or ""), exc.detail))
        if report.errors or dry_run:
            everything.rollback()
    report.errors.sort(key=lambda e: e.line)
    report.created = 0 if report.errors else created
    return report
