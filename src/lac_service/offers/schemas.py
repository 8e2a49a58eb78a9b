from datetime import date, datetime

from pydantic import BaseModel, Field

from lac_service.cabinets.models import Channel
from lac_service.cabinets.schemas import BATCH_REQUESTED_AT_DESCRIPTION
from lac_service.intake.schemas import ReasonOut
from lac_service.kinds import Kind
from lac_service.kit.fields import Input, RecordId
from lac_service.offers.models import DeclineReason, ItemStatus
from lac_service.offers.service import Decision


class ResponseIn(Input):
    request_id: RecordId
    decision: Decision
    reason: DeclineReason | None = Field(default=None, description="Why the practitioner declines, if they say: "
                                                                   "counted in the indicators.")


class MemberOut(BaseModel):
    first_name: str
    last_name: str
    birth_date: date


class ContactOut(BaseModel):
    """Shown once the practitioner has accepted the patient."""

    first_name: str | None
    last_name: str | None
    phone: str | None
    email: str | None
    address: str | None
    household: list[MemberOut] = Field(description="The household members the cabinet takes with the patient.")
    told: bool = Field(description="Whether the match message is on its way to the patient or reached them (a "
                                   "mobile or an e-mail, not refused nor reported undelivered): false, the cabinet "
                                   "calls them.")
    told_to_call: str | None = Field(description="The cabinet's number the patient was told to call for an "
                                                 "appointment, as it was at the accept; null: told the cabinet "
                                                 "will call them.")


class OfferItemOut(BaseModel):
    request_id: int
    status: ItemStatus
    available: bool = Field(description="False once the patient left the queue (withdrawn, erased).")
    kind: Kind
    first_name: str | None
    age: int | None
    people: int = Field(description="Patient plus the household members to be taken with them.")
    household_ages: list[int] = Field(description="The household members' ages, youngest first (their names once "
                                                  "the patient is accepted, in `contact`).")
    distance_km: float
    priority_reasons: list[ReasonOut]
    decline_reason: DeclineReason | None
    contact: ContactOut | None


class OfferOut(BaseModel):
    id: int
    cabinet: str
    created_at: datetime
    expires_at: datetime
    practitioner_url: str = Field(description="The cabinet's standing page: pause, or ask for a batch now.")
    answerable: bool = Field(description="False past the deadline: the offer stays readable 30 days more, for the "
                                         "contacts of the patients accepted.")
    items: list[OfferItemOut]


class OfferSummary(BaseModel):
    """The coordinator's view: no patient details, the statuses and the coded reasons."""

    id: int
    round_id: int
    cabinet_id: int
    cabinet: str
    created_at: datetime
    expires_at: datetime
    pending: int
    accepted: int
    declined: int
    expired: int
    cancelled: int = Field(description="Taken back before an answer: the patient left the queue (counted at once), "
                                       "or the offer closed early.")
    decline_reasons: dict[str, int]


class OpenOffer(BaseModel):
    id: int
    url: str | None = Field(description="The batch's page, where each patient is accepted or declined.")
    created_at: datetime
    expires_at: datetime
    pending: int = Field(description="Patients still waiting for an answer.")
    accepted: int = Field(description="Patients accepted: their contacts are on the batch's page.")


class PractitionerPage(BaseModel):
    cabinet: str
    kinds: list[Kind]
    paused: bool
    cadence_days: int
    batch_size: int
    channels: list[Channel] = Field(description="How the cabinet hears of its batches; empty: browse mode, where "
                                                "batches come only when asked for.")
    next_batch_from: datetime | None = Field(
        description="When the cadence makes the cabinet due again; null: at the next round, or, in browse mode, "
                    "when it asks."
    )
    batch_requested_at: datetime | None = Field(description=BATCH_REQUESTED_AT_DESCRIPTION)
    offers: list[OpenOffer] = Field(description="Batches with patients to answer before their deadline, or "
                                                          "with patients accepted (readable 30 days past it).")
    referral_url: str = Field(description="The link to hand a patient: their request records the cabinet that sent them.")
