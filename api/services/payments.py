"""Reads and access rules behind /payments, /invoices and the webhooks: who sees which payment or
invoice, and how a gateway event finds its payment. Status changes belong to PaymentWorkflow."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.providers.webhooks import GatewayEvent
from api import policies
from api.dates import day_after, day_start
from domain.access import PAYERS, Role
from domain.errors import Forbidden, NotFound
from domain.models.appointments import Appointment
from domain.models.bookings import Booking
from domain.models.payments import Invoice, Payment
from domain.models.users import Patient, User


async def patient_id_of(db: AsyncSession, user: User) -> uuid.UUID | None:
    return await db.scalar(select(Patient.id).where(Patient.user_id == user.id))


def visible_to(user: User, stmt: Select[Any], model: type[Payment] | type[Invoice]) -> Select[Any]:
    """The rows of `model` this caller sees (policies.money_scope, the same for lists and for
    one by its id): hospital admins and doctors only their subscriptions' money."""
    return stmt.where(policies.money_scope(user, model))


async def payment_for(db: AsyncSession, user: User, payment_id: uuid.UUID) -> Payment:
    stmt = visible_to(user, select(Payment).where(Payment.id == payment_id), Payment)
    payment: Payment | None = await db.scalar(stmt)
    if payment is None:
        raise NotFound("Payment not found", code="PAYMENT_NOT_FOUND")
    return payment


async def invoice_for(db: AsyncSession, user: User, invoice_id: uuid.UUID) -> Invoice:
    stmt = visible_to(user, select(Invoice).where(Invoice.id == invoice_id), Invoice)
    invoice: Invoice | None = await db.scalar(stmt)
    if invoice is None:
        raise NotFound("Invoice not found", code="INVOICE_NOT_FOUND")
    return invoice


async def check_payable_by(
    db: AsyncSession,
    user: User,
    booking_id: uuid.UUID | None,
    appointment_id: uuid.UUID | None,
) -> None:
    """The caller may pay for it: an admin for anyone, a patient only for their own, a
    coordinator for what the money rule shows them (policies.money_scope: a booking assigned to
    them, a teleconsultation of its patient), so nobody makes a payment they may not read (404
    else, like a booking that does not exist)."""
    if user.user_type not in PAYERS:
        raise Forbidden("Your role may not make payments", code="ROLE_NOT_ALLOWED")
    owner: uuid.UUID | None
    if booking_id is not None:
        row = (
            await db.execute(
                select(Booking.patient_id, Booking.coordinator_id).where(Booking.id == booking_id)
            )
        ).one_or_none()
        owner, coordinator = (row[0], row[1]) if row is not None else (None, None)
        missing = NotFound("Booking not found", code="BOOKING_NOT_FOUND")
        coordinates = coordinator is not None and coordinator == user.id
    else:
        owner = await db.scalar(
            select(Appointment.patient_id).where(Appointment.id == appointment_id)
        )
        missing = NotFound("Appointment not found", code="APPOINTMENT_NOT_FOUND")
        coordinates = owner is not None and (
            await db.scalar(
                policies.coordinated_patient_ids(user).where(Booking.patient_id == owner).limit(1)
            )
            is not None
        )
    if owner is None:
        raise missing
    if user.user_type == Role.ADMIN:
        return
    if user.user_type == Role.COORDINATOR:
        if not coordinates:
            raise missing
        return
    if owner != await patient_id_of(db, user):
        raise missing


def day_range(stmt: Select[Any], column: Any, start: Any, end: Any) -> Select[Any]:
    if start is not None:
        stmt = stmt.where(column >= day_start(start))
    after = day_after(end) if end is not None else None
    if after is not None:
        stmt = stmt.where(column < after)
    return stmt


async def count(db: AsyncSession, stmt: Select[Any]) -> int:
    total = await db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return int(total or 0)


async def payment_of_event(db: AsyncSession, event: GatewayEvent) -> uuid.UUID | None:
    """Our payment id as the event names it (metadata / receipt), checked against the row, or
    else found by the intent / order id the workflow stored."""
    if event.payment_id:
        try:
            candidate = uuid.UUID(event.payment_id)
        except ValueError:
            candidate = None
        if candidate is not None:
            found = await db.scalar(select(Payment.id).where(Payment.id == candidate))
            if found is not None:
                return found
    if event.gateway_id:
        return await db.scalar(
            select(Payment.id).where(
                (Payment.gateway_payment_intent_id == event.gateway_id)
                | (Payment.gateway_order_id == event.gateway_id)
            )
        )
    return None
