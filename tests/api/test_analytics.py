"""GET /analytics/*, /hospitals/{id}/analytics and /dashboard/*: past days from the roll-up,
today live, money per currency, a hospital admin only ever sees their own hospital's numbers,
each role only its own dashboard, and answers cached in memory or in Redis until they expire."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from activities.analytics import AnalyticsActivities, RollUpInput
from api.cache import PREFIX, MemoryCache
from domain.access import Role
from domain.models.bookings import Booking
from domain.models.payments import Invoice, Payment
from domain.models.users import User
from runtime.settings import Settings
from tests.builders.analytics_builders import ZONE, AnalyticsWorld, analytics_world, at
from tests.builders.catalog_builders import add_appointment, patient_of
from tests.builders.users import create_user, headers_for


@asynccontextmanager
async def api(settings: Settings, temporal: Client) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    from api.app import create_app

    app = create_app(settings, temporal=temporal)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c:
            yield app, c


async def _rolled_up_world(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    admin_of_h1: uuid.UUID | None = None,
) -> AnalyticsWorld:
    world = await analytics_world(sessionmaker, h1_admin=admin_of_h1)
    await AnalyticsActivities(sessionmaker, settings).roll_up_analytics_days(
        RollUpInput(first=date(2026, 11, 9), last=date(2026, 11, 11))
    )
    return world


async def _booking_now(
    sessionmaker: async_sessionmaker[AsyncSession], world: AnalyticsWorld, **fields: Any
) -> Booking:
    row = Booking(
        id=uuid.uuid4(),
        booking_number="BK-" + uuid.uuid4().hex[:8],
        patient_id=world.patients["p2"].id,
        hospital_id=fields.pop("hospital_id", world.h1.id),
        status=fields.pop("status", "requested"),
        **fields,
    )
    async with sessionmaker() as db, db.begin():
        db.add(row)
    return row


RANGE = {"from": "2026-11-09", "to": "2026-11-11"}


async def test_admin_figures_come_from_the_roll_up_for_past_days_and_live_for_today(
    make_settings: Callable[..., Settings],
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
) -> None:
    settings = make_settings(analytics_timezone=ZONE, analytics_cache_seconds=0)
    admin = await create_user(sessionmaker, Role.ADMIN)
    world = await _rolled_up_world(sessionmaker, settings)
    # Made after the roll-up, on a rolled-up day: not counted until that day is rolled up again
    await _booking_now(sessionmaker, world, created_at=at("2026-11-10T06:00"))
    async with api(settings, temporal_client) as (_, c):
        bookings = await c.get("/analytics/bookings", params=RANGE, headers=headers_for(admin))
        assert bookings.status_code == 200, bookings.text
        data = bookings.json()["data"]
        assert [(p["period"], p["bookings"]) for p in data["periods"]] == [
            ("2026-11-09", 1),
            ("2026-11-10", 3),
            ("2026-11-11", 1),
        ]
        assert data["totals"]["by_hospital"] == {str(world.h1.id): 3, str(world.h2.id): 2}
        assert data["timezone"] == ZONE

        monthly = await c.get(
            "/analytics/revenue", params={**RANGE, "group_by": "month"}, headers=headers_for(admin)
        )
        [november] = monthly.json()["data"]["periods"]
        assert november["period"] == "2026-11-01"
        # USD: pay3 (Nov 9) + pay1 (Nov 10) + pay6 (Nov 11); pay3 refunded on Nov 10
        assert november["currencies"] == {
            "EUR": {
                "gross": "500.50",
                "refunds": "100.25",
                "net": "400.25",
                "payments": 1,
                "refund_count": 1,
            },
            "USD": {
                "gross": "1650.00",
                "refunds": "250.00",
                "net": "1400.00",
                "payments": 3,
                "refund_count": 1,
            },
        }

        # Today is live: a booking made now counts at once
        today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date()
        before = await c.get(
            "/analytics/overview",
            params={"from": today.isoformat(), "to": today.isoformat()},
            headers=headers_for(admin),
        )
        await _booking_now(sessionmaker, world)
        after = await c.get(
            "/analytics/overview",
            params={"from": today.isoformat(), "to": today.isoformat()},
            headers=headers_for(admin),
        )
        assert after.json()["data"]["totals"]["bookings"] == (
            before.json()["data"]["totals"]["bookings"] + 1
        )

        weekly = await c.get(
            "/analytics/bookings",
            params={"from": "2026-11-08", "to": "2026-11-11", "group_by": "week"},
            headers=headers_for(admin),
        )
        # Nov 8 is a Sunday (the week of Nov 2), Nov 9-11 the week of Monday Nov 9; Nov 8 was
        # never rolled up, so it is computed live (and is empty)
        assert [(p["period"], p["bookings"]) for p in weekly.json()["data"]["periods"]] == [
            ("2026-11-02", 0),
            ("2026-11-09", 5),
        ]

        bad = await c.get(
            "/analytics/bookings",
            params={"from": "2026-11-11", "to": "2026-11-09"},
            headers=headers_for(admin),
        )
        assert bad.status_code == 422, bad.text
        assert bad.json()["error"]["code"] == "INVALID_RANGE"
        early = await c.get(
            "/analytics/bookings", params={"to": "0001-01-05"}, headers=headers_for(admin)
        )
        assert early.status_code == 422, early.text
        unknown = await c.get(
            "/analytics/bookings", params={"group_by": "year"}, headers=headers_for(admin)
        )
        assert unknown.status_code == 422

    # The zone changed since the roll-up: its days are computed live in the new zone (b1, b4,
    # b5 and the late booking fall on Nov 10 in UTC)
    utc = settings.model_copy(update={"analytics_timezone": "UTC"})
    async with api(utc, temporal_client) as (_, c):
        answer = await c.get(
            "/analytics/bookings",
            params={"from": "2026-11-10", "to": "2026-11-10"},
            headers=headers_for(admin),
        )
        assert answer.json()["data"]["totals"]["bookings"] == 4


async def test_a_hospital_admin_sees_only_their_own_hospitals_numbers(
    make_settings: Callable[..., Settings],
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
) -> None:
    settings = make_settings(analytics_timezone=ZONE)
    h1_admin = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    coordinator = await create_user(sessionmaker, Role.COORDINATOR)
    patient = await create_user(sessionmaker, Role.PATIENT)
    world = await _rolled_up_world(sessionmaker, settings, h1_admin.id)
    mine = headers_for(h1_admin)
    async with api(settings, temporal_client) as (_, c):
        for what in ("overview", "bookings", "revenue", "patients", "doctors", "hospitals"):
            answer = await c.get(f"/analytics/{what}", params=RANGE, headers=mine)
            assert answer.status_code == 200, answer.text
            assert answer.json()["data"]["hospital_id"] == str(world.h1.id)
            assert str(world.h2.id) not in answer.text
        revenue = (await c.get("/analytics/revenue", params=RANGE, headers=mine)).json()["data"]
        # h1's money only: pay1 and pay2, and pay2's refund; pay3's USD refund was h2's
        assert revenue["totals"]["currencies"]["USD"]["refunds"] == "0.00"
        assert revenue["totals"]["currencies"]["USD"]["gross"] == "1000.00"
        assert revenue["totals"]["currencies"]["EUR"]["net"] == "400.25"
        bookings = (await c.get("/analytics/bookings", params=RANGE, headers=mine)).json()["data"]
        assert bookings["totals"]["bookings"] == 3

        other = await c.get(
            "/analytics/bookings", params={**RANGE, "hospital_id": str(world.h2.id)}, headers=mine
        )
        assert other.status_code == 403
        assert other.json()["error"]["code"] == "NOT_YOUR_HOSPITAL"
        assert (await c.get(f"/hospitals/{world.h2.id}/analytics", headers=mine)).status_code == 404

        own = await c.get(f"/hospitals/{world.h1.id}/analytics", params=RANGE, headers=mine)
        assert own.status_code == 200
        assert own.json()["data"]["totals"]["revenue"]["EUR"]["gross"] == "500.50"
        staff = await c.get(
            f"/hospitals/{world.h2.id}/analytics", params=RANGE, headers=headers_for(coordinator)
        )
        assert staff.status_code == 200
        assert staff.json()["data"]["totals"]["revenue"]["USD"]["refunds"] == "250.00"

        assert (await c.get("/analytics/overview", headers=headers_for(patient))).status_code == 403
        assert (
            await c.get("/analytics/overview", headers=headers_for(coordinator))
        ).status_code == 403
        away = await c.get(f"/hospitals/{world.h1.id}/analytics", headers=headers_for(patient))
        assert away.status_code == 404


async def test_each_role_opens_only_its_own_dashboard_with_its_own_data(
    make_settings: Callable[..., Settings],
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
) -> None:
    settings = make_settings(analytics_timezone=ZONE)
    admin = await create_user(sessionmaker, Role.ADMIN)
    h1_admin = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    patient_user = await create_user(sessionmaker, Role.PATIENT)
    patient = await patient_of(sessionmaker, patient_user)
    world = await analytics_world(sessionmaker, h1_admin=h1_admin.id)
    now = datetime.now(UTC)
    late = await _booking_now(
        sessionmaker, world, created_at=now - timedelta(hours=settings.booking_review_sla_hours + 2)
    )
    fresh = await _booking_now(sessionmaker, world)  # inside its SLA
    soon = await _booking_now(
        sessionmaker,
        world,
        status="travel_arrangement",
        confirmed_date=now.date() + timedelta(days=3),
    )
    await _booking_now(
        sessionmaker,
        world,
        hospital_id=world.h2.id,
        status="travel_arrangement",
        confirmed_date=now.date() + timedelta(days=2),
    )
    to_pay = Booking(
        id=uuid.uuid4(),
        booking_number="BK-" + uuid.uuid4().hex[:8],
        patient_id=patient.id,
        hospital_id=world.h1.id,
        status="payment_pending",
    )
    async with sessionmaker() as db, db.begin():
        db.add(to_pay)
        await db.flush()
        db.add(
            Invoice(
                invoice_number="INV-" + uuid.uuid4().hex[:8],
                patient_id=patient.id,
                booking_id=to_pay.id,
                total_amount=Decimal("900.00"),
                final_amount=Decimal("900.00"),
                currency="EUR",
                status="issued",
                invoice_date=now.date() - timedelta(days=10),
                due_date=now.date() - timedelta(days=1),
            )
        )
        db.add(
            Payment(
                transaction_id="TX-" + uuid.uuid4().hex[:10],
                booking_id=to_pay.id,
                patient_id=patient.id,
                amount=Decimal("900.00"),
                currency="EUR",
                payment_gateway="stripe",
                status="pending",
            )
        )
    # d1's consultation at noon today (UTC, the doctor's zone); d2's tomorrow
    noon = datetime.combine(now.date(), time(12), tzinfo=UTC)
    await add_appointment(sessionmaker, world.d1, patient, noon)
    tomorrow = await add_appointment(sessionmaker, world.d2, patient, noon + timedelta(days=1))
    async with sessionmaker() as db:
        d1_user = await db.scalar(select(User).where(User.id == world.d1_user_id))
    assert d1_user is not None

    callers = {
        "admin": admin,
        "hospital": h1_admin,
        "doctor": d1_user,
        "patient": patient_user,
    }
    async with api(settings, temporal_client) as (_, c):
        for mine, user in callers.items():
            for board in callers:
                answer = await c.get(f"/dashboard/{board}", headers=headers_for(user))
                assert answer.status_code == (200 if board == mine else 403), (mine, board)

        board = (await c.get("/dashboard/admin", headers=headers_for(admin))).json()["data"]
        # The world's five November bookings still stand requested, and `late`; not `fresh`
        overdue = [b["id"] for b in board["overdue_reviews"]["oldest"]]
        assert overdue[-1] == str(late.id)
        assert str(fresh.id) not in overdue
        assert board["overdue_reviews"]["count"] == 6

        board = (await c.get("/dashboard/hospital", headers=headers_for(h1_admin))).json()["data"]
        assert [b["id"] for b in board["upcoming_arrivals"]] == [str(soon.id)]
        assert board["hospital_ids"] == [str(world.h1.id)]
        assert str(world.h2.id) not in str(board)

        board = (await c.get("/dashboard/doctor", headers=headers_for(d1_user))).json()["data"]
        assert len(board["consultations_today"]) == 1

        board = (await c.get("/dashboard/patient", headers=headers_for(patient_user))).json()[
            "data"
        ]
        assert board["next_steps"] == [
            {
                "booking_id": str(to_pay.id),
                "booking_number": to_pay.booking_number,
                "status": "payment_pending",
                "action": "pay",
            }
        ]
        [invoice] = board["unpaid_invoices"]
        assert (invoice["amount"], invoice["currency"], invoice["overdue"]) == (
            "900.00",
            "EUR",
            True,
        )
        assert [p["amount"] for p in board["pending_payments"]] == ["900.00"]
        assert str(tomorrow.id) in [a["id"] for a in board["upcoming_appointments"]]


async def _today_bookings(c: httpx.AsyncClient, admin_headers: dict[str, str]) -> int:
    answer = await c.get("/analytics/overview", headers=admin_headers)
    assert answer.status_code == 200, answer.text
    total: int = answer.json()["data"]["totals"]["bookings"]
    return total


async def test_answers_are_cached_in_memory_until_they_expire(
    make_settings: Callable[..., Settings],
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
) -> None:
    settings = make_settings(analytics_cache_seconds=300)
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    world = await analytics_world(sessionmaker)
    clock = [1000.0]
    async with api(settings, temporal_client) as (app, c):
        assert app.state.answer_cache.kind == "memory"
        app.state.answer_cache = MemoryCache(clock=lambda: clock[0])
        first = await _today_bookings(c, admin)
        await _booking_now(sessionmaker, world)
        assert await _today_bookings(c, admin) == first  # served from the cache
        clock[0] += 299
        assert await _today_bookings(c, admin) == first
        clock[0] += 2  # 301 s after it was stored
        assert await _today_bookings(c, admin) == first + 1


async def test_answers_are_cached_in_redis_when_it_is_configured(
    make_settings: Callable[..., Settings],
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    redis_url: str,
) -> None:
    settings = make_settings(analytics_cache_seconds=300, redis_url=redis_url)
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    world = await analytics_world(sessionmaker)
    redis = Redis.from_url(redis_url)
    try:
        async with api(settings, temporal_client) as (app, c):
            assert app.state.answer_cache.kind == "redis"
            before = {k async for k in redis.scan_iter(PREFIX + "*")}
            first = await _today_bookings(c, admin)
            [key] = {k async for k in redis.scan_iter(PREFIX + "*")} - before
            assert 0 < await redis.ttl(key) <= 300
            await _booking_now(sessionmaker, world)
            assert await _today_bookings(c, admin) == first  # Redis answered
            # Let Redis expire it (as it would after 300 s): the next answer is computed anew
            await redis.pexpire(key, 1)
            for _ in range(100):
                if not await redis.exists(key):
                    break
                await asyncio.sleep(0.05)
            assert await _today_bookings(c, admin) == first + 1
            assert await redis.exists(key)
    finally:
        await redis.aclose()
