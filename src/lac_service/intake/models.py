from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lac_service.auth.models import Organisation
from lac_service.db import Base
from lac_service.kinds import Kind
from lac_service.kit.clock import local_zone
from lac_service.kit.text import KEY_LENGTH


class Status(StrEnum):
    waiting = "waiting"
    offered = "offered"
    matched = "matched"
    withdrawn = "withdrawn"
    archived = "archived"


ACTIVE_STATUSES = (Status.waiting, Status.offered)
_ACTIVE = sa.text("status IN ('waiting', 'offered')")


class WithdrawReason(StrEnum):
    """Coded, never free text: the history outlives erasure and must hold no personal data."""

    found_elsewhere = "found_elsewhere"
    no_longer_needed = "no_longer_needed"
    moved = "moved"
    erased = "erased"
    stopped_by_sms = "stopped_by_sms"
    merged = "merged"  # a duplicate, merged into the request kept
    other = "other"


class Source(StrEnum):
    form = "form"
    secretary = "secretary"
    practitioner = "practitioner"
    partner = "partner"
    import_ = "import"


kind_type = sa.Enum(Kind, native_enum=False, length=32, validate_strings=True)
status_type = sa.Enum(Status, native_enum=False, length=16, validate_strings=True)
source_type = sa.Enum(
    Source, native_enum=False, length=16, validate_strings=True, values_callable=lambda e: [m.value for m in e]
)


class PatientRequest(Base):
    """One patient's demand of one kind. Personal columns are nullable: erasure empties them and keeps the
    row (kind, dates, status, department, birth year) for the indicators."""

    __tablename__ = "requests"
    __table_args__ = (
        sa.Index("ix_requests_queue", "organisation_id", "kind", "status", "priority_points"),
        # One active request per person and kind, even under concurrent registrations (SPEC §4: 409).
        sa.Index(
            "uq_requests_active_identity", "kind", "identity_key", "birth_date", unique=True,
            sqlite_where=_ACTIVE, postgresql_where=_ACTIVE,
        ),
        sa.Index("ix_requests_phone", "phone"),  # SMS replies, duplicates
        sa.Index("ix_requests_person", "birth_date", "person_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    kind: Mapped[Kind] = mapped_column(kind_type)
    status: Mapped[Status] = mapped_column(status_type)
    source: Mapped[Source] = mapped_column(source_type)

    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    identity_key: Mapped[str | None] = mapped_column(sa.String(KEY_LENGTH))
    person_key: Mapped[str | None] = mapped_column(sa.String(KEY_LENGTH))  # kit.text.person_key: flags possible duplicates
    birth_date: Mapped[date | None]
    birth_year: Mapped[int]
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    address_line: Mapped[str | None] = mapped_column(sa.String(200))
    postal_code: Mapped[str | None] = mapped_column(sa.String(5))
    city: Mapped[str | None] = mapped_column(sa.String(100))
    department: Mapped[str] = mapped_column(sa.String(3))
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    location_precision: Mapped[str | None] = mapped_column(sa.String(16))
    outside_territory: Mapped[bool] = mapped_column(default=False)

    ald: Mapped[bool] = mapped_column(default=False)
    pregnant: Mapped[bool] = mapped_column(default=False)
    urgent: Mapped[bool] = mapped_column(default=False)
    urgent_reason: Mapped[str | None] = mapped_column(sa.String(500))
    max_distance_km: Mapped[float]
    people_count: Mapped[int] = mapped_column(default=1)

    # The queue order (priority.rank_key); the explanation is recomputed from the policy version and the
    # day of scoring, so it always adds up to the stored points.
    priority_points: Mapped[int] = mapped_column(default=0)
    priority_policy_version: Mapped[int] = mapped_column(default=0)
    priority_scored_at: Mapped[datetime]
    waiting_since: Mapped[datetime]  # the original request date: imports keep it

    matched_cabinet_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cabinets.id"))
    referred_by_cabinet_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cabinets.id"))  # its referral link
    # The organisation whose key or staff registered it for a home another holds: it follows its status.
    followed_by_organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"))
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("requests.id"))  # set on a merged duplicate
    matched_at: Mapped[datetime | None]

    consent_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]  # the patient's last "still waiting" (an SMS OUI, a link)
    reconfirm_asked_at: Mapped[datetime | None]  # when "do you still wait?" was last sent (intake.reconfirmation)
    tracking_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    tracking_token_nonce: Mapped[str | None] = mapped_column(sa.String(32))  # see lac_service.links
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    status_changed_at: Mapped[datetime]
    erased_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship(lazy="joined", foreign_keys=[organisation_id])
    household: Mapped[list["HouseholdMember"]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="HouseholdMember.id", lazy="selectin"
    )
    history: Mapped[list["StatusChange"]] = relationship(
        cascade="all, delete-orphan", order_by="StatusChange.id", lazy="selectin"
    )

    @property
    def zone(self) -> ZoneInfo:
        """The patient's time, from the department (kept after erasure): the days on their pages are theirs."""
        return local_zone(self.department)


class HouseholdMember(Base):
    """Someone who must be taken by the same cabinet as the requester (a GP request only)."""

    __tablename__ = "household_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    first_name: Mapped[str] = mapped_column(sa.String(100))
    last_name: Mapped[str] = mapped_column(sa.String(100))
    birth_date: Mapped[date]

    request: Mapped[PatientRequest] = relationship(back_populates="household")


class StatusChange(Base):
    """The history of a request: no personal data, so it survives erasure."""

    __tablename__ = "request_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[Status | None] = mapped_column(status_type)
    to_status: Mapped[Status] = mapped_column(status_type)
    reason: Mapped[str | None] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime]



class DistinctPeople(Base):
    """Two requests a secretary looked at and found to be two people: no longer flagged as duplicates."""

    __tablename__ = "distinct_people"

    first_request_id: Mapped[int] = mapped_column(sa.ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True)
    second_request_id: Mapped[int] = mapped_column(sa.ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True)
    decided_by: Mapped[str] = mapped_column(sa.String(64))
    decided_at: Mapped[datetime]
