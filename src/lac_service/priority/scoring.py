"""One request's score with its explanation, and the one order every queue is shown and served in."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lac_service.priority.policy import Policy
from lac_service.priority.rules import RULES, PriorityInput, Reason, utc_date


@dataclass(frozen=True, slots=True)
class Score:
    """``points`` is the sum of ``reasons``: a score is never shown without what produced it."""

    points: int
    reasons: tuple[Reason, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"points": self.points, "reasons": [reason.as_dict() for reason in self.reasons]}


def score(subject: PriorityInput, policy: Policy, now: datetime) -> Score:
    """Rules that gave nothing are left out of the explanation: it lists why someone is ahead, not a checklist."""
    if subject.kind != policy.kind:
        raise ValueError(f"a {policy.kind} policy cannot score a {subject.kind} request")
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    today = utc_date(now)
    reasons = []
    for name, rule in RULES.items():
        config = getattr(policy.rules, name)
        reason = rule(subject, config, today) if config is not None else None
        if reason is not None and reason.points > 0:
            reasons.append(reason)
    return Score(points=sum(reason.points for reason in reasons), reasons=tuple(reasons))


def rank_key(points: int, waiting_since: datetime, request_id: int) -> tuple[int, datetime, int]:
    """Most points first; among equals the earliest request (it has waited longest), then the lowest id, so
    that the order is total and the same in every process and every run."""
    return (-points, waiting_since, request_id)


def rank_order(points: ArrayLike, waiting_since: ArrayLike, request_ids: ArrayLike) -> NDArray[np.intp]:
    """Row indices in ``rank_key`` order, for a whole queue (``waiting_since`` as UTC ``datetime64``)."""
    return np.lexsort((np.asarray(request_ids), np.asarray(waiting_since), -np.asarray(points, dtype=np.int64)))
