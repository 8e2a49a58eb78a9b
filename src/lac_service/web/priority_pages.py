"""The coordinator's priority rules, one page per kind: every rule of the policy (flat points, age bands, the
children of the household, the months waited and their cap), saved as a new version and applied to the
waiting requests at once — what ``PUT /api/v1/priority-policies/{kind}`` does, in a form.

The form carries the version it was filled from: when another coordinator saved in between, nothing is
overwritten, and the page shows the rules now in force.
"""

import re
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from lac_service.auth.models import User
from lac_service.db import DbSession
from lac_service.error_handlers import field_errors
from lac_service.errors import ChangedMeanwhile
from lac_service.intake.ranking import rescore
from lac_service.kinds import Kind
from lac_service.kit.clock import Now
from lac_service.policies import service as policies
from lac_service.priority import Rules, months_to_overtake
from lac_service.priority.rules import band_reason
from lac_service.web.forms import Errors, text
from lac_service.web.pages import render, see_other
from lac_service.web.public import Form
from lac_service.web.staff import Coordinator

router = APIRouter(prefix="/equipe/priorites", include_in_schema=False)
FLAT = {"ald": "ALD (affection de longue durée)", "pregnancy": "Grossesse", "urgency": "Urgence (après entretien)"}
MAX_BANDS = 20  # as AgeRule allows
SPARE_BANDS = 2  # empty rows to add a band
BAND_PARTS = ("from_years", "under_years", "points")
HISTORY = 10
_WHOLE = re.compile(r"[0-9]{1,7}")  # not str.isdigit, which takes "²"


def describe(rules: Rules) -> list[str]:
    """The rules in force, one line each, as the dashboard lists them."""
    lines = [f"{label} : {rule.points} points" for name, label in FLAT.items() if (rule := getattr(rules, name))]
    if rules.age:
        lines += [f"{band_reason(band)[1]} : {band.points} points" for band in rules.age.bands]
    if (household := rules.household_children) is not None:
        lines.append(f"Enfant de moins de {household.under_years} ans dans le foyer : {household.points} points")
    if (waited := rules.waited) is not None:
        cap = f", pendant {waited.max_months} mois au plus" if waited.max_months else ""
        lines.append(f"Attente : {waited.points_per_month} points par mois{cap}")
    return lines


def _values(rules: Rules, version: int) -> dict[str, str]:
    """The form filled with the rules in force (a rule that is off: 0 points)."""
    values = {name: str(rule.points if (rule := getattr(rules, name)) else 0) for name in FLAT}
    household, waited = rules.household_children, rules.waited
    values |= {"household_children.points": str(household.points if household else 0),
               "household_children.under_years": str(household.under_years if household else 6),
               "waited.points_per_month": str(waited.points_per_month if waited else 0),
               "waited.max_months": str(waited.max_months or "") if waited else "", "version": str(version)}
    for i, band in enumerate(rules.age.bands if rules.age else ()):
        values |= {f"age.bands.{i}.from_years": str(band.from_years) if band.from_years else "",
                   f"age.bands.{i}.under_years": str(band.under_years or ""), f"age.bands.{i}.points": str(band.points)}
    return values


def _rows(values: dict[str, str]) -> int:
    """Rows up to the last band filled in, and room to add some."""
    last = max((i for i in range(MAX_BANDS) if any(values.get(f"age.bands.{i}.{p}") for p in BAND_PARTS)),
               default=-1)
    return min(MAX_BANDS, last + 1 + SPARE_BANDS)


def _authors(session: DbSession, labels: Iterator[str | None]) -> dict[str, str]:
    """``user:12`` → the user's name, for the history; API keys keep their label."""
    ids = {int(label[5:]) for label in labels if label and label.startswith("user:") and label[5:].isdigit()}
    rows = session.execute(sa.select(User.id, User.full_name).where(User.id.in_(ids))) if ids else []
    return {f"user:{id_}": name for id_, name in rows}


def _page(request: Request, session: DbSession, user: User, current: policies.VersionedPolicy,
          values: dict[str, str], errors: Errors, *, notice: str | None = None, status: int = 200) -> Response:
    """``current``: the policy in force, as the caller just read it."""
    kind = Kind(current.policy.kind)
    versions, _ = policies.list_versions(session, organisation_id=user.organisation_id, kind=kind, limit=HISTORY,
                                         offset=max(0, current.version + 1 - HISTORY))
    return render(request, "priorities.html", {
        "kind": kind, "current": current, "values": values, "errors": errors.by_field, "notice": notice,
        "rows": _rows(values), "flat": FLAT, "overtake": months_to_overtake(current.policy),
        "per_month": current.policy.rules.waited.points_per_month if current.policy.rules.waited else 0,
        "history": list(reversed(versions)), "authors": _authors(session, (v.created_by for v in versions)),
        "describe": describe,
    }, status=status)


