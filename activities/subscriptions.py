"""Subscription writes and off-session charges for SubscriptionWorkflow: the row and its history,
the plan's terms, the gateway customer and saved method, each renewal's charge (a payments row
linked to the subscription) and its invoice. Every step is keyed by the subscription and the
period, so a retried activity (or a replayed workflow) never writes or charges twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import invoicing
from activities.lifecycle import refusal, write_first_history, write_transition
from activities.payments import IssuedInvoice, write_payment_transition
from activities.providers.gateways import (
    GatewayError,
    GatewayRefund,
    GatewayState,
    GatewayStatus,
    PaymentGateway,
    SavedMethod,
    SavedMethodGateway,
    refund_idempotency_key,
    subscription_charge_key,
    subscription_customer_key,
)
from domain.errors import Conflict, Invalid, NotFound
from domain.lifecycle import SYSTEM, Actor
from domain.models.catalog import Doctor, Hospital
from domain.models.payments import Payment, PaymentStatusHistory
from domain.models.subscriptions import Subscription, SubscriptionPlan, SubscriptionStatusHistory
from domain.models.users import User
from domain.money import to_minor
from domain.payment import InvoiceStatus, PaymentStatus
from domain.payment import PaymentGateway as GatewayName
from domain.subscription import BillingCycle, PlanTarget, SubscriptionStatus, price_of

if TYPE_CHECKING:
    from runtime.settings import Settings

SUBSCRIPTION_NOT_FOUND = "SUBSCRIPTION_NOT_FOUND"
PLAN_NOT_FOUND = "PLAN_NOT_FOUND"
PLAN_NOT_FOR_HOLDER = "PLAN_NOT_FOR_HOLDER"
HOLDER_NOT_FOUND = "HOLDER_NOT_FOUND"
SUBSCRIPTION_EXISTS = "SUBSCRIPTION_EXISTS"
SAVED_METHOD_UNSUPPORTED = "SAVED_METHOD_UNSUPPORTED"
GATEWAY_REJECTED = "GATEWAY_REJECTED"
# Charges and invoices of a subscription get ids from (subscription, period, kind, attempt).
CHARGE_NAMESPACE = uuid.UUID("0e7c2b6a-5f43-4c0e-9d7e-2a51c3f0b8d4")
LIVE = (
    SubscriptionStatus.INCOMPLETE.value,
    SubscriptionStatus.ACTIVE.value,
    SubscriptionStatus.PAST_DUE.value,
)


def charge_id_for(subscription_id: uuid.UUID, period: int, kind: str, attempt: int) -> uuid.UUID:
    return uuid.uuid5(
        CHARGE_NAMESPACE, subscription_charge_key(subscription_id, period, kind, attempt)
    )


def first_payment_id_for(subscription_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(CHARGE_NAMESPACE, f"subscription:{subscription_id}:first-payment")


def invoice_id_for_charge(payment_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(CHARGE_NAMESPACE, f"payment:{payment_id}:subscription-invoice")


class NewSubscription(BaseModel):
    subscription_id: uuid.UUID
    plan_id: uuid.UUID
    hospital_id: uuid.UUID | None = None
    doctor_id: uuid.UUID | None = None
    billing_cycle: BillingCycle
    gateway: GatewayName
    created_by_user_id: uuid.UUID | None = None
    created_by_role: str | None = None


class PlanTerms(BaseModel):
    plan_id: uuid.UUID
    name: str
    target_user: PlanTarget
    price_monthly: Decimal | None = None
    price_yearly: Decimal | None = None
    currency: str
    is_active: bool = True

    def price(self, cycle: BillingCycle) -> Decimal:
        return price_of(self.price_monthly, self.price_yearly, cycle)


class StoredSubscription(BaseModel):
    """What the workflow needs of the stored row: ids, terms and status; no contact details."""

    subscription_id: uuid.UUID
    status: SubscriptionStatus
    status_seq: int
    plan: PlanTerms
    hospital_id: uuid.UUID | None = None
    doctor_id: uuid.UUID | None = None
    billing_cycle: BillingCycle
    amount: Decimal
    currency: str
    gateway: GatewayName
    timezone: str
    # Who is told: the hospital's admin, or the doctor.
    holder_user_ids: list[uuid.UUID] = Field(default_factory=list)


class SubscriptionChanges(BaseModel):
    """Row fields a transition sets with the status; None leaves a field as it is, and the
    names in `clear` are set to NULL."""

    plan_id: uuid.UUID | None = None
    billing_cycle: BillingCycle | None = None
    amount: Decimal | None = None
    start_date: date | None = None
    end_date: date | None = None
    current_period: int | None = None
    next_charge_at: datetime | None = None
    next_charge_amount: Decimal | None = None
    auto_renew: bool | None = None
    cancelled_at: datetime | None = None
    gateway_customer_id: str | None = None
    gateway_payment_method_id: str | None = None
    card_last4: str | None = None
    pending_change: dict[str, Any] | None = None
    dunning: dict[str, Any] | None = None
    clear: list[str] = Field(default_factory=list)


CLEARABLE = frozenset({"pending_change", "dunning", "next_charge_at", "next_charge_amount"})


class SubscriptionTransition(BaseModel):
    subscription_id: uuid.UUID
    seq: int = Field(ge=1)
    from_status: SubscriptionStatus | None
    to_status: SubscriptionStatus
    actor_user_id: uuid.UUID | None = None
    actor_role: str = SYSTEM
    notes: str | None = None
    changes: SubscriptionChanges = Field(default_factory=SubscriptionChanges)


class CustomerRequest(BaseModel):
    subscription_id: uuid.UUID
    gateway: GatewayName


class SavedMethodRequest(BaseModel):
    subscription_id: uuid.UUID
    gateway: GatewayName
    customer_id: str
    # The first charge's payment (its intent paid with the method), or a new method's id.
    payment_id: uuid.UUID | None = None
    payment_method_id: str | None = None


class ChargeRequest(BaseModel):
    subscription_id: uuid.UUID
    period: int = Field(ge=0)
    # renewal (its tries numbered from 1) or upgrade (the prorated difference).
    kind: str = "renewal"
    attempt: int = Field(default=1, ge=1)
    amount: Decimal
    currency: str
    gateway: GatewayName
    customer_id: str
    payment_method_id: str
    # The workflow's now: the charge's payment date.
    at: datetime


class ChargeResult(BaseModel):
    payment_id: uuid.UUID
    succeeded: bool
    decline_code: str | None = None
    gateway_id: str | None = None


class SubscriptionInvoiceRequest(BaseModel):
    subscription_id: uuid.UUID
    payment_id: uuid.UUID
    issued_on: date


class ChargeRefundRequest(BaseModel):
    subscription_id: uuid.UUID
    payment_id: uuid.UUID
    amount: Decimal
    at: datetime


def _terms(plan: SubscriptionPlan) -> PlanTerms:
    return PlanTerms(
        plan_id=plan.id,
        name=plan.name,
        target_user=PlanTarget(plan.target_user),
        price_monthly=plan.price_monthly,
        price_yearly=plan.price_yearly,
        currency=(plan.currency or "USD").upper(),
        is_active=plan.is_active,
    )


def _gateway_failure(error: GatewayError) -> ApplicationError:
    if error.permanent:
        return refusal(Invalid(error.summary, code=GATEWAY_REJECTED))
    return ApplicationError(error.summary, type="GatewayUnavailable")


class SubscriptionActivities:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        gateways: Mapping[GatewayName, PaymentGateway],
        settings: Settings,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._gateways = dict(gateways)
        self._settings = settings

    def _saver(self, name: GatewayName) -> SavedMethodGateway:
        gateway = self._gateways.get(name)
        if gateway is None or not hasattr(gateway, "charge_saved"):
            raise refusal(
                Invalid(
                    f"{name.value} cannot keep a payment method for renewals",
                    code=SAVED_METHOD_UNSUPPORTED,
                )
            )
        return cast("SavedMethodGateway", gateway)

    @activity.defn
    async def create_subscription(self, new: NewSubscription) -> StoredSubscription:
        """Insert the subscription (incomplete, history seq 1) at the plan's price, or return
        the one an earlier try stored. Refuses an unknown or retired plan, a plan for the other
        kind of holder, and a holder that already has a live subscription."""
        async with self._sessionmaker() as session, session.begin():
            existing = await session.get(Subscription, new.subscription_id)
            if existing is not None:
                return await self._stored(session, existing)
            # Renewals are charged off-session on a saved method (Stripe's card, Razorpay's
            # recurring token): a gateway without one is refused before anything is written.
            self._saver(new.gateway)
            plan = await session.get(SubscriptionPlan, new.plan_id)
            if plan is None or not plan.is_active:
                raise refusal(NotFound("No such plan is on sale.", code=PLAN_NOT_FOUND))
            target = PlanTarget.HOSPITAL if new.hospital_id is not None else PlanTarget.DOCTOR
            if plan.target_user != target.value:
                raise refusal(
                    Invalid(f"This plan is for a {plan.target_user}.", code=PLAN_NOT_FOR_HOLDER)
                )
            try:
                price = price_of(plan.price_monthly, plan.price_yearly, new.billing_cycle)
            except Invalid as refused:
                raise refusal(refused) from None
            holder: Any = (
                select(Hospital.id).where(Hospital.id == new.hospital_id).with_for_update()
                if new.hospital_id is not None
                else select(Doctor.id).where(Doctor.id == new.doctor_id).with_for_update()
            )
            if await session.scalar(holder) is None:
                raise refusal(NotFound("The subscriber does not exist.", code=HOLDER_NOT_FOUND))
            held_by = (
                Subscription.hospital_id == new.hospital_id
                if new.hospital_id is not None
                else Subscription.doctor_id == new.doctor_id
            )
            live = await session.scalar(
                select(Subscription.id).where(held_by, Subscription.status.in_(LIVE))
            )
            if live is not None:
                raise refusal(
                    Conflict(
                        f"Subscription {live} is still running: change or cancel it.",
                        code=SUBSCRIPTION_EXISTS,
                    )
                )
            users = await self._holder_users(session, new.hospital_id, new.doctor_id)
            zone = await session.scalar(
                select(User.timezone).where(User.id.in_(users), User.timezone.is_not(None))
            )
            session.add(
                Subscription(
                    id=new.subscription_id,
                    plan_id=plan.id,
                    hospital_id=new.hospital_id,
                    doctor_id=new.doctor_id,
                    billing_cycle=new.billing_cycle.value,
                    status=SubscriptionStatus.INCOMPLETE.value,
                    status_seq=1,
                    timezone=zone or self._settings.default_timezone,
                    payment_gateway=new.gateway.value,
                    amount=price,
                    currency=(plan.currency or "USD").upper(),
                )
            )
            await session.flush()
            await write_first_history(
                session,
                Subscription,
                SubscriptionStatusHistory,
                new.subscription_id,
                SubscriptionStatus.INCOMPLETE,
                user_id=new.created_by_user_id,
                role=new.created_by_role,
            )
            await session.flush()
            row = await session.get(Subscription, new.subscription_id)
            assert row is not None
            return await self._stored(session, row)

    @activity.defn
    async def read_plan_terms(self, plan_id: uuid.UUID) -> PlanTerms:
        async with self._sessionmaker() as session:
            plan = await session.get(SubscriptionPlan, plan_id)
            if plan is None:
                raise refusal(NotFound("No such plan.", code=PLAN_NOT_FOUND))
            return _terms(plan)

    @activity.defn
    async def record_subscription_transition(self, record: SubscriptionTransition) -> bool:
        """Move the row and append its history row in one transaction; a repeat is a no-op."""
        async with self._sessionmaker() as session, session.begin():
            changes = record.changes.model_dump(exclude={"clear"})
            written = await write_transition(
                session,
                Subscription,
                SubscriptionStatusHistory,
                record.subscription_id,
                record.seq,
                record.from_status,
                record.to_status,
                Actor(record.actor_role, record.actor_user_id),
                record.notes,
                changes,
                not_found_code=SUBSCRIPTION_NOT_FOUND,
            )
            if written and record.changes.clear:
                row = await session.get(Subscription, record.subscription_id)
                assert row is not None
                for name in record.changes.clear:
                    if name in CLEARABLE:
                        setattr(row, name, None)
        return written

    @activity.defn
    async def create_subscription_customer(self, request: CustomerRequest) -> str:
        """The subscriber's customer at the gateway (one per subscription, keyed by it)."""
        gateway = self._saver(request.gateway)
        try:
            customer = await gateway.create_customer(
                subscription_customer_key(request.subscription_id),
                {"subscription_id": str(request.subscription_id)},
            )
        except GatewayError as error:
            raise _gateway_failure(error) from None
        async with self._sessionmaker() as session, session.begin():
            row = await session.get(Subscription, request.subscription_id, with_for_update=True)
            if row is not None and row.gateway_customer_id is None:
                row.gateway_customer_id = customer
        return customer

    @activity.defn
    async def save_payment_method(self, request: SavedMethodRequest) -> SavedMethod:
        """The method that paid the first charge, or a new one the subscriber gave, attached
        to the subscription's customer for off-session charges."""
        gateway = self._saver(request.gateway)
        try:
            if request.payment_method_id is not None:
                return await gateway.attach_method(request.payment_method_id, request.customer_id)
            async with self._sessionmaker() as session:
                payment = await session.get(Payment, request.payment_id)
                # Stripe's PaymentIntent, or Razorpay's order whose payment saved the token.
                intent = (
                    payment.gateway_payment_intent_id or payment.gateway_order_id
                    if payment is not None
                    else None
                )
            if intent is None:
                raise refusal(NotFound("The first payment has no intent.", code="NO_INTENT"))
            return await gateway.saved_method(intent, request.customer_id)
        except GatewayError as error:
            raise _gateway_failure(error) from None

    @activity.defn
    async def charge_subscription(self, request: ChargeRequest) -> ChargeResult:
        """One off-session charge of a period (a renewal try or an upgrade's difference): its
        payments row (linked to the subscription) and the gateway call share one key, so a
        retried activity finds the charge the first try made and writes its outcome once."""
        payment_id = charge_id_for(
            request.subscription_id, request.period, request.kind, request.attempt
        )
        key = subscription_charge_key(
            request.subscription_id, request.period, request.kind, request.attempt
        )
        async with self._sessionmaker() as session, session.begin():
            payment = await session.get(Payment, payment_id)
            if payment is not None and payment.status != PaymentStatus.PENDING.value:
                return ChargeResult(
                    payment_id=payment_id,
                    succeeded=payment.status == PaymentStatus.COMPLETED.value,
                    decline_code=payment.failure_reason,
                    gateway_id=payment.gateway_payment_intent_id or payment.gateway_order_id,
                )
            if payment is None:
                session.add(
                    Payment(
                        id=payment_id,
                        transaction_id=f"MV-PAY-{payment_id.hex[:16].upper()}",
                        subscription_id=request.subscription_id,
                        amount=request.amount,
                        currency=request.currency.upper(),
                        payment_method="card",
                        payment_gateway=request.gateway.value,
                        status=PaymentStatus.PENDING.value,
                        status_seq=1,
                        idempotency_key=key,
                        metadata_={
                            "subscription_period": request.period,
                            "kind": request.kind,
                            "attempt": request.attempt,
                            "purchase_amount": str(request.amount),
                        },
                    )
                )
                await session.flush()
                await write_first_history(
                    session,
                    Payment,
                    PaymentStatusHistory,
                    payment_id,
                    PaymentStatus.PENDING,
                    user_id=None,
                    role=SYSTEM,
                    notes=f"{request.kind} of period {request.period}",
                )
        gateway = self._saver(request.gateway)
        try:
            state: GatewayState = await gateway.charge_saved(
                request.customer_id,
                request.payment_method_id,
                to_minor(request.amount, request.currency),
                request.currency,
                key,
                {
                    "subscription_id": str(request.subscription_id),
                    "payment_id": str(payment_id),
                    "period": str(request.period),
                },
            )
        except GatewayError as error:
            if not error.permanent:
                raise _gateway_failure(error) from None
            state = GatewayState(
                gateway=request.gateway,
                gateway_id="",
                status=GatewayStatus.FAILED,
                amount_minor=to_minor(request.amount, request.currency),
                amount_received_minor=0,
                currency=request.currency.upper(),
                failure_code="processing_error",
                gateway_status="rejected",
            )
        succeeded = state.status == GatewayStatus.SUCCEEDED and (
            state.amount_received_minor == to_minor(request.amount, request.currency)
        )
        if state.status == GatewayStatus.PENDING:
            # Off-session charges settle at once; one still pending is retried by Temporal.
            raise ApplicationError("the charge is still pending", type="ChargePending")
        target = PaymentStatus.COMPLETED if succeeded else PaymentStatus.FAILED
        razorpay = request.gateway == GatewayName.RAZORPAY
        code = None if succeeded else (state.failure_code or "card_declined")
        async with self._sessionmaker() as session, session.begin():
            await write_transition(
                session,
                Payment,
                PaymentStatusHistory,
                payment_id,
                2,
                PaymentStatus.PENDING,
                target,
                Actor(SYSTEM),
                code or state.gateway_status,
                {
                    # Where the payments table keeps each gateway's id (as the PaymentWorkflow):
                    # Stripe's PaymentIntent, Razorpay's order (its pay_ id the transaction).
                    ("gateway_order_id" if razorpay else "gateway_payment_intent_id"): (
                        state.gateway_id or None
                    ),
                    "gateway_transaction_id": state.charge_id,
                    "failure_reason": code,
                    "payment_date": request.at if succeeded else None,
                },
            )
        return ChargeResult(
            payment_id=payment_id,
            succeeded=succeeded,
            decline_code=code,
            gateway_id=state.gateway_id or None,
        )

    @activity.defn
    async def issue_subscription_invoice(
        self, request: SubscriptionInvoiceRequest
    ) -> IssuedInvoice:
        """The paid invoice of one charge (its id comes from the payment)."""
        async with self._sessionmaker() as session, session.begin():
            payment = await session.get(Payment, request.payment_id)
            if payment is None:
                raise refusal(NotFound("The charge does not exist.", code="PAYMENT_NOT_FOUND"))
            items, rate, hospital_id = await invoicing.price_of(session, payment, self._settings)
            invoice, created = await invoicing.issue_invoice(
                session,
                self._settings,
                invoice_id=invoice_id_for_charge(payment.id),
                patient_id=None,
                booking_id=None,
                appointment_id=None,
                subscription_id=request.subscription_id,
                currency=payment.currency,
                items=items,
                discount=Decimal("0"),
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

    @activity.defn
    async def refund_subscription_charge(self, request: ChargeRefundRequest) -> GatewayRefund:
        """Give back part of a period's charge (a cancellation now, by staff): keyed by the
        charge, so it happens once."""
        async with self._sessionmaker() as session:
            payment = await session.get(Payment, request.payment_id)
        charged = (
            payment.gateway_payment_intent_id or payment.gateway_order_id
            if payment is not None
            else None
        )
        if payment is None or charged is None:
            raise refusal(NotFound("The charge does not exist.", code="PAYMENT_NOT_FOUND"))
        gateway = self._gateways.get(GatewayName(payment.payment_gateway))
        if gateway is None:
            raise refusal(Invalid("The gateway is not configured.", code="GATEWAY_NOT_CONFIGURED"))
        try:
            refund = await gateway.refund(
                charged,
                to_minor(request.amount, payment.currency),
                refund_idempotency_key(payment.id, 1),
                {"subscription_id": str(request.subscription_id)},
            )
        except GatewayError as error:
            raise _gateway_failure(error) from None
        async with self._sessionmaker() as session, session.begin():
            row = await session.get(Payment, payment.id, with_for_update=True)
            assert row is not None
            if row.refund_amount is None:
                whole = request.amount >= row.amount
                target = PaymentStatus.REFUNDED if whole else PaymentStatus.PARTIALLY_REFUNDED
                await write_payment_transition(
                    session,
                    row.id,
                    row.status_seq + 1,
                    PaymentStatus(row.status),
                    target,
                    Actor(SYSTEM),
                    "subscription cancelled now: the days left refunded",
                    {"refund_amount": request.amount, "refund_date": request.at},
                )
        return refund

    async def _holder_users(
        self, session: AsyncSession, hospital_id: uuid.UUID | None, doctor_id: uuid.UUID | None
    ) -> list[uuid.UUID]:
        if hospital_id is not None:
            admin = await session.scalar(
                select(Hospital.admin_user_id).where(Hospital.id == hospital_id)
            )
            return [admin] if admin is not None else []
        user = await session.scalar(select(Doctor.user_id).where(Doctor.id == doctor_id))
        return [user] if user is not None else []

    async def _stored(self, session: AsyncSession, row: Subscription) -> StoredSubscription:
        plan = await session.get(SubscriptionPlan, row.plan_id)
        assert plan is not None
        return StoredSubscription(
            subscription_id=row.id,
            status=SubscriptionStatus(row.status),
            status_seq=row.status_seq,
            plan=_terms(plan),
            hospital_id=row.hospital_id,
            doctor_id=row.doctor_id,
            billing_cycle=BillingCycle(row.billing_cycle),
            amount=row.amount or Decimal("0"),
            currency=row.currency or "USD",
            gateway=GatewayName(row.payment_gateway or GatewayName.STRIPE.value),
            timezone=row.timezone,
            holder_user_ids=await self._holder_users(session, row.hospital_id, row.doctor_id),
        )


def subscription_activity_list(
    activities: SubscriptionActivities,
) -> list[Callable[..., Awaitable[Any]]]:
    return [
        activities.create_subscription,
        activities.read_plan_terms,
        activities.record_subscription_transition,
        activities.create_subscription_customer,
        activities.save_payment_method,
        activities.charge_subscription,
        activities.issue_subscription_invoice,
        activities.refund_subscription_charge,
    ]
