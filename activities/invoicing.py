"""Invoicing: the one place an invoice is priced, numbered, inserted and given its PDF reference,
and where the e-mail that carries it is worked out.

Plain async functions over a session (no `@activity.defn`): PaymentActivities and
DocumentActivities run them inside activities, `POST /invoices` inside the request's
transaction. The arithmetic itself (totals, rounding, tax rates) is pure and lives in
domain/invoices.py; rendering the PDF is activities/documents.py.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from activities.providers.storage import check_key
from domain.errors import NotFound
from domain.invoices import (
    INVOICE_NUMBER_SEQUENCE,
    LineItem,
    compute_invoice,
    format_invoice_number,
    line_items_from_json,
    tax_rate_for,
)
from domain.models.appointments import Appointment
from domain.models.bookings import Booking
from domain.models.catalog import Doctor, Hospital
from domain.models.payments import Invoice
from domain.models.subscriptions import Subscription, SubscriptionPlan
from domain.models.users import Patient
from domain.payment import InvoiceStatus

if TYPE_CHECKING:
    from runtime.settings import Settings

PDF_CONTENT_TYPE = "application/pdf"
BOOKING_NOT_FOUND = "BOOKING_NOT_FOUND"
APPOINTMENT_NOT_FOUND = "APPOINTMENT_NOT_FOUND"
INVOICE_NOT_FOUND = "INVOICE_NOT_FOUND"
SUBSCRIPTION_NOT_FOUND = "SUBSCRIPTION_NOT_FOUND"


def invoice_pdf_key(invoice_id: uuid.UUID) -> str:
    """One key per invoice, so a retried or repeated render lands on the same object."""
    return check_key(f"invoices/{invoice_id}")


def invoice_pdf_file_name(invoice_number: str) -> str:
    return f"{invoice_number}.pdf"


def invoice_pdf_url(public_base_url: str, invoice_id: uuid.UUID) -> str:
    """The API route that serves the stored PDF (it does not expire, unlike a presigned URL)."""
    return f"{public_base_url.rstrip('/')}/api/v1/invoices/{invoice_id}/pdf"


async def next_invoice_number(session: AsyncSession, issued_on: date) -> str:
    """A fresh readable number, MV-INV-<year of issue>-<sequence>. A number drawn by a
    transaction that then fails is skipped, never given twice."""
    value = await session.scalar(text(f"SELECT nextval('{INVOICE_NUMBER_SEQUENCE}')"))
    return format_invoice_number(issued_on.year, int(value))


class Billed(Protocol):
    """What an invoice is for: a booking or an appointment (a Payment row is one)."""

    @property
    def booking_id(self) -> uuid.UUID | None: ...

    @property
    def appointment_id(self) -> uuid.UUID | None: ...


async def price_of(
    session: AsyncSession, billed: Billed, settings: Settings
) -> tuple[list[LineItem], Decimal, uuid.UUID | None]:
    """The line items of what is billed (the booking's quotation items, else its total; the
    appointment's fee), the tax rate of the hospital's country and the hospital id.
    NotFound (BOOKING_NOT_FOUND, APPOINTMENT_NOT_FOUND) when the thing billed does not exist."""
    hospital_id: uuid.UUID | None = None
    country: str | None = None
    items: list[LineItem]
    subscription_id = getattr(billed, "subscription_id", None)
    if subscription_id is not None:
        # A plan's price is what the subscriber pays, tax included.
        subscription = await session.get(Subscription, subscription_id)
        if subscription is None:
            raise NotFound("The subscription does not exist.", code=SUBSCRIPTION_NOT_FOUND)
        plan = await session.get(SubscriptionPlan, subscription.plan_id)
        name = plan.name if plan is not None else "plan"
        items = [
            LineItem(
                f"Subscription {name} ({subscription.billing_cycle})",
                getattr(billed, "amount", None) or subscription.amount or Decimal("0"),
            )
        ]
        return items, Decimal("0"), subscription.hospital_id
    if billed.booking_id is not None:
        booking = await session.get(Booking, billed.booking_id)
        if booking is None:
            raise NotFound("The booking does not exist.", code=BOOKING_NOT_FOUND)
        items = list(line_items_from_json((booking.quotation_details or {}).get("items")))
        if not items and booking.total_amount is not None:
            items = [LineItem(f"Booking {booking.booking_number}", booking.total_amount)]
        hospital_id = booking.hospital_id
    else:
        appointment = await session.get(Appointment, billed.appointment_id)
        if appointment is None:
            raise NotFound("The appointment does not exist.", code=APPOINTMENT_NOT_FOUND)
        items = [
            LineItem(
                f"Consultation {appointment.appointment_number}",
                appointment.consultation_fee or Decimal("0"),
            )
        ]
    if hospital_id is not None:
        country = await session.scalar(select(Hospital.country).where(Hospital.id == hospital_id))
    rate = tax_rate_for(country, settings.tax_rates, settings.tax_rate_default)
    return items, rate, hospital_id


async def issue_invoice(
    session: AsyncSession,
    settings: Settings,
    *,
    invoice_id: uuid.UUID,
    patient_id: uuid.UUID | None,
    booking_id: uuid.UUID | None,
    appointment_id: uuid.UUID | None,
    currency: str,
    items: list[LineItem],
    discount: Decimal,
    tax_rate: Decimal,
    hospital_id: uuid.UUID | None,
    issued_on: date,
    status: InvoiceStatus = InvoiceStatus.ISSUED,
    subscription_id: uuid.UUID | None = None,
) -> tuple[Invoice, bool]:
    """Insert the invoice with this id unless it exists (then return that one, and False).
    The payment's invoice and an admin's go through here, so both are numbered and totalled
    the same way."""
    existing = await session.get(Invoice, invoice_id)
    if existing is not None:
        return existing, False
    totals = compute_invoice(items, discount=discount, tax_rate=tax_rate, currency=currency)
    number = await next_invoice_number(session, issued_on)
    inserted = await session.scalar(
        insert(Invoice)
        .values(
            id=invoice_id,
            invoice_number=number,
            booking_id=booking_id,
            appointment_id=appointment_id,
            patient_id=patient_id,
            subscription_id=subscription_id,
            hospital_id=hospital_id,
            total_amount=totals.subtotal,
            tax_rate=totals.tax_rate,
            tax_amount=totals.tax,
            discount_amount=totals.discount,
            final_amount=totals.final,
            currency=currency,
            line_items=totals.line_items_json(),
            invoice_date=issued_on,
            due_date=issued_on,
            pdf_url=invoice_pdf_url(settings.public_base_url, invoice_id),
            status=status.value,
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(Invoice.id)
    )
    invoice = await session.get(Invoice, invoice_id, populate_existing=True)
    assert invoice is not None
    return invoice, inserted is not None


class _Billing:
    def __init__(self, booking_id: uuid.UUID | None, appointment_id: uuid.UUID | None) -> None:
        self.booking_id = booking_id
        self.appointment_id = appointment_id


async def invoice_order(
    session: AsyncSession,
    settings: Settings,
    *,
    booking_id: uuid.UUID | None,
    appointment_id: uuid.UUID | None,
    discount: Decimal,
    status: InvoiceStatus,
    issued_on: date,
) -> Invoice:
    """A new invoice for a booking or an appointment, outside any payment (POST /invoices):
    priced like a payment's invoice (quotation items or the fee, the country's tax), for the
    booking's or appointment's patient and currency. NotFound when neither exists."""
    if booking_id is not None:
        booking = await session.get(Booking, booking_id)
        if booking is None:
            raise NotFound("Booking not found", code=BOOKING_NOT_FOUND)
        patient_id, currency = booking.patient_id, booking.currency
    else:
        appointment = await session.get(Appointment, appointment_id)
        if appointment is None:
            raise NotFound("Appointment not found", code=APPOINTMENT_NOT_FOUND)
        patient_id, currency = appointment.patient_id, appointment.currency
    items, rate, hospital_id = await price_of(
        session, _Billing(booking_id, appointment_id), settings
    )
    invoice, _ = await issue_invoice(
        session,
        settings,
        invoice_id=uuid.uuid4(),
        patient_id=patient_id,
        booking_id=booking_id,
        appointment_id=appointment_id,
        currency=(currency or "USD").upper(),
        items=items,
        discount=discount,
        tax_rate=rate,
        hospital_id=hospital_id,
        issued_on=issued_on,
        status=status,
    )
    return invoice


class InvoiceMail(BaseModel):
    """Who gets the invoice and what the e-mail says (ids and amounts; no medical data)."""

    invoice_id: uuid.UUID
    invoice_number: str
    status: InvoiceStatus
    # The account the invoice is mailed to: the patient's, or for a subscription's invoice the
    # subscriber's (the hospital's admin, or the doctor). None: no account to mail.
    patient_user_id: uuid.UUID | None = None
    booking_id: uuid.UUID | None = None
    template: str
    context: dict[str, str]
    file_name: str


async def reference_of(
    session: AsyncSession, booking_id: uuid.UUID | None, appointment_id: uuid.UUID | None
) -> str | None:
    """What is paid or invoiced, as the patient knows it: the booking or appointment number."""
    if booking_id is not None:
        return await session.scalar(select(Booking.booking_number).where(Booking.id == booking_id))
    if appointment_id is not None:
        return await session.scalar(
            select(Appointment.appointment_number).where(Appointment.id == appointment_id)
        )
    return None


async def subscriber_user_id(session: AsyncSession, subscription_id: uuid.UUID) -> uuid.UUID | None:
    """Who receives a subscription's mail: its hospital's admin, or its doctor."""
    subscription = await session.get(Subscription, subscription_id)
    if subscription is None:
        return None
    if subscription.hospital_id is not None:
        return await session.scalar(
            select(Hospital.admin_user_id).where(Hospital.id == subscription.hospital_id)
        )
    if subscription.doctor_id is not None:
        return await session.scalar(
            select(Doctor.user_id).where(Doctor.id == subscription.doctor_id)
        )
    return None


async def invoice_mail(
    session: AsyncSession, invoice_id: uuid.UUID, public_base_url: str
) -> InvoiceMail:
    """The e-mail of an invoice, to its patient (a subscription's: to its subscriber). A paid
    invoice is mailed as the receipt of the payment (invoice_issued); any other (draft, issued,
    sent) as an amount still due (invoice_sent, with its due date). NotFound when the invoice
    does not exist."""
    invoice = await session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound("Invoice not found", code=INVOICE_NOT_FOUND)
    if invoice.patient_id is None and invoice.subscription_id is not None:
        patient_user_id = await subscriber_user_id(session, invoice.subscription_id)
    else:
        patient_user_id = await session.scalar(
            select(Patient.user_id).where(Patient.id == invoice.patient_id)
        )
    context = {
        "reference": (
            await reference_of(session, invoice.booking_id, invoice.appointment_id)
            or invoice.invoice_number
        ),
        "invoice_number": invoice.invoice_number,
        "amount": f"{invoice.final_amount}",
        "currency": invoice.currency,
        "invoice_url": invoice.pdf_url or invoice_pdf_url(public_base_url, invoice.id),
    }
    status = InvoiceStatus(invoice.status)
    if status == InvoiceStatus.PAID:
        template = "invoice_issued"
    else:
        template = "invoice_sent"
        context["due_date"] = invoice.due_date.isoformat() if invoice.due_date else ""
    return InvoiceMail(
        invoice_id=invoice.id,
        invoice_number=invoice.invoice_number,
        status=status,
        patient_user_id=patient_user_id,
        booking_id=invoice.booking_id,
        template=template,
        context=context,
        file_name=invoice_pdf_file_name(invoice.invoice_number),
    )
