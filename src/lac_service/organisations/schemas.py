from typing import Annotated, Any

from pydantic import BaseModel, Field, HttpUrl, StringConstraints, UrlConstraints

from lac_service.kit.fields import ClockTime, EmailAddress, Input, PhoneNumber, TimeZone

PostalCodeText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=5)]


COMMUNE_NAME_LENGTH = 100


class CommuneIn(Input):
    postal_code: PostalCodeText
    city: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=COMMUNE_NAME_LENGTH)]


class CommuneOut(BaseModel):
    postal_code: str
    city: str = Field(description="As the gazetteer spells it.")


class TerritoryIn(Input):
    """A GeoJSON Polygon/MultiPolygon (bare, Feature or FeatureCollection), postal codes, communes, or several
    of them; none clears the territory."""

    geojson: dict[str, Any] | None = Field(default=None, description="GeoJSON, coordinates as [lon, lat].")
    postal_codes: list[PostalCodeText] | None = Field(default=None, max_length=5000)
    communes: list[CommuneIn] | None = Field(
        default=None, max_length=5000,
        description="Communes, each by its postal code and name, where a postal code serves communes of several "
                    "CPTS; a home is matched by its address's postal code and city.")


class TerritoryOut(BaseModel):
    geojson: dict[str, Any] | None
    postal_codes: list[str]
    communes: list[CommuneOut]


class OrganisationContactIn(Input):
    """Shown to the organisation's patients on their tracking page; null: not given."""

    phone: PhoneNumber | None = Field(description="A number patients may call (a landline will do).")
    email: EmailAddress | None


class OrganisationContactOut(BaseModel):
    phone: str | None = Field(description="E.164.")
    email: str | None


class OrganisationRead(BaseModel):
    slug: str
    name: str
    territory: TerritoryOut | None
    contact: OrganisationContactOut


class WebhookIn(Input):
    url: Annotated[HttpUrl, UrlConstraints(max_length=300)] = Field(
        description="HTTPS address that receives each status change of the organisation's requests."
    )
    rotate_key: bool = Field(default=False, description="Issue a new signing key (the old one stops at once).")


class WebhookOut(BaseModel):
    url: str
    signing_key: str = Field(description="HMAC-SHA256 key of the signature header; keep it secret.")
    signature_header: str = Field(
        description='Header of each delivery: "t=<unix seconds>,v1=<hex HMAC-SHA256(key, \"<t>.<body>\")>".'
    )


class ScheduleIn(Input):
    match_at: list[ClockTime] | None = Field(
        max_length=24, description='Local times of the daily rounds ("08:00"); empty: none; null: the deployment\'s.')
    timezone: TimeZone | None = Field(description="IANA time zone of those times (`America/Martinique`); null: the "
                                                  "deployment's.")


class ScheduleOut(BaseModel):
    match_at: list[str] = Field(description='The times in force ("08:00"), in order; empty: no scheduled round.')
    timezone: str
    own_times: bool = Field(description="Chosen by the organisation; false: the deployment's.")
    own_timezone: bool
