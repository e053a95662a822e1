"""/analytics: the platform's figures over a date range (admins; a hospital admin gets them for
their own hospital), and /hospitals/{id}/analytics (the hospital's admin and staff). Past days
come from the daily roll-up, today is live (api/services/analytics.py); answers are cached for
MEDIVOY_ANALYTICS_CACHE_SECONDS (api/cache.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import select

from api import policies
from api.cache import AnswerCache, cached
from api.deps import CurrentUser, DbSession, SettingsDep, require_roles
from api.envelope import ERROR_RESPONSES, Envelope, ok
from api.services import analytics as service
from domain import access, errors
from domain.access import Role
from domain.models.catalog import Hospital
from domain.models.users import User

TAG = {
    "name": "Analytics",
    "description": "Figures of bookings, revenue (per currency), patients, doctors and "
    "hospitals over a date range, by day, week or month",
}
router = APIRouter(tags=["Analytics"], responses=ERROR_RESPONSES)
Analyst = Annotated[User, Depends(require_roles(Role.ADMIN, Role.HOSPITAL_ADMIN))]
# With no range: the last 30 days, today included.
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class RangeQuery:
    """`from`..`to` inclusive (calendar days in MEDIVOY_ANALYTICS_TIMEZONE)."""

    first: date | None
    last: date | None
    group_by: service.GroupBy


def range_query(
    first: Annotated[date | None, Query(alias="from", description="First day (YYYY-MM-DD)")] = None,
    last: Annotated[date | None, Query(alias="to", description="Last day (YYYY-MM-DD)")] = None,
    group_by: Annotated[
        service.GroupBy, Query(description="day, week (from Monday) or month")
    ] = "day",
) -> RangeQuery:
    if first and last and last < first:
        raise errors.Unprocessable("`to` is before `from`", code="INVALID_RANGE")
    return RangeQuery(first=first, last=last, group_by=group_by)


Range = Annotated[RangeQuery, Depends(range_query)]


def answer_cache(request: Request) -> AnswerCache:
    cache: AnswerCache = request.app.state.answer_cache
    return cache


Cache = Annotated[AnswerCache, Depends(answer_cache)]


async def analytics_scope(
    user: Analyst,
    db: DbSession,
    hospital_id: Annotated[
        uuid.UUID | None,
        Query(description="One hospital's figures (admins: any; a hospital admin: their own)"),
    ] = None,
) -> uuid.UUID | None:
    """The hospital whose figures the caller gets (None: the whole platform, admins only). A
    hospital admin never gets another hospital's numbers."""
    if user.user_type == Role.ADMIN.value:
        if hospital_id is not None and await db.get(Hospital, hospital_id) is None:
            raise errors.NotFound("No such hospital", code="HOSPITAL_NOT_FOUND")
        return hospital_id
    theirs = list(
        await db.scalars(
            select(Hospital.id).where(Hospital.admin_user_id == user.id).order_by(Hospital.id)
        )
    )
    if hospital_id is not None:
        if hospital_id not in theirs:
            raise errors.Forbidden(
                "You see the figures of the hospitals you administer only",
                code="NOT_YOUR_HOSPITAL",
            )
        return hospital_id
    if not theirs:
        raise errors.Forbidden("You administer no hospital", code="NO_HOSPITAL")
    if len(theirs) > 1:
        raise errors.Invalid(
            "You administer several hospitals: say which with hospital_id",
            code="HOSPITAL_ID_REQUIRED",
            details={"hospital_ids": [str(h) for h in theirs]},
        )
    return theirs[0]


Scope = Annotated[uuid.UUID | None, Depends(analytics_scope)]


async def _answer(
    what: str,
    db: DbSession,
    settings: SettingsDep,
    cache: AnswerCache,
    scope: uuid.UUID | None,
    span: RangeQuery,
) -> Envelope[dict[str, Any]]:
    zone = ZoneInfo(settings.analytics_timezone)
    now = datetime.now(UTC)
    today = now.astimezone(zone).date()
    last = span.last or today
    try:
        first = span.first or (last - timedelta(days=DEFAULT_DAYS - 1))
    except OverflowError:
        raise errors.Unprocessable("`to` is too early", code="INVALID_RANGE") from None
    if (last - first).days >= service.MAX_RANGE_DAYS:
        raise errors.Unprocessable(
            f"a range covers at most {service.MAX_RANGE_DAYS} days", code="INVALID_RANGE"
        )
    key = f"analytics:{what}:{scope or 'platform'}:{first}:{last}:{span.group_by}:{today}"

    async def compute() -> dict[str, Any]:
        return await service.answer(
            db,
            what,
            first=first,
            last=last,
            group_by=span.group_by,
            hospital_id=scope,
            zone=zone,
            now=now,
        )

    return ok(
        await cached(cache, key, settings.analytics_cache_seconds, compute, live=last >= today)
    )


def _route(what: str, summary: str) -> None:
    async def figures(
        db: DbSession, settings: SettingsDep, cache: Cache, scope: Scope, span: Range
    ) -> Envelope[dict[str, Any]]:
        return await _answer(what, db, settings, cache, scope, span)

    figures.__name__ = f"analytics_{what}"
    router.add_api_route(
        f"/analytics/{what}",
        figures,
        methods=["GET"],
        response_model=Envelope[dict[str, Any]],
        summary=summary,
    )


_route(
    "overview",
    "Overview: bookings, revenue per currency, patients, appointments, hospitals, subscriptions",
)
_route("bookings", "Bookings made, and moves into each status, by country, treatment, hospital")
_route(
    "revenue",
    "Money received, refunded (each refund on its day) and net, per currency; subscriptions",
)
_route("patients", "New patients (a hospital's: first booking there), by country")
_route("doctors", "Appointments by doctor and by status")
_route("hospitals", "New hospitals by country, and bookings by hospital")


async def hospital_analyst(
    db: DbSession, user: CurrentUser, hospital_id: Annotated[uuid.UUID, Path(alias="id")]
) -> uuid.UUID:
    """The hospital of the path, for its own approved admin and staff (admins, coordinators);
    404 for anyone else, as for a hospital they cannot see."""
    hospital = await db.get(Hospital, hospital_id)
    person = policies.person_of(user)
    staff = user.user_type in {r.value for r in access.STAFF}
    if hospital is None or not (staff or access.manages_hospital(person, hospital.admin_user_id)):
        raise errors.NotFound("No such hospital", code="HOSPITAL_NOT_FOUND")
    return hospital.id


@router.get(
    "/hospitals/{id}/analytics",
    response_model=Envelope[dict[str, Any]],
    summary="A hospital's figures: bookings, revenue per currency, new patients, appointments "
    "(its admin and staff)",
)
async def hospital_analytics(
    db: DbSession,
    settings: SettingsDep,
    cache: Cache,
    hospital: Annotated[uuid.UUID, Depends(hospital_analyst)],
    span: Range,
) -> Envelope[dict[str, Any]]:
    return await _answer("hospital", db, settings, cache, hospital, span)
