"""/invoices: a patient's own invoices, admin-made ones, the PDF (rendered once and reused) and
sending it again by e-mail, the PDF attached. Invoices of payments are issued by PaymentWorkflow."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, status
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.documents import (
    PDF_CONTENT_TYPE,
    DocumentActivities,
    InvoiceRef,
    invoice_pdf_file_name,
    invoice_pdf_url,
)
from activities.payments import issue_invoice, price_of
from activities.providers.storage import build_storage
from api.deps import AdminUser, CurrentUser, DbSession, Paging, SettingsDep, Temporal
from api.envelope import ERROR_RESPONSES, Envelope, Page, ok, page
from api.schemas.payments import InvoiceCreate, InvoiceFilters, InvoiceOut
from api.services import payments as service
from domain.errors import Conflict, NotFound
from domain.models.appointments import Appointment
from domain.models.bookings import Booking
from domain.models.notifications import Channel
from domain.models.payments import Invoice, Payment
from domain.models.users import Patient
from domain.payment import InvoiceStatus
from runtime.settings import Settings
from workflows.notification import AttachmentRef, NotificationRequest, notify

TAG = {"name": "Invoices", "description": "Invoices and their PDFs"}
ORDER = 62
router = APIRouter(prefix="/invoices", tags=["Invoices"], responses=ERROR_RESPONSES)
InvoiceId = Annotated[uuid.UUID, Path(alias="id", description="The invoice's id")]


def _out(invoice: Invoice) -> dict[str, Any]:
    return InvoiceOut.model_validate(invoice).model_dump(mode="python")


def documents(request_settings: Settings, sessionmaker: Any) -> DocumentActivities:
    return DocumentActivities(
        sessionmaker,
        build_storage(request_settings),
        public_base_url=request_settings.public_base_url,
    )


async def stored_pdf(
    settings: Settings, sessionmaker: Any, invoice_id: uuid.UUID, key: str | None
) -> str:
    """The storage key of the invoice's PDF. One not rendered yet (an admin-made invoice) is
    rendered now, the way the payment workflow does it, and recorded for next time.

    Call it with no transaction open: rendering takes a while and WeasyPrint runs in a thread."""
    if key is not None:
        return key
    docs = documents(settings, sessionmaker)
    document = await docs.load_invoice_document(InvoiceRef(invoice_id=invoice_id))
    pdf = await asyncio.to_thread(docs.render_invoice_pdf, document)
    await docs.record_invoice_pdf(pdf)
    return pdf.storage_key


async def reference_of(db: AsyncSession, invoice: Invoice) -> str:
    """What the invoice is for, as the patient knows it: the booking or appointment number."""
    reference: str | None = None
    if invoice.booking_id is not None:
        reference = await db.scalar(
            select(Booking.booking_number).where(Booking.id == invoice.booking_id)
        )
    elif invoice.appointment_id is not None:
        reference = await db.scalar(
            select(Appointment.appointment_number).where(Appointment.id == invoice.appointment_id)
        )
    return reference or invoice.invoice_number


@router.get("", response_model=Page[InvoiceOut], summary="List invoices")
async def list_invoices(
    db: DbSession,
    user: CurrentUser,
    paging: Paging,
    filters: Annotated[InvoiceFilters, Depends()],
) -> Page[dict[str, Any]]:
    stmt = await service.visible_to(db, user, select(Invoice), Invoice.patient_id)
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
    if body.booking_id is not None:
        booking = await db.get(Booking, body.booking_id)
        if booking is None:
            raise NotFound("Booking not found", code="BOOKING_NOT_FOUND")
        patient_id, currency = booking.patient_id, booking.currency
    else:
        appointment = await db.get(Appointment, body.appointment_id)
        if appointment is None:
            raise NotFound("Appointment not found", code="APPOINTMENT_NOT_FOUND")
        patient_id, currency = appointment.patient_id, appointment.currency
    # The same pricing as a payment's invoice: quotation items (or the fee) and the country's tax.
    probe = Payment(
        booking_id=body.booking_id,
        appointment_id=body.appointment_id,
        currency=currency or "USD",
    )
    items, rate, hospital_id = await price_of(db, probe, settings)
    invoice, _ = await issue_invoice(
        db,
        settings,
        invoice_id=uuid.uuid4(),
        patient_id=patient_id,
        booking_id=body.booking_id,
        appointment_id=body.appointment_id,
        currency=(currency or "USD").upper(),
        items=items,
        discount=body.discount_amount,
        tax_rate=rate,
        hospital_id=hospital_id,
        issued_on=datetime.now(UTC).date(),
        status=body.status,
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
    request: Request,
    db: DbSession,
    user: CurrentUser,
    settings: SettingsDep,
) -> StreamingResponse:
    invoice = await service.invoice_for(db, user, invoice_id)
    number, key = invoice.invoice_number, invoice.pdf_storage_key
    await db.rollback()
    key = await stored_pdf(settings, request.app.state.sessionmaker, invoice_id, key)
    storage = build_storage(settings)

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
    request: Request,
    db: DbSession,
    user: CurrentUser,
    temporal: Temporal,
    settings: SettingsDep,
) -> Envelope[dict[str, Any]]:
    """E-mails the invoice, its PDF attached, to the invoice's patient, in the patient's
    language. Whoever may see the invoice may send it (staff, or the patient themselves); it
    always goes to the patient's own address, never to the caller's. A paid invoice is mailed
    as the receipt of the payment (invoice_issued); any other as an amount due (invoice_sent).
    A cancelled invoice is owed by nobody: it is not sent (409)."""
    invoice = await service.invoice_for(db, user, invoice_id)
    if invoice.status == InvoiceStatus.CANCELLED.value:
        raise Conflict("A cancelled invoice is not sent", code="INVOICE_CANCELLED")
    patient_user_id = await db.scalar(
        select(Patient.user_id).where(Patient.id == invoice.patient_id)
    )
    if patient_user_id is None:
        raise NotFound("The invoice's patient has no account", code="PATIENT_NOT_FOUND")
    number, key = invoice.invoice_number, invoice.pdf_storage_key
    context = {
        "reference": await reference_of(db, invoice),
        "invoice_number": number,
        "amount": f"{invoice.final_amount}",
        "currency": invoice.currency,
        "invoice_url": invoice.pdf_url or invoice_pdf_url(settings.public_base_url, invoice.id),
    }
    # invoice_issued thanks the patient for their payment: only true of a paid invoice. Any
    # other (an admin-made one, draft, issued or sent) is mailed as an amount still due.
    if invoice.status == InvoiceStatus.PAID:
        template = "invoice_issued"
    else:
        template = "invoice_sent"
        context["due_date"] = invoice.due_date.isoformat() if invoice.due_date else ""
    await db.rollback()
    key = await stored_pdf(settings, request.app.state.sessionmaker, invoice_id, key)
    await notify(
        temporal,
        settings.task_queue,
        NotificationRequest(
            # Each request sends again: a fresh key per send.
            dedupe_key=f"invoice:{invoice_id}:send:{uuid.uuid4().hex}",
            user_id=patient_user_id,
            template=template,
            channels=[Channel.EMAIL],
            context=context,
            type="invoice",
            reference_type="invoice",
            reference_id=invoice_id,
            attachments=[
                AttachmentRef(
                    storage_key=key,
                    filename=invoice_pdf_file_name(number),
                    content_type=PDF_CONTENT_TYPE,
                )
            ],
        ),
    )
    # Read again (the rollback expired it): the PDF may have just been recorded on it.
    await db.refresh(invoice)
    return ok(_out(invoice), "Invoice sent")
