"""GET /analytics/overview|revenue with the subscriptions' figures (per currency, never summed
across currencies; statuses at the range's end; starts and churn in the range), for the platform
and scoped to a hospital admin's own subscription; partial refunds each on its own day's net;
and live answers that a write through the API invalidates, in memory and in Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from activities.analytics import AnalyticsActivities, RollUpInput
from activities.payments import PaymentActivities, PaymentChanges, PaymentTransition
from api.cache import PREFIX, VERSION_KEY, MemoryCache
from domain.access import Role
from domain.models.catalog import Hospital
from domain.payment import PaymentStatus
from runtime.settings import Settings
from tests.builders.analytics_builders import at
from tests.builders.figures_builders import paid_booking, subscription_world
from tests.builders.users import create_user, headers_for

RANGE = {"from": "2026-11-10", "to": "2026-11-12"}
NO_STATUS = {"incomplete": 0, "active": 0, "past_due": 0, "cancelled": 0, "expired": 0}


@asynccontextmanager
async def api(settings: Settings, temporal: Client) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    from api.app import create_app

    app = create_app(settings, temporal=temporal)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c:
            yield app, c


async def _get(c: httpx.AsyncClient, path: str, headers: dict[str, str], **query: str) -> Any:
    answer = await c.get(path, params=query, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def _money(gross: str, refunds: str, net: str, payments: int, refund_count: int) -> Any:
    return {
        "gross": gross,
        "refunds": refunds,
        "net": net,
        "payments": payments,
        "refund_count": refund_count,
    }


async def test_admins_see_subscription_money_statuses_starts_and_churn_hospital_admins_theirs(
    make_settings: Callable[..., Settings],
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
) -> None:
    settings = make_settings(analytics_timezone="UTC")
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    h1_admin = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    world = await subscription_world(sessionmaker, h1_admin=h1_admin.id)
    # Nov 10 and 11 from the roll-up, Nov 12 computed live (never rolled up)
    await AnalyticsActivities(sessionmaker, settings).roll_up_analytics_days(
        RollUpInput(first=date(2026, 11, 10), last=date(2026, 11, 11))
    )
    async with api(settings, temporal_client) as (_, c):
        overview = await _get(c, "/analytics/overview", admin, **RANGE)
        revenue = await _get(c, "/analytics/revenue", admin, **RANGE)
        to_nov_11 = await _get(
            c, "/analytics/overview", admin, **{"from": "2026-11-10", "to": "2026-11-11"}
        )
        theirs = await _get(c, "/analytics/overview", headers_for(h1_admin), **RANGE)
        theirs_revenue = await _get(c, "/analytics/revenue", headers_for(h1_admin), **RANGE)
        h2 = await _get(c, "/analytics/overview", admin, hospital_id=str(world.h2.id), **RANGE)
        hospital_page = await _get(
            c, f"/hospitals/{world.h1.id}/analytics", headers_for(h1_admin), **RANGE
        )

    platform = {
        # s1's USD 100 (Nov 10) less the 40 given back when it was cancelled (Nov 12); s3's
        # EUR 30 (Nov 11); s2's and s5's payments came before the range. Never one total.
        "revenue": {
            "EUR": _money("30.00", "0.00", "30.00", 1, 0),
            "USD": _money("100.00", "40.00", "60.00", 1, 1),
        },
        # s1 (Nov 10) and s3 (Nov 11) started; s5 (dunning ran out) and s1 churned; s4 lapsed
        # without ever being paid, which is not churn
        "new": 2,
        "churned": 2,
        # at the end of Nov 12: s1 cancelled, s2 past due, s3 active, s4 and s5 expired
        "by_status": {**NO_STATUS, "active": 1, "past_due": 1, "cancelled": 1, "expired": 2},
    }
    assert overview["totals"]["subscriptions"] == platform
    assert revenue["totals"]["subscriptions"] == platform
    # The platform's revenue holds the subscriptions' money too, each currency apart
    assert revenue["totals"]["currencies"] == platform["revenue"]
    # Per day: what happened that day
    assert [
        (p["period"], p["subscriptions"]["new"], p["subscriptions"]["churned"])
        for p in overview["periods"]
    ] == [("2026-11-10", 1, 0), ("2026-11-11", 1, 1), ("2026-11-12", 0, 1)]
    assert [p["subscriptions"]["revenue"] for p in overview["periods"]] == [
        {"USD": _money("100.00", "0.00", "100.00", 1, 0)},
        {"EUR": _money("30.00", "0.00", "30.00", 1, 0)},
        {"USD": _money("0.00", "40.00", "-40.00", 0, 1)},
    ]
    # A range ending on Nov 11: the statuses then (s1 still active, s5 just expired)
    assert to_nov_11["totals"]["subscriptions"]["by_status"] == {
        **NO_STATUS,
        "active": 2,
        "past_due": 1,
        "expired": 2,
    }
    assert to_nov_11["totals"]["subscriptions"]["churned"] == 1

    # h1's admin: h1's subscription only (s1)
    mine = {
        "revenue": {"USD": _money("100.00", "40.00", "60.00", 1, 1)},
        "new": 1,
        "churned": 1,
        "by_status": {**NO_STATUS, "cancelled": 1},
    }
    assert theirs["hospital_id"] == str(world.h1.id)
    assert theirs["totals"]["subscriptions"] == mine
    assert theirs_revenue["totals"]["subscriptions"] == mine
    # What the hospital pays for its plan is not money it received from bookings
    assert theirs_revenue["totals"]["currencies"] == {}
    # h2's (for an admin): s2 started before the range and is past due now
    assert h2["totals"]["subscriptions"] == {
        "revenue": {},
        "new": 0,
        "churned": 0,
        "by_status": {**NO_STATUS, "past_due": 1},
    }
    # The hospital's page (its staff read it too) carries no subscription money
    assert "subscriptions" not in hospital_page["totals"]


async def test_each_partial_refund_is_subtracted_from_its_own_days_net(
    make_settings: Callable[..., Settings],
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
) -> None:
    settings = make_settings(analytics_timezone="UTC")
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    paid = await paid_booking(sessionmaker)
    payments = PaymentActivities(sessionmaker, {}, settings)
    partially = PaymentStatus.PARTIALLY_REFUNDED
    for seq, source, payment, total, when in (
        (1, PaymentStatus.COMPLETED, paid.usd.id, "100.00", "2026-11-11T10:00"),
        (2, partially, paid.usd.id, "250.00", "2026-11-12T10:00"),
        (1, PaymentStatus.COMPLETED, paid.eur.id, "50.00", "2026-11-12T11:00"),
    ):
        await payments.record_payment_transition(
            PaymentTransition(
                payment_id=payment,
                seq=seq,
                from_status=source,
                to_status=partially,
                changes=PaymentChanges(refund_amount=Decimal(total), refund_date=at(when)),
            )
        )
    # Nov 10 and 11 rolled up, Nov 12 live
    await AnalyticsActivities(sessionmaker, settings).roll_up_analytics_days(
        RollUpInput(first=date(2026, 11, 10), last=date(2026, 11, 11))
    )
    async with api(settings, temporal_client) as (_, c):
        answer = await _get(c, "/analytics/revenue", admin, **RANGE)
        hospital = await _get(
            c, "/analytics/revenue", admin, hospital_id=str(paid.hospital.id), **RANGE
        )

    days = [
        {
            "EUR": _money("500.00", "0.00", "500.00", 1, 0),
            "USD": _money("1000.00", "0.00", "1000.00", 1, 0),
        },
        {"USD": _money("0.00", "100.00", "-100.00", 0, 1)},
        {
            "EUR": _money("0.00", "50.00", "-50.00", 0, 1),
            "USD": _money("0.00", "150.00", "-150.00", 0, 1),
        },
    ]
    for figures in (answer, hospital):
        assert [p["currencies"] for p in figures["periods"]] == days
        assert figures["totals"]["currencies"] == {
            "EUR": _money("500.00", "50.00", "450.00", 1, 1),
            "USD": _money("1000.00", "250.00", "750.00", 1, 2),
        }


async def _new_hospitals_today(c: httpx.AsyncClient, admin: dict[str, str]) -> int:
    """The default range: the last 30 days, today included (a live answer)."""
    total: int = (await _get(c, "/analytics/overview", admin))["totals"]["new_hospitals"]
    return total


async def _new_hospitals_in_october(c: httpx.AsyncClient, admin: dict[str, str]) -> int:
    """A past-only range (before the default range's 30 days)."""
    past = {"from": "2026-10-01", "to": "2026-10-31"}
    total: int = (await _get(c, "/analytics/overview", admin, **past))["totals"]["new_hospitals"]
    return total


async def _hospital_behind_the_api(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """A change that reaches the database without an API request (as a workflow's would)."""
    async with sessionmaker() as db, db.begin():
        db.add(Hospital(id=uuid.uuid4(), name="Behind " + uuid.uuid4().hex[:6]))


async def _hospital_in_october(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as db, db.begin():
        db.add(Hospital(id=uuid.uuid4(), name="Oct", created_at=at("2026-10-15T12:00")))


async def test_a_write_through_the_api_invalidates_live_answers_in_memory_expiry_the_rest(
    make_settings: Callable[..., Settings],
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
) -> None:
    settings = make_settings(analytics_cache_seconds=300)
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    clock = [1000.0]
    async with api(settings, temporal_client) as (app, c):
        assert app.state.answer_cache.kind == "memory"
        app.state.answer_cache = MemoryCache(clock=lambda: clock[0])
        today = await _new_hospitals_today(c, admin)
        october = await _new_hospitals_in_october(c, admin)

        # Behind the API's back: both answers are served from the cache (a hit)
        await _hospital_behind_the_api(sessionmaker)
        await _hospital_in_october(sessionmaker)
        assert await _new_hospitals_today(c, admin) == today
        assert await _new_hospitals_in_october(c, admin) == october

        # A refused write changes nothing and invalidates nothing
        refused = await c.post("/hospitals", json={}, headers=admin)
        assert refused.status_code == 422
        assert await _new_hospitals_today(c, admin) == today

        # A write through the API: today's answer is computed anew at once (it sees both new
        # hospitals of today); a past-only range is not keyed by writes, it waits for expiry
        created = await c.post("/hospitals", json={"name": "Liv Hospital"}, headers=admin)
        assert created.status_code == 201, created.text
        assert await _new_hospitals_today(c, admin) == today + 2
        assert await _new_hospitals_in_october(c, admin) == october
        clock[0] += 299
        assert await _new_hospitals_in_october(c, admin) == october
        await _hospital_behind_the_api(sessionmaker)
        assert await _new_hospitals_today(c, admin) == today + 2  # cached again
        clock[0] += 2  # 301 s after they were stored: both expired
        assert await _new_hospitals_in_october(c, admin) == october + 1
        assert await _new_hospitals_today(c, admin) == today + 3


async def test_a_write_through_one_api_process_invalidates_the_others_answers_in_redis(
    make_settings: Callable[..., Settings],
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    redis_url: str,
) -> None:
    settings = make_settings(analytics_cache_seconds=300, redis_url=redis_url)
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    redis = Redis.from_url(redis_url)
    # The Redis is the session's: answers other tests left under the current version are not
    # this database's figures
    await redis.incr(PREFIX + VERSION_KEY)
    try:
        async with (
            api(settings, temporal_client) as (one, c1),
            api(settings, temporal_client) as (other, c2),
        ):
            assert one.state.answer_cache.kind == other.state.answer_cache.kind == "redis"
            today = await _new_hospitals_today(c2, admin)
            await _hospital_behind_the_api(sessionmaker)
            # Cached in Redis: either process gets the stored answer (a hit)
            assert await _new_hospitals_today(c1, admin) == today
            assert await _new_hospitals_today(c2, admin) == today
            version = int(await redis.get(PREFIX + VERSION_KEY) or 0)

            created = await c1.post("/hospitals", json={"name": "Liv Hospital"}, headers=admin)
            assert created.status_code == 201, created.text
            assert int(await redis.get(PREFIX + VERSION_KEY) or 0) == version + 1
            # The other process's next answer is computed anew
            assert await _new_hospitals_today(c2, admin) == today + 2
            [key] = [
                k
                async for k in redis.scan_iter(PREFIX + "analytics:overview:*")
                if k.endswith(f":v{version + 1}".encode())
            ]
            assert 0 < await redis.ttl(key) <= 300

            # Expiry still holds for changes behind the API: Redis drops it, it is recomputed
            await _hospital_behind_the_api(sessionmaker)
            assert await _new_hospitals_today(c1, admin) == today + 2
            await redis.delete(key)
            assert await _new_hospitals_today(c1, admin) == today + 3
    finally:
        await redis.incr(PREFIX + VERSION_KEY)  # nor are this test's answers the next test's
        await redis.aclose()
