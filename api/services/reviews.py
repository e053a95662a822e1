"""Reviews: who may review what, the ratings that published reviews add up to, and the booking
a published review gives its feedback to (step 12 of the booking workflow)."""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.service import RPCError, RPCStatusCode

from api.deps import get_temporal
from domain.errors import Forbidden, Invalid
from domain.models.appointments import Appointment
from domain.models.bookings import Booking
from domain.models.catalog import Doctor, Hospital
from domain.models.content import Review
from runtime.logging import log
from workflows.booking import signal_feedback_received


async def check_relationship(db: AsyncSession, patient_id: uuid.UUID, data: dict[str, Any]) -> None:
    """A patient reviews only the care they had: the appointment or booking must be theirs
    and name the doctor or hospital reviewed."""
    if data.get("appointment_id"):
        appointment = await db.get(Appointment, data["appointment_id"])
        if appointment is None or appointment.patient_id != patient_id:
            raise Invalid(
                "That appointment is not yours",
                code="NOT_YOUR_APPOINTMENT",
                details={"field": "appointment_id"},
            )
        if data.get("doctor_id") and appointment.doctor_id != data["doctor_id"]:
            raise Invalid(
                "That appointment was with another doctor",
                code="DOCTOR_MISMATCH",
                details={"field": "doctor_id"},
            )
        data.setdefault("doctor_id", appointment.doctor_id)
    if data.get("booking_id"):
        booking = await db.get(Booking, data["booking_id"])
        if booking is None or booking.patient_id != patient_id:
            raise Invalid(
                "That booking is not yours",
                code="NOT_YOUR_BOOKING",
                details={"field": "booking_id"},
            )
        if data.get("hospital_id") and booking.hospital_id != data["hospital_id"]:
            raise Invalid(
                "That booking was at another hospital",
                code="HOSPITAL_MISMATCH",
                details={"field": "hospital_id"},
            )
        data.setdefault("hospital_id", booking.hospital_id)
    if data.get("doctor_id") and not data.get("appointment_id"):
        had = await db.scalar(
            select(func.count())
            .select_from(Appointment)
            .where(Appointment.patient_id == patient_id, Appointment.doctor_id == data["doctor_id"])
        )
        if not had:
            raise Forbidden(
                "You can review a doctor after an appointment with them",
                code="NO_CARE_RELATIONSHIP",
            )
    if data.get("hospital_id") and not data.get("booking_id"):
        had = await db.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.patient_id == patient_id, Booking.hospital_id == data["hospital_id"])
        )
        if not had:
            raise Forbidden(
                "You can review a hospital after a booking there", code="NO_CARE_RELATIONSHIP"
            )


async def refresh_ratings(
    db: AsyncSession, doctor_id: uuid.UUID | None, hospital_id: uuid.UUID | None
) -> None:
    """Recompute rating and count from the published reviews (never drifts, whatever the
    order of publishes, edits and deletes)."""
    await db.flush()
    if doctor_id is not None:
        doctor = await db.get(Doctor, doctor_id, with_for_update=True)
        if doctor is not None:
            doctor.rating, doctor.total_reviews = await _published(db, Review.doctor_id, doctor_id)
    if hospital_id is not None:
        hospital = await db.get(Hospital, hospital_id, with_for_update=True)
        if hospital is not None:
            hospital.rating, hospital.total_reviews = await _published(
                db, Review.hospital_id, hospital_id
            )
    await db.flush()


async def _published(db: AsyncSession, column: Any, target: uuid.UUID) -> tuple[Decimal, int]:
    average, count = (
        await db.execute(
            select(func.avg(Review.rating), func.count()).where(
                column == target, Review.is_published.is_(True)
            )
        )
    ).one()
    rating = Decimal(average or 0).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return rating, int(count)


async def feedback_received(request: Request, booking_id: uuid.UUID, review_id: uuid.UUID) -> None:
    """A review of this booking was published: its workflow moves a completed booking to
    feedback_received (a booking in any other status ignores it). Sent after the review is
    committed; it never fails the publish. A booking whose workflow is closed (cancelled,
    already reviewed) or was never started is noted; any other failure is logged as an error
    with the booking's id, never silently lost."""
    try:
        client = await get_temporal(request)
        await signal_feedback_received(client, booking_id, review_id)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            log.info("review_feedback_booking_closed", booking_id=str(booking_id))
            return
        log.error(
            "review_feedback_signal_failed", booking_id=str(booking_id), error=type(exc).__name__
        )
    except Exception as exc:
        log.error(
            "review_feedback_signal_failed", booking_id=str(booking_id), error=type(exc).__name__
        )
