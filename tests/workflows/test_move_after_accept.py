"""A Temporal server restart while a move's status write is in flight leaves the booking's row and
its workflow agreeing (workflows/_kit.write_after_accept): the write runs only once the update is
durably accepted, so the move is either lost whole or done whole, and the next move is recorded.

The dev server here is the test's own, on a SQLite file so it keeps its state across the restart
(as the embedded stack's does); the status write is held up by a lock the test takes on the row."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.bookings import BookingActivities, NewBooking, booking_activity_list
from activities.notify import NotificationActivities, notification_activity_list
from activities.providers.outbox import OutboxEmail, OutboxMessages
from domain.access import Role
from domain.booking import BookingStatus
from domain.models.bookings import Booking, BookingStatusHistory
from domain.models.catalog import Hospital
from domain.models.notifications import Channel
from domain.models.users import Patient, User
from runtime.postgres import free_port
from runtime.settings import Settings
from runtime.temporal import converter
from runtime.temporal_server import TemporalDevServer
from tests.builders.helpers import eventually
from tests.builders.users import create_user
from tests.fixtures.workers import new_worker
from workflows.booking import (
    BookingInput,
    BookingView,
    BookingWorkflow,
    Caller,
    StatusChange,
    WaitingFor,
    open_booking,
    workflow_id,
)
from workflows.notification import WORKFLOWS as NOTIFICATION_WORKFLOWS

S = BookingStatus
# Generous: the machine is shared, and a lost workflow task waits out its timeout (10 s).
SETTLE_WITHIN = 90.0
DOWN_FOR = 12.0


@pytest_asyncio.fixture(loop_scope="session")
async def restartable(tmp_path: Path) -> AsyncIterator[TemporalDevServer]:
    server = TemporalDevServer(
        db_file=tmp_path / "temporal.db",
        port=free_port(),
        ui_port=None,
        log_file=tmp_path / "temporal.log",
    )
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


@pytest_asyncio.fixture(loop_scope="session")
async def client(restartable: TemporalDevServer) -> Client:
    return await Client.connect(
        restartable.address, data_converter=converter(Settings(_env_file=None))
    )


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    client: Client, task_queue: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Worker]:
    notifications = NotificationActivities(
        sessionmaker,
        OutboxEmail(sessionmaker),
        OutboxMessages(sessionmaker, Channel.SMS),
        OutboxMessages(sessionmaker, Channel.WHATSAPP),
    )
    running = new_worker(
        client,
        task_queue,
        BookingWorkflow,
        *NOTIFICATION_WORKFLOWS,
        activities=[
            *booking_activity_list(BookingActivities(sessionmaker)),
            *notification_activity_list(notifications),
        ],
    )
    async with running:
        yield running


async def people(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[User, User, Any]:
    patient = await create_user(sessionmaker, Role.PATIENT)
    coordinator = await create_user(sessionmaker, Role.COORDINATOR)
    hospital_admin = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    async with sessionmaker() as db, db.begin():
        hospital = Hospital(id=uuid.uuid4(), name="Anadolu Clinic", admin_user_id=hospital_admin.id)
        db.add(hospital)
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient.id))
    assert patient_id is not None
    return coordinator, hospital_admin, (patient, patient_id, hospital.id)


def caller(user: User) -> Caller:
    return Caller(user_id=user.id, role=Role(user.user_type))


async def db_state(
    sessionmaker: async_sessionmaker[AsyncSession], booking_id: uuid.UUID
) -> tuple[str, int, list[tuple[int, str]]]:
    async with sessionmaker() as db:
        row = await db.get(Booking, booking_id)
        assert row is not None
        history = [
            (h.seq, h.to_status)
            for h in await db.scalars(
                select(BookingStatusHistory)
                .where(BookingStatusHistory.booking_id == booking_id)
                .order_by(BookingStatusHistory.seq)
            )
        ]
        return row.status, row.status_seq, history


async def workflow_status(handle: WorkflowHandle[Any, Any]) -> BookingStatus | None:
    """The workflow's own status, None while the server cannot answer."""
    try:
        waiting = await handle.query(BookingWorkflow.waiting_for, result_type=WaitingFor)
    except Exception:
        return None
    return waiting.status


