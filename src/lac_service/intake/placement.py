"""Where a new request lives: its home located (outside any transaction: the geocoder may call out) and
the organisation whose territory holds it. Shared by the API and the screens."""

from dataclasses import dataclass

from sqlalchemy.orm import Session

from lac_service.config import Settings
from lac_service.geography.geocoder import Geocoder, Located
from lac_service.intake.schemas import PatientIn
from lac_service.organisations.service import Router, home_organisation


@dataclass(frozen=True)
class Placement:
    home: Located
    organisation_id: int
    outside_territory: bool


def place(
    session: Session, patient: PatientIn, *, geocoder: Geocoder, territories: Router, settings: Settings,
    caller_organisation_id: int | None, field: str = "patient",
) -> Placement:
    home = geocoder.locate_input(patient.address, patient.location, field=field)
    organisation_id, outside = home_organisation(
        session, territories, lat=home.lat, lon=home.lon, postal_code=patient.address.postal_code,
        city=patient.address.city, caller_organisation_id=caller_organisation_id,
        default_slug=settings.default_organisation,
    )
    return Placement(home, organisation_id, outside)
