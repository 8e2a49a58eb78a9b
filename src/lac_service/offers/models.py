from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lac_service.cabinets.models import Cabinet
from lac_service.db import Base
from lac_service.intake.models import PatientRequest


class ItemStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    declined = "declined"
    expired = "expired"
    cancelled = "cancelled"  # the request left the queue (withdrawn, erased) while offered


class DeclineReason(StrEnum):
    """Coded so that coordinators can count them and no free text about a patient is kept."""

    no_capacity = "no_capacity"
    too_far = "too_far"
    outside_practice = "outside_practice"
    patient_unreachable = "patient_unreachable"
    patient_refused = "patient_refused"
    other = "other"


_PENDING = sa.text("status = 'pending'")
item_status_type = sa.Enum(ItemStatus, native_enum=False, length=16, validate_strings=True)
decline_type = sa.Enum(DeclineReason, native_enum=False, length=32, validate_strings=True)


class Offer(Base):
    """Only the SHA-256 of the link's token is stored, and the nonce it is derived from (lac_service.links)."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("matching_rounds.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    cabinet_id: Mapped[int] = mapped_column(sa.ForeignKey("cabinets.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    token_nonce: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)

    cabinet: Mapped[Cabinet] = relationship(lazy="joined")

    @hybrid_property
    def closed(self) -> bool:
        """Its cabinet left, or revoked the standing link that listed the offer's link."""
        revoked = self.cabinet.link_revoked_at
        return self.cabinet.deleted_at is not None or (revoked is not None and self.created_at < revoked)

    @closed.inplace.expression
    @classmethod
    def _closed_sql(cls) -> sa.ColumnElement[bool]:
        """The same in SQL; the query joins ``Cabinet``."""
        return sa.or_(Cabinet.deleted_at.is_not(None),
                      sa.and_(Cabinet.link_revoked_at.is_not(None), cls.created_at < Cabinet.link_revoked_at))
    items: Mapped[list["OfferItem"]] = relationship(
        back_populates="offer", order_by="OfferItem.id", lazy="selectin", cascade="all, delete-orphan"
    )


class OfferItem(Base):
    __tablename__ = "offer_items"
    __table_args__ = (
        # A request is in at most one pending offer, whatever concurrent rounds do.
        sa.Index("uq_offer_items_pending_request", "request_id", unique=True, sqlite_where=_PENDING, postgresql_where=_PENDING),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(sa.ForeignKey("offers.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("requests.id"), index=True)
    people: Mapped[int]
    distance_km: Mapped[float]
    # The request's points when offered: the acceptance rate by band reads the band of that day. The default
    # only let the column join a table with rows, each then given its request's points.
    priority_points: Mapped[int] = mapped_column(server_default="0")
    status: Mapped[ItemStatus] = mapped_column(item_status_type, default=ItemStatus.pending)
    decline_reason: Mapped[DeclineReason | None] = mapped_column(decline_type)
    responded_at: Mapped[datetime | None]
    # Accepted: the cabinet's number the patient was told to call, as it was then (None: told the cabinet calls).
    told_to_call: Mapped[str | None] = mapped_column(sa.String(20))

    offer: Mapped[Offer] = relationship(back_populates="items")
    request: Mapped[PatientRequest] = relationship(lazy="joined")
