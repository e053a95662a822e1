"""InvoiceDeliveryWorkflow: issue (or take) an invoice, render its PDF once, e-mail it attached and
tell the booking. One child serves every caller: PaymentWorkflow once a payment completes,
SubscriptionWorkflow once a charge of a subscription is invoiced (the e-mail is its message:
renewed, activated, upgraded), and `POST /invoices/:id/send` through the Temporal client, so the
API never renders a PDF itself.

A payment's delivery is `invoice-<invoice id>` (the invoice id comes from the payment), a
sending asked through the API `invoice-<invoice id>-send-<send id>` (the send id from the
caller's Idempotency-Key, else fresh), the first render for a download `invoice-<invoice id>-pdf`.
Starting one again reaches the same run, and every step (the row, the stored PDF, the e-mail's
dedupe key) is keyed by the business, so a retry issues and sends nothing twice.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from temporalio import workflow
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, FailureError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.documents import DocumentActivities, InvoiceRef
    from activities.invoicing import PDF_CONTENT_TYPE, InvoiceMail
    from activities.payments import InvoiceRequest, IssuedInvoice, PaymentActivities
    from domain.errors import Conflict
    from domain.invoices import sending_refusal
    from domain.notification import Channel
    from workflows._kit import DB_ACTIVITY, PDF_ACTIVITY, Notifier, show
    from workflows.messages import (
        INVOICE_WORKFLOW,
        AttachmentRef,
        BookingSignal,
        InvoiceDelivered,
        InvoiceDelivery,
        InvoiceEvent,
        NotificationRequest,
        booking_workflow_id,
        invoice_summary,
        invoice_workflow_id,
    )

if TYPE_CHECKING:
    from temporalio.client import Client


@workflow.defn(name=INVOICE_WORKFLOW)
class InvoiceDeliveryWorkflow:
    @workflow.run
    async def run(self, delivery: InvoiceDelivery) -> InvoiceDelivered:
        issued: IssuedInvoice | None = None
        invoice_id = delivery.invoice_id
        show(invoice_summary(delivery), "issuing" if delivery.payment_id else "loading")
        if delivery.payment_id is not None:
            assert delivery.issued_on is not None
            issued = await workflow.execute_local_activity_method(
                PaymentActivities.create_invoice,
                InvoiceRequest(payment_id=delivery.payment_id, issued_on=delivery.issued_on),
                **DB_ACTIVITY,
                summary="issue the invoice",
            )
            invoice_id = issued.invoice_id
        ref = InvoiceRef(invoice_id=invoice_id)
        mail: InvoiceMail = await workflow.execute_local_activity_method(
            DocumentActivities.load_invoice_mail,
            ref,
            **DB_ACTIVITY,
            summary="load the invoice e-mail",
        )
        refusal = sending_refusal(mail.status, has_account=mail.patient_user_id is not None)
        # A payment's invoice is paid, so only the account can be missing: it is still
        # rendered and the booking still told, as before this workflow existed.
        if (
            delivery.mails
            and refusal is not None
            and (isinstance(refusal, Conflict) or delivery.payment_id is None)
        ):
            raise ApplicationError(
                refusal.message,
                {"code": refusal.code},
                type=type(refusal).__name__,
                non_retryable=True,
            )
        headline = f"Invoice {mail.invoice_number}"
        show(headline, "rendering", "the PDF")
        pdf_key = await self._stored_pdf(ref)
        dedupe_key: str | None = None
        if delivery.mails and mail.patient_user_id is not None:
            show(headline, "mailing", f"the e-mail to user {mail.patient_user_id}")
            dedupe_key = await self._mail(delivery, mail, pdf_key)
        if delivery.booking_id is not None:
            await self._tell_booking(delivery.booking_id, invoice_id)
        show(headline, "delivered" if dedupe_key else "stored")
        return InvoiceDelivered(
            invoice_id=invoice_id,
            invoice_number=mail.invoice_number,
            pdf_storage_key=pdf_key,
            dedupe_key=dedupe_key,
            issued=issued,
        )

    async def _stored_pdf(self, ref: InvoiceRef) -> str:
        """The PDF's storage key: rendered (in the worker's thread pool) and recorded unless
        it already is."""
        document = await workflow.execute_activity_method(
            DocumentActivities.load_invoice_document,
            ref,
            **DB_ACTIVITY,
            summary="load the invoice document",
        )
        if document.pdf_storage_key is not None:
            return document.pdf_storage_key
        pdf = await workflow.execute_activity_method(
            DocumentActivities.render_invoice_pdf,
            document,
            **PDF_ACTIVITY,
            summary="render the invoice PDF",
        )
        await workflow.execute_local_activity_method(
            DocumentActivities.record_invoice_pdf,
            pdf,
            **DB_ACTIVITY,
            summary="record the invoice PDF",
        )
        return pdf.storage_key

    async def _mail(self, delivery: InvoiceDelivery, mail: InvoiceMail, pdf_key: str) -> str:
        """The invoice's e-mail (DeliverNotification child, once per dedupe key), the PDF
        attached by reference. A payment's invoice keeps the key and channels it always had and
        waits for the delivery, and so does a subscription's (its own message, the invoice's
        number and link filled in); a sending asked through the API only starts it, so the
        caller does not wait on an e-mail provider."""
        assert mail.patient_user_id is not None
        for_payment = delivery.payment_id is not None
        for_subscription = delivery.subscription_id is not None
        if for_payment:
            dedupe_key = f"payment:{delivery.payment_id}:invoice:{mail.invoice_id}"
        elif for_subscription:
            dedupe_key = f"subscription:{delivery.subscription_id}:invoice:{mail.invoice_id}"
        else:
            dedupe_key = f"invoice:{mail.invoice_id}:send:{delivery.send_id}"
        template, context = mail.template, mail.context
        if delivery.template is not None:
            template = delivery.template
            context = {
                **delivery.context,
                **{k: v for k, v in mail.context.items() if k.startswith("invoice_")},
            }
        request = NotificationRequest(
            dedupe_key=dedupe_key,
            user_id=mail.patient_user_id,
            template=template,
            context=context,
            type="payment" if for_payment else "subscription" if for_subscription else "invoice",
            reference_type="invoice",
            reference_id=mail.invoice_id,
            attachments=[
                AttachmentRef(
                    storage_key=pdf_key, filename=mail.file_name, content_type=PDF_CONTENT_TYPE
                )
            ],
        )
        if not (for_payment or for_subscription):
            request.channels = [Channel.EMAIL]
        notifier = Notifier([])
        if for_payment or for_subscription:
            await notifier.deliver(request)
        else:
            await notifier.start(request)
        return dedupe_key

    async def _tell_booking(self, booking_id: UUID, invoice_id: UUID) -> None:
        handle = workflow.get_external_workflow_handle(booking_workflow_id(booking_id))
        try:
            await handle.signal(BookingSignal.INVOICE_SENT, InvoiceEvent(invoice_id=invoice_id))
        except FailureError as err:
            # The booking's workflow is gone (closed): the invoice is out regardless.
            workflow.logger.warning("booking signal invoice_sent not delivered: %s", err.message)


WORKFLOWS: list[type] = [InvoiceDeliveryWorkflow]


class DeliveryPending(Exception):
    """The delivery did not finish within the caller's deadline (it goes on in the worker)."""


async def deliver_invoice(
    client: Client, task_queue: str, delivery: InvoiceDelivery, *, deadline: timedelta
) -> InvoiceDelivered:
    """Start the delivery (or reach the one with the same id, running or finished) and wait at
    most `deadline` for its outcome. A refusal comes back as WorkflowFailureError carrying the
    ApplicationError; DeliveryPending when the deadline passes first."""
    wid = invoice_workflow_id(delivery)
    try:
        handle = await client.start_workflow(
            InvoiceDeliveryWorkflow.run,
            delivery,
            id=wid,
            task_queue=task_queue,
            static_summary=invoice_summary(delivery),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # A finished delivery is never run again; a failed one may be asked again.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    except WorkflowAlreadyStartedError:
        # Completed already: its outcome is the answer.
        handle = client.get_workflow_handle_for(InvoiceDeliveryWorkflow.run, wid)
    try:
        return await asyncio.wait_for(handle.result(), deadline.total_seconds())
    except TimeoutError:
        raise DeliveryPending(wid) from None
