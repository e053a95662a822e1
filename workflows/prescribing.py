"""The prescription steps that AppointmentWorkflow.provide_prescription runs once the move to
prescription_provided is recorded: the row, the PDF rendered once in the patient's language and
stored, the download URL written; and the patient's e-mail that carries the PDF attached.

Deterministic helpers for a workflow (no I/O here: every step is an activity of
activities/prescriptions.py, keyed by the prescription's id, so a retry writes, renders and
mails nothing twice)."""

from __future__ import annotations

from uuid import UUID

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.invoicing import PDF_CONTENT_TYPE
    from activities.prescriptions import (
        PrescriptionActivities,
        PrescriptionDocument,
        PrescriptionPdf,
        PrescriptionRecord,
    )
    from domain.notification import Channel
    from workflows._kit import DB_ACTIVITY, PDF_ACTIVITY
    from workflows.messages import AttachmentRef, NotificationRequest

# provide_prescription before this patch recorded the status only.
PRESCRIPTION_PATCH = "prescription-record-render-mail"
PRESCRIPTION_TEMPLATE = "prescription_issued"


async def issue_prescription(
    record: PrescriptionRecord,
) -> tuple[PrescriptionDocument, PrescriptionPdf]:
    """Record the row, render and store its PDF (in the worker's thread pool), record where it
    is. Every step is idempotent: again, it finds the row and the stored PDF and changes nothing."""
    document = await workflow.execute_local_activity_method(
        PrescriptionActivities.record_prescription, record, **DB_ACTIVITY
    )
    pdf = await workflow.execute_activity_method(
        PrescriptionActivities.render_prescription_pdf, document, **PDF_ACTIVITY
    )
    await workflow.execute_local_activity_method(
        PrescriptionActivities.record_prescription_pdf, pdf, **DB_ACTIVITY
    )
    return document, pdf


def prescription_mail(
    document: PrescriptionDocument,
    pdf: PrescriptionPdf,
    *,
    appointment_id: UUID,
    patient_user_id: UUID,
) -> NotificationRequest:
    """The patient's e-mail with the PDF attached by reference, in their language (the
    notification reads it from their account), once per prescription."""
    return NotificationRequest(
        dedupe_key=(
            f"appointment:{appointment_id}:prescription:{document.prescription_id}:"
            f"{patient_user_id}"
        ),
        user_id=patient_user_id,
        template=PRESCRIPTION_TEMPLATE,
        channels=[Channel.EMAIL, Channel.IN_APP],
        locale=document.locale,
        context={
            "appointment_number": document.appointment_number or "",
            "doctor_name": document.doctor_name,
            "valid_until": document.valid_until.isoformat() if document.valid_until else "",
            "prescription_url": document.download_url,
        },
        type="appointment",
        reference_type="prescription",
        reference_id=document.prescription_id,
        attachments=[
            AttachmentRef(
                storage_key=pdf.storage_key, filename=pdf.file_name, content_type=PDF_CONTENT_TYPE
            )
        ],
    )
