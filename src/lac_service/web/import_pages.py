"""The import screen: a waiting list kept in a spreadsheet (a practitioner's, brought to the CPTS) checked, then
written, by a secretary or the coordination — the API's import, all or nothing, into the user's organisation.

One form, two buttons: "Vérifier" (a dry run) and "Importer". The report is the answer to the post itself,
not a redirect: it names the lines to fix and the duplicates left out, which a redirect would lose; sending
the same file again writes nothing twice (its rows are then duplicates).
"""

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from lac_service.config import AppSettings
from lac_service.db import DbSession
from lac_service.imports.files import REQUEST_COLUMNS, UnreadableFile
from lac_service.imports.service import Importer, Report, import_requests
from lac_service.intake.repository import held_by
from lac_service.kinds import Kind
from lac_service.kit.clock import Now
from lac_service.links import AppLinks
from lac_service.web.forms import Errors, checked, text
from lac_service.web.pages import render
from lac_service.web.public import Form
from lac_service.web.secretary import visible_to
from lac_service.web.staff import Staff

PATH = "/equipe/import"
router = APIRouter(prefix=PATH, include_in_schema=False)
SHOWN_ERRORS = 200  # a file wrong on every row would make a page nobody reads; the count says the rest
TEMPLATE_HEADER = ";".join(column.name for column in REQUEST_COLUMNS)


def _page(request: Request, *, kind: str = "", notify: bool = True, errors: Errors | None = None,
          report: Report | None = None, yours: frozenset[int] = frozenset(), file_name: str = "",
          status: int = 200) -> Response:
    """``notify``: the patients are told (checked at first: a patient put on a list is told so)."""
    return render(request, "import.html", {
        "columns": REQUEST_COLUMNS, "kinds": list(Kind), "kind": kind, "notify": notify,
        "errors": (errors or Errors()).by_field,
        "report": report, "shown_errors": report.errors[:SHOWN_ERRORS] if report else [],
        "summary": report.summary("demande(s)", "importée(s)") if report else "", "yours": yours,
        "file_name": file_name,
    }, status=status)


@router.get("")
def import_form(request: Request, user: Staff) -> Response:
    return _page(request)


@router.get("/modele.csv")
def template(user: Staff) -> Response:
    """The header line alone, with a BOM so that a French spreadsheet reads its accents: made-up example rows
    would be imported by whoever forgot to delete them."""
    return Response(f"\ufeff{TEMPLATE_HEADER}\r\n".encode(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="liste-attente-modele.csv"'})


@router.post("")
def import_file(request: Request, user: Staff, form: Form, session: DbSession, settings: AppSettings,
                links: AppLinks, now: Now) -> Response:
    upload, kind, notify = form.get("fichier"), text(form, "type") or "", checked(form, "prevenir")
    errors = Errors()
    if kind and kind not in set(Kind):
        errors.add("type", "Type de demande inconnu : choisissez dans la liste.")
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors.add("fichier", "Choisissez le fichier CSV de la liste d'attente.")
    if errors:
        return _page(request, kind=kind, notify=notify, errors=errors, status=422)
    assert isinstance(upload, UploadFile)
    importer = Importer(user.organisation_id, user.label, user.organisation_id)
    try:
        report = import_requests(
            session, upload.file.read(), importer=importer, links=links, now=now,
            dry_run=text(form, "action") != "importer", max_distance_km=settings.max_distance_default,
            kind=Kind(kind) if kind else None, notify_per_s=settings.notifications.bulk_per_s if notify else None,
        )
    except UnreadableFile as exc:
        errors.add("fichier", str(exc))
        return _page(request, kind=kind, notify=notify, errors=errors, file_name=upload.filename, status=422)
    # A patient waiting with another CPTS is a duplicate too (one active request per person and kind), but not
    # the user's to open.
    existing = [d.existing_request_id for d in report.duplicates if d.existing_request_id is not None]
    return _page(request, kind=kind, notify=notify, report=report, yours=held_by(session, existing, visible_to(user)),
                 file_name=upload.filename, status=422 if report.errors else 200)
