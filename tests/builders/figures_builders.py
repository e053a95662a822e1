"""Fixed data for the analytics figures the roll-up learned later: subscriptions that start,
fall past due, churn or lapse unpaid, with their payments and a refund, each at a set instant (UTC
days, Nov 2026); and a paid booking whose money is given back in two partial refunds. The tests
work the figures out by hand from this."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models.bookings import Booking
from domain.models.catalog import Doctor, Hospital
from domain.models.payments import Payment, PaymentRefund
from domain.models.subscriptions import (
    Subscription,
    SubscriptionPlan,
    SubscriptionStatusHistory,
)
from domain.models.users import Patient
from tests.builders.analytics_builders import at
from tests.builders.catalog_builders import add_doctor


async def _add(sessionmaker: async_sessionmaker[AsyncSession], *rows: Any) -> None:
    async with sessionmaker() as db, db.begin():
        db.add_all(rows)


@dataclass
class SubscriptionWorld:
    h1: Hospital
    h2: Hospital
    h3: Hospital
    d1: Doctor
    d2: Doctor
    subscriptions: dict[str, Subscription]


async def subscription_world(
    sessionmaker: async_sessionmaker[AsyncSession], *, h1_admin: uuid.UUID | None = None
) -> SubscriptionWorld:
    """s1 (h1, USD 100): active Nov 10, cancelled Nov 12 with 40 back the same instant;
    s2 (h2, USD 250): active Nov 9, past due Nov 11; s3 (d1, EUR 30): active Nov 11;
    s4 (d2, EUR 20): never paid, expired Nov 11; s5 (h3, USD 100): active since Oct 1, past
    due Nov 9, expired Nov 11."""
    old = at("2026-10-01T00:00")
    h1 = Hospital(id=uuid.uuid4(), name="Anadolu", admin_user_id=h1_admin, created_at=old)
    h2 = Hospital(id=uuid.uuid4(), name="Apollo", created_at=old)
    h3 = Hospital(id=uuid.uuid4(), name="Medipol", created_at=old)
    await _add(sessionmaker, h1, h2, h3)
    _, d1 = await add_doctor(sessionmaker, first_name="Deniz")
    _, d2 = await add_doctor(sessionmaker, first_name="Ravi")
    for_hospitals = SubscriptionPlan(
        id=uuid.uuid4(), name="Clinic " + uuid.uuid4().hex[:6], target_user="hospital"
    )
    for_doctors = SubscriptionPlan(
        id=uuid.uuid4(), name="Solo " + uuid.uuid4().hex[:6], target_user="doctor", currency="EUR"
    )
    await _add(sessionmaker, for_hospitals, for_doctors)

    moves: list[SubscriptionStatusHistory] = []
    payments: list[Payment] = []
    subscriptions: dict[str, Subscription] = {}

    def subscription(
        name: str,
        holder: Hospital | Doctor,
        amount: str,
        currency: str,
        steps: list[tuple[str, str]],
    ) -> Subscription:
        row = Subscription(
            id=uuid.uuid4(),
            plan_id=(for_hospitals if isinstance(holder, Hospital) else for_doctors).id,
            hospital_id=holder.id if isinstance(holder, Hospital) else None,
            doctor_id=holder.id if isinstance(holder, Doctor) else None,
            billing_cycle="monthly",
            status=steps[-1][0],
            status_seq=len(steps),
            amount=Decimal(amount),
            currency=currency,
        )
        previous: str | None = None
        for seq, (status, when) in enumerate(steps, start=1):
            moves.append(
                SubscriptionStatusHistory(
                    subscription_id=row.id,
                    seq=seq,
                    from_status=previous,
                    to_status=status,
                    created_at=at(when),
                )
            )
            previous = status
        subscriptions[name] = row
        return row

    def paid(row: Subscription, when: str, **fields: Any) -> Payment:
        assert row.amount is not None and row.currency is not None
        payment = Payment(
            id=uuid.uuid4(),
            transaction_id="TX-" + uuid.uuid4().hex[:12],
            subscription_id=row.id,
            amount=row.amount,
            currency=row.currency,
            payment_gateway="stripe",
            status=fields.pop("status", "completed"),
            payment_date=at(when),
            **fields,
        )
        payments.append(payment)
        return payment

    s1 = subscription(
        "s1",
        h1,
        "100.00",
        "USD",
        [
            ("incomplete", "2026-11-01T09:00"),
            ("active", "2026-11-10T10:00"),
            ("cancelled", "2026-11-12T12:00"),
        ],
    )
    s2 = subscription(
        "s2",
        h2,
        "250.00",
        "USD",
        [
            ("incomplete", "2026-11-09T14:00"),
            ("active", "2026-11-09T15:00"),
            ("past_due", "2026-11-11T08:00"),
        ],
    )
    s3 = subscription(
        "s3",
        d1,
        "30.00",
        "EUR",
        [("incomplete", "2026-11-10T11:00"), ("active", "2026-11-11T09:00")],
    )
    subscription(
        "s4",
        d2,
        "20.00",
        "EUR",
        [("incomplete", "2026-11-10T12:00"), ("expired", "2026-11-11T12:00")],
    )
    s5 = subscription(
        "s5",
        h3,
        "100.00",
        "USD",
        [
            ("incomplete", "2026-10-01T00:00"),
            ("active", "2026-10-01T00:05"),
            ("past_due", "2026-11-09T00:00"),
            ("expired", "2026-11-11T10:00"),
        ],
    )
    await _add(sessionmaker, *subscriptions.values())
    await _add(sessionmaker, *moves)
    refunded = paid(
        s1,
        "2026-11-10T10:00",
        status="partially_refunded",
        refund_amount=Decimal("40.00"),
        refund_date=at("2026-11-12T12:00"),
    )
    paid(s2, "2026-11-09T15:00")
    paid(s3, "2026-11-11T09:00")
    paid(s5, "2026-10-01T00:05")
    await _add(sessionmaker, *payments)
    await _add(
        sessionmaker,
        PaymentRefund(
            payment_id=refunded.id,
            seq=3,
            amount=Decimal("40.00"),
            currency="USD",
            refunded_at=at("2026-11-12T12:00"),
        ),
    )
    return SubscriptionWorld(h1=h1, h2=h2, h3=h3, d1=d1, d2=d2, subscriptions=subscriptions)


@dataclass
class PaidBooking:
    hospital: Hospital
    usd: Payment
    eur: Payment
    failed: Payment


async def paid_booking(sessionmaker: async_sessionmaker[AsyncSession]) -> PaidBooking:
    """A booking at one hospital paid in two currencies on Nov 10 (UTC): USD 1000.00 and
    EUR 500.00, both completed, nothing refunded yet; and a failed USD 200.00 payment (its
    money never counted as received)."""
    hospital = Hospital(id=uuid.uuid4(), name="Acibadem", created_at=at("2026-10-01T00:00"))
    patient = Patient(id=uuid.uuid4(), country="Iraq", created_at=at("2026-10-01T00:00"))
    await _add(sessionmaker, hospital, patient)
    booking = Booking(
        id=uuid.uuid4(),
        booking_number="BK-" + uuid.uuid4().hex[:8],
        patient_id=patient.id,
        hospital_id=hospital.id,
        status="payment_completed",
        created_at=at("2026-10-01T00:00"),
    )
    await _add(sessionmaker, booking)

    def payment(amount: str, currency: str, status: str) -> Payment:
        return Payment(
            id=uuid.uuid4(),
            transaction_id="TX-" + uuid.uuid4().hex[:12],
            booking_id=booking.id,
            patient_id=patient.id,
            amount=Decimal(amount),
            currency=currency,
            payment_gateway="stripe",
            status=status,
            payment_date=at("2026-11-10T06:00"),
        )

    usd = payment("1000.00", "USD", "completed")
    eur = payment("500.00", "EUR", "completed")
    failed = payment("200.00", "USD", "failed")
    await _add(sessionmaker, usd, eur, failed)
    return PaidBooking(hospital=hospital, usd=usd, eur=eur, failed=failed)
