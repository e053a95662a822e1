"""BookingWorkflow: one booking from request to feedback, the only writer of its status.

Commands from people are Updates (create, change_status, send_quotation, cancel, edit_details,
assign_coordinator): their validators check domain.booking's transition table against the
caller's role and the current state, so an illegal move is refused before anything is written.
Events from the platform are Signals (record_uploaded, payment_started, payment_succeeded,
payment_failed, invoice_sent, feedback_received). Each accepted move runs one activity that
writes the row and its history row once the move's update is durably accepted, then notifies the
people involved: one deliver_notifications activity per step (runs recorded before
`booking-notify-inline`: DeliverNotification children). Quotation expiry, its reminder and the
review SLA are timers derived from the state.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.bookings import (
        AdminsQuery,
        BookingActivities,
        BookingChanges,
        CoordinatorAssignment,
        DetailsUpdate,
        NewBooking,
        RefundRecord,
        StoredBooking,
        TransitionRecord,
    )
    from domain.booking import (
        BOOKING,
        IN_REVIEW,
        PAID,
        SYSTEM,
        TERMINAL,
        Actor,
        BookingPaymentStatus,
        BookingStatus,
        MoveContext,
        MoveRefused,
        Parties,
        cancellation_refund_percent,
        check_assignment,
        check_edit,
    )
    from domain.errors import Forbidden, Invalid
    from domain.payment import PaymentStatus
    from workflows._kit import (
        DB_ACTIVITY,
        Caller,
        Notifier,
        StateTimers,
        index,
        quiesce,
        refusal,
        should_continue_as_new,
        show,
        update_with_start,
        write_after_accept,
    )
    from workflows.messages import (
        BOOKING_WORKFLOW,
        BookingCancelled,
        BookingSignal,
        FeedbackEvent,
        InvoiceEvent,
        NotificationRequest,
        PaymentEvent,
        PaymentSignal,
        RecordUploaded,
        RefundSettled,
        booking_workflow_id,
        payment_workflow_id,
    )

# The search attributes of runs recorded before the kit's scheme (workflows/_kit.index).
LEGACY_BOOKING_STATUS = SearchAttributeKey.for_keyword("BookingStatus")
LEGACY_HOSPITAL_ID = SearchAttributeKey.for_keyword("HospitalId")
LEGACY_PATIENT_ID = SearchAttributeKey.for_keyword("PatientId")

# Patch ids (workflow.patched): behaviour added after histories were recorded.
# A step's notifications go out as one deliver_notifications activity of this run instead of a
# DeliverNotification child per recipient (workflows/_kit.Notifier): each move cost 2 more
# workflow tasks, 3 local activities and about 10 DB transactions per recipient.
NOTIFY_INLINE_PATCH = "booking-notify-inline"

# Continue-as-new well before Temporal's own limits (also when the server suggests it).
MAX_HISTORY_EVENTS = 2000
# A cancelled booking stays open this long for the refund it asked of its payment: the payment
# workflow retries the gateway for hours; past this, the outcome is left to staff.
REFUND_WAIT = timedelta(days=7)
# The booking's payment status after a refund, by the payment's status.
PAYMENT_STATUS_AFTER_REFUND = {
    PaymentStatus.REFUNDED: BookingPaymentStatus.REFUNDED,
    PaymentStatus.PARTIALLY_REFUNDED: BookingPaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.COMPLETED: BookingPaymentStatus.PAID,
    PaymentStatus.CANCELLED: BookingPaymentStatus.UNPAID,
    PaymentStatus.FAILED: BookingPaymentStatus.UNPAID,
    PaymentStatus.EXPIRED: BookingPaymentStatus.UNPAID,
}

S = BookingStatus


# The booking's id, the caller and the payloads other workflows send, importable from here.
workflow_id = booking_workflow_id
__all__ = [
    "WORKFLOWS",
    "BookingCancelled",
    "BookingInput",
    "BookingState",
    "BookingTimers",
    "BookingView",
    "BookingWorkflow",
    "Caller",
    "Cancellation",
    "CoordinatorChange",
    "DetailsChange",
    "FeedbackEvent",
    "InvoiceEvent",
    "PaymentEvent",
    "Quotation",
    "QuotationItem",
    "RecordUploaded",
    "RefundSettled",
    "StatusChange",
    "WaitingFor",
    "open_booking",
    "signal_feedback_received",
    "signal_record_uploaded",
    "workflow_id",
]


class BookingTimers(BaseModel):
    review_sla_hours: int = Field(default=48, ge=1)
    quotation_reminder_hours: int = Field(default=48, ge=0)


class BookingState(BaseModel):
    """Everything the workflow knows, carried over continue-as-new. Ids and money, no PHI."""

    booking_id: UUID
    booking_number: str
    patient_id: UUID
    hospital_id: UUID | None = None
    status: BookingStatus
    seq: int
    status_since: datetime
    patient_user_id: UUID | None = None
    hospital_admin_user_id: UUID | None = None
    coordinator_id: UUID | None = None
    quotation_valid_until: datetime | None = None
    total_amount: Decimal | None = None
    currency: str | None = None
    # The seq of the status whose reminder / SLA alert has gone out (each at most once).
    reminded_seq: int = 0
    review_alerted_seq: int = 0
    assignments: int = 0
    # The payment in play: the open one (payment_started) or the one that paid (succeeded).
    payment_id: UUID | None = None
    # Cancelled with money taken: the payment workflow was asked for the policy's refund and
    # the booking stays open until it answers (refund_settled).
    refund_awaited: bool = False
    cancelled_from: BookingStatus | None = None
    # Notifications decided but not yet started (started by the main loop, in order).
    pending: list[NotificationRequest] = Field(default_factory=list)


class BookingInput(BaseModel):
    booking: NewBooking
    timers: BookingTimers = Field(default_factory=BookingTimers)
    # Upsert the BookingStatus/HospitalId/PatientId search attributes (off where the server
    # has none registered). An input, so replays decide the same way.
    index: bool = True
    max_history_events: int = MAX_HISTORY_EVENTS
    # The cancellation policy (percent refunded by status); None: domain's default.
    refund_policy: dict[str, Decimal] | None = None
    # Set by continue-as-new: the booking already exists, carry on from here.
    carried: BookingState | None = None


class BookingView(BaseModel):
    booking_id: UUID
    booking_number: str
    status: BookingStatus
    seq: int
    coordinator_id: UUID | None = None
    # Set on the answer of a move (status, quotation, cancel): the row's fields the move set and
    # its updated_at as written, so the API answers without reading the row again.
    changes: BookingChanges | None = None
    updated_at: datetime | None = None


class StatusChange(BaseModel):
    caller: Caller
    status: BookingStatus
    notes: str | None = None


class QuotationItem(BaseModel):
    description: str
    amount: Decimal


class Quotation(BaseModel):
    caller: Caller
    items: list[QuotationItem] = Field(min_length=1)
    currency: str
    valid_until: datetime
    notes: str | None = None
    total_amount: Decimal


class Cancellation(BaseModel):
    caller: Caller
    reason: str


class DetailsChange(BaseModel):
    caller: Caller
    fields: list[str]
    requested_date: date | None = None
    medical_details: dict[str, Any] | None = None
    travel_details: dict[str, Any] | None = None
    notes: str | None = None
    booking_type: str | None = None


class CoordinatorChange(BaseModel):
    caller: Caller
    coordinator_id: UUID


class WaitingFor(BaseModel):
    status: BookingStatus
    description: str
    until: datetime | None = None


@workflow.defn(name=BOOKING_WORKFLOW)
class BookingWorkflow:
    def __init__(self) -> None:
        self._state: BookingState | None = None
        self._input: BookingInput | None = None
        # Moves run one at a time: checked, applied to the state, written, notified.
        self._lock = asyncio.Lock()
        self._timers = StateTimers(
            {
                "review": "review SLA alert",
                "reminder": "quotation reminder",
                "expiry": "quotation expiry",
            }
        )
        self._notifier = Notifier([], inline_patch=NOTIFY_INLINE_PATCH)

    @workflow.run
    async def run(self, input: BookingInput) -> BookingView:
        self._input = input
        if input.carried is not None:
            self._state = input.carried
            self._notifier = Notifier(self._state.pending, inline_patch=NOTIFY_INLINE_PATCH)
        else:
            stored = await workflow.execute_local_activity_method(
                BookingActivities.create_booking,
                input.booking,
                **DB_ACTIVITY,
                summary="create the booking row",
            )
            self._state = self._initial_state(stored)
            self._notifier = Notifier(self._state.pending, inline_patch=NOTIFY_INLINE_PATCH)
            if stored.status_seq == 1:
                self._notify_parties(
                    1, "booking_status_changed", {"status": S.REQUESTED.value}, exclude=None
                )
        self._index()
        state = self._state
        while True:
            await self._notifier.flush()
            self._show()
            if state.status in TERMINAL:
                # A payment signal handled while quiescing may have asked for a refund too.
                while True:
                    await self._await_refund()
                    await quiesce(self._notifier)
                    if not state.refund_awaited:
                        return self._view()
            if should_continue_as_new(input.max_history_events):
                await quiesce(self._notifier)
                if state.status not in TERMINAL:
                    workflow.continue_as_new(input.model_copy(update={"carried": self._state}))
                continue
            fired = await self._timers.wait_for_change_or_timer(
                self._due(), wake=lambda: bool(state.pending)
            )
            if fired is not None:
                await self._fire(fired)

    async def _await_refund(self) -> None:
        state = self._require_state()
        if not state.refund_awaited:
            return
        try:
            await workflow.wait_condition(
                lambda: not state.refund_awaited,
                timeout=REFUND_WAIT,
                timeout_summary=f"refund wait, payment {state.payment_id}",
            )
        except TimeoutError:
            state.refund_awaited = False
            await self._record_refund(
                RefundRecord(
                    booking_id=state.booking_id,
                    outcome={"status": "no_answer", "needs_staff": True},
                )
            )

    def _due(self) -> list[tuple[datetime, str]]:
        """The timers the current state implies; a move changes the state, so it resets them."""
        state = self._require_state()
        timers = self._require_input().timers
        due: list[tuple[datetime, str]] = []
        if state.status in IN_REVIEW and state.review_alerted_seq != state.seq:
            due.append((state.status_since + timedelta(hours=timers.review_sla_hours), "review"))
        if state.status == S.QUOTATION_SENT and state.quotation_valid_until is not None:
            remind_at = state.quotation_valid_until - timedelta(
                hours=timers.quotation_reminder_hours
            )
            if (
                timers.quotation_reminder_hours > 0
                and state.reminded_seq != state.seq
                and remind_at > state.status_since
            ):
                due.append((remind_at, "reminder"))
            due.append((state.quotation_valid_until, "expiry"))
        return due

    async def _fire(self, names: list[str]) -> None:
        state = self._require_state()
        if "expiry" in names:
            try:
                await self._move(
                    S.ON_HOLD, Actor(SYSTEM), "quotation_expired", reason="quotation_expired"
                )
            except ApplicationError:
                # A command got there first (confirmed, cancelled): the timer is moot.
                workflow.logger.info("quotation expiry moot in %s", state.status.value)
            return
        if "reminder" in names:
            state.reminded_seq = state.seq
            assert state.quotation_valid_until is not None
            people = [state.patient_user_id, state.coordinator_id]
            self._notify(
                [p for p in people if p is not None],
                f"quotation-reminder:{state.seq}",
                "booking_quotation_reminder",
                {"valid_until": state.quotation_valid_until.strftime("%Y-%m-%d %H:%M UTC")},
            )
        if "review" in names:
            state.review_alerted_seq = state.seq
            self._notify(
                await self._staff(),
                f"review-sla:{state.seq}",
                "booking_review_overdue",
                {
                    "status": state.status.value,
                    "hours": str(self._require_input().timers.review_sla_hours),
                },
            )
        self._timers.changed()

    async def _staff(self) -> list[UUID]:
        """The booking's coordinator, or every admin while nobody is assigned."""
        state = self._require_state()
        if state.coordinator_id is not None:
            return [state.coordinator_id]
        return await workflow.execute_local_activity_method(
            BookingActivities.find_admins, AdminsQuery(), **DB_ACTIVITY, summary="find the admins"
        )

    @workflow.update
    async def create(self) -> BookingView:
        """The update of update-with-start: answers once the row is stored (also on a retry)."""
        await workflow.wait_condition(lambda: self._state is not None)
        return self._view()

    @workflow.update
    async def change_status(self, change: StatusChange) -> BookingView:
        await self._ready()
        return await self._move(change.status, change.caller.actor(), change.notes)

    @change_status.validator
    def _validate_change_status(self, change: StatusChange) -> None:
        self._validate_move(change.status, change.caller.actor())

    @workflow.update
    async def send_quotation(self, quotation: Quotation) -> BookingView:
        await self._ready()
        self._check_quotation_dates(quotation)
        return await self._move(
            S.QUOTATION_SENT, quotation.caller.actor(), quotation.notes, quotation=quotation
        )

    @send_quotation.validator
    def _validate_send_quotation(self, quotation: Quotation) -> None:
        self._check_quotation_dates(quotation)
        self._validate_move(S.QUOTATION_SENT, quotation.caller.actor(), quotation=quotation)

    @workflow.update
    async def cancel(self, cancellation: Cancellation) -> BookingView:
        await self._ready()
        view = await self._move(
            S.CANCELLED, cancellation.caller.actor(), cancellation.reason, reason="cancelled"
        )
        await self._ask_for_refund(cancellation)
        return view

    @cancel.validator
    def _validate_cancel(self, cancellation: Cancellation) -> None:
        self._validate_move(S.CANCELLED, cancellation.caller.actor())

    @workflow.update
    async def edit_details(self, change: DetailsChange) -> BookingView:
        await self._ready()
        async with self._lock:
            state = self._require_state()
            try:
                check_edit(state.status, change.fields, change.caller.actor(), self._parties())
            except MoveRefused as refused:
                raise refusal(refused) from None
            await write_after_accept(
                BookingActivities.update_booking_details,
                DetailsUpdate(
                    booking_id=state.booking_id,
                    **change.model_dump(exclude={"caller"}),
                ),
                summary="update the booking details",
            )
        return self._view()

    @edit_details.validator
    def _validate_edit_details(self, change: DetailsChange) -> None:
        if self._state is None:
            return
        try:
            check_edit(self._state.status, change.fields, change.caller.actor(), self._parties())
        except MoveRefused as refused:
            raise refusal(refused) from None

    @workflow.update
    async def assign_coordinator(self, change: CoordinatorChange) -> BookingView:
        await self._ready()
        async with self._lock:
            state = self._require_state()
            try:
                check_assignment(state.status, change.caller.actor(), self._parties())
            except MoveRefused as refused:
                raise refusal(refused) from None
            if state.coordinator_id == change.coordinator_id:
                return self._view()
            state.coordinator_id = change.coordinator_id
            state.assignments += 1
            self._timers.changed()
            await write_after_accept(
                BookingActivities.assign_coordinator,
                CoordinatorAssignment(
                    booking_id=state.booking_id, coordinator_id=change.coordinator_id
                ),
                summary=f"assign coordinator {change.coordinator_id}",
            )
            if change.coordinator_id != change.caller.user_id:
                self._notify(
                    [change.coordinator_id],
                    f"assigned:{state.assignments}",
                    "booking_assigned",
                    {"status": state.status.value},
                )
        return self._view()

    @assign_coordinator.validator
    def _validate_assign_coordinator(self, change: CoordinatorChange) -> None:
        if self._state is None:
            return
        try:
            check_assignment(self._state.status, change.caller.actor(), self._parties())
        except MoveRefused as refused:
            raise refusal(refused) from None

    @workflow.signal(name=BookingSignal.RECORD_UPLOADED)
    async def record_uploaded(self, event: RecordUploaded) -> None:
        await self._ready()
        state = self._require_state()
        if state.status != S.AWAITING_MEDICAL_DETAILS:
            workflow.logger.info("record upload ignored in %s", state.status.value)
            return
        self._notify(
            await self._staff(), f"record:{event.record_id}", "booking_record_uploaded", {}
        )
        self._timers.changed()

    @workflow.signal(name=BookingSignal.PAYMENT_STARTED)
    async def payment_started(self, event: PaymentEvent) -> None:
        if await self._cancelled_before(event):
            return
        if await self._system_move(
            S.PAYMENT_PENDING,
            event.note,
            BookingChanges(payment_status=BookingPaymentStatus.PENDING),
        ):
            self._require_state().payment_id = event.payment_id

    @workflow.signal(name=BookingSignal.PAYMENT_SUCCEEDED)
    async def payment_succeeded(self, event: PaymentEvent) -> None:
        if await self._cancelled_before(event):
            return
        if await self._system_move(
            S.PAYMENT_COMPLETED,
            event.note,
            BookingChanges(payment_status=BookingPaymentStatus.PAID),
        ):
            self._require_state().payment_id = event.payment_id

    @workflow.signal(name=BookingSignal.PAYMENT_FAILED)
    async def payment_failed(self, event: PaymentEvent) -> None:
        await self._system_move(
            S.CONFIRMED,
            event.note or "payment_failed",
            BookingChanges(payment_status=BookingPaymentStatus.UNPAID),
            reason="payment_failed",
            only_from=S.PAYMENT_PENDING,
        )

    @workflow.signal(name=BookingSignal.INVOICE_SENT)
    async def invoice_sent(self, event: InvoiceEvent) -> None:
        await self._system_move(S.INVOICE_SENT, None)

    @workflow.signal(name=BookingSignal.FEEDBACK_RECEIVED)
    async def feedback_received(self, event: FeedbackEvent) -> None:
        await self._system_move(S.FEEDBACK_RECEIVED, None)

    @workflow.signal(name=BookingSignal.REFUND_SETTLED)
    async def refund_settled(self, event: RefundSettled) -> None:
        """The payment refunded (a cancellation's refund, a staff refund, one made at the
        gateway): the booking's payment status follows, and a cancellation's outcome is kept."""
        await self._ready()
        state = self._require_state()
        outcome: dict[str, Any] | None = None
        if event.for_cancellation:
            outcome = {
                "status": event.outcome,
                "payment_id": str(event.payment_id),
                "refunded_amount": str(event.amount),
                "refunded_total": str(event.refunded_total),
                "settled_at": workflow.now().isoformat(),
                "needs_staff": event.outcome == "failed",
            }
        status = PAYMENT_STATUS_AFTER_REFUND.get(event.payment_status)
        await self._record_refund(
            RefundRecord(
                booking_id=state.booking_id,
                payment_status=status.value if status is not None else None,
                outcome=outcome,
            )
        )
        if event.for_cancellation:
            state.refund_awaited = False
        self._timers.changed()

    async def _cancelled_before(self, event: PaymentEvent) -> bool:
        """A payment that started (or paid) after the booking was cancelled: it is told to
        cancel and give everything back, and the booking waits for that. Checked without
        awaiting first, so the other payment signals keep their order (and recorded
        histories replay)."""
        state = self._state
        if state is None or state.status != S.CANCELLED or event.payment_id is None:
            return False
        if state.payment_id == event.payment_id:
            # Already asked at the cancellation.
            return True
        state.payment_id = event.payment_id
        await self._signal_payment(
            BookingCancelled(booking_id=state.booking_id, percent=Decimal(100), reason="cancelled")
        )
        return True

    async def _ask_for_refund(self, cancellation: Cancellation) -> None:
        """Cancelled with a payment open or paid: ask the payment for the policy's refund."""
        state = self._require_state()
        source = state.cancelled_from
        if source is None or (source not in PAID and source != S.PAYMENT_PENDING):
            return
        if state.payment_id is None:
            # Paid outside a payment workflow (or before the booking knew its id): staff refund.
            await self._record_refund(
                RefundRecord(
                    booking_id=state.booking_id,
                    outcome={"status": "no_payment_known", "needs_staff": True},
                )
            )
            return
        percent = cancellation_refund_percent(source, self._require_input().refund_policy)
        caller = cancellation.caller
        await self._signal_payment(
            BookingCancelled(
                booking_id=state.booking_id,
                percent=percent,
                reason=cancellation.reason,
                requested_by=caller.user_id,
                role=caller.role.value,
            )
        )

    async def _signal_payment(self, cancelled: BookingCancelled) -> None:
        state = self._require_state()
        assert state.payment_id is not None
        handle = workflow.get_external_workflow_handle(payment_workflow_id(state.payment_id))
        try:
            await handle.signal(PaymentSignal.CANCEL_FOR_BOOKING, cancelled)
        except FailureError as err:
            # The payment's workflow has ended (its refund window is over): staff refund.
            workflow.logger.warning("refund request not delivered: %s", err.message)
            await self._record_refund(
                RefundRecord(
                    booking_id=state.booking_id,
                    outcome={"status": "payment_closed", "needs_staff": True},
                )
            )
            return
        state.refund_awaited = True
        self._timers.changed()

    async def _record_refund(self, record: RefundRecord) -> None:
        await workflow.execute_local_activity_method(
            BookingActivities.record_refund,
            record,
            **DB_ACTIVITY,
            summary="record the refund outcome",
        )

    async def _system_move(
        self,
        target: BookingStatus,
        notes: str | None,
        changes: BookingChanges | None = None,
        *,
        reason: str | None = None,
        only_from: BookingStatus | None = None,
    ) -> bool:
        """A platform event moves the booking if it still fits; a late or repeated one (a
        webhook delivered twice) is logged and dropped. True when it moved."""
        await self._ready()
        state = self._require_state()
        if only_from is not None and state.status != only_from:
            workflow.logger.info("%s ignored in %s", target.value, state.status.value)
            return False
        try:
            await self._move(target, Actor(SYSTEM), notes, changes=changes, reason=reason)
        except ApplicationError as refused:
            workflow.logger.info("%s ignored: %s", target.value, refused.message)
            return False
        return True

    def _show(self) -> None:
        """The run's details in the Temporal UI: the booking number, status, what it waits for."""
        state = self._require_state()
        waiting = self.waiting_for()
        show(f"Booking {state.booking_number}", state.status, waiting.description, waiting.until)

    @workflow.query
    def waiting_for(self) -> WaitingFor:
        state = self._require_state()
        timers = self._require_input().timers
        status = state.status
        if status in TERMINAL and state.refund_awaited:
            return WaitingFor(
                status=status,
                description=f"the refund of payment {state.payment_id} after the cancellation",
            )
        if status in TERMINAL:
            return WaitingFor(status=status, description=f"nothing: the booking is {status.value}")
        if status in IN_REVIEW:
            due = state.status_since + timedelta(hours=timers.review_sla_hours)
            who = "its coordinator" if state.coordinator_id else "a coordinator"
            return WaitingFor(
                status=status,
                description=f"review by {who}; alert at {due.isoformat()}",
                until=due,
            )
        if status == S.QUOTATION_SENT and state.quotation_valid_until is not None:
            until = state.quotation_valid_until
            return WaitingFor(
                status=status,
                description=f"the patient to confirm; quotation expires at {until.isoformat()}",
                until=until,
            )
        descriptions = {
            S.ACCEPTED: "medical details or a quotation from the hospital side",
            S.AWAITING_MEDICAL_DETAILS: "medical records from the patient",
            S.ON_HOLD: "a new quotation, a review or a cancellation",
            S.CONFIRMED: "payment",
            S.PAYMENT_PENDING: "the payment to complete",
            S.PAYMENT_COMPLETED: "the invoice",
            S.INVOICE_SENT: "travel arrangements",
            S.TRAVEL_ARRANGEMENT: "the treatment to start",
            S.IN_TREATMENT: "the treatment to complete",
            S.COMPLETED: "feedback from the patient",
        }
        return WaitingFor(status=status, description=descriptions.get(status, status.value))

    def _validate_move(
        self, target: BookingStatus, actor: Actor, *, quotation: Quotation | None = None
    ) -> None:
        """Reads the state only. Before the row exists the handler does the checking."""
        if self._state is None:
            return
        if actor.is_system:
            raise refusal(
                Forbidden("The platform's moves are not commands", code="ROLE_NOT_ALLOWED")
            )
        try:
            BOOKING.check(self._state.status, target, actor, self._parties(), self._ctx(quotation))
        except MoveRefused as refused:
            raise refusal(refused) from None

    def _check_quotation_dates(self, quotation: Quotation) -> None:
        if quotation.valid_until <= workflow.now():
            raise refusal(
                Invalid("valid_until must be in the future", code="QUOTATION_ALREADY_EXPIRED")
            )

    async def _move(
        self,
        target: BookingStatus,
        actor: Actor,
        notes: str | None,
        *,
        quotation: Quotation | None = None,
        changes: BookingChanges | None = None,
        reason: str | None = None,
    ) -> BookingView:
        async with self._lock:
            state = self._require_state()
            source = state.status
            # Checked again here: a validator that ran while an earlier move was in flight saw
            # the state before it.
            try:
                BOOKING.check(source, target, actor, self._parties(), self._ctx(quotation))
            except MoveRefused as refused:
                raise refusal(refused) from None
            changes = self._changes_for(source, target, actor, notes, quotation, changes)
            seq = state.seq + 1
            # The new status is the state before the write is awaited, so the next validator
            # already judges against it.
            state.status = target
            state.seq = seq
            state.status_since = workflow.now()
            if target == S.CANCELLED:
                state.cancelled_from = source
            if quotation is not None:
                state.quotation_valid_until = quotation.valid_until
                state.total_amount = quotation.total_amount
                state.currency = quotation.currency
            self._timers.changed()
            # Once the update is accepted (workflows/_kit.write_after_accept): a write that ran
            # before could outlive an update the server lost.
            recorded = await write_after_accept(
                BookingActivities.record_transition,
                TransitionRecord(
                    booking_id=state.booking_id,
                    seq=seq,
                    from_status=source,
                    to_status=target,
                    actor_user_id=actor.user_id,
                    actor_role=actor.role,
                    notes=notes,
                    changes=changes,
                ),
                summary=f"status {source.value} → {target.value}",
            )
            self._index()
            context = {"status": target.value}
            if reason:
                context["reason"] = reason
            self._notify_parties(seq, "booking_status_changed", context, exclude=actor.user_id)
            return self._view().model_copy(
                update={"changes": changes, "updated_at": recorded.updated_at}
            )

    def _changes_for(
        self,
        source: BookingStatus,
        target: BookingStatus,
        actor: Actor,
        notes: str | None,
        quotation: Quotation | None,
        changes: BookingChanges | None,
    ) -> BookingChanges:
        state = self._require_state()
        result = changes.model_copy() if changes is not None else BookingChanges()
        today = workflow.now().date()
        if quotation is not None:
            result.quotation_details = {
                **quotation.model_dump(mode="json", exclude={"caller"}),
                "sent_at": workflow.now().isoformat(),
                "sent_by": str(actor.user_id) if actor.user_id else None,
            }
            result.total_amount = quotation.total_amount
            result.currency = quotation.currency
        if target == S.CONFIRMED and source != S.PAYMENT_PENDING:
            result.confirmed_date = today
        if target == S.COMPLETED:
            result.completion_date = today
        if target == S.CANCELLED and (source in PAID or source == S.PAYMENT_PENDING):
            # The payment workflow performs the refund; the booking records what it asked for.
            result.refund_requested = {
                "requested_at": workflow.now().isoformat(),
                "requested_by": str(actor.user_id) if actor.user_id else None,
                "role": actor.role,
                "reason": notes,
                "amount": str(state.total_amount) if state.total_amount is not None else None,
                "currency": state.currency,
                "status_when_cancelled": source.value,
                "percent": str(
                    cancellation_refund_percent(source, self._require_input().refund_policy)
                ),
                "payment_id": str(state.payment_id) if state.payment_id else None,
                "status": "requested",
            }
        return result

    def _notify_parties(
        self, seq: int, template: str, context: dict[str, str], *, exclude: UUID | None
    ) -> None:
        state = self._require_state()
        people = [state.patient_user_id, state.coordinator_id, state.hospital_admin_user_id]
        self._notify(
            [p for p in people if p is not None and p != exclude], str(seq), template, context
        )

    def _notify(
        self, recipients: list[UUID], key: str, template: str, context: dict[str, str]
    ) -> None:
        """Queue one message per person; the key makes each one at most once, for good."""
        state = self._require_state()
        for user_id in dict.fromkeys(recipients):
            self._notifier.queue(
                NotificationRequest(
                    dedupe_key=f"booking:{state.booking_id}:{key}:{user_id}",
                    user_id=user_id,
                    template=template,
                    # Ids, status codes and dates only: the in-app summary carries no PHI.
                    context={"booking_number": state.booking_number, **context},
                    type="booking",
                    reference_type="booking",
                    reference_id=state.booking_id,
                )
            )

    def _initial_state(self, stored: StoredBooking) -> BookingState:
        return BookingState(
            booking_id=stored.booking_id,
            booking_number=stored.booking_number,
            patient_id=stored.patient_id,
            hospital_id=stored.hospital_id,
            status=stored.status,
            seq=stored.status_seq,
            status_since=workflow.now(),
            patient_user_id=stored.patient_user_id,
            hospital_admin_user_id=stored.hospital_admin_user_id,
            coordinator_id=stored.coordinator_id,
        )

    async def _ready(self) -> None:
        await workflow.wait_condition(lambda: self._state is not None)

    def _require_state(self) -> BookingState:
        assert self._state is not None, "the booking is not stored yet"
        return self._state

    def _require_input(self) -> BookingInput:
        assert self._input is not None
        return self._input

    def _parties(self) -> Parties:
        state = self._require_state()
        return Parties(
            patient_user_id=state.patient_user_id,
            hospital_admin_user_id=state.hospital_admin_user_id,
            coordinator_id=state.coordinator_id,
        )

    def _ctx(self, quotation: Quotation | None) -> MoveContext:
        state = self._require_state()
        return MoveContext(
            now=workflow.now(),
            quotation_in_command=quotation is not None,
            quotation_valid_until=(
                quotation.valid_until if quotation is not None else state.quotation_valid_until
            ),
        )

    def _index(self) -> None:
        if not self._require_input().index:
            return
        state = self._require_state()

        def legacy() -> list[SearchAttributeUpdate[Any]]:
            updates: list[SearchAttributeUpdate[Any]] = [
                LEGACY_BOOKING_STATUS.value_set(state.status.value),
                LEGACY_PATIENT_ID.value_set(str(state.patient_id)),
            ]
            if state.hospital_id is not None:
                updates.append(LEGACY_HOSPITAL_ID.value_set(str(state.hospital_id)))
            return updates

        index(
            "booking",
            state.status,
            {
                "BookingId": state.booking_id,
                "PatientId": state.patient_id,
                "HospitalId": state.hospital_id,
            },
            legacy,
        )

    def _view(self) -> BookingView:
        state = self._require_state()
        return BookingView(
            booking_id=state.booking_id,
            booking_number=state.booking_number,
            status=state.status,
            seq=state.seq,
            coordinator_id=state.coordinator_id,
        )


