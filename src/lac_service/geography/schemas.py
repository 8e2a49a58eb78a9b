from pydantic import BaseModel, Field

from lac_service.geography.geocoder import Precision


class LocationOut(BaseModel):
    lat: float
    lon: float
    precision: Precision = Field(
        description="`exact` (coordinates given), `address` (national address base), `commune`, `postal_code`."
    )
