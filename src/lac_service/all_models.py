"""Every table, imported once so that ``Base.metadata`` is complete for Alembic and the tests."""

from lac_service.audit import AuditEvent
from lac_service.auth import models as auth_models
from lac_service.cabinets import models as cabinet_models
from lac_service.db import Base
from lac_service.geography.geocoder import GeocodeCache
from lac_service.idempotency import IdempotencyRecord
from lac_service.intake import models as intake_models
from lac_service.notifications import models as notification_models
from lac_service.matching import models as matching_models
from lac_service.offers import models as offer_models
from lac_service.policies import models as policy_models
from lac_service.ratelimit import RateLimitWindow

metadata = Base.metadata

__all__ = ["AuditEvent", "GeocodeCache", "IdempotencyRecord", "RateLimitWindow", "auth_models", "cabinet_models", "intake_models", "matching_models", "metadata", "offer_models", "policy_models"]