WORKFLOWS: list[type] = [BookingWorkflow]


async def open_booking(client: Client, task_queue: str, input: BookingInput) -> BookingView:
    """Start the booking's workflow (or reach the running one) and wait until the row is stored;
    a closed booking raises WorkflowAlreadyStartedError (the caller reads the stored row)."""
    return await update_with_start(
        client,
        BookingWorkflow.run,
        BookingWorkflow.create,
        input,
        id=booking_workflow_id(input.booking.booking_id),
        task_queue=task_queue,
        summary=f"Booking {input.booking.booking_number}",
        details=booking_details(input),
    )


def booking_details(input: BookingInput) -> str:
    """The run's static details in the Temporal UI: ids only."""
    new = input.booking
    return f"booking `{new.booking_id}` · patient `{new.patient_id}` · hospital `{new.hospital_id}`"


async def signal_record_uploaded(client: Client, booking_id: UUID, record_id: UUID) -> None:
    """Tell the booking that the patient uploaded a medical record (its coordinator is told)."""
    handle = client.get_workflow_handle(booking_workflow_id(booking_id))
    await handle.signal(BookingSignal.RECORD_UPLOADED, RecordUploaded(record_id=record_id))


async def signal_feedback_received(client: Client, booking_id: UUID, review_id: UUID) -> None:
    """Tell the booking that the patient's review is published (completed → feedback_received)."""
    handle = client.get_workflow_handle(booking_workflow_id(booking_id))
    await handle.signal(BookingSignal.FEEDBACK_RECEIVED, FeedbackEvent(review_id=review_id))
