"""The indicators together, as the API and the CSV export give them."""

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy.orm import Session

from lac_service.stats import indicators
from lac_service.stats.indicators import OUT, Scope
from lac_service.stats.schemas import (
    CabinetStatsOut, FlowOut, MatchedPriorityOut, OffersOut, SpreadOut, StatsOut, StatusCountsOut, WaitingOut,
)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def build(session: Session, scope: Scope, *, organisation: str | None, now: datetime) -> StatsOut:
    waited = indicators.waited_so_far(session, scope, now=now)
    matched = indicators.matched_priority(session, scope)
    flowed = indicators.flows(session, scope)
    items = indicators.offer_items(session, scope)
    offered = indicators.offers(items)
    acceptance_by_band, acceptance_by_month = indicators.acceptance_by(scope, items)
    return StatsOut(
        organisation=organisation, kind=scope.kind, start=scope.start, end=scope.end,
        by_status={kind: StatusCountsOut(**counts) for kind, counts in indicators.by_status(session, scope).items()},
        flows=[FlowOut(month=month, kind=kind, registered=counts["registered"], **{k: counts[k] for k in OUT})
               for (month, kind), counts in flowed.items()],
        waiting=WaitingOut(total=waited["all"].count,
                           by_band={band: spread.count for band, spread in waited.items() if band != "all"},
                           by_department=indicators.waiting_by_department(session, scope),
                           waited={key: SpreadOut(**vars(value)) for key, value in waited.items()}),
        wait_to_match={key: SpreadOut(**vars(value)) for key, value in indicators.wait_to_match(session, scope).items()},
        wait_to_match_by_month={month: SpreadOut(**vars(value))
                                for month, value in indicators.wait_to_match_by_month(session, scope).items()},
        offers=OffersOut(**offered),
        cabinets=[CabinetStatsOut(**row) for row in indicators.cabinets(session, scope, items)],
        matched_priority=MatchedPriorityOut(
            **matched, ald_share=_share(matched["ald"], matched["matched"]),
            aged_70_plus_share=_share(matched["aged_70_plus"], matched["matched"]),
        ),
        **indicators.rates(flowed, offered), acceptance_by_band=acceptance_by_band,
        acceptance_by_month=acceptance_by_month,
    )


def _lines(stats: StatsOut) -> Iterator[tuple[str, str, str, object]]:
    """(indicator, month or detail, kind, value): one long table a spreadsheet pivots at will."""
    for kind, counts in stats.by_status.items():
        for status, count in counts.model_dump().items():
            yield "demandes_par_statut", status, kind, count
    for flow in stats.flows:
        for key in ("registered", *OUT):
            yield f"demandes_{key}", flow.month, flow.kind.value, getattr(flow, key)
    yield "en_attente", "total", "", stats.waiting.total
    for band, count in stats.waiting.by_band.items():
        yield "en_attente_par_priorite", band, "", count
    for department, count in stats.waiting.by_department.items():
        yield "en_attente_par_departement", department, "", count
    for band, spread in stats.waiting.waited.items():
        yield "attente_en_cours_mediane_jours", band, "", spread.median_days
        yield "attente_en_cours_p90_jours", band, "", spread.p90_days
    for band, spread in stats.wait_to_match.items():
        yield "attente_mediane_jours", band, "", spread.median_days
        yield "attente_p90_jours", band, "", spread.p90_days
    for month, spread in stats.wait_to_match_by_month.items():
        yield "attente_mediane_jours_par_mois", month, "", spread.median_days
        yield "attente_p90_jours_par_mois", month, "", spread.p90_days
    for key, value in stats.offers.model_dump(exclude={"decline_reasons"}).items():
        yield f"propositions_{key}", "", "", value
    for reason, count in stats.offers.decline_reasons.items():
        yield "refus_par_motif", reason, "", count
    for cabinet in stats.cabinets:
        yield "taux_acceptation_cabinet", cabinet.name, "", cabinet.acceptance_rate
        yield "capacite_declaree_cabinet", cabinet.name, "", cabinet.capacity_declared
        yield "personnes_acceptees_cabinet", cabinet.name, "", cabinet.people_accepted
    yield "part_ald_attribuees", "", "", stats.matched_priority.ald_share
    yield "part_70_ans_attribuees", "", "", stats.matched_priority.aged_70_plus_share
    yield "taux_resolution", "", "", stats.resolution_rate
    yield "taux_acceptation", "", "", stats.acceptance_rate
    for band, rate in stats.acceptance_by_band.items():
        yield "taux_acceptation_par_priorite", band, "", rate
    for month, rate in stats.acceptance_by_month.items():
        yield "taux_acceptation_par_mois", month, "", rate


def to_csv(stats: StatsOut) -> str:
    """``;``-separated UTF-8 with a BOM, decimal commas: what a French spreadsheet opens as is."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["indicateur", "detail", "type", "valeur"])
    for name, detail, kind, value in _lines(stats):
        writer.writerow([name, detail, kind, "" if value is None else str(value).replace(".", ",")])
    return "\ufeff" + out.getvalue()
