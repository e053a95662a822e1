"""PaymentWorkflow on the time-skipping server: the real database, booking workflow, coupons, PDF
and outbox; an in-memory gateway (tests/builders/payment_builders.FakeGateway) plays Stripe."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.bookings import BookingActivities, booking_activity_list
from activities.coupons import CouponActivities, coupon_activity_list
from activities.documents import build_document_activities, document_activity_list
from activities.notify import NotificationActivities, notification_activity_list
from activities.payments import NewPayment, PaymentActivities, payment_activity_list
from activities.providers.outbox import (
    OutboxEmail,
    OutboxMessages,
    read_outbox,
    read_outbox_attachment,
)
from activities.providers.webhooks import Outcome
from activities.providers.wiring import build_storage
from domain.booking import BookingStatus
from domain.models.bookings import Booking
from domain.models.notifications import Channel
from domain.models.payments import (
    Coupon,
    Invoice,
    Payment,
    PaymentRefund,
    PaymentStatusHistory,
)
from domain.payment import PaymentGateway as GatewayName
from domain.payment import PaymentStatus
from runtime.settings import Settings
from tests.builders.helpers import eventually, mails_about, outbox_for, refused, row_becomes
from tests.builders.payment_builders import (
    Cast,
    FakeGateway,
    confirmed_booking,
    make_cast,
    make_coupon,
)
from tests.fixtures.workers import new_worker
from workflows.booking import WORKFLOWS as BOOKING_WORKFLOWS
from workflows.booking import BookingWorkflow, Cancellation, StatusChange
from workflows.booking import workflow_id as booking_workflow_id
from workflows.invoice import WORKFLOWS as INVOICE_WORKFLOWS
from workflows.notification import WORKFLOWS as NOTIFICATION_WORKFLOWS
from workflows.payment import (
    Caller,
    GatewayEventSignal,
    PaymentCheckout,
    PaymentInput,
    PaymentTimers,
    PaymentView,
    PaymentWorkflow,
    RefundCommand,
    open_payment,
    workflow_id,
)

P = PaymentStatus
HISTORY_FILE = Path(__file__).resolve().parent.parent / "histories" / "payment_workflow.json"
TIMERS = PaymentTimers(reconcile_minutes=10, window_hours=24, refund_days=30)


@pytest.fixture
def env(indexed_env: WorkflowEnvironment) -> WorkflowEnvironment:
    """A time-skipping server of this test's own (tests/conftest.py indexed_env says why)."""
    return indexed_env


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def pay_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_secret="x" * 32,
        storage_dir=str(tmp_path / "files"),
        tax_rates={"India": Decimal("18")},
    )


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    gateway: FakeGateway,
    pay_settings: Settings,
) -> AsyncIterator[Worker]:
    from concurrent.futures import ThreadPoolExecutor

    notifications = NotificationActivities(
        sessionmaker,
        OutboxEmail(sessionmaker),
        OutboxMessages(sessionmaker, Channel.SMS),
        OutboxMessages(sessionmaker, Channel.WHATSAPP),
        storage=build_storage(pay_settings),
    )
    payments = PaymentActivities(sessionmaker, {GatewayName.STRIPE: gateway}, pay_settings)
    running = new_worker(
        env,
        task_queue,
        PaymentWorkflow,
        *INVOICE_WORKFLOWS,
        *BOOKING_WORKFLOWS,
        *NOTIFICATION_WORKFLOWS,
        activities=[
            *payment_activity_list(payments),
            *coupon_activity_list(CouponActivities(sessionmaker)),
            *document_activity_list(
                build_document_activities(pay_settings, sessionmaker, build_storage(pay_settings))
            ),
            *booking_activity_list(BookingActivities(sessionmaker)),
            *notification_activity_list(notifications),
        ],
        activity_executor=ThreadPoolExecutor(max_workers=4),
    )
    async with running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def cast(sessionmaker: async_sessionmaker[AsyncSession]) -> Cast:
    return await make_cast(sessionmaker)


async def booking_ready(env: WorkflowEnvironment, task_queue: str, cast: Cast) -> uuid.UUID:
    return await confirmed_booking(env.client, task_queue, cast, now=await env.get_current_time())


