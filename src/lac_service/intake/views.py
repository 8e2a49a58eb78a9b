"""A request as the API shows it: ages computed on the day of reading, erased fields shown as null."""

from datetime import datetime

from lac_service.intake.models import PatientRequest
from lac_service.intake.schemas import (
    AddressOut, CriteriaOut, HouseholdMemberOut, PatientOut, PriorityOut, ReasonOut, RequestRead, RequestStatusRead,
    StatusChangeOut,
)
from lac_service.geography.schemas import LocationOut
from lac_service.kit.dates import age_on
from lac_service.priority import Score, band_of


def _priority(request: PatientRequest, explanation: Score | None) -> PriorityOut | None:
    if explanation is None:
        return None
    return PriorityOut(
        points=request.priority_points, band=band_of(request.priority_points),
        reasons=[ReasonOut(**reason.as_dict()) for reason in explanation.reasons],
        policy_version=request.priority_policy_version, scored_at=request.priority_scored_at,
    )


def to_read(request: PatientRequest, now: datetime, explanation: Score | None) -> RequestRead:
    """``explanation`` comes from ``ranking.explain`` (None once erased)."""
    today = now.date()
    erased = request.erased_at is not None
    return RequestRead(
        id=request.id,
        kind=request.kind,
        status=request.status,
        organisation=request.organisation.slug,
        source=request.source,
        referred_by_cabinet_id=request.referred_by_cabinet_id,
        patient=PatientOut(
            first_name=request.first_name,
            last_name=request.last_name,
            birth_date=request.birth_date,
            age=age_on(request.birth_date, today) if request.birth_date else None,
            phone=request.phone,
            email=request.email,
            address=None if erased else AddressOut(
                line=request.address_line or "", postal_code=request.postal_code or "", city=request.city or ""
            ),
            location=LocationOut(lat=request.lat, lon=request.lon, precision=request.location_precision)
            if request.lat is not None and request.lon is not None and request.location_precision else None,
        ),
        household=[
            HouseholdMemberOut(
                first_name=m.first_name, last_name=m.last_name, birth_date=m.birth_date,
                age=age_on(m.birth_date, today),
            )
            for m in request.household
        ],
        people_count=request.people_count,
        criteria=CriteriaOut(
            ald=request.ald, pregnant=request.pregnant, urgent=request.urgent, urgent_reason=request.urgent_reason
        ),
        max_distance_km=request.max_distance_km,
        priority=_priority(request, explanation),
        waiting_since=request.waiting_since,
        department=request.department,
        outside_territory=request.outside_territory,
        consent_at=request.consent_at,
        created_at=request.created_at,
        updated_at=request.updated_at,
        status_changed_at=request.status_changed_at,
        erased_at=request.erased_at,
        history=_history(request),
    )


def to_status_read(request: PatientRequest) -> RequestStatusRead:
    return RequestStatusRead(
        id=request.id, kind=request.kind, status=request.status, organisation=request.organisation.slug,
        status_changed_at=request.status_changed_at, merged_into_id=request.merged_into_id, history=_history(request),
    )


def _history(request: PatientRequest) -> list[StatusChangeOut]:
    return [StatusChangeOut(from_status=c.from_status, to_status=c.to_status, reason=c.reason, at=c.at)
            for c in request.history]
