"""The business counters count a status move when its transaction commits, once: a rolled-back
attempt and a retry that finds its move already written count nothing; a payment's outcome is
counted with it. The worker serves them over HTTP for Prometheus."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.lifecycle import write_transition
from domain.access import Role
from domain.booking import BookingStatus
from domain.lifecycle import Actor
from domain.models.bookings import Booking, BookingStatusHistory
from domain.models.payments import Payment, PaymentStatusHistory
from domain.models.users import Patient
from domain.payment import PaymentStatus
from runtime import metrics
from runtime.postgres import free_port
from tests.builders.users import create_user

MOVES = "medivoy_lifecycle_moves_total"


def _moves(status: str) -> float:
    value = REGISTRY.get_sample_value(MOVES, {"lifecycle": "bookings", "status": status})
    return value or 0.0


async def _booking(sessionmaker: async_sessionmaker[AsyncSession]) -> uuid.UUID:
    user = await create_user(sessionmaker, Role.PATIENT)
    async with sessionmaker() as db, db.begin():
        patient = await db.scalar(select(Patient).where(Patient.user_id == user.id))
        assert patient is not None
        booking = Booking(booking_number="MV-T-" + uuid.uuid4().hex[:10], patient_id=patient.id)
        db.add(booking)
        await db.flush()
        return booking.id


async def _move(
    sessionmaker: async_sessionmaker[AsyncSession], booking_id: uuid.UUID, seq: int, *, commit: bool
) -> bool:
    async with sessionmaker() as db:
        written = await write_transition(
            db,
            Booking,
            BookingStatusHistory,
            booking_id,
            seq,
            BookingStatus.REQUESTED,
            BookingStatus.UNDER_REVIEW,
            Actor(Role.ADMIN, None),
            None,
            {},
        )
        if commit:
            await db.commit()
        else:
            await db.rollback()
    return written


async def test_a_move_counts_once_when_committed(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    booking_id = await _booking(sessionmaker)
    before = _moves("under_review")
    assert await _move(sessionmaker, booking_id, 1, commit=False)
    assert _moves("under_review") == before, "a rolled-back move is no move"
    assert await _move(sessionmaker, booking_id, 1, commit=True)
    assert _moves("under_review") == before + 1
    assert not await _move(sessionmaker, booking_id, 1, commit=True)
    assert _moves("under_review") == before + 1, "a retry of a written move counts nothing"


async def test_a_payment_reaching_an_outcome_is_counted_by_it(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    booking_id = await _booking(sessionmaker)
    async with sessionmaker() as db, db.begin():
        booking = await db.get(Booking, booking_id)
        assert booking is not None
        payment = Payment(
            transaction_id="tx-" + uuid.uuid4().hex,
            booking_id=booking_id,
            patient_id=booking.patient_id,
            amount=Decimal("100.00"),
            currency="USD",
            payment_gateway="stripe",
        )
        db.add(payment)
        await db.flush()
        payment_id = payment.id

    def completed() -> float:
        return REGISTRY.get_sample_value("medivoy_payments_total", {"outcome": "completed"}) or 0

    before, moves_before = completed(), _moves("processing")
    for seq, (old, new) in enumerate(
        [(PaymentStatus.PENDING, PaymentStatus.PROCESSING), (None, PaymentStatus.COMPLETED)], 1
    ):
        async with sessionmaker() as db, db.begin():
            await write_transition(
                db,
                Payment,
                PaymentStatusHistory,
                payment_id,
                seq,
                old,
                new,
                Actor(Role.ADMIN, None),
                None,
                {},
            )
        if new == PaymentStatus.PROCESSING:
            assert completed() == before, "processing is no outcome"
    assert completed() == before + 1
    assert _moves("processing") == moves_before, "a payment's move is no booking's"
    moved = REGISTRY.get_sample_value(MOVES, {"lifecycle": "payments", "status": "completed"})
    assert moved and moved >= 1


def test_the_worker_serves_its_counters_for_prometheus() -> None:
    port = free_port()
    server, thread = metrics.serve("127.0.0.1", port)
    try:
        metrics.count_notification("sms", "rejected")
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'medivoy_notifications_total{channel="sms",result="rejected"}' in text
        assert "# TYPE medivoy_lifecycle_moves_total counter" in text
        assert "# TYPE medivoy_payments_total counter" in text
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