async def start_payment(
    env: WorkflowEnvironment,
    task_queue: str,
    cast: Cast,
    booking_id: uuid.UUID,
    *,
    coupon: str | None = None,
    amount: Decimal | None = None,
) -> tuple[PaymentCheckout, WorkflowHandle[Any, Any]]:
    payment_id = uuid.uuid4()
    checkout = await open_payment(
        env.client,
        task_queue,
        PaymentInput(
            payment=NewPayment(
                payment_id=payment_id,
                booking_id=booking_id,
                currency="USD",
                payment_method="card",
                gateway=GatewayName.STRIPE,
                coupon_code=coupon,
                client_amount=amount,
                created_by_user_id=cast.patient.id,
                created_by_role="patient",
            ),
            timers=TIMERS,
        ),
    )
    handle = env.client.get_workflow_handle(workflow_id(payment_id), result_type=PaymentView)
    return checkout, handle


async def payment_becomes(
    sessionmaker: async_sessionmaker[AsyncSession], payment_id: uuid.UUID, status: PaymentStatus
) -> Payment:
    return await row_becomes(sessionmaker, Payment, payment_id, status)


async def booking_becomes(
    sessionmaker: async_sessionmaker[AsyncSession], booking_id: uuid.UUID, status: BookingStatus
) -> Booking:
    return await row_becomes(sessionmaker, Booking, booking_id, status)


async def succeeded(handle: WorkflowHandle[Any, Any]) -> None:
    await handle.signal(
        PaymentWorkflow.gateway_event,
        GatewayEventSignal(
            event_id=f"evt_{uuid.uuid4().hex}",
            event_type="payment_intent.succeeded",
            outcome=Outcome.SUCCEEDED,
        ),
    )


async def test_paid_checkout_with_webhook_completes_invoices_and_emails_the_patient(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
    pay_settings: Settings,
) -> None:
    booking_id = await booking_ready(env, task_queue, cast)

    checkout, handle = await start_payment(env, task_queue, cast, booking_id, amount=Decimal(1000))

    # The server's price: the quotation's 1000.00 plus India's 18 % tax.
    assert checkout.amount == Decimal("1180.00")
    assert checkout.tax_amount == Decimal("180.00")
    assert checkout.client_secret and checkout.client_secret.startswith(checkout.gateway_id or "")
    await booking_becomes(sessionmaker, booking_id, BookingStatus.PAYMENT_PENDING)

    assert checkout.gateway_id is not None
    gateway.pay(checkout.gateway_id)
    await succeeded(handle)

    payment = await payment_becomes(sessionmaker, checkout.payment_id, P.COMPLETED)
    assert payment.payment_date is not None
    assert payment.gateway_payment_intent_id == checkout.gateway_id
    booking = await booking_becomes(sessionmaker, booking_id, BookingStatus.INVOICE_SENT)
    assert booking.payment_status == "paid"
    async with sessionmaker() as db:
        invoice = await db.scalar(select(Invoice).where(Invoice.booking_id == booking_id))
        history = list(
            await db.scalars(
                select(PaymentStatusHistory.to_status)
                .where(PaymentStatusHistory.payment_id == checkout.payment_id)
                .order_by(PaymentStatusHistory.seq)
            )
        )
    assert invoice is not None
    assert invoice.final_amount == Decimal("1180.00") and invoice.tax_amount == Decimal("180.00")
    assert invoice.pdf_storage_key == f"invoices/{invoice.id}"
    assert history == ["pending", "pending", "completed"]
    mails = await outbox_for(sessionmaker, cast.patient.email, count=1)
    invoice_mails = [m for m in mails if invoice.invoice_number in (m.subject or "")]
    assert invoice_mails and f"/invoices/{invoice.id}/pdf" in invoice_mails[0].body_text
    # The PDF itself is attached: the stored invoice, byte for byte.
    stored = await read_outbox(sessionmaker, dedupe_key=invoice_mails[0].dedupe_key)
    (attachment,) = stored[0].attachments
    assert attachment.filename == f"{invoice.invoice_number}.pdf"
    assert attachment.content_type == "application/pdf"
    content = await read_outbox_attachment(sessionmaker, attachment.id)
    kept = await build_storage(pay_settings).get(f"invoices/{invoice.id}")
    assert content.startswith(b"%PDF") and content == kept


