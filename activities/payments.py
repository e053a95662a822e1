"""Payment writes and gateway calls for PaymentWorkflow: the row and its history, the price, the
gateway intent, refunds and the invoice. Every step is keyed by the payment, so a retry (or a
replayed workflow) changes nothing twice.

DB steps take milliseconds and run as local activities (rule 8); gateway calls are ordinary
activities with long retries. Refusals the caller should see are non-retryable ApplicationErrors
whose type is the domain error class (Invalid, Conflict, NotFound) and whose first detail carries
the stable code, so api/errors.update_failed renders them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import invoicing
from activities.lifecycle import HISTORY_GAP as HISTORY_GAP
from activities.lifecycle import refusal, write_first_history, write_transition
from activities.providers.gateways import (
    GatewayCheckout,
    GatewayError,
    GatewayRefund,
    GatewayState,
    PaymentGateway,
    refund_idempotency_key,
)
from domain.errors import Conflict, Invalid, NotFound
from domain.invoices import LineItem, compute_invoice
from domain.lifecycle import SYSTEM, Actor
from domain.models.appointments import Appointment
from domain.models.bookings import Booking
from domain.models.payments import Payment, PaymentRefund, PaymentStatusHistory
from domain.models.subscriptions import Subscription
from domain.models.users import Patient
from domain.money import to_minor
from domain.payment import PAYABLE_APPOINTMENT, PAYABLE_BOOKING, InvoiceStatus, PaymentStatus
from domain.payment import PaymentGateway as GatewayName
from domain.subscription import SubscriptionStatus

if TYPE_CHECKING:
    from runtime.settings import Settings

# Stable codes (api answers with them; dashboards match on them).
PAYMENT_NOT_FOUND = "PAYMENT_NOT_FOUND"
BOOKING_NOT_FOUND = "BOOKING_NOT_FOUND"
APPOINTMENT_NOT_FOUND = "APPOINTMENT_NOT_FOUND"
BOOKING_NOT_PAYABLE = "BOOKING_NOT_PAYABLE"
APPOINTMENT_NOT_PAYABLE = "APPOINTMENT_NOT_PAYABLE"
SUBSCRIPTION_NOT_FOUND = "SUBSCRIPTION_NOT_FOUND"
SUBSCRIPTION_NOT_PAYABLE = "SUBSCRIPTION_NOT_PAYABLE"
PAYMENT_ALREADY_PENDING = "PAYMENT_ALREADY_PENDING"
AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
GATEWAY_REJECTED = "GATEWAY_REJECTED"
GATEWAY_NOT_CONFIGURED = "GATEWAY_NOT_CONFIGURED"

OPEN_STATUSES = (PaymentStatus.PENDING.value, PaymentStatus.PROCESSING.value)
# Invoice ids come from the payment: a retried or repeated issue finds the first one.
INVOICE_NAMESPACE = uuid.UUID("5b0a3c1e-1f0c-4a52-9a3e-6f1d6f0e9b21")


def invoice_id_for(payment_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(INVOICE_NAMESPACE, f"payment:{payment_id}:invoice")


class NewPayment(BaseModel):
    """The payment as the API asked for it. The amount is decided here, from the server."""

    payment_id: uuid.UUID
    booking_id: uuid.UUID | None = None
    appointment_id: uuid.UUID | None = None
    # A subscription's first charge (the subscription's workflow stored its price).
    subscription_id: uuid.UUID | None = None
    currency: str
    payment_method: str | None = None
    gateway: GatewayName
    coupon_code: str | None = None
    # What the client believes the price is (before coupon and tax); must match when given.
    client_amount: Decimal | None = None
    created_by_user_id: uuid.UUID | None = None
    created_by_role: str | None = None


class StoredPayment(BaseModel):
    """What the workflow needs of the stored row: ids, status and money, no PHI."""

    payment_id: uuid.UUID
    status: PaymentStatus
    status_seq: int
    # None for a subscription's payment (a hospital or a doctor pays).
    patient_id: uuid.UUID | None = None
    patient_user_id: uuid.UUID | None = None
    booking_id: uuid.UUID | None = None
    appointment_id: uuid.UUID | None = None
    subscription_id: uuid.UUID | None = None
    # The subscription's customer at the gateway: the method paid with is kept for renewals.
    customer_id: str | None = None
    # Booking / appointment number, for messages.
    reference: str | None = None
    gateway: GatewayName
    # The price before coupon and tax.
    purchase_amount: Decimal
    amount: Decimal
    discount_amount: Decimal = Decimal("0")
    currency: str
    gateway_id: str | None = None
    refunded: Decimal = Decimal("0")
    refunds: int = 0


class PricingRequest(BaseModel):
    payment_id: uuid.UUID


class AppointmentEndQuery(BaseModel):
    appointment_id: uuid.UUID


class Pricing(BaseModel):
    payment_id: uuid.UUID
    subtotal: Decimal
    discount: Decimal
    tax_rate: Decimal
    tax: Decimal
    # What the patient is charged: subtotal - discount + tax (= the invoice's final amount).
    amount: Decimal


class PaymentChanges(BaseModel):
    """Row fields a transition sets with the status; None leaves a field as it is."""

    gateway_order_id: str | None = None
    gateway_payment_intent_id: str | None = None
    gateway_transaction_id: str | None = None
    idempotency_key: str | None = None
    failure_reason: str | None = None
    payment_date: datetime | None = None
    refund_amount: Decimal | None = None
    refund_date: datetime | None = None
    metadata: dict[str, Any] | None = None


class PaymentTransition(BaseModel):
    payment_id: uuid.UUID
    seq: int = Field(ge=1)
    from_status: PaymentStatus | None
    to_status: PaymentStatus
    actor_user_id: uuid.UUID | None = None
    actor_role: str = SYSTEM
    notes: str | None = None
    changes: PaymentChanges = Field(default_factory=PaymentChanges)


class RecordedPaymentTransition(BaseModel):
    payment_id: uuid.UUID
    seq: int
    status: PaymentStatus
    written: bool


class IntentRequest(BaseModel):
    payment_id: uuid.UUID
    gateway: GatewayName
    amount: Decimal
    currency: str
    attempt: int = 1
    # Ids only: it is visible in the gateway's dashboard.
    description: str
    # A subscription's first charge: its customer, so the method is kept for renewals.
    customer_id: str | None = None


class GatewayRef(BaseModel):
    gateway: GatewayName
    gateway_id: str


class RefundRequest(BaseModel):
    payment_id: uuid.UUID
    gateway: GatewayName
    gateway_id: str
    amount: Decimal
    currency: str
    # 1 for the first refund of the payment, 2 for the second...
    number: int = Field(ge=1)


class InvoiceRequest(BaseModel):
    payment_id: uuid.UUID
    issued_on: date


class IssuedInvoice(BaseModel):
    invoice_id: uuid.UUID
    invoice_number: str
    final_amount: Decimal
    currency: str
    pdf_url: str | None = None
    created: bool


class InvoiceStatusChange(BaseModel):
    invoice_id: uuid.UUID
    status: InvoiceStatus


def _gateway_failure(error: GatewayError) -> ApplicationError:
    # The summary only: the full text may carry the gateway's message about the customer.
    if error.permanent:
        return refusal(Invalid(error.summary, code=GATEWAY_REJECTED))
    return ApplicationError(error.summary, type="GatewayUnavailable")


async def price_of(
    session: AsyncSession, payment: Payment, settings: Settings
) -> tuple[list[LineItem], Decimal, uuid.UUID | None]:
    """activities/invoicing.price_of, its NotFound as this module's non-retryable refusal."""
    try:
        return await invoicing.price_of(session, payment, settings)
    except NotFound as missing:
        raise refusal(missing) from None


