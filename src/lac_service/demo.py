"""Demo data for ``make run``: one CPTS around Lille, a few cabinets and a queue, built through the services
so that it obeys every rule real data obeys. Names are invented."""

import random
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from lac_service.auth.models import Organisation, Role
from lac_service.auth.service import IssuedKey, create_api_key, create_organisation, create_user
from lac_service.cabinets.schemas import CabinetCreate
from lac_service.cabinets.service import create_cabinet
from lac_service.config import Settings
from lac_service.intake.models import Source
from lac_service.intake.ranking import rescore
from lac_service.intake.schemas import RequestCreate
from lac_service.intake.service import Actor, create_request
from lac_service.links import Links
from lac_service.geography.gazetteer import locate
from lac_service.geography.geocoder import Located
from lac_service.kinds import Kind
from lac_service.organisations.service import set_territory

_TOWNS = [  # postal code, city, lat, lon
    ("59000", "Lille", 50.6292, 3.0573), ("59100", "Roubaix", 50.6942, 3.1746),
    ("59200", "Tourcoing", 50.7239, 3.1612), ("59650", "Villeneuve-d'Ascq", 50.6233, 3.1450),
    ("59130", "Lambersart", 50.6500, 3.0250), ("59260", "Lezennes", 50.6150, 3.1150),
]
_FIRST = ["Camille", "Louise", "Jules", "Léa", "Hugo", "Chloé", "Lucas", "Inès", "Arthur", "Manon", "Noé", "Zoé"]
_MAY_BE_PREGNANT = {"Camille", "Louise", "Léa", "Chloé", "Inès", "Manon", "Zoé"}  # then aged 18 to 45
# Screen logins of the demo, printed by ``lac demo``: for a local machine only, like the data.
DEMO_PASSWORD = "demo-lac-2026"
DEMO_USERS = {"secretariat@cpts-demo.fr": ("Sophie Secrétaire", Role.secretary),
              "coordination@cpts-demo.fr": ("Claire Coordinatrice", Role.coordinator)}
HISTORY_DAYS = 400  # the demo's list was opened that long ago: its patients registered since, its rounds are owed
_LAST = ["Martin", "Bernard", "Dubois", "Lefebvre", "Leroy", "Moreau", "Fournier", "Girard", "Lambert", "Dupont"]


def load_demo(session: Session, *, settings: Settings, now: datetime, requests: int = 40) -> IssuedKey:
    rng = random.Random(2026)
    organisation = create_organisation(session, slug="cpts-demo", name="CPTS de démonstration (Lille)",
                                       now=now - timedelta(days=HISTORY_DAYS))
    set_territory(session, organisation, geojson=None, postal_codes=[town[0] for town in _TOWNS], communes=None,
                  now=now)
    for index, (postal_code, city, lat, lon) in enumerate(_TOWNS[:4]):
        create_cabinet(
            session, organisation_id=organisation.id, now=now, place=_exact(lat, lon, postal_code),
            data=CabinetCreate.model_validate({
                "name": f"Cabinet médical de {city}",
                "kinds": ["medecin_traitant"] if index % 2 == 0 else ["medecin_traitant", "bilan_orthophonique"],
                "address": {"line": f"{10 + index} rue de la Gare", "postal_code": postal_code, "city": city},
                "location": {"lat": lat, "lon": lon}, "radius_km": 15 + 5 * index, "batch_size": 8,
                "cadence_days": 42, "channels": ["email"], "emails": [f"cabinet{index + 1}@exemple.fr"],
            }),
        )
    for index in range(requests):
        _demo_request(session, organisation, rng, index, settings=settings, now=now)
    rescore(session, now=now)  # each was scored on its (past) registration day
    for email, (name, role) in DEMO_USERS.items():
        create_user(session, organisation=organisation, email=email, full_name=name, role=role, password=DEMO_PASSWORD,
                    now=now)
    return create_api_key(session, organisation=organisation, role=Role.admin, name="demo", now=now)


def _exact(lat: float, lon: float, postal_code: str) -> Located:
    return Located(lat, lon, "exact", locate(postal_code).department)


def _demo_request(
    session: Session, organisation: Organisation, rng: random.Random, index: int, *, settings: Settings,
    now: datetime,
) -> None:
    postal_code, city, lat, lon = rng.choice(_TOWNS)
    kind = Kind.bilan_orthophonique if index % 3 == 0 else Kind.medecin_traitant
    age_days = rng.randint(3 * 365, 10 * 365) if kind is Kind.bilan_orthophonique else rng.randint(18 * 365, 90 * 365)
    data = RequestCreate.model_validate({
        "kind": kind,
        "patient": {
            "first_name": _FIRST[index % len(_FIRST)], "last_name": f"{_LAST[index % len(_LAST)]}-{index}",
            "birth_date": date.fromordinal(now.date().toordinal() - age_days),
            "phone": f"06{rng.randint(10, 39)}{rng.randint(100_000, 999_999)}",
            "address": {"line": f"{rng.randint(1, 200)} rue Nationale", "postal_code": postal_code, "city": city},
            "location": {"lat": lat + rng.uniform(-0.02, 0.02), "lon": lon + rng.uniform(-0.02, 0.02)},
        },
        "criteria": {"ald": rng.random() < 0.3, "pregnant": kind is Kind.medecin_traitant and rng.random() < 0.15
                     and _FIRST[index % len(_FIRST)] in _MAY_BE_PREGNANT and age_days < 46 * 365},
        "consent": True,
    })
    registered = now - timedelta(days=rng.randint(0, HISTORY_DAYS))
    location = data.patient.location
    assert location is not None
    create_request(
        session, data=data, home=_exact(location.lat, location.lon, postal_code), organisation_id=organisation.id,
        outside_territory=False, source=Source.secretary, links=Links.from_settings(settings), notify=False,
        actor=Actor(label="demo", is_staff=True), max_distance_km=settings.max_distance_default(kind),
        now=registered,
    )
