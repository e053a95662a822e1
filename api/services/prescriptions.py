"""Prescriptions written at an appointment: a command to the appointment's workflow (it moves the
appointment to prescription_provided, stores the row, renders the PDF and mails it), and the
stored PDF, served to whoever may see the prescription."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from activities.prescriptions import prescription_pdf_file_name, prescription_pdf_key
from activities.providers.storage import ObjectNotFound, Storage
from api.schemas.appointments import AppointmentOut
from api.schemas.prescriptions import (
    AppointmentPrescriptionIn,
    AppointmentPrescriptionOut,
    PrescriptionOut,
)
from api.services import appointments
from domain.errors import NotFound
from domain.models.appointments import Appointment
from domain.models.care import Prescription
from domain.models.users import User
from workflows.appointment import AppointmentWorkflow, PrescriptionOrder

PRESCRIPTION_NAMESPACE = uuid.UUID("5f0c2a9e-7d41-5b8e-a3c6-1e2f3a4b5c6d")


def prescription_id_for(appointment_id: uuid.UUID, idempotency_key: str | None) -> uuid.UUID:
    """The same Idempotency-Key for the same appointment names the same prescription."""
    if not idempotency_key:
        return uuid.uuid4()
    return uuid.uuid5(PRESCRIPTION_NAMESPACE, f"{appointment_id}:{idempotency_key}")


async def provide_prescription(
    db: AsyncSession,
    temporal: Client,
    user: User,
    appointment: AppointmentOut,
    body: AppointmentPrescriptionIn,
    idempotency_key: str | None,
) -> AppointmentPrescriptionOut:
    """The workflow decides (the appointment's doctor, during the consultation: 403/409 and
    nothing written otherwise); a repeated request with the same key answers the stored one."""
    prescription_id = prescription_id_for(appointment.id, idempotency_key)
    if await db.get(Prescription, prescription_id) is None:
        # No transaction stays open while the worker renders the PDF.
        await db.rollback()
        await appointments.command(
            temporal,
            appointment,
            AppointmentWorkflow.provide_prescription,
            PrescriptionOrder(
                caller=appointments.caller_of(user),
                prescription_id=prescription_id,
                medications=[m.model_dump(exclude_none=True) for m in body.medications],
                instructions=body.instructions,
                valid_until=body.valid_until,
            ),
        )
    row = await db.get(Prescription, prescription_id, populate_existing=True)
    if row is None or row.appointment_id != appointment.id:
        raise NotFound("Prescription not found", code="PRESCRIPTION_NOT_FOUND")
    return AppointmentPrescriptionOut(
        prescription=PrescriptionOut.model_validate(row),
        appointment=await appointments.get_appointment(db, user, appointment.id),
    )


async def open_pdf(
    db: AsyncSession, storage: Storage, prescription: Prescription
) -> tuple[AsyncIterator[bytes], str]:
    """The stored PDF's bytes and its file name. A prescription written without an appointment's
    workflow (POST /prescriptions) has none: 404 PRESCRIPTION_PDF_NOT_FOUND."""
    key = prescription_pdf_key(prescription.id)
    missing = NotFound(
        "This prescription has no PDF (only those written at an appointment have one)",
        code="PRESCRIPTION_PDF_NOT_FOUND",
    )
    if prescription.pdf_url is None:
        raise missing
    try:
        await storage.head(key)
    except ObjectNotFound as exc:
        raise missing from exc
    number = None
    if prescription.appointment_id is not None:
        appointment = await db.get(Appointment, prescription.appointment_id)
        number = appointment.appointment_number if appointment is not None else None
    return storage.stream(key), prescription_pdf_file_name(number, prescription.id)
