"""The coordinator's dashboard: indicators with charts (drawn on the server as SVG), the cabinets, the
recent rounds and offers, the priority rules in force, and an anonymous CSV export of the queue."""

import csv
import io
from datetime import date, datetime
from typing import Annotated
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup

from lac_service.auth.models import Organisation, User
from lac_service.cabinets.service import list_cabinets, sms_landline
from lac_service.config import AppSettings, Settings
from lac_service.db import DbSession
from lac_service.errors import InvalidInput
from lac_service.intake.models import PatientRequest
from lac_service.kinds import Kind
from lac_service.kit.clock import Now
from lac_service.matching.models import MatchingRound
from lac_service.notifications.templates import clock_fr, clocks_fr
from lac_service.offers.models import ItemStatus, Offer
from lac_service.offers.service import WITHOUT_ITEMS, tally
from lac_service.organisations.schedule import Schedule, schedule_of, set_schedule, zone_of
from lac_service.organisations.schemas import ScheduleIn
from lac_service.policies import service as policies
from lac_service.priority import Band, band_of
from lac_service.stats import indicators, report
from lac_service.stats.indicators import Scope
from lac_service.web.charts import Bar, Point, Unit, bar_chart, line_chart
from lac_service.web.forms import Errors, text, validate
from lac_service.web.pages import render, see_other
from lac_service.web.public import Form
from lac_service.web.practitioner import DECLINE_LABELS
from lac_service.web.priority_pages import describe
from lac_service.web.secretary import BAND_LABELS, STATUS_LABELS, visible_to
from lac_service.web.staff import Coordinator, own_organisation

router = APIRouter(prefix="/equipe", include_in_schema=False)
UNMATCHED_LABELS = {
    "no_cabinet_in_range": "Aucun cabinet à distance", "all_in_range_full": "Cabinets proches complets",
    "all_in_range_declined": "Refusée ou laissée sans réponse par les cabinets proches",
    "changed_during_round": "Modifiée pendant la tournée (retirée, foyer agrandi, ou cabinet retiré)",
}
_MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")


def _month_label(month: str) -> str:
    year, number = month.split("-")
    return f"{_MONTHS[int(number) - 1]} {year[2:]}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{round(100 * value)} %"


DAYS = Unit("jour", "jours")


def _days(value: float | None) -> str:
    return "—" if value is None else DAYS.of(value)


CABINETS_PER_PAGE = 50
ZONES = {  # the time zones of France's regions, as their people name them
    "Europe/Paris": "Métropole", "America/Guadeloupe": "Guadeloupe, Saint-Martin, Saint-Barthélemy",
    "America/Martinique": "Martinique", "America/Cayenne": "Guyane", "Indian/Reunion": "La Réunion",
    "Indian/Mayotte": "Mayotte", "America/Miquelon": "Saint-Pierre-et-Miquelon",
}
SCHEDULE_MODES = ("service", "propres", "aucune")  # the deployment's times, the organisation's, none


