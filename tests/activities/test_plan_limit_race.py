"""The authoritative plan-limit check is the appointment's insert itself: concurrent
create_appointment activities (own sessions, real PostgreSQL) for a doctor with one appointment
left that month store exactly one; the others are refused PLAN_LIMIT_REACHED through the
refusal bridge, with the limit and the plan, and write nothing. A reschedule into that month
(reschedule_appointment's UPDATE) is checked under the same lock: racing a create for the last
one, exactly one of the two gets it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from activities import scheduling
from activities.appointments import (
    AppointmentActivities,
    NewAppointment,
    Rescheduled,
    RescheduleRecord,
    StoredAppointment,
)
from activities.lifecycle import code_of
from activities.plan_limits import limits_of
from domain.models.appointments import Appointment, AppointmentStatusHistory
from domain.models.users import Patient
from tests.builders.catalog_builders import add_doctor
from tests.builders.helpers import eventually
from tests.builders.users import create_user


async def waiting_on_locks(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as db:
        waiting = await db.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return int(waiting or 0)


async def _all_waiting(sessionmaker: async_sessionmaker[AsyncSession], n: int) -> bool:
    return await waiting_on_locks(sessionmaker) >= n


async def test_racing_creates_for_the_last_appointment_of_the_month_store_exactly_one(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    activities = AppointmentActivities(
        sessionmaker, plan_defaults=limits_of({"appointments_per_month": 2})
    )
    patient_user = await create_user(sessionmaker)
    async with sessionmaker() as db:
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient_user.id))
    assert patient_id is not None
    _, doctor = await add_doctor(sessionmaker)
    month = (datetime.now(UTC) + timedelta(days=40)).replace(
        day=3, hour=9, minute=0, second=0, microsecond=0
    )

    def new(day: int) -> NewAppointment:
        appointment_id = uuid.uuid4()
        return NewAppointment(
            appointment_id=appointment_id,
            appointment_number="APT-" + appointment_id.hex[:10].upper(),
            patient_id=patient_id,
            doctor_id=doctor.id,
            starts_at=month.replace(day=day),
            override=True,
        )

    await activities.create_appointment(new(3))
    racers = [new(day) for day in range(4, 10)]
    # The racers line up behind the doctor's time lock, held here: each has done whatever it
    # does before taking that lock (a count without the plan's lock would be made by then)
    # when the lock is let go, so they really meet.
    async with sessionmaker() as gate, gate.begin():
        await scheduling.lock_doctor(gate, doctor.id)
        running = asyncio.gather(
            *(activities.create_appointment(r) for r in racers), return_exceptions=True
        )
        await eventually(lambda: _all_waiting(sessionmaker, len(racers)), within=60)
    outcomes = await running
    stored = [o for o in outcomes if isinstance(o, StoredAppointment)]
    refused = [o for o in outcomes if isinstance(o, ApplicationError)]
    assert len(stored) == 1 and len(refused) == len(racers) - 1, outcomes
    for err in refused:
        assert err.non_retryable and err.type == "Conflict"
        assert code_of(err) == "PLAN_LIMIT_REACHED"
        details = err.details[0]
        assert details["limit"] == 2 and details["plan"] == "default"
    async with sessionmaker() as db:
        count = await db.scalar(
            select(func.count()).select_from(Appointment).where(Appointment.doctor_id == doctor.id)
        )
        histories = await db.scalar(
            select(func.count())
            .select_from(AppointmentStatusHistory)
            .where(AppointmentStatusHistory.appointment_id.in_([r.appointment_id for r in racers]))
        )
    assert count == 2 and histories == 1


async def test_a_create_and_a_reschedule_racing_for_the_months_last_appointment_one_wins(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    activities = AppointmentActivities(
        sessionmaker, plan_defaults=limits_of({"appointments_per_month": 2})
    )
    patient_user = await create_user(sessionmaker)
    async with sessionmaker() as db:
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient_user.id))
    assert patient_id is not None
    _, doctor = await add_doctor(sessionmaker)
    month = (datetime.now(UTC) + timedelta(days=40)).replace(
        day=3, hour=9, minute=0, second=0, microsecond=0
    )
    next_month = (month + timedelta(days=31)).replace(day=3)

    def new(at: datetime) -> NewAppointment:
        appointment_id = uuid.uuid4()
        return NewAppointment(
            appointment_id=appointment_id,
            appointment_number="APT-" + appointment_id.hex[:10].upper(),
            patient_id=patient_id,
            doctor_id=doctor.id,
            starts_at=at,
            override=True,
        )

    await activities.create_appointment(new(month))
    later = await activities.create_appointment(new(next_month))
    creating = new(month.replace(day=4))
    moving = RescheduleRecord(
        appointment_id=later.appointment_id,
        count=1,
        starts_at=month.replace(day=5),
        duration_minutes=30,
        actor_role="admin",
        override=True,
    )
    # Both line up behind the doctor's time lock held here (one of them behind the plan's lock
    # the other holds), so they really meet.
    async with sessionmaker() as gate, gate.begin():
        await scheduling.lock_doctor(gate, doctor.id)
        running = asyncio.gather(
            activities.create_appointment(creating),
            activities.reschedule_appointment(moving),
            return_exceptions=True,
        )
        await eventually(lambda: _all_waiting(sessionmaker, 2), within=60)
    outcomes = await running
    won = [o for o in outcomes if isinstance(o, StoredAppointment | Rescheduled)]
    refused = [o for o in outcomes if isinstance(o, ApplicationError)]
    assert len(won) == 1 and len(refused) == 1, outcomes
    assert refused[0].non_retryable and code_of(refused[0]) == "PLAN_LIMIT_REACHED"
    assert refused[0].details[0]["limit"] == 2 and refused[0].details[0]["plan"] == "default"
    async with sessionmaker() as db:
        moved = await db.get(Appointment, later.appointment_id)
        in_month = await db.scalar(
            select(func.count())
            .select_from(Appointment)
            .where(
                Appointment.doctor_id == doctor.id,
                Appointment.scheduled_date >= month.replace(day=1, hour=0),
                Appointment.scheduled_date < next_month.replace(day=1, hour=0),
            )
        )
    assert moved is not None and in_month == 2
    if isinstance(outcomes[1], Rescheduled):
        assert (moved.scheduled_date, moved.reschedule_count) == (month.replace(day=5), 1)
    else:
        # Refused: it keeps its old time and its count.
        assert (moved.scheduled_date, moved.reschedule_count) == (next_month, 0)
