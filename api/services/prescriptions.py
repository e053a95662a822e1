"""Prescriptions written at an appointment: a command to the appointment's workflow (it moves the
appointment to prescription_provided, stores the row, renders the PDF and mails it), and the
stored PDF, served to whoever may see the prescription."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from activities.prescriptions import prescription_pdf_file_name, prescription_pdf_key
from activities.providers.storage import ObjectNotFound, Storage
from api.deadline import temporal_answers, temporal_unavailable
from api.schemas.appointments import AppointmentOut
from api.schemas.prescriptions import (
    AppointmentPrescriptionIn,
    AppointmentPrescriptionOut,
    PrescriptionOut,
)
from api.services import appointments
from domain.errors import NotFound, Unavailable
from domain.models.appointments import Appointment
from domain.models.care import Prescription
from domain.models.users import User
from runtime.settings import Settings
from workflows.appointment import AppointmentWorkflow, PrescriptionOrder
from workflows.messages import PrescriptionDelivery
from workflows.prescription import DeliveryPending, deliver_prescription

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
        # No transaction stays open while the worker renders the PDF (nothing was written:
        # the commit only ends the read, and keeps the caller's row loaded).
        await db.commit()
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
            # A repeat while the first is still in flight joins it (the row is not there yet).
            caller=user,
            idempotency_key=idempotency_key,
        )
    row = await db.get(Prescription, prescription_id, populate_existing=True)
    if row is None or row.appointment_id != appointment.id:
        raise NotFound("Prescription not found", code="PRESCRIPTION_NOT_FOUND")
    return AppointmentPrescriptionOut(
        prescription=PrescriptionOut.model_validate(row),
        appointment=await appointments.get_appointment(db, user, appointment.id),
    )


async def open_pdf(
    db: AsyncSession,
    temporal: Client,
    settings: Settings,
    storage: Storage,
    prescription: Prescription,
) -> tuple[AsyncIterator[bytes], str]:
    """The stored PDF's bytes and its file name. One not stored yet (its delivery still running,
    or written through POST /prescriptions) is rendered by the worker first, once, waited for at
    most the workflow deadline (then 503 PRESCRIPTION_PDF_PENDING: ask again)."""
    prescription_id, stored = prescription.id, prescription.pdf_url is not None
    number = None
    if prescription.appointment_id is not None:
        number = await db.scalar(
            select(Appointment.appointment_number).where(
                Appointment.id == prescription.appointment_id
            )
        )
    # Nothing was written: the commit only ends the read before any wait on the worker.
    await db.commit()
    key = prescription_pdf_key(prescription_id)
    if not stored:
        try:
            done = await deliver_prescription(
                temporal,
                settings.task_queue,
                PrescriptionDelivery(prescription_id=prescription_id, mails=False),
                deadline=timedelta(seconds=settings.workflow_deadline_seconds),
            )
        except DeliveryPending as pending:
            if not await temporal_answers(temporal):
                raise temporal_unavailable() from pending
            raise Unavailable(
                "The prescription's PDF is still being prepared; ask again in a moment",
                code="PRESCRIPTION_PDF_PENDING",
            ) from pending
        key = done.pdf_storage_key
    try:
        await storage.head(key)
    except ObjectNotFound as exc:
        raise NotFound(
            "The prescription's PDF is no longer stored", code="PRESCRIPTION_PDF_NOT_FOUND"
        ) from exc
    return storage.stream(key), prescription_pdf_file_name(number, prescription_id)
