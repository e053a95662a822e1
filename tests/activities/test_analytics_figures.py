"""The roll-up's figures that were wrong or missing, worked out by hand: several partial refunds
of one payment each on its own day (written by the payment's own status activity), a past day's
appointments after one of them moved (the day is marked stale, answered live, rolled up again),
and the subscriptions' money, starts and churn per day."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.analytics import AnalyticsActivities, RollUpInput
from activities.appointments import AppointmentActivities, RescheduleRecord, TransitionRecord
from activities.payments import PaymentActivities, PaymentChanges, PaymentTransition
from api.services.analytics import daily_metrics
from domain.appointment import AppointmentStatus
from domain.models.analytics import AnalyticsDaily, AnalyticsDay
from domain.models.catalog import Hospital
from domain.models.payments import PaymentRefund
from domain.models.users import Patient
from domain.payment import PaymentStatus
from runtime.settings import Settings
from tests.builders.analytics_builders import at
from tests.builders.catalog_builders import add_appointment, add_doctor, affiliate
from tests.builders.figures_builders import paid_booking, subscription_world

Rows = dict[tuple[str, str, str, str], tuple[int, Decimal | None]]
NOV_10, NOV_11, NOV_12 = date(2026, 11, 10), date(2026, 11, 11), date(2026, 11, 12)
n = Decimal


async def _rows(sessionmaker: async_sessionmaker[AsyncSession], day: date) -> Rows:
    async with sessionmaker() as db:
        found = await db.scalars(select(AnalyticsDaily).where(AnalyticsDaily.day == day))
        return {
            (str(r.hospital_id or ""), r.metric, r.key, r.currency): (r.count, r.amount)
            for r in found
        }


def _refund(
    payment_id: uuid.UUID, seq: int, source: PaymentStatus, total: str, when: str
) -> PaymentTransition:
    return PaymentTransition(
        payment_id=payment_id,
        seq=seq,
        from_status=source,
        to_status=PaymentStatus.PARTIALLY_REFUNDED
        if source != PaymentStatus.FAILED
        else PaymentStatus.FAILED,
        notes="refund",
        changes=PaymentChanges(refund_amount=Decimal(total), refund_date=at(when)),
    )


async def test_each_partial_refund_counts_on_its_own_day_per_currency(
    sessionmaker: async_sessionmaker[AsyncSession], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(analytics_timezone="Asia/Kolkata")
    paid = await paid_booking(sessionmaker)
    payments = PaymentActivities(sessionmaker, {}, settings)
    usd, eur, failed = paid.usd.id, paid.eur.id, paid.failed.id
    partially = PaymentStatus.PARTIALLY_REFUNDED

    # USD: 100 on Nov 11 (15:30 in Kolkata), then 150 more at 00:30 on Nov 12 in Kolkata (still
    # Nov 11 in UTC); the payment's refund_amount is the running total, 250.
    await payments.record_payment_transition(
        _refund(usd, 1, PaymentStatus.COMPLETED, "100.00", "2026-11-11T10:00")
    )
    second = _refund(usd, 2, partially, "250.00", "2026-11-11T19:00")
    assert (await payments.record_payment_transition(second)).written
    # A retried write of the second refund changes nothing, and records no third refund
    assert not (await payments.record_payment_transition(second)).written
    # EUR: 50 on Nov 12 (13:30 in Kolkata)
    await payments.record_payment_transition(
        _refund(eur, 1, PaymentStatus.COMPLETED, "50.00", "2026-11-12T08:00")
    )
    # The failed payment's money (never counted received) given back: recorded, not subtracted
    await payments.record_payment_transition(
        _refund(failed, 1, PaymentStatus.FAILED, "200.00", "2026-11-11T10:00")
    )
    async with sessionmaker() as db:
        recorded = [
            (r.payment_id, r.seq, r.amount, r.currency, r.refunded_at)
            for r in await db.scalars(
                select(PaymentRefund).order_by(PaymentRefund.refunded_at, PaymentRefund.amount)
            )
        ]
    assert recorded == [
        (usd, 1, n("100.00"), "USD", at("2026-11-11T10:00")),
        (failed, 1, n("200.00"), "USD", at("2026-11-11T10:00")),
        (usd, 2, n("150.00"), "USD", at("2026-11-11T19:00")),
        (eur, 1, n("50.00"), "EUR", at("2026-11-12T08:00")),
    ]

    await AnalyticsActivities(sessionmaker, settings).roll_up_analytics_days(
        RollUpInput(first=NOV_10, last=NOV_12)
    )

    h = str(paid.hospital.id)
    # Nov 10 (11:30 in Kolkata): the money came in; the failed payment's did not
    assert await _rows(sessionmaker, NOV_10) == {
        (scope, "revenue.gross", "", currency): (1, n(amount))
        for scope in ("", h)
        for currency, amount in (("USD", "1000.00"), ("EUR", "500.00"))
    }
    # Nov 11: the first USD refund only (before, all 250 landed on the last refund's day)
    assert await _rows(sessionmaker, NOV_11) == {
        (scope, "revenue.refunds", "", "USD"): (1, n("100.00")) for scope in ("", h)
    }
    # Nov 12: the second USD refund, and the EUR one, each in its currency
    assert await _rows(sessionmaker, NOV_12) == {
        (scope, "revenue.refunds", "", currency): (1, n(amount))
        for scope in ("", h)
        for currency, amount in (("USD", "150.00"), ("EUR", "50.00"))
    }


async def test_a_past_days_appointments_follow_a_later_move_live_then_rolled_up_again(
    sessionmaker: async_sessionmaker[AsyncSession], make_settings: Callable[..., Settings]
) -> None:
    zone = ZoneInfo("UTC")
    settings = make_settings(analytics_timezone="UTC")
    hospital = Hospital(id=uuid.uuid4(), name="Memorial", created_at=at("2026-10-01T00:00"))
    patient = Patient(id=uuid.uuid4(), country="Iraq", created_at=at("2026-10-01T00:00"))
    async with sessionmaker() as db, db.begin():
        db.add_all([hospital, patient])
    _, doctor = await add_doctor(sessionmaker)
    await affiliate(sessionmaker, hospital, doctor)
    confirmed = AppointmentStatus.APPOINTMENT_CONFIRMED.value
    past = await add_appointment(sessionmaker, doctor, patient, at("2026-11-10T12:00"), confirmed)
    now = datetime.now(UTC)
    today = await add_appointment(
        sessionmaker, doctor, patient, now.replace(microsecond=0) + timedelta(minutes=1), confirmed
    )
    roll_up = AnalyticsActivities(sessionmaker, settings)
    await roll_up.roll_up_analytics_days(RollUpInput(first=NOV_10, last=NOV_11))
    d, h = str(doctor.id), str(hospital.id)

    def figures(status: str) -> Rows:
        return {
            (scope, metric, key, ""): (1, None)
            for scope in ("", h)
            for metric, key in (("appointments.doctor", d), ("appointments.status", status))
        }

    assert await _rows(sessionmaker, NOV_10) == figures(confirmed)

    # Completed afterwards, by the appointment's own status activity
    appointments = AppointmentActivities(sessionmaker, analytics_timezone="UTC")
    completed = AppointmentStatus.CONSULTATION_COMPLETED
    for row in (past, today):
        assert await appointments.record_appointment_transition(
            TransitionRecord(
                appointment_id=row.id,
                seq=1,
                from_status=AppointmentStatus.APPOINTMENT_CONFIRMED,
                to_status=completed,
                actor_role="system",
            )
        )
    async with sessionmaker() as db:
        markers = {m.day: m.stale for m in await db.scalars(select(AnalyticsDay))}
    # Nov 10 must be redone; Nov 11 did not change; today is live anyway (no marker)
    assert markers == {NOV_10: True, NOV_11: False}
    # The stored rows still say what they said, but answers count the day live meanwhile
    assert await _rows(sessionmaker, NOV_10) == figures(confirmed)
    async with sessionmaker() as db:
        live = await daily_metrics(db, NOV_10, NOV_11, hospital.id, zone, now)
    assert {k: f.count for k, f in live[NOV_10]["appointments.status"].items()} == {completed: 1}
    assert live[NOV_11] == {}

    # The next scheduled run rolls the stale day up again, however far back it is
    result = await roll_up.roll_up_analytics_days(RollUpInput(as_of=now))
    yesterday = now.date() - timedelta(days=1)
    assert [r.day for r in result.days] == [NOV_10, yesterday]
    assert await _rows(sessionmaker, NOV_10) == figures(completed.value)
    async with sessionmaker() as db:
        marker = await db.get(AnalyticsDay, NOV_10)
        assert marker is not None and not marker.stale
    # ...and only once: the run after it has nothing stale left
    again = await roll_up.roll_up_analytics_days(RollUpInput(as_of=now))
    assert [r.day for r in again.days] == [yesterday]


async def test_moving_a_past_appointment_to_another_day_marks_both_days_stale(
    sessionmaker: async_sessionmaker[AsyncSession], make_settings: Callable[..., Settings]
) -> None:
    patient = Patient(id=uuid.uuid4(), country="Iraq", created_at=at("2026-10-01T00:00"))
    async with sessionmaker() as db, db.begin():
        db.add(patient)
    _, doctor = await add_doctor(sessionmaker)
    row = await add_appointment(sessionmaker, doctor, patient, at("2026-11-10T12:00"), "no_show")
    await AnalyticsActivities(
        sessionmaker, make_settings(analytics_timezone="UTC")
    ).roll_up_analytics_days(RollUpInput(first=NOV_10, last=NOV_12))

    moved = await AppointmentActivities(
        sessionmaker, analytics_timezone="UTC"
    ).reschedule_appointment(
        RescheduleRecord(
            appointment_id=row.id,
            count=1,
            starts_at=at("2026-11-12T09:00"),
            duration_minutes=30,
            actor_role="admin",
            override=True,
        )
    )

    assert moved.starts_at == at("2026-11-12T09:00")
    async with sessionmaker() as db:
        markers = {m.day: m.stale for m in await db.scalars(select(AnalyticsDay))}
    assert markers == {NOV_10: True, NOV_11: False, NOV_12: True}


async def test_subscriptions_money_starts_and_churn_are_rolled_up_per_day(
    sessionmaker: async_sessionmaker[AsyncSession], make_settings: Callable[..., Settings]
) -> None:
    world = await subscription_world(sessionmaker)
    await AnalyticsActivities(
        sessionmaker, make_settings(analytics_timezone="UTC")
    ).roll_up_analytics_days(RollUpInput(first=NOV_10, last=NOV_12))
    h1, h3 = str(world.h1.id), str(world.h3.id)

    assert await _rows(sessionmaker, NOV_10) == {
        # s1 paid and became active: the platform's and h1's
        ("", "subscriptions.revenue", "", "USD"): (1, n("100.00")),
        (h1, "subscriptions.revenue", "", "USD"): (1, n("100.00")),
        ("", "subscriptions.new", "", ""): (1, None),
        (h1, "subscriptions.new", "", ""): (1, None),
        # all money received is the platform's revenue too (no booking, so no hospital's)
        ("", "revenue.gross", "", "USD"): (1, n("100.00")),
    }
    assert await _rows(sessionmaker, NOV_11) == {
        # s3, a doctor's: the platform's only
        ("", "subscriptions.revenue", "", "EUR"): (1, n("30.00")),
        ("", "revenue.gross", "", "EUR"): (1, n("30.00")),
        ("", "subscriptions.new", "", ""): (1, None),
        # s5 lapsed after dunning (churn); s4 lapsed unpaid and s2 fell past due (neither)
        ("", "subscriptions.churned", "", ""): (1, None),
        (h3, "subscriptions.churned", "", ""): (1, None),
    }
    assert await _rows(sessionmaker, NOV_12) == {
        # s1 cancelled with 40 given back
        ("", "subscriptions.refunds", "", "USD"): (1, n("40.00")),
        (h1, "subscriptions.refunds", "", "USD"): (1, n("40.00")),
        ("", "revenue.refunds", "", "USD"): (1, n("40.00")),
        ("", "subscriptions.churned", "", ""): (1, None),
        (h1, "subscriptions.churned", "", ""): (1, None),
    }
