"""The analytics read path's shortcuts give the very same figures: several scopes read together
(the roll-up's rows in one query, today's live figures once for all of them) answer exactly
what each scope's own answer does; a hospital admin of two hospitals sees each one's today on
their dashboard; a doctor's counts of what comes next."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from activities.analytics import AnalyticsActivities, RollUpInput
from api.services import analytics as service
from domain.access import Role
from domain.models.bookings import Booking
from domain.models.catalog import Hospital
from domain.models.users import User
from runtime.settings import Settings
from tests.builders.analytics_builders import ZONE, analytics_world
from tests.builders.catalog_builders import add_appointment, patient_of
from tests.builders.users import create_user, headers_for


@asynccontextmanager
async def api(settings: Settings, temporal: Client) -> AsyncIterator[httpx.AsyncClient]:
    from api.app import create_app

    app = create_app(settings, temporal=temporal)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c:
            yield c


async def _booking_today(
    sessionmaker: async_sessionmaker[AsyncSession], patient_id: uuid.UUID, hospital_id: uuid.UUID
) -> None:
    async with sessionmaker() as db, db.begin():
        db.add(
            Booking(
                id=uuid.uuid4(),
                booking_number="BK-" + uuid.uuid4().hex[:8],
                patient_id=patient_id,
                hospital_id=hospital_id,
                status="requested",
            )
        )


async def test_scopes_read_together_answer_what_each_scope_answers_alone(
    make_settings: Callable[..., Settings],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    settings = make_settings(analytics_timezone=ZONE)
    zone = ZoneInfo(ZONE)
    world = await analytics_world(sessionmaker)
    # Nov 9 and 10 rolled up, Nov 11 not (computed live), and today live
    await AnalyticsActivities(sessionmaker, settings).roll_up_analytics_days(
        RollUpInput(first=date(2026, 11, 9), last=date(2026, 11, 10))
    )
    await _booking_today(sessionmaker, world.patients["p1"].id, world.h2.id)
    now = datetime.now(UTC)
    today = now.astimezone(zone).date()
    scopes: list[uuid.UUID | None] = [None, world.h1.id, world.h2.id]
    for what in service.VIEWS:
        for first, group_by in ((date(2026, 11, 8), "day"), (date(2026, 11, 1), "month")):
            async with sessionmaker() as db:
                together = await service.answers(
                    db,
                    what,
                    first=first,
                    last=today,
                    group_by=group_by,  # type: ignore[arg-type]
                    hospital_ids=scopes,
                    zone=zone,
                    now=now,
                )
            for scope in scopes:
                async with sessionmaker() as db:
                    alone = await service.answer(
                        db,
                        what,
                        first=first,
                        last=today,
                        group_by=group_by,  # type: ignore[arg-type]
                        hospital_id=scope,
                        zone=zone,
                        now=now,
                    )
                assert together[scope] == alone, (what, group_by, scope)
    async with sessionmaker() as db:
        bookings = await service.answers(
            db,
            "bookings",
            first=date(2026, 11, 9),
            last=today,
            group_by="day",
            hospital_ids=scopes,
            zone=zone,
            now=now,
        )
    # The five November bookings (h1: 3, h2: 2) and today's at h2: the figures are not empty
    assert [bookings[s]["totals"]["bookings"] for s in scopes] == [6, 3, 3]


async def test_a_hospital_admin_of_two_hospitals_sees_each_ones_today(
    make_settings: Callable[..., Settings],
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
) -> None:
    settings = make_settings(analytics_timezone=ZONE, analytics_cache_seconds=0)
    owner = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    world = await analytics_world(sessionmaker, h1_admin=owner.id)
    async with sessionmaker() as db, db.begin():
        h2 = await db.get(Hospital, world.h2.id)
        assert h2 is not None
        h2.admin_user_id = owner.id
    await _booking_today(sessionmaker, world.patients["p1"].id, world.h2.id)
    await _booking_today(sessionmaker, world.patients["p2"].id, world.h2.id)
    await _booking_today(sessionmaker, world.patients["p1"].id, world.h1.id)
    async with api(settings, temporal_client) as c:
        board = (await c.get("/dashboard/hospital", headers=headers_for(owner))).json()["data"]
        assert set(board["today"]) == {str(world.h1.id), str(world.h2.id)}
        for hospital, made in ((world.h1.id, 1), (world.h2.id, 2)):
            today = board["today"][str(hospital)]
            assert today["bookings"] == made
            overview = await c.get(
                "/analytics/overview",
                params={"hospital_id": str(hospital), "from": today["day"], "to": today["day"]},
                headers=headers_for(owner),
            )
            assert {"day": today["day"], **overview.json()["data"]["totals"]} == today


async def test_a_doctor_sees_what_comes_next_and_what_waits_for_confirmation(
    make_settings: Callable[..., Settings],
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
) -> None:
    settings = make_settings(analytics_cache_seconds=0)
    world = await analytics_world(sessionmaker)
    patient = await patient_of(sessionmaker, await create_user(sessionmaker, Role.PATIENT))
    now = datetime.now(UTC)
    tomorrow = datetime.combine(now.date() + timedelta(days=1), time(12), tzinfo=UTC)
    await add_appointment(sessionmaker, world.d1, patient, tomorrow, status="requested")
    await add_appointment(
        sessionmaker, world.d1, patient, tomorrow + timedelta(days=1), status="booked"
    )
    await add_appointment(
        sessionmaker,
        world.d1,
        patient,
        tomorrow + timedelta(days=2),
        status="appointment_confirmed",
    )
    await add_appointment(
        sessionmaker, world.d1, patient, tomorrow + timedelta(days=3), status="cancelled"
    )
    # Yesterday's, still unconfirmed: neither upcoming nor waiting any more
    await add_appointment(
        sessionmaker, world.d1, patient, tomorrow - timedelta(days=2), status="requested"
    )
    async with sessionmaker() as db:
        doctor = await db.get(User, world.d1_user_id)
    assert doctor is not None
    async with api(settings, temporal_client) as c:
        board = (await c.get("/dashboard/doctor", headers=headers_for(doctor))).json()["data"]
    assert (board["upcoming"], board["awaiting_confirmation"]) == (3, 2)
