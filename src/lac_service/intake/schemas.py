"""The request as partners and screens send it and read it back (SPEC §4)."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from lac_service.kinds import Kind
from lac_service.priority import Band
from lac_service.geography.schemas import LocationOut
from lac_service.intake.models import Source, Status, WithdrawReason
from lac_service.kit.fields import (
    Address, AddressOut, BirthDate, EmailAddress, Input, Location, PhoneNumber, ShortText,
)

MAX_HOUSEHOLD = 12
DistanceKm = Annotated[float, Field(gt=0, le=300, allow_inf_nan=False)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class PatientIn(Input):
    first_name: ShortText
    last_name: ShortText
    birth_date: BirthDate
    phone: PhoneNumber | None = Field(default=None, description="Any usual French writing; stored in E.164.")
    email: EmailAddress | None = None
    address: Address
    location: Location | None = Field(default=None, description="Home coordinates, when known.")


class PatientPatch(Input):
    first_name: ShortText | None = None
    last_name: ShortText | None = None
    birth_date: BirthDate | None = None
    phone: PhoneNumber | None = None
    email: EmailAddress | None = None
    address: Address | None = None
    location: Location | None = None


class HouseholdMemberIn(Input):
    first_name: ShortText
    last_name: ShortText
    birth_date: BirthDate


class CriteriaIn(Input):
    ald: bool = Field(default=False, description="Affection de longue durée (long-term condition).")
    pregnant: bool = False
    urgent: bool = Field(
        default=False, description="Staff only (admin, coordinator, secretary; not a partner's key): set after an "
                                   "interview.",
    )
    urgent_reason: Reason | None = Field(default=None, description="Staff only, as `urgent`: why it is urgent.")


class CriteriaPatch(Input):
    ald: bool | None = None
    pregnant: bool | None = None
    urgent: bool | None = None
    urgent_reason: Reason | None = None


class RequestCreate(Input):
    kind: Kind
    patient: PatientIn
    household: list[HouseholdMemberIn] = Field(
        default_factory=list, max_length=MAX_HOUSEHOLD, description="GP requests only: taken by the same cabinet."
    )
    criteria: CriteriaIn = Field(default_factory=CriteriaIn)
    max_distance_km: DistanceKm | None = Field(default=None, description="Defaults per kind (settings).")
    consent: bool = Field(description="Must be true: the patient agreed to the processing of their data.")
    source: Source | None = Field(default=None, description="Defaults from the caller: `form` for the public.")

    @field_validator("consent")
    @classmethod
    def _consent_given(cls, value: bool) -> bool:
        if value is not True:
            raise PydanticCustomError("consent_required", "Le consentement du patient est obligatoire.")
        return value


class RequestUpdate(Input):
    patient: PatientPatch | None = None
    household: list[HouseholdMemberIn] | None = Field(default=None, max_length=MAX_HOUSEHOLD)
    criteria: CriteriaPatch | None = None
    max_distance_km: DistanceKm | None = None


class WithdrawChoice(StrEnum):
    """The reasons a caller gives; erasure, an SMS STOP and a merge are the service's to record."""

    found_elsewhere = WithdrawReason.found_elsewhere.value
    no_longer_needed = WithdrawReason.no_longer_needed.value
    moved = WithdrawReason.moved.value
    other = WithdrawReason.other.value


class WithdrawIn(Input):
    reason: WithdrawChoice = WithdrawChoice.other


class PatientOut(BaseModel):
    first_name: str | None
    last_name: str | None
    birth_date: date | None
    age: int | None
    phone: str | None
    email: str | None
    address: AddressOut | None
    location: LocationOut | None


class HouseholdMemberOut(BaseModel):
    first_name: str
    last_name: str
    birth_date: date
    age: int


class CriteriaOut(BaseModel):
    ald: bool
    pregnant: bool
    urgent: bool
    urgent_reason: str | None


class ReasonOut(BaseModel):
    code: str = Field(description="Stable rule code, e.g. `ald`, `age_70_plus`, `waited`.")
    label: str = Field(description="French, for people.")
    points: int


class PriorityOut(BaseModel):
    points: int
    band: Band = Field(description="`high` from 80 points, `medium` from 30, else `low`.")
    reasons: list[ReasonOut] = Field(description="Why: each rule that gave points; they add up to `points`.")
    policy_version: int = Field(description="Version of the organisation's policy (0: the built-in default).")
    scored_at: datetime


class StatusChangeOut(BaseModel):
    from_status: Status | None
    to_status: Status
    reason: str | None
    at: datetime


class RequestRead(BaseModel):
    id: int
    kind: Kind
    status: Status
    organisation: str = Field(description="Slug of the organisation the request belongs to.")
    source: Source
    referred_by_cabinet_id: int | None = Field(default=None, description="The cabinet whose referral link was used.")
    patient: PatientOut
    household: list[HouseholdMemberOut]
    people_count: int = Field(description="Patient plus household: the seats a cabinet must have.")
    criteria: CriteriaOut
    max_distance_km: float
    priority: PriorityOut | None = Field(description="Null once erased.")
    waiting_since: datetime
    department: str
    outside_territory: bool = Field(
        description="No organisation's territory holds the home: it went to the default organisation."
    )
    consent_at: datetime
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime
    erased_at: datetime | None
    history: list[StatusChangeOut]


class RequestStatusRead(BaseModel):
    """A request's progress, without personal data: what an organisation that registered it follows when the
    home put it in another's hands."""
    id: int
    kind: Kind
    status: Status
    organisation: str = Field(description="Slug of the organisation the request belongs to.")
    status_changed_at: datetime
    merged_into_id: int | None = Field(description="Withdrawn as a duplicate: the request the person waits with.")
    history: list[StatusChangeOut]


class TrackingLinkSent(BaseModel):
    channels: list[Literal["sms", "email"]] = Field(description="Where the link goes: the patient's phone, e-mail.")


class RequestCreated(RequestRead):
    tracking_url: str = Field(description="The patient's private link; shown in this answer only.")
