"""Plan limits: what a hospital's or a doctor's plan in force allows (the settings' defaults
without one), checked before anything is written (409 PLAN_LIMIT_REACHED with the limit and
the plan)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.appointment import AppointmentStatus
from domain.models.appointments import Appointment
from domain.models.catalog import HospitalDoctor
from domain.models.subscriptions import Subscription, SubscriptionPlan
from domain.subscription import IN_FORCE, Limits, check_limit, local_date, month_bounds
from runtime.settings import Settings

DEFAULT_PLAN = "default"
IN_FORCE_VALUES = [s.value for s in IN_FORCE]


def default_limits(settings: Settings) -> Limits:
    defaults = settings.subscription_default_limits
    return Limits(DEFAULT_PLAN, defaults.get("doctors"), defaults.get("appointments_per_month"))


async def plan_in_force(
    db: AsyncSession, *, hospital_id: uuid.UUID | None = None, doctor_id: uuid.UUID | None = None
) -> tuple[Limits, str] | None:
    """The limits of the holder's subscription in force (active or past due: through the grace)
    and the holder's time zone; None without one."""
    holder = (
        Subscription.hospital_id == hospital_id
        if hospital_id is not None
        else Subscription.doctor_id == doctor_id
    )
    found = (
        await db.execute(
            select(SubscriptionPlan, Subscription.timezone)
            .join(Subscription, Subscription.plan_id == SubscriptionPlan.id)
            .where(holder, Subscription.status.in_(IN_FORCE_VALUES))
            .order_by(Subscription.created_at.desc())
            .limit(1)
        )
    ).first()
    if found is None:
        return None
    plan, zone = found
    return Limits(plan.name, plan.max_doctors, plan.max_appointments_per_month), zone


async def check_doctor_limit(db: AsyncSession, settings: Settings, hospital_id: uuid.UUID) -> None:
    """One more doctor at this hospital must fit its plan."""
    found = await plan_in_force(db, hospital_id=hospital_id)
    limits = found[0] if found is not None else default_limits(settings)
    used = await db.scalar(
        select(func.count())
        .select_from(HospitalDoctor)
        .where(HospitalDoctor.hospital_id == hospital_id)
    )
    check_limit(limits, "doctors", int(used or 0))


async def check_appointment_limit(
    db: AsyncSession, settings: Settings, doctor_id: uuid.UUID, starts_at: datetime
) -> None:
    """One more appointment in the calendar month it falls in must fit the plan: the doctor's
    own, else that of a hospital the doctor works at (counting the hospital's doctors), else
    the defaults (counting the doctor's)."""
    doctors: list[uuid.UUID] = [doctor_id]
    found = await plan_in_force(db, doctor_id=doctor_id)
    if found is None:
        for hospital_id in await db.scalars(
            select(HospitalDoctor.hospital_id).where(HospitalDoctor.doctor_id == doctor_id)
        ):
            found = await plan_in_force(db, hospital_id=hospital_id)
            if found is not None:
                doctors = list(
                    await db.scalars(
                        select(HospitalDoctor.doctor_id).where(
                            HospitalDoctor.hospital_id == hospital_id
                        )
                    )
                )
                break
    limits, zone = found if found is not None else (default_limits(settings), "UTC")
    if limits.max_appointments_per_month is None:
        return
    start, end = month_bounds(local_date(starts_at, zone), zone)
    used = await db.scalar(
        select(func.count())
        .select_from(Appointment)
        .where(
            Appointment.doctor_id.in_(doctors),
            Appointment.scheduled_date >= start,
            Appointment.scheduled_date < end,
            Appointment.status != AppointmentStatus.CANCELLED.value,
        )
    )
    check_limit(limits, "appointments_per_month", int(used or 0))
