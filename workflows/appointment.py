"""AppointmentWorkflow: one teleconsultation from request to completion, the only writer of its
status and its slot.

Commands are Updates (create, change_status, reschedule, cancel, edit, provide_prescription):
their validators check domain.appointment's table and limits, so an illegal move is refused
before anything is written. Events are Signals (participant_joined, payment_*, refund_settled,
invoice_sent, follow_up_booked). Time lives here as timers derived from the state (the kit's
StateTimers): the confirmation hold, the prepayment deadline, the awaiting_consultation move,
the reminders (moved by a reschedule, dropped by a cancellation) and the no-show check.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import SearchAttributeUpdate, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ApplicationError,
    FailureError,
    WorkflowAlreadyStartedError,
)

with workflow.unsafe.imports_passed_through():
    from activities.appointments import (
        AppointmentActivities,
        AppointmentChanges,
        DetailsUpdate,
        FreedSlot,
        JoinRecord,
        NewAppointment,
        RescheduleRecord,
        SlotSearch,
        StoredAppointment,
        TransitionRecord,
        VideoRoomRequest,
        VideoRoomRevocation,
    )
    from activities.lifecycle import unwrap
    from activities.payments import invoice_id_for
    from activities.prescriptions import PrescriptionActivities, PrescriptionRecord
    from activities.waitlist import WaitlistActivities, WaitlistSlot
    from domain.appointment import (
        APPOINTMENT,
        BEFORE_CONSULTATION,
        SYSTEM,
        TERMINAL,
        UNCONFIRMED,
        UPCOMING,
        Actor,
        AppointmentParties,
        AppointmentStatus,
        ChangeLimits,
        MoveContext,
        MoveRefused,
        NoShowParty,
        QuietHours,
        check_change,
        check_edit,
        confirm_deadline,
        involved,
        local_wall_time,
        no_show_party,
        refund_percent,
        reminder_instants,
    )
    from domain.appointment_fees import refund_percent as fee_refund_percent
    from domain.errors import Forbidden
    from domain.models.notifications import Channel
    from workflows._kit import (
        DB_ACTIVITY,
        GATEWAY_CREATE,
        GATEWAY_SETTLE,
        Caller,
        SettlingNotifier,
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
        APPOINTMENT_WORKFLOW,
        INVOICE_WORKFLOW,
        PRESCRIPTION_WORKFLOW,
        AppointmentCancelled,
        AppointmentSignal,
        FollowUpBooked,
        InvoiceDelivery,
        InvoiceEvent,
        NotificationRequest,
        ParticipantJoined,
        PaymentEvent,
        PaymentSignal,
        PrescriptionDelivery,
        RefundSettled,
        SlotFreed,
        WaitlistSignal,
        appointment_workflow_id,
        invoice_summary,
        invoice_workflow_id,
        payment_workflow_id,
        prescription_summary,
        prescription_workflow_id,
        waitlist_workflow_id,
    )

S = AppointmentStatus
MAX_HISTORY_EVENTS = 2000
# A cancelled, paid appointment stays open this long for its refund's answer.
REFUND_WAIT = timedelta(days=7)
# A freed slot reaches the doctor's waitlist by signal-with-start (an activity), not a bare signal.
WAITLIST_START_PATCH = "waitlist-signal-with-start"
# provide_prescription before it recorded the prescription and started its delivery.
PRESCRIPTION_PATCH = "prescription-record-deliver"

__all__ = [
    "WORKFLOWS",
    "AppointmentInput",
    "AppointmentTimers",
    "AppointmentView",
    "AppointmentWorkflow",
    "Cancellation",
    "DetailsChange",
    "PrescriptionOrder",
    "Reschedule",
    "StatusChange",
    "open_appointment",
]


class AppointmentTimers(BaseModel):
    confirm_hours: int = Field(default=24, ge=1)
    awaiting_hours: int = Field(default=24, ge=0)
    prepayment_hours: int = Field(default=24, ge=1)
    reminder_minutes: list[int] = Field(default_factory=lambda: [24 * 60, 60])
    quiet_hours: str = "22:00-08:00"
    no_show_grace_minutes: int = Field(default=15, ge=1)
    no_show_fee_percent: Decimal = Field(default=Decimal(100), ge=0, le=100)
    video_open_minutes: int = Field(default=15, ge=0)


class ReminderPlan(BaseModel):
    label: str
    at: datetime
    sent: bool = False


class AppointmentState(BaseModel):
    """Everything the workflow knows, carried over continue-as-new. Ids, times, money; no PHI."""

    appointment_id: UUID
    appointment_number: str
    patient_id: UUID
    doctor_id: UUID
    booking_id: UUID | None = None
    follow_up_of: UUID | None = None
    appointment_type: str = "teleconsult"
    status: AppointmentStatus
    seq: int
    status_since: datetime
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    patient_user_id: UUID | None = None
    doctor_user_id: UUID | None = None
    hospital_admin_user_ids: list[UUID] = Field(default_factory=list)
    patient_timezone: str = "UTC"
    patient_locale: str | None = None
    patient_channels: list[Channel] = Field(default_factory=lambda: [Channel.EMAIL])
    requires_prepayment: bool = False
    paid: bool = False
    payment_id: UUID | None = None
    confirm_by: datetime
    payment_due_at: datetime | None = None
    limits_notice_hours: int = 24
    max_reschedules: int = 2
    reschedule_count: int = 0
    # Bumped by every reschedule: the reminders' dedupe keys carry it, so a moved reminder is
    # a new message and an old one never goes out twice.
    plan: int = 0
    reminders: list[ReminderPlan] = Field(default_factory=list)
    awaiting_done: bool = False
    video_room_id: str | None = None
    patient_joined: bool = False
    doctor_joined: bool = False
    no_show_party: NoShowParty | None = None
    refund_awaited: bool = False
    # The share of a payment that goes back, once the appointment has ended without a
    # consultation (cancelled, no-show): what the payment workflow is asked to refund.
    refund_percent: Decimal | None = None
    # The payment workflow's answer (refund_settled): refunded so far, and how it ended.
    refunded: Decimal | None = None
    refund_outcome: str | None = None
    invoice_started: bool = False
    pending: list[NotificationRequest] = Field(default_factory=list)


class AppointmentInput(BaseModel):
    appointment: NewAppointment
    requires_prepayment: bool = False
    timers: AppointmentTimers = Field(default_factory=AppointmentTimers)
    refund_policy: dict[int, Decimal] | None = None
    index: bool = True
    max_history_events: int = MAX_HISTORY_EVENTS
    carried: AppointmentState | None = None


class AppointmentView(BaseModel):
    appointment_id: UUID
    appointment_number: str
    status: AppointmentStatus
    seq: int
    starts_at: datetime
    ends_at: datetime
    reschedule_count: int = 0
    # See AppointmentState.refund_percent (None while nothing is due back).
    refund_percent: Decimal | None = None
    # See AppointmentState.refunded / refund_outcome (None until the payment has answered).
    refunded: Decimal | None = None
    refund_outcome: str | None = None
    no_show_party: NoShowParty | None = None


class StatusChange(BaseModel):
    caller: Caller
    status: AppointmentStatus
    notes: str | None = None


class Reschedule(BaseModel):
    caller: Caller
    starts_at: datetime
    duration_minutes: int | None = None
    reason: str | None = None
    override: bool = False


class Cancellation(BaseModel):
    caller: Caller
    reason: str
    override: bool = False


class DetailsChange(BaseModel):
    caller: Caller
    fields: list[str]
    chief_complaint: str | None = None
    notes: str | None = None


class PrescriptionOrder(BaseModel):
    """POST /appointments/{id}/prescription: what the doctor prescribes (recorded, rendered and
    mailed by `provide_prescription`)."""

    caller: Caller
    prescription_id: UUID
    medications: list[dict[str, Any]] = Field(min_length=1)
    instructions: str | None = None
    valid_until: date | None = None


class ReminderOut(BaseModel):
    label: str
    at: datetime
    sent: bool


class WaitingFor(BaseModel):
    status: AppointmentStatus
    description: str
    until: datetime | None = None
    reminders: list[ReminderOut] = Field(default_factory=list)


@workflow.defn(name=APPOINTMENT_WORKFLOW)
class AppointmentWorkflow:
    def __init__(self) -> None:
        self._state: AppointmentState | None = None
        self._input: AppointmentInput | None = None
        self._refused: ApplicationError | None = None
        self._lock = asyncio.Lock()
        self._timers = StateTimers(
            {
                "hold": "confirmation deadline",
                "unpaid": "payment deadline",
                "awaiting": "awaiting consultation",
                "reminder": "reminder",
                "no_show": "no-show check",
            }
        )
        self._notifier = SettlingNotifier([])

    @workflow.run
    async def run(self, input: AppointmentInput) -> AppointmentView | None:
        self._input = input
        if input.carried is not None:
            self._state = input.carried
            self._notifier = SettlingNotifier(self._state.pending)
        else:
            new = self._with_deadlines(input.appointment)
            try:
                stored = await workflow.execute_local_activity_method(
                    AppointmentActivities.create_appointment,
                    new,
                    **DB_ACTIVITY,
                    summary="create the appointment row",
                )
            except Exception as err:
                refused = unwrap(err)
                if refused is None:
                    raise
                # Refused (slot taken, outside hours): the create update answers with it.
                self._refused = refused
                await workflow.wait_condition(workflow.all_handlers_finished)
                return None
            self._state = self._initial_state(stored, new)
            self._notifier = SettlingNotifier(self._state.pending)
            self._plan_reminders()
            if stored.status_seq == 1:
                self._notify_people(
                    [stored.doctor_user_id],
                    "1",
                    "appointment_status_changed",
                    {"status": S.REQUESTED.value, **self._when()},
                )
            if stored.follow_up_of is not None:
                await self._tell_first_of_follow_up(stored.follow_up_of)
        self._index()
        state = self._state
        while True:
            await self._notifier.flush()
            self._show()
            if state.status in TERMINAL:
                while True:
                    await self._await_refund()
                    await self._quiesce()
                    if not state.refund_awaited:
                        return self._view()
            if should_continue_as_new(input.max_history_events):
                await self._quiesce()
                if state.status not in TERMINAL:
                    workflow.continue_as_new(input.model_copy(update={"carried": self._state}))
                continue
            fired = await self._timers.wait_for_change_or_timer(
                self._due(), wake=lambda: bool(state.pending)
            )
            if fired is not None:
                await self._fire(fired)

    async def _quiesce(self) -> None:
        """No handler running, no notification unsent and no child still running, checked
        after the last await (a handler that ran meanwhile may have queued or started more)."""
        while True:
            await quiesce(self._notifier)
            await self._notifier.settle()
            if workflow.all_handlers_finished() and self._notifier.settled():
                return

    def _timers_input(self) -> AppointmentTimers:
        return self._require_input().timers

    def _due(self) -> list[tuple[datetime, str]]:
        state = self._require_state()
        timers = self._timers_input()
        due: list[tuple[datetime, str]] = []
        if state.status in UNCONFIRMED:
            due.append((state.confirm_by, "hold"))
            if state.requires_prepayment and not state.paid and state.payment_due_at is not None:
                due.append((state.payment_due_at, "unpaid"))
        if state.status == S.APPOINTMENT_CONFIRMED and not state.awaiting_done:
            due.append((state.starts_at - timedelta(hours=timers.awaiting_hours), "awaiting"))
        if state.status in UPCOMING:
            for reminder in state.reminders:
                if not reminder.sent:
                    due.append((reminder.at, f"reminder:{reminder.label}"))
            due.append(
                (state.starts_at + timedelta(minutes=timers.no_show_grace_minutes), "no_show")
            )
        return due

    async def _fire(self, names: list[str]) -> None:
        state = self._require_state()
        if "no_show" in names:
            await self._no_show()
            return
        if "unpaid" in names:
            await self._system_cancel("payment_overdue")
            return
        if "hold" in names:
            await self._system_cancel("confirmation_expired")
            return
        for name in names:
            if name.startswith("reminder:"):
                self._send_reminder(name.split(":", 1)[1])
        if "awaiting" in names:
            state.awaiting_done = True
            await self._try_system_move(S.AWAITING_CONSULTATION, "consultation_near")
        self._timers.changed()

    def _send_reminder(self, label: str) -> None:
        state = self._require_state()
        for reminder in state.reminders:
            if reminder.label == label and not reminder.sent:
                reminder.sent = True
        self._notify_patient(
            f"reminder:{state.plan}:{label}",
            "appointment_reminder",
            {"before": label, **self._when()},
        )

    def _when(self) -> dict[str, str]:
        """The start in the patient's own zone (the message's words come from their locale)."""
        state = self._require_state()
        return {
            "starts_at": local_wall_time(state.starts_at, state.patient_timezone),
            "timezone": state.patient_timezone,
        }

    async def _system_cancel(self, reason: str) -> None:
        state = self._require_state()
        if not await self._try_system_move(
            S.CANCELLED,
            reason,
            AppointmentChanges(cancellation_reason=reason, cancelled_by_role=SYSTEM),
            reason=reason,
        ):
            return
        await self._release(state.starts_at, state.ends_at)
        state.refund_percent = Decimal(100)
        await self._ask_for_refund(Decimal(100), reason, None, SYSTEM)

    async def _no_show(self) -> None:
        state = self._require_state()
        party = no_show_party(state.patient_joined, state.doctor_joined)
        if party is None:
            party = NoShowParty.BOTH
        if not await self._try_system_move(
            S.NO_SHOW, f"missing: {party.value}", AppointmentChanges(no_show_party=party.value)
        ):
            return
        state.no_show_party = party
        await self._revoke_room()
        # domain.appointment_fees: a doctor who did not come (alone or with the patient) is
        # refunded in full; a patient who did not come gets back what the no-show fee leaves.
        patient_missed = party == NoShowParty.PATIENT
        state.refund_percent = fee_refund_percent(
            starts_at=state.starts_at,
            cancelled_at=workflow.now(),
            change_notice_hours=state.limits_notice_hours,
            late_percent=Decimal(0),
            by_doctor=not patient_missed,
            patient_no_show=patient_missed,
            no_show_percent=Decimal(100) - self._timers_input().no_show_fee_percent,
        )
        if patient_missed:
            await self._ask_for_refund(state.refund_percent, "patient_no_show", None, SYSTEM)
        else:
            await self._ask_for_refund(state.refund_percent, "doctor_no_show", None, SYSTEM)
            # A new time offered: the doctor's next free slots, in the patient's zone.
            slots = await workflow.execute_local_activity_method(
                AppointmentActivities.find_appointment_slots,
                SlotSearch(
                    doctor_id=state.doctor_id, patient_id=state.patient_id, after=workflow.now()
                ),
                **DB_ACTIVITY,
                summary="find free slots",
            )
            context = {"status": S.NO_SHOW.value, "reason": "doctor_no_show", **self._when()}
            if slots:
                context["next_slots"] = ", ".join(
                    local_wall_time(slot, state.patient_timezone) for slot in slots
                )
            self._notify_patient("no-show", "appointment_status_changed", context)

    @workflow.update
    async def create(self) -> AppointmentView:
        await workflow.wait_condition(lambda: self._state is not None or self._refused is not None)
        if self._refused is not None:
            raise self._refused
        return self._view()

    @workflow.update
    async def change_status(self, change: StatusChange) -> AppointmentView:
        await self._ready()
        if change.status == S.CANCELLED:
            return await self._cancel(
                Cancellation(caller=change.caller, reason=change.notes or "cancelled")
            )
        return await self._move(change.status, change.caller.actor(), change.notes)

    @change_status.validator
    def _validate_change_status(self, change: StatusChange) -> None:
        self._validate_move(change.status, change.caller.actor())
        if change.status == S.CANCELLED and self._state is not None:
            self._check_change("cancel", change.caller.actor(), False)

    @workflow.update
    async def cancel(self, cancellation: Cancellation) -> AppointmentView:
        await self._ready()
        return await self._cancel(cancellation)

    @cancel.validator
    def _validate_cancel(self, cancellation: Cancellation) -> None:
        self._validate_move(S.CANCELLED, cancellation.caller.actor())
        if self._state is not None:
            self._check_change("cancel", cancellation.caller.actor(), cancellation.override)

    async def _cancel(self, cancellation: Cancellation) -> AppointmentView:
        state = self._require_state()
        actor = cancellation.caller.actor()
        overridden = self._check_change("cancel", actor, cancellation.override)
        notice = state.starts_at - workflow.now()
        view = await self._move(
            S.CANCELLED,
            actor,
            cancellation.reason,
            AppointmentChanges(
                cancellation_reason=cancellation.reason, cancelled_by_role=actor.role
            ),
            reason="cancelled",
        )
        if overridden or cancellation.override:
            await workflow.execute_local_activity_method(
                AppointmentActivities.record_override,
                RescheduleRecord(
                    appointment_id=state.appointment_id,
                    count=max(state.reschedule_count, 1),
                    starts_at=state.starts_at,
                    duration_minutes=state.duration_minutes,
                    actor_user_id=actor.user_id,
                    actor_role=actor.role,
                    reason=cancellation.reason,
                    override=True,
                ),
                **DB_ACTIVITY,
                summary="record the staff override",
            )
        await self._revoke_room()
        await self._release(state.starts_at, state.ends_at)
        percent = refund_percent(notice, actor.role, self._require_input().refund_policy)
        state.refund_percent = percent
        await self._ask_for_refund(percent, cancellation.reason, actor.user_id, actor.role)
        return view

    @workflow.update
    async def reschedule(self, change: Reschedule) -> AppointmentView:
        await self._ready()
        async with self._lock:
            state = self._require_state()
            actor = change.caller.actor()
            self._check_reschedule(change)
            overridden = self._check_change("reschedule", actor, change.override)
            old_start, old_end = state.starts_at, state.ends_at
            duration = change.duration_minutes or state.duration_minutes
            moved = await write_after_accept(
                AppointmentActivities.reschedule_appointment,
                RescheduleRecord(
                    appointment_id=state.appointment_id,
                    count=state.reschedule_count + 1,
                    starts_at=change.starts_at,
                    duration_minutes=duration,
                    actor_user_id=actor.user_id,
                    actor_role=actor.role,
                    reason=change.reason,
                    override=overridden or change.override,
                ),
                summary="reschedule",
            )
            state.starts_at = moved.starts_at
            state.ends_at = moved.ends_at
            state.duration_minutes = duration
            state.reschedule_count = moved.reschedule_count
            state.confirm_by = min(state.confirm_by, state.starts_at)
            state.awaiting_done = False
            state.plan += 1
            self._plan_reminders()
            self._timers.changed()
            self._index()
            self._notify_people(
                self._everyone(exclude=actor.user_id),
                f"rescheduled:{state.plan}",
                "appointment_rescheduled",
                self._when(),
            )
        await self._release(old_start, old_end)
        return self._view()

    @reschedule.validator
    def _validate_reschedule(self, change: Reschedule) -> None:
        if self._state is None:
            return
        self._check_reschedule(change)
        self._check_change("reschedule", change.caller.actor(), change.override)

    def _check_reschedule(self, change: Reschedule) -> None:
        state = self._require_state()
        actor = change.caller.actor()
        if actor.is_system:
            raise refusal(Forbidden("Not a command", code="ROLE_NOT_ALLOWED"))
        if not involved(actor, self._parties()):
            raise refusal(MoveRefused("Forbidden", "NOT_YOUR_APPOINTMENT", "Not yours"))
        if state.status not in BEFORE_CONSULTATION:
            raise refusal(
                MoveRefused(
                    "Conflict",
                    "APPOINTMENT_NOT_RESCHEDULABLE",
                    f"An appointment in {state.status.value} cannot be rescheduled",
                    APPOINTMENT.next_statuses(state.status, actor.role),
                )
            )
        if change.starts_at <= workflow.now():
            raise refusal(
                MoveRefused("Unprocessable", "APPOINTMENT_IN_PAST", "The new time is in the past")
            )

    def _check_change(self, kind: str, actor: Actor, override: bool) -> bool:
        state = self._require_state()
        try:
            return check_change(
                kind,
                actor,
                now=workflow.now(),
                starts_at=state.starts_at,
                limits=ChangeLimits(
                    notice=timedelta(hours=state.limits_notice_hours),
                    max_reschedules=state.max_reschedules,
                ),
                reschedule_count=state.reschedule_count,
                override=override,
            )
        except MoveRefused as refused:
            raise refusal(refused) from None

    @workflow.update
    async def edit(self, change: DetailsChange) -> AppointmentView:
        await self._ready()
        async with self._lock:
            state = self._require_state()
            try:
                check_edit(state.status, change.fields, change.caller.actor(), self._parties())
            except MoveRefused as refused:
                raise refusal(refused) from None
            await write_after_accept(
                AppointmentActivities.update_appointment_details,
                DetailsUpdate(
                    appointment_id=state.appointment_id,
                    **change.model_dump(exclude={"caller"}),
                ),
                summary="update the appointment details",
            )
        return self._view()

    @edit.validator
    def _validate_edit(self, change: DetailsChange) -> None:
        if self._state is None:
            return
        try:
            check_edit(self._state.status, change.fields, change.caller.actor(), self._parties())
        except MoveRefused as refused:
            raise refusal(refused) from None

    @workflow.update
    async def provide_prescription(self, order: PrescriptionOrder) -> AppointmentView:
        """The doctor's prescription: the move to prescription_provided (refused: nothing
        written), then the row, and the PrescriptionDeliveryWorkflow child that renders its PDF
        in the patient's language, stores it and e-mails it (the doctor does not wait on it)."""
        await self._ready()
        view = await self._move(
            S.PRESCRIPTION_PROVIDED,
            order.caller.actor(),
            None,
            prescription=True,
        )
        if workflow.patched(PRESCRIPTION_PATCH):
            state = self._require_state()
            await workflow.execute_local_activity_method(
                PrescriptionActivities.record_prescription,
                PrescriptionRecord(
                    appointment_id=state.appointment_id,
                    patient_id=state.patient_id,
                    doctor_id=state.doctor_id,
                    **order.model_dump(exclude={"caller"}),
                ),
                **DB_ACTIVITY,
                summary="record the prescription",
            )
            delivery = PrescriptionDelivery(prescription_id=order.prescription_id)
            # Already started (a retried activation): it renders and mails once either way.
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await workflow.start_child_workflow(
                    PRESCRIPTION_WORKFLOW,
                    delivery,
                    id=prescription_workflow_id(delivery),
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                    static_summary=prescription_summary(delivery),
                )
        return view

    @provide_prescription.validator
    def _validate_provide_prescription(self, order: PrescriptionOrder) -> None:
        self._validate_move(S.PRESCRIPTION_PROVIDED, order.caller.actor(), prescription=True)

    @workflow.signal(name=AppointmentSignal.PARTICIPANT_JOINED)
    async def participant_joined(self, event: ParticipantJoined) -> None:
        await self._ready()
        state = self._require_state()
        if event.party == "patient":
            if state.patient_joined:
                return
            state.patient_joined = True
        else:
            if state.doctor_joined:
                return
            state.doctor_joined = True
        await workflow.execute_local_activity_method(
            AppointmentActivities.record_joined,
            JoinRecord(appointment_id=state.appointment_id, party=event.party, at=event.at),
            **DB_ACTIVITY,
            summary="record who joined",
        )
        if state.patient_joined and state.doctor_joined and state.status in UPCOMING:
            await self._try_system_move(
                S.CONSULTATION_IN_PROGRESS,
                "both joined",
                AppointmentChanges(started_at=workflow.now()),
            )
        self._timers.changed()

    @workflow.signal(name=AppointmentSignal.PAYMENT_STARTED)
    async def payment_started(self, event: PaymentEvent) -> None:
        await self._ready()
        state = self._require_state()
        if state.payment_id is None:
            state.payment_id = event.payment_id
        if state.status in TERMINAL and event.payment_id is not None:
            await self._signal_payment(event.payment_id, Decimal(100), "cancelled")

    @workflow.signal(name=AppointmentSignal.PAYMENT_SUCCEEDED)
    async def payment_succeeded(self, event: PaymentEvent) -> None:
        await self._ready()
        state = self._require_state()
        state.payment_id = event.payment_id or state.payment_id
        if state.status in TERMINAL:
            # Paid after the appointment ended (expired, cancelled): everything goes back.
            if event.payment_id is not None:
                await self._signal_payment(event.payment_id, Decimal(100), "cancelled")
            return
        state.paid = True
        self._notify_people(
            [state.doctor_user_id],
            "paid",
            "appointment_status_changed",
            {"status": "paid", **self._when()},
        )
        self._timers.changed()

    @workflow.signal(name=AppointmentSignal.PAYMENT_FAILED)
    async def payment_failed(self, event: PaymentEvent) -> None:
        workflow.logger.info("appointment payment failed")

    @workflow.signal(name=AppointmentSignal.REFUND_SETTLED)
    async def refund_settled(self, event: RefundSettled) -> None:
        state = self._require_state()
        state.refunded = event.refunded_total
        state.refund_outcome = event.outcome
        if event.for_cancellation:
            state.refund_awaited = False
        self._timers.changed()

    @workflow.signal(name=AppointmentSignal.INVOICE_SENT)
    async def invoice_sent(self, event: InvoiceEvent) -> None:
        workflow.logger.info("appointment invoice sent")

    @workflow.signal(name=AppointmentSignal.FOLLOW_UP_BOOKED)
    async def follow_up_booked(self, event: FollowUpBooked) -> None:
        await self._try_system_move(
            S.FOLLOW_UP_SCHEDULED, f"follow-up {event.appointment_id}", follow_up=True
        )

    def _show(self) -> None:
        """The run's details in the Temporal UI: the appointment number, status, what it waits
        for and until when."""
        state = self._require_state()
        waiting = self.waiting_for()
        show(
            f"Appointment {state.appointment_number}",
            state.status,
            waiting.description,
            waiting.until,
        )

    @workflow.query
    def waiting_for(self) -> WaitingFor:
        state = self._require_state()
        reminders = [ReminderOut(label=r.label, at=r.at, sent=r.sent) for r in state.reminders]
        if state.status in TERMINAL:
            return WaitingFor(
                status=state.status,
                description=f"nothing: {state.status.value}",
                reminders=reminders,
            )
        due = sorted(self._due())
        until = due[0][0] if due else None
        description = {
            S.REQUESTED: "the doctor to confirm",
            S.BOOKED: "the doctor to confirm",
            S.APPOINTMENT_CONFIRMED: "the consultation",
            S.AWAITING_CONSULTATION: "the consultation",
            S.CONSULTATION_IN_PROGRESS: "the doctor to complete the consultation",
            S.PRESCRIPTION_PROVIDED: "the doctor to complete the consultation",
            S.FOLLOW_UP_SCHEDULED: "the doctor to complete the consultation",
        }.get(state.status, state.status.value)
        if state.status in UNCONFIRMED and state.requires_prepayment and not state.paid:
            description = "payment, then the doctor's confirmation"
        return WaitingFor(
            status=state.status, description=description, until=until, reminders=reminders
        )

    def _validate_move(
        self,
        target: AppointmentStatus,
        actor: Actor,
        *,
        prescription: bool = False,
    ) -> None:
        if self._state is None:
            return
        if actor.is_system:
            raise refusal(
                Forbidden("The platform's moves are not commands", code="ROLE_NOT_ALLOWED")
            )
        try:
            APPOINTMENT.check(
                self._state.status, target, actor, self._parties(), self._ctx(prescription)
            )
        except MoveRefused as refused:
            raise refusal(refused) from None

    async def _try_system_move(
        self,
        target: AppointmentStatus,
        notes: str | None,
        changes: AppointmentChanges | None = None,
        *,
        reason: str | None = None,
        follow_up: bool = False,
    ) -> bool:
        await self._ready()
        try:
            await self._move(
                target, Actor(SYSTEM), notes, changes, reason=reason, follow_up=follow_up
            )
        except ApplicationError as refused:
            workflow.logger.info("%s moot: %s", target.value, refused.message)
            return False
        return True

    async def _move(
        self,
        target: AppointmentStatus,
        actor: Actor,
        notes: str | None,
        changes: AppointmentChanges | None = None,
        *,
        reason: str | None = None,
        prescription: bool = False,
        follow_up: bool = False,
    ) -> AppointmentView:
        async with self._lock:
            state = self._require_state()
            source = state.status
            try:
                APPOINTMENT.check(
                    source, target, actor, self._parties(), self._ctx(prescription, follow_up)
                )
            except MoveRefused as refused:
                raise refusal(refused) from None
            changes = changes or AppointmentChanges()
            now = workflow.now()
            if target == S.CONSULTATION_IN_PROGRESS and changes.started_at is None:
                changes.started_at = now
            if target == S.CONSULTATION_COMPLETED:
                changes.completed_at = now
            seq = state.seq + 1
            state.status = target
            state.seq = seq
            state.status_since = now
            if target in TERMINAL:
                # Ended: the reminders not sent yet are dropped (the timeline lists none).
                state.reminders = [r for r in state.reminders if r.sent]
            self._timers.changed()
            # Once the update is accepted (workflows/_kit.write_after_accept).
            await write_after_accept(
                AppointmentActivities.record_appointment_transition,
                TransitionRecord(
                    appointment_id=state.appointment_id,
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
            self._notify_people(
                self._everyone(exclude=actor.user_id),
                str(seq),
                "appointment_status_changed",
                {**context, **self._when()},
            )
        if target == S.APPOINTMENT_CONFIRMED:
            await self._open_room()
        if target == S.CONSULTATION_COMPLETED:
            await self._start_invoice()
        return self._view()

    async def _open_room(self) -> None:
        state = self._require_state()
        if state.appointment_type != "teleconsult" or state.video_room_id is not None:
            return
        room = await workflow.execute_activity_method(
            AppointmentActivities.open_video_room,
            VideoRoomRequest(
                appointment_id=state.appointment_id,
                starts_at=state.starts_at,
                ends_at=state.ends_at,
            ),
            **GATEWAY_CREATE,
            summary="open the video room",
        )
        state.video_room_id = room.room_id

    async def _revoke_room(self) -> None:
        state = self._require_state()
        if state.video_room_id is None:
            return
        room_id, state.video_room_id = state.video_room_id, None
        await workflow.execute_activity_method(
            AppointmentActivities.revoke_video_room,
            VideoRoomRevocation(appointment_id=state.appointment_id, room_id=room_id),
            **GATEWAY_CREATE,
            summary="revoke the video room",
        )

    async def _release(self, starts_at: datetime, ends_at: datetime) -> None:
        """Tell the doctor's waitlist that this time is free (nobody waiting: nothing to do)."""
        state = self._require_state()
        if starts_at <= workflow.now():
            return
        # Only where someone waits: a signal to a waitlist that does not exist is refused by
        # the server (and never answered by the time-skipping test server).
        waiting = await workflow.execute_local_activity_method(
            AppointmentActivities.anyone_waiting,
            FreedSlot(doctor_id=state.doctor_id, starts_at=starts_at),
            **DB_ACTIVITY,
            summary="anyone on the waitlist?",
        )
        if not waiting:
            return
        freed = SlotFreed(doctor_id=state.doctor_id, starts_at=starts_at, ends_at=ends_at)
        if workflow.patched(WAITLIST_START_PATCH):
            # Signal-with-start: the waitlist workflow runs only while it has offers open.
            await workflow.execute_activity_method(
                WaitlistActivities.start_doctor_waitlist,
                WaitlistSlot(**freed.model_dump()),
                **GATEWAY_SETTLE,
                summary="start the doctor's waitlist",
            )
            return
        handle = workflow.get_external_workflow_handle(waitlist_workflow_id(state.doctor_id))
        try:
            await handle.signal(WaitlistSignal.SLOT_FREED, freed)
        except FailureError:
            workflow.logger.info("no waitlist for this doctor")

    async def _ask_for_refund(
        self, percent: Decimal, reason: str, by: UUID | None, role: str
    ) -> None:
        state = self._require_state()
        if state.payment_id is None:
            return
        await self._signal_payment(state.payment_id, percent, reason, by, role)

    async def _signal_payment(
        self,
        payment_id: UUID,
        percent: Decimal,
        reason: str,
        by: UUID | None = None,
        role: str = SYSTEM,
    ) -> None:
        state = self._require_state()
        handle = workflow.get_external_workflow_handle(payment_workflow_id(payment_id))
        try:
            await handle.signal(
                PaymentSignal.CANCEL_FOR_APPOINTMENT,
                AppointmentCancelled(
                    appointment_id=state.appointment_id,
                    percent=percent,
                    reason=reason,
                    requested_by=by,
                    role=role,
                ),
            )
        except FailureError as err:
            workflow.logger.warning("refund request not delivered: %s", err.message)
            return
        state.refund_awaited = True
        self._timers.changed()

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

    async def _start_invoice(self) -> None:
        """The invoice of the completed payment, issued and e-mailed by the invoice child (the
        same child id the payment workflow would use, so it is made once)."""
        state = self._require_state()
        if not state.paid or state.payment_id is None or state.invoice_started:
            return
        state.invoice_started = True
        delivery = InvoiceDelivery(
            invoice_id=invoice_id_for(state.payment_id),
            payment_id=state.payment_id,
            issued_on=workflow.now().date(),
        )
        try:
            child = await workflow.start_child_workflow(
                INVOICE_WORKFLOW,
                delivery,
                id=invoice_workflow_id(delivery),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                static_summary=invoice_summary(delivery),
            )
        except WorkflowAlreadyStartedError:
            return
        self._notifier.children.append(child)

    async def _tell_first_of_follow_up(self, first: UUID) -> None:
        state = self._require_state()
        handle = workflow.get_external_workflow_handle(appointment_workflow_id(first))
        try:
            await handle.signal(
                AppointmentSignal.FOLLOW_UP_BOOKED,
                FollowUpBooked(appointment_id=state.appointment_id),
            )
        except FailureError:
            workflow.logger.info("the first appointment's workflow has ended")

    def _plan_reminders(self) -> None:
        state = self._require_state()
        timers = self._timers_input()
        planned = reminder_instants(
            state.starts_at,
            [timedelta(minutes=m) for m in timers.reminder_minutes],
            state.patient_timezone,
            QuietHours.parse(timers.quiet_hours),
            not_before=workflow.now(),
        )
        state.reminders = [ReminderPlan(label=r.label, at=r.at) for r in planned]

    def _everyone(self, *, exclude: UUID | None) -> list[UUID | None]:
        state = self._require_state()
        people = [state.patient_user_id, state.doctor_user_id]
        return [p for p in people if p != exclude]

    def _notify_patient(self, key: str, template: str, context: dict[str, str]) -> None:
        self._notify_people([self._require_state().patient_user_id], key, template, context)

    def _notify_people(
        self, recipients: list[UUID | None], key: str, template: str, context: dict[str, str]
    ) -> None:
        state = self._require_state()
        for user_id in dict.fromkeys(r for r in recipients if r is not None):
            is_patient = user_id == state.patient_user_id
            self._notifier.queue(
                NotificationRequest(
                    dedupe_key=f"appointment:{state.appointment_id}:{key}:{user_id}",
                    user_id=user_id,
                    template=template,
                    channels=list(state.patient_channels)
                    if is_patient
                    else [Channel.EMAIL, Channel.IN_APP],
                    locale=state.patient_locale if is_patient else None,
                    context={"appointment_number": state.appointment_number, **context},
                    type="appointment",
                    reference_type="appointment",
                    reference_id=state.appointment_id,
                )
            )

    def _with_deadlines(self, new: NewAppointment) -> NewAppointment:
        """The hold (never past the start) and, where the doctor asks for it first, the time to
        pay (never past the hold), from the workflow's clock."""
        input = self._require_input()
        timers = input.timers
        now = workflow.now()
        confirm_by = confirm_deadline(now, new.starts_at, timedelta(hours=timers.confirm_hours))
        due = None
        if input.requires_prepayment:
            due = min(now + timedelta(hours=timers.prepayment_hours), confirm_by)
        return new.model_copy(update={"confirm_by": confirm_by, "payment_due_at": due})

    def _initial_state(self, stored: StoredAppointment, new: NewAppointment) -> AppointmentState:
        input = self._require_input()
        now = workflow.now()
        assert new.confirm_by is not None
        confirm_by = new.confirm_by
        due = new.payment_due_at
        requires_prepayment = input.requires_prepayment
        return AppointmentState(
            appointment_id=stored.appointment_id,
            appointment_number=stored.appointment_number,
            patient_id=stored.patient_id,
            doctor_id=stored.doctor_id,
            booking_id=stored.booking_id,
            follow_up_of=stored.follow_up_of,
            appointment_type=input.appointment.appointment_type,
            status=stored.status,
            seq=stored.status_seq,
            status_since=now,
            starts_at=stored.starts_at,
            ends_at=stored.ends_at,
            duration_minutes=input.appointment.duration_minutes,
            patient_user_id=stored.patient_user_id,
            doctor_user_id=stored.doctor_user_id,
            hospital_admin_user_ids=stored.hospital_admin_user_ids,
            patient_timezone=stored.patient_timezone,
            patient_locale=stored.patient_locale,
            patient_channels=stored.patient_channels,
            requires_prepayment=requires_prepayment,
            confirm_by=confirm_by,
            payment_due_at=due,
            limits_notice_hours=stored.change_notice_hours,
            max_reschedules=stored.max_reschedules,
            reschedule_count=stored.reschedule_count,
            video_room_id=stored.video_room_id,
        )

    async def _ready(self) -> None:
        await workflow.wait_condition(lambda: self._state is not None)

    def _require_state(self) -> AppointmentState:
        assert self._state is not None, "the appointment is not stored yet"
        return self._state

    def _require_input(self) -> AppointmentInput:
        assert self._input is not None
        return self._input

    def _parties(self) -> AppointmentParties:
        state = self._require_state()
        return AppointmentParties(
            patient_user_id=state.patient_user_id,
            doctor_user_id=state.doctor_user_id,
            hospital_admin_user_ids=frozenset(state.hospital_admin_user_ids),
        )

    def _ctx(self, prescription: bool = False, follow_up: bool = False) -> MoveContext:
        state = self._require_state()
        return MoveContext(
            now=workflow.now(),
            starts_at=state.starts_at,
            payment_required=state.requires_prepayment,
            paid=state.paid,
            open_before=timedelta(minutes=self._timers_input().video_open_minutes),
            prescription_in_command=prescription,
            follow_up_in_command=follow_up,
        )

    def _index(self) -> None:
        if not self._require_input().index:
            return
        state = self._require_state()

        def legacy() -> list[SearchAttributeUpdate[Any]]:
            return []

        index(
            "appointment",
            state.status,
            {
                "AppointmentId": state.appointment_id,
                "PatientId": state.patient_id,
                "BookingId": state.booking_id,
            },
            legacy,
        )

    def _view(self) -> AppointmentView:
        state = self._require_state()
        return AppointmentView(
            appointment_id=state.appointment_id,
            appointment_number=state.appointment_number,
            status=state.status,
            seq=state.seq,
            starts_at=state.starts_at,
            ends_at=state.ends_at,
            reschedule_count=state.reschedule_count,
            refund_percent=state.refund_percent,
            refunded=state.refunded,
            refund_outcome=state.refund_outcome,
            no_show_party=state.no_show_party,
        )


WORKFLOWS: list[type] = [AppointmentWorkflow]


async def open_appointment(
    client: Client, task_queue: str, input: AppointmentInput
) -> AppointmentView:
    """Start the appointment's workflow and wait until its row is stored (or refused)."""
    return await update_with_start(
        client,
        AppointmentWorkflow.run,
        AppointmentWorkflow.create,
        input,
        id=appointment_workflow_id(input.appointment.appointment_id),
        task_queue=task_queue,
        summary=f"Appointment {input.appointment.appointment_number}",
        details=appointment_details(input),
    )


def appointment_details(input: AppointmentInput) -> str:
    """The run's static details in the Temporal UI: ids and the start (UTC) only."""
    new = input.appointment
    return (
        f"appointment `{new.appointment_id}` · patient `{new.patient_id}` · doctor "
        f"`{new.doctor_id}` · starts {new.starts_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    )
