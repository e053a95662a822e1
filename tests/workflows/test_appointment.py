"""AppointmentWorkflow on the time-skipping server, with the real activities, the real database,
the Jitsi adapter and DeliverNotification children delivering to the outbox."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
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
from activities.render import render
from domain.access import Role
from domain.appointment import AppointmentStatus
from domain.models.appointments import Appointment, AppointmentStatusHistory
from domain.models.catalog import Doctor
from domain.models.notifications import Channel, Notification
from domain.models.users import Patient, User
from tests.builders.helpers import refused, row_becomes
from tests.builders.users import create_user
from tests.fixtures.workers import new_worker
from workflows._kit import Caller
from workflows.appointment import (
    AppointmentInput,
    AppointmentTimers,
    AppointmentWorkflow,
    Cancellation,
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


# Every day 08:00-18:00 in the doctor's zone (UTC here), for tests where the patient's own
# command is checked against the doctor's rules.
EVERY_DAY = [{"day": day, "start": "08:00", "end": "18:00"} for day in range(7)]


async def make_cast(
    sessionmaker: async_sessionmaker[AsyncSession],
    zone: str = "UTC",
    fee: Decimal | None = None,
    **doctor: Any,
) -> Cast:
    """A patient, a doctor (with `doctor` as column values: weekly_hours, max_per_day, ...)
    and an admin."""
    patient = await create_user(sessionmaker, Role.PATIENT)
    doctor_user = await create_user(sessionmaker, Role.DOCTOR)
    admin = await create_user(sessionmaker, Role.ADMIN)
    async with sessionmaker() as db, db.begin():
        await db.execute(update(User).where(User.id == patient.id).values(timezone=zone))
        await db.execute(
            update(Doctor)
            .where(Doctor.user_id == doctor_user.id)
            .values(consultation_fee=fee, **doctor)
        )
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient.id))
        doctor_id = await db.scalar(select(Doctor.id).where(Doctor.user_id == doctor_user.id))
    assert patient_id is not None and doctor_id is not None
    return Cast(patient, patient_id, doctor_user, doctor_id, admin)


async def another_patient(sessionmaker: async_sessionmaker[AsyncSession], cast: Cast) -> Cast:
    """The same doctor and admin, with a patient of their own."""
    patient = await create_user(sessionmaker, Role.PATIENT)
    async with sessionmaker() as db:
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient.id))
    assert patient_id is not None
    return replace(cast, patient=patient, patient_id=patient_id)


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


async def ends_by(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], when: datetime
) -> None:
    """Skip time to `when`, by which the run must have ended, and wait for its end. (A handle
    from get_workflow_handle does not skip time while it waits for the result: the time
    skipping is the test's to do.)"""
    await skip_to(env, when)
    await handle.result()


async def notifications_of(
    sessionmaker: async_sessionmaker[AsyncSession], user: User, appointment_id: uuid.UUID
) -> list[Notification]:
    async with sessionmaker() as db:
        return list(
            await db.scalars(
                select(Notification)
                .where(
                    Notification.user_id == user.id,
                    Notification.reference_id == appointment_id,
                )
                .order_by(Notification.created_at)
            )
        )


async def reminders(handle: WorkflowHandle[Any, Any]) -> dict[str, tuple[datetime, bool]]:
    waiting = await handle.query(AppointmentWorkflow.waiting_for)
    return {r.label: (r.at, r.sent) for r in waiting.reminders}


async def join(handle: WorkflowHandle[Any, Any], cast: Cast, party: str, at: datetime) -> None:
    user = cast.patient if party == "patient" else cast.doctor
    await handle.signal(
        AppointmentSignal.PARTICIPANT_JOINED,
        ParticipantJoined(party=party, user_id=user.id, at=at),  # type: ignore[arg-type]
    )


async def test_the_whole_consultation_from_request_to_completion(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    cast = await make_cast(sessionmaker)
    now = await indexed_env.get_current_time()
    starts = (now + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    handle = await book(indexed_env, task_queue, cast, starts)
    appointment_id = id_of(handle)
    stored = await row(sessionmaker, appointment_id)
    assert stored.status == S.REQUESTED and stored.confirm_by is not None
    await move(handle, cast, "doctor", S.APPOINTMENT_CONFIRMED)
    confirmed = await row(sessionmaker, appointment_id)
    assert confirmed.video_room_id and confirmed.video_room_id.startswith("medivoy-")
    await skip_to(indexed_env, starts - 23 * H)
    assert (await row(sessionmaker, appointment_id)).status == S.AWAITING_CONSULTATION
    await skip_to(indexed_env, starts - timedelta(minutes=5))
    await join(handle, cast, "doctor", starts - timedelta(minutes=5))
    await join(handle, cast, "patient", starts - timedelta(minutes=4))
    await row_becomes(sessionmaker, Appointment, appointment_id, S.CONSULTATION_IN_PROGRESS)
    await move(handle, cast, "doctor", S.CONSULTATION_COMPLETED)
    await handle.result()
    assert await statuses(sessionmaker, appointment_id) == [
        "requested",
        "appointment_confirmed",
        "awaiting_consultation",
        "consultation_in_progress",
        "consultation_completed",
    ]
    done = await row(sessionmaker, appointment_id)
    assert done.patient_joined_at is not None and done.doctor_joined_at is not None
    assert done.started_at is not None and done.completed_at is not None


async def test_reminders_fire_24h_and_1h_before_across_the_berlin_dst_change(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    # Sunday 28 March 2027, 10:00 CEST (08:00 UTC): the clocks went forward at 01:00 UTC.
    cast = await make_cast(sessionmaker, "Europe/Berlin")
    starts = datetime(2027, 3, 28, 8, tzinfo=UTC)
    handle = await book(indexed_env, task_queue, cast, starts)
    await move(handle, cast, "doctor", S.APPOINTMENT_CONFIRMED)
    plan = await reminders(handle)
    # 24 real hours before is Saturday 08:00 UTC, 09:00 CET.
    assert plan == {
        "24h": (datetime(2027, 3, 27, 8, tzinfo=UTC), False),
        "1h": (datetime(2027, 3, 28, 7, tzinfo=UTC), False),
    }
    await skip_to(indexed_env, datetime(2027, 3, 27, 7, 59, tzinfo=UTC))
    assert (await reminders(handle))["24h"][1] is False
    await skip_to(indexed_env, datetime(2027, 3, 27, 8, 1, tzinfo=UTC))
    assert (await reminders(handle))["24h"][1] is True
    assert (await reminders(handle))["1h"][1] is False
    await skip_to(indexed_env, datetime(2027, 3, 28, 7, 1, tzinfo=UTC))
    assert (await reminders(handle))["1h"][1] is True
    async with sessionmaker() as db:
        keys = set(
            await db.scalars(
                select(Notification.dedupe_key).where(
                    Notification.user_id == cast.patient.id,
                    Notification.dedupe_key.like(f"appointment:{id_of(handle)}:reminder:%"),
                )
            )
        )
    assert {k.split(":")[4] for k in keys} == {"24h", "1h"}


async def test_in_kolkata_a_reminder_due_in_quiet_hours_goes_the_evening_before(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    # 08:30 IST (03:00 UTC): 1 h before is 07:30 IST, inside 22:00-08:00, so 21:59 IST before.
    cast = await make_cast(sessionmaker, "Asia/Kolkata")
    starts = datetime(2027, 1, 20, 3, tzinfo=UTC)
    handle = await book(indexed_env, task_queue, cast, starts)
    await move(handle, cast, "doctor", S.APPOINTMENT_CONFIRMED)
    assert await reminders(handle) == {
        "24h": (datetime(2027, 1, 19, 3, tzinfo=UTC), False),
        "1h": (datetime(2027, 1, 19, 16, 29, tzinfo=UTC), False),
    }
    await skip_to(indexed_env, datetime(2027, 1, 19, 16, 30, tzinfo=UTC))
    assert (await reminders(handle))["1h"][1] is True


async def test_a_reminder_is_written_in_the_patients_language_at_their_wall_time(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    # 15:00 IST (09:30 UTC) for a patient who reads Hindi: the reminder says 15:00 in Hindi.
    cast = await make_cast(sessionmaker, "Asia/Kolkata")
    async with sessionmaker() as db, db.begin():
        await db.execute(update(User).where(User.id == cast.patient.id).values(locale="hi"))
    starts = datetime(2027, 1, 21, 9, 30, tzinfo=UTC)
    handle = await book(indexed_env, task_queue, cast, starts)
    await move(handle, cast, "doctor", S.APPOINTMENT_CONFIRMED)

    await skip_to(indexed_env, datetime(2027, 1, 20, 9, 31, tzinfo=UTC))

    assert (await reminders(handle))["24h"][1] is True
    reminders_sent = [
        n
        for n in await notifications_of(sessionmaker, cast.patient, id_of(handle))
        if ":reminder:" in n.dedupe_key and ":24h:" in n.dedupe_key
    ]
    # One message, on each of the patient's channels: every copy in Hindi.
    assert reminders_sent
    reminder = reminders_sent[0]
    number = (await row(sessionmaker, id_of(handle))).appointment_number
    expected = render(
        "appointment_reminder",
        "hi",
        {
            "first_name": cast.patient.first_name or "",
            "appointment_number": number,
            "before": "24h",
            "starts_at": "2027-01-21 15:00",
            "timezone": "Asia/Kolkata",
        },
    )
    assert (reminder.title, reminder.message) == (expected.title, expected.summary)
    assert "2027-01-21 15:00 (Asia/Kolkata)" in (reminder.message or "")
    assert re.search(r"[\u0900-\u097f]", reminder.message or "")


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
    # The hold is 24 h (AppointmentTimers.confirm_hours): the run ends there.
    await ends_by(indexed_env, handle, now + 24 * H + timedelta(minutes=1))
    cancelled = await row(sessionmaker, appointment_id)
    assert cancelled.status == S.CANCELLED
    assert cancelled.cancellation_reason == "confirmation_expired"
    assert cancelled.cancelled_by_role == "system"
    told = await notifications_of(sessionmaker, cast.patient, appointment_id)
    assert told, "the patient hears that the request lapsed"
    assert any(
        "The doctor did not confirm in time; the slot was released." in (n.message or "")
        for n in told
    ), [n.message for n in told]
    # The slot is free again: another patient may take the same time.
    other = await another_patient(sessionmaker, cast)
    again = await book(indexed_env, task_queue, other, cancelled.scheduled_date)
    assert (await row(sessionmaker, id_of(again))).status == S.REQUESTED


async def test_a_reschedule_moves_the_reminders_and_keeps_the_video_link(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    # The patient's own reschedule is checked against the doctor's rules: published hours, one
    # consultation a day, a 15 min buffer.
    cast = await make_cast(sessionmaker, weekly_hours=EVERY_DAY, max_per_day=1, buffer_minutes=15)
    starts = datetime(2027, 2, 10, 12, tzinfo=UTC)
    handle = await book(indexed_env, task_queue, cast, starts)
    await move(handle, cast, "doctor", S.APPOINTMENT_CONFIRMED)
    room = (await row(sessionmaker, id_of(handle))).video_room_id
    assert room
    later = starts + timedelta(days=2)
    # Another patient's late consultation the evening before: its buffer runs past midnight
    # into the new day, which it does not count towards (the day is not full).
    late = await book(
        indexed_env,
        task_queue,
        await another_patient(sessionmaker, cast),
        datetime(2027, 2, 11, 23, 50, tzinfo=UTC),
    )
    await move(late, cast, "doctor", S.APPOINTMENT_CONFIRMED)
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
    # Nothing fires at the old times: the old 24 h and 1 h reminders' moments pass unsent.
    await skip_to(indexed_env, starts - 23 * H)
    assert all(not sent for _, sent in (await reminders(handle)).values())
    await skip_to(indexed_env, starts + H)
    assert all(not sent for _, sent in (await reminders(handle)).values())
    assert not [
        n
        for n in await notifications_of(sessionmaker, cast.patient, id_of(handle))
        if ":reminder:" in n.dedupe_key
    ]
    # The new ones do.
    await skip_to(indexed_env, later - 24 * H + timedelta(minutes=1))
    assert (await reminders(handle))["24h"][1] is True
    # The day is full now (one a day): a second consultation there is refused with the reason.
    refusal = await refused(
        late.execute_update(
            AppointmentWorkflow.reschedule,
            Reschedule(
                caller=cast.caller("admin"),
                starts_at=later + 3 * H,
                reason="same day",
            ),
        )
    )
    assert refusal.details and refusal.details[0]["code"] == "DOCTOR_DAY_FULL"
    assert (await row(sessionmaker, id_of(late))).scheduled_date == datetime(
        2027, 2, 11, 23, 50, tzinfo=UTC
    )


async def test_no_show_records_who_was_missing(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    cast = await make_cast(sessionmaker)
    starts = datetime(2027, 2, 10, 12, tzinfo=UTC)
    only_patient = await book(indexed_env, task_queue, cast, starts)
    only_doctor = await book(indexed_env, task_queue, cast, starts + 2 * H)
    nobody = await book(indexed_env, task_queue, cast, starts + 4 * H)
    for handle in (only_patient, only_doctor, nobody):
        await move(handle, cast, "doctor", S.APPOINTMENT_CONFIRMED)
    await skip_to(indexed_env, starts - timedelta(minutes=5))
    await join(only_patient, cast, "patient", starts - timedelta(minutes=5))
    await skip_to(indexed_env, starts + timedelta(minutes=14))
    assert (await row(sessionmaker, id_of(only_patient))).status == S.AWAITING_CONSULTATION
    # The grace period is 15 min after the start.
    await ends_by(indexed_env, only_patient, starts + timedelta(minutes=16))
    await skip_to(indexed_env, starts + 2 * H - timedelta(minutes=1))
    await join(only_doctor, cast, "doctor", starts + 2 * H - timedelta(minutes=1))
    await ends_by(indexed_env, only_doctor, starts + 2 * H + timedelta(minutes=16))
    await ends_by(indexed_env, nobody, starts + 4 * H + timedelta(minutes=16))
    doctor_missing = await row(sessionmaker, id_of(only_patient))
    patient_missing = await row(sessionmaker, id_of(only_doctor))
    both_missing = await row(sessionmaker, id_of(nobody))
    assert (doctor_missing.status, doctor_missing.no_show_party) == (S.NO_SHOW, "doctor")
    assert (patient_missing.status, patient_missing.no_show_party) == (S.NO_SHOW, "patient")
    assert (both_missing.status, both_missing.no_show_party) == (S.NO_SHOW, "both")
    for missed in (doctor_missing, patient_missing, both_missing):
        assert missed.video_room_id is None and missed.video_call_link is None
    assert doctor_missing.patient_joined_at is not None
    assert doctor_missing.doctor_joined_at is None
    assert patient_missing.doctor_joined_at is not None
    assert patient_missing.patient_joined_at is None


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
    stored = await row(sessionmaker, id_of(handle))
    assert stored.payment_due_at is not None
    assert abs(stored.payment_due_at - (now + 6 * H)) < timedelta(seconds=5)
    refusal = await refused(
        handle.execute_update(
            AppointmentWorkflow.change_status,
            StatusChange(caller=cast.caller("doctor"), status=S.APPOINTMENT_CONFIRMED),
        )
    )
    assert refusal.details[0]["code"] == "PAYMENT_REQUIRED"
    assert (await row(sessionmaker, id_of(handle))).status == S.REQUESTED
    await skip_to(indexed_env, now + 6 * H - timedelta(minutes=1))
    assert (await row(sessionmaker, id_of(handle))).status == S.REQUESTED
    await ends_by(indexed_env, handle, now + 6 * H + timedelta(minutes=1))
    lapsed = await row(sessionmaker, id_of(handle))
    assert (lapsed.status, lapsed.cancellation_reason) == (S.CANCELLED, "payment_overdue")
    assert await statuses(sessionmaker, id_of(handle)) == ["requested", "cancelled"]


async def test_a_cancellation_drops_the_pending_reminders_and_revokes_the_video_link(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    cast = await make_cast(sessionmaker)
    now = await indexed_env.get_current_time()
    starts = (now + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    handle = await book(indexed_env, task_queue, cast, starts)
    await move(handle, cast, "doctor", S.APPOINTMENT_CONFIRMED)
    confirmed = await row(sessionmaker, id_of(handle))
    assert confirmed.video_room_id and confirmed.video_call_link
    assert set(await reminders(handle)) == {"24h", "1h"}
    await handle.execute_update(
        AppointmentWorkflow.cancel,
        Cancellation(caller=cast.caller("patient"), reason="feeling better"),
    )
    view = await handle.result()
    cancelled = await row(sessionmaker, id_of(handle))
    assert (cancelled.status, cancelled.cancellation_reason) == (S.CANCELLED, "feeling better")
    assert cancelled.video_room_id is None and cancelled.video_call_link is None
    # Three days' notice: the patient's whole payment is due back.
    assert view["refund_percent"] == "100"
    # The plan the timeline reads holds no pending reminder, and none is ever sent.
    assert await reminders(handle) == {}
    await skip_to(indexed_env, starts + H)
    assert not [
        n
        for n in await notifications_of(sessionmaker, cast.patient, id_of(handle))
        if ":reminder:" in n.dedupe_key
    ]
    # The time is free for someone else.
    other = await book(indexed_env, task_queue, await another_patient(sessionmaker, cast), starts)
    assert (await row(sessionmaker, id_of(other))).status == S.REQUESTED


async def test_the_system_moves_to_awaiting_consultation_at_the_configured_offset(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    cast = await make_cast(sessionmaker)
    now = await indexed_env.get_current_time()
    starts = (now + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    handle = await book(
        indexed_env, task_queue, cast, starts, timers=AppointmentTimers(awaiting_hours=6)
    )
    await move(handle, cast, "doctor", S.APPOINTMENT_CONFIRMED)
    await skip_to(indexed_env, starts - 6 * H - timedelta(minutes=1))
    assert (await row(sessionmaker, id_of(handle))).status == S.APPOINTMENT_CONFIRMED
    await skip_to(indexed_env, starts - 6 * H + timedelta(minutes=1))
    await row_becomes(sessionmaker, Appointment, id_of(handle), S.AWAITING_CONSULTATION)
    async with sessionmaker() as db:
        last = await db.scalar(
            select(AppointmentStatusHistory)
            .where(AppointmentStatusHistory.appointment_id == id_of(handle))
            .order_by(AppointmentStatusHistory.seq.desc())
            .limit(1)
        )
    assert last is not None
    assert (last.to_status, last.actor_role, last.notes) == (
        "awaiting_consultation",
        "system",
        "consultation_near",
    )
    told = await notifications_of(sessionmaker, cast.patient, id_of(handle))
    assert any("coming up soon" in (n.message or "") for n in told), [n.message for n in told]


async def test_a_doctor_no_show_is_refunded_in_full_and_a_patient_no_show_pays_the_fee(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    cast = await make_cast(sessionmaker, weekly_hours=EVERY_DAY)
    starts = datetime(2027, 2, 10, 12, tzinfo=UTC)
    # A no-show fee of 40 %: a patient who does not come gets 60 % back.
    timers = AppointmentTimers(no_show_fee_percent=Decimal(40))
    doctor_missing = await book(indexed_env, task_queue, cast, starts, timers=timers)
    patient_missing = await book(indexed_env, task_queue, cast, starts + 2 * H, timers=timers)
    for handle in (doctor_missing, patient_missing):
        await move(handle, cast, "doctor", S.APPOINTMENT_CONFIRMED)
    await skip_to(indexed_env, starts)
    await join(doctor_missing, cast, "patient", starts)
    await skip_to(indexed_env, starts + timedelta(minutes=16))
    missed = await doctor_missing.result()
    assert (missed["no_show_party"], missed["refund_percent"]) == ("doctor", "100")
    await skip_to(indexed_env, starts + 2 * H)
    await join(patient_missing, cast, "doctor", starts + 2 * H)
    await skip_to(indexed_env, starts + 2 * H + timedelta(minutes=16))
    missed = await patient_missing.result()
    assert (missed["no_show_party"], missed["refund_percent"]) == ("patient", "60")
    # The patient the doctor stood up hears it, with the refund and the doctor's next free
    # times offered (half-hour slots; 14:00 is the other appointment's).
    told = await notifications_of(sessionmaker, cast.patient, id_of(doctor_missing))
    assert any(
        "you are refunded in full and may book a new time. "
        "Free times (UTC): 2027-02-10 12:30, 2027-02-10 13:00, 2027-02-10 13:30."
        in (n.message or "")
        for n in told
    ), [n.message for n in told]
    told_too = await notifications_of(sessionmaker, cast.patient, id_of(patient_missing))
    assert not any("refunded in full" in (n.message or "") for n in told_too)


async def test_the_appointment_is_indexed_by_the_kits_scheme_with_ids_and_status_only(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    cast = await make_cast(sessionmaker)
    starts = (await indexed_env.get_current_time() + timedelta(days=3)).replace(
        minute=0, second=0, microsecond=0
    )
    handle = await book(indexed_env, task_queue, cast, starts)

    async def indexed() -> dict[str, Any]:
        description = await handle.describe()
        assert description.typed_search_attributes is not None
        found = {p.key.name: p.value for p in description.typed_search_attributes}
        found.pop("TemporalChangeVersion", None)  # the patch markers, Temporal's own
        return found

    assert await indexed() == {
        "EntityKind": "appointment",
        "EntityStatus": "requested",
        "AppointmentId": str(id_of(handle)),
        "PatientId": str(cast.patient_id),
    }
    await move(handle, cast, "doctor", S.APPOINTMENT_CONFIRMED)
    assert (await indexed())["EntityStatus"] == "appointment_confirmed"
    # Nothing about the person in the memo or the summary: the summary names the appointment
    # by its number only.
    description = await handle.describe()
    assert not await description.memo()
    summary = await description.static_summary()
    assert summary is not None and summary.startswith("Appointment MV-AP-"), summary
    personal = (cast.patient.first_name, cast.patient.last_name, cast.patient.email)
    assert not [p for p in personal if p and p in summary], summary
