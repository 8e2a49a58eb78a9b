"""``Idempotency-Key`` for partners' POSTs: a retry with the same key returns the first answer.

The record is written in the same transaction as the effect, so a crash cannot leave an effect without
its record (or the reverse). Only keyed callers get this: a key shared by the public would let one person
read another's answer. Records expire after ``idempotency_ttl_hours`` and are deleted the night after; they
hold the answer, which may carry personal data, so erasure deletes them with the resource (``resource``). A
link in the answer is not kept at all, but rebuilt on a replay: a copy of the database must open nothing.
"""

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Mapped, Session, mapped_column

from lac_service.db import Base
from lac_service.errors import IdempotencyKeyReused, KeyInUse


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    scope: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int]
    body: Mapped[str] = mapped_column(sa.Text)
    resource: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", max_length=255,
        description="Any unique string (a UUID); a retry with the same key and body returns the first answer.",
    ),
]


def run_once(
    session: Session,
    *,
    scope: str | None,
    key: str | None,
    payload: BaseModel | None,
    action: Callable[[], tuple[BaseModel, str]],
    status_code: int,
    now: datetime,
    ttl: timedelta,
    rebuilt: Mapping[str, Callable[[str], object]] | None = None,
) -> JSONResponse:
    """Runs ``action`` (which returns the answer and the resource it made, e.g. ``request:12``) at most once
    per (caller, key). ``rebuilt``: the answer's links, left out of the record and each rebuilt from the
    resource on a replay."""
    rebuilt = rebuilt or {}
    if scope is None or key is None:
        answer, _ = action()
        return JSONResponse(answer.model_dump(mode="json"), status_code=status_code)
    fingerprint = hashlib.sha256(payload.model_dump_json().encode() if payload else b"").hexdigest()
    record = session.get(IdempotencyRecord, (scope, key))
    if record is not None and record.created_at < now - ttl:
        session.delete(record)
        session.flush()
        record = None
    if record is not None:
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused(field="Idempotency-Key")
        body = json.loads(record.body) | {name: build(record.resource) for name, build in rebuilt.items()}
        return JSONResponse(body, status_code=record.status_code)
    answer, resource = action()
    body = answer.model_dump(mode="json")
    kept = {name: value for name, value in body.items() if name not in rebuilt}
    _keep(session, IdempotencyRecord(
        scope=scope, key=key, fingerprint=fingerprint, status_code=status_code, body=json.dumps(kept),
        resource=resource, created_at=now,
    ))
    return JSONResponse(body, status_code=status_code)


def made_once(session: Session, *, scope: str, key: str, make: Callable[[], str], now: datetime) -> str:
    """A screen's form sent twice (a double click, a reload) makes its record once: ``make`` runs once per
    (``scope``, ``key``, a token the form carries) and returns the resource it made (``cabinet:12``), which
    every sending gets. One sent at the same moment waits for the first, then gets the first's resource: its
    own work is rolled back."""
    record = session.get(IdempotencyRecord, (scope, key))
    if record is not None and record.resource is not None:
        return record.resource
    resource = make()
    try:
        _keep(session, IdempotencyRecord(scope=scope, key=key, fingerprint="", status_code=303, body="",
                                         resource=resource, created_at=now))
    except KeyInUse:
        session.rollback()
        first = session.get(IdempotencyRecord, (scope, key))
        assert first is not None and first.resource is not None
        return first.resource
    return resource


def _keep(session: Session, record: IdempotencyRecord) -> None:
    session.flush()  # the caller's own writes: a failure of theirs is not a key in use
    try:
        with session.begin_nested():  # added within: a savepoint first flushes what is pending, outside itself
            session.add(record)
    except sa.exc.IntegrityError:
        # The same key is being used by a concurrent call that committed first.
        raise KeyInUse(field="Idempotency-Key") from None


def forget_expired(session: Session, *, before: datetime) -> int:
    """Nightly: a record past its time answers nothing, and still holds personal data."""
    result = session.execute(sa.delete(IdempotencyRecord).where(IdempotencyRecord.created_at < before))
    return result.rowcount or 0  # type: ignore[attr-defined]


def forget_resource(session: Session, resource: str) -> None:
    session.execute(sa.delete(IdempotencyRecord).where(IdempotencyRecord.resource == resource))
