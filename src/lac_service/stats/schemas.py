"""``GET /api/v1/stats``: what the answer holds (definitions in ``stats.indicators``)."""

from datetime import date

from pydantic import BaseModel, Field

from lac_service.kinds import Kind


class FlowOut(BaseModel):
    month: str = Field(description="YYYY-MM.")
    kind: Kind
    registered: int = Field(description="Requests in: the patient asked that month (an import keeps the date).")
    matched: int
    withdrawn: int = Field(description="Withdrawn, erasures apart.")
    archived: int = Field(description="Archived for want of an answer to the re-confirmation.")
    erased: int = Field(description="Withdrawn with erasure of the personal data.")


class StatusCountsOut(BaseModel):
    waiting: int
    offered: int
    matched: int
    withdrawn: int = Field(description="Erased requests included: their anonymous record stays withdrawn.")
    archived: int


class SpreadOut(BaseModel):
    count: int
    median_days: float | None
    p90_days: float | None = Field(description="Nearest rank: the smallest wait at least 90 % did not exceed.")


class WaitingOut(BaseModel):
    total: int = Field(description="Waiting now (queued or being offered).")
    by_band: dict[str, int]
    by_department: dict[str, int]
    waited: dict[str, SpreadOut] = Field(
        description="Days waited so far by those waiting now, since they asked: by priority band, and `all`. The "
                    "wait to match counts those who found a cabinet; this, those still looking.")


class OffersOut(BaseModel):
    offered: int = Field(description="Patients offered in the period (one per offer item).")
    pending: int
    accepted: int
    declined: int
    expired: int
    cancelled: int = Field(description="Taken back before an answer: the patient withdrew, or the offer was closed.")
    decline_reasons: dict[str, int]


class CabinetStatsOut(BaseModel):
    cabinet_id: int
    name: str
    offered: int
    accepted: int
    acceptance_rate: float | None = Field(description="Accepted over answered (accepted, declined, expired).")
    capacity_declared: int | None = Field(description="Batch size × whole cadences in the period; null for a cabinet "
                                                      "that asks for its batches when it has room.")
    people_accepted: int


class MatchedPriorityOut(BaseModel):
    matched: int
    ald: int
    ald_share: float | None
    aged_70_plus: int = Field(description="Turning 70 or more in the year of the match (birth year: erasure keeps it).")
    aged_70_plus_share: float | None


class StatsOut(BaseModel):
    organisation: str | None = Field(description="Null: every organisation (admins).")
    kind: Kind | None
    start: date
    end: date
    by_status: dict[str, StatusCountsOut] = Field(
        description="By kind, the requests held now by status, whatever the period: the state of the list.")
    flows: list[FlowOut]
    waiting: WaitingOut
    wait_to_match: dict[str, SpreadOut] = Field(description="By priority band at the match, and `all`.")
    wait_to_match_by_month: dict[str, SpreadOut] = Field(description="By month of the match (YYYY-MM), the months "
                                                                     "with one.")
    offers: OffersOut
    cabinets: list[CabinetStatsOut]
    matched_priority: MatchedPriorityOut
    resolution_rate: float | None = Field(description="Of the requests gone out in the period, the share matched.")
    acceptance_rate: float | None
    acceptance_by_band: dict[str, float | None] = Field(
        description="By the patient's priority band on the day of the offer; null: none answered.")
    acceptance_by_month: dict[str, float | None] = Field(
        description="By month of the offer (YYYY-MM), the months with one; null: none answered yet.")
