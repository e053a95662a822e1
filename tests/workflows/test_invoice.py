"""InvoiceDeliveryWorkflow on the dev server with a real worker, database, file storage and
outbox: a payment's invoice is issued once and tells the booking, a sending mails the stored PDF
attached, a cancelled invoice is refused, and a caller's deadline never leaves it hanging."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.bookings import BookingActivities, booking_activity_list
from activities.documents import build_document_activities, document_activity_list
from activities.invoicing import invoice_order
from activities.notify import NotificationActivities, notification_activity_list
from activities.payments import PaymentActivities, invoice_id_for, payment_activity_list
from activities.providers.outbox import (
    OutboxEmail,
    OutboxMessages,
    StoredMessage,
    read_outbox,
    read_outbox_attachment,
)
from activities.providers.wiring import build_storage
from domain.booking import BookingStatus
from domain.models.bookings import Booking
from domain.models.notifications import Channel, Notification
from domain.models.payments import Invoice, Payment
from domain.payment import InvoiceStatus, PaymentStatus
from runtime.settings import Settings
from tests.builders.helpers import eventually
from tests.builders.payment_builders import QUOTE_TOTAL, Cast, confirmed_booking, make_cast
from workflows.booking import WORKFLOWS as BOOKING_WORKFLOWS
from workflows.booking import BookingWorkflow, PaymentEvent
from workflows.booking import workflow_id as booking_workflow_id
from workflows.invoice import (
    WORKFLOWS as INVOICE_WORKFLOWS,
)
from workflows.invoice import (
    DeliveryPending,
    InvoiceDeliveryWorkflow,
    deliver_invoice,
)
from workflows.messages import InvoiceDelivered, InvoiceDelivery
from workflows.messages import invoice_workflow_id as workflow_id
from workflows.notification import WORKFLOWS as NOTIFICATION_WORKFLOWS

DEADLINE = timedelta(seconds=60)


@pytest.fixture
def invoice_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_secret="x" * 32,
        storage_dir=str(tmp_path / "files"),
        tax_rates={"India": Decimal("18")},
        public_base_url="https://api.medivoy.test",
    )


def make_worker(
    client: Client,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> Worker:
    notifications = NotificationActivities(
        sessionmaker,
        OutboxEmail(sessionmaker),
        OutboxMessages(sessionmaker, Channel.SMS),
        OutboxMessages(sessionmaker, Channel.WHATSAPP),
        storage=build_storage(settings),
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*INVOICE_WORKFLOWS, *BOOKING_WORKFLOWS, *NOTIFICATION_WORKFLOWS],
        activities=[
            *payment_activity_list(PaymentActivities(sessionmaker, {}, settings)),
            *document_activity_list(
                build_document_activities(settings, sessionmaker, build_storage(settings))
            ),
            *booking_activity_list(BookingActivities(sessionmaker)),
            *notification_activity_list(notifications),
        ],
        activity_executor=ThreadPoolExecutor(max_workers=4),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    temporal_client: Client,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    invoice_settings: Settings,
) -> AsyncIterator[Worker]:
    async with make_worker(temporal_client, task_queue, sessionmaker, invoice_settings) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def cast(sessionmaker: async_sessionmaker[AsyncSession]) -> Cast:
    return await make_cast(sessionmaker)


async def paid_booking(
    client: Client, task_queue: str, cast: Cast, sessionmaker: async_sessionmaker[AsyncSession]
) -> tuple[uuid.UUID, uuid.UUID]:
    """A confirmed booking whose payment of 1180.00 (1000.00 and India's 18 %) completed."""
    booking_id = await confirmed_booking(client, task_queue, cast, now=datetime.now(UTC))
    payment_id = uuid.uuid4()
    async with sessionmaker() as db, db.begin():
        db.add(
            Payment(
                id=payment_id,
                transaction_id=f"txn-{payment_id.hex}",
                booking_id=booking_id,
                patient_id=cast.patient_id,
                amount=Decimal("1180.00"),
                currency="USD",
                payment_gateway="stripe",
                status=PaymentStatus.COMPLETED.value,
                status_seq=3,
                payment_date=datetime.now(UTC),
                metadata_={"pricing": {"tax_rate": "18.00"}},
            )
        )
    booking = client.get_workflow_handle_for(BookingWorkflow.run, booking_workflow_id(booking_id))
    await booking.signal(BookingWorkflow.payment_started, PaymentEvent(payment_id=payment_id))
    await booking.signal(BookingWorkflow.payment_succeeded, PaymentEvent(payment_id=payment_id))
    await booking_becomes(sessionmaker, booking_id, BookingStatus.PAYMENT_COMPLETED)
    return booking_id, payment_id


async def booking_becomes(
    sessionmaker: async_sessionmaker[AsyncSession], booking_id: uuid.UUID, status: BookingStatus
) -> Booking:
    async def probe() -> Booking | None:
        async with sessionmaker() as db:
            booking = await db.get(Booking, booking_id)
        return booking if booking is not None and booking.status == status.value else None

    return await eventually(probe, 30)


async def mails(
    sessionmaker: async_sessionmaker[AsyncSession], prefix: str, count: int
) -> list[StoredMessage]:
    async def probe() -> list[StoredMessage] | None:
        found = [m for m in await read_outbox(sessionmaker) if m.dedupe_key.startswith(prefix)]
        return found if len(found) >= count else None

    return await eventually(probe, 30)


async def test_a_payments_invoice_is_issued_once_mailed_once_and_the_booking_told(
    temporal_client: Client,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    sessionmaker: async_sessionmaker[AsyncSession],
    invoice_settings: Settings,
) -> None:
    booking_id, payment_id = await paid_booking(temporal_client, task_queue, cast, sessionmaker)
    invoice_id = invoice_id_for(payment_id)
    delivery = InvoiceDelivery(
        invoice_id=invoice_id,
        payment_id=payment_id,
        issued_on=date(2026, 12, 2),
        booking_id=booking_id,
    )

    done = await deliver_invoice(temporal_client, task_queue, delivery, deadline=DEADLINE)

    assert done.invoice_id == invoice_id and done.issued is not None
    assert done.issued.final_amount == Decimal("1180.00")
    assert done.pdf_storage_key == f"invoices/{invoice_id}"
    booking = await booking_becomes(sessionmaker, booking_id, BookingStatus.INVOICE_SENT)
    assert booking.payment_status == "paid"
    async with sessionmaker() as db:
        invoice = await db.get(Invoice, invoice_id)
    assert invoice is not None and invoice.status == InvoiceStatus.PAID.value
    assert invoice.total_amount == QUOTE_TOTAL and invoice.tax_amount == Decimal("180.00")
    [mail] = await mails(sessionmaker, f"payment:{payment_id}:invoice:", 1)
    assert mail.recipient == cast.patient.email
    assert mail.subject == f"Invoice {invoice.invoice_number} for {booking.booking_number}"
    assert f"We received your payment of USD {invoice.final_amount}" in mail.body_text
    [attachment] = mail.attachments
    assert attachment.filename == f"{invoice.invoice_number}.pdf"
    pdf = await read_outbox_attachment(sessionmaker, attachment.id)
    stored = Path(invoice_settings.storage_dir) / done.pdf_storage_key
    assert pdf.startswith(b"%PDF") and pdf == stored.read_bytes()
    before = stored.stat()

    # Asked again (the parent retried, or replayed): the same outcome, nothing new.
    again = await deliver_invoice(temporal_client, task_queue, delivery, deadline=DEADLINE)
    # Even a second run under another id issues, renders and mails nothing twice.
    twin = await temporal_client.execute_workflow(
        InvoiceDeliveryWorkflow.run,
        delivery,
        id=f"{workflow_id(delivery)}-twin",
        task_queue=task_queue,
    )

    assert again == done
    assert twin.invoice_number == done.invoice_number and twin.dedupe_key == done.dedupe_key
    async with sessionmaker() as db:
        invoices = await db.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.booking_id == booking_id)
        )
    assert invoices == 1
    after = stored.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    await asyncio.sleep(0.5)
    assert len(await mails(sessionmaker, f"payment:{payment_id}:invoice:", 1)) == 1


