"""A fixed little world for the analytics tests: two hospitals, three patients, five bookings,
payments in two currencies with refunds, appointments of two doctors, each at a set instant,
several of them minutes from midnight in Asia/Kolkata (UTC+5:30), so the day they count on
depends on the roll-up zone. The figures the tests expect are worked out by hand from this."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models.bookings import Booking, BookingStatusHistory
from domain.models.catalog import Doctor, Hospital
from domain.models.payments import Payment, PaymentRefund
from domain.models.users import Patient
from tests.builders.catalog_builders import add_appointment, add_doctor, add_treatment, affiliate

ZONE = "Asia/Kolkata"


def at(text: str) -> datetime:
    """An instant written in UTC ("2026-11-10T05:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class AnalyticsWorld:
    h1: Hospital
    h2: Hospital
    t1: uuid.UUID
    t2: uuid.UUID
    d1: Doctor
    d2: Doctor
    d1_user_id: uuid.UUID
    patients: dict[str, Patient]
    bookings: dict[str, Booking]
    payments: dict[str, Payment]


async def _add(sessionmaker: async_sessionmaker[AsyncSession], *rows: Any) -> None:
    async with sessionmaker() as db, db.begin():
        db.add_all(rows)


async def analytics_world(
    sessionmaker: async_sessionmaker[AsyncSession], *, h1_admin: uuid.UUID | None = None
) -> AnalyticsWorld:
    h1 = Hospital(
        id=uuid.uuid4(),
        name="Anadolu",
        country="Turkey",
        is_verified=True,
        admin_user_id=h1_admin,
        created_at=at("2026-11-09T20:00"),  # Nov 10, 01:30 in Kolkata
    )
    h2 = Hospital(
        id=uuid.uuid4(),
        name="Apollo",
        country="India",
        is_verified=True,
        created_at=at("2026-11-09T18:00"),  # Nov 9, 23:30 in Kolkata
    )
    await _add(sessionmaker, h1, h2)
    t1 = (await add_treatment(sessionmaker, name="Knee")).id
    t2 = (await add_treatment(sessionmaker, name="Hip")).id
    patients = {
        "p1": Patient(id=uuid.uuid4(), country="Nigeria", created_at=at("2026-11-10T10:00")),
        # Nov 10, 00:30 in Kolkata; still Nov 9 in UTC
        "p2": Patient(id=uuid.uuid4(), country="Iraq", created_at=at("2026-11-09T19:00")),
        # Nov 9, 23:59 in Kolkata
        "p3": Patient(id=uuid.uuid4(), country="Nigeria", created_at=at("2026-11-09T18:29")),
    }
    await _add(sessionmaker, *patients.values())

    def booking(
        name: str, patient: str, hospital: Hospital, treatment: uuid.UUID, when: str
    ) -> Booking:
        return Booking(
            id=uuid.uuid4(),
            booking_number=f"BK-{name}-{uuid.uuid4().hex[:6]}",
            patient_id=patients[patient].id,
            hospital_id=hospital.id,
            treatment_id=treatment,
            status="requested",
            currency="USD",
            total_amount=Decimal("1000.00"),
            created_at=at(when),
        )

    bookings = {
        "b1": booking("b1", "p1", h1, t1, "2026-11-10T05:00"),  # Nov 10 10:30 IST
        "b2": booking("b2", "p2", h1, t1, "2026-11-09T18:45"),  # Nov 10 00:15 IST
        "b3": booking("b3", "p3", h2, t2, "2026-11-09T18:15"),  # Nov 9 23:45 IST
        "b4": booking("b4", "p1", h1, t2, "2026-11-10T17:00"),  # Nov 10 22:30 IST
        "b5": booking("b5", "p1", h2, t1, "2026-11-10T18:40"),  # Nov 11 00:10 IST
    }
    await _add(sessionmaker, *bookings.values())

    def moved(b: str, seq: int, status: str, when: str) -> BookingStatusHistory:
        return BookingStatusHistory(
            booking_id=bookings[b].id, seq=seq, to_status=status, created_at=at(when)
        )

    await _add(
        sessionmaker,
        moved("b1", 1, "requested", "2026-11-10T05:00"),
        moved("b1", 2, "under_review", "2026-11-10T18:31"),  # Nov 11 00:01 IST
        moved("b2", 1, "requested", "2026-11-09T18:45"),
        moved("b3", 1, "requested", "2026-11-09T18:15"),
        moved("b3", 2, "cancelled", "2026-11-10T06:00"),
        moved("b4", 1, "requested", "2026-11-10T17:00"),
        moved("b5", 1, "requested", "2026-11-10T18:40"),
    )

    def payment(b: str, amount: str, currency: str, status: str, **fields: Any) -> Payment:
        return Payment(
            id=uuid.uuid4(),
            transaction_id="TX-" + uuid.uuid4().hex[:12],
            booking_id=bookings[b].id,
            patient_id=bookings[b].patient_id,
            amount=Decimal(amount),
            currency=currency,
            payment_gateway="stripe",
            status=status,
            **fields,
        )

    payments = {
        "pay1": payment("b1", "1000.00", "USD", "completed", payment_date=at("2026-11-10T07:00")),
        "pay2": payment(
            "b2",
            "500.50",
            "EUR",
            "partially_refunded",
            payment_date=at("2026-11-09T18:50"),  # Nov 10 00:20 IST
            refund_amount=Decimal("100.25"),
            refund_date=at("2026-11-10T18:20"),  # Nov 10 23:50 IST
        ),
        "pay3": payment(
            "b3",
            "250.00",
            "USD",
            "refunded",
            payment_date=at("2026-11-09T12:00"),  # Nov 9
            refund_amount=Decimal("250.00"),
            refund_date=at("2026-11-10T09:00"),  # Nov 10: subtracted then, not on Nov 9
        ),
        "pay4": payment("b1", "300.00", "USD", "pending"),
        "pay5": payment("b4", "200.00", "USD", "failed", payment_date=at("2026-11-10T08:00")),
        "pay6": payment("b5", "400.00", "USD", "completed", payment_date=at("2026-11-10T18:35")),
    }
    await _add(sessionmaker, *payments.values())
    # Each refund's own row, as the payment's workflow writes it with the refund's status move
    await _add(
        sessionmaker,
        *(
            PaymentRefund(
                payment_id=payments[name].id,
                seq=2,
                amount=payments[name].refund_amount,
                currency=payments[name].currency,
                refunded_at=payments[name].refund_date,
            )
            for name in ("pay2", "pay3")
        ),
    )

    d1_user, d1 = await add_doctor(sessionmaker, first_name="Deniz")
    _, d2 = await add_doctor(sessionmaker, first_name="Ravi")
    await affiliate(sessionmaker, h1, d1)
    await affiliate(sessionmaker, h2, d1)
    await add_appointment(
        sessionmaker, d1, patients["p1"], at("2026-11-10T04:00"), "consultation_completed"
    )
    # Exactly Nov 10 00:00 in Kolkata: the first instant of the day
    await add_appointment(sessionmaker, d1, patients["p2"], at("2026-11-09T18:30"), "cancelled")
    await add_appointment(
        sessionmaker, d2, patients["p3"], at("2026-11-09T18:29:59"), "booked"
    )  # Nov 9 23:59:59 IST
    await add_appointment(
        sessionmaker, d2, patients["p1"], at("2026-11-10T12:00"), "consultation_completed"
    )
    return AnalyticsWorld(
        h1=h1,
        h2=h2,
        t1=t1,
        t2=t2,
        d1=d1,
        d2=d2,
        d1_user_id=d1_user.id,
        patients=patients,
        bookings=bookings,
        payments=payments,
    )
