"""/invoices: a patient's own invoices, admin-made ones, the PDF (rendered once and reused) and
sending it again by e-mail, the PDF attached. Invoices of payments are issued by PaymentWorkflow;
rendering and sending always run in the worker (InvoiceDeliveryWorkflow, workflows/invoice.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, status
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.invoicing import (
    PDF_CONTENT_TYPE,
    invoice_mail,
    invoice_order,
    invoice_pdf_file_name,
)
from api.deadline import temporal_answers, temporal_unavailable
from api.deps import (
    AdminUser,
    CurrentUser,
    DbSession,
    Paging,
    SettingsDep,
    StorageDep,
    Temporal,
    require_roles,
)
from api.envelope import ERROR_RESPONSES, Envelope, Page, ok, page
from api.schemas.payments import InvoiceCreate, InvoiceFilters, InvoiceOut
from api.services import payments as service
from domain import errors
from domain.access import PATIENT_OR_STAFF
from domain.invoices import sending_refusal
from domain.models.payments import Invoice
from domain.models.users import User
from workflows.invoice import DeliveryPending, deliver_invoice
from workflows.messages import InvoiceDelivered, InvoiceDelivery

TAG = {"name": "Invoices", "description": "Invoices and their PDFs"}
router = APIRouter(prefix="/invoices", tags=["Invoices"], responses=ERROR_RESPONSES)
InvoiceId = Annotated[uuid.UUID, Path(alias="id", description="The invoice's id")]
# Idempotency keys are per caller: the same key from two people is two sendings.
SEND_NAMESPACE = uuid.UUID("8f5d2c71-3b9e-4e0a-a6d4-1c7f0b2e9a53")
# How long a request waits at most for the worker to render and send (then 503; the work goes
# on), and never longer than any workflow call may take (MEDIVOY_WORKFLOW_DEADLINE_SECONDS).
DELIVERY_DEADLINE = timedelta(seconds=30)


def delivery_deadline(settings: SettingsDep) -> timedelta:
    return min(DELIVERY_DEADLINE, timedelta(seconds=settings.workflow_deadline_seconds))


DeliveryDeadline = Annotated[timedelta, Depends(delivery_deadline)]
# Who may have an invoice e-mailed (to its patient): staff and the patient. A subscription's
# holder reads its invoices but does not send them (the subscription's workflow mails them).
Sender = Annotated[User, Depends(require_roles(*PATIENT_OR_STAFF))]


def _out(invoice: Invoice) -> dict[str, Any]:
    return InvoiceOut.model_validate(invoice).model_dump(mode="python")


async def delivered(
    temporal: Client, task_queue: str, delivery: InvoiceDelivery, deadline: timedelta
) -> InvoiceDelivered:
    """Run the invoice's delivery in the worker (workflows/invoice.py) and wait for it, at most
    `deadline`: the API renders no PDF and sends no e-mail itself."""
    try:
        return await deliver_invoice(temporal, task_queue, delivery, deadline=deadline)
    except DeliveryPending as pending:
        if not await temporal_answers(temporal):
            raise temporal_unavailable() from pending
        raise errors.Unavailable(
            "The invoice is still being prepared; ask again in a moment "
            "(with the same Idempotency-Key, a sending is not repeated)",
            code="INVOICE_DELIVERY_PENDING",
        ) from pending
    except WorkflowFailureError as failed:
        cause = failed.cause
        if isinstance(cause, ApplicationError) and cause.non_retryable:
            kinds = {"Conflict": errors.Conflict, "NotFound": errors.NotFound}
            details = cause.details[0] if cause.details else {}
            code = details.get("code") if isinstance(details, dict) else None
            kind = kinds.get(cause.type or "")
            if kind is not None:
                raise kind(cause.message, code=code) from failed
        raise
    except RPCError as down:
        raise errors.Unavailable(
            "The workflow engine is not reachable; try again shortly",
            code="TEMPORAL_UNAVAILABLE",
        ) from down


@router.get("", response_model=Page[InvoiceOut], summary="List invoices")
async def list_invoices(
    db: DbSession,
    user: CurrentUser,
    paging: Paging,
    filters: Annotated[InvoiceFilters, Depends()],
) -> Page[dict[str, Any]]:
    stmt = service.visible_to(user, select(Invoice), Invoice)
    for name in ("status", "patient_id", "booking_id"):
        value = getattr(filters, name)
        if value is not None:
            stmt = stmt.where(getattr(Invoice, name) == value)
    total = await service.count(db, stmt)
    rows = await db.scalars(
        stmt.order_by(Invoice.created_at.desc(), Invoice.id)
        .offset(paging.offset)
        .limit(paging.limit)
    )
    return page([_out(i) for i in rows], page=paging.page, limit=paging.limit, total=total)


@router.get("/{id}", response_model=Envelope[InvoiceOut], summary="One invoice")
async def get_invoice(
    invoice_id: InvoiceId, db: DbSession, user: CurrentUser
) -> Envelope[dict[str, Any]]:
    return ok(_out(await service.invoice_for(db, user, invoice_id)))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[InvoiceOut],
    summary="Generate an invoice (admin)",
)
async def create_invoice(
    body: InvoiceCreate, db: DbSession, user: AdminUser, settings: SettingsDep
) -> Envelope[dict[str, Any]]:
    invoice = await invoice_order(
        db,
        settings,
        booking_id=body.booking_id,
        appointment_id=body.appointment_id,
        discount=body.discount_amount,
        status=body.status,
        issued_on=datetime.now(UTC).date(),
    )
    return ok(_out(invoice), "Invoice created")


@router.get(
    "/{id}/pdf",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/pdf": {}}}},
    summary="Download the invoice PDF",
)
async def invoice_pdf(
    invoice_id: InvoiceId,
    db: DbSession,
    user: CurrentUser,
    settings: SettingsDep,
    temporal: Temporal,
    deadline: DeliveryDeadline,
    storage: StorageDep,
) -> StreamingResponse:
    """The stored PDF. One not rendered yet (an admin-made invoice) is rendered by the worker
    first, once, and recorded for next time."""
    invoice = await service.invoice_for(db, user, invoice_id)
    number, key = invoice.invoice_number, invoice.pdf_storage_key
    # No transaction stays open while the worker renders.
    await db.rollback()
    if key is None:
        done = await delivered(
            temporal, settings.task_queue, InvoiceDelivery(invoice_id=invoice_id), deadline
        )
        key = done.pdf_storage_key

    async def chunks() -> AsyncIterator[bytes]:
        async for chunk in storage.stream(key):
            yield chunk

    return StreamingResponse(
        chunks(),
        media_type=PDF_CONTENT_TYPE,
        headers={"Content-Disposition": f'inline; filename="{invoice_pdf_file_name(number)}"'},
    )


@router.post("/{id}/send", response_model=Envelope[InvoiceOut], summary="E-mail the invoice")
async def send_invoice(
    invoice_id: InvoiceId,
    db: DbSession,
    user: Sender,
    temporal: Temporal,
    settings: SettingsDep,
    deadline: DeliveryDeadline,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
    ] = None,
) -> Envelope[dict[str, Any]]:
    """E-mails the invoice, its PDF attached, to the invoice's patient, in the patient's
    language. Staff and the patient who may see the invoice may send it (a subscription's holder
    reads its invoices, not sends them: 403 ROLE_NOT_ALLOWED); it
    always goes to the patient's own address, never to the caller's. A paid invoice is mailed
    as the receipt of the payment (invoice_issued); any other as an amount due (invoice_sent).
    A cancelled invoice is owed by nobody: it is not sent (409).

    Each request is a new e-mail, except a repeat with the same Idempotency-Key, which reaches
    the first sending. The worker renders and sends (InvoiceDeliveryWorkflow); when it takes
    longer than the request may wait, the answer is 503 INVOICE_DELIVERY_PENDING and the
    sending goes on."""
    invoice = await service.invoice_for(db, user, invoice_id)
    mail = await invoice_mail(db, invoice.id, settings.public_base_url)
    refusal = sending_refusal(mail.status, has_account=mail.patient_user_id is not None)
    if refusal is not None:
        raise refusal
    send_id = (
        uuid.uuid5(SEND_NAMESPACE, f"{user.id}:{idempotency_key}")
        if idempotency_key
        else uuid.uuid4()
    ).hex
    # No transaction stays open while the worker renders and sends.
    await db.rollback()
    await delivered(
        temporal,
        settings.task_queue,
        InvoiceDelivery(invoice_id=invoice_id, send_id=send_id),
        deadline,
    )
    # Read again (the rollback expired it): the PDF may have just been recorded on it.
    await db.refresh(invoice)
    return ok(_out(invoice), "Invoice sent")
