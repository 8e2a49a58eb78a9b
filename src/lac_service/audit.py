"""Who read or changed which patient's record, when, and from which organisation: one row per record
touched, written in the same transaction as the read or the change. Rows name people by their key or
login id and records by their id — never a name — so the log itself holds no personal data and outlives
erasure."""

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from lac_service.db import Base


class Action(StrEnum):
    read = "read"
    read_status = "read_status"  # its status and history only (GET /requests/{id}/status)
    list = "list"
    create = "create"
    update = "update"
    withdraw = "withdraw"
    erase = "erase"
    merge = "merge"
    send_link = "send_link"  # the tracking link sent again to the patient's phone or e-mail


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_request", "request_id", "at"),
                      sa.Index("ix_audit_events_organisation", "organisation_id", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(sa.String(64))  # apikey:12, user:3
    actor_organisation_id: Mapped[int | None]
    action: Mapped[Action] = mapped_column(sa.Enum(Action, native_enum=False, length=16, validate_strings=True))
    request_id: Mapped[int]
    organisation_id: Mapped[int]  # the record's organisation: whose coordinators read this row


class Record(Protocol):
    id: int
    organisation_id: int


class Accessor(Protocol):
    """Who reads or changes records: an API key's caller, a logged-in user."""

    @property
    def label(self) -> str: ...

    @property
    def organisation_id(self) -> int | None: ...


def log_access(session: Session, who: Accessor, action: Action, requests: Iterable[Record], now: datetime) -> None:
    """Each patient record ``who`` read or changed."""
    record(session, actor=who.label, actor_organisation_id=who.organisation_id, action=action, requests=requests,
           now=now)


def record(session: Session, *, actor: str, actor_organisation_id: int | None, action: Action,
           requests: Iterable[Record], now: datetime) -> None:
    """One row per request read or changed."""
    rows = [{"at": now, "actor": actor, "actor_organisation_id": actor_organisation_id, "action": action,
             "request_id": r.id, "organisation_id": r.organisation_id} for r in requests]
    if rows:
        session.execute(AuditEvent.__table__.insert(), rows)  # Core: an import logs 100,000 rows at once


def record_all(session: Session, *, actor: str, actor_organisation_id: int | None, action: Action,
               requests: sa.Select[tuple[int, int]], now: datetime) -> None:
    """The same for every request a query selects (its id, its organisation): one statement, for imports."""
    rows = requests.subquery()
    session.execute(sa.insert(AuditEvent).from_select(
        ["at", "actor", "actor_organisation_id", "action", "request_id", "organisation_id"],
        sa.select(sa.literal(now, AuditEvent.at.type), sa.literal(actor, sa.String()),
                  sa.literal(actor_organisation_id, sa.Integer()), sa.literal(action.value, sa.String()),
                  *rows.c),
    ))


def events(session: Session, *, organisation_id: int | None, request_id: int | None, actor: str | None,
           limit: int, offset: int) -> tuple[list[AuditEvent], int]:
    query = sa.select(AuditEvent)
    if organisation_id is not None:
        query = query.where(AuditEvent.organisation_id == organisation_id)
    if request_id is not None:
        query = query.where(AuditEvent.request_id == request_id)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total
