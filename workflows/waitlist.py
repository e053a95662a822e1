"""DoctorWaitlistWorkflow: one per doctor (`waitlist-<doctor id>`), it offers freed slots to the
patients waiting for them, in the order they joined.

Started with signal-with-start (the activity start_doctor_waitlist, from an appointment that
freed its time) and told of every further freed slot by the same signal, slot_freed. Each freed
slot is offered to the first waiting patient whose dates cover it, as a timed hold (a slot_holds
row: nobody else can book it) and a notification; the patient takes it by booking that slot
before the hold expires (the booking marks their entry booked). When the hold expires untaken,
the entry expires and the slot goes to the next patient, until one books it or nobody is left.
The run ends once no offer is open and every notification it sent is delivered; the next freed
slot starts a new one.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.waitlist import (
        ExpirySweep,
        OfferEnd,
        SlotOfferRequest,
        WaitlistActivities,
        WaitlistOffer,
    )
    from workflows._kit import (
        DB_ACTIVITY,
        StateTimers,
        notification_summary,
        quiesce,
        should_continue_as_new,
        show,
    )
    from workflows.messages import (
        NOTIFICATION_WORKFLOW,
        WAITLIST_EXPIRY_WORKFLOW,
        WAITLIST_WORKFLOW,
        NotificationRequest,
        OfferWithdrawn,
        SlotFreed,
        WaitlistSignal,
        WaitlistStart,
        notification_workflow_id,
    )

MAX_HISTORY_EVENTS = 2000

__all__ = [
    "WORKFLOWS",
    "DoctorWaitlistWorkflow",
    "OpenOffer",
    "WaitlistExpiryWorkflow",
    "WaitlistInput",
    "WaitlistState",
    "WaitlistView",
]


class FreedSlot(BaseModel):
    """A freed slot waiting to be offered, and the entries already offered it."""

    starts_at: datetime
    ends_at: datetime
    tried: list[UUID] = Field(default_factory=list)


class OpenOffer(BaseModel):
    slot: FreedSlot
    hold_id: UUID
    entry_id: UUID
    expires_at: datetime


class WaitlistState(BaseModel):
    """What the workflow knows, carried over continue-as-new: ids and times only."""

    freed: list[FreedSlot] = Field(default_factory=list)
    offers: list[OpenOffer] = Field(default_factory=list)
    pending: list[NotificationRequest] = Field(default_factory=list)
    # Counts offers made: with the first run's id it names each offer (its hold) for good.
    made: int = 0


class WaitlistInput(WaitlistStart):
    max_history_events: int = MAX_HISTORY_EVENTS
    carried: WaitlistState | None = None


class WaitlistView(BaseModel):
    """What a run did: how many offers it made."""

    doctor_id: UUID
    offers_made: int


@workflow.defn(name=WAITLIST_WORKFLOW)
class DoctorWaitlistWorkflow:
    def __init__(self) -> None:
        self._state = WaitlistState()
        self._timers = StateTimers({"*": "offer expiry, hold {}"})
        # Notification children started by this run: awaited before it ends, so none is left
        # in flight when the run closes.
        self._sent: list[Any] = []

    @workflow.run
    async def run(self, input: WaitlistInput) -> WaitlistView:
        if input.carried is not None:
            # Slots signalled before this run's first task are already in self._state.freed.
            carried = input.carried
            carried.freed.extend(s for s in self._state.freed if self._is_new(s, carried))
            self._state = carried
        state = self._state
        while True:
            while state.freed:
                await self._offer(input, state.freed.pop(0))
            await self._send_pending()
            if not state.offers:
                await quiesce()
                await self._send_pending()
                if not state.freed and not state.offers:
                    await asyncio.gather(*self._sent, return_exceptions=True)
                    if not state.freed and workflow.all_handlers_finished():
                        show(f"Waitlist of doctor {input.doctor_id}", f"{state.made} offers made")
                        return WaitlistView(doctor_id=input.doctor_id, offers_made=state.made)
                continue
            if should_continue_as_new(input.max_history_events):
                await quiesce()
                await self._send_pending()
                await asyncio.gather(*self._sent, return_exceptions=True)
                workflow.continue_as_new(input.model_copy(update={"carried": state}))
            self._show(input)
            fired = await self._timers.wait_for_change_or_timer(
                [(offer.expires_at, str(offer.hold_id)) for offer in state.offers],
                wake=lambda: bool(state.freed),
            )
            if fired:
                for offer in [o for o in state.offers if str(o.hold_id) in fired]:
                    await self._end(offer)

    @workflow.signal(name=WaitlistSignal.SLOT_FREED)
    def slot_freed(self, freed: SlotFreed) -> None:
        slot = FreedSlot(starts_at=freed.starts_at, ends_at=freed.ends_at)
        # A repeated signal (a retried activity) or a slot already on offer changes nothing.
        if self._is_new(slot, self._state):
            self._state.freed.append(slot)
            self._timers.changed()

    @workflow.signal(name=WaitlistSignal.OFFER_WITHDRAWN)
    def offer_withdrawn(self, withdrawn: OfferWithdrawn) -> None:
        """The offer ends now (its hold is already gone) and the slot goes to the next."""
        for offer in self._state.offers:
            if offer.entry_id == withdrawn.entry_id:
                offer.expires_at = min(offer.expires_at, workflow.now())
                self._timers.changed()

    def _show(self, input: WaitlistInput) -> None:
        """The run's details in the Temporal UI: the open offers (holds) and their deadline."""
        state = self._state
        soonest = min(state.offers, key=lambda o: o.expires_at, default=None)
        show(
            f"Waitlist of doctor {input.doctor_id}",
            f"{len(state.offers)} open offers, {len(state.freed)} slots to offer, "
            f"{state.made} made",
            f"hold {soonest.hold_id} to be booked" if soonest else None,
            soonest.expires_at if soonest else None,
        )

    @workflow.query
    def open_offers(self) -> list[OpenOffer]:
        return list(self._state.offers)

    @staticmethod
    def _is_new(slot: FreedSlot, state: WaitlistState) -> bool:
        known = [s.starts_at for s in state.freed] + [o.slot.starts_at for o in state.offers]
        return slot.starts_at not in known

    async def _offer(self, input: WaitlistInput, slot: FreedSlot) -> None:
        state = self._state
        now = workflow.now()
        expires_at = min(now + timedelta(minutes=input.offer_minutes), slot.starts_at)
        if expires_at <= now:
            return
        state.made += 1
        offer: WaitlistOffer | None = await workflow.execute_local_activity_method(
            WaitlistActivities.offer_waitlist_slot,
            SlotOfferRequest(
                doctor_id=input.doctor_id,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                expires_at=expires_at,
                offer_key=f"{workflow.info().first_execution_run_id}:{state.made}",
                skip=slot.tried,
            ),
            **DB_ACTIVITY,
            summary="offer the freed slot",
        )
        if offer is None:
            # Nobody waits for it, or it is not bookable any more: nothing to offer.
            return
        slot.tried.append(offer.entry_id)
        state.offers.append(
            OpenOffer(
                slot=slot, hold_id=offer.hold_id, entry_id=offer.entry_id, expires_at=expires_at
            )
        )
        self._timers.changed()
        if offer.patient_user_id is not None:
            state.pending.append(
                NotificationRequest(
                    dedupe_key=f"waitlist-offer:{offer.hold_id}",
                    user_id=offer.patient_user_id,
                    template="waitlist_offer",
                    channels=offer.channels,
                    locale=offer.locale,
                    context={
                        "doctor_name": offer.doctor_name,
                        "starts_at": offer.starts_local,
                        "expires_at": offer.expires_local,
                        "timezone": offer.timezone,
                    },
                    type="waitlist",
                    reference_type="waitlist",
                    reference_id=offer.entry_id,
                )
            )

    async def _end(self, offer: OpenOffer) -> None:
        state = self._state
        outcome = await workflow.execute_local_activity_method(
            WaitlistActivities.end_waitlist_offer,
            OfferEnd(hold_id=offer.hold_id, entry_id=offer.entry_id),
            **DB_ACTIVITY,
            summary="end the offer",
        )
        state.offers = [o for o in state.offers if o.hold_id != offer.hold_id]
        self._timers.changed()
        if outcome != "booked":
            # Not taken: the next waiting patient's turn.
            state.freed.append(offer.slot)

    async def _send_pending(self) -> None:
        """Start the queued notifications (deduped children that outlive nothing: awaited
        before the run ends)."""
        state = self._state
        while state.pending:
            request = state.pending[0]
            try:
                handle = await workflow.start_child_workflow(
                    NOTIFICATION_WORKFLOW,
                    request,
                    id=notification_workflow_id(request.dedupe_key),
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                    static_summary=notification_summary(request),
                )
            except WorkflowAlreadyStartedError:
                pass
            else:
                self._sent.append(handle)
            del state.pending[0]


@workflow.defn(name=WAITLIST_EXPIRY_WORKFLOW)
class WaitlistExpiryWorkflow:
    """Entries whose dates are past become expired (no longer waiting, never offered). Run by the
    hourly Schedule (workflows/schedules.py); answers how many it expired."""

    @workflow.run
    async def run(self) -> int:
        return await workflow.execute_activity_method(
            WaitlistActivities.expire_past_waitlist_entries,
            ExpirySweep(),
            start_to_close_timeout=timedelta(minutes=5),
            summary="expire past waitlist entries",
        )


WORKFLOWS: list[type] = [DoctorWaitlistWorkflow, WaitlistExpiryWorkflow]
