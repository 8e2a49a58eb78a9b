"""``/api/v1/imports/requests`` and ``/api/v1/imports/cabinets``: a CSV file as the body (UTF-8 or
Windows-1252, ``;`` or ``,``), all or nothing; ``dry_run=true`` reports without writing."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from lac_service.auth.dependencies import AuthenticatedCaller
from lac_service.auth.models import Role
from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.errors import ERROR_RESPONSES, ErrorBody, InvalidInput
from lac_service.imports.files import UnreadableFile
from lac_service.imports.service import Importer, Report, import_cabinets, import_requests
from lac_service.kinds import Kind
from lac_service.kit.clock import Now
from lac_service.links import AppLinks

router = APIRouter(prefix="/api/v1/imports", tags=["imports"], responses=ERROR_RESPONSES)
_CSV_BODY = {"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}}}}


class RowErrorOut(BaseModel):
    line: int = Field(description="As the spreadsheet numbers it: the header is line 1.")
    column: str | None = Field(description="The file's own column header; null: the whole row.")
    message: str


class DuplicateOut(BaseModel):
    line: int
    existing_request_id: int | None = Field(description="Already in the queue: left out.")
    same_as_line: int | None = Field(description="Twice in the file: the later line is left out.")


class ImportReportOut(BaseModel):
    code: str | None = Field(description="`import_refused` when a row is wrong and nothing was written.")
    message: str
    dry_run: bool
    written: bool
    rows: int = Field(description="Data rows read.")
    created: int = Field(description="Written (or, in a dry run, that would be).")
    duplicates: list[DuplicateOut]
    errors: list[RowErrorOut]
    told_by: datetime | None = Field(
        description="When the last imported patient's message is due: they go between 09:00 and 20:00 where each "
                    "patient lives, at half the SMS rate, after the messages already waiting their turn, so that "
                    "other messages are not held up. Null: none told.")


async def _csv(request: Request) -> bytes:
    return await request.body()


CsvFile = Annotated[bytes, Depends(_csv)]
DryRun = Annotated[bool, Query(description="Check and count, write nothing.")]
OrganisationSlug = Annotated[str | None, Query(max_length=64, description="Admins: the organisation to import into.")]
Notify = Annotated[bool, Query(description="Tell each patient imported, by SMS or e-mail, that a practitioner put "
                                            "them on the list, with their tracking link (see `told_by`).")]
RowsKind = Annotated[Kind | None, Query(description="The type of rows that give none; with it, the file needs no "
                                                    "`type` column (a speech therapist's list).")]


def _importer(session: DbSession, caller: AuthenticatedCaller, organisation: str | None, *roles: Role) -> Importer:
    caller.require(Role.admin, Role.coordinator, *roles)
    named = caller.named_organisation(session, organisation)
    organisation_id = named.id if named else caller.organisation_id
    assert organisation_id is not None
    return Importer(organisation_id, caller.label, caller.organisation_id)


def _answer(report: Report, what: str, done: str) -> JSONResponse:
    status = 422 if report.errors else 200 if report.dry_run else 201
    body = ImportReportOut(
        code="import_refused" if report.errors else None, message=report.summary(what, done), dry_run=report.dry_run,
        written=report.written, rows=report.rows, created=report.created,
        duplicates=[DuplicateOut(**vars(d)) for d in report.duplicates],
        errors=[RowErrorOut(**vars(e)) for e in report.errors], told_by=report.told.at if report.told else None,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


def _read(run: Callable[[], Report]) -> Report:
    try:
        return run()
    except UnreadableFile as exc:
        raise InvalidInput(str(exc), field="file") from None


_RESPONSES = {201: {"model": ImportReportOut, "description": "Imported."},
              422: {"model": ImportReportOut | ErrorBody,
                    "description": "A row is wrong (the report), or the file cannot be read at all (the usual error): "
                                   "nothing was written."}}


@router.post("/requests", response_model=ImportReportOut, summary="Import a waiting list (CSV)",
             openapi_extra=_CSV_BODY, responses=_RESPONSES)
def requests(file: CsvFile, session: DbSession, caller: AuthenticatedCaller, settings: AppSettings, links: AppLinks,
             now: Now, dry_run: DryRun = False, organisation: OrganisationSlug = None,
             kind: RowsKind = None, notify: Notify = False) -> JSONResponse:
    """Columns: type, prenom, nom, date_naissance, code_postal, commune (required); telephone, email, adresse,
    ald, grossesse, distance_max_km, date_demande (kept: the wait counts from it), foyer. Duplicates of the
    queue or within the file are reported and left out. Secretaries import waiting lists too (a practitioner's
    list, brought to the CPTS); cabinets are the coordination's."""
    importer = _importer(session, caller, organisation, Role.secretary)
    report = _read(lambda: import_requests(
        session, file, importer=importer, links=links, now=now, dry_run=dry_run,
        max_distance_km=settings.max_distance_default, kind=kind,
        notify_per_s=settings.notifications.bulk_per_s if notify else None,
    ))
    return _answer(report, "demande(s)", "importée(s)")


@router.post("/cabinets", response_model=ImportReportOut, summary="Import cabinets (CSV)",
             openapi_extra=_CSV_BODY, responses=_RESPONSES)
def cabinets(file: CsvFile, session: DbSession, caller: AuthenticatedCaller, now: Now, dry_run: DryRun = False,
             organisation: OrganisationSlug = None) -> JSONResponse:
    """Columns: nom, types, code_postal, commune, rayon_km (required); adresse, latitude, longitude,
    patients_par_lot, rythme_jours, canaux, telephones, emails."""
    importer = _importer(session, caller, organisation)
    return _answer(_read(lambda: import_cabinets(session, file, importer=importer, now=now, dry_run=dry_run)),
                   "cabinet(s)", "importé(s)")