@router.get("/{kind}")
def priorities(request: Request, kind: Kind, user: Coordinator, session: DbSession,
               enregistree: str | None = None) -> Response:
    current = policies.current_policy(session, organisation_id=user.organisation_id, kind=kind)
    notice = None
    if enregistree is not None and enregistree.isdigit():
        notice = (f"Règles enregistrées (version {current.version}) : {enregistree} demande(s) en attente "
                  "recalculée(s).")
    return _page(request, session, user, current, _values(current.policy.rules, current.version), Errors(),
                 notice=notice)


def _number(form: FormData, name: str, errors: Errors, *, required: bool = True) -> int | None:
    raw = text(form, name)
    if raw is None and required:
        errors.add(name, "Indiquez un nombre (0 : la règle ne compte pas).")
    elif raw is not None and not _WHOLE.fullmatch(raw):
        errors.add(name, "Indiquez un nombre entier, sans signe ni virgule.")
    else:
        return int(raw) if raw is not None else None
    return None


def _bands(form: FormData, errors: Errors) -> tuple[list[dict[str, Any]], list[int]]:
    """The age bands filled in, and the form row of each (an error found in the n-th band goes to its row)."""
    bands, rows = [], []
    for i in range(MAX_BANDS):
        names = {part: f"age.bands.{i}.{part}" for part in BAND_PARTS}
        if not any(text(form, name) for name in names.values()):
            continue
        bands.append({"from_years": _number(form, names["from_years"], errors, required=False) or 0,
                      "under_years": _number(form, names["under_years"], errors, required=False),
                      "points": _number(form, names["points"], errors)})
        rows.append(i)
    return bands, rows


def _rules(form: FormData, errors: Errors) -> Rules | None:
    """Zero points turn a rule off, as leaving it out of the API's policy does."""
    data: dict[str, Any] = {name: {"points": points} if (points := _number(form, name, errors)) else None
                            for name in FLAT}
    points = _number(form, "household_children.points", errors)
    under = _number(form, "household_children.under_years", errors, required=bool(points))
    data["household_children"] = {"points": points, "under_years": under} if points else None
    per_month = _number(form, "waited.points_per_month", errors)
    cap = _number(form, "waited.max_months", errors, required=False)
    data["waited"] = {"points_per_month": per_month, "max_months": cap} if per_month else None
    bands, rows = _bands(form, errors)
    data["age"] = {"bands": bands} if bands else None
    if errors:
        return None
    try:
        return Rules.model_validate(data)
    except ValidationError as exc:
        for error in field_errors(exc.errors()):  # type: ignore[arg-type]
            parts = error.field.split(".")
            if parts[0] in FLAT:
                parts = parts[:1]  # "ald.points" is typed in the field "ald"
            elif parts[:2] == ["age", "bands"] and len(parts) > 2 and parts[2].isdigit():
                parts[2] = str(rows[int(parts[2])])  # the band's row in the form
            errors.add(".".join(parts), error.message)
        return None


@router.post("/{kind}")
def save(request: Request, kind: Kind, user: Coordinator, form: Form, session: DbSession, now: Now) -> Response:
    """A new policy version; the waiting requests are re-scored at once."""
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    errors = Errors()
    current = policies.current_policy(session, organisation_id=user.organisation_id, kind=kind)
    if text(form, "version") != str(current.version):
        errors.add("form", f"Les règles viennent d'être modifiées par quelqu'un d'autre (version "
                           f"{current.version}) : voici les règles en vigueur, refaites vos changements.")
        return _page(request, session, user, current, _values(current.policy.rules, current.version), errors,
                     status=409)
    rules = _rules(form, errors)
    if rules is None:
        return _page(request, session, user, current, values, errors, status=422)
    try:
        policies.replace_policy(session, organisation_id=user.organisation_id, kind=kind, rules=rules, actor=user.label,
                                now=now)
    except ChangedMeanwhile as exc:  # a colleague saved in the same instant
        errors.add("form", exc.detail)
        saved = policies.current_policy(session, organisation_id=user.organisation_id, kind=kind)
        return _page(request, session, user, saved, values, errors, status=409)
    changed = rescore(session, now=now, organisation_id=user.organisation_id, kind=kind)
    return see_other(f"/equipe/priorites/{kind.value}?enregistree={changed}")
