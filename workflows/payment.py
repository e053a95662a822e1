"""PaymentWorkflow: one payment from checkout to refunds, the only writer of its status.

Opened by update-with-start from POST /payments (`open` returns the checkout data). Gateway
webhooks arrive as the `gateway_event` signal, a hint only: before any terminal decision the
workflow reads the intent / order back from the gateway, and completes only when the gateway
holds exactly the amount asked (anything else is refunded and the attempt fails). Without
webhooks it polls the gateway every `reconcile_minutes`; after `window_hours` without an outcome
it cancels the intent and expires the payment. An attempt closed unpaid that the gateway could
not make unpayable (Razorpay orders cannot be cancelled) is watched for another window, and
money arriving on it is refunded. Once completed it issues the invoice (PDF attached to the
e-mail) and stays open for `refund_days` to take `refund` updates, refunds made in the
gateway's dashboard (refund webhooks) and the booking's cancellation (`cancel_for_booking`:
cancel if still open, else refund by the booking's policy, then `refund_settled` back to the
booking). A completed payment never moves back to failed.

An appointment's payment (patch appointment-payment) tells the AppointmentWorkflow the same
events (payment_started / payment_succeeded / payment_failed / refund_settled), acts on its
`cancel_for_appointment` (cancellation by notice, no-show) the same way as a booking's, and
issues no invoice itself: the appointment's workflow starts the same invoice child (same id)
once the consultation is completed.

Retrying after a failure is a new payment (a new POST): a booking has at most one open
(pending / processing) payment at a time, enforced where the row is inserted.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    FailureError,
    WorkflowAlreadyStartedError,
)

with workflow.unsafe.imports_passed_through():
    from activities.coupons import CouponActivities, CouponReleaseRequest, CouponReservationRequest
    from activities.documents import DocumentActivities, InvoiceRef
    from activities.invoicing import PDF_CONTENT_TYPE, invoice_pdf_file_name
    from activities.payments import (
        AppointmentEndQuery,
        GatewayRef,
        IntentRequest,
        InvoiceRequest,
        IssuedInvoice,
        NewPayment,
        PaymentActivities,
        PaymentChanges,
        PaymentTransition,
        Pricing,
        PricingRequest,
        RefundRequest,
        StoredPayment,
        invoice_id_for,
    )
    from activities.providers.gateways import (
        GatewayCheckout,
        GatewayRefund,
        GatewayState,
        GatewayStatus,
        intent_idempotency_key,
    )
    from activities.providers.webhooks import Outcome
    from domain.access import Role
    from domain.errors import Conflict, Unavailable
    from domain.lifecycle import SYSTEM, Actor, MoveRefused
    from domain.money import from_minor, to_minor
    from domain.payment import (
        CLOSED_UNPAID,
        OPEN,
        PAYMENT,
        REFUNDABLE,
        PaymentStatus,
        cancellation_refund,
        check_refund,
    )
    from domain.payment import PaymentGateway as GatewayName
    from workflows._kit import (
        DB_ACTIVITY,
        GATEWAY_CREATE,
        GATEWAY_POLL,
        GATEWAY_SETTLE,
        PDF_ACTIVITY,
        Caller,
        SettlingNotifier,
        code_of,
        domain_error,
        index,
        refusal,
        show,
        unwrap,
        update_with_start,
    )
    from workflows.messages import (
        INVOICE_WORKFLOW,
        PAYMENT_WORKFLOW,
        AppointmentCancelled,
        AppointmentSignal,
        AttachmentRef,
        BookingCancelled,
        BookingSignal,
        GatewayEventSignal,
        InvoiceDelivered,
        InvoiceDelivery,
        InvoiceEvent,
        NotificationRequest,
        PaymentEvent,
        PaymentSignal,
        RefundSettled,
        SubscriptionSignal,
        appointment_workflow_id,
        booking_workflow_id,
        invoice_summary,
        invoice_workflow_id,
        payment_workflow_id,
        subscription_workflow_id,
    )

# The search attribute of runs recorded before the kit's scheme (workflows/_kit.index).
LEGACY_ENTITY_STATUS = SearchAttributeKey.for_keyword("EntityStatus")
# Patch ids (workflow.patched): behaviour added after histories were recorded.
REFUND_FOLLOWUPS = "refund-followups"
INVOICE_CHILD = "invoice-child"
# An appointment's payment: the appointment is told payment_*/refund_settled, its refund request
# (cancel_for_appointment) is acted on, and its invoice waits for the consultation's completion.
APPOINTMENT_PAYMENT = "appointment-payment"
# The run closes only once the notifications it started (a refund's e-mail) have finished: a run
# closing with a child in flight leaves the time-skipping test server locked, and in production
# its end then means its messages are out.
SETTLE_CHILDREN = "payment-settle-children"
# An appointment's payment takes refunds until a day after the appointment's end when that is
# later than refund_days after the payment: paid long before its date, it can still be refunded
# on a cancellation by notice or a doctor's no-show.
APPOINTMENT_REFUND_WINDOW = "appointment-refund-window"
# How long after the appointment's end its payment still takes the appointment's refund request
# (the no-show grace and the appointment's answer fit well within it).
APPOINTMENT_REFUND_GRACE = timedelta(days=1)
# A subscription's first charge: the subscription is told payment_succeeded / payment_failed,
# and issues the invoice itself (renewals are its own off-session charges).
SUBSCRIPTION_PAYMENT = "subscription-payment"
# What the payment tells its booking, by the name the appointment takes for the same event.
APPOINTMENT_SIGNALS = {
    BookingSignal.PAYMENT_STARTED: AppointmentSignal.PAYMENT_STARTED,
    BookingSignal.PAYMENT_SUCCEEDED: AppointmentSignal.PAYMENT_SUCCEEDED,
    BookingSignal.PAYMENT_FAILED: AppointmentSignal.PAYMENT_FAILED,
    BookingSignal.REFUND_SETTLED: AppointmentSignal.REFUND_SETTLED,
    BookingSignal.INVOICE_SENT: AppointmentSignal.INVOICE_SENT,
}

SUBSCRIPTION_SIGNALS = {
    BookingSignal.PAYMENT_SUCCEEDED: SubscriptionSignal.PAYMENT_SUCCEEDED,
    BookingSignal.PAYMENT_FAILED: SubscriptionSignal.PAYMENT_FAILED,
}

# The payment's id, the caller and the webhook payload, importable from here.
workflow_id = payment_workflow_id
__all__ = [
    "WORKFLOWS",
    "Caller",
    "GatewayEventSignal",
    "PaymentCheckout",
    "PaymentInput",
    "PaymentTimers",
    "PaymentView",
    "PaymentWorkflow",
    "RefundCommand",
    "open_payment",
    "signal_gateway_event",
    "workflow_id",
]


class PaymentTimers(BaseModel):
    reconcile_minutes: int = Field(default=10, ge=1)
    window_hours: int = Field(default=24, ge=1)
    refund_days: int = Field(default=180, ge=0)


class PaymentInput(BaseModel):
    payment: NewPayment
    timers: PaymentTimers = Field(default_factory=PaymentTimers)
    # Upsert the EntityStatus search attribute (off where the server has none registered).
    index: bool = True


class PaymentCheckout(BaseModel):
    """The update result of POST /payments: what the checkout page needs."""

    payment_id: UUID
    status: PaymentStatus
    gateway: GatewayName
    amount: Decimal
    currency: str
    discount_amount: Decimal = Decimal("0")
    tax_amount: Decimal = Decimal("0")
    gateway_id: str | None = None
    client_secret: str | None = None
    publishable_key: str | None = None
    order_id: str | None = None
    key_id: str | None = None
    # Razorpay, a subscription's first charge: open Checkout with these to save the card.
    customer_id: str | None = None
    recurring: bool = False


class PaymentView(BaseModel):
    payment_id: UUID
    status: PaymentStatus | None
    amount: Decimal | None = None
    currency: str | None = None
    refunded: Decimal = Decimal("0")
    failure_reason: str | None = None
    invoice_id: UUID | None = None


class RefundCommand(BaseModel):
    caller: Caller
    # None: everything not yet refunded.
    amount: Decimal | None = None
    reason: str = Field(min_length=1, max_length=500)


def _as_refusal(err: ActivityError | ApplicationError) -> ApplicationError:
    """The refusal an activity raised, as this update's answer (the API's envelope); anything
    else means the gateway did not answer."""
    found = unwrap(err)
    if found is not None:
        return refusal(domain_error(found))
    return refusal(Unavailable("The payment gateway did not answer.", code="GATEWAY_UNAVAILABLE"))


@workflow.defn(name=PAYMENT_WORKFLOW)
class PaymentWorkflow:
    def __init__(self) -> None:
        self._input: PaymentInput | None = None
        self._payment: StoredPayment | None = None
        self._checkout: PaymentCheckout | None = None
        self._refusal: ApplicationError | None = None
        self._events: list[GatewayEventSignal] = []
        self._failure_reason: str | None = None
        self._invoice: IssuedInvoice | None = None
        self._refund_log: list[dict[str, str]] = []
        # The booking was cancelled (signal cancel_for_booking), or the appointment ended
        # without a consultation (cancel_for_appointment): cancel, or refund by policy.
        self._cancellation: BookingCancelled | AppointmentCancelled | None = None
        self._cancellation_answered = False
        # Cancelled before the money arrived: no invoice, everything goes back.
        self._cancelled_while_open = False
        # Refund events after completion: read the gateway for refunds made outside Medivoy.
        self._refund_hints: list[GatewayEventSignal] = []
        # Closed unpaid while the gateway could not make the attempt unpayable (Razorpay keeps
        # an order open for Checkout's retries): the workflow watches it for a late payment.
        self._still_payable = False
        self._watching = False
        # Refund updates run one at a time; so do status writes.
        self._lock = asyncio.Lock()
        self._notifier = SettlingNotifier([])

    @workflow.run
    async def run(self, input: PaymentInput) -> PaymentView:
        self._input = input
        try:
            await self._open(input)
        except ApplicationError as refused:
            self._refusal = refused
            await workflow.wait_condition(workflow.all_handlers_finished)
            return self._view()
        payment = self._require()
        deadline = workflow.now() + timedelta(hours=input.timers.window_hours)
        poll = timedelta(minutes=input.timers.reconcile_minutes)
        while payment.status in OPEN:
            if self._cancellation is not None:
                await self._cancel_open()
                break
            now = workflow.now()
            if now >= deadline:
                await self._expire()
                break
            self._show(f"the customer to pay at {payment.gateway}", deadline)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: bool(self._events) or self._cancellation is not None,
                    timeout=min(poll, deadline - now),
                    timeout_summary="gateway poll" if poll < deadline - now else "payment expiry",
                )
            if self._cancellation is not None:
                continue
            hints = {event.outcome for event in self._events}
            self._events.clear()
            if workflow.now() >= deadline and not hints:
                continue
            state = await self._retrieve()
            if state is not None:
                await self._settle(state, hints)
        if payment.status in CLOSED_UNPAID and self._still_payable:
            await self._watch_late_payment(timedelta(hours=input.timers.window_hours), poll)
        if payment.status in REFUNDABLE:
            if not self._cancelled_while_open:
                await self._after_success()
            await self._refund_window(timedelta(days=input.timers.refund_days))
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._cancellation is not None and not self._cancellation_answered:
            # Cancelled after this payment had already ended (failed, expired): nothing to do.
            await self._answer_cancellation("nothing_to_refund")
        if self._notifier.children and workflow.patched(SETTLE_CHILDREN):
            await self._notifier.settle()
            await workflow.wait_condition(workflow.all_handlers_finished)
        self._show()
        return self._view()

    async def _refund_window(self, until: timedelta) -> None:
        """Completed: take refunds (updates, the booking's cancellation, refunds made at the
        gateway itself) until everything is refunded or the window closes."""
        payment = self._require()
        deadline = workflow.now() + until
        while payment.status != PaymentStatus.REFUNDED:
            if self._cancellation is not None and not self._cancellation_answered:
                await self._refund_for_cancellation()
                continue
            if self._refund_hints:
                self._refund_hints.clear()
                await self._sync_outside_refunds()
                continue
            now = workflow.now()
            if now >= deadline:
                later = await self._after_appointment(deadline)
                if later is None:
                    return
                deadline = later
                continue
            self._show("refunds (the refund window)", deadline)
            try:
                await workflow.wait_condition(
                    lambda: (
                        payment.status == PaymentStatus.REFUNDED
                        or (self._cancellation is not None and not self._cancellation_answered)
                        or bool(self._refund_hints)
                    ),
                    timeout=deadline - now,
                    timeout_summary="refund window close",
                )
            except TimeoutError:
                later = await self._after_appointment(deadline)
                if later is None:
                    return
                deadline = later

    async def _after_appointment(self, deadline: datetime) -> datetime | None:
        """The window closes at `deadline`; an appointment's payment stays open until a day after
        the appointment's end (read again each time: a reschedule moves it). None: close."""
        payment = self._require()
        if (
            not self._for_appointment()
            or payment.appointment_id is None
            or not workflow.patched(APPOINTMENT_REFUND_WINDOW)
        ):
            return None
        ends_at = await workflow.execute_local_activity_method(
            PaymentActivities.appointment_end,
            AppointmentEndQuery(appointment_id=payment.appointment_id),
            **DB_ACTIVITY,
            summary="the appointment's end",
        )
        if ends_at is None:
            return None
        later = ends_at + APPOINTMENT_REFUND_GRACE
        return later if later > max(deadline, workflow.now()) else None

    async def _open(self, input: PaymentInput) -> None:
        new = input.payment
        try:
            stored = await workflow.execute_local_activity_method(
                PaymentActivities.create_payment,
                new,
                **DB_ACTIVITY,
                summary="create the payment row",
            )
        except (ActivityError, ApplicationError) as err:
            raise _as_refusal(err) from None
        self._payment = stored
        self._index()
        if new.coupon_code:
            try:
                reservation = await workflow.execute_local_activity_method(
                    CouponActivities.reserve_coupon,
                    CouponReservationRequest(
                        payment_id=stored.payment_id,
                        code=new.coupon_code,
                        purchase_amount=stored.purchase_amount,
                        currency=stored.currency,
                        today=workflow.now().date(),
                    ),
                    **DB_ACTIVITY,
                    summary="reserve the coupon",
                )
            except (ActivityError, ApplicationError) as err:
                refused = _as_refusal(err)
                await self._transition(PaymentStatus.CANCELLED, code_of(refused))
                raise refused from None
            stored.discount_amount = reservation.discount_amount
        pricing: Pricing = await workflow.execute_local_activity_method(
            PaymentActivities.price_payment,
            PricingRequest(payment_id=stored.payment_id),
            **DB_ACTIVITY,
            summary="price the payment",
        )
        stored.amount = pricing.amount
        checkout = PaymentCheckout(
            payment_id=stored.payment_id,
            status=stored.status,
            gateway=stored.gateway,
            amount=pricing.amount,
            currency=stored.currency,
            discount_amount=pricing.discount,
            tax_amount=pricing.tax,
        )
        if pricing.amount == 0:
            # A coupon covered everything: nothing to collect at the gateway.
            await self._complete(None)
            self._checkout = checkout.model_copy(update={"status": stored.status})
            return
        try:
            created: GatewayCheckout = await workflow.execute_activity_method(
                PaymentActivities.create_gateway_intent,
                IntentRequest(
                    payment_id=stored.payment_id,
                    gateway=stored.gateway,
                    amount=pricing.amount,
                    currency=stored.currency,
                    description=f"Medivoy {stored.reference or stored.payment_id}",
                    customer_id=stored.customer_id,
                ),
                **GATEWAY_CREATE,
                summary="create the gateway intent",
            )
        except ActivityError as err:
            refused = _as_refusal(err)
            await self._fail(code_of(refused), notify=False)
            raise refused from None
        stored.gateway_id = created.gateway_id
        stripe = stored.gateway == GatewayName.STRIPE
        await self._transition(
            PaymentStatus.PENDING,
            "gateway intent created",
            PaymentChanges(
                gateway_payment_intent_id=created.gateway_id if stripe else None,
                gateway_order_id=None if stripe else created.gateway_id,
                idempotency_key=intent_idempotency_key(stored.payment_id),
            ),
        )
        started = await self._signal_booking(
            BookingSignal.PAYMENT_STARTED, PaymentEvent(payment_id=stored.payment_id)
        )
        if not started and self._cancellation is None:
            # The booking's (appointment's) workflow has ended since the row was checked: it
            # was cancelled or closed meanwhile. Nothing may be collected for it.
            closed: Conflict
            if stored.booking_id is not None:
                self._cancellation = BookingCancelled(
                    booking_id=stored.booking_id, percent=Decimal(100), reason="booking_closed"
                )
                closed = Conflict(
                    "The booking was closed before it could be paid.",
                    code="BOOKING_NOT_PAYABLE",
                )
            else:
                assert stored.appointment_id is not None
                self._cancellation = AppointmentCancelled(
                    appointment_id=stored.appointment_id,
                    percent=Decimal(100),
                    reason="appointment_closed",
                )
                closed = Conflict(
                    "The appointment was closed before it could be paid.",
                    code="APPOINTMENT_NOT_PAYABLE",
                )
            await self._cancel_open()
            if stored.status == PaymentStatus.CANCELLED:
                raise refusal(closed)
        self._checkout = checkout.model_copy(
            update={
                "gateway_id": created.gateway_id,
                "client_secret": created.client_secret,
                "publishable_key": created.publishable_key,
                "order_id": created.order_id,
                "key_id": created.key_id,
                "customer_id": created.customer_id,
                "recurring": created.recurring,
            }
        )

    async def _retrieve(self) -> GatewayState | None:
        payment = self._require()
        if payment.gateway_id is None:
            return None
        try:
            return await workflow.execute_activity_method(
                PaymentActivities.retrieve_gateway_state,
                GatewayRef(gateway=payment.gateway, gateway_id=payment.gateway_id),
                **GATEWAY_POLL,
                summary="poll the gateway",
            )
        except ActivityError:
            workflow.logger.warning("gateway read failed; trying again at the next poll")
            return None

    async def _cancel_at_gateway(self) -> GatewayState | None:
        payment = self._require()
        if payment.gateway_id is None:
            return None
        state: GatewayState | None
        try:
            state = await workflow.execute_activity_method(
                PaymentActivities.cancel_gateway_intent,
                GatewayRef(gateway=payment.gateway, gateway_id=payment.gateway_id),
                **GATEWAY_SETTLE,
                summary="cancel the gateway intent",
            )
        except ActivityError:
            state = await self._retrieve()
        # Razorpay cannot cancel an order, and a cancel that failed leaves an intent as it was:
        # either way the attempt can still be paid, so the closed payment keeps watching it.
        self._still_payable = state is None or state.status not in (
            GatewayStatus.CANCELED,
            GatewayStatus.SUCCEEDED,
        )
        return state

    async def _watch_late_payment(self, until: timedelta, poll: timedelta) -> None:
        """The attempt is closed unpaid but still payable at the gateway (an open Checkout,
        a retry offered after a decline): read it now and then, and on a webhook, for `until`.
        Money that arrives anyway is refunded in full: it must never be kept unaccounted."""
        self._watching = True
        deadline = workflow.now() + until
        while True:
            now = workflow.now()
            if now >= deadline:
                break
            self._show(f"a late payment at {self._require().gateway}, to refund", deadline)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: bool(self._events) or self._appointment_unanswered(),
                    timeout=min(poll, deadline - now),
                    timeout_summary="late payment poll",
                )
            if self._appointment_unanswered():
                # Nothing was paid: the appointment need not wait for the watch to end. Money
                # arriving later is still given back in full (below).
                await self._answer_cancellation("nothing_to_refund")
            self._events.clear()
            state = await self._retrieve()
            if state is None:
                continue
            if state.status == GatewayStatus.SUCCEEDED:
                await self._refund_late(state)
                break
            if state.status == GatewayStatus.CANCELED:
                break
        self._watching = False

    async def _refund_late(self, state: GatewayState) -> None:
        payment = self._require()
        held = state.amount_received_minor - state.amount_refunded_minor
        if held <= 0:
            return
        amount = from_minor(held, state.currency)
        number = payment.refunds + 1
        payment.refunds = number
        late = {
            "charge_id": state.charge_id,
            "received_minor": state.amount_received_minor,
            "currency": state.currency,
            "refund_number": number,
        }
        try:
            refund = await self._refund_at_gateway(state.gateway_id, amount, state.currency, number)
        except ActivityError:
            workflow.logger.error("late payment on %s not refunded", payment.payment_id)
            await self._transition(
                payment.status,
                "paid after the attempt closed; the refund failed: staff must refund it",
                PaymentChanges(
                    metadata={"refunds": number, "late_payment": {**late, "needs_staff": True}}
                ),
            )
            return
        payment.refunded += amount
        await self._transition(
            payment.status,
            "paid after the attempt closed; refunded in full",
            PaymentChanges(
                gateway_transaction_id=state.charge_id,
                refund_amount=payment.refunded,
                refund_date=workflow.now(),
                metadata={
                    "refunds": number,
                    "late_payment": {**late, "refund_id": refund.refund_id},
                },
            ),
        )
        await self._notify(
            f"late-refund:{number}",
            "payment_refunded",
            {
                "amount": f"{amount}",
                "currency": state.currency,
                "refunded_total": f"{amount}",
            },
            wait=False,
        )

    async def _settle(self, state: GatewayState, hints: set[Outcome]) -> None:
        """Decide from what the gateway says, never from the webhook's word alone."""
        payment = self._require()
        if state.status == GatewayStatus.SUCCEEDED:
            await self._accept_success(state)
        elif state.status in (GatewayStatus.FAILED, GatewayStatus.CANCELED):
            # Stripe would accept another card on a declined intent: cancel it, so this attempt
            # cannot be paid after we called it failed. If it was paid meanwhile, it succeeded.
            after = await self._cancel_at_gateway()
            if after is not None and after.status == GatewayStatus.SUCCEEDED:
                await self._accept_success(after)
                return
            await self._fail(state.failure_code or state.gateway_status or state.status.value)
        elif Outcome.PROCESSING in hints and payment.status == PaymentStatus.PENDING:
            await self._transition(PaymentStatus.PROCESSING, state.gateway_status)

    async def _accept_success(self, state: GatewayState) -> None:
        """Completed only when the gateway holds exactly what was asked, in its currency.
        Anything else (a tampered checkout, a partial payment) is given back and the attempt
        fails: the patient pays again the right amount, no money is kept on a guess."""
        payment = self._require()
        expected = to_minor(payment.amount, payment.currency)
        received = state.amount_received_minor
        if state.currency.upper() == payment.currency.upper() and received == expected:
            await self._complete(state)
            return
        reason = "amount_mismatch"
        note = f"received {received} {state.currency} minor units, expected {expected}"
        workflow.logger.error("payment %s: %s", payment.payment_id, note)
        refunded = Decimal("0")
        if received > 0:
            number = payment.refunds + 1
            payment.refunds = number
            try:
                await self._refund_at_gateway(
                    state.gateway_id, from_minor(received, state.currency), state.currency, number
                )
                refunded = from_minor(received, state.currency)
            except ActivityError:
                reason = "amount_mismatch_refund_failed"
        await self._fail(
            reason,
            changes=PaymentChanges(
                gateway_transaction_id=state.charge_id,
                refund_amount=refunded if refunded else None,
                refund_date=workflow.now() if refunded else None,
                metadata={
                    "refunds": payment.refunds,
                    "amount_mismatch": {
                        "expected_minor": expected,
                        "received_minor": received,
                        "currency": state.currency,
                        "refunded": str(refunded),
                    },
                },
            ),
            notes=note,
        )

    async def _complete(self, state: GatewayState | None) -> None:
        payment = self._require()
        await self._transition(
            PaymentStatus.COMPLETED,
            state.gateway_status if state is not None else "nothing to collect",
            PaymentChanges(
                payment_date=workflow.now(),
                gateway_transaction_id=state.charge_id if state is not None else None,
            ),
        )
        if self._cancellation is None:
            told = await self._signal_booking(
                BookingSignal.PAYMENT_SUCCEEDED, PaymentEvent(payment_id=payment.payment_id)
            )
            if (
                not told
                and payment.subscription_id is not None
                and state is not None
                and workflow.patched(SUBSCRIPTION_PAYMENT)
            ):
                # The subscription ended (cancelled, or its window passed) before its first
                # payment arrived: nothing may be kept for it.
                self._cancelled_while_open = True
                async with self._lock:
                    await self._refund_locked(
                        payment.amount,
                        "the subscription had ended before it was paid",
                        None,
                        for_cancellation=True,
                    )

    async def _fail(
        self,
        reason: str,
        *,
        notify: bool = True,
        changes: PaymentChanges | None = None,
        notes: str | None = None,
    ) -> None:
        payment = self._require()
        self._failure_reason = reason
        changes = (changes or PaymentChanges()).model_copy(update={"failure_reason": reason})
        await self._transition(PaymentStatus.FAILED, notes or reason, changes)
        await self._release_coupon()
        if notify:
            await self._notify("failed", "payment_failed", {"reason": reason})
        await self._signal_booking(
            BookingSignal.PAYMENT_FAILED, PaymentEvent(payment_id=payment.payment_id, note=reason)
        )

    async def _expire(self) -> None:
        payment = self._require()
        state = await self._cancel_at_gateway()
        if state is not None and state.status == GatewayStatus.SUCCEEDED:
            await self._accept_success(state)
            return
        reason = "payment_expired"
        self._failure_reason = reason
        await self._transition(PaymentStatus.EXPIRED, reason, PaymentChanges(failure_reason=reason))
        await self._release_coupon()
        await self._notify("expired", "payment_failed", {"reason": reason})
        await self._signal_booking(
            BookingSignal.PAYMENT_FAILED, PaymentEvent(payment_id=payment.payment_id, note=reason)
        )

    async def _cancel_open(self) -> None:
        """The booking was cancelled while this payment was open: cancel it at the gateway. If
        it was paid meanwhile it completes, and the refund window gives everything back."""
        payment = self._require()
        self._cancelled_while_open = True
        state = await self._cancel_at_gateway()
        if state is not None and state.status == GatewayStatus.SUCCEEDED:
            await self._accept_success(state)
            if payment.status == PaymentStatus.FAILED:
                # The wrong amount arrived: it was given back already.
                await self._answer_cancellation("payment_cancelled")
            return
        reason = (
            "appointment_cancelled"
            if isinstance(self._cancellation, AppointmentCancelled)
            else "booking_cancelled"
        )
        self._failure_reason = reason
        await self._transition(
            PaymentStatus.CANCELLED, reason, PaymentChanges(failure_reason=reason)
        )
        await self._release_coupon()
        await self._answer_cancellation("payment_cancelled")

    async def _refund_for_cancellation(self) -> None:
        """The policy's share of what was paid, less what was refunded already."""
        cancellation = self._cancellation
        assert cancellation is not None
        payment = self._require()
        async with self._lock:
            amount = cancellation_refund(
                payment.amount, payment.refunded, cancellation.percent, payment.currency
            )
            if amount <= 0:
                await self._answer_cancellation("nothing_to_refund")
                return
            actor = (
                Caller(user_id=cancellation.requested_by, role=Role(cancellation.role))
                if cancellation.requested_by is not None
                else None
            )
            what = "appointment" if isinstance(cancellation, AppointmentCancelled) else "booking"
            try:
                await self._refund_locked(
                    amount,
                    f"{what} cancelled: {cancellation.reason or 'no reason given'}"[:500],
                    actor,
                    for_cancellation=True,
                )
            except ApplicationError:
                workflow.logger.error("cancellation refund of %s failed", payment.payment_id)
                await self._answer_cancellation("failed")

    async def _answer_cancellation(self, outcome: str, amount: Decimal = Decimal("0")) -> None:
        payment = self._require()
        self._cancellation_answered = True
        await self._signal_booking(
            BookingSignal.REFUND_SETTLED,
            RefundSettled(
                payment_id=payment.payment_id,
                payment_status=payment.status,
                amount=amount,
                refunded_total=payment.refunded,
                currency=payment.currency,
                outcome=outcome,
                for_cancellation=True,
            ),
        )

    async def _refund_locked(
        self, amount: Decimal, reason: str, actor: Caller | None, *, for_cancellation: bool = False
    ) -> None:
        """One refund at the gateway, keyed by its number, then its status and history row.
        The caller holds the lock and has checked the amount."""
        payment = self._require()
        number = payment.refunds + 1
        payment.refunds = number
        payment.refunded += amount
        assert payment.gateway_id is not None
        try:
            refund = await self._refund_at_gateway(
                payment.gateway_id, amount, payment.currency, number
            )
        except ActivityError:
            # The number stays used: its key belongs to the refused request.
            payment.refunded -= amount
            raise refusal(
                Conflict("The gateway did not accept the refund.", code="REFUND_FAILED")
            ) from None
        self._refund_log.append(
            {
                "number": str(number),
                "refund_id": refund.refund_id,
                "amount": str(amount),
                "status": refund.status.value,
                "reason": reason,
                "by": str(actor.user_id) if actor is not None else SYSTEM,
                "at": workflow.now().isoformat(),
            }
        )
        await self._record_refunded(
            reason,
            PaymentChanges(metadata={"refunds": number, "refund_log": list(self._refund_log)}),
            actor,
            # A cancellation's refund is the platform's move, whoever cancelled.
            asked=not for_cancellation,
        )
        await self._after_refund(amount, for_cancellation=for_cancellation)

    async def _refund_at_gateway(
        self, gateway_id: str, amount: Decimal, currency: str, number: int
    ) -> GatewayRefund:
        """The payment's refund number `number` at the gateway (its idempotency key comes from
        the number, so a retry never refunds twice). Raises ActivityError when refused."""
        payment = self._require()
        return await workflow.execute_activity_method(
            PaymentActivities.refund_at_gateway,
            RefundRequest(
                payment_id=payment.payment_id,
                gateway=payment.gateway,
                gateway_id=gateway_id,
                amount=amount,
                currency=currency,
                number=number,
            ),
            **GATEWAY_SETTLE,
            summary="refund at the gateway",
        )

    async def _record_refunded(
        self,
        notes: str,
        changes: PaymentChanges,
        actor: Caller | None = None,
        *,
        asked: bool = False,
    ) -> None:
        payment = self._require()
        target = (
            PaymentStatus.REFUNDED
            if payment.refunded >= payment.amount
            else PaymentStatus.PARTIALLY_REFUNDED
        )
        await self._transition(
            target,
            notes,
            changes.model_copy(
                update={"refund_amount": payment.refunded, "refund_date": workflow.now()}
            ),
            actor=actor,
            asked=asked,
        )

    async def _after_refund(self, amount: Decimal, *, for_cancellation: bool = False) -> None:
        """The booking's payment status follows, and the patient is told."""
        if not workflow.patched(REFUND_FOLLOWUPS):
            return
        payment = self._require()
        if for_cancellation:
            self._cancellation_answered = True
        await self._signal_booking(
            BookingSignal.REFUND_SETTLED,
            RefundSettled(
                payment_id=payment.payment_id,
                payment_status=payment.status,
                amount=amount,
                refunded_total=payment.refunded,
                currency=payment.currency,
                outcome="refunded",
                for_cancellation=for_cancellation,
            ),
        )
        await self._notify(
            f"refund:{payment.status_seq}",
            "payment_refunded",
            {
                "amount": f"{amount}",
                "currency": payment.currency,
                "refunded_total": f"{payment.refunded}",
            },
            wait=False,
        )

    async def _sync_outside_refunds(self) -> None:
        """A refund event: if the gateway has refunded more than Medivoy asked for (someone
        refunded in the gateway's dashboard), record it so the books agree with the money."""
        payment = self._require()
        async with self._lock:
            state = await self._retrieve()
            if state is None:
                return
            at_gateway = from_minor(state.amount_refunded_minor, payment.currency)
            if at_gateway <= payment.refunded:
                return
            extra = min(at_gateway, payment.amount) - payment.refunded
            payment.refunded += extra
            self._refund_log.append(
                {
                    "number": "gateway",
                    "refund_id": "",
                    "amount": str(extra),
                    "status": "succeeded",
                    "reason": "refunded at the gateway",
                    "by": payment.gateway.value,
                    "at": workflow.now().isoformat(),
                }
            )
            await self._record_refunded(
                "refunded at the gateway, outside Medivoy",
                PaymentChanges(metadata={"refund_log": list(self._refund_log)}),
            )
            await self._after_refund(extra)

    async def _release_coupon(self) -> None:
        payment = self._require()
        if not self._require_input().payment.coupon_code:
            return
        await workflow.execute_local_activity_method(
            CouponActivities.release_coupon,
            CouponReleaseRequest(payment_id=payment.payment_id),
            **DB_ACTIVITY,
            summary="release the coupon",
        )

    async def _after_success(self) -> None:
        """The invoice: issued, rendered once, e-mailed with its link; then the booking knows.
        All of it is the InvoiceDeliveryWorkflow child (workflows/invoice.py); runs recorded
        before it existed did the same steps here."""
        payment = self._require()
        if payment.subscription_id is not None and workflow.patched(SUBSCRIPTION_PAYMENT):
            # The subscription's workflow invoices its periods, the first one included.
            return
        if self._for_appointment() and workflow.patched(APPOINTMENT_PAYMENT):
            # An appointment's invoice is issued once its consultation is completed, by the
            # appointment's workflow (the same invoice child and id): nothing to do here.
            return
        if workflow.patched(INVOICE_CHILD):
            delivery = InvoiceDelivery(
                invoice_id=invoice_id_for(payment.payment_id),
                payment_id=payment.payment_id,
                issued_on=workflow.now().date(),
                booking_id=payment.booking_id,
            )
            try:
                delivered = await workflow.execute_child_workflow(
                    INVOICE_WORKFLOW,
                    delivery,
                    id=invoice_workflow_id(delivery),
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    result_type=InvoiceDelivered,
                    static_summary=invoice_summary(delivery),
                )
            except WorkflowAlreadyStartedError:
                # Delivered by an earlier run of this payment: only learn the invoice.
                self._invoice = await workflow.execute_local_activity_method(
                    PaymentActivities.create_invoice,
                    InvoiceRequest(payment_id=payment.payment_id, issued_on=workflow.now().date()),
                    **DB_ACTIVITY,
                    summary="issue the invoice",
                )
                return
            except ChildWorkflowError as err:
                # The money is in: refunds must still work. The invoice can be sent again
                # (POST /invoices/:id/send) once whatever failed is fixed.
                workflow.logger.error("invoice delivery failed: %s", err.message)
                return
            self._invoice = delivered.issued
            return
        invoice: IssuedInvoice = await workflow.execute_local_activity_method(
            PaymentActivities.create_invoice,
            InvoiceRequest(payment_id=payment.payment_id, issued_on=workflow.now().date()),
            **DB_ACTIVITY,
            summary="issue the invoice",
        )
        self._invoice = invoice
        document = await workflow.execute_activity_method(
            DocumentActivities.load_invoice_document,
            InvoiceRef(invoice_id=invoice.invoice_id),
            **DB_ACTIVITY,
            summary="load the invoice document",
        )
        pdf_key = document.pdf_storage_key
        if pdf_key is None:
            pdf = await workflow.execute_activity_method(
                DocumentActivities.render_invoice_pdf,
                document,
                **PDF_ACTIVITY,
                summary="render the invoice PDF",
            )
            await workflow.execute_local_activity_method(
                DocumentActivities.record_invoice_pdf,
                pdf,
                **DB_ACTIVITY,
                summary="record the invoice PDF",
            )
            pdf_key = pdf.storage_key
        await self._notify(
            f"invoice:{invoice.invoice_id}",
            "invoice_issued",
            {
                "invoice_number": invoice.invoice_number,
                "amount": f"{invoice.final_amount}",
                "currency": invoice.currency,
                "invoice_url": invoice.pdf_url or "",
            },
            reference=("invoice", invoice.invoice_id),
            # The PDF itself travels by reference; the e-mail activity reads it from storage.
            attachments=[
                AttachmentRef(
                    storage_key=pdf_key,
                    filename=invoice_pdf_file_name(invoice.invoice_number),
                    content_type=PDF_CONTENT_TYPE,
                )
            ],
        )
        await self._signal_booking(
            BookingSignal.INVOICE_SENT, InvoiceEvent(invoice_id=invoice.invoice_id)
        )

    @workflow.signal(name=PaymentSignal.GATEWAY_EVENT)
    def gateway_event(self, event: GatewayEventSignal) -> None:
        payment = self._payment
        if self._watching or (
            payment is not None and payment.status in CLOSED_UNPAID and self._still_payable
        ):
            # Closed but still payable: the watch reads the gateway on it.
            self._events.append(event)
            return
        if self._payment is not None and self._payment.status not in OPEN:
            if event.outcome == Outcome.REFUNDED and self._payment.status in REFUNDABLE:
                self._refund_hints.append(event)
                return
            workflow.logger.info("gateway event %s after settlement ignored", event.event_type)
            return
        self._events.append(event)

    @workflow.signal(name=PaymentSignal.CANCEL_FOR_BOOKING)
    def cancel_for_booking(self, cancelled: BookingCancelled) -> None:
        """The booking was cancelled: the first word counts (a repeat changes nothing)."""
        if self._cancellation is None:
            self._cancellation = cancelled

    @workflow.signal(name=PaymentSignal.CANCEL_FOR_APPOINTMENT)
    def cancel_for_appointment(self, cancelled: AppointmentCancelled) -> None:
        """The appointment ended without a consultation (cancelled, no-show): cancel the
        payment if still open, else refund `percent` of what was paid; then refund_settled.
        The first word counts. Runs from before the patch left this signal unread."""
        payment = self._payment
        if payment is None or payment.appointment_id != cancelled.appointment_id:
            workflow.logger.warning("refund request for another appointment ignored")
            return
        if not workflow.patched(APPOINTMENT_PAYMENT):
            return
        if self._cancellation is None:
            self._cancellation = cancelled

    @workflow.update
    async def open(self) -> PaymentCheckout:
        """The update of update-with-start: the checkout once the intent exists, or the refusal."""
        await workflow.wait_condition(
            lambda: self._checkout is not None or self._refusal is not None
        )
        if self._refusal is not None:
            raise self._refusal
        assert self._checkout is not None
        return self._checkout

    @workflow.update
    async def refund(self, command: RefundCommand) -> PaymentView:
        async with self._lock:
            amount = self._refund_amount(command)
            await self._refund_locked(amount, command.reason, command.caller)
            return self._view()

    @refund.validator
    def _validate_refund(self, command: RefundCommand) -> None:
        self._refund_amount(command)

    def _refund_amount(self, command: RefundCommand) -> Decimal:
        payment = self._payment
        try:
            return check_refund(
                payment.status if payment is not None else None,
                command.caller.actor(),
                command.amount,
                payment.amount if payment is not None else Decimal(0),
                payment.refunded if payment is not None else Decimal(0),
                payment.currency if payment is not None else "",
            )
        except MoveRefused as refused:
            raise refusal(refused) from None

    @workflow.query
    def view(self) -> PaymentView:
        return self._view()

    async def _transition(
        self,
        target: PaymentStatus,
        notes: str | None,
        changes: PaymentChanges | None = None,
        *,
        actor: Caller | None = None,
        asked: bool = False,
    ) -> None:
        """Write a status (or, for the same status, just the changes) with its history row,
        through the payment's table: as the platform's move, or the actor's when they asked
        for it (a refund). A move the table refuses is a bug: the task fails and retries."""
        payment = self._require()
        source = payment.status
        mover = actor.actor() if asked and actor is not None else Actor(SYSTEM)
        try:
            PAYMENT.check(source, target, mover)
        except MoveRefused as refused:
            raise RuntimeError(f"payment {payment.payment_id}: {refused.message}") from None
        seq = payment.status_seq + 1
        payment.status = target
        payment.status_seq = seq
        await workflow.execute_local_activity_method(
            PaymentActivities.record_payment_transition,
            PaymentTransition(
                payment_id=payment.payment_id,
                seq=seq,
                from_status=source,
                to_status=target,
                actor_user_id=actor.user_id if actor is not None else None,
                actor_role=actor.role if actor is not None else SYSTEM,
                notes=notes,
                changes=changes or PaymentChanges(),
            ),
            **DB_ACTIVITY,
            summary=f"status {source.value} → {target.value}",
        )
        self._index()

    def _for_appointment(self) -> bool:
        payment = self._payment
        return (
            payment is not None
            and payment.booking_id is None
            and (payment.appointment_id is not None)
        )

    def _appointment_unanswered(self) -> bool:
        """An appointment's refund request has come and is not answered yet."""
        return isinstance(self._cancellation, AppointmentCancelled) and (
            not self._cancellation_answered
        )

    async def _signal_booking(
        self, name: str, event: PaymentEvent | InvoiceEvent | RefundSettled
    ) -> bool:
        """Tell the booking (or the appointment: the signal of the same meaning); False when
        its workflow has ended (nothing to tell, or too late)."""
        payment = self._require()
        if payment.booking_id is not None:
            target = booking_workflow_id(payment.booking_id)
        elif payment.appointment_id is not None and workflow.patched(APPOINTMENT_PAYMENT):
            target = appointment_workflow_id(payment.appointment_id)
            name = APPOINTMENT_SIGNALS[name]
        elif payment.subscription_id is not None and workflow.patched(SUBSCRIPTION_PAYMENT):
            if name not in SUBSCRIPTION_SIGNALS:
                return True
            target = subscription_workflow_id(payment.subscription_id)
            name = SUBSCRIPTION_SIGNALS[name]
        else:
            return True
        handle = workflow.get_external_workflow_handle(target)
        try:
            await handle.signal(name, event)
        except FailureError as err:
            # The booking's workflow is gone (closed): the payment goes on regardless.
            workflow.logger.warning("signal %s not delivered: %s", name, err.message)
            return False
        return True

    async def _notify(
        self,
        key: str,
        template: str,
        context: dict[str, str],
        *,
        reference: tuple[str, UUID] | None = None,
        wait: bool = True,
        attachments: list[AttachmentRef] | None = None,
    ) -> None:
        """Tell the patient (DeliverNotification child, once per key). wait=False only starts
        it, so a person's command does not wait on an e-mail provider."""
        payment = self._require()
        if payment.patient_user_id is None:
            return
        ref_type, ref_id = reference or ("payment", payment.payment_id)
        request = NotificationRequest(
            dedupe_key=f"payment:{payment.payment_id}:{key}",
            user_id=payment.patient_user_id,
            template=template,
            context={
                "reference": payment.reference or str(payment.payment_id),
                "payment_id": str(payment.payment_id),
                **context,
            },
            type="payment",
            reference_type=ref_type,
            reference_id=ref_id,
            attachments=attachments or [],
        )
        if wait:
            await self._notifier.deliver(request)
        else:
            await self._notifier.start(request)

    def _index(self) -> None:
        payment = self._payment
        if not self._require_input().index or payment is None:
            return

        def legacy() -> list[SearchAttributeUpdate[Any]]:
            return [LEGACY_ENTITY_STATUS.value_set(payment.status.value)]

        index(
            "payment",
            payment.status,
            {
                "PaymentId": payment.payment_id,
                "BookingId": payment.booking_id,
                "PatientId": payment.patient_id,
            },
            legacy,
        )

    def _show(self, waits: str | None = None, until: datetime | None = None) -> None:
        """The run's details in the Temporal UI: the payment, what it pays for (the booking or
        appointment number), its status, what it waits for and until when."""
        payment = self._require()
        of = f" for {payment.reference}" if payment.reference else ""
        show(f"Payment {payment.payment_id}{of}", payment.status, waits, until)

    def _require(self) -> StoredPayment:
        assert self._payment is not None, "the payment is not stored yet"
        return self._payment

    def _require_input(self) -> PaymentInput:
        assert self._input is not None
        return self._input

    def _view(self) -> PaymentView:
        payment = self._payment
        if payment is None:
            new = self._require_input().payment
            return PaymentView(payment_id=new.payment_id, status=None)
        return PaymentView(
            payment_id=payment.payment_id,
            status=payment.status,
            amount=payment.amount,
            currency=payment.currency,
            refunded=payment.refunded,
            failure_reason=self._failure_reason,
            invoice_id=self._invoice.invoice_id if self._invoice is not None else None,
        )


