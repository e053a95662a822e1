"""SubscriptionWorkflow: one subscription from its first payment to its end, the only writer of
its status; its timers are the renewal, the reminder and the dunning schedule.

Opened by update-with-start from POST /subscriptions (`create` returns the stored terms and the
first payment's id); the API then opens that payment through the PaymentWorkflow, which tells
this workflow `payment_succeeded` / `payment_failed` (patch subscription-payment). Paid within
the window: active, the method that paid saved on the gateway's customer; never paid: expired.

Periods come from domain/subscription.py, anchored on the day it started in the subscriber's
zone; each ends at local midnight of its end date, when the renewal is charged off-session with
a key per (subscription, period, try): a success starts the next period, issues its invoice and
tells the subscriber, then the run continues as new (once per period, history stays small). A
failed renewal makes it past_due with a dunning schedule fixed at that moment; the decline says
whether to retry, to ask the subscriber to act, or to stop; a new payment method restarts the
schedule and is tried at once; past the grace it expires. `cancel` ends it at the period's end
(undone by `change` with auto_renew), now with a prorated refund when staff ask, and at once
during dunning (no retry follows). `change` upgrades now (the prorated difference charged),
downgrades or changes the cycle at the next period, or replaces the payment method.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.payments import IssuedInvoice
    from activities.providers.gateways import SavedMethod
    from activities.subscriptions import (
        ChargeRefundRequest,
        ChargeRequest,
        ChargeResult,
        CustomerRequest,
        NewSubscription,
        PlanTerms,
        SavedMethodRequest,
        StoredSubscription,
        SubscriptionActivities,
        SubscriptionChanges,
        SubscriptionInvoiceRequest,
        SubscriptionTransition,
        first_payment_id_for,
    )
    from domain import subscription_messages as says
    from domain.access import STAFF
    from domain.errors import Conflict, Forbidden, Invalid, Unavailable
    from domain.lifecycle import SYSTEM, Actor, MoveRefused
    from domain.payment import PaymentGateway as GatewayName
    from domain.subscription import (
        SUBSCRIPTION,
        TERMINAL,
        BillingCycle,
        DeclineAction,
        DunningPolicy,
        Period,
        SubscriptionParties,
        SubscriptionStatus,
        decline_action,
        dunning_schedule,
        local_date,
        local_day_start,
        period,
        prorate,
        upgrade_charge,
    )
    from workflows._kit import (
        DB_ACTIVITY,
        GATEWAY_CREATE,
        GATEWAY_SETTLE,
        Caller,
        SettlingNotifier,
        StateTimers,
        code_of,
        domain_error,
        index,
        quiesce,
        refusal,
        show,
        unwrap,
        update_with_start,
        write_after_accept,
    )
    from workflows.messages import (
        INVOICE_WORKFLOW,
        SUBSCRIPTION_WORKFLOW,
        InvoiceDelivered,
        InvoiceDelivery,
        NotificationRequest,
        PaymentEvent,
        SubscriptionSignal,
        invoice_summary,
        invoice_workflow_id,
        subscription_workflow_id,
    )

S = SubscriptionStatus
workflow_id = subscription_workflow_id
__all__ = [
    "WORKFLOWS",
    "CancelCommand",
    "ChangeCommand",
    "SubscriptionInput",
    "SubscriptionTimers",
    "SubscriptionView",
    "SubscriptionWorkflow",
    "open_subscription",
    "workflow_id",
]
# Razorpay subscriptions (recurring card tokens): a customer before the first payment opens.
RAZORPAY_RENEWALS_PATCH = "subscription-razorpay"
# Charges a renewal's off-session try may take (the gateway answers at once, or it is down).
CHARGE_ACTIVITY = GATEWAY_SETTLE
# The subscriber's messages in their language (subscription_* templates, their variables from
# domain/subscription_messages.py) and each charge's invoice rendered and e-mailed with its
# message by the InvoiceDeliveryWorkflow child. Runs recorded before it sent the generic
# English template and only issued the invoice.
SUBSCRIPTION_MAIL = "subscription-mail"
Mail = tuple[str, dict[str, str]]


class SubscriptionTimers(BaseModel):
    payment_window_hours: int = Field(default=24, ge=1)
    reminder_days: int = Field(default=7, ge=0)
    retry_days: list[int] = Field(default_factory=lambda: [1, 3, 7])
    grace_days: int = Field(default=14, ge=0)


class Dunning(BaseModel):
    """Fixed when a renewal failed (or a new method came): the planned retries, the grace's
    end, the last try and what its decline asked for."""

    started_at: datetime
    retries: list[datetime]
    grace_ends: datetime
    # The last try's number for the period being renewed (1: the renewal itself).
    attempt: int = 1
    last_try_at: datetime
    last_code: str | None = None
    action: DeclineAction = DeclineAction.RETRY

    def next_retry(self) -> datetime | None:
        if self.action != DeclineAction.RETRY:
            return None
        return next((at for at in self.retries if at > self.last_try_at), None)


class PendingChange(BaseModel):
    """A downgrade or a cycle change, taking effect when the current period ends."""

    plan_id: UUID
    plan_name: str
    billing_cycle: BillingCycle
    amount: Decimal
    requested_at: datetime


class SubscriptionState(BaseModel):
    """Everything a run carries over continue-as-new."""

    stored: StoredSubscription
    status: SubscriptionStatus
    seq: int
    # The period that runs: its dates, its number (0 the first, never reset) and where it
    # sits from the anchor (reset when the cycle changes, so periods stay on their day).
    anchor: date | None = None
    index: int = 0
    number: int = 0
    start_date: date | None = None
    end_date: date | None = None
    customer_id: str | None = None
    payment_method_id: str | None = None
    last4: str | None = None
    auto_renew: bool = True
    pending: PendingChange | None = None
    dunning: Dunning | None = None
    reminded: int | None = None
    upgrades: int = 0
    # The charge that paid the current period (what a cancellation now refunds from).
    paid_by: UUID | None = None
    paid_amount: Decimal | None = None
    first_paid: bool = False
    first_failed: str | None = None
    notifications: list[NotificationRequest] = Field(default_factory=list)


class SubscriptionInput(BaseModel):
    subscription: NewSubscription
    timers: SubscriptionTimers = Field(default_factory=SubscriptionTimers)
    index: bool = True
    # Set by continue-as-new.
    state: SubscriptionState | None = None


class SubscriptionView(BaseModel):
    subscription_id: UUID
    status: SubscriptionStatus | None
    plan_id: UUID | None = None
    billing_cycle: BillingCycle | None = None
    amount: Decimal | None = None
    currency: str | None = None
    first_payment_id: UUID | None = None
    start_date: date | None = None
    end_date: date | None = None
    period: int = 0
    auto_renew: bool = True
    next_charge_at: datetime | None = None
    next_charge_amount: Decimal | None = None
    pending_change: PendingChange | None = None
    dunning: Dunning | None = None
    card_last4: str | None = None


class CancelCommand(BaseModel):
    caller: Caller
    # False: now (staff only), refunding the days left of the period.
    at_period_end: bool = True


class ChangeCommand(BaseModel):
    caller: Caller
    auto_renew: bool | None = None
    plan_id: UUID | None = None
    billing_cycle: BillingCycle | None = None
    # A new method at the gateway (Stripe pm_…), attached to the subscription's customer.
    payment_method_id: str | None = Field(default=None, min_length=1, max_length=255)


def _refused(err: BaseException) -> ApplicationError:
    found = unwrap(err)
    if found is not None:
        return refusal(domain_error(found))
    return refusal(Unavailable("The payment gateway did not answer.", code="GATEWAY_UNAVAILABLE"))


@workflow.defn(name=SUBSCRIPTION_WORKFLOW)
class SubscriptionWorkflow:
    def __init__(self) -> None:
        self._input: SubscriptionInput | None = None
        self._state: SubscriptionState | None = None
        self._refusal: ApplicationError | None = None
        self._timers = StateTimers(
            {
                "end": "renewal charge",
                "reminder": "renewal reminder",
                "retry": "dunning retry",
                "grace": "dunning grace end",
            }
        )
        self._lock = asyncio.Lock()
        self._renewed = False
        # The create update answers once the first payment can be opened (see _create).
        self._created = False
        self._notifier = SettlingNotifier([])

    @workflow.run
    async def run(self, input: SubscriptionInput) -> SubscriptionView:
        self._input = input
        if input.state is not None:
            self._state = input.state
            self._created = True
            self._notifier = SettlingNotifier(self._state.notifications)
        else:
            try:
                await self._create(input.subscription)
            except ApplicationError as refused:
                self._refusal = refused
                await workflow.wait_condition(workflow.all_handlers_finished)
                return self._view()
            await self._first_payment(input.timers)
        state = self._require()
        while state.status not in TERMINAL:
            await self._notifier.flush()
            if self._renewed:
                await self._settle()
                workflow.continue_as_new(
                    SubscriptionInput(
                        subscription=input.subscription,
                        timers=input.timers,
                        index=input.index,
                        state=state,
                    )
                )
            due = self._due()
            next_due = min(due, default=None)
            show(
                f"Subscription {state.stored.subscription_id}",
                state.status,
                self._timers.label(next_due[1]) if next_due else None,
                next_due[0] if next_due else None,
            )
            fired = await self._timers.wait_for_change_or_timer(due)
            if not fired:
                continue
            async with self._lock:
                if "grace" in fired and state.status == S.PAST_DUE:
                    await self._expire_unpaid()
                elif "end" in fired and state.status == S.ACTIVE:
                    await self._period_end()
                elif "retry" in fired and state.status == S.PAST_DUE:
                    await self._try_again()
                elif "reminder" in fired and state.status == S.ACTIVE:
                    await self._remind()
        await self._settle()
        return self._view()

    async def _settle(self) -> None:
        """No handler running, every notification sent and its child finished."""
        while True:
            await quiesce(self._notifier)
            await self._notifier.settle()
            if workflow.all_handlers_finished() and not self._notifier.pending:
                return

    # ---- the first payment -----------------------------------------------------------------

    async def _create(self, new: NewSubscription) -> None:
        try:
            stored = await workflow.execute_local_activity_method(
                SubscriptionActivities.create_subscription,
                new,
                **DB_ACTIVITY,
                summary="record the subscription",
            )
        except (ActivityError, ApplicationError) as err:
            raise _refused(err) from None
        self._state = SubscriptionState(stored=stored, status=stored.status, seq=stored.status_seq)
        self._notifier = SettlingNotifier(self._state.notifications)
        self._index()
        # Razorpay saves the card for renewals only when the first order names the customer,
        # so `create` answers (and the API opens that order) once the customer exists. Stripe
        # attaches the card to the customer after the charge if need be: it answers at once.
        razorpay = stored.gateway == GatewayName.RAZORPAY and workflow.patched(
            RAZORPAY_RENEWALS_PATCH
        )
        self._created = not razorpay
        if stored.gateway == GatewayName.STRIPE or razorpay:
            try:
                self._state.customer_id = await workflow.execute_activity_method(
                    SubscriptionActivities.create_subscription_customer,
                    CustomerRequest(subscription_id=stored.subscription_id, gateway=stored.gateway),
                    **GATEWAY_CREATE,
                    summary="create the gateway customer",
                )
            except ActivityError as err:
                refused = _refused(err)
                await self._move(S.EXPIRED, code_of(refused))
                raise refused from None
        self._created = True

    async def _first_payment(self, timers: SubscriptionTimers) -> None:
        state = self._require()
        deadline = workflow.now() + timedelta(hours=timers.payment_window_hours)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: state.first_paid or state.status in TERMINAL,
                timeout=deadline - workflow.now(),
                timeout_summary="first payment window",
            )
        async with self._lock:
            if state.status in TERMINAL:
                return
            if not state.first_paid:
                await self._move(S.EXPIRED, "the first payment was not made in time")
                self._tell(
                    "expired",
                    "Subscription not started",
                    "No payment arrived in time.",
                    says.ended(
                        state.stored.plan.name,
                        "not_started",
                        local_date(workflow.now(), state.stored.timezone),
                    ),
                )
                return
            first = first_payment_id_for(state.stored.subscription_id)
            method = await self._save_method(payment_id=first)
            anchor = local_date(workflow.now(), state.stored.timezone)
            state.anchor, state.index, state.number = anchor, 0, 0
            current = period(anchor, state.stored.billing_cycle, 0)
            state.start_date, state.end_date = current.start, current.end
            state.paid_by, state.paid_amount = first, state.stored.amount
            await self._move(
                S.ACTIVE,
                "first payment received",
                self._period_changes(method),
            )
            mail = says.activated(
                state.stored.plan.name, state.stored.amount, state.stored.currency, current.end
            )
            _, mailed = await self._invoice(first, mail)
            if not mailed:
                self._tell(
                    "activated",
                    "Subscription active",
                    f"Your {state.stored.plan.name} plan runs until {current.end.isoformat()}.",
                    mail,
                )

    async def _save_method(
        self, *, payment_id: UUID | None = None, payment_method_id: str | None = None
    ) -> SavedMethod | None:
        state = self._require()
        if state.customer_id is None:
            return None
        try:
            method: SavedMethod = await workflow.execute_activity_method(
                SubscriptionActivities.save_payment_method,
                SavedMethodRequest(
                    subscription_id=state.stored.subscription_id,
                    gateway=state.stored.gateway,
                    customer_id=state.customer_id,
                    payment_id=payment_id,
                    payment_method_id=payment_method_id,
                ),
                **GATEWAY_CREATE,
                summary="save the payment method",
            )
        except ActivityError as err:
            if payment_method_id is not None:
                raise _refused(err) from None
            workflow.logger.warning("the first payment's method could not be saved")
            return None
        state.payment_method_id, state.last4 = method.payment_method_id, method.last4
        return method

    # ---- renewals and dunning ---------------------------------------------------------------

    def _due(self) -> list[tuple[datetime, str]]:
        state = self._require()
        zone = state.stored.timezone
        if state.status == S.ACTIVE and state.end_date is not None:
            due = [(local_day_start(state.end_date, zone), "end")]
            days = self._require_input().timers.reminder_days
            if state.auto_renew and days > 0 and state.reminded != state.number:
                due.append(
                    (local_day_start(state.end_date - timedelta(days=days), zone), "reminder")
                )
            return due
        if state.status == S.PAST_DUE and state.dunning is not None:
            due = [(state.dunning.grace_ends, "grace")]
            retry = state.dunning.next_retry()
            if retry is not None:
                due.append((retry, "retry"))
            return due
        return []

    def _next_period(self) -> Period:
        state = self._require()
        assert state.anchor is not None
        return period(state.anchor, state.stored.billing_cycle, state.index + 1)

    async def _remind(self) -> None:
        state = self._require()
        state.reminded = state.number
        card = f" on the card ending {state.last4}" if state.last4 else ""
        amount = state.pending.amount if state.pending else state.stored.amount
        assert state.end_date is not None
        self._tell(
            f"reminder:{state.number}",
            "Your subscription renews soon",
            f"On {state.end_date.isoformat()} your {state.stored.plan.name} plan renews for "
            f"{amount} {state.stored.currency}{card}.",
            says.reminder(
                state.pending.plan_name if state.pending else state.stored.plan.name,
                amount,
                state.stored.currency,
                state.end_date,
                state.last4,
            ),
        )

    async def _period_end(self) -> None:
        state = self._require()
        if not state.auto_renew:
            await self._move(
                S.CANCELLED,
                "ended at the end of its period",
                SubscriptionChanges(clear=["next_charge_at", "next_charge_amount"]),
            )
            assert state.end_date is not None
            self._tell(
                "ended",
                "Subscription ended",
                "Your subscription ended as you asked.",
                says.ended(state.stored.plan.name, "ended", state.end_date),
            )
            return
        pending = state.pending
        if pending is not None:
            # The downgrade or cycle change waited for this moment.
            if pending.billing_cycle != state.stored.billing_cycle:
                assert state.end_date is not None
                state.anchor, state.index = state.end_date, -1
            state.stored.plan = state.stored.plan.model_copy(
                update={"plan_id": pending.plan_id, "name": pending.plan_name}
            )
            state.stored.billing_cycle = pending.billing_cycle
            state.stored.amount = pending.amount
            state.pending = None
        await self._charge_renewal(attempt=1)

    async def _charge_renewal(self, attempt: int) -> None:
        """Try the next period's charge; paid: the next period; declined: dunning."""
        state = self._require()
        result = await self._charge(state.number + 1, "renewal", attempt, state.stored.amount)
        if result is not None and result.succeeded:
            await self._advance(result)
            return
        code = result.decline_code if result is not None else "payment_method_missing"
        action = decline_action(code)
        now = workflow.now()
        if state.dunning is None or attempt == 1:
            timers = self._require_input().timers
            schedule = dunning_schedule(
                now, DunningPolicy(tuple(timers.retry_days), timers.grace_days)
            )
            state.dunning = Dunning(
                started_at=schedule.started_at,
                retries=list(schedule.retries),
                grace_ends=schedule.grace_ends,
                attempt=attempt,
                last_try_at=now,
                last_code=code,
                action=action,
            )
        else:
            state.dunning.attempt = attempt
            state.dunning.last_try_at = now
            state.dunning.last_code = code
            state.dunning.action = action
        await self._move(
            S.PAST_DUE,
            f"renewal try {attempt} declined: {code}",
            SubscriptionChanges(
                dunning=state.dunning.model_dump(mode="json"),
                next_charge_at=state.dunning.next_retry(),
                next_charge_amount=state.stored.amount,
                clear=[] if state.dunning.next_retry() else ["next_charge_at"],
            ),
        )
        grace = state.dunning.grace_ends.date().isoformat()
        zone = state.stored.timezone
        retry_at = state.dunning.next_retry()
        mail = says.renewal_failed(
            state.stored.plan.name,
            state.stored.amount,
            state.stored.currency,
            action,
            code,
            local_date(retry_at, zone) if retry_at is not None else None,
            local_date(state.dunning.grace_ends, zone),
        )
        if action == DeclineAction.RETRY:
            retry = state.dunning.next_retry()
            when = f" We will try again on {retry.date().isoformat()}." if retry else ""
            self._tell(
                f"declined:{state.number + 1}:{attempt}",
                "Renewal payment declined",
                f"Your renewal could not be charged.{when} Add a new card before {grace} "
                "to keep your plan.",
                mail,
            )
        elif action == DeclineAction.ASK:
            self._tell(
                f"declined:{state.number + 1}:{attempt}",
                "Action needed on your subscription",
                f"Your card could not be charged ({code}). Add a new payment method or confirm "
                f"the payment before {grace} to keep your plan.",
                mail,
            )
        else:
            self._tell(
                f"declined:{state.number + 1}:{attempt}",
                "Your card can no longer be used",
                f"Your card was refused ({code}) and will not be charged again. Add a new "
                f"payment method before {grace} to keep your plan.",
                mail,
            )

    async def _try_again(self) -> None:
        state = self._require()
        assert state.dunning is not None
        await self._charge_renewal(attempt=state.dunning.attempt + 1)

    async def _advance(self, paid: ChargeResult) -> None:
        state = self._require()
        nxt = self._next_period()
        state.index, state.number = nxt.index, state.number + 1
        state.start_date, state.end_date = nxt.start, nxt.end
        state.paid_by, state.paid_amount = paid.payment_id, state.stored.amount
        state.dunning = None
        await self._move(
            S.ACTIVE,
            f"period {state.number} paid",
            self._period_changes(None, clear=["dunning", "pending_change"]),
        )
        mail = says.renewed(
            state.stored.plan.name,
            state.stored.amount,
            state.stored.currency,
            nxt.end,
            state.last4,
        )
        invoice, mailed = await self._invoice(paid.payment_id, mail)
        number = f" (invoice {invoice.invoice_number})" if invoice is not None else ""
        if not mailed:
            self._tell(
                f"renewed:{state.number}",
                "Subscription renewed",
                f"Your {state.stored.plan.name} plan is renewed until {nxt.end.isoformat()}: "
                f"{state.stored.amount} {state.stored.currency} charged{number}.",
                mail,
            )
        self._renewed = True
        self._timers.changed()

    async def _expire_unpaid(self) -> None:
        await self._move(
            S.EXPIRED,
            "unpaid past the grace period",
            SubscriptionChanges(clear=["next_charge_at", "next_charge_amount"]),
        )
        state = self._require()
        self._tell(
            "expired",
            "Subscription expired",
            "The renewal was not paid within the grace period: your plan has ended.",
            says.ended(
                state.stored.plan.name,
                "expired",
                local_date(workflow.now(), state.stored.timezone),
            ),
        )

    async def _charge(
        self, number: int, kind: str, attempt: int, amount: Decimal
    ) -> ChargeResult | None:
        """One off-session charge; None when there is no saved method to charge."""
        state = self._require()
        if state.customer_id is None or state.payment_method_id is None:
            return None
        try:
            result: ChargeResult = await workflow.execute_activity_method(
                SubscriptionActivities.charge_subscription,
                ChargeRequest(
                    subscription_id=state.stored.subscription_id,
                    period=number,
                    kind=kind,
                    attempt=attempt,
                    amount=amount,
                    currency=state.stored.currency,
                    gateway=state.stored.gateway,
                    customer_id=state.customer_id,
                    payment_method_id=state.payment_method_id,
                    at=workflow.now(),
                ),
                **CHARGE_ACTIVITY,
                summary="renewal charge",
            )
        except ActivityError:
            workflow.logger.warning("a subscription charge could not reach the gateway")
            return ChargeResult(
                payment_id=state.stored.subscription_id, succeeded=False, decline_code=None
            )
        return result

    async def _invoice(
        self, payment_id: UUID, mail: Mail | None = None, *, wait: bool = True
    ) -> tuple[IssuedInvoice | None, bool]:
        """The charge's invoice, issued; then (patch subscription-mail) rendered and e-mailed
        with the subscriber's message by the InvoiceDeliveryWorkflow child. True: the message
        went out with it (else the caller tells the subscriber itself). Without `wait` (an
        update, whose caller must not wait for a PDF and an e-mail) the child is only started
        and goes on by itself."""
        state = self._require()
        try:
            issued: IssuedInvoice = await workflow.execute_local_activity_method(
                SubscriptionActivities.issue_subscription_invoice,
                SubscriptionInvoiceRequest(
                    subscription_id=state.stored.subscription_id,
                    payment_id=payment_id,
                    issued_on=local_date(workflow.now(), state.stored.timezone),
                ),
                **DB_ACTIVITY,
                summary="issue the invoice",
            )
        except (ActivityError, ApplicationError):
            workflow.logger.error("a subscription invoice could not be issued")
            return None, False
        if mail is None or not workflow.patched(SUBSCRIPTION_MAIL):
            return issued, False
        template, context = mail
        delivery = InvoiceDelivery(
            invoice_id=issued.invoice_id,
            subscription_id=state.stored.subscription_id,
            template=template,
            context=context,
        )
        if not wait:
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await workflow.start_child_workflow(
                    INVOICE_WORKFLOW,
                    delivery,
                    id=invoice_workflow_id(delivery),
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    result_type=InvoiceDelivered,
                    static_summary=invoice_summary(delivery),
                )
            return issued, True
        try:
            delivered: InvoiceDelivered = await workflow.execute_child_workflow(
                INVOICE_WORKFLOW,
                delivery,
                id=invoice_workflow_id(delivery),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                result_type=InvoiceDelivered,
                static_summary=invoice_summary(delivery),
            )
        except WorkflowAlreadyStartedError:
            # Delivered by an earlier run of this subscription.
            return issued, True
        except ChildWorkflowError as err:
            # The charge is in: the subscriber is told without the PDF, which can be sent again
            # (POST /invoices/:id/send) once whatever failed is fixed.
            workflow.logger.error("subscription invoice delivery failed: %s", err.message)
            return issued, False
        return issued, delivered.dedupe_key is not None

    # ---- commands and events ----------------------------------------------------------------

    @workflow.signal(name=SubscriptionSignal.PAYMENT_SUCCEEDED)
    def payment_succeeded(self, event: PaymentEvent) -> None:
        state = self._state
        if state is None or event.payment_id != first_payment_id_for(state.stored.subscription_id):
            workflow.logger.warning("a payment for another subscription ignored")
            return
        state.first_paid = True

    @workflow.signal(name=SubscriptionSignal.PAYMENT_FAILED)
    def payment_failed(self, event: PaymentEvent) -> None:
        if self._state is not None:
            self._state.first_failed = event.note or "failed"

    @workflow.update
    async def create(self) -> SubscriptionView:
        await workflow.wait_condition(
            lambda: (self._state is not None and self._created) or self._refusal is not None
        )
        if self._refusal is not None:
            raise self._refusal
        return self._view()

    @workflow.update
    async def cancel(self, command: CancelCommand) -> SubscriptionView:
        async with self._lock:
            self._check_cancel(command)
            state = self._require()
            caller = command.caller
            refund: Decimal | None = None
            if state.status in (S.INCOMPLETE, S.PAST_DUE):
                # Nothing paid is left to keep: it ends now, and no retry follows.
                await self._move(
                    S.CANCELLED,
                    "cancelled",
                    SubscriptionChanges(
                        cancelled_at=workflow.now(),
                        auto_renew=False,
                        clear=["next_charge_at", "next_charge_amount"],
                    ),
                    actor=caller,
                )
                state.auto_renew = False
            elif command.at_period_end:
                state.auto_renew = False
                await self._move(
                    S.ACTIVE,
                    "cancelled at the end of the period",
                    SubscriptionChanges(
                        auto_renew=False, clear=["next_charge_at", "next_charge_amount"]
                    ),
                    actor=caller,
                )
            else:
                refund = await self._cancel_now(caller)
            self._tell(
                f"cancelled:{state.seq}",
                "Subscription cancelled",
                "Your subscription ends now."
                if state.status == S.CANCELLED
                else f"Your subscription ends on {state.end_date}; until then it runs as before.",
                says.cancelled(
                    state.stored.plan.name,
                    None if state.status == S.CANCELLED else state.end_date,
                    refund,
                    state.stored.currency,
                ),
            )
            self._timers.changed()
            return self._view()

    @cancel.validator
    def _validate_cancel(self, command: CancelCommand) -> None:
        self._check_cancel(command)

    def _check_cancel(self, command: CancelCommand) -> None:
        state = self._state
        if state is None:
            raise refusal(Conflict("The subscription is not stored yet.", code="NOT_READY"))
        actor = command.caller.actor()
        self._check_party(actor)
        if state.status in TERMINAL:
            raise refusal(
                Conflict(f"This subscription is {state.status.value}.", code="SUBSCRIPTION_CLOSED")
            )
        if state.status == S.ACTIVE and not command.at_period_end:
            try:
                SUBSCRIPTION.check(state.status, S.CANCELLED, actor, self._parties())
            except MoveRefused as refused:
                raise refusal(refused) from None
        if state.status == S.ACTIVE and command.at_period_end and not state.auto_renew:
            raise refusal(Conflict("It already ends with this period.", code="ALREADY_CANCELLED"))

    async def _cancel_now(self, caller: Caller) -> Decimal:
        """Ends it now, the days left refunded: what was refunded."""
        state = self._require()
        assert state.start_date is not None and state.end_date is not None
        refund = Decimal("0")
        if state.paid_by is not None and state.paid_amount:
            current = Period(state.index, state.start_date, state.end_date)
            today = local_date(workflow.now(), state.stored.timezone)
            refund = prorate(
                state.paid_amount, current.days_left(today), current.days, state.stored.currency
            )
        if refund > 0 and state.paid_by is not None:
            try:
                await workflow.execute_activity_method(
                    SubscriptionActivities.refund_subscription_charge,
                    ChargeRefundRequest(
                        subscription_id=state.stored.subscription_id,
                        payment_id=state.paid_by,
                        amount=refund,
                        at=workflow.now(),
                    ),
                    **GATEWAY_SETTLE,
                    summary="refund the charge",
                )
            except ActivityError as err:
                raise _refused(err) from None
        state.auto_renew = False
        await self._move(
            S.CANCELLED,
            f"cancelled now; {refund} {state.stored.currency} refunded",
            SubscriptionChanges(
                cancelled_at=workflow.now(),
                auto_renew=False,
                clear=["next_charge_at", "next_charge_amount", "pending_change"],
            ),
            actor=caller,
        )
        return refund

    @workflow.update
    async def change(self, command: ChangeCommand) -> SubscriptionView:
        async with self._lock:
            self._check_change(command)
            state = self._require()
            if command.payment_method_id is not None:
                await self._new_method(command)
            if command.plan_id is not None or command.billing_cycle is not None:
                await self._change_plan(command)
            if command.auto_renew is not None and command.auto_renew != state.auto_renew:
                state.auto_renew = command.auto_renew
                await self._move(
                    state.status,
                    "renews again" if command.auto_renew else "ends at the end of the period",
                    self._period_changes(None)
                    if command.auto_renew
                    else SubscriptionChanges(
                        auto_renew=False, clear=["next_charge_at", "next_charge_amount"]
                    ),
                    actor=command.caller,
                )
            self._timers.changed()
            return self._view()

    @change.validator
    def _validate_change(self, command: ChangeCommand) -> None:
        self._check_change(command)

    def _check_change(self, command: ChangeCommand) -> None:
        state = self._state
        if state is None:
            raise refusal(Conflict("The subscription is not stored yet.", code="NOT_READY"))
        self._check_party(command.caller.actor())
        if state.status in TERMINAL or state.status == S.INCOMPLETE:
            raise refusal(
                Conflict(
                    f"This subscription is {state.status.value}: nothing to change.",
                    code="SUBSCRIPTION_NOT_CHANGEABLE",
                )
            )
        asks_plan = command.plan_id is not None or command.billing_cycle is not None
        if asks_plan and state.status != S.ACTIVE:
            raise refusal(
                Conflict("Pay the renewal before changing plans.", code="SUBSCRIPTION_PAST_DUE")
            )
        if command.auto_renew is not None and state.status != S.ACTIVE:
            raise refusal(
                Conflict("Only a running subscription renews.", code="SUBSCRIPTION_PAST_DUE")
            )
        if not asks_plan and command.auto_renew is None and command.payment_method_id is None:
            raise refusal(Invalid("Nothing to change.", code="NOTHING_TO_CHANGE"))

    def _check_party(self, actor: Actor) -> None:
        if actor.is_system or actor.role in STAFF:
            return
        if actor.user_id not in self._parties().holders:
            raise refusal(
                Forbidden(
                    "Only the subscriber or staff act on this subscription",
                    code="NOT_SUBSCRIBER",
                )
            )

    async def _new_method(self, command: ChangeCommand) -> None:
        """A new card: saved for the renewals; during dunning the schedule restarts from now
        and the card is tried at once."""
        state = self._require()
        assert command.payment_method_id is not None
        await self._save_method(payment_method_id=command.payment_method_id)
        await self._move(
            state.status,
            "new payment method",
            SubscriptionChanges(
                gateway_payment_method_id=state.payment_method_id, card_last4=state.last4
            ),
            actor=command.caller,
        )
        if state.status == S.PAST_DUE and state.dunning is not None:
            attempt = state.dunning.attempt + 1
            state.dunning = None
            await self._charge_renewal(attempt=attempt)

    async def _change_plan(self, command: ChangeCommand) -> None:
        state = self._require()
        plan_id = command.plan_id or state.stored.plan.plan_id
        cycle = command.billing_cycle or state.stored.billing_cycle
        try:
            terms: PlanTerms = await workflow.execute_local_activity_method(
                SubscriptionActivities.read_plan_terms,
                plan_id,
                **DB_ACTIVITY,
                summary="read the plan terms",
            )
            new_price = terms.price(cycle)
        except (ActivityError, ApplicationError) as err:
            raise _refused(err) from None
        except Invalid as refused:
            raise refusal(refused) from None
        if not terms.is_active and plan_id != state.stored.plan.plan_id:
            raise refusal(Conflict("This plan is retired.", code="PLAN_RETIRED"))
        if terms.target_user != state.stored.plan.target_user:
            raise refusal(
                Invalid("This plan is for another kind of subscriber.", code="PLAN_NOT_FOR_HOLDER")
            )
        if terms.currency != state.stored.currency:
            raise refusal(
                Invalid("The plan is priced in another currency.", code="CURRENCY_MISMATCH")
            )
        same_cycle = cycle == state.stored.billing_cycle
        if same_cycle and new_price > state.stored.amount:
            await self._upgrade(command, terms, new_price)
            return
        if same_cycle and plan_id == state.stored.plan.plan_id:
            raise refusal(Invalid("This is the current plan.", code="NOTHING_TO_CHANGE"))
        state.pending = PendingChange(
            plan_id=terms.plan_id,
            plan_name=terms.name,
            billing_cycle=cycle,
            amount=new_price,
            requested_at=workflow.now(),
        )
        await self._move(
            S.ACTIVE,
            "change waiting for the next period",
            SubscriptionChanges(
                pending_change=state.pending.model_dump(mode="json"),
                next_charge_amount=new_price if state.auto_renew else None,
            ),
            actor=command.caller,
        )
        if workflow.patched(SUBSCRIPTION_MAIL):
            assert state.end_date is not None
            self._send(
                f"scheduled:{state.seq}",
                says.changed(
                    terms.name,
                    "scheduled",
                    new_price,
                    state.stored.currency,
                    state.end_date,
                    cycle.value,
                ),
            )

    async def _upgrade(self, command: ChangeCommand, terms: PlanTerms, new_price: Decimal) -> None:
        """Now: the difference for the days left of the period, charged off-session."""
        state = self._require()
        assert state.start_date is not None and state.end_date is not None
        current = Period(state.index, state.start_date, state.end_date)
        today = local_date(workflow.now(), state.stored.timezone)
        due = upgrade_charge(state.stored.amount, new_price, current, today, state.stored.currency)
        paid: ChargeResult | None = None
        if due > 0:
            state.upgrades += 1
            paid = await self._charge(state.number, "upgrade", state.upgrades, due)
            if paid is None or not paid.succeeded:
                raise refusal(
                    Conflict(
                        "The upgrade could not be charged; nothing changed.",
                        code="UPGRADE_DECLINED",
                        details={"decline_code": paid.decline_code if paid else None},
                    )
                )
        state.stored.plan = terms
        state.stored.amount = new_price
        state.pending = None
        await self._move(
            S.ACTIVE,
            f"upgraded to {terms.name}; {due} {state.stored.currency} charged",
            SubscriptionChanges(
                plan_id=terms.plan_id,
                amount=new_price,
                next_charge_amount=new_price if state.auto_renew else None,
                clear=["pending_change"],
            ),
            actor=command.caller,
        )
        if workflow.patched(SUBSCRIPTION_MAIL):
            assert state.end_date is not None
            mail = says.changed(
                terms.name,
                "upgraded",
                due,
                state.stored.currency,
                state.end_date,
                state.stored.billing_cycle.value,
            )
            mailed = False
            if paid is not None:
                _, mailed = await self._invoice(paid.payment_id, mail, wait=False)
            if not mailed:
                self._send(f"upgraded:{state.upgrades}:{state.seq}", mail)
        elif paid is not None:
            await self._invoice(paid.payment_id)

    @workflow.query
    def view(self) -> SubscriptionView:
        return self._view()

    # ---- writes and helpers -----------------------------------------------------------------

    def _period_changes(
        self, method: SavedMethod | None, *, clear: list[str] | None = None
    ) -> SubscriptionChanges:
        state = self._require()
        assert state.end_date is not None
        return SubscriptionChanges(
            plan_id=state.stored.plan.plan_id,
            billing_cycle=state.stored.billing_cycle,
            amount=state.stored.amount,
            start_date=state.start_date,
            end_date=state.end_date,
            current_period=state.number,
            next_charge_at=local_day_start(state.end_date, state.stored.timezone)
            if state.auto_renew
            else None,
            next_charge_amount=(state.pending.amount if state.pending else state.stored.amount)
            if state.auto_renew
            else None,
            auto_renew=state.auto_renew,
            gateway_customer_id=state.customer_id,
            gateway_payment_method_id=method.payment_method_id if method else None,
            card_last4=method.last4 if method else None,
            clear=clear or [],
        )

    async def _move(
        self,
        target: SubscriptionStatus,
        notes: str,
        changes: SubscriptionChanges | None = None,
        *,
        actor: Caller | None = None,
    ) -> None:
        """Write a status (or, for the same one, just the changes) with its history row. A move
        the table refuses is a bug: the task fails and retries."""
        state = self._require()
        source = state.status
        mover = actor.actor() if actor is not None and target in TERMINAL else Actor(SYSTEM)
        try:
            SUBSCRIPTION.check(source, target, mover, self._parties())
        except MoveRefused as refused:
            raise RuntimeError(f"subscription: {refused.message}") from None
        seq = state.seq + 1
        state.status, state.seq = target, seq
        # Once the update that asked for it is accepted (workflows/_kit.write_after_accept).
        await write_after_accept(
            SubscriptionActivities.record_subscription_transition,
            SubscriptionTransition(
                subscription_id=state.stored.subscription_id,
                seq=seq,
                from_status=source,
                to_status=target,
                actor_user_id=actor.user_id if actor is not None else None,
                actor_role=actor.role.value if actor is not None else SYSTEM,
                notes=notes,
                changes=changes or SubscriptionChanges(),
            ),
            summary=f"status {source.value} → {target.value}",
        )
        self._index()
        self._timers.changed()

    def _tell(self, key: str, title: str, message: str, mail: Mail) -> None:
        """The subscriber's message: its own template in their language (patch
        subscription-mail), the generic English one in runs recorded before."""
        if workflow.patched(SUBSCRIPTION_MAIL):
            self._send(key, mail)
        else:
            self._send(key, ("generic", {"title": title, "message": message}))

    def _send(self, key: str, mail: Mail) -> None:
        """Queued to every holder (ids only: the notification loads each recipient)."""
        state = self._require()
        template, context = mail
        for user_id in state.stored.holder_user_ids:
            self._notifier.queue(
                NotificationRequest(
                    dedupe_key=f"subscription:{state.stored.subscription_id}:{key}:{user_id}",
                    user_id=user_id,
                    template=template,
                    context=context,
                    type="subscription",
                    reference_type="subscription",
                    reference_id=state.stored.subscription_id,
                )
            )

    def _parties(self) -> SubscriptionParties:
        state = self._state
        return SubscriptionParties(
            frozenset(state.stored.holder_user_ids) if state is not None else frozenset()
        )

    def _index(self) -> None:
        state = self._state
        if state is None or not self._require_input().index:
            return

        def legacy() -> list[Any]:
            return []

        index(
            "subscription",
            state.status,
            {"HospitalId": state.stored.hospital_id},
            legacy,
        )

    def _require(self) -> SubscriptionState:
        assert self._state is not None, "the subscription is not stored yet"
        return self._state

    def _require_input(self) -> SubscriptionInput:
        assert self._input is not None
        return self._input

    def _view(self) -> SubscriptionView:
        state = self._state
        if state is None:
            return SubscriptionView(
                subscription_id=self._require_input().subscription.subscription_id, status=None
            )
        next_at: datetime | None = None
        next_amount: Decimal | None = None
        if state.status == S.ACTIVE and state.auto_renew and state.end_date is not None:
            next_at = local_day_start(state.end_date, state.stored.timezone)
            next_amount = state.pending.amount if state.pending else state.stored.amount
        elif state.status == S.PAST_DUE and state.dunning is not None:
            next_at = state.dunning.next_retry()
            next_amount = state.stored.amount
        return SubscriptionView(
            subscription_id=state.stored.subscription_id,
            status=state.status,
            plan_id=state.stored.plan.plan_id,
            billing_cycle=state.stored.billing_cycle,
            amount=state.stored.amount,
            currency=state.stored.currency,
            first_payment_id=first_payment_id_for(state.stored.subscription_id),
            start_date=state.start_date,
            end_date=state.end_date,
            period=state.number,
            auto_renew=state.auto_renew,
            next_charge_at=next_at,
            next_charge_amount=next_amount,
            pending_change=state.pending,
            dunning=state.dunning,
            card_last4=state.last4,
        )


WORKFLOWS: list[type] = [SubscriptionWorkflow]


async def open_subscription(
    client: Client, task_queue: str, input: SubscriptionInput
) -> SubscriptionView:
    """Start the subscription's workflow (or reach the running one) and wait for its stored
    terms; the first payment is then opened with `first_payment_id` (api/services)."""
    return await update_with_start(
        client,
        SubscriptionWorkflow.run,
        SubscriptionWorkflow.create,
        input,
        id=subscription_workflow_id(input.subscription.subscription_id),
        task_queue=task_queue,
        summary=f"Subscription {input.subscription.subscription_id}",
        details=f"plan {input.subscription.plan_id}, {input.subscription.billing_cycle.value}",
    )