async def test_without_a_webhook_the_workflow_reads_the_gateway_itself(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    booking_id = await booking_ready(env, task_queue, cast)
    checkout, _ = await start_payment(env, task_queue, cast, booking_id)
    assert checkout.gateway_id is not None
    gateway.pay(checkout.gateway_id)

    await env.sleep(timedelta(minutes=11))

    await payment_becomes(sessionmaker, checkout.payment_id, P.COMPLETED)
    await booking_becomes(sessionmaker, booking_id, BookingStatus.INVOICE_SENT)


async def test_forged_success_event_does_not_complete_an_unpaid_intent(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    booking_id = await booking_ready(env, task_queue, cast)
    checkout, handle = await start_payment(env, task_queue, cast, booking_id)

    await succeeded(handle)

    async def read_back() -> bool:
        return ("retrieve", checkout.gateway_id) in gateway.calls

    await eventually(read_back)
    view = await handle.query(PaymentWorkflow.view)
    assert view.status == P.PENDING
    async with sessionmaker() as db:
        payment = await db.get(Payment, checkout.payment_id)
    assert payment is not None and payment.status == "pending"


async def test_declined_payment_fails_releases_the_coupon_and_a_retry_is_a_new_payment(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    coupon_id = await make_coupon(sessionmaker, "WELCOME10")
    booking_id = await booking_ready(env, task_queue, cast)
    checkout, handle = await start_payment(env, task_queue, cast, booking_id, coupon="WELCOME10")
    # 1000 - 10 % = 900, + 18 % tax = 1062.
    assert checkout.discount_amount == Decimal("100.00")
    assert checkout.amount == Decimal("1062.00")

    # A second checkout while this one is open is refused.
    second = await refused(start_payment(env, task_queue, cast, booking_id))
    assert second.details[0]["code"] == "PAYMENT_ALREADY_PENDING"

    assert checkout.gateway_id is not None
    gateway.decline(checkout.gateway_id)
    await handle.signal(
        PaymentWorkflow.gateway_event,
        GatewayEventSignal(
            event_id="evt_fail", event_type="payment_intent.payment_failed", outcome=Outcome.FAILED
        ),
    )

    failed = await payment_becomes(sessionmaker, checkout.payment_id, P.FAILED)
    assert failed.failure_reason == "card_declined"
    # The declined intent is cancelled so it cannot be paid after we called it failed.
    assert gateway.intents[checkout.gateway_id].status == "canceled"
    await booking_becomes(sessionmaker, booking_id, BookingStatus.CONFIRMED)
    async with sessionmaker() as db:
        coupon = await db.get(Coupon, coupon_id)
    assert coupon is not None and coupon.usage_count == 0
    mails = await outbox_for(sessionmaker, cast.patient.email, count=1)
    assert any("did not go through" in (m.subject or "") for m in mails)

    retry, retry_handle = await start_payment(env, task_queue, cast, booking_id, coupon="WELCOME10")
    assert retry.payment_id != checkout.payment_id and retry.gateway_id != checkout.gateway_id
    assert retry.gateway_id is not None
    gateway.pay(retry.gateway_id)
    await succeeded(retry_handle)
    await payment_becomes(sessionmaker, retry.payment_id, P.COMPLETED)
    await booking_becomes(sessionmaker, booking_id, BookingStatus.INVOICE_SENT)


async def test_unpaid_checkout_expires_after_the_window_and_gives_the_coupon_back(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    coupon_id = await make_coupon(sessionmaker, "LATE10")
    booking_id = await booking_ready(env, task_queue, cast)
    checkout, handle = await start_payment(env, task_queue, cast, booking_id, coupon="LATE10")
    async with sessionmaker() as db:
        coupon = await db.get(Coupon, coupon_id)
    assert coupon is not None and coupon.usage_count == 1

    await env.sleep(timedelta(hours=25))

    expired = await payment_becomes(sessionmaker, checkout.payment_id, P.EXPIRED)
    assert expired.failure_reason == "payment_expired"
    assert checkout.gateway_id is not None
    assert gateway.intents[checkout.gateway_id].status == "canceled"
    async with sessionmaker() as db:
        coupon = await db.get(Coupon, coupon_id)
    assert coupon is not None and coupon.usage_count == 0
    await booking_becomes(sessionmaker, booking_id, BookingStatus.CONFIRMED)
    result = await handle.result()
    assert result.status == P.EXPIRED


async def test_refunds_are_limited_to_what_was_paid(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    booking_id = await booking_ready(env, task_queue, cast)
    checkout, handle = await start_payment(env, task_queue, cast, booking_id)
    admin = Caller(user_id=cast.admin.id, role="admin")

    early = await refused(
        handle.execute_update(PaymentWorkflow.refund, RefundCommand(caller=admin, reason="x"))
    )
    assert early.details[0]["code"] == "PAYMENT_NOT_REFUNDABLE"

    assert checkout.gateway_id is not None
    gateway.pay(checkout.gateway_id)
    await succeeded(handle)
    await payment_becomes(sessionmaker, checkout.payment_id, P.COMPLETED)

    patient = Caller(user_id=cast.patient.id, role="patient")
    forbidden = await refused(
        handle.execute_update(PaymentWorkflow.refund, RefundCommand(caller=patient, reason="mine"))
    )
    assert forbidden.type == "Forbidden"

    part = await handle.execute_update(
        PaymentWorkflow.refund,
        RefundCommand(caller=admin, amount=Decimal("180.00"), reason="tax waived"),
    )
    assert part.status == P.PARTIALLY_REFUNDED and part.refunded == Decimal("180.00")

    over = await refused(
        handle.execute_update(
            PaymentWorkflow.refund,
            RefundCommand(caller=admin, amount=Decimal("1000.01"), reason="too much"),
        )
    )
    assert over.type == "Conflict" and over.details[0]["code"] == "REFUND_EXCEEDS_PAYMENT"

    rest = await handle.execute_update(
        PaymentWorkflow.refund, RefundCommand(caller=admin, reason="treatment cancelled")
    )
    assert rest.status == P.REFUNDED and rest.refunded == Decimal("1180.00")
    assert [key for verb, key in gateway.calls if verb == "refund"] == [
        f"payment:{checkout.payment_id}:refund:1",
        f"payment:{checkout.payment_id}:refund:2",
    ]
    payment = await payment_becomes(sessionmaker, checkout.payment_id, P.REFUNDED)
    assert payment.refund_amount == Decimal("1180.00") and payment.refund_date is not None
    # Each refund on its own row with its own amount and instant (the analytics count each on
    # its day); the last one's instant is the payment's refund_date
    async with sessionmaker() as db:
        refunds = (
            await db.execute(
                select(PaymentRefund.amount, PaymentRefund.refunded_at)
                .where(PaymentRefund.payment_id == checkout.payment_id)
                .order_by(PaymentRefund.seq)
            )
        ).all()
    assert [amount for amount, _ in refunds] == [Decimal("180.00"), Decimal("1000.00")]
    assert refunds[0][1] <= refunds[1][1] == payment.refund_date
    result = await handle.result()
    assert result.status == P.REFUNDED
    if os.environ.get("MEDIVOY_RECORD_HISTORY"):
        await save_history(handle)


async def save_history(
    handle: WorkflowHandle[Any, Any],
    path: Path = HISTORY_FILE,
    workflow_type: str = "PaymentWorkflow",
) -> None:
    """Record a history for test_replay. payment_workflow.json is a whole life (checkout,
    webhook, invoice, two refunds): MEDIVOY_RECORD_HISTORY=1 pytest -k refunds_are_limited;
    payment_cancellation.json and booking_cancellation.json a cancellation refunded by policy:
    MEDIVOY_RECORD_HISTORY=1 pytest -k travel_is_arranged. Any other value than 1 is a suffix:
    the recording is kept beside the older ones (MEDIVOY_RECORD_HISTORY=kit writes
    payment_workflow_kit.json), so runs recorded before a patch still replay."""
    suffix = os.environ.get("MEDIVOY_RECORD_HISTORY", "1")
    if suffix != "1":
        path = path.with_name(f"{path.stem}_{suffix}{path.suffix}")
    history = await handle.fetch_history()
    await asyncio.to_thread(
        path.write_text,
        json.dumps(
            {
                "workflow_type": workflow_type,
                "workflow_id": handle.id,
                "history": json.loads(history.to_json()),
            },
            indent=1,
        ),
    )


# ---- cancellations, wrong amounts, refunds made elsewhere, events out of order ----------------


async def paid_booking(
    env: WorkflowEnvironment,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> tuple[uuid.UUID, PaymentCheckout, WorkflowHandle[Any, Any]]:
    booking_id = await booking_ready(env, task_queue, cast)
    checkout, handle = await start_payment(env, task_queue, cast, booking_id)
    assert checkout.gateway_id is not None
    gateway.pay(checkout.gateway_id)
    await succeeded(handle)
    await booking_becomes(sessionmaker, booking_id, BookingStatus.INVOICE_SENT)
    return booking_id, checkout, handle


def booking_handle(env: WorkflowEnvironment, booking_id: uuid.UUID) -> WorkflowHandle[Any, Any]:
    return env.client.get_workflow_handle_for(BookingWorkflow.run, booking_workflow_id(booking_id))


async def cancel_booking(
    env: WorkflowEnvironment, cast: Cast, booking_id: uuid.UUID, reason: str
) -> None:
    await booking_handle(env, booking_id).execute_update(
        BookingWorkflow.cancel, Cancellation(caller=cast.caller(cast.patient), reason=reason)
    )


async def test_cancelling_after_the_invoice_refunds_everything_and_the_booking_waits_for_it(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    booking_id, checkout, handle = await paid_booking(env, task_queue, cast, gateway, sessionmaker)

    await cancel_booking(env, cast, booking_id, "Visa refused")

    payment = await payment_becomes(sessionmaker, checkout.payment_id, P.REFUNDED)
    assert payment.refund_amount == Decimal("1180.00")
    assert [key for verb, key in gateway.calls if verb == "refund"] == [
        f"payment:{checkout.payment_id}:refund:1"
    ]
    assert checkout.gateway_id is not None
    assert gateway.refunded(checkout.gateway_id) == 118000
    # The booking's workflow ends only once the refund is settled, and records it.
    view = await booking_handle(env, booking_id).result()
    assert view.status == BookingStatus.CANCELLED
    booking = await booking_becomes(sessionmaker, booking_id, BookingStatus.CANCELLED)
    assert booking.payment_status == "refunded"
    assert booking.refund_requested is not None
    assert booking.refund_requested["percent"] == "100"
    assert booking.refund_requested["status"] == "refunded"
    assert booking.refund_requested["refunded_amount"] == "1180.00"
    assert booking.refund_requested["payment_id"] == str(checkout.payment_id)
    # The refund e-mail is started, not awaited, by the refund: wait for it.
    [refund_mail] = await mails_about(sessionmaker, cast.patient.email, "Refund of USD 1180.00")
    assert refund_mail.subject is not None
    assert (await handle.result()).status == P.REFUNDED


async def test_cancelling_once_travel_is_arranged_refunds_by_the_policy(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    booking_id, checkout, handle = await paid_booking(env, task_queue, cast, gateway, sessionmaker)
    admin = Caller(user_id=cast.admin.id, role="admin")
    # A refund made earlier counts towards what the policy gives back.
    await handle.execute_update(
        PaymentWorkflow.refund,
        RefundCommand(caller=admin, amount=Decimal("100.00"), reason="airport transfer unused"),
    )
    await booking_handle(env, booking_id).execute_update(
        BookingWorkflow.change_status,
        StatusChange(caller=cast.caller(cast.coordinator), status=BookingStatus.TRAVEL_ARRANGEMENT),
    )

    await cancel_booking(env, cast, booking_id, "Changed my mind")

    # Half of 1180.00 is 590.00; 100.00 went back already, so 490.00 now.
    await booking_handle(env, booking_id).result()
    payment = await payment_becomes(sessionmaker, checkout.payment_id, P.PARTIALLY_REFUNDED)
    assert payment.refund_amount == Decimal("590.00")
    booking = await booking_becomes(sessionmaker, booking_id, BookingStatus.CANCELLED)
    assert booking.payment_status == "partially_refunded"
    assert booking.refund_requested is not None
    assert booking.refund_requested["percent"] == "50"
    assert booking.refund_requested["refunded_amount"] == "490.00"
    assert booking.refund_requested["refunded_total"] == "590.00"
    if os.environ.get("MEDIVOY_RECORD_HISTORY"):
        await env.sleep(timedelta(days=31))
        await handle.result()
        await save_history(handle, HISTORY_FILE.with_name("payment_cancellation.json"))
        await save_history(
            booking_handle(env, booking_id),
            HISTORY_FILE.with_name("booking_cancellation.json"),
            "BookingWorkflow",
        )


async def test_cancelling_while_the_payment_is_open_cancels_it_and_gives_the_coupon_back(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    coupon_id = await make_coupon(sessionmaker, "OPEN10")
    booking_id = await booking_ready(env, task_queue, cast)
    checkout, handle = await start_payment(env, task_queue, cast, booking_id, coupon="OPEN10")
    await booking_becomes(sessionmaker, booking_id, BookingStatus.PAYMENT_PENDING)

    await cancel_booking(env, cast, booking_id, "Found a closer clinic")

    cancelled = await payment_becomes(sessionmaker, checkout.payment_id, P.CANCELLED)
    assert cancelled.failure_reason == "booking_cancelled"
    assert checkout.gateway_id is not None
    assert gateway.intents[checkout.gateway_id].status == "canceled"
    await booking_handle(env, booking_id).result()
    booking = await booking_becomes(sessionmaker, booking_id, BookingStatus.CANCELLED)
    assert booking.payment_status == "unpaid"
    assert booking.refund_requested is not None
    assert booking.refund_requested["status"] == "payment_cancelled"
    async with sessionmaker() as db:
        coupon = await db.get(Coupon, coupon_id)
        invoices = await db.scalar(select(func.count()).select_from(Invoice))
    assert coupon is not None and coupon.usage_count == 0
    assert invoices == 0
    assert (await handle.result()).status == P.CANCELLED


async def test_paid_just_as_the_booking_was_cancelled_gives_everything_back_without_invoice(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    booking_id = await booking_ready(env, task_queue, cast)
    checkout, handle = await start_payment(env, task_queue, cast, booking_id)
    await booking_becomes(sessionmaker, booking_id, BookingStatus.PAYMENT_PENDING)
    assert checkout.gateway_id is not None
    # The patient pays in one tab and cancels in another; no webhook came yet.
    gateway.pay(checkout.gateway_id)

    await cancel_booking(env, cast, booking_id, "Cancelled in the other tab")

    payment = await payment_becomes(sessionmaker, checkout.payment_id, P.REFUNDED)
    assert payment.refund_amount == Decimal("1180.00") and payment.payment_date is not None
    await booking_handle(env, booking_id).result()
    booking = await booking_becomes(sessionmaker, booking_id, BookingStatus.CANCELLED)
    assert booking.payment_status == "refunded"
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(Invoice)) == 0
    assert (await handle.result()).status == P.REFUNDED


async def test_a_wrong_amount_at_the_gateway_is_given_back_and_the_attempt_fails(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    booking_id = await booking_ready(env, task_queue, cast)
    checkout, handle = await start_payment(env, task_queue, cast, booking_id)
    assert checkout.gateway_id is not None
    gateway.pay_wrong_amount(checkout.gateway_id, received=1000)

    await succeeded(handle)

    failed = await payment_becomes(sessionmaker, checkout.payment_id, P.FAILED)
    assert failed.failure_reason == "amount_mismatch"
    assert failed.refund_amount == Decimal("10.00")
    assert (failed.metadata_ or {})["amount_mismatch"]["expected_minor"] == 118000
    assert gateway.refunded(checkout.gateway_id) == 1000
    await booking_becomes(sessionmaker, booking_id, BookingStatus.CONFIRMED)
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(Invoice)) == 0


async def test_a_refund_made_in_the_gateway_dashboard_is_recorded(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    booking_id, checkout, handle = await paid_booking(env, task_queue, cast, gateway, sessionmaker)
    assert checkout.gateway_id is not None
    gateway.refund_in_dashboard(checkout.gateway_id, 30000)

    await handle.signal(
        PaymentWorkflow.gateway_event,
        GatewayEventSignal(
            event_id="evt_dash_refund", event_type="charge.refunded", outcome=Outcome.REFUNDED
        ),
    )

    payment = await payment_becomes(sessionmaker, checkout.payment_id, P.PARTIALLY_REFUNDED)
    assert payment.refund_amount == Decimal("300.00")
    booking = await booking_becomes(sessionmaker, booking_id, BookingStatus.INVOICE_SENT)

    async def follows() -> bool:
        async with sessionmaker() as db:
            row = await db.get(Booking, booking_id)
        return row is not None and row.payment_status == "partially_refunded"

    await eventually(follows)
    assert booking.id == booking_id
    # What is left to refund through Medivoy is what the gateway still holds.
    over = await refused(
        handle.execute_update(
            PaymentWorkflow.refund,
            RefundCommand(
                caller=Caller(user_id=cast.admin.id, role="admin"),
                amount=Decimal("880.01"),
                reason="too much",
            ),
        )
    )
    assert over.details[0]["code"] == "REFUND_EXCEEDS_PAYMENT"


async def test_a_failure_event_after_success_never_moves_the_payment_back(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    booking_id, checkout, handle = await paid_booking(env, task_queue, cast, gateway, sessionmaker)

    await handle.signal(
        PaymentWorkflow.gateway_event,
        GatewayEventSignal(
            event_id="evt_late_fail",
            event_type="payment_intent.payment_failed",
            outcome=Outcome.FAILED,
        ),
    )
    await succeeded(handle)

    view = await handle.query(PaymentWorkflow.view)
    assert view.status == P.COMPLETED
    async with sessionmaker() as db:
        history = list(
            await db.scalars(
                select(PaymentStatusHistory.to_status).where(
                    PaymentStatusHistory.payment_id == checkout.payment_id
                )
            )
        )
        invoices = await db.scalar(select(func.count()).select_from(Invoice))
    assert history.count("completed") == 1 and "failed" not in history
    assert invoices == 1
    booking = await booking_becomes(sessionmaker, booking_id, BookingStatus.INVOICE_SENT)
    assert booking.payment_status == "paid"


async def test_a_coupon_that_covers_everything_completes_without_the_gateway(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await make_coupon(sessionmaker, "FREECARE", percent="100")
    booking_id = await booking_ready(env, task_queue, cast)

    checkout, handle = await start_payment(env, task_queue, cast, booking_id, coupon="FREECARE")

    assert checkout.amount == Decimal("0.00") and checkout.discount_amount == Decimal("1000.00")
    assert checkout.status == P.COMPLETED and checkout.client_secret is None
    assert not [verb for verb, _ in gateway.calls if verb == "create"]
    booking = await booking_becomes(sessionmaker, booking_id, BookingStatus.INVOICE_SENT)
    assert booking.payment_status == "paid"
    async with sessionmaker() as db:
        invoice = await db.scalar(select(Invoice).where(Invoice.booking_id == booking_id))
    assert invoice is not None and invoice.final_amount == Decimal("0.00")
    assert invoice.discount_amount == Decimal("1000.00")
    # Nothing was paid, so nothing can be refunded.
    none_left = await refused(
        handle.execute_update(
            PaymentWorkflow.refund,
            RefundCommand(caller=Caller(user_id=cast.admin.id, role="admin"), reason="x"),
        )
    )
    assert none_left.details[0]["code"] == "INVALID_AMOUNT"


async def test_a_refused_coupon_closes_the_attempt_so_the_patient_can_pay_again(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    booking_id = await booking_ready(env, task_queue, cast)

    refusal = await refused(start_payment(env, task_queue, cast, booking_id, coupon="NOPE"))

    assert refusal.type == "Invalid" and refusal.details[0]["code"] == "COUPON_NOT_FOUND"
    assert not [verb for verb, _ in gateway.calls if verb == "create"]
    async with sessionmaker() as db:
        rows = list(await db.scalars(select(Payment).where(Payment.booking_id == booking_id)))
    assert [(p.status, p.amount) for p in rows] == [("cancelled", Decimal("1000.00"))]
    checkout, _ = await start_payment(env, task_queue, cast, booking_id)
    assert checkout.status == P.PENDING and checkout.amount == Decimal("1180.00")


async def test_money_arriving_on_an_expired_attempt_that_could_not_be_cancelled_goes_back(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    gateway.cancellable = False
    booking_id = await booking_ready(env, task_queue, cast)
    checkout, handle = await start_payment(env, task_queue, cast, booking_id)
    await env.sleep(timedelta(hours=25))
    await payment_becomes(sessionmaker, checkout.payment_id, P.EXPIRED)
    await booking_becomes(sessionmaker, booking_id, BookingStatus.CONFIRMED)
    assert checkout.gateway_id is not None

    # The old checkout page was still open: the patient pays it, and no webhook comes. The
    # workflow's own poll finds the money (time skips while we wait for its end).
    gateway.pay(checkout.gateway_id)
    assert (await handle.result()).status == P.EXPIRED

    async def refunded() -> Payment | None:
        async with sessionmaker() as db:
            row = await db.get(Payment, checkout.payment_id)
        return row if row is not None and row.refund_amount else None

    payment = await eventually(refunded, 30)
    assert payment.status == "expired" and payment.refund_amount == Decimal("1180.00")
    assert gateway.refunded(checkout.gateway_id) == 118000
    booking = await booking_becomes(sessionmaker, booking_id, BookingStatus.CONFIRMED)
    assert booking.payment_status == "unpaid"
    assert await mails_about(sessionmaker, cast.patient.email, "Refund of USD 1180.00")
