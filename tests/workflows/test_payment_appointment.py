"""An appointment's payment on the time-skipping server: AppointmentWorkflow and PaymentWorkflow
together, with the real database, activities, invoice child and outbox; the in-memory gateway
(tests/builders/payment_builders.FakeGateway) plays Stripe, as in test_payment.py. No-shows
refund by who was missing, an open payment is cancelled with the appointment, and an unpaid one
leaves nothing to refund and nothing to wait for."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.appointments import AppointmentActivities, appointment_activity_list
from activities.coupons import CouponActivities, coupon_activity_list
from activities.documents import build_document_activities, document_activity_list
from activities.notify import NotificationActivities, notification_activity_list
from activities.payments import NewPayment, PaymentActivities, payment_activity_list
from activities.providers.gateways import GatewayStatus
from activities.providers.outbox import OutboxEmail, OutboxMessages
from activities.providers.video import JitsiRooms
from activities.providers.webhooks import Outcome
from activities.providers.wiring import build_storage
from domain.appointment import AppointmentStatus
from domain.models.appointments import Appointment
from domain.models.notifications import Channel, Notification
from domain.models.payments import Invoice, Payment
from domain.payment import PaymentGateway as GatewayName
from domain.payment import PaymentStatus
from runtime.settings import Settings
from tests.builders.helpers import eventually, row_becomes
from tests.builders.payment_builders import FakeGateway
from tests.fixtures.workers import new_worker
from tests.workflows.test_appointment import Cast, book, id_of, join, make_cast, move, skip_to
from workflows.appointment import WORKFLOWS as APPOINTMENT_WORKFLOWS
from workflows.appointment import AppointmentTimers, AppointmentWorkflow, Cancellation
from workflows.invoice import WORKFLOWS as INVOICE_WORKFLOWS
from workflows.notification import WORKFLOWS as NOTIFICATION_WORKFLOWS
from workflows.payment import (
    GatewayEventSignal,
    PaymentInput,
    PaymentTimers,
    PaymentView,
    PaymentWorkflow,
    open_payment,
    workflow_id,
)

S = AppointmentStatus
P = PaymentStatus
H = timedelta(hours=1)


@pytest_asyncio.fixture(loop_scope="session")
async def gateway() -> FakeGateway:
    return FakeGateway()


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    gateway: FakeGateway,
    database_url: str,
    tmp_path: Path,
) -> AsyncIterator[Worker]:
    settings = Settings(
        database_url=database_url, jwt_secret="x" * 32, storage_dir=str(tmp_path / "files")
    )
    storage = build_storage(settings)
    notifications = NotificationActivities(
        sessionmaker,
        OutboxEmail(sessionmaker),
        OutboxMessages(sessionmaker, Channel.SMS),
        OutboxMessages(sessionmaker, Channel.WHATSAPP),
        storage=storage,
    )
    running = new_worker(
        indexed_env,
        task_queue,
        *APPOINTMENT_WORKFLOWS,
        PaymentWorkflow,
        *INVOICE_WORKFLOWS,
        *NOTIFICATION_WORKFLOWS,
        activities=[
            *appointment_activity_list(
                AppointmentActivities(sessionmaker, JitsiRooms("https://meet.test", "room-key"))
            ),
            *payment_activity_list(
                PaymentActivities(sessionmaker, {GatewayName.STRIPE: gateway}, settings)
            ),
            *coupon_activity_list(CouponActivities(sessionmaker)),
            *document_activity_list(build_document_activities(settings, sessionmaker, storage)),
            *notification_activity_list(notifications),
        ],
        activity_executor=ThreadPoolExecutor(max_workers=4),
    )
    async with running:
        yield running


async def checkout(
    env: WorkflowEnvironment, task_queue: str, cast: Cast, appointment: WorkflowHandle[Any, Any]
) -> tuple[str, WorkflowHandle[Any, PaymentView]]:
    """The patient's checkout for the appointment: its gateway id and the payment's handle."""
    payment_id = uuid.uuid4()
    opened = await open_payment(
        env.client,
        task_queue,
        PaymentInput(
            payment=NewPayment(
                payment_id=payment_id,
                appointment_id=id_of(appointment),
                currency="USD",
                payment_method="card",
                gateway=GatewayName.STRIPE,
                created_by_user_id=cast.patient.id,
                created_by_role="patient",
            ),
            timers=PaymentTimers(refund_days=30),
        ),
    )
    assert opened.amount == Decimal("80.00") and opened.gateway_id is not None
    return opened.gateway_id, env.client.get_workflow_handle(
        workflow_id(payment_id), result_type=PaymentView
    )


async def gateway_says(handle: WorkflowHandle[Any, Any], outcome: Outcome) -> None:
    await handle.signal(
        PaymentWorkflow.gateway_event,
        GatewayEventSignal(
            event_id=f"evt_{uuid.uuid4().hex}", event_type=outcome.value, outcome=outcome
        ),
    )


async def paid(
    env: WorkflowEnvironment,
    task_queue: str,
    cast: Cast,
    gateway: FakeGateway,
    appointment: WorkflowHandle[Any, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> tuple[str, WorkflowHandle[Any, PaymentView]]:
    """Paid at the gateway and the appointment told: the doctor's 'paid' notice is out."""
    gateway_id, payment = await checkout(env, task_queue, cast, appointment)
    gateway.pay(gateway_id)
    await gateway_says(payment, Outcome.SUCCEEDED)
    key = f"appointment:{id_of(appointment)}:paid:{cast.doctor.id}"

    async def told() -> Notification | None:
        async with sessionmaker() as db:
            return await db.scalar(select(Notification).where(Notification.dedupe_key == key))

    await eventually(told, 30)
    return gateway_id, payment