async def test_each_sending_mails_the_stored_pdf_and_a_repeat_sends_nothing(
    temporal_client: Client,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    sessionmaker: async_sessionmaker[AsyncSession],
    invoice_settings: Settings,
) -> None:
    booking_id = await confirmed_booking(temporal_client, task_queue, cast, now=datetime.now(UTC))
    async with sessionmaker() as db, db.begin():
        invoice = await invoice_order(
            db,
            invoice_settings,
            booking_id=booking_id,
            appointment_id=None,
            discount=Decimal("0"),
            status=InvoiceStatus.ISSUED,
            issued_on=date(2026, 12, 2),
        )
        invoice_id, number = invoice.id, invoice.invoice_number
    prefix = f"invoice:{invoice_id}:send:"

    first = await deliver_invoice(
        temporal_client,
        task_queue,
        InvoiceDelivery(invoice_id=invoice_id, send_id="first"),
        deadline=DEADLINE,
    )

    assert first.issued is None and first.dedupe_key == f"{prefix}first"
    [mail] = await mails(sessionmaker, prefix, 1)
    assert mail.recipient == cast.patient.email
    assert f"Amount due: USD {invoice.final_amount}" in mail.body_text
    assert "received your payment" not in mail.body_text
    [attachment] = mail.attachments
    assert attachment.filename == f"{number}.pdf"
    pdf = await read_outbox_attachment(sessionmaker, attachment.id)
    stored = Path(invoice_settings.storage_dir) / first.pdf_storage_key
    before = stored.stat()
    async with sessionmaker() as db:
        row = await db.get(Invoice, invoice_id)
    assert row is not None and row.pdf_storage_key == first.pdf_storage_key

    # The same sending asked again reaches the first; another sending is another e-mail.
    repeat = await deliver_invoice(
        temporal_client,
        task_queue,
        InvoiceDelivery(invoice_id=invoice_id, send_id="first"),
        deadline=DEADLINE,
    )
    second = await deliver_invoice(
        temporal_client,
        task_queue,
        InvoiceDelivery(invoice_id=invoice_id, send_id="second"),
        deadline=DEADLINE,
    )

    assert repeat == first
    assert second.dedupe_key == f"{prefix}second"
    sent = await mails(sessionmaker, prefix, 2)
    await asyncio.sleep(0.5)
    assert sorted(m.dedupe_key for m in sent) == [f"{prefix}first", f"{prefix}second"]
    [copy] = next(m for m in sent if m.dedupe_key.endswith("second")).attachments
    assert await read_outbox_attachment(sessionmaker, copy.id) == pdf
    after = stored.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # A sending never moves the booking.
    async with sessionmaker() as db:
        booking = await db.get(Booking, booking_id)
    assert booking is not None and booking.status == BookingStatus.CONFIRMED.value