WORKFLOWS: list[type] = [PaymentWorkflow]


async def open_payment(client: Client, task_queue: str, input: PaymentInput) -> PaymentCheckout:
    """Start the payment's workflow (or reach the running one) and wait for its checkout. A
    repeated request (same Idempotency-Key, so the same payment id) gets the same checkout; a
    settled payment raises WorkflowAlreadyStartedError (the caller reads the stored row)."""
    return await update_with_start(
        client,
        PaymentWorkflow.run,
        PaymentWorkflow.open,
        input,
        id=payment_workflow_id(input.payment.payment_id),
        task_queue=task_queue,
        summary=f"Payment {input.payment.payment_id}",
        details=payment_details(input),
    )


def payment_details(input: PaymentInput) -> str:
    """The run's static details in the Temporal UI: ids and the gateway only."""
    new = input.payment
    of = (
        f"booking `{new.booking_id}`"
        if new.booking_id is not None
        else f"appointment `{new.appointment_id}`"
    )
    return f"payment `{new.payment_id}` · {of} · gateway {new.gateway} · {new.currency}"


async def signal_gateway_event(client: Client, payment_id: UUID, event: GatewayEventSignal) -> None:
    handle = client.get_workflow_handle(payment_workflow_id(payment_id))
    await handle.signal(PaymentSignal.GATEWAY_EVENT, event)
