"""Razorpay payments over HTTP with the real SDK against the local Razorpay, the real worker and
database: checkout (an order in paise, our payment as its receipt), Checkout played by the test,
signed webhooks, the invoice and its e-mail, duplicates, forgeries, declines and refunds."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from domain.models.bookings import Booking
from domain.models.payments import Invoice, Payment, WebhookEvent
from runtime.settings import Settings
from tests.builders.helpers import eventually, mails_about
from tests.builders.payment_builders import Cast, confirmed_booking, make_cast
from tests.builders.users import headers_for

if TYPE_CHECKING:
    from tests.fixtures.razorpay_fixtures import LocalRazorpay


@pytest.fixture
def client(client: httpx.AsyncClient, worker: Worker) -> httpx.AsyncClient:
    """The API with the worker running: every payment is a workflow."""
    return client


pytest_plugins = ["tests.fixtures.razorpay_fixtures"]


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings], local_razorpay: LocalRazorpay, tmp_path: Path
) -> Settings:
    return make_settings(
        razorpay_key_id=local_razorpay.key_id,
        razorpay_key_secret=SecretStr(local_razorpay.key_secret),
        razorpay_webhook_secret=SecretStr(local_razorpay.webhook_secret),
        razorpay_base_url=local_razorpay.url,
        tax_rates={"India": Decimal("18")},
        storage_dir=str(tmp_path / "files"),
    )


async def ready(
    client: httpx.AsyncClient,
    temporal_client: Client,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> tuple[Cast, uuid.UUID, dict[str, str], dict[str, str]]:
    cast = await make_cast(sessionmaker, country="India")
    booking_id = await confirmed_booking(
        temporal_client, task_queue, cast, now=datetime.now(UTC), currency="INR"
    )
    patient = headers_for(cast.patient)
    admin = headers_for(cast.admin)
    return cast, booking_id, patient, admin


def checkout_body(booking_id: uuid.UUID) -> dict[str, Any]:
    return {"booking_id": str(booking_id), "currency": "INR", "payment_gateway": "razorpay"}


async def booking_status(
    sessionmaker: async_sessionmaker[AsyncSession], booking_id: uuid.UUID, status: str
) -> Booking:
    async def probe() -> Booking | None:
        async with sessionmaker() as db:
            booking = await db.get(Booking, booking_id)
        return booking if booking is not None and booking.status == status else None

    return await eventually(probe, 30)


async def payment_status(
    sessionmaker: async_sessionmaker[AsyncSession], payment_id: str, status: str
) -> Payment:
    async def probe() -> Payment | None:
        async with sessionmaker() as db:
            payment = await db.get(Payment, uuid.UUID(payment_id))
        return payment if payment is not None and payment.status == status else None

    return await eventually(probe, 30)


async def count(sessionmaker: async_sessionmaker[AsyncSession], model: Any, *where: Any) -> int:
    async with sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_razorpay_checkout_webhook_invoice_email_and_refunds(
    client: httpx.AsyncClient,
    temporal_client: Client,
    task_queue: str,
    local_razorpay: LocalRazorpay,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    cast, booking_id, patient, admin = await ready(
        client, temporal_client, task_queue, sessionmaker
    )

    created = await client.post(
        "/payments",
        headers={**patient, "Idempotency-Key": "rzp-checkout-1"},
        json=checkout_body(booking_id),
    )
    assert created.status_code == 201, created.text
    checkout = created.json()["data"]
    payment_id, order_id = checkout["payment_id"], checkout["order_id"]
    assert checkout["gateway"] == "razorpay" and checkout["currency"] == "INR"
    assert order_id.startswith("order_") and checkout["gateway_id"] == order_id
    assert checkout["key_id"] == local_razorpay.key_id
    assert checkout["client_secret"] is None
    # The server's price: the quotation's ₹1000.00 plus India's 18 % tax, in rupees here...
    assert Decimal(checkout["amount"]) == Decimal("1180.00")
    assert Decimal(checkout["tax_amount"]) == Decimal("180.00")
    # ... and in paise at Razorpay, with our payment as the order's receipt.
    order = local_razorpay.order(order_id)
    assert (order["amount"], order["currency"], order["status"]) == (118000, "INR", "created")
    assert order["receipt"] == payment_id and order["notes"]["payment_id"] == payment_id

    again = await client.post(
        "/payments",
        headers={**patient, "Idempotency-Key": "rzp-checkout-1"},
        json=checkout_body(booking_id),
    )
    assert again.status_code == 201 and again.json()["data"] == checkout
    assert len(local_razorpay.orders_created()) == 1
    await booking_status(sessionmaker, booking_id, "payment_pending")

    live = (await client.get(f"/payments/{payment_id}/status", headers=patient)).json()["data"]
    assert (live["status"], live["gateway_state"], live["gateway_status"]) == (
        "pending",
        "pending",
        "created",
    )

    paid = local_razorpay.customer_pays(order_id)
    live = (await client.get(f"/payments/{payment_id}/status", headers=patient)).json()["data"]
    # Razorpay says paid; only the workflow settles the payment.
    assert (live["gateway_state"], live["gateway_status"]) == ("succeeded", "paid")
    assert Decimal(live["amount_received"]) == Decimal("1180.00")
    assert live["status"] == "pending"

    # A forged signature: refused, nothing stored.
    forged_body, forged_headers = local_razorpay.webhook(
        "payment.captured", paid["id"], secret="not-the-webhook-secret"
    )
    forged = await client.post("/webhooks/razorpay", content=forged_body, headers=forged_headers)
    assert forged.status_code == 400
    assert forged.json()["error"]["code"] == "WEBHOOK_SIGNATURE_INVALID"
    assert await count(sessionmaker, WebhookEvent) == 0

    raw, headers = local_razorpay.webhook("payment.captured", paid["id"])
    first = await client.post("/webhooks/razorpay", content=raw, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["data"]["duplicate"] is False
    # Razorpay redelivers the same event (same id): stored once, acted on once.
    second = await client.post("/webhooks/razorpay", content=raw, headers=headers)
    assert second.status_code == 200 and second.json()["data"]["duplicate"] is True

    booking = await booking_status(sessionmaker, booking_id, "invoice_sent")
    assert booking.payment_status == "paid"
    payment = await payment_status(sessionmaker, payment_id, "completed")
    assert payment.gateway_order_id == order_id
    assert payment.gateway_transaction_id == paid["id"]
    # order.paid follows payment.captured at Razorpay: a second event, nothing done twice.
    raw_paid, headers_paid = local_razorpay.webhook("order.paid", paid["id"])
    order_paid = await client.post("/webhooks/razorpay", content=raw_paid, headers=headers_paid)
    assert order_paid.status_code == 200 and order_paid.json()["data"]["duplicate"] is False

    async with sessionmaker() as db:
        events = list(await db.scalars(select(WebhookEvent).order_by(WebhookEvent.created_at)))
        invoices = list(await db.scalars(select(Invoice).where(Invoice.booking_id == booking_id)))
    assert [(e.gateway, e.event_type) for e in events] == [
        ("razorpay", "payment.captured"),
        ("razorpay", "order.paid"),
    ]
    assert events[0].event_id == headers["X-Razorpay-Event-Id"]
    assert events[0].processed_at is not None
    assert len(invoices) == 1 and invoices[0].pdf_storage_key is not None
    invoice = invoices[0]
    assert (invoice.final_amount, invoice.currency) == (Decimal("1180.00"), "INR")

    mails = await mails_about(sessionmaker, cast.patient.email, invoice.invoice_number)
    assert len(mails) == 1 and f"/invoices/{invoice.id}/pdf" in mails[0].body_text
    pdf = await client.get(f"/invoices/{invoice.id}/pdf", headers=patient)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    assert (
        await client.post(
            f"/payments/{payment_id}/refund", headers=patient, json={"reason": "mine"}
        )
    ).status_code == 403
    part = await client.post(
        f"/payments/{payment_id}/refund",
        headers=admin,
        json={"amount": "250.00", "reason": "hotel nights not used"},
    )
    assert part.status_code == 200, part.text
    assert part.json()["data"]["status"] == "partially_refunded"
    assert local_razorpay.payment(paid["id"])["amount_refunded"] == 25000
    # Razorpay reports the refund: found to be ours (its payment_id note) and delivered to the
    # payment's workflow, which settles nothing on it.
    [first_refund] = local_razorpay.refunds_of(paid["id"])
    raw_refund, headers_refund = local_razorpay.webhook("refund.processed", first_refund["id"])
    reported = await client.post("/webhooks/razorpay", content=raw_refund, headers=headers_refund)
    assert reported.status_code == 200, reported.text
    async with sessionmaker() as db:
        refund_event = await db.scalar(
            select(WebhookEvent).where(WebhookEvent.event_type == "refund.processed")
        )
    assert refund_event is not None and refund_event.processed_at is not None
    over = await client.post(
        f"/payments/{payment_id}/refund",
        headers=admin,
        json={"amount": "930.01", "reason": "too much"},
    )
    assert over.status_code == 409 and over.json()["error"]["code"] == "REFUND_EXCEEDS_PAYMENT"
    rest = await client.post(
        f"/payments/{payment_id}/refund", headers=admin, json={"reason": "cancelled"}
    )
    assert rest.status_code == 200, rest.text
    assert rest.json()["data"]["status"] == "refunded"
    assert Decimal(rest.json()["data"]["refund_amount"]) == Decimal("1180.00")

    # At Razorpay: two refunds of the captured payment, each keyed by its idempotency note.
    assert len(local_razorpay.refunds_created()) == 2
    refunds = sorted(local_razorpay.refunds_of(paid["id"]), key=lambda r: r["created_at"])
    assert [(r["amount"], r["notes"]["idempotency_key"]) for r in refunds] == [
        (25000, f"payment:{payment_id}:refund:1"),
        (93000, f"payment:{payment_id}:refund:2"),
    ]
    at_razorpay = local_razorpay.payment(paid["id"])
    assert (at_razorpay["status"], at_razorpay["amount_refunded"]) == ("refunded", 118000)

    # The last refund's report comes after the fully refunded workflow closed: stored, 200.
    raw_refund, headers_refund = local_razorpay.webhook("refund.processed", refunds[-1]["id"])
    reported = await client.post("/webhooks/razorpay", content=raw_refund, headers=headers_refund)
    assert reported.status_code == 200, reported.text
    async with sessionmaker() as db:
        payment_row = await db.get(Payment, uuid.UUID(payment_id))
    assert payment_row is not None and payment_row.status == "refunded"
    assert (
        await count(sessionmaker, WebhookEvent, WebhookEvent.event_type == "refund.processed") == 2
    )
    assert await count(sessionmaker, Invoice) == 1
    assert len(await mails_about(sessionmaker, cast.patient.email, invoice.invoice_number)) == 1

    live = (await client.get(f"/payments/{payment_id}/status", headers=patient)).json()["data"]
    assert (live["status"], live["gateway_state"]) == ("refunded", "succeeded")


async def test_razorpay_declined_card_fails_the_payment_and_a_new_checkout_is_a_new_order(
    client: httpx.AsyncClient,
    temporal_client: Client,
    task_queue: str,
    local_razorpay: LocalRazorpay,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    _, booking_id, patient, _ = await ready(client, temporal_client, task_queue, sessionmaker)
    created = await client.post("/payments", headers=patient, json=checkout_body(booking_id))
    assert created.status_code == 201, created.text
    first = created.json()["data"]
    await booking_status(sessionmaker, booking_id, "payment_pending")

    declined = local_razorpay.card_declined(first["order_id"])
    raw, headers = local_razorpay.webhook("payment.failed", declined["id"])
    received = await client.post("/webhooks/razorpay", content=raw, headers=headers)
    assert received.status_code == 200, received.text

    failed = await payment_status(sessionmaker, first["payment_id"], "failed")
    assert failed.failure_reason == "card_declined"
    booking = await booking_status(sessionmaker, booking_id, "confirmed")
    assert booking.payment_status == "unpaid"

    retried = await client.post("/payments", headers=patient, json=checkout_body(booking_id))
    assert retried.status_code == 201, retried.text
    second = retried.json()["data"]
    assert second["payment_id"] != first["payment_id"]
    assert second["order_id"] != first["order_id"]
    assert len(local_razorpay.orders_created()) == 2
    assert local_razorpay.order(second["order_id"])["receipt"] == second["payment_id"]
    await booking_status(sessionmaker, booking_id, "payment_pending")


async def test_razorpay_retry_in_checkout_after_a_decline_is_not_lost(
    client: httpx.AsyncClient,
    temporal_client: Client,
    task_queue: str,
    local_razorpay: LocalRazorpay,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    _, booking_id, patient, _ = await ready(client, temporal_client, task_queue, sessionmaker)
    created = await client.post("/payments", headers=patient, json=checkout_body(booking_id))
    assert created.status_code == 201, created.text
    checkout = created.json()["data"]
    payment_id, order_id = checkout["payment_id"], checkout["order_id"]

    declined = local_razorpay.card_declined(order_id)
    raw, headers = local_razorpay.webhook("payment.failed", declined["id"])
    assert (await client.post("/webhooks/razorpay", content=raw, headers=headers)).is_success
    await payment_status(sessionmaker, payment_id, "failed")

    # Razorpay Checkout offers a retry on the same order; the second card goes through.
    paid = local_razorpay.customer_pays(order_id)
    raw, headers = local_razorpay.webhook("payment.captured", paid["id"])
    assert (await client.post("/webhooks/razorpay", content=raw, headers=headers)).is_success

    async def refunded() -> list[Any] | None:
        # The attempt was already called failed (the patient was told to pay again), so the
        # late capture is given back in full rather than kept on a closed payment.
        return local_razorpay.refunds_of(paid["id"]) or None

    [refund] = await eventually(refunded, 15)
    assert refund["amount"] == paid["amount"]

    async def recorded() -> Payment | None:
        async with sessionmaker() as db:
            payment = await db.get(Payment, uuid.UUID(payment_id))
        return payment if payment is not None and payment.refund_amount else None

    payment = await eventually(recorded, 15)
    assert payment.status == "failed"
    assert payment.refund_amount == Decimal(paid["amount"]) / 100
    assert (payment.metadata_ or {})["late_payment"]["charge_id"] == paid["id"]