async def test_a_doctor_no_show_refunds_everything_and_a_patient_no_show_keeps_the_fee(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    gateway: FakeGateway,
    worker: Worker,
) -> None:
    cast = await make_cast(sessionmaker, fee=Decimal("80.00"))
    now = await indexed_env.get_current_time()
    starts = (now + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    # A no-show fee of 40 %: a patient who does not come gets 60 % back.
    timers = AppointmentTimers(no_show_fee_percent=Decimal(40))
    stood_up = await book(indexed_env, task_queue, cast, starts, prepay=True, timers=timers)
    missed = await book(indexed_env, task_queue, cast, starts + 2 * H, prepay=True, timers=timers)
    payments = {}
    for handle in (stood_up, missed):
        payments[handle.id] = await paid(
            indexed_env, task_queue, cast, gateway, handle, sessionmaker
        )
        await move(handle, cast, "doctor", S.APPOINTMENT_CONFIRMED)
    await skip_to(indexed_env, starts)
    await join(stood_up, cast, "patient", starts)
    await skip_to(indexed_env, starts + timedelta(minutes=16))
    view = await stood_up.result()
    assert (view["no_show_party"], view["refund_percent"]) == ("doctor", "100")
    assert (view["refunded"], view["refund_outcome"]) == ("80.00", "refunded")
    gateway_id, payment = payments[stood_up.id]
    assert gateway.refunded(gateway_id) == 8000
    assert (await payment.result()).status == P.REFUNDED

    await skip_to(indexed_env, starts + 2 * H)
    await join(missed, cast, "doctor", starts + 2 * H)
    await skip_to(indexed_env, starts + 2 * H + timedelta(minutes=16))
    view = await missed.result()
    assert (view["no_show_party"], view["refund_percent"]) == ("patient", "60")
    assert (view["refunded"], view["refund_outcome"]) == ("48.00", "refunded")
    gateway_id, payment = payments[missed.id]
    assert gateway.refunded(gateway_id) == 4800
    kept = await row_becomes(
        sessionmaker,
        Payment,
        (await payment.query(PaymentWorkflow.view)).payment_id,
        P.PARTIALLY_REFUNDED,
    )
    assert kept.refund_amount == Decimal("48.00")
    # Neither consultation took place: no invoice.
    async with sessionmaker() as db:
        invoices = list(
            await db.scalars(
                select(Invoice).where(Invoice.appointment_id.in_([id_of(stood_up), id_of(missed)]))
            )
        )
    assert invoices == []


async def test_cancelling_while_the_payment_is_open_cancels_it_and_nothing_is_collected(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    gateway: FakeGateway,
    worker: Worker,
) -> None:
    cast = await make_cast(sessionmaker, fee=Decimal("80.00"))
    now = await indexed_env.get_current_time()
    handle = await book(indexed_env, task_queue, cast, now + timedelta(days=3), prepay=True)
    gateway_id, payment = await checkout(indexed_env, task_queue, cast, handle)
    await handle.execute_update(
        AppointmentWorkflow.cancel,
        Cancellation(caller=cast.caller("patient"), reason="changed my mind"),
    )
    view = await payment.result()
    assert view.status == P.CANCELLED and view.refunded == Decimal("0")
    # Cancelled at the gateway too: the checkout can no longer be paid.
    assert gateway.intents[gateway_id].status == GatewayStatus.CANCELED
    told = await handle.result()
    assert told["status"] == "cancelled"
    assert (told["refunded"], told["refund_outcome"]) == ("0", "payment_cancelled")
    stored = await row_becomes(sessionmaker, Payment, view.payment_id, P.CANCELLED)
    assert stored.failure_reason == "appointment_cancelled"


async def test_a_declined_payment_leaves_nothing_to_refund_and_the_cancellation_does_not_wait(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    gateway: FakeGateway,
    worker: Worker,
) -> None:
    cast = await make_cast(sessionmaker, fee=Decimal("80.00"))
    now = await indexed_env.get_current_time()
    handle = await book(indexed_env, task_queue, cast, now + timedelta(days=3), prepay=True)
    gateway_id, payment = await checkout(indexed_env, task_queue, cast, handle)
    gateway.decline(gateway_id)
    await gateway_says(payment, Outcome.FAILED)
    assert (await payment.result()).status == P.FAILED
    # Still unpaid: the doctor cannot confirm yet; the patient cancels.
    await handle.execute_update(
        AppointmentWorkflow.cancel,
        Cancellation(caller=cast.caller("patient"), reason="paying is too hard"),
    )
    # No refund to wait for: the run ends at once (no time skipped).
    told = await handle.result()
    assert told["status"] == "cancelled" and told["refunded"] is None
    assert gateway.refunded(gateway_id) == 0
    async with sessionmaker() as db:
        row = await db.get(Appointment, id_of(handle))
    assert row is not None and row.status == S.CANCELLED


async def _result_when_closed(handle: WorkflowHandle[Any, Any]) -> Any:
    """The run's result. The time-skipping test server ends a result's long poll with no close
    event when the run takes longer than its poll (a loaded machine); asked again, it waits on."""
    while True:
        try:
            return await handle.result()
        except RuntimeError as err:
            if "No completion event found" not in str(err):
                raise
        await asyncio.sleep(0.2)


async def test_a_declined_attempt_still_payable_answers_the_cancellation_at_once(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    gateway: FakeGateway,
    worker: Worker,
) -> None:
    # As with Razorpay: a declined attempt cannot be made unpayable, so the payment watches it.
    gateway.cancellable = False
    cast = await make_cast(sessionmaker, fee=Decimal("80.00"))
    now = await indexed_env.get_current_time()
    handle = await book(indexed_env, task_queue, cast, now + timedelta(days=3), prepay=True)
    gateway_id, payment = await checkout(indexed_env, task_queue, cast, handle)
    gateway.decline(gateway_id)
    await gateway_says(payment, Outcome.FAILED)
    payment_id = (await payment.query(PaymentWorkflow.view)).payment_id
    await row_becomes(sessionmaker, Payment, payment_id, P.FAILED)
    await handle.execute_update(
        AppointmentWorkflow.cancel,
        Cancellation(caller=cast.caller("patient"), reason="found another doctor"),
    )
    # Answered while the watch goes on (no time skipped): nothing was paid.
    told = await asyncio.wait_for(_result_when_closed(handle), 60)
    assert (told["refunded"], told["refund_outcome"]) == ("0", "nothing_to_refund")
    # Money that arrives on the attempt anyway goes back in full.
    gateway.pay(gateway_id)
    await gateway_says(payment, Outcome.SUCCEEDED)
    view = await payment.result()
    assert view.status == P.FAILED and view.refunded == Decimal("80.00")
    assert gateway.refunded(gateway_id) == 8000


async def test_an_appointment_paid_long_before_its_date_is_still_refunded_on_cancellation(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    gateway: FakeGateway,
    worker: Worker,
) -> None:
    cast = await make_cast(sessionmaker, fee=Decimal("80.00"))
    now = await indexed_env.get_current_time()
    # Paid today, with a refund window of 30 days (checkout's timers); the consultation is in 40.
    starts = (now + timedelta(days=40)).replace(minute=0, second=0, microsecond=0)
    handle = await book(indexed_env, task_queue, cast, starts, prepay=True)
    gateway_id, payment = await paid(indexed_env, task_queue, cast, gateway, handle, sessionmaker)
    await move(handle, cast, "doctor", S.APPOINTMENT_CONFIRMED)

    await skip_to(indexed_env, now + timedelta(days=35))
    # Past refund_days, the payment still takes the appointment's refund request.
    assert (await payment.describe()).status == WorkflowExecutionStatus.RUNNING
    assert (await payment.query(PaymentWorkflow.view)).status == P.COMPLETED
    await handle.execute_update(
        AppointmentWorkflow.cancel,
        Cancellation(caller=cast.caller("patient"), reason="cannot make it"),
    )

    told = await handle.result()
    assert (told["refunded"], told["refund_outcome"]) == ("80.00", "refunded")
    assert gateway.refunded(gateway_id) == 8000
    assert (await payment.result()).status == P.REFUNDED


async def test_an_appointment_payment_takes_refunds_until_a_day_after_the_appointment(
    indexed_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    gateway: FakeGateway,
    worker: Worker,
) -> None:
    cast = await make_cast(sessionmaker, fee=Decimal("80.00"))
    now = await indexed_env.get_current_time()
    starts = (now + timedelta(days=40)).replace(minute=0, second=0, microsecond=0)
    handle = await book(indexed_env, task_queue, cast, starts, prepay=True)
    _, payment = await paid(indexed_env, task_queue, cast, gateway, handle, sessionmaker)
    await move(handle, cast, "doctor", S.APPOINTMENT_CONFIRMED)

    # Still open after the 30 days of refund_days.
    await skip_to(indexed_env, now + timedelta(days=31))
    assert (await payment.describe()).status == WorkflowExecutionStatus.RUNNING
    # The patient does not come (the default fee keeps everything): nothing to refund, and the
    # window stays open until a day after the appointment's end, then closes.
    await skip_to(indexed_env, starts)
    await join(handle, cast, "doctor", starts)
    await skip_to(indexed_env, starts + timedelta(minutes=16))
    assert (await handle.result())["no_show_party"] == "patient"
    await skip_to(indexed_env, starts + timedelta(hours=12))
    assert (await payment.describe()).status == WorkflowExecutionStatus.RUNNING
    await skip_to(indexed_env, starts + timedelta(days=1, hours=1))
    view = await asyncio.wait_for(payment.result(), 60)
    assert view.status == P.COMPLETED and view.refunded == Decimal("0")
