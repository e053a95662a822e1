"""Invoices over HTTP with the real worker, database and file storage: an admin invoices a
booking from its quotation, the PDF is rendered once, and sending it e-mails the PDF attached."""

from __future__ import annotations

import asyncio
import io
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.providers.outbox import StoredMessage, read_outbox, read_outbox_attachment
from api.app import create_app
from api.routers.invoices import delivery_deadline
from domain.access import Role
from domain.models.bookings import Booking
from domain.models.notifications import Notification
from domain.models.payments import Invoice
from domain.models.users import User
from runtime.settings import Settings
from tests.builders.helpers import eventually
from tests.builders.payment_builders import QUOTE, Cast, confirmed_booking, make_cast
from tests.builders.users import create_user, headers_for
from worker import build_worker


@pytest.fixture
def client(client: httpx.AsyncClient, worker: Worker) -> httpx.AsyncClient:
    """The API with the worker running: invoices come from payment and booking workflows."""
    return client


TAX_RATES = {"Turkey": Decimal("20"), "India": Decimal("18")}
NUMBER = re.compile(r"^MV-INV-(\d{4})-\d{6}$")


@pytest.fixture
def settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    return make_settings(
        storage_dir=str(tmp_path / "files"),
        tax_rates=TAX_RATES,
        tax_rate_default=Decimal("5"),
        public_base_url="https://api.medivoy.test",
    )


