"""An appointment's money over HTTP with the real stack: the Stripe SDK against localstripe, the
production worker, the Temporal dev server and PostgreSQL. A prepaid appointment is paid through
the payment workflow and only then confirmable; a cancellation is refunded at the gateway by the
notice given (in full, or the late percent) and the appointment hears it; a completed
consultation gets its invoice, e-mailed once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from domain.models.notifications import Notification
from domain.models.payments import Invoice, Payment
from runtime.settings import Settings
from tests.api.test_payments import WEBHOOK_SECRET, customer_pays, signed, succeeded_event
from tests.builders.appointment_builders import Clinic, booked, clinic, later
from tests.builders.helpers import eventually, mails_about, row_becomes
from tests.fixtures.payment_fixtures import LocalStripe
from workflows.messages import appointment_workflow_id

pytest_plugins = ["tests.fixtures.payment_fixtures"]
pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings], localstripe: LocalStripe, tmp_path: Path
) -> Settings:
    return make_settings(
        stripe_secret_key=localstripe.api_key,
        stripe_api_base=localstripe.url,
        stripe_publishable_key="pk_test_medivoy",
        stripe_webhook_secret=WEBHOOK_SECRET,
        storage_dir=str(tmp_path / "files"),
        # The call opens two hours ahead: the completion test joins an hour before its start.
        video_open_minutes=120,
        workflow_deadline_seconds=30,
    )


async def _pay(
    client: httpx.AsyncClient,
    localstripe: LocalStripe,
    sessionmaker: async_sessionmaker[AsyncSession],
    c: Clinic,
    appointment_id: str,
) -> str:
    """The patient pays the fee at Stripe; Stripe's signed webhook tells us. Returns the
    payment's id once the appointment has been told (the doctor's 'paid' notice)."""
    wrong = await client.post(
        "/payments",
        headers=c["patient"],
        json={
            "appointment_id": appointment_id,
            "currency": "USD",
            "payment_gateway": "stripe",
            "amount": "1.00",
        },
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "AMOUNT_MISMATCH"
    created = await client.post(
        "/payments",
        headers=c["patient"],
        json={
            "appointment_id": appointment_id,
            "currency": "USD",
            "payment_method": "card",
            "payment_gateway": "stripe",
            "amount": "80.00",
        },
    )
    assert created.status_code == 201, created.text
    checkout = created.json()["data"]
    # The doctor's fee, priced on the server.
    assert Decimal(checkout["amount"]) == Decimal("80.00") and checkout["currency"] == "USD"
    payment_id, intent_id = checkout["payment_id"], checkout["gateway_id"]
    await asyncio.to_thread(customer_pays, localstripe, intent_id)
    raw, headers = signed(succeeded_event(intent_id, payment_id))
    assert (await client.post("/webhooks/stripe", content=raw, headers=headers)).is_success
    await row_becomes(sessionmaker, Payment, uuid.UUID(payment_id), "completed")
    doctor = c.users["doctor"]
    key = f"appointment:{appointment_id}:paid:{doctor.id}"

    async def told() -> Notification | None:
        async with sessionmaker() as db:
            return await db.scalar(select(Notification).where(Notification.dedupe_key == key))

    await eventually(told, 30)
    return payment_id


async def _confirm(client: httpx.AsyncClient, c: Clinic, appointment_id: str) -> httpx.Response:
    return await client.patch(
        f"/appointments/{appointment_id}/status",
        headers=c["doctor"],
        json={"status": "appointment_confirmed"},
    )


async def _refunds_at_stripe(localstripe: LocalStripe, payment_id: str) -> list[str]:
    """The bodies of the refunds asked of Stripe for this payment (localstripe serves the
    whole session)."""
    return [r.body for r in localstripe.posted("/v1/refunds") if payment_id in r.body]


async def _invoices(
    sessionmaker: async_sessionmaker[AsyncSession], appointment_id: str
) -> list[Invoice]:
    async with sessionmaker() as db:
        return list(
            await db.scalars(
                select(Invoice).where(Invoice.appointment_id == uuid.UUID(appointment_id))
            )
        )


async def test_a_prepaid_appointment_confirms_once_paid_and_full_notice_refunds_all(
    client: httpx.AsyncClient,
    temporal_client: Client,
    localstripe: LocalStripe,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    c = await clinic(sessionmaker, client, requires_prepayment=True)
    made = await booked(client, c["patient"], c.doctor_id, later(days=3))
    appointment_id = made["id"]
    assert made["payment_due_at"] is not None
    unpaid = await _confirm(client, c, appointment_id)
    assert unpaid.status_code == 409 and unpaid.json()["error"]["code"] == "PAYMENT_REQUIRED"
    before = (await client.get(f"/appointments/{appointment_id}", headers=c["patient"])).json()
    assert before["data"]["payments"] == [] and before["data"]["payment_status"] is None

    payment_id = await _pay(client, localstripe, sessionmaker, c, appointment_id)
    confirmed = await _confirm(client, c, appointment_id)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["data"]["status"] == "appointment_confirmed"
    # The invoice waits for the consultation.
    assert await _invoices(sessionmaker, appointment_id) == []

    cancelled = await client.request(
        "DELETE",
        f"/appointments/{appointment_id}",
        headers=c["patient"],
        json={"reason": "Feeling better"},
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["data"]["status"] == "cancelled"
    # Three days' notice: everything goes back, at Stripe.
    refunded = await row_becomes(sessionmaker, Payment, uuid.UUID(payment_id), "refunded")
    assert refunded.refund_amount == Decimal("80.00")
    ours = await _refunds_at_stripe(localstripe, payment_id)
    assert len(ours) == 1 and "amount=8000" in ours[0], ours
    # The appointment's workflow heard the refund, then ended.
    handle = temporal_client.get_workflow_handle(appointment_workflow_id(uuid.UUID(appointment_id)))
    view: dict[str, Any] = await asyncio.wait_for(handle.result(), 30)
    assert view["status"] == "cancelled" and view["refund_percent"] == "100"
    assert (view["refunded"], view["refund_outcome"]) == ("80.00", "refunded")
    await mails_about(sessionmaker, c.users["patient"].email, "Refund of USD 80.00")
    assert await _invoices(sessionmaker, appointment_id) == []
    # The refund is on the appointment, for the patient and the doctor alike.
    for who in ("patient", "doctor"):
        got = await client.get(f"/appointments/{appointment_id}", headers=c[who])
        data = got.json()["data"]
        assert (data["payment_status"], data["refunded_amount"]) == ("refunded", "80.00")
        [shown] = data["payments"]
        assert shown["id"] == payment_id and shown["status"] == "refunded"
        assert (shown["amount"], shown["refund_amount"]) == ("80.00", "80.00")
        assert shown["refund_date"] is not None
    # Lists leave the payments out (None), only the detail reads them.
    listed = await client.get("/appointments", headers=c["patient"])
    assert all(a["payments"] is None for a in listed.json()["data"])


async def test_a_late_cancellation_refunds_the_late_percent_at_the_gateway(
    client: httpx.AsyncClient,
    temporal_client: Client,
    localstripe: LocalStripe,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # The doctor takes changes up to 2 h before; the refund policy gives 100 % from 24 h, 50 %
    # from 2 h.
    c = await clinic(sessionmaker, client, requires_prepayment=True, change_notice_hours=2)
    # About three hours ahead: inside the 24 h notice, beyond 2 h (the default policy's 50 %).
    made = await booked(client, c["patient"], c.doctor_id, later(days=0, hours=3))
    appointment_id = made["id"]
    payment_id = await _pay(client, localstripe, sessionmaker, c, appointment_id)
    assert (await _confirm(client, c, appointment_id)).status_code == 200
    cancelled = await client.request(
        "DELETE",
        f"/appointments/{appointment_id}",
        headers=c["patient"],
        json={"reason": "Something came up"},
    )
    assert cancelled.status_code == 200, cancelled.text
    part = await row_becomes(sessionmaker, Payment, uuid.UUID(payment_id), "partially_refunded")
    assert part.refund_amount == Decimal("40.00")
    ours = await _refunds_at_stripe(localstripe, payment_id)
    assert len(ours) == 1 and "amount=4000" in ours[0], ours
    handle = temporal_client.get_workflow_handle(appointment_workflow_id(uuid.UUID(appointment_id)))
    view: dict[str, Any] = await asyncio.wait_for(handle.result(), 30)
    assert view["refund_percent"] == "50"
    assert (view["refunded"], view["refund_outcome"]) == ("40.00", "refunded")
    got = (await client.get(f"/appointments/{appointment_id}", headers=c["patient"])).json()
    assert (got["data"]["payment_status"], got["data"]["refunded_amount"]) == (
        "partially_refunded",
        "40.00",
    )


async def test_a_completed_consultation_issues_one_invoice_and_emails_it_once(
    client: httpx.AsyncClient,
    temporal_client: Client,
    localstripe: LocalStripe,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    c = await clinic(sessionmaker, client, requires_prepayment=True)
    made = await booked(client, c["patient"], c.doctor_id, later(days=0, hours=1))
    appointment_id = made["id"]
    payment_id = await _pay(client, localstripe, sessionmaker, c, appointment_id)
    assert (await _confirm(client, c, appointment_id)).status_code == 200
    # Paid, not yet consulted: no invoice.
    assert await _invoices(sessionmaker, appointment_id) == []
    for who in ("doctor", "patient"):
        joined = await client.get(f"/appointments/{appointment_id}/video-call", headers=c[who])
        assert joined.status_code == 200, joined.text

    async def in_progress() -> bool:
        got = await client.get(f"/appointments/{appointment_id}", headers=c["doctor"])
        return bool(got.json()["data"]["status"] == "consultation_in_progress")

    await eventually(in_progress, 30)
    done = await client.patch(
        f"/appointments/{appointment_id}/status",
        headers=c["doctor"],
        json={"status": "consultation_completed"},
    )
    assert done.status_code == 200, done.text
    handle = temporal_client.get_workflow_handle(appointment_workflow_id(uuid.UUID(appointment_id)))
    await asyncio.wait_for(handle.result(), 60)

    [invoice] = await _invoices(sessionmaker, appointment_id)
    assert invoice.final_amount == Decimal("80.00") and invoice.pdf_storage_key is not None
    async with sessionmaker() as db:
        payment = await db.get(Payment, uuid.UUID(payment_id))
    assert payment is not None and payment.status == "completed"
    mails = await mails_about(sessionmaker, c.users["patient"].email, invoice.invoice_number)
    assert len(mails) == 1 and f"/invoices/{invoice.id}/pdf" in mails[0].body_text
    pdf = await client.get(f"/invoices/{invoice.id}/pdf", headers=c["patient"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
