from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from lac_service.db import Base
from lac_service.kinds import Kind

kind_type = sa.Enum(Kind, native_enum=False, length=32, validate_strings=True)


class PolicyVersion(Base):
    """Never updated: a new policy is a new row with the next version number."""

    __tablename__ = "priority_policy_versions"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "kind", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    kind: Mapped[Kind] = mapped_column(kind_type)
    version: Mapped[int]
    rules: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