async def lock_waiters(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as db:
        return int(
            await db.scalar(
                select(func.count())
                .select_from(text("pg_stat_activity"))
                .where(
                    text("wait_event_type = 'Lock' AND datname = current_database()"),
                )
            )
            or 0
        )


async def test_a_server_restart_during_a_status_write_leaves_row_and_workflow_agreeing(
    restartable: TemporalDevServer,
    client: Client,
    task_queue: str,
    worker: Worker,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    coordinator, hospital_admin, (patient, patient_id, hospital_id) = await people(sessionmaker)
    booking_id = uuid.uuid4()
    view = await open_booking(
        client,
        task_queue,
        BookingInput(
            booking=NewBooking(
                booking_id=booking_id,
                booking_number=f"MV-BK-TEST-{booking_id.hex[:8]}",
                patient_id=patient_id,
                hospital_id=hospital_id,
                booking_type="treatment",
                coordinator_id=coordinator.id,
                created_by_user_id=patient.id,
                created_by_role=Role.PATIENT.value,
            )
        ),
    )
    assert view.status == S.REQUESTED
    handle = client.get_workflow_handle(workflow_id(booking_id), result_type=BookingView)
    await handle.execute_update(
        BookingWorkflow.change_status,
        StatusChange(caller=caller(coordinator), status=S.UNDER_REVIEW),
        result_type=BookingView,
    )

    # The test holds the row: the move's status write blocks on it.
    async with sessionmaker() as holder:
        await holder.begin()
        await holder.execute(select(Booking).where(Booking.id == booking_id).with_for_update())
        accept = asyncio.create_task(
            handle.execute_update(
                BookingWorkflow.change_status,
                StatusChange(caller=caller(hospital_admin), status=S.ACCEPTED),
                result_type=BookingView,
            )
        )
        await eventually(lambda: lock_waiters(sessionmaker), within=SETTLE_WITHIN)
        await asyncio.to_thread(restartable.stop)
        # The caller gives up, as the API does at its deadline (503 WORKFLOW_UNAVAILABLE): the
        # update is not sent again.
        accept.cancel()
        with contextlib.suppress(BaseException):
            await accept
        # Down for longer than a workflow task's timeout (10 s): the task that held the move
        # times out, as it does when a restart takes a while (a loaded machine, a big file).
        await asyncio.sleep(DOWN_FOR)
        await asyncio.to_thread(restartable.start)
        await holder.rollback()

    async def agreeing() -> tuple[BookingStatus, tuple[str, int, list[tuple[int, str]]]] | None:
        status = await workflow_status(handle)
        stored = await db_state(sessionmaker, booking_id)
        return (status, stored) if status is not None and status.value == stored[0] else None

    with contextlib.suppress(AssertionError):
        await eventually(agreeing, within=SETTLE_WITHIN)
    status = await workflow_status(handle)
    stored_status, stored_seq, history = await db_state(sessionmaker, booking_id)
    assert status is not None and status.value == stored_status, (
        f"workflow says {status}, the row says {stored_status}"
    )
    assert history[-1] == (stored_seq, stored_status)
    assert [seq for seq, _ in history] == list(range(1, stored_seq + 1))

    # The next move goes through and is recorded (the accept again if it was lost whole).
    target = S.AWAITING_MEDICAL_DETAILS if status == S.ACCEPTED else S.ACCEPTED
    mover = coordinator if target == S.AWAITING_MEDICAL_DETAILS else hospital_admin
    moved = await handle.execute_update(
        BookingWorkflow.change_status,
        StatusChange(caller=caller(mover), status=target),
        result_type=BookingView,
    )
    assert moved.status == target and moved.seq == stored_seq + 1
    assert await db_state(sessionmaker, booking_id) == (
        target.value,
        stored_seq + 1,
        [*history, (stored_seq + 1, target.value)],
    )
    assert await workflow_status(handle) == target
