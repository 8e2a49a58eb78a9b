from lac_service.cabinets.models import Cabinet
from lac_service.cabinets.schemas import CabinetRead
from lac_service.geography.schemas import LocationOut
from lac_service.kit.fields import AddressOut


def to_read(cabinet: Cabinet) -> CabinetRead:
    return CabinetRead(
        id=cabinet.id, organisation=cabinet.organisation.slug, name=cabinet.name, kinds=cabinet.kinds,
        address=AddressOut(line=cabinet.address_line, postal_code=cabinet.postal_code, city=cabinet.city),
        location=LocationOut(lat=cabinet.lat, lon=cabinet.lon, precision=cabinet.location_precision), radius_km=cabinet.radius_km,
        batch_size=cabinet.batch_size, cadence_days=cabinet.cadence_days, channels=cabinet.channels,
        phones=cabinet.phones, emails=cabinet.emails, patient_phone=cabinet.patient_phone, paused=cabinet.paused,
        last_batch_at=cabinet.last_batch_at, batch_requested_at=cabinet.batch_requested_at,
        created_at=cabinet.created_at, updated_at=cabinet.updated_at,
    )