async def test_a_cancelled_invoice_is_refused_and_nothing_is_rendered_or_sent(
    temporal_client: Client,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    sessionmaker: async_sessionmaker[AsyncSession],
    invoice_settings: Settings,
) -> None:
    booking_id = await confirmed_booking(temporal_client, task_queue, cast, now=datetime.now(UTC))
    async with sessionmaker() as db, db.begin():
        invoice = await invoice_order(
            db,
            invoice_settings,
            booking_id=booking_id,
            appointment_id=None,
            discount=Decimal("0"),
            status=InvoiceStatus.CANCELLED,
            issued_on=date(2026, 12, 2),
        )
        invoice_id = invoice.id

    with pytest.raises(WorkflowFailureError) as failed:
        await deliver_invoice(
            temporal_client,
            task_queue,
            InvoiceDelivery(invoice_id=invoice_id, send_id="once"),
            deadline=DEADLINE,
        )

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "Conflict" and cause.details[0]["code"] == "INVOICE_CANCELLED"
    async with sessionmaker() as db:
        row = await db.get(Invoice, invoice_id)
        notes = await db.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.reference_id == invoice_id)
        )
    assert row is not None and row.pdf_storage_key is None
    assert notes == 0
    assert not (Path(invoice_settings.storage_dir) / f"invoices/{invoice_id}").exists()


async def test_a_caller_past_its_deadline_is_told_and_the_delivery_finishes_once_later(
    temporal_client: Client,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    sessionmaker: async_sessionmaker[AsyncSession],
    invoice_settings: Settings,
) -> None:
    booking_id = await confirmed_booking(temporal_client, task_queue, cast, now=datetime.now(UTC))
    async with sessionmaker() as db, db.begin():
        invoice = await invoice_order(
            db,
            invoice_settings,
            booking_id=booking_id,
            appointment_id=None,
            discount=Decimal("0"),
            status=InvoiceStatus.ISSUED,
            issued_on=date(2026, 12, 2),
        )
        invoice_id = invoice.id
    # A queue no worker polls yet: the worker is down or busy.
    idle = f"{task_queue}-idle"
    delivery = InvoiceDelivery(invoice_id=invoice_id, send_id="late")

    with pytest.raises(DeliveryPending):
        await deliver_invoice(temporal_client, idle, delivery, deadline=timedelta(seconds=1))

    async with make_worker(temporal_client, idle, sessionmaker, invoice_settings):
        # Asked again with the same sending: it reaches the one already waiting.
        done: InvoiceDelivered = await deliver_invoice(
            temporal_client, idle, delivery, deadline=DEADLINE
        )
        # The e-mail's own workflow runs on the same queue: wait for it while it is polled.
        [mail] = await mails(sessionmaker, f"invoice:{invoice_id}:send:", 1)
        await asyncio.sleep(0.5)
        assert len(await mails(sessionmaker, f"invoice:{invoice_id}:send:", 1)) == 1
    assert done.dedupe_key == mail.dedupe_key == f"invoice:{invoice_id}:send:late"


def test_a_delivery_is_for_a_payment_or_a_sending_not_both() -> None:
    with pytest.raises(ValueError, match="not both"):
        InvoiceDelivery(
            invoice_id=uuid.uuid4(),
            payment_id=uuid.uuid4(),
            issued_on=date(2026, 12, 2),
            send_id="x",
        )
    with pytest.raises(ValueError, match="issued_on"):
        InvoiceDelivery(invoice_id=uuid.uuid4(), payment_id=uuid.uuid4())
    with pytest.raises(ValueError, match="send_id"):
        InvoiceDelivery(invoice_id=uuid.uuid4(), send_id="no spaces or @ allowed")
