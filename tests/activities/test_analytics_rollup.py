"""The daily roll-up on fixed data gives exactly the figures worked out by hand, counts each
instant on its day in the roll-up zone (not UTC's), and is idempotent: rolling a day up twice
leaves the very same rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.analytics import AnalyticsActivities, RollUpInput
from domain.models.analytics import AnalyticsDaily, AnalyticsDay
from domain.models.payments import Payment
from runtime.settings import Settings
from tests.builders.analytics_builders import ZONE, AnalyticsWorld, analytics_world, at

NOV_10 = date(2026, 11, 10)
Rows = dict[tuple[str, str, str, str], tuple[int, Decimal | None]]


async def _rows(sessionmaker: async_sessionmaker[AsyncSession], day: date) -> Rows:
    async with sessionmaker() as db:
        found = await db.scalars(select(AnalyticsDaily).where(AnalyticsDaily.day == day))
        return {
            (str(r.hospital_id or ""), r.metric, r.key, r.currency): (r.count, r.amount)
            for r in found
        }


async def _all(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple[Any, ...]]:
    async with sessionmaker() as db:
        found = await db.scalars(select(AnalyticsDaily).order_by(AnalyticsDaily.id))
        return [
            (r.id, r.day, r.hospital_id, r.metric, r.key, r.currency, r.count, r.amount)
            for r in found
        ]


def _expected_nov_10_in_kolkata(w: AnalyticsWorld) -> Rows:
    h1, h2 = str(w.h1.id), str(w.h2.id)
    t1, t2, d1, d2 = str(w.t1), str(w.t2), str(w.d1.id), str(w.d2.id)
    n = Decimal
    return {
        # The platform: b1, b2 (00:15 IST), b4 were made on Nov 10 in Kolkata; b3 on Nov 9 and
        # b5 (00:10 IST on Nov 11) are not.
        ("", "bookings.created", "", ""): (3, None),
        ("", "bookings.country", "Nigeria", ""): (2, None),
        ("", "bookings.country", "Iraq", ""): (1, None),
        ("", "bookings.treatment", t1, ""): (2, None),
        ("", "bookings.treatment", t2, ""): (1, None),
        ("", "bookings.hospital", h1, ""): (3, None),
        # b1's move to under_review came at 00:01 IST on Nov 11
        ("", "bookings.status", "requested", ""): (3, None),
        ("", "bookings.status", "cancelled", ""): (1, None),
        # pay1 (USD) and pay2 (EUR, 00:20 IST); pay3 arrived Nov 9, pay4 pending, pay5 failed,
        # pay6 on Nov 11 in Kolkata. Refunds on the day they happened: pay2's (23:50 IST) and
        # pay3's, whose money came in the day before. Never one sum across currencies.
        ("", "revenue.gross", "", "USD"): (1, n("1000.00")),
        ("", "revenue.gross", "", "EUR"): (1, n("500.50")),
        ("", "revenue.refunds", "", "EUR"): (1, n("100.25")),
        ("", "revenue.refunds", "", "USD"): (1, n("250.00")),
        # p1 and p2 (00:30 IST) registered on Nov 10; p3 at 23:59 IST on Nov 9
        ("", "patients.new", "", ""): (2, None),
        ("", "patients.country", "Nigeria", ""): (1, None),
        ("", "patients.country", "Iraq", ""): (1, None),
        # d1 at 09:30 IST and at exactly 00:00 IST; d2 at 17:30 IST (its 23:59:59 one is Nov 9)
        ("", "appointments.doctor", d1, ""): (2, None),
        ("", "appointments.doctor", d2, ""): (1, None),
        ("", "appointments.status", "consultation_completed", ""): (2, None),
        ("", "appointments.status", "cancelled", ""): (1, None),
        # h1 joined at 01:30 IST on Nov 10, h2 at 23:30 IST on Nov 9
        ("", "hospitals.new", "", ""): (1, None),
        ("", "hospitals.country", "Turkey", ""): (1, None),
        # h1: its own bookings and money; p1 and p2 booked there for the first time
        (h1, "bookings.created", "", ""): (3, None),
        (h1, "bookings.country", "Nigeria", ""): (2, None),
        (h1, "bookings.country", "Iraq", ""): (1, None),
        (h1, "bookings.treatment", t1, ""): (2, None),
        (h1, "bookings.treatment", t2, ""): (1, None),
        (h1, "bookings.status", "requested", ""): (3, None),
        (h1, "revenue.gross", "", "USD"): (1, n("1000.00")),
        (h1, "revenue.gross", "", "EUR"): (1, n("500.50")),
        (h1, "revenue.refunds", "", "EUR"): (1, n("100.25")),
        (h1, "patients.new", "", ""): (2, None),
        # d1 works at both hospitals; d2 at none
        (h1, "appointments.doctor", d1, ""): (2, None),
        (h1, "appointments.status", "consultation_completed", ""): (1, None),
        (h1, "appointments.status", "cancelled", ""): (1, None),
        # h2: b3's cancellation and pay3's refund; p1 first booked there on Nov 11
        (h2, "bookings.status", "cancelled", ""): (1, None),
        (h2, "revenue.refunds", "", "USD"): (1, n("250.00")),
        (h2, "appointments.doctor", d1, ""): (2, None),
        (h2, "appointments.status", "consultation_completed", ""): (1, None),
        (h2, "appointments.status", "cancelled", ""): (1, None),
    }


async def test_the_roll_up_of_a_day_gives_the_figures_worked_out_by_hand(
    sessionmaker: async_sessionmaker[AsyncSession], make_settings: Callable[..., Settings]
) -> None:
    world = await analytics_world(sessionmaker)
    activities = AnalyticsActivities(sessionmaker, make_settings(analytics_timezone=ZONE))

    result = await activities.roll_up_analytics_days(RollUpInput(first=NOV_10, last=NOV_10))

    expected = _expected_nov_10_in_kolkata(world)
    assert await _rows(sessionmaker, NOV_10) == expected
    assert [(d.day, d.rows) for d in result.days] == [(NOV_10, len(expected))]
    async with sessionmaker() as db:
        marker = await db.get(AnalyticsDay, NOV_10)
        assert marker is not None
        assert (marker.timezone, marker.rows) == (ZONE, len(expected))


async def test_the_same_day_in_utc_counts_other_instants(
    sessionmaker: async_sessionmaker[AsyncSession], make_settings: Callable[..., Settings]
) -> None:
    world = await analytics_world(sessionmaker)
    activities = AnalyticsActivities(sessionmaker, make_settings(analytics_timezone="UTC"))

    await activities.roll_up_analytics_days(RollUpInput(first=NOV_10, last=NOV_10))

    rows = await _rows(sessionmaker, NOV_10)
    h1, h2 = str(world.h1.id), str(world.h2.id)
    # In UTC, Nov 10 holds b1, b4 and b5 (18:40 UTC), not b2 (18:45 UTC on Nov 9)
    assert rows[("", "bookings.created", "", "")] == (3, None)
    assert rows[("", "bookings.hospital", h1, "")] == (2, None)
    assert rows[("", "bookings.hospital", h2, "")] == (1, None)
    # pay2 came in on Nov 9 in UTC; pay6 (18:35 UTC) on Nov 10
    assert rows[("", "revenue.gross", "", "USD")] == (2, Decimal("1400.00"))
    assert ("", "revenue.gross", "", "EUR") not in rows
    # only p1 registered on Nov 10 in UTC
    assert rows[("", "patients.new", "", "")] == (1, None)
    assert ("", "hospitals.new", "", "") not in rows


async def test_rolling_a_day_up_twice_leaves_the_same_rows_and_a_change_replaces_them(
    sessionmaker: async_sessionmaker[AsyncSession], make_settings: Callable[..., Settings]
) -> None:
    world = await analytics_world(sessionmaker)
    activities = AnalyticsActivities(sessionmaker, make_settings(analytics_timezone=ZONE))
    days = RollUpInput(first=date(2026, 11, 9), last=date(2026, 11, 11))

    await activities.roll_up_analytics_days(days)
    first = await _all(sessionmaker)
    await activities.roll_up_analytics_days(days)
    assert await _all(sessionmaker) == first
    assert {row[1] for row in first} == {date(2026, 11, 9), NOV_10, date(2026, 11, 11)}

    # A payment that lands late (its payment_date on Nov 10) shows up when the day is redone
    async with sessionmaker() as db, db.begin():
        late = await db.get(Payment, world.payments["pay4"].id)
        assert late is not None
        late.status, late.payment_date = "completed", at("2026-11-10T10:00")
    await activities.roll_up_analytics_days(RollUpInput(first=NOV_10, last=NOV_10))
    rows = await _rows(sessionmaker, NOV_10)
    assert rows[("", "revenue.gross", "", "USD")] == (2, Decimal("1300.00"))
    assert rows[(str(world.h1.id), "revenue.gross", "", "USD")] == (2, Decimal("1300.00"))
    assert len(await _all(sessionmaker)) == len(first)


async def test_the_scheduled_roll_up_takes_the_day_that_just_ended_in_its_zone(
    sessionmaker: async_sessionmaker[AsyncSession], make_settings: Callable[..., Settings]
) -> None:
    await analytics_world(sessionmaker)
    activities = AnalyticsActivities(sessionmaker, make_settings(analytics_timezone=ZONE))

    # The schedule fires at 00:00 on Nov 11 in Kolkata: 18:30 UTC on Nov 10
    result = await activities.roll_up_analytics_days(RollUpInput(as_of=at("2026-11-10T18:30")))

    assert [d.day for d in result.days] == [NOV_10]