# The one way an invoice row is made (numbered, totalled): activities/invoicing.py.
issue_invoice = invoicing.issue_invoice


class PaymentActivities:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        gateways: dict[GatewayName, PaymentGateway],
        settings: Settings,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._gateways = gateways
        self._settings = settings

    @activity.defn
    async def create_payment(self, new: NewPayment) -> StoredPayment:
        """Insert the payment (pending, history seq 1) at the server's price, or return the one
        an earlier try stored. Refuses what cannot be paid (400/404/409 through the API)."""
        async with self._sessionmaker() as session, session.begin():
            existing = await session.get(Payment, new.payment_id)
            if existing is not None:
                return await self._stored(session, existing)
            currency = new.currency.strip().upper()
            if new.booking_id is not None:
                booking = await session.scalar(
                    select(Booking).where(Booking.id == new.booking_id).with_for_update()
                )
                if booking is None:
                    raise refusal(NotFound("The booking does not exist.", code=BOOKING_NOT_FOUND))
                # The row lock on the booking serializes concurrent POST /payments for it.
                open_payment = await session.scalar(
                    select(Payment.id).where(
                        Payment.booking_id == booking.id, Payment.status.in_(OPEN_STATUSES)
                    )
                )
                if open_payment is None and booking.status not in PAYABLE_BOOKING:
                    raise refusal(
                        Conflict(
                            f"A booking is paid once confirmed; this one is {booking.status}.",
                            code=BOOKING_NOT_PAYABLE,
                        )
                    )
                price, price_currency = booking.total_amount, booking.currency
                patient_id: uuid.UUID | None = booking.patient_id
            elif new.subscription_id is not None:
                subscription = await session.scalar(
                    select(Subscription)
                    .where(Subscription.id == new.subscription_id)
                    .with_for_update()
                )
                if subscription is None:
                    raise refusal(
                        NotFound("The subscription does not exist.", code=SUBSCRIPTION_NOT_FOUND)
                    )
                if subscription.status != SubscriptionStatus.INCOMPLETE.value:
                    raise refusal(
                        Conflict(
                            f"This subscription is {subscription.status}: nothing to pay.",
                            code=SUBSCRIPTION_NOT_PAYABLE,
                        )
                    )
                price, price_currency = subscription.amount, subscription.currency
                patient_id = None
                open_payment = await session.scalar(
                    select(Payment.id).where(
                        Payment.subscription_id == subscription.id,
                        Payment.status.in_(OPEN_STATUSES),
                    )
                )
            else:
                appointment = await session.scalar(
                    select(Appointment)
                    .where(Appointment.id == new.appointment_id)
                    .with_for_update()
                )
                if appointment is None:
                    raise refusal(
                        NotFound("The appointment does not exist.", code=APPOINTMENT_NOT_FOUND)
                    )
                if appointment.status not in PAYABLE_APPOINTMENT:
                    raise refusal(
                        Conflict(
                            f"This appointment is {appointment.status}: nothing to pay.",
                            code=APPOINTMENT_NOT_PAYABLE,
                        )
                    )
                price, price_currency = appointment.consultation_fee, appointment.currency
                patient_id = appointment.patient_id
                open_payment = await session.scalar(
                    select(Payment.id).where(
                        Payment.appointment_id == appointment.id,
                        Payment.status.in_(OPEN_STATUSES),
                    )
                )
            if price is None or price <= 0 or not price_currency:
                raise refusal(Conflict("There is no price to pay yet.", code=BOOKING_NOT_PAYABLE))
            if open_payment is not None:
                raise refusal(
                    Conflict(
                        f"Payment {open_payment} is still open: complete it or let it expire.",
                        code=PAYMENT_ALREADY_PENDING,
                    )
                )
            if currency != price_currency.upper():
                raise refusal(
                    Invalid(
                        f"This is priced in {price_currency.upper()}, not {currency}.",
                        code=CURRENCY_MISMATCH,
                    )
                )
            if new.client_amount is not None and new.client_amount != price:
                raise refusal(
                    Invalid(f"The amount to pay is {price} {currency}.", code=AMOUNT_MISMATCH)
                )
            session.add(
                Payment(
                    id=new.payment_id,
                    transaction_id=f"MV-PAY-{new.payment_id.hex[:16].upper()}",
                    booking_id=new.booking_id,
                    appointment_id=new.appointment_id,
                    subscription_id=new.subscription_id,
                    patient_id=patient_id,
                    amount=price,
                    currency=currency,
                    payment_method=new.payment_method,
                    payment_gateway=new.gateway.value,
                    status=PaymentStatus.PENDING.value,
                    status_seq=1,
                    metadata_={"purchase_amount": str(price)},
                )
            )
            await session.flush()
            await write_first_history(
                session,
                Payment,
                PaymentStatusHistory,
                new.payment_id,
                PaymentStatus.PENDING,
                user_id=new.created_by_user_id,
                role=new.created_by_role,
            )
            await session.flush()
            payment = await session.get(Payment, new.payment_id)
            assert payment is not None
            return await self._stored(session, payment)

    @activity.defn
    async def appointment_end(self, query: AppointmentEndQuery) -> datetime | None:
        """When the appointment ends now (a reschedule moves it): its payment's refund window
        lasts past it, so that a cancellation or a no-show can still be refunded."""
        async with self._sessionmaker() as session:
            return await session.scalar(
                select(Appointment.ends_at).where(Appointment.id == query.appointment_id)
            )

    @activity.defn
    async def price_payment(self, request: PricingRequest) -> Pricing:
        """Add the tax of the hospital's country to what is left after the coupon, so the charge
        equals the invoice's final amount. Priced once: a repeat returns the stored price."""
        async with self._sessionmaker() as session, session.begin():
            payment = await session.scalar(
                select(Payment).where(Payment.id == request.payment_id).with_for_update()
            )
            if payment is None:
                raise refusal(NotFound("The payment does not exist.", code=PAYMENT_NOT_FOUND))
            meta = dict(payment.metadata_ or {})
            if "pricing" in meta:
                return Pricing(payment_id=payment.id, **meta["pricing"])
            items, rate, _ = await price_of(session, payment, self._settings)
            totals = compute_invoice(
                items, discount=payment.discount_amount, tax_rate=rate, currency=payment.currency
            )
            pricing = Pricing(
                payment_id=payment.id,
                subtotal=totals.subtotal,
                discount=totals.discount,
                tax_rate=totals.tax_rate,
                tax=totals.tax,
                amount=totals.final,
            )
            to_minor(totals.final, payment.currency)
            meta["pricing"] = pricing.model_dump(mode="json", exclude={"payment_id"})
            payment.metadata_ = meta
            payment.amount = totals.final
            return pricing

    @activity.defn
    async def record_payment_transition(
        self, record: PaymentTransition
    ) -> RecordedPaymentTransition:
        """Move the row and append its history row in one transaction; a repeat is a no-op."""
        async with self._sessionmaker() as session, session.begin():
            changes = record.changes.model_dump(exclude={"metadata"})
            written = await write_payment_transition(
                session,
                record.payment_id,
                record.seq,
                record.from_status,
                record.to_status,
                Actor(record.actor_role, record.actor_user_id),
                record.notes,
                changes,
                merge={"metadata_": record.changes.metadata or {}},
            )
        return RecordedPaymentTransition(
            payment_id=record.payment_id, seq=record.seq, status=record.to_status, written=written
        )

    def _gateway(self, name: GatewayName) -> PaymentGateway:
        gateway = self._gateways.get(name)
        if gateway is None:
            raise refusal(Invalid(f"{name.value} is not configured", code=GATEWAY_NOT_CONFIGURED))
        return gateway

    @activity.defn
    async def create_gateway_intent(self, request: IntentRequest) -> GatewayCheckout:
        """The attempt's PaymentIntent / order, keyed payment:<id>:intent[:attempt]."""
        gateway = self._gateway(request.gateway)
        try:
            return await gateway.create(
                request.payment_id,
                to_minor(request.amount, request.currency),
                request.currency,
                request.description,
                {"payment_id": str(request.payment_id)},
                attempt=request.attempt,
                **({"customer_id": request.customer_id} if request.customer_id else {}),
            )
        except GatewayError as error:
            raise _gateway_failure(error) from None

    @activity.defn
    async def retrieve_gateway_state(self, ref: GatewayRef) -> GatewayState:
        try:
            return await self._gateway(ref.gateway).retrieve(ref.gateway_id)
        except GatewayError as error:
            raise _gateway_failure(error) from None

    @activity.defn
    async def cancel_gateway_intent(self, ref: GatewayRef) -> GatewayState:
        try:
            return await self._gateway(ref.gateway).cancel(ref.gateway_id)
        except GatewayError as error:
            raise _gateway_failure(error) from None

    @activity.defn
    async def refund_at_gateway(self, request: RefundRequest) -> GatewayRefund:
        try:
            return await self._gateway(request.gateway).refund(
                request.gateway_id,
                to_minor(request.amount, request.currency),
                refund_idempotency_key(request.payment_id, request.number),
                {"payment_id": str(request.payment_id)},
            )
        except GatewayError as error:
            raise _gateway_failure(error) from None

    @activity.defn
    async def create_invoice(self, request: InvoiceRequest) -> IssuedInvoice:
        """The invoice of a completed payment: one per payment (its id comes from the payment),
        the same numbers the payment was priced with."""
        invoice_id = invoice_id_for(request.payment_id)
        async with self._sessionmaker() as session, session.begin():
            payment = await session.get(Payment, request.payment_id)
            if payment is None:
                raise refusal(NotFound("The payment does not exist.", code=PAYMENT_NOT_FOUND))
            items, rate, hospital_id = await price_of(session, payment, self._settings)
            pricing = (payment.metadata_ or {}).get("pricing") or {}
            if "tax_rate" in pricing:
                rate = Decimal(str(pricing["tax_rate"]))
            invoice, created = await issue_invoice(
                session,
                self._settings,
                invoice_id=invoice_id,
                patient_id=payment.patient_id,
                booking_id=payment.booking_id,
                appointment_id=payment.appointment_id,
                currency=payment.currency,
                items=items,
                discount=payment.discount_amount,
                tax_rate=rate,
                hospital_id=hospital_id,
                issued_on=request.issued_on,
                status=InvoiceStatus.PAID,
            )
            payment.metadata_ = {**(payment.metadata_ or {}), "invoice_id": str(invoice.id)}
            return IssuedInvoice(
                invoice_id=invoice.id,
                invoice_number=invoice.invoice_number,
                final_amount=invoice.final_amount,
                currency=invoice.currency,
                pdf_url=invoice.pdf_url,
                created=created,
            )

    async def _stored(self, session: AsyncSession, payment: Payment) -> StoredPayment:
        patient_user_id = (
            await session.scalar(select(Patient.user_id).where(Patient.id == payment.patient_id))
            if payment.patient_id is not None
            else None
        )
        customer_id = (
            await session.scalar(
                select(Subscription.gateway_customer_id).where(
                    Subscription.id == payment.subscription_id
                )
            )
            if payment.subscription_id is not None
            else None
        )
        reference = await invoicing.reference_of(
            session, payment.booking_id, payment.appointment_id
        )
        meta = payment.metadata_ or {}
        return StoredPayment(
            payment_id=payment.id,
            status=PaymentStatus(payment.status),
            status_seq=payment.status_seq,
            patient_id=payment.patient_id,
            patient_user_id=patient_user_id,
            booking_id=payment.booking_id,
            appointment_id=payment.appointment_id,
            subscription_id=payment.subscription_id,
            customer_id=customer_id,
            reference=reference,
            gateway=GatewayName(payment.payment_gateway),
            purchase_amount=Decimal(str(meta.get("purchase_amount", payment.amount))),
            amount=payment.amount,
            discount_amount=payment.discount_amount,
            currency=payment.currency,
            gateway_id=payment.gateway_payment_intent_id or payment.gateway_order_id,
            refunded=payment.refund_amount or Decimal("0"),
            refunds=int(meta.get("refunds", 0)),
        )


