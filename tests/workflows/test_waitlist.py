"""DoctorWaitlistWorkflow on the time-skipping server, with the real appointment, waitlist and
notification activities, the real database and the outbox: a freed slot is offered to the
waiting patients in the order they joined, each for a timed hold."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.appointments import AppointmentActivities, appointment_activity_list
from activities.lifecycle import code_of
from activities.notify import NotificationActivities, notification_activity_list
from activities.providers.outbox import OutboxEmail, OutboxMessages
from activities.providers.video import JitsiRooms
from activities.waitlist import WaitlistActivities, waitlist_activity_list
from domain.access import Role
from domain.models.appointments import Appointment, DoctorWaitlist, SlotHold
from domain.models.notifications import Channel, OutboxMessage
from tests.builders.helpers import eventually, outbox_for, refused
from tests.builders.temporal_histories import found_in, ui_view
from tests.builders.waitlist_builders import (
    WaitlistCast,
    book,
    entry_status,
    holders,
    join,
    patient,
    slot_in,
    waitlist_cast,
)
from tests.fixtures.workers import new_worker
from workflows._kit import Caller
from workflows.appointment import AppointmentWorkflow, Cancellation, Reschedule
from workflows.messages import SlotFreed, WaitlistSignal, waitlist_workflow_id
from workflows.notification import WORKFLOWS as NOTIFICATION_WORKFLOWS
from workflows.waitlist import (
    DoctorWaitlistWorkflow,
    WaitlistExpiryWorkflow,
    WaitlistInput,
    WaitlistView,
)

OFFER_MINUTES = 30
H = timedelta(hours=1)


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Worker]:
    notifications = NotificationActivities(
        sessionmaker,
        OutboxEmail(sessionmaker),
        OutboxMessages(sessionmaker, Channel.SMS),
        OutboxMessages(sessionmaker, Channel.WHATSAPP),
    )
    running = new_worker(
        indexed_env,
        task_queue,
        AppointmentWorkflow,
        DoctorWaitlistWorkflow,
        WaitlistExpiryWorkflow,
        *NOTIFICATION_WORKFLOWS,
        activities=[
            *appointment_activity_list(
                AppointmentActivities(sessionmaker, JitsiRooms("https://meet.test", "room-key"))
            ),
            *waitlist_activity_list(WaitlistActivities(sessionmaker, offer_minutes=OFFER_MINUTES)),
            *notification_activity_list(notifications),
        ],
    )
    async with running:
        yield running


async def offer_mails(sessionmaker: async_sessionmaker[AsyncSession], email: str) -> list[str]:
    async with sessionmaker() as db:
        rows = await db.scalars(
            select(OutboxMessage.subject).where(
                OutboxMessage.recipient == email, OutboxMessage.subject.like("A slot with%")
            )
        )
        return list(rows)


async def free_by_reschedule(
    env: WorkflowEnvironment, task_queue: str, cast: WaitlistCast, slot: datetime
) -> None:
    """The first patient's appointment at `slot` moves a day later (staff, override): the slot
    frees while that appointment's workflow keeps running."""
    handle = await book(env.client, task_queue, cast, cast.patients[0], slot, by_staff=True)
    await handle.execute_update(
        AppointmentWorkflow.reschedule,
        Reschedule(
            caller=Caller(user_id=cast.admin.id, role=Role.ADMIN),
            starts_at=slot + timedelta(days=1),
            override=True,
        ),
    )


