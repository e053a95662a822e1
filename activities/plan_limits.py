"""Plan limits: what a hospital's or a doctor's plan in force allows (the settings' defaults
without one), checked in the transaction that writes the row it counts.

Counting and then inserting in two steps lets two concurrent requests both pass a limit with one
slot left. So the check that decides runs under a transaction-scoped advisory lock on the plan's
holder (the hospital, or the doctor), in the same transaction as the insert: a second writer for
that holder waits until the first commits, then counts its row (READ COMMITTED: each statement
sees what is committed). The lock key is one per holder, `plan-limit:<kind>:<id>`, and is taken
before the doctor's time lock (activities/scheduling.lock_doctor), never after, so the two never
wait on each other in a cycle. A reschedule into another month (check_move_limit) is checked the
same way, under the same lock, in the transaction of its UPDATE: it holds the moved row's lock
(FOR UPDATE) first, which nothing that holds a plan lock ever waits for (a create inserts a new
row and locks no existing one). Past a limit: Conflict PLAN_LIMIT_REACHED with the limit and the
plan (domain.subscription.check_limit), nothing written."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.appointment import AppointmentStatus
from domain.models.appointments import Appointment
from domain.models.catalog import HospitalDoctor
from domain.models.subscriptions import Subscription, SubscriptionPlan
from domain.subscription import IN_FORCE, Limits, check_limit, local_date, month_bounds

DEFAULT_PLAN = "default"
IN_FORCE_VALUES = [s.value for s in IN_FORCE]
NO_LIMITS = Limits(DEFAULT_PLAN, None, None)


def limits_of(defaults: dict[str, int]) -> Limits:
    """The platform's defaults (settings.subscription_default_limits) as Limits."""
    return Limits(DEFAULT_PLAN, defaults.get("doctors"), defaults.get("appointments_per_month"))


@dataclass(frozen=True)
class Holder:
    """Whose plan bounds a count: a hospital's or a doctor's."""

    kind: str  # "hospital" | "doctor"
    id: uuid.UUID


async def lock_holder(session: AsyncSession, holder: Holder) -> None:
    """Serializes the limit checks (and the inserts after them) of one holder until the
    transaction ends."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"plan-limit:{holder.kind}:{holder.id}"},
    )


async def plan_in_force(
    session: AsyncSession,
    *,
    hospital_id: uuid.UUID | None = None,
    doctor_id: uuid.UUID | None = None,
) -> tuple[Limits, str] | None:
    """The limits of the holder's subscription in force (active or past due: through the grace)
    and the holder's time zone; None without one."""
    holder = (
        Subscription.hospital_id == hospital_id
        if hospital_id is not None
        else Subscription.doctor_id == doctor_id
    )
    found = (
        await session.execute(
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


async def check_doctor_limit(
    session: AsyncSession, defaults: Limits, hospital_id: uuid.UUID, *, lock: bool = True
) -> None:
    """One more doctor at this hospital must fit its plan. With `lock` (the transaction that
    inserts the link), under the hospital's plan lock."""
    if lock:
        await lock_holder(session, Holder("hospital", hospital_id))
    found = await plan_in_force(session, hospital_id=hospital_id)
    limits = found[0] if found is not None else defaults
    used = await session.scalar(
        select(func.count())
        .select_from(HospitalDoctor)
        .where(HospitalDoctor.hospital_id == hospital_id)
    )
    check_limit(limits, "doctors", int(used or 0))


@dataclass(frozen=True)
class AppointmentBound:
    """The plan that bounds a doctor's appointments: whose it is, its limits and time zone, and
    the doctors whose appointments count against it."""

    holder: Holder
    limits: Limits
    zone: str
    doctors: list[uuid.UUID]


async def appointment_bound(
    session: AsyncSession, defaults: Limits, doctor_id: uuid.UUID
) -> AppointmentBound:
    """The doctor's own plan, else that of a hospital the doctor works at (counting the
    hospital's doctors), else the defaults (counting the doctor's)."""
    found = await plan_in_force(session, doctor_id=doctor_id)
    if found is not None:
        return AppointmentBound(Holder("doctor", doctor_id), found[0], found[1], [doctor_id])
    for hospital_id in await session.scalars(
        select(HospitalDoctor.hospital_id)
        .where(HospitalDoctor.doctor_id == doctor_id)
        .order_by(HospitalDoctor.hospital_id)
    ):
        found = await plan_in_force(session, hospital_id=hospital_id)
        if found is not None:
            doctors = list(
                await session.scalars(
                    select(HospitalDoctor.doctor_id).where(
                        HospitalDoctor.hospital_id == hospital_id
                    )
                )
            )
            return AppointmentBound(Holder("hospital", hospital_id), found[0], found[1], doctors)
    return AppointmentBound(Holder("doctor", doctor_id), defaults, "UTC", [doctor_id])


async def check_appointment_limit(
    session: AsyncSession,
    defaults: Limits,
    doctor_id: uuid.UUID,
    starts_at: datetime,
    *,
    lock: bool = True,
) -> None:
    """One more appointment in the calendar month it falls in (in the holder's zone) must fit
    the plan that bounds the doctor (appointment_bound). With `lock` (the transaction that
    inserts the appointment), counted under the holder's plan lock: the holder is found again
    once locked, and should it have changed meanwhile (a subscription started or ended), the
    new one is locked too, so the count is always made under the lock of the plan it is
    checked against."""
    locked: set[Holder] = set()
    while True:
        bound = await appointment_bound(session, defaults, doctor_id)
        if bound.limits.max_appointments_per_month is None:
            return
        if not lock or bound.holder in locked:
            break
        await lock_holder(session, bound.holder)
        locked.add(bound.holder)
    await _check_month(session, bound, starts_at)


async def check_move_limit(
    session: AsyncSession,
    defaults: Limits,
    appointment_id: uuid.UUID,
    doctor_id: uuid.UUID,
    old_starts_at: datetime,
    new_starts_at: datetime,
) -> None:
    """A reschedule into another calendar month (in the holder's zone, as for a create) is one
    more appointment in that month: it must fit the plan, counted under the holder's plan lock
    like a create (the caller then takes the doctor's time lock, in that order). A move within
    the month changes no count and is never checked (nor locked). The appointment moved is
    not counted: it is still in its old month, and the count excludes it besides."""
    locked: set[Holder] = set()
    while True:
        bound = await appointment_bound(session, defaults, doctor_id)
        if bound.limits.max_appointments_per_month is None:
            return
        if local_date(old_starts_at, bound.zone).replace(day=1) == local_date(
            new_starts_at, bound.zone
        ).replace(day=1):
            return
        if bound.holder in locked:
            break
        await lock_holder(session, bound.holder)
        locked.add(bound.holder)
    await _check_month(session, bound, new_starts_at, excluding=appointment_id)


async def _check_month(
    session: AsyncSession,
    bound: AppointmentBound,
    starts_at: datetime,
    *,
    excluding: uuid.UUID | None = None,
) -> None:
    """One more appointment in the month of `starts_at` (holder's zone) must fit the plan."""
    start, end = month_bounds(local_date(starts_at, bound.zone), bound.zone)
    query = (
        select(func.count())
        .select_from(Appointment)
        .where(
            Appointment.doctor_id.in_(bound.doctors),
            Appointment.scheduled_date >= start,
            Appointment.scheduled_date < end,
            Appointment.status != AppointmentStatus.CANCELLED.value,
        )
    )
    if excluding is not None:
        query = query.where(Appointment.id != excluding)
    used = await session.scalar(query)
    check_limit(bound.limits, "appointments_per_month", int(used or 0))
