"""PrescriptionDeliveryWorkflow: render a prescription's PDF once in the patient's language,
store it, and e-mail it to the patient attached. Started by AppointmentWorkflow once the doctor's
prescription is recorded (so the doctor's request never waits on a render), and by
`GET /prescriptions/:id/pdf` for a prescription not rendered yet (the PDF only).

`prescription-<id>` mails, `prescription-<id>-pdf` does not. Starting one again reaches the same
run, and every step (the stored PDF's key, the row's URL, the e-mail's dedupe key) is keyed by the
prescription, so a retry renders and mails nothing twice.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.invoicing import PDF_CONTENT_TYPE
    from activities.prescriptions import (
        PrescriptionActivities,
        PrescriptionDocument,
        PrescriptionRef,
    )
    from domain.notification import Channel
    from workflows._kit import DB_ACTIVITY, PDF_ACTIVITY, Notifier, show
    from workflows.messages import (
        PRESCRIPTION_WORKFLOW,
        AttachmentRef,
        NotificationRequest,
        PrescriptionDelivered,
        PrescriptionDelivery,
        prescription_summary,
        prescription_workflow_id,
    )

if TYPE_CHECKING:
    from temporalio.client import Client

PRESCRIPTION_TEMPLATE = "prescription_issued"


@workflow.defn(name=PRESCRIPTION_WORKFLOW)
class PrescriptionDeliveryWorkflow:
    @workflow.run
    async def run(self, delivery: PrescriptionDelivery) -> PrescriptionDelivered:
        ref = PrescriptionRef(prescription_id=delivery.prescription_id)
        headline = prescription_summary(delivery)
        show(headline, "rendering", "the PDF")
        document = await workflow.execute_activity_method(
            PrescriptionActivities.load_prescription_document,
            ref,
            **DB_ACTIVITY,
            summary="load the prescription document",
        )
        key, file_name = await self._stored_pdf(document)
        dedupe_key: str | None = None
        if delivery.mails and document.patient_user_id is not None:
            dedupe_key = f"prescription:{document.prescription_id}:mail"
            show(headline, "mailing", f"the e-mail to user {document.patient_user_id}")
            await Notifier([]).deliver(
                NotificationRequest(
                    dedupe_key=dedupe_key,
                    user_id=document.patient_user_id,
                    template=PRESCRIPTION_TEMPLATE,
                    channels=[Channel.EMAIL, Channel.IN_APP],
                    locale=document.locale,
                    context={
                        "appointment_number": document.appointment_number or "",
                        "doctor_name": document.doctor_name,
                        "valid_until": (
                            document.valid_until.isoformat() if document.valid_until else ""
                        ),
                        "prescription_url": document.download_url,
                    },
                    type="appointment",
                    reference_type="prescription",
                    reference_id=document.prescription_id,
                    attachments=[
                        AttachmentRef(
                            storage_key=key, filename=file_name, content_type=PDF_CONTENT_TYPE
                        )
                    ],
                )
            )
        show(headline, "delivered" if dedupe_key else "stored")
        return PrescriptionDelivered(
            prescription_id=document.prescription_id, pdf_storage_key=key, dedupe_key=dedupe_key
        )

    async def _stored_pdf(self, document: PrescriptionDocument) -> tuple[str, str]:
        """The PDF's storage key and file name: rendered (in the worker's thread pool) and
        recorded unless it already is."""
        pdf = await workflow.execute_activity_method(
            PrescriptionActivities.render_prescription_pdf,
            document,
            **PDF_ACTIVITY,
            summary="render the prescription PDF",
        )
        if document.pdf_storage_key is None:
            await workflow.execute_local_activity_method(
                PrescriptionActivities.record_prescription_pdf,
                pdf,
                **DB_ACTIVITY,
                summary="record the prescription PDF",
            )
        return pdf.storage_key, pdf.file_name


WORKFLOWS: list[type] = [PrescriptionDeliveryWorkflow]


class DeliveryPending(Exception):
    """The render did not finish within the caller's deadline (it goes on in the worker)."""


async def deliver_prescription(
    client: Client, task_queue: str, delivery: PrescriptionDelivery, *, deadline: timedelta
) -> PrescriptionDelivered:
    """Start the delivery (or reach the one with the same id, running or finished) and wait at
    most `deadline` for its outcome; DeliveryPending when the deadline passes first."""
    wid = prescription_workflow_id(delivery)
    try:
        handle = await client.start_workflow(
            PrescriptionDeliveryWorkflow.run,
            delivery,
            id=wid,
            task_queue=task_queue,
            static_summary=prescription_summary(delivery),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle_for(PrescriptionDeliveryWorkflow.run, wid)
    try:
        return await asyncio.wait_for(handle.result(), deadline.total_seconds())
    except TimeoutError:
        raise DeliveryPending(wid) from None