async def booked(
    client: httpx.AsyncClient,
    temporal_client: Client,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> tuple[Cast, uuid.UUID, dict[str, str]]:
    cast = await make_cast(sessionmaker, country="Turkey")
    booking_id = await confirmed_booking(temporal_client, task_queue, cast, now=datetime.now(UTC))
    return cast, booking_id, headers_for(cast.admin)


async def invoice_for_booking(
    client: httpx.AsyncClient, admin: dict[str, str], booking_id: uuid.UUID, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/invoices", headers=admin, json={"booking_id": str(booking_id), **body}
    )
    assert response.status_code == 201, response.text
    invoice: dict[str, Any] = response.json()["data"]
    return invoice


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


async def test_admin_invoices_a_booking_from_its_quotation_with_the_countrys_tax(
    client: httpx.AsyncClient,
    temporal_client: Client,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    cast, booking_id, admin = await booked(client, temporal_client, task_queue, sessionmaker)

    invoice = await invoice_for_booking(client, admin, booking_id, discount_amount="100.00")

    match = NUMBER.match(invoice["invoice_number"])
    assert match and int(match.group(1)) == datetime.now(UTC).year
    assert (invoice["booking_id"], invoice["patient_id"], invoice["hospital_id"]) == (
        str(booking_id),
        str(cast.patient_id),
        str(cast.hospital_id),
    )
    assert [(i["description"], Decimal(i["amount"])) for i in invoice["line_items"]] == QUOTE
    # 1000 quoted, 100 off, 20 % Turkish tax on the 900 left: 180.
    assert Decimal(invoice["total_amount"]) == Decimal("1000.00")
    assert Decimal(invoice["discount_amount"]) == Decimal("100.00")
    assert Decimal(invoice["tax_rate"]) == Decimal("20")
    assert Decimal(invoice["tax_amount"]) == Decimal("180.00")
    assert Decimal(invoice["final_amount"]) == Decimal("1080.00")
    assert (invoice["currency"], invoice["status"]) == ("USD", "issued")
    assert invoice["pdf_url"] == f"https://api.medivoy.test/api/v1/invoices/{invoice['id']}/pdf"

    another = await invoice_for_booking(client, admin, booking_id)
    assert NUMBER.match(another["invoice_number"])
    assert another["invoice_number"] != invoice["invoice_number"]
    assert Decimal(another["final_amount"]) == Decimal("1200.00")

    body = {"booking_id": str(booking_id)}
    for user in (cast.patient, cast.coordinator):
        headers = headers_for(user)
        refused = await client.post("/invoices", headers=headers, json=body)
        assert refused.status_code == 403, refused.text
    unknown = await client.post("/invoices", headers=admin, json={"booking_id": str(uuid.uuid4())})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "BOOKING_NOT_FOUND"
    bad = await client.post("/invoices", headers=admin, json={**body, "discount_amount": "lots"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in bad.json()["error"]["details"]] == ["discount_amount"]


async def test_invoice_pdf_is_rendered_once_then_served_from_storage(
    client: httpx.AsyncClient,
    temporal_client: Client,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    cast, booking_id, admin = await booked(client, temporal_client, task_queue, sessionmaker)
    invoice = await invoice_for_booking(client, admin, booking_id)
    patient = headers_for(cast.patient)

    first = await client.get(f"/invoices/{invoice['id']}/pdf", headers=patient)

    assert first.status_code == 200 and first.headers["content-type"] == "application/pdf"
    assert first.content.startswith(b"%PDF")
    assert f'filename="{invoice["invoice_number"]}.pdf"' in first.headers["content-disposition"]
    assert invoice["invoice_number"] in pdf_text(first.content)
    async with sessionmaker() as db:
        row = await db.get(Invoice, uuid.UUID(invoice["id"]))
    assert row is not None and row.pdf_storage_key == f"invoices/{invoice['id']}"
    stored = Path(settings.storage_dir) / row.pdf_storage_key
    before = stored.stat()

    second = await client.get(f"/invoices/{invoice['id']}/pdf", headers=admin)

    assert second.status_code == 200 and second.content == first.content
    after = stored.stat()
    # Not rendered again: the very same file (a new render would replace it).
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    stranger = headers_for((await make_cast(sessionmaker)).patient)
    missing = await client.get(f"/invoices/{invoice['id']}/pdf", headers=stranger)
    assert missing.status_code == 404


async def invoice_mails(
    sessionmaker: async_sessionmaker[AsyncSession], invoice_id: str, count: int
) -> list[StoredMessage]:
    """The e-mails sent by POST /invoices/:id/send (the booking's own updates left aside)."""

    async def probe() -> list[StoredMessage] | None:
        mails = [
            m
            for m in await read_outbox(sessionmaker)
            if m.dedupe_key.startswith(f"invoice:{invoice_id}:send:")
        ]
        return mails if len(mails) >= count else None

    return await eventually(probe, 30)


async def test_sending_an_invoice_mails_its_pdf_attached_in_the_patients_language(
    client: httpx.AsyncClient,
    temporal_client: Client,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    cast, booking_id, admin = await booked(client, temporal_client, task_queue, sessionmaker)
    async with sessionmaker() as db, db.begin():
        await db.execute(update(User).where(User.id == cast.patient.id).values(locale="fr"))
        booking = await db.get(Booking, booking_id)
    assert booking is not None
    invoice = await invoice_for_booking(client, admin, booking_id, discount_amount="50.00")
    number = invoice["invoice_number"]
    patient = headers_for(cast.patient)

    # The patient sends their own invoice (not rendered yet) to themselves.
    sent = await client.post(f"/invoices/{invoice['id']}/send", headers=patient)

    assert sent.status_code == 200, sent.text
    assert sent.json()["data"]["id"] == invoice["id"]
    [mail] = await invoice_mails(sessionmaker, invoice["id"], 1)
    assert mail.recipient == cast.patient.email
    assert mail.subject == f"Facture {number} pour {booking.booking_number}"
    assert "est jointe à cet e-mail" in mail.body_text
    # Issued by an admin, not paid: the amount is due, no payment is claimed.
    assert f"Montant à régler : {invoice['final_amount']} USD" in mail.body_text
    assert "reçu votre paiement" not in mail.body_text
    assert f"/api/v1/invoices/{invoice['id']}/pdf" in mail.body_text
    [attachment] = mail.attachments
    assert (attachment.filename, attachment.content_type) == (f"{number}.pdf", "application/pdf")
    pdf = await read_outbox_attachment(sessionmaker, attachment.id)
    assert pdf.startswith(b"%PDF") and len(pdf) == attachment.size
    assert number in pdf_text(pdf)
    async with sessionmaker() as db:
        row = await db.get(Invoice, uuid.UUID(invoice["id"]))
    assert row is not None and row.pdf_storage_key == f"invoices/{invoice['id']}"

    # Staff may send it too; it still goes to the patient, with the same stored PDF.
    coordinator = headers_for(cast.coordinator)
    again = await client.post(f"/invoices/{invoice['id']}/send", headers=coordinator)
    assert again.status_code == 200, again.text
    _, second = await invoice_mails(sessionmaker, invoice["id"], 2)
    assert second.recipient == cast.patient.email
    [copy] = second.attachments
    assert await read_outbox_attachment(sessionmaker, copy.id) == pdf
    assert not any(
        m.attachments for m in await read_outbox(sessionmaker, recipient=cast.coordinator.email)
    )

    # Another patient cannot learn the invoice exists, nor send it anywhere; other roles may
    # not send invoices at all.
    stranger = headers_for((await make_cast(sessionmaker)).patient)
    hidden = await client.post(f"/invoices/{invoice['id']}/send", headers=stranger)
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "INVOICE_NOT_FOUND"
    doctor = await create_user(sessionmaker, Role.DOCTOR)
    refused = await client.post(f"/invoices/{invoice['id']}/send", headers=headers_for(doctor))
    assert refused.status_code == 403
    assert len(await invoice_mails(sessionmaker, invoice["id"], 2)) == 2


async def test_an_unpaid_invoice_is_mailed_as_due_and_a_paid_one_as_a_receipt(
    client: httpx.AsyncClient,
    temporal_client: Client,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    cast, booking_id, admin = await booked(client, temporal_client, task_queue, sessionmaker)
    async with sessionmaker() as db:
        booking = await db.get(Booking, booking_id)
    assert booking is not None
    unpaid = await invoice_for_booking(client, admin, booking_id, status="draft")
    paid = await invoice_for_booking(client, admin, booking_id, status="paid")

    sent = await client.post(f"/invoices/{unpaid['id']}/send", headers=admin)

    assert sent.status_code == 200, sent.text
    [mail] = await invoice_mails(sessionmaker, unpaid["id"], 1)
    assert mail.recipient == cast.patient.email
    assert mail.subject == f"Invoice {unpaid['invoice_number']} for {booking.booking_number}"
    assert mail.body_html is not None
    for body in (mail.body_text, mail.body_html):
        assert "received your payment" not in body
        assert "is attached to this e-mail" in body
        assert f"{unpaid['final_amount']}" in body and unpaid["due_date"] in body
    assert f"Amount due: USD {unpaid['final_amount']}" in mail.body_text
    assert f"Due date: {unpaid['due_date']}" in mail.body_text
    assert f"/api/v1/invoices/{unpaid['id']}/pdf" in mail.body_text
    [attachment] = mail.attachments
    assert attachment.filename == f"{unpaid['invoice_number']}.pdf"
    pdf = await read_outbox_attachment(sessionmaker, attachment.id)
    assert unpaid["invoice_number"] in pdf_text(pdf)

    receipt = await client.post(f"/invoices/{paid['id']}/send", headers=admin)

    assert receipt.status_code == 200, receipt.text
    [mail] = await invoice_mails(sessionmaker, paid["id"], 1)
    assert mail.subject == f"Invoice {paid['invoice_number']} for {booking.booking_number}"
    assert f"We received your payment of USD {paid['final_amount']}" in mail.body_text
    assert "Amount due" not in mail.body_text
    [attachment] = mail.attachments
    assert attachment.filename == f"{paid['invoice_number']}.pdf"


async def test_a_cancelled_invoice_is_not_sent(
    client: httpx.AsyncClient,
    temporal_client: Client,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    _, booking_id, admin = await booked(client, temporal_client, task_queue, sessionmaker)
    cancelled = await invoice_for_booking(client, admin, booking_id, status="cancelled")

    refused = await client.post(f"/invoices/{cancelled['id']}/send", headers=admin)

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "INVOICE_CANCELLED"
    async with sessionmaker() as db:
        sent = await db.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.reference_id == uuid.UUID(cancelled["id"]))
        )
    assert sent == 0


async def test_a_sending_the_worker_cannot_finish_in_time_is_503_and_its_repeat_sends_once(
    client: httpx.AsyncClient,
    temporal_client: Client,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    _, booking_id, admin = await booked(client, temporal_client, task_queue, sessionmaker)
    invoice = await invoice_for_booking(client, admin, booking_id)
    # An API whose worker is away (no one polls its queue), with a one-second workflow
    # deadline: the delivery's own wait (30 s at most) is bounded by it.
    away_settings = settings.model_copy(
        update={"task_queue": f"{task_queue}-away", "workflow_deadline_seconds": 1}
    )
    away = create_app(away_settings, temporal=temporal_client)
    headers = {**admin, "Idempotency-Key": "send-once"}
    transport = httpx.ASGITransport(app=away, raise_app_exceptions=False)
    async with (
        away.router.lifespan_context(away),
        httpx.AsyncClient(transport=transport, base_url="http://testserver/api/v1") as api,
    ):
        started = time.monotonic()
        pending = await api.post(f"/invoices/{invoice['id']}/send", headers=headers)
        assert time.monotonic() - started < 5

        assert pending.status_code == 503, pending.text
        assert pending.json()["error"]["code"] == "INVOICE_DELIVERY_PENDING"
        assert "Idempotency-Key" in pending.json()["message"]

        # The worker is back (and the API waits its usual time): the same request reaches
        # the sending already waiting.
        away.dependency_overrides[delivery_deadline] = lambda: timedelta(seconds=30)
        async with build_worker(temporal_client, away_settings, sessionmaker):
            sent = await api.post(f"/invoices/{invoice['id']}/send", headers=headers)
            assert sent.status_code == 200, sent.text
            [mail] = await invoice_mails(sessionmaker, invoice["id"], 1)
            await asyncio.sleep(0.5)
            assert len(await invoice_mails(sessionmaker, invoice["id"], 1)) == 1
    assert sent.json()["data"]["pdf_url"].endswith(f"/invoices/{invoice['id']}/pdf")
    [attachment] = mail.attachments
    assert attachment.filename == f"{invoice['invoice_number']}.pdf"
