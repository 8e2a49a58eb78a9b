from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from lac_service.kit.fields import Input

PostalCodeText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=5)]


class TerritoryIn(Input):
    """A GeoJSON Polygon/MultiPolygon (bare, Feature or FeatureCollection), postal codes, or both;
    neither clears the territory."""

    geojson: dict[str, Any] | None = Field(default=None, description="GeoJSON, coordinates as [lon, lat].")
    postal_codes: list[PostalCodeText] | None = Field(default=None, max_length=5000)


class TerritoryOut(BaseModel):
    geojson: dict[str, Any] | None
    postal_codes: list[str]


class OrganisationRead(BaseModel):
    slug: str
    name: str
    territory: TerritoryOut | None