class Shown:
    """What the indicators cover, as chosen on the dashboard: ``type``, ``du`` and ``au`` in the address, so
    that a view can be bookmarked and its CSV export says the same. A wrong choice is said next to its field,
    and the figures shown are the last 12 months'."""

    def __init__(self, user: User, now: datetime, settings: Settings, kind: str | None, start: str | None,
                 end: str | None) -> None:
        self.typed = {"type": kind or "", "du": (start or "").strip(), "au": (end or "").strip()}
        self.errors = Errors()
        chosen = next((known for known in Kind if known.value == kind), None)
        if kind and chosen is None:
            self.errors.add("type", "Type de demandes inconnu.")
        days = {name: self._day(name) for name in ("du", "au")}
        zone = zone_of(user.organisation if visible_to(user) is not None else None, settings.jobs)
        try:
            self.scope = Scope.asked(visible_to(user), chosen, days["du"], days["au"], now=now, zone=zone)
        except InvalidInput as refused:
            self.errors.add("au" if refused.field == "end" else "du", refused.detail)
        if self.errors:
            self.scope = Scope.asked(visible_to(user), None, None, None, now=now, zone=zone)

    def _day(self, name: str) -> date | None:
        try:
            return date.fromisoformat(self.typed[name]) if self.typed[name] else None
        except ValueError:
            self.errors.add(name, "Date invalide : attendue sous la forme AAAA-MM-JJ.")
            return None

    @property
    def values(self) -> dict[str, str]:
        """The form's fields: what was typed when refused, else the period shown, so that one date is changed."""
        if self.errors:
            return self.typed
        kind = self.scope.kind.value if self.scope.kind else ""
        return {"type": kind, "du": self.scope.start.isoformat(), "au": self.scope.end.isoformat()}

    @property
    def _chosen(self) -> dict[str, str]:
        return {k: v for k, v in self.typed.items() if v} if not self.errors else {}

    @property
    def query(self) -> str:
        """The choice as the address says it (``?type=…&du=…&au=…``); empty when nothing, or nothing valid, was chosen."""
        return f"?{urlencode(self._chosen)}" if self._chosen else ""

    def cabinets_page(self, page: int) -> str:
        """The address of a page of the cabinets' table: the indicators stay as chosen."""
        return f"?{urlencode(self._chosen | {'cabinets': page})}"


Kinds = Annotated[str | None, Query(alias="type", max_length=40)]
DayTyped = Annotated[str | None, Query(max_length=20)]


class ScheduleForm:
    """The dashboard's form of the organisation's round times: as in force, or as typed when refused."""

    def __init__(self, schedule: Schedule, typed: dict[str, str] | None = None, errors: Errors | None = None) -> None:
        self.schedule = schedule
        mode = "service" if not schedule.own_times else "propres" if schedule.times else "aucune"
        own = ", ".join(map(clock_fr, schedule.times)) if schedule.own_times else ""
        self.values = typed or {"mode": mode, "horaires": own,
                                "fuseau": schedule.timezone if schedule.own_timezone else ""}
        self.errors = errors or Errors()

    @property
    def zones(self) -> dict[str, str]:
        """The regions' zones, and one set through the API that is none of them."""
        return ZONES | ({self.schedule.timezone: self.schedule.timezone} if self.schedule.timezone not in ZONES else {})


def _schedule(user: User, settings: AppSettings) -> Schedule:
    return schedule_of(user.organisation.match_at, user.organisation.timezone, settings.jobs)