async def test_waitlist_offers_in_order(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    cast = await waitlist_cast(sessionmaker, patients=4)
    _, first, second, other = cast.patients
    slot = slot_in(3, now=await indexed_env.get_current_time())
    now = datetime.now(UTC)
    first_entry = await join(
        sessionmaker, cast.doctor_id, first, slot.date(), joined_at=now - timedelta(hours=2)
    )
    second_entry = await join(
        sessionmaker,
        cast.doctor_id,
        second,
        slot.date() - timedelta(days=1),
        slot.date() + timedelta(days=2),
        joined_at=now - timedelta(hours=1),
    )

    await free_by_reschedule(indexed_env, task_queue, cast, slot)

    # The first to join is offered it: a hold in their name and a notification.
    await eventually(lambda: _is(sessionmaker, first_entry, "offered"))
    assert await entry_status(sessionmaker, second_entry) == "waiting"
    assert await holders(sessionmaker, cast.doctor_id) == [first.patient_id]
    mail = (await outbox_for(sessionmaker, first.user.email))[-1]
    assert mail.subject == f"A slot with Ada Waits is free: {slot:%Y-%m-%d %H:%M}"
    # Meanwhile nobody else can book it.
    taken = await refused(book(indexed_env.client, task_queue, cast, other, slot))
    assert code_of(taken) == "SLOT_TAKEN"
    # The Temporal UI: the doctor's waitlist, its open offer and until when it holds (ids only).
    # (Its static summary, given at signal-with-start, the Java test server does not keep:
    # tests/api/test_doctor_waitlist.py reads it from the dev server.)
    shown = await ui_view(indexed_env.client, waitlist_workflow_id(cast.doctor_id))
    assert shown.current_details.startswith(f"**Waitlist of doctor {cast.doctor_id}**")
    assert "`1 open offers, 0 slots to offer, 1 made`" in shown.current_details
    assert "waits for: hold " in shown.current_details and " UTC" in shown.current_details

    # Untaken when the hold expires: the entry expires and the next patient is offered it.
    await indexed_env.sleep(timedelta(minutes=OFFER_MINUTES + 1))
    await eventually(lambda: _is(sessionmaker, second_entry, "offered"))
    assert await entry_status(sessionmaker, first_entry) == "expired"
    assert await holders(sessionmaker, cast.doctor_id) == [second.patient_id]
    assert await offer_mails(sessionmaker, second.user.email) == [
        f"A slot with Ada Waits is free: {slot:%Y-%m-%d %H:%M}"
    ]

    # The second books the offered slot (the doctor's rules checked): their entry is booked and
    # the hold gone; the first is not offered it again.
    booked = await book(indexed_env.client, task_queue, cast, second, slot)
    async with sessionmaker() as db:
        row = await db.get(Appointment, _appointment_id(booked.id))
    assert row is not None and row.scheduled_date == slot and row.patient_id == second.patient_id
    assert await entry_status(sessionmaker, second_entry) == "booked"
    assert await holders(sessionmaker, cast.doctor_id) == []

    # At the hold's end the workflow finds it taken and ends, having made two offers.
    waitlist = indexed_env.client.get_workflow_handle(
        waitlist_workflow_id(cast.doctor_id), result_type=WaitlistView
    )
    assert [o.entry_id for o in await waitlist.query(DoctorWaitlistWorkflow.open_offers)] == [
        second_entry
    ]
    await indexed_env.sleep(timedelta(minutes=OFFER_MINUTES + 1))
    view = await waitlist.result()
    assert view.offers_made == 2
    shown = await ui_view(indexed_env.client, waitlist_workflow_id(cast.doctor_id))
    assert "`2 offers made`" in shown.current_details
    timers = shown.event_summaries["EVENT_TYPE_TIMER_STARTED"]
    assert timers and all(t.startswith("offer expiry, hold ") for t in timers)
    emails = {p.user.email for p in cast.patients}
    assert found_in([t.encode() for t in shown.texts()], emails) == set()
    assert await entry_status(sessionmaker, first_entry) == "expired"
    assert await offer_mails(sessionmaker, first.user.email) == [mail.subject]


async def test_a_slot_nobody_waits_for_in_range_is_not_held(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    """A patient waiting for the next day (in their zone) is not offered the slot, and it stays
    free for all."""
    cast = await waitlist_cast(sessionmaker, patients=3)
    _, later, other = cast.patients
    slot = slot_in(3, now=await indexed_env.get_current_time())
    entry = await join(sessionmaker, cast.doctor_id, later, slot.date() + timedelta(days=1))

    await free_by_reschedule(indexed_env, task_queue, cast, slot)

    waitlist = indexed_env.client.get_workflow_handle(
        waitlist_workflow_id(cast.doctor_id), result_type=WaitlistView
    )
    assert (await waitlist.result()).offers_made == 1
    assert await entry_status(sessionmaker, entry) == "waiting"
    assert await holders(sessionmaker, cast.doctor_id) == []
    await book(indexed_env.client, task_queue, cast, other, slot)


async def _is(
    sessionmaker: async_sessionmaker[AsyncSession], entry_id: uuid.UUID, status: str
) -> bool:
    return await entry_status(sessionmaker, entry_id) == status


def _appointment_id(workflow_id: str) -> uuid.UUID:
    return uuid.UUID(workflow_id.removeprefix("appointment-"))


async def test_an_open_offer_survives_continue_as_new(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    """A long-lived waitlist hands over to a new run with its open offer: the hold still ends
    on time and the entry expires."""
    cast = await waitlist_cast(sessionmaker, patients=1)
    waiting = cast.patients[0]
    slot = slot_in(3, now=await indexed_env.get_current_time())
    entry = await join(sessionmaker, cast.doctor_id, waiting, slot.date())
    first_run = await indexed_env.client.start_workflow(
        DoctorWaitlistWorkflow.run,
        WaitlistInput(doctor_id=cast.doctor_id, offer_minutes=OFFER_MINUTES, max_history_events=5),
        id=waitlist_workflow_id(cast.doctor_id),
        task_queue=task_queue,
        start_signal=WaitlistSignal.SLOT_FREED,
        start_signal_args=[
            SlotFreed(
                doctor_id=cast.doctor_id, starts_at=slot, ends_at=slot + timedelta(minutes=30)
            )
        ],
    )
    await eventually(lambda: _is(sessionmaker, entry, "offered"))

    async def handed_over() -> bool:
        described = await indexed_env.client.get_workflow_handle(
            first_run.id, run_id=first_run.result_run_id
        ).describe()
        return described.status == WorkflowExecutionStatus.CONTINUED_AS_NEW

    await eventually(handed_over)
    latest = indexed_env.client.get_workflow_handle(waitlist_workflow_id(cast.doctor_id))
    assert [o.entry_id for o in await latest.query(DoctorWaitlistWorkflow.open_offers)] == [entry]

    await indexed_env.sleep(timedelta(minutes=OFFER_MINUTES + 1))
    view = await first_run.result()
    assert view.offers_made == 2
    assert await entry_status(sessionmaker, entry) == "expired"
    assert await holders(sessionmaker, cast.doctor_id) == []


async def test_entries_whose_dates_are_past_expire_in_the_patients_own_zone(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    cast = await waitlist_cast(sessionmaker, patients=2)
    in_utc, other = cast.patients
    kolkata = await patient(sessionmaker, zone="Asia/Kolkata")
    now = datetime.now(UTC)
    today_utc = now.date()
    today_kolkata = now.astimezone(ZoneInfo("Asia/Kolkata")).date()
    yesterday = await join(
        sessionmaker,
        cast.doctor_id,
        in_utc,
        today_utc - timedelta(days=3),
        today_utc - timedelta(days=1),
    )
    today = await join(sessionmaker, cast.doctor_id, other, today_utc)
    kolkata_today = await join(sessionmaker, cast.doctor_id, kolkata, today_kolkata)
    kolkata_past = await join(
        sessionmaker, cast.doctor_id, kolkata, today_kolkata - timedelta(days=1)
    )
    # An offer on a past day whose hold has run out (its workflow never ended it): expired, and
    # its hold gone; a live offer is left to its workflow.
    stale = await join(sessionmaker, cast.doctor_id, other, today_utc - timedelta(days=1))
    live = await join(sessionmaker, cast.doctor_id, kolkata, today_kolkata - timedelta(days=2))
    async with sessionmaker() as db, db.begin():
        for entry_id, expires in ((stale, now - timedelta(hours=1)), (live, now + H)):
            entry = await db.get(DoctorWaitlist, entry_id)
            assert entry is not None
            entry.status, entry.offer_expires_at = "offered", expires
            db.add(
                SlotHold(
                    doctor_id=cast.doctor_id,
                    patient_id=entry.patient_id,
                    held_range=Range(now + 2 * H, now + 3 * H),
                    expires_at=expires,
                    waitlist_id=entry_id,
                )
            )

    expired = await indexed_env.client.execute_workflow(
        WaitlistExpiryWorkflow.run, id=f"waitlist-expiry-{uuid.uuid4()}", task_queue=task_queue
    )

    assert expired >= 3
    assert {
        name: await entry_status(sessionmaker, entry_id)
        for name, entry_id in {
            "yesterday": yesterday,
            "today": today,
            "kolkata_today": kolkata_today,
            "kolkata_past": kolkata_past,
            "stale": stale,
            "live": live,
        }.items()
    } == {
        "yesterday": "expired",
        "today": "waiting",
        "kolkata_today": "waiting",
        "kolkata_past": "expired",
        "stale": "expired",
        "live": "offered",
    }
    async with sessionmaker() as db:
        held = set(
            await db.scalars(
                select(SlotHold.waitlist_id).where(SlotHold.waitlist_id.in_([stale, live]))
            )
        )
    assert held == {live}
    # Again: nothing more to expire among these.
    await indexed_env.client.execute_workflow(
        WaitlistExpiryWorkflow.run, id=f"waitlist-expiry-{uuid.uuid4()}", task_queue=task_queue
    )
    assert await entry_status(sessionmaker, today) == "waiting"


async def test_a_cancellation_and_an_unconfirmed_hold_free_their_slots_to_the_waitlist(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    cast = await waitlist_cast(sessionmaker, patients=4)
    holder, canceller, waits_for_cancelled, waits_for_lapsed = cast.patients
    now = await indexed_env.get_current_time()
    cancelled_slot, lapsed_slot = slot_in(3, now=now), slot_in(4, now=now)
    for_cancelled = await join(
        sessionmaker, cast.doctor_id, waits_for_cancelled, cancelled_slot.date()
    )
    for_lapsed = await join(sessionmaker, cast.doctor_id, waits_for_lapsed, lapsed_slot.date())
    cancelled = await book(indexed_env.client, task_queue, cast, canceller, cancelled_slot)
    # Requested and never confirmed by the doctor: held until its confirmation deadline (24 h).
    await book(indexed_env.client, task_queue, cast, holder, lapsed_slot)

    await cancelled.execute_update(
        AppointmentWorkflow.cancel,
        Cancellation(caller=Caller(user_id=canceller.user.id, role=Role.PATIENT), reason="x"),
    )

    await eventually(lambda: _is(sessionmaker, for_cancelled, "offered"))
    assert await entry_status(sessionmaker, for_lapsed) == "waiting"
    assert await eventually(lambda: offer_mails(sessionmaker, waits_for_cancelled.user.email)) == [
        f"A slot with Ada Waits is free: {cancelled_slot:%Y-%m-%d %H:%M}"
    ]

    # The request's hold lapses unconfirmed: cancelled, and its time offered to who waits.
    await indexed_env.sleep(timedelta(hours=24, minutes=1))
    await eventually(lambda: _is(sessionmaker, for_lapsed, "offered"))
    assert await eventually(lambda: offer_mails(sessionmaker, waits_for_lapsed.user.email)) == [
        f"A slot with Ada Waits is free: {lapsed_slot:%Y-%m-%d %H:%M}"
    ]
