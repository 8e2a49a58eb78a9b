from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lac_service.db import Base


class Role(StrEnum):
    """``admin`` runs the platform (all organisations); the others act within their organisation."""

    admin = "admin"
    coordinator = "coordinator"
    secretary = "secretary"
    partner = "partner"


role_type = sa.Enum(Role, native_enum=False, length=16, validate_strings=True)


class Organisation(Base):
    """A CPTS or the regional platform. Its territory (a GeoJSON polygon, postal codes, or both) decides
    which requests are its own; ``territory_updated_at`` tells every process to rebuild its index."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # Deferred: a territory can weigh hundreds of kilobytes, and every request, cabinet and login row joins
    # its organisation. Routing and the organisation's own page load it (``organisations.service``).
    territory_geojson: Mapped[dict[str, Any] | None] = mapped_column(
        sa.JSON, deferred=True, deferred_group="territory"
    )
    territory_postal_codes: Mapped[list[str] | None] = mapped_column(
        sa.JSON, deferred=True, deferred_group="territory"
    )
    # [postal code, commune] pairs, the commune as the gazetteer spells it.
    territory_communes: Mapped[list[list[str]] | None] = mapped_column(
        sa.JSON, deferred=True, deferred_group="territory"
    )
    territory_updated_at: Mapped[datetime | None]
    # Where the status changes of its requests, and of those it registered for another, are POSTed; and the id
    # its signing key is derived from.
    webhook_url: Mapped[str | None] = mapped_column(sa.String(300))
    webhook_key_id: Mapped[str | None] = mapped_column(sa.String(32))
    # Its daily rounds: local times ("08:00"; empty, none) and their time zone. None: the deployment's
    # (``LAC_JOBS__MATCH_AT``, ``LAC_JOBS__TIMEZONE``); see ``organisations.schedule``. Slots before the
    # schedule was set (or the organisation created) are not owed.
    match_at: Mapped[list[str] | None] = mapped_column(sa.JSON(none_as_null=True))
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    schedule_set_at: Mapped[datetime | None]
    # How its patients reach it (the tracking page): a question, a change of address, a request found wrong.
    contact_phone: Mapped[str | None] = mapped_column(sa.String(20))
    contact_email: Mapped[str | None] = mapped_column(sa.String(254))
    created_at: Mapped[datetime]


class User(Base):
    """A screen login; passwords are argon2 hashes."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(role_type)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    is_active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")  # in a row; a success resets it
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]

    organisation: Mapped[Organisation] = relationship(lazy="joined")

    @property
    def label(self) -> str:
        """How the history and the audit log name the user (as ``apikey:N`` names a key): never a name."""
        return f"user:{self.id}"


class StaffSession(Base):
    """A browser login. Only the SHA-256 of the cookie's token is stored; a session ends at logout, after
    ``idle`` without use, or at ``expires_at`` whatever the use."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    user: Mapped[User] = relationship(lazy="joined")


class ApiKey(Base):
    """Only the SHA-256 of the key is stored; ``prefix`` finds the row without scanning."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(role_type)
    prefix: Mapped[str] = mapped_column(sa.String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]  # may be ahead: the end of a rotation's overlap

    def works_at(self, now: datetime) -> bool:
        return self.revoked_at is None or self.revoked_at > now