def _dashboard(request: Request, session: DbSession, user: User, now: Now, settings: AppSettings, *,
               notice: str | None = None, cabinets_page: int = 1, shown: Shown | None = None,
               schedule: ScheduleForm | None = None, status: int = 200) -> Response:
    org = visible_to(user)
    shown = shown or Shown(user, now, settings, None, None, None)
    stats = report.build(session, shown.scope, organisation=None, now=now)
    months = indicators.months_between(shown.scope.start, shown.scope.end)
    waits = {month: stats.wait_to_match_by_month[month].median_days if month in stats.wait_to_match_by_month
             else None for month in months}
    cabinets_page = max(1, min(cabinets_page, 10_000))
    cabinets, cabinets_total = list_cabinets(session, organisation_id=org, limit=CABINETS_PER_PAGE,
                                             offset=(cabinets_page - 1) * CABINETS_PER_PAGE)
    if not cabinets and cabinets_page > 1:  # past the end: the last page
        cabinets_page = max(1, -(-cabinets_total // CABINETS_PER_PAGE))
        cabinets, _ = list_cabinets(session, organisation_id=org, limit=CABINETS_PER_PAGE,
                                    offset=(cabinets_page - 1) * CABINETS_PER_PAGE)
    rounds = session.scalars(  # an ask's round of one cabinet shows in the offers below, not among these
        _scoped(sa.select(MatchingRound), MatchingRound.organisation_id, org)
        .where(MatchingRound.cabinet_id.is_(None)).order_by(MatchingRound.id.desc()).limit(10)
    ).all()
    # An admin sees every organisation's rounds (an admin's run makes one for each): each says whose it is.
    owners = {} if org is not None else dict(session.execute(
        sa.select(Organisation.id, Organisation.name)
        .where(Organisation.id.in_({r.organisation_id for r in rounds if r.organisation_id}))).all())
    offers = session.scalars(_scoped(sa.select(Offer).options(WITHOUT_ITEMS), Offer.organisation_id, org)
                             .order_by(Offer.id.desc()).limit(20)).all()
    tallies = tally(session, offers)
    waiting = [Bar(BAND_LABELS[Band(band)], n) for band, n in stats.waiting.by_band.items()]
    return render(request, "dashboard.html", {
        "waiting_chart": Markup(bar_chart(waiting, title="Demandes en attente par priorité",
                                          unit=Unit("demande", "demandes"))),
        "wait_chart": Markup(line_chart([Point(_month_label(m), waits[m]) for m in months],
                                        title="Attente médiane avant attribution, par mois",
                                        unit=DAYS)),
        "stats": stats, "percent": _percent, "days": _days,
        "cabinets": cabinets, "cabinets_total": cabinets_total, "cabinets_page": cabinets_page,
        "cabinets_pages": max(1, -(-cabinets_total // CABINETS_PER_PAGE)), "rounds": rounds, "owners": owners,
        "unmatched_labels": UNMATCHED_LABELS,
        "offers": [(offer, tallies[offer.id].statuses) for offer in offers],
        "item_statuses": ItemStatus, "decline_labels": {r.value: label for r, label in DECLINE_LABELS.items()},
        "policies": {kind: policies.current_policy(session, organisation_id=user.organisation_id, kind=kind) for kind in Kind},
        "describe": describe, "notice": notice, "kinds": list(Kind), "shown": shown, "sms_landline": sms_landline,
        "statuses": STATUS_LABELS, "schedule": schedule or ScheduleForm(_schedule(user, settings)),
        "service_zone": ZONES.get(settings.jobs.timezone, settings.jobs.timezone), "organisation_name": user.organisation.name,
        "service_times": clocks_fr(schedule_of(None, None, settings.jobs).times) or "aucune",
    }, status=status)


def _scoped(query: sa.Select, column: sa.ColumnElement[int | None], organisation_id: int | None) -> sa.Select:
    return query if organisation_id is None else query.where(column == organisation_id)


_NOTICES = {
    "cabinet_retire": "Le cabinet est retiré : les liens de ses propositions ne fonctionnent plus, et les patients qui "
                      "attendaient sa réponse reviennent dans la file d'attente dans les minutes qui suivent.",
    "horaires": "Les horaires des tournées automatiques sont enregistrés.",
    "tournees": "Tournées lancées, une par organisation : chacune figure ci-dessous et sur le tableau de bord de "
                "son organisation.",
}


@router.get("/tableau")
def dashboard(request: Request, user: Coordinator, session: DbSession, now: Now, settings: AppSettings,
              cabinet_retire: str | None = None, horaires: str | None = None, tournees: str | None = None,
              cabinets: int = 1, kind: Kinds = None, du: DayTyped = None, au: DayTyped = None) -> Response:
    """``cabinets``: the page of the cabinets' list (a regional platform has hundreds); ``tournees``: an
    admin's run made a round for each organisation."""
    said = {"cabinet_retire": cabinet_retire, "horaires": horaires, "tournees": tournees}
    notice = next((_NOTICES[name] for name, given in said.items() if given), None)
    return _dashboard(request, session, user, now, settings, cabinets_page=cabinets,
                      shown=Shown(user, now, settings, kind, du, au), notice=notice)


@router.post("/tableau/horaires")
def set_round_times(request: Request, user: Coordinator, form: Form, session: DbSession, now: Now,
                    settings: AppSettings) -> Response:
    """The organisation's daily round times: the service's, its own (typed "8h00, 14h30"), or none; and their
    time zone, the service's or its own."""
    typed = {"mode": text(form, "mode") or "", "horaires": text(form, "horaires") or "", "fuseau": text(form, "fuseau") or ""}
    # "08h00, 14h00 et 18h30", as the page writes them, or "8:00 14:00"
    times = [at for at in typed["horaires"].replace(";", ",").replace(" ", ",").split(",") if at and at != "et"]
    errors, said = Errors(), Errors()  # the API's field names, the form's
    if typed["mode"] not in SCHEDULE_MODES:
        said.add("mode", "Choisissez quand ont lieu les tournées automatiques.")
    elif typed["mode"] == "propres" and not times:
        said.add("horaires", "Indiquez au moins une heure, ou choisissez une autre option.")
    match_at = times if typed["mode"] == "propres" else [] if typed["mode"] == "aucune" else None
    data = validate(ScheduleIn, {"match_at": match_at, "timezone": typed["fuseau"] or None}, errors)
    for name, message in errors.by_field.items():  # match_at.1 is the second time typed
        where = name.split(".")
        said.add("fuseau" if name == "timezone" else "horaires",
                 f"« {times[int(where[1])]} » : {message}" if len(where) == 2 else message)
    if data is None or said:
        return _dashboard(request, session, user, now, settings, status=422,
                          schedule=ScheduleForm(_schedule(user, settings), typed, said))
    set_schedule(session, own_organisation(session, user), match_at=data.match_at, timezone=data.timezone, now=now)
    return see_other("/equipe/tableau?horaires=1#rounds-title")


@router.get("/export.csv")
def export(user: Coordinator, session: DbSession) -> Response:
    """One line per request, with no name, contact or address: what the annual report needs, nothing more."""
    rows = session.execute(_scoped(sa.select(
        PatientRequest.id, PatientRequest.kind, PatientRequest.status, PatientRequest.source,
        PatientRequest.priority_points, PatientRequest.waiting_since, PatientRequest.matched_at,
        PatientRequest.status_changed_at, PatientRequest.department, PatientRequest.birth_year,
        PatientRequest.people_count, PatientRequest.ald,
    ), PatientRequest.organisation_id, visible_to(user)).order_by(PatientRequest.id)).all()
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["demande", "type", "statut", "origine", "points", "priorite", "inscrite_le", "attribuee_le",
                     "statut_change_le", "departement", "annee_naissance", "personnes", "ald"])
    for r in rows:
        writer.writerow([
            r.id, r.kind.value, STATUS_LABELS[r.status], r.source.value, r.priority_points,
            BAND_LABELS[band_of(r.priority_points)], f"{r.waiting_since:%Y-%m-%d}",
            f"{r.matched_at:%Y-%m-%d}" if r.matched_at else "", f"{r.status_changed_at:%Y-%m-%d}", r.department,
            r.birth_year, r.people_count, "oui" if r.ald else "non",
        ])
    # UTF-8 with a BOM, ";" separated: what a French spreadsheet opens without asking.
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="liste-attente.csv"', "Cache-Control": "no-store"})



@router.get("/indicateurs.csv")
def indicators_csv(user: Coordinator, session: DbSession, now: Now, settings: AppSettings, kind: Kinds = None,
                   du: DayTyped = None, au: DayTyped = None) -> Response:
    """The API's indicators for the dashboard's choice (by default the last 12 months), for the annual report."""
    shown = Shown(user, now, settings, kind, du, au)
    if shown.errors:
        raise InvalidInput(next(iter(shown.errors.by_field.values())))
    scope = shown.scope
    return Response(report.to_csv(report.build(session, scope, organisation=None, now=now)),
                    media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="indicateurs.csv"', "Cache-Control": "no-store"})
