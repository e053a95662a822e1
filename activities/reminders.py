"""Payment reminders (the plan's payment-reminder.job): what the patient still owes, and which
reminder step each debt is at on a given day (in MEDIVOY_ANALYTICS_TIMEZONE).

- an invoice issued or sent and not paid, due on its due_date;
- a booking waiting for its payment (status payment_pending, not paid), due
  MEDIVOY_BOOKING_PAYMENT_DUE_DAYS after it entered payment_pending.

Step `due_soon` from MEDIVOY_PAYMENT_REMINDER_DAYS_BEFORE days before the due day to the due day,
`overdue` after it. The workflow sends each (debt, step) once, for good (the notification's
dedupe key), in the patient's own language (DeliverNotification reads their locale)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.booking import BookingPaymentStatus, BookingStatus
from domain.models.bookings import Booking, BookingStatusHistory
from domain.models.payments import Invoice
from domain.models.users import Patient
from domain.payment import InvoiceStatus
from runtime.settings import Settings

# Reminders found per run at most (the next run takes the rest).
REMINDER_LIMIT = 500
Step = Literal["due_soon", "overdue"]


class RemindersRequest(BaseModel):
    as_of: datetime | None = None


class PaymentReminder(BaseModel):
    """One reminder to send: ids, numbers, the amount and the due day only."""

    kind: Literal["invoice", "booking"]
    entity_id: uuid.UUID
    user_id: uuid.UUID
    step: Step
    reference: str
    amount: str
    currency: str
    due_date: date


class RemindersFound(BaseModel):
    reminders: list[PaymentReminder]


def step_of(today: date, due: date, days_before: int) -> Step | None:
    if today > due:
        return "overdue"
    if today >= due - timedelta(days=days_before):
        return "due_soon"
    return None


class ReminderActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._sessionmaker = sessionmaker
        self._zone = ZoneInfo(settings.analytics_timezone)
        self._days_before = settings.payment_reminder_days_before
        self._booking_due = timedelta(days=settings.booking_payment_due_days)

    @activity.defn
    async def find_payment_reminders(self, request: RemindersRequest) -> RemindersFound:
        now = request.as_of or datetime.now(UTC)
        today = now.astimezone(self._zone).date()
        found: list[PaymentReminder] = []
        async with self._sessionmaker() as session:
            invoices = await session.execute(
                select(
                    Invoice.id,
                    Patient.user_id,
                    Invoice.invoice_number,
                    Invoice.final_amount,
                    Invoice.currency,
                    Invoice.due_date,
                )
                .join(Patient, Patient.id == Invoice.patient_id)
                .where(
                    Invoice.status.in_([InvoiceStatus.ISSUED.value, InvoiceStatus.SENT.value]),
                    Invoice.due_date.is_not(None),
                    Invoice.due_date <= today + timedelta(days=self._days_before),
                    Patient.user_id.is_not(None),
                )
                .order_by(Invoice.due_date, Invoice.id)
                .limit(REMINDER_LIMIT)
            )
            for row in invoices:
                step = step_of(today, row.due_date, self._days_before)
                if step is not None:
                    found.append(
                        PaymentReminder(
                            kind="invoice",
                            entity_id=row.id,
                            user_id=row.user_id,
                            step=step,
                            reference=row.invoice_number,
                            amount=str(row.final_amount),
                            currency=row.currency,
                            due_date=row.due_date,
                        )
                    )
            entered = (
                select(func.max(BookingStatusHistory.created_at))
                .where(
                    BookingStatusHistory.booking_id == Booking.id,
                    BookingStatusHistory.to_status == BookingStatus.PAYMENT_PENDING.value,
                )
                .scalar_subquery()
            )
            bookings = await session.execute(
                select(
                    Booking.id,
                    Patient.user_id,
                    Booking.booking_number,
                    Booking.total_amount,
                    Booking.currency,
                    entered.label("entered"),
                )
                .join(Patient, Patient.id == Booking.patient_id)
                .where(
                    Booking.status == BookingStatus.PAYMENT_PENDING.value,
                    Booking.payment_status.in_(
                        [BookingPaymentStatus.UNPAID.value, BookingPaymentStatus.PENDING.value]
                    ),
                    Patient.user_id.is_not(None),
                )
                .order_by(Booking.created_at, Booking.id)
                .limit(REMINDER_LIMIT)
            )
            for b in bookings:
                since = b.entered or now
                due = (since + self._booking_due).astimezone(self._zone).date()
                step = step_of(today, due, self._days_before)
                if step is not None and len(found) < REMINDER_LIMIT:
                    found.append(
                        PaymentReminder(
                            kind="booking",
                            entity_id=b.id,
                            user_id=b.user_id,
                            step=step,
                            reference=b.booking_number,
                            amount=str(b.total_amount or ""),
                            currency=b.currency or "",
                            due_date=due,
                        )
                    )
        return RemindersFound(reminders=found)


def reminder_activity_list(activities: ReminderActivities) -> list[Callable[..., Awaitable[Any]]]:
    return [activities.find_payment_reminders]