async def write_payment_transition(
    session: AsyncSession,
    payment_id: uuid.UUID,
    seq: int,
    from_status: PaymentStatus | None,
    to_status: PaymentStatus,
    actor: Actor,
    notes: str | None,
    changes: Mapping[str, Any],
    *,
    merge: Mapping[str, Mapping[str, Any]] | None = None,
) -> bool:
    """write_transition for a payment, and the refund it records (refund_amount, the running
    total, grew) on its own payment_refunds row, keyed by the history row: a payment's
    refund_date is only its last refund's, the row keeps each one's amount and instant."""
    before = (
        await session.execute(
            select(Payment.refund_amount, Payment.currency)
            .where(Payment.id == payment_id)
            .with_for_update()
        )
    ).first()
    written = await write_transition(
        session,
        Payment,
        PaymentStatusHistory,
        payment_id,
        seq,
        from_status,
        to_status,
        actor,
        notes,
        changes,
        merge=merge,
        not_found_code=PAYMENT_NOT_FOUND,
    )
    total = changes.get("refund_amount")
    if written and total is not None and before is not None:
        added = Decimal(total) - (before.refund_amount or Decimal("0"))
        if added > 0:
            await session.execute(
                insert(PaymentRefund)
                .values(
                    payment_id=payment_id,
                    seq=seq,
                    amount=added,
                    currency=before.currency,
                    refunded_at=changes.get("refund_date") or func.now(),
                )
                .on_conflict_do_nothing(index_elements=["payment_id", "seq"])
            )
    return written


def build_payment_activities(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    gateways: Mapping[GatewayName, PaymentGateway],
) -> PaymentActivities:
    """Over the gateways the wiring built (activities/providers/wiring.py)."""
    return PaymentActivities(sessionmaker, dict(gateways), settings)


def payment_activity_list(activities: PaymentActivities) -> list[Callable[..., Awaitable[Any]]]:
    """Every payment activity, bound to its dependencies, for Worker(activities=...)."""
    return [
        activities.create_payment,
        activities.price_payment,
        activities.record_payment_transition,
        activities.create_gateway_intent,
        activities.retrieve_gateway_state,
        activities.cancel_gateway_intent,
        activities.refund_at_gateway,
        activities.create_invoice,
        activities.appointment_end,
    ]
