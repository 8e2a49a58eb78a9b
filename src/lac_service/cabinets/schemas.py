from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from lac_service.cabinets.models import Channel
from lac_service.geography.schemas import LocationOut
from lac_service.kinds import Kind
from lac_service.kit.fields import Address, AddressOut, EmailAddress, Input, Location, PhoneNumber

BATCH_REQUESTED_AT_DESCRIPTION = ("Set: a batch was asked for and not made at once, and the cabinet is told of its batches; "
                      "every round serves it, whatever the cadence, until one is made.")

CabinetName = Annotated[str, Field(min_length=1, max_length=200)]
RadiusKm = Annotated[float, Field(gt=0, le=300, allow_inf_nan=False, description="How far its patients may live.")]
BatchSize = Annotated[int, Field(ge=1, le=100, description="People (not requests) offered per round.")]
CadenceDays = Annotated[int, Field(ge=1, le=365, description="Days between two batches.")]
Kinds = Annotated[list[Kind], Field(min_length=1, max_length=len(Kind))]
Channels = Annotated[
    list[Channel], Field(max_length=len(Channel), description="Empty: browse mode, nothing is sent.")
]
Phones = Annotated[list[PhoneNumber], Field(max_length=5)]
Emails = Annotated[list[EmailAddress], Field(max_length=5)]
PatientPhone = Annotated[PhoneNumber | None, Field(
    description="The number the cabinet's new patients are told to call. Without it they are told the cabinet "
                "will call them: `phones`, where batches are texted, are never given to patients.")]


class CabinetCreate(Input):
    name: CabinetName
    kinds: Kinds
    address: Address
    location: Location | None = Field(default=None, description="Located from the address when absent.")
    radius_km: RadiusKm
    batch_size: BatchSize = 10
    cadence_days: CadenceDays = 42
    channels: Channels = Field(default_factory=list)
    phones: Phones = Field(default_factory=list)
    emails: Emails = Field(default_factory=list)
    patient_phone: PatientPhone = None
    paused: bool = False
    organisation: str | None = Field(default=None, max_length=64, description="Admin only: organisation slug.")


class CabinetUpdate(Input):
    name: CabinetName | None = None
    kinds: Kinds | None = None
    address: Address | None = None
    location: Location | None = None
    radius_km: RadiusKm | None = None
    batch_size: BatchSize | None = None
    cadence_days: CadenceDays | None = None
    channels: Channels | None = None
    phones: Phones | None = None
    emails: Emails | None = None
    patient_phone: PatientPhone = None
    paused: bool | None = None


class CabinetRead(BaseModel):
    id: int
    organisation: str
    name: str
    kinds: list[Kind]
    address: AddressOut
    location: LocationOut
    radius_km: float
    batch_size: int
    cadence_days: int
    channels: list[Channel]
    phones: list[str]
    emails: list[str]
    patient_phone: str | None
    paused: bool
    last_batch_at: datetime | None
    batch_requested_at: datetime | None = Field(description=BATCH_REQUESTED_AT_DESCRIPTION)
    created_at: datetime
    updated_at: datetime


class PractitionerLink(BaseModel):
    url: str = Field(description="Give it to the practitioner only: whoever holds it acts for the cabinet.")
