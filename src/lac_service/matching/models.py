from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from lac_service.db import Base


class MatchingRound(Base):
    """An auditable round: who ran it, with which engine, on what, and what came of it."""

    __tablename__ = "matching_rounds"
    __table_args__ = (sa.Index("ix_matching_rounds_requested_by_started_at", "requested_by", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    cabinet_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cabinets.id"))  # set: one cabinet's ask
    kind: Mapped[str | None] = mapped_column(sa.String(32))
    engine: Mapped[str] = mapped_column(sa.String(16))
    requested_by: Mapped[str] = mapped_column(sa.String(64))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    requests_considered: Mapped[int]
    cabinets_due: Mapped[int]
    requests_offered: Mapped[int]
    people_offered: Mapped[int]
    # {"unmatched": {reason: count}, "parameters": {...}}
    summary: Mapped[dict[str, Any]] = mapped_column(sa.JSON)


class UnmatchedRequest(Base):
    """Why a waiting request got no offer in a round, for the coordinator and for the patient's questions."""

    __tablename__ = "matching_unmatched"

    round_id: Mapped[int] = mapped_column(sa.ForeignKey("matching_rounds.id", ondelete="CASCADE"), primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("requests.id"), primary_key=True, index=True)
    reason: Mapped[str] = mapped_column(sa.String(32))


class MatchingLock(Base):
    """One row that a round writes first: on SQLite, that write makes concurrent rounds queue up."""

    __tablename__ = "matching_lock"

    name: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    taken_at: Mapped[datetime | None]
