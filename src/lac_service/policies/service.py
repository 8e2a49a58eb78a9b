"""Reading and replacing policies. The pure engine (``priority``) does the scoring."""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from lac_service.errors import ChangedMeanwhile, NotFound
from lac_service.kinds import Kind
from lac_service.policies.models import PolicyVersion
from lac_service.priority import Policy, Rules, default_policy

DEFAULT_VERSION = 0


@dataclass(frozen=True)
class VersionedPolicy:
    version: int
    policy: Policy
    created_at: datetime | None  # None for the built-in default
    created_by: str | None


def _versioned(row: PolicyVersion) -> VersionedPolicy:
    policy = Policy(kind=row.kind.value, rules=Rules.model_validate(row.rules))
    return VersionedPolicy(row.version, policy, row.created_at, row.created_by)


def _default(kind: Kind) -> VersionedPolicy:
    return VersionedPolicy(DEFAULT_VERSION, default_policy(kind.value), None, None)


def current_policy(session: Session, *, organisation_id: int, kind: Kind) -> VersionedPolicy:
    row = session.scalar(
        sa.select(PolicyVersion)
        .where(PolicyVersion.organisation_id == organisation_id, PolicyVersion.kind == kind)
        .order_by(PolicyVersion.version.desc())
        .limit(1)
    )
    return _versioned(row) if row is not None else _default(kind)


def policy_version(session: Session, *, organisation_id: int, kind: Kind, version: int) -> VersionedPolicy:
    if version == DEFAULT_VERSION:
        return _default(kind)
    row = session.scalar(
        sa.select(PolicyVersion).where(
            PolicyVersion.organisation_id == organisation_id, PolicyVersion.kind == kind,
            PolicyVersion.version == version,
        )
    )
    if row is None:
        raise NotFound(f"Version {version} introuvable.")
    return _versioned(row)


def list_versions(session: Session, *, organisation_id: int, kind: Kind, limit: int,
                  offset: int = 0) -> tuple[list[VersionedPolicy], int]:
    """Versions ``offset`` to ``offset + limit - 1`` (numbers run from 0, the default, without gaps), and how
    many there are."""
    rows = session.scalars(
        sa.select(PolicyVersion)
        .where(PolicyVersion.organisation_id == organisation_id, PolicyVersion.kind == kind,
               PolicyVersion.version >= offset, PolicyVersion.version < offset + limit)
        .order_by(PolicyVersion.version)
    ).all()
    page = [_default(kind)] if offset == DEFAULT_VERSION else []
    return page + [_versioned(row) for row in rows], current_policy(session, organisation_id=organisation_id, kind=kind).version + 1


def replace_policy(
    session: Session, *, organisation_id: int, kind: Kind, rules: Rules, actor: str, now: datetime
) -> VersionedPolicy:
    latest = current_policy(session, organisation_id=organisation_id, kind=kind).version
    row = PolicyVersion(
        organisation_id=organisation_id, kind=kind, version=latest + 1, rules=rules.model_dump(mode="json"),
        created_by=actor, created_at=now,
    )
    try:
        with session.begin_nested():  # added within: a savepoint first flushes what is pending, outside itself
            session.add(row)
    except sa.exc.IntegrityError:
        raise ChangedMeanwhile("La politique vient d'être modifiée par quelqu'un d'autre : rechargez-la.") from None
    return _versioned(row)
