from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lac_service.auth.models import Organisation
from lac_service.db import Base
from lac_service.kit.clock import local_zone


class Channel(StrEnum):
    sms = "sms"
    email = "email"


class Cabinet(Base):
    """``kinds`` and ``channels`` are short lists read whole; an empty ``channels`` is browse mode: nothing
    is sent and the practitioner looks at the list when they have room."""

    __tablename__ = "cabinets"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kinds: Mapped[list[str]] = mapped_column(sa.JSON)
    address_line: Mapped[str] = mapped_column(sa.String(200))
    postal_code: Mapped[str] = mapped_column(sa.String(5))
    city: Mapped[str] = mapped_column(sa.String(100))
    lat: Mapped[float]
    lon: Mapped[float]
    location_precision: Mapped[str] = mapped_column(sa.String(16))
    radius_km: Mapped[float]
    batch_size: Mapped[int]
    cadence_days: Mapped[int]
    channels: Mapped[list[str]] = mapped_column(sa.JSON)
    phones: Mapped[list[str]] = mapped_column(sa.JSON)  # where batches are texted: often a practitioner's mobile
    patient_phone: Mapped[str | None] = mapped_column(sa.String(20))  # the number patients are given
    emails: Mapped[list[str]] = mapped_column(sa.JSON)
    paused: Mapped[bool] = mapped_column(default=False)
    # The practitioner's standing page (lac_service.links), issued when a coordinator first asks for it.
    link_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    link_token_nonce: Mapped[str | None] = mapped_column(sa.String(32))
    # The standing page lists the open batches' links: a revocation closes the batches sent before it too.
    link_revoked_at: Mapped[datetime | None]
    # Printed on the practitioner's referral link (``/?ref=CODE``): it names the cabinet, it opens nothing.
    referral_code: Mapped[str | None] = mapped_column(sa.String(12), unique=True)
    # Cadence: due again ``cadence_days`` after the last batch, or at once when a batch was asked for.
    last_batch_at: Mapped[datetime | None]
    batch_requested_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship(lazy="joined")

    @property
    def zone(self) -> ZoneInfo:
        """The practitioners' time: their deadlines are written in it, their cadence counts its days."""
        return local_zone(self.postal_code)
