"""Payments over HTTP with the real Stripe SDK against localstripe, the real worker and database:
checkout, a signed webhook, the invoice and its e-mail, duplicates, bad signatures, refunds."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from domain.models.bookings import Booking
from domain.models.payments import (
    Coupon,
    Invoice,
    Payment,
    PaymentStatusHistory,
    WebhookEvent,
)
from runtime.settings import Settings
from runtime.temporal_server import TemporalDevServer
from tests.builders.helpers import eventually, mails_about
from tests.builders.payment_builders import Cast, confirmed_booking, make_cast
from tests.builders.users import headers_for
from tests.fixtures.payment_fixtures import LocalStripe


@pytest.fixture
def client(client: httpx.AsyncClient, worker: Worker) -> httpx.AsyncClient:
    """The API with the worker running: every payment is a workflow."""
    return client


pytest_plugins = ["tests.fixtures.payment_fixtures"]

WEBHOOK_SECRET = "whsec_medivoy_test"


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
    )


def customer_pays(localstripe: LocalStripe, intent_id: str) -> None:
    """What Stripe.js does in the browser: attach a test card and confirm."""
    client = stripe.StripeClient(localstripe.api_key, base_addresses={"api": localstripe.url})
    client.v1.payment_intents.update(intent_id, params={"payment_method": "pm_card_visa"})
    client.v1.payment_intents.confirm(intent_id)


def signed(event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.{body.decode()}".encode(), hashlib.sha256)
    return body, {"Stripe-Signature": f"t={stamp},v1={mac.hexdigest()}"}


def succeeded_event(intent_id: str, payment_id: str) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "status": "succeeded",
                "metadata": {"payment_id": payment_id},
            }
        },
    }


async def ready(
    client: httpx.AsyncClient,
    temporal_client: Client,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> tuple[Cast, uuid.UUID, dict[str, str], dict[str, str]]:
    cast = await make_cast(sessionmaker, country="Turkey")
    booking_id = await confirmed_booking(temporal_client, task_queue, cast, now=datetime.now(UTC))
    patient = headers_for(cast.patient)
    admin = headers_for(cast.admin)
    return cast, booking_id, patient, admin


async def booking_status(
    sessionmaker: async_sessionmaker[AsyncSession], booking_id: uuid.UUID, status: str
) -> Booking:
    async def probe() -> Booking | None:
        async with sessionmaker() as db:
            booking = await db.get(Booking, booking_id)
        return booking if booking is not None and booking.status == status else None

    return await eventually(probe, 30)


async def test_stripe_checkout_webhook_invoice_email_and_refunds(
    client: httpx.AsyncClient,
    temporal_client: Client,
    task_queue: str,
    localstripe: LocalStripe,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    cast, booking_id, patient, admin = await ready(
        client, temporal_client, task_queue, sessionmaker
    )

    wrong = await client.post(
        "/payments",
        headers=patient,
        json={
            "booking_id": str(booking_id),
            "currency": "USD",
            "payment_gateway": "stripe",
            "amount": "10.00",
        },
    )
    assert wrong.status_code == 400, wrong.text
    assert wrong.json()["error"]["code"] == "AMOUNT_MISMATCH"

    body = {
        "booking_id": str(booking_id),
        "currency": "USD",
        "payment_method": "card",
        "payment_gateway": "stripe",
        "amount": "1000.00",
    }
    created = await client.post(
        "/payments", headers={**patient, "Idempotency-Key": "checkout-1"}, json=body
    )
    assert created.status_code == 201, created.text
    checkout = created.json()["data"]
    assert checkout["client_secret"] and checkout["publishable_key"] == "pk_test_medivoy"
    assert Decimal(checkout["amount"]) == Decimal("1000.00")
    again = await client.post(
        "/payments", headers={**patient, "Idempotency-Key": "checkout-1"}, json=body
    )
    assert again.status_code == 201 and again.json()["data"] == checkout
    await booking_status(sessionmaker, booking_id, "payment_pending")
    payment_id, intent_id = checkout["payment_id"], checkout["gateway_id"]

    await asyncio.to_thread(customer_pays, localstripe, intent_id)
    live = await client.get(f"/payments/{payment_id}/status", headers=patient)
    assert live.json()["data"]["gateway_state"] == "succeeded"

    # A forged signature: refused, nothing stored.
    event = succeeded_event(intent_id, payment_id)
    forged_body, forged_headers = signed(event, secret="whsec_wrong")
    forged = await client.post("/webhooks/stripe", content=forged_body, headers=forged_headers)
    assert forged.status_code == 400
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(WebhookEvent)) == 0

    raw, headers = signed(event)
    first = await client.post("/webhooks/stripe", content=raw, headers=headers)
    assert first.status_code == 200, first.text
    # The same event again (the plan's route): stored once, acted on once.
    second = await client.post("/payments/webhook", content=raw, headers=headers)
    assert second.status_code == 200 and second.json()["data"]["duplicate"] is True

    booking = await booking_status(sessionmaker, booking_id, "invoice_sent")
    assert booking.payment_status == "paid"
    async with sessionmaker() as db:
        events = await db.scalar(select(func.count()).select_from(WebhookEvent))
        invoices = list(await db.scalars(select(Invoice).where(Invoice.booking_id == booking_id)))
        payment = await db.get(Payment, uuid.UUID(payment_id))
    assert events == 1
    assert len(invoices) == 1 and invoices[0].pdf_storage_key is not None
    assert payment is not None and payment.status == "completed"
    invoice = invoices[0]

    mails = await mails_about(sessionmaker, cast.patient.email, invoice.invoice_number)
    assert len(mails) == 1 and f"/invoices/{invoice.id}/pdf" in mails[0].body_text

    pdf = await client.get(f"/invoices/{invoice.id}/pdf", headers=patient)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    listed = await client.get("/invoices", headers=patient)
    assert [i["id"] for i in listed.json()["data"]] == [str(invoice.id)]

    assert (
        await client.post(
            f"/payments/{payment_id}/refund", headers=patient, json={"reason": "mine"}
        )
    ).status_code == 403
    part_body = {"amount": "250.00", "reason": "hotel nights not used"}
    keyed = {**admin, "Idempotency-Key": "refund-hotel"}
    part = await client.post(f"/payments/{payment_id}/refund", headers=keyed, json=part_body)
    assert part.status_code == 200, part.text
    assert part.json()["data"]["status"] == "partially_refunded"
    # Asked again with its key (the answer was lost): the first answer, nothing refunded twice.
    part_again = await client.post(f"/payments/{payment_id}/refund", headers=keyed, json=part_body)
    assert part_again.status_code == 200, part_again.text
    assert part_again.json()["data"]["refund_amount"] == part.json()["data"]["refund_amount"]
    over = await client.post(
        f"/payments/{payment_id}/refund",
        headers=admin,
        json={"amount": "750.01", "reason": "too much"},
    )
    assert over.status_code == 409 and over.json()["error"]["code"] == "REFUND_EXCEEDS_PAYMENT"
    rest = await client.post(
        f"/payments/{payment_id}/refund", headers=admin, json={"reason": "cancelled"}
    )
    assert rest.status_code == 200, rest.text
    assert rest.json()["data"]["status"] == "refunded"
    assert Decimal(rest.json()["data"]["refund_amount"]) == Decimal("1000.00")
    # localstripe serves the whole session: count only this payment's refunds.
    ours = [r for r in localstripe.posted("/v1/refunds") if payment_id in r.body]
    assert len(ours) == 2

    mine = await client.get("/payments", headers=patient)
    assert [p["id"] for p in mine.json()["data"]] == [payment_id]
    other = await make_cast(sessionmaker)
    stranger = headers_for(other.patient)
    assert (await client.get(f"/payments/{payment_id}", headers=stranger)).status_code == 404
    assert (await client.get("/payments", headers=stranger)).json()["data"] == []


async def test_coupon_check_tells_the_discount_or_the_refusal(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    cast = await make_cast(sessionmaker)
    admin = headers_for(cast.admin)
    patient = headers_for(cast.patient)
    made = await client.post(
        "/coupons",
        headers=admin,
        json={
            "code": "SPRING20",
            "discount_type": "percentage",
            "discount_value": "20",
            "min_purchase_amount": "100",
        },
    )
    assert made.status_code == 201, made.text

    good = await client.get("/coupons/SPRING20", params={"amount": "500.00"}, headers=patient)
    assert good.json()["data"]["valid"] is True
    assert Decimal(good.json()["data"]["discount_amount"]) == Decimal("100.00")
    small = await client.get("/coupons/SPRING20", params={"amount": "50"}, headers=patient)
    assert small.json()["data"]["refusal_code"] == "COUPON_MIN_PURCHASE"
    unknown = await client.get("/coupons/NOPE", params={"amount": "50"}, headers=patient)
    assert unknown.json()["data"]["refusal_code"] == "COUPON_NOT_FOUND"
    assert (await client.get("/coupons", headers=patient)).status_code == 403


# ---- a worker dies mid-payment -----------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent.parent


def _crash_worker(
    settings: Settings, temporal_address: str, data_dir: Path, crash_at: str | None
) -> subprocess.Popen[bytes]:
    """A real worker process (`medivoy worker`, or tests.fixtures.crash_worker that SIGKILLs
    itself at `crash_at`) with the same settings as the API under test."""
    env = {
        **os.environ,
        "MEDIVOY_DATABASE_URL": settings.database_url,
        "MEDIVOY_TEMPORAL_ADDRESS": temporal_address,
        "MEDIVOY_TASK_QUEUE": settings.task_queue,
        "MEDIVOY_JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "MEDIVOY_DATA_DIR": str(data_dir),
        "MEDIVOY_STORAGE_DIR": settings.storage_dir,
        "MEDIVOY_STRIPE_SECRET_KEY": settings.stripe_secret_key.get_secret_value(),
        "MEDIVOY_STRIPE_API_BASE": settings.stripe_api_base,
        "MEDIVOY_STRIPE_PUBLISHABLE_KEY": settings.stripe_publishable_key,
        "MEDIVOY_STRIPE_WEBHOOK_SECRET": settings.stripe_webhook_secret.get_secret_value(),
        "MEDIVOY_LOG_JSON": "false",
        "MEDIVOY_LOG_LEVEL": "WARNING",
    }
    if crash_at is not None:
        env["MEDIVOY_TEST_CRASH_AT"] = crash_at
        command = [sys.executable, "-m", "tests.fixtures.crash_worker"]
    else:
        command = [sys.executable, "-m", "cli.main", "worker"]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def _died(process: subprocess.Popen[bytes], within: float = 60) -> None:
    async def probe() -> bool:
        return process.poll() is not None

    await eventually(probe, within)
    assert process.returncode == -signal.SIGKILL


async def test_workers_killed_mid_payment_leave_one_intent_one_invoice_and_one_email(
    app: FastAPI,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    temporal_dev_server: TemporalDevServer,
    localstripe: LocalStripe,
    tmp_path: Path,
) -> None:
    """Two workers are SIGKILLed: the first right after the gateway created the intent and
    before its id was written, the second right after the invoice row was committed and before
    Temporal heard of it. A third finishes: one intent, one charge, one invoice, one e-mail."""
    address = temporal_dev_server.address
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as client:
            cast = await make_cast(sessionmaker, country="Turkey")
            processes.append(
                _crash_worker(settings, address, tmp_path, "record_payment_transition:2:before")
            )
            booking_id = await confirmed_booking(
                temporal_client, settings.task_queue, cast, now=datetime.now(UTC)
            )
            patient = headers_for(cast.patient)
            body = {"booking_id": str(booking_id), "currency": "USD", "payment_gateway": "stripe"}
            checkout_call = asyncio.ensure_future(
                client.post("/payments", headers={**patient, "Idempotency-Key": "k1"}, json=body)
            )
            await _died(processes[0])
            processes.append(_crash_worker(settings, address, tmp_path, "create_invoice:after"))
            created = await asyncio.wait_for(checkout_call, 90)
            # Past the API's deadline the answer is 503 with the id to come; the same request
            # with the same Idempotency-Key reaches that payment (rule 11).
            for _ in range(60):
                if created.status_code != 503:
                    break
                assert created.json()["error"]["code"] == "WORKFLOW_UNAVAILABLE", created.text
                created = await client.post(
                    "/payments", headers={**patient, "Idempotency-Key": "k1"}, json=body
                )
            assert created.status_code == 201, created.text
            payment_id = created.json()["data"]["payment_id"]
            intent_id = created.json()["data"]["gateway_id"]

            await asyncio.to_thread(customer_pays, localstripe, intent_id)
            raw, headers = signed(succeeded_event(intent_id, payment_id))
            assert (await client.post("/webhooks/stripe", content=raw, headers=headers)).is_success
            await _died(processes[1])
            processes.append(_crash_worker(settings, address, tmp_path, None))

            await booking_status(sessionmaker, booking_id, "invoice_sent")

        intents = [r for r in localstripe.posted("/v1/payment_intents") if payment_id in r.body]
        assert len(intents) == 1
        confirms = localstripe.posted(f"/v1/payment_intents/{intent_id}/confirm")
        assert len(confirms) == 1
        async with sessionmaker() as db:
            history = list(
                await db.scalars(
                    select(PaymentStatusHistory.to_status)
                    .where(PaymentStatusHistory.payment_id == uuid.UUID(payment_id))
                    .order_by(PaymentStatusHistory.seq)
                )
            )
            invoices = list(
                await db.scalars(select(Invoice).where(Invoice.booking_id == booking_id))
            )
            payment = await db.get(Payment, uuid.UUID(payment_id))
        assert history == ["pending", "pending", "completed"]
        assert payment is not None and payment.gateway_payment_intent_id == intent_id
        assert len(invoices) == 1

        mails = await mails_about(sessionmaker, cast.patient.email, invoices[0].invoice_number)
        await asyncio.sleep(1)
        assert len(mails) == 1
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


async def _paid_through_stripe(
    client: httpx.AsyncClient,
    localstripe: LocalStripe,
    sessionmaker: async_sessionmaker[AsyncSession],
    booking_id: uuid.UUID,
    patient: dict[str, str],
) -> tuple[str, str]:
    created = await client.post(
        "/payments",
        headers=patient,
        json={"booking_id": str(booking_id), "currency": "USD", "payment_gateway": "stripe"},
    )
    assert created.status_code == 201, created.text
    payment_id, intent_id = (
        created.json()["data"]["payment_id"],
        created.json()["data"]["gateway_id"],
    )
    await asyncio.to_thread(customer_pays, localstripe, intent_id)
    raw, headers = signed(succeeded_event(intent_id, payment_id))
    assert (await client.post("/webhooks/stripe", content=raw, headers=headers)).is_success
    await booking_status(sessionmaker, booking_id, "invoice_sent")
    return payment_id, intent_id


async def _payment_is(
    sessionmaker: async_sessionmaker[AsyncSession], payment_id: str, status: str
) -> Payment:
    async def probe() -> Payment | None:
        async with sessionmaker() as db:
            row = await db.get(Payment, uuid.UUID(payment_id))
        return row if row is not None and row.status == status else None

    return await eventually(probe, 30)


async def test_a_dashboard_refund_is_recorded_and_cancelling_refunds_the_rest_by_policy(
    client: httpx.AsyncClient,
    temporal_client: Client,
    task_queue: str,
    localstripe: LocalStripe,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    _, booking_id, patient, admin = await ready(client, temporal_client, task_queue, sessionmaker)
    payment_id, intent_id = await _paid_through_stripe(
        client, localstripe, sessionmaker, booking_id, patient
    )

    # Support refunds 100.00 in Stripe's dashboard; Stripe tells us with charge.refunded.
    stripe_client = stripe.StripeClient(
        localstripe.api_key, base_addresses={"api": localstripe.url}
    )
    refund = await asyncio.to_thread(
        stripe_client.v1.refunds.create, params={"payment_intent": intent_id, "amount": 10000}
    )
    event = {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": refund["charge"],
                "object": "charge",
                "payment_intent": intent_id,
                "amount_refunded": 10000,
            }
        },
    }
    raw, headers = signed(event)
    assert (await client.post("/webhooks/stripe", content=raw, headers=headers)).is_success
    partial = await _payment_is(sessionmaker, payment_id, "partially_refunded")
    assert partial.refund_amount == Decimal("100.00")

    cancelled = await client.request(
        "DELETE",
        f"/bookings/{booking_id}",
        headers=patient,
        json={"reason": "Surgery done at home after all"},
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["data"]["refund_requested"]["percent"] == "100"

    refunded = await _payment_is(sessionmaker, payment_id, "refunded")
    assert refunded.refund_amount == Decimal("1000.00")
    ours = [r for r in localstripe.posted("/v1/refunds") if payment_id in r.body]
    assert len(ours) == 1 and "amount=90000" in ours[0].body

    async def booking_settled() -> dict[str, Any] | None:
        data = (await client.get(f"/bookings/{booking_id}", headers=admin)).json()["data"]
        return data if data["payment_status"] == "refunded" else None

    data = await eventually(booking_settled, 30)
    assert data["status"] == "cancelled"
    assert data["refund_requested"]["status"] == "refunded"
    assert data["refund_requested"]["refunded_amount"] == "900.00"


async def test_two_patients_racing_for_a_single_use_coupon_only_one_gets_it(
    client: httpx.AsyncClient,
    temporal_client: Client,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    first = await ready(client, temporal_client, task_queue, sessionmaker)
    second = await ready(client, temporal_client, task_queue, sessionmaker)
    made = await client.post(
        "/coupons",
        headers=first[3],
        json={
            "code": "LASTONE",
            "discount_type": "fixed",
            "discount_value": "150",
            "usage_limit": 1,
        },
    )
    assert made.status_code == 201, made.text

    answers = await asyncio.gather(
        *(
            client.post(
                "/payments",
                headers=patient,
                json={
                    "booking_id": str(booking_id),
                    "currency": "USD",
                    "payment_gateway": "stripe",
                    "coupon_code": "LASTONE",
                },
            )
            for _, booking_id, patient, _ in (first, second)
        )
    )

    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 400], [a.text for a in answers]
    won = next(a for a in answers if a.status_code == 201).json()["data"]
    lost = next(a for a in answers if a.status_code == 400).json()
    assert Decimal(won["discount_amount"]) == Decimal("150.00")
    assert Decimal(won["amount"]) == Decimal("850.00")
    assert lost["error"]["code"] == "COUPON_USED_UP"
    async with sessionmaker() as db:
        coupon_uses = await db.scalar(select(Coupon.usage_count).where(Coupon.code == "LASTONE"))
        statuses = sorted((await db.scalars(select(Payment.status))).all())
    assert coupon_uses == 1
    # The loser's attempt is closed, so that patient can simply pay again without the coupon.
    assert statuses == ["cancelled", "pending"]


async def test_a_replayed_webhook_with_a_stale_signature_is_refused_and_not_stored(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    event = succeeded_event("pi_replayed", str(uuid.uuid4()))
    body = json.dumps(event).encode()
    stamp = int(time.time()) - 600  # captured ten minutes ago, replayed now
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{stamp}.{body.decode()}".encode(), hashlib.sha256)

    replayed = await client.post(
        "/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": f"t={stamp},v1={mac.hexdigest()}"},
    )

    assert replayed.status_code == 400
    assert replayed.json()["error"]["code"] == "WEBHOOK_TIMESTAMP_STALE"
    unsigned = await client.post("/payments/webhook", content=body)
    assert unsigned.status_code == 400
    assert unsigned.json()["error"]["code"] == "WEBHOOK_SIGNATURE_MISSING"
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(WebhookEvent)) == 0
