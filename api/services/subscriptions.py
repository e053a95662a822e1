"""Plan limits for the API (activities/plan_limits.py holds the rule and its lock): a hospital's
doctors are counted and inserted in the request's own transaction, under the hospital's plan
lock; an appointment is inserted by its workflow's first activity, which checks again under
the holder's lock, so the check here is the early answer that spares a workflow start."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from activities import plan_limits
from domain.subscription import Limits
from runtime.settings import Settings


def default_limits(settings: Settings) -> Limits:
    return plan_limits.limits_of(settings.subscription_default_limits)


async def check_doctor_limit(db: AsyncSession, settings: Settings, hospital_id: uuid.UUID) -> None:
    """One more doctor at this hospital must fit its plan: under the hospital's plan lock,
    which the request's transaction holds until the link it inserts next is committed."""
    await plan_limits.check_doctor_limit(db, default_limits(settings), hospital_id, lock=True)


async def check_appointment_limit(
    db: AsyncSession, settings: Settings, doctor_id: uuid.UUID, starts_at: datetime
) -> None:
    """The early answer for one more appointment (no lock: the insert is the workflow's;
    AppointmentActivities.create_appointment decides under the lock)."""
    await plan_limits.check_appointment_limit(
        db, default_limits(settings), doctor_id, starts_at, lock=False
    )
