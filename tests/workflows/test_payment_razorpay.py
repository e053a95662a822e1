"""PaymentWorkflow with Razorpay on the time-skipping server: the real worker (its adapter is the
real SDK against the local Razorpay), the real database. What HTTP cannot wait for: a payment
nobody reports is found by the workflow's own poll, and an unpaid order expires."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.payments import NewPayment
from domain.models.bookings import Booking
from domain.models.payments import Payment
from domain.payment import PaymentGateway as GatewayName
from runtime.settings import Settings
from tests.builders.helpers import eventually
from tests.builders.payment_builders import confirmed_booking, make_cast
from tests.fixtures.workers import SANDBOX
from workflows.payment import PaymentCheckout, PaymentInput, PaymentTimers, open_payment

if TYPE_CHECKING:
    from tests.fixtures.razorpay_fixtures import LocalRazorpay

pytest_plugins = ["tests.fixtures.razorpay_fixtures"]

TIMERS = PaymentTimers(reconcile_minutes=10, window_hours=24, refund_days=30)


@pytest.fixture
def env(indexed_env: WorkflowEnvironment) -> WorkflowEnvironment:
    """A time-skipping server of this test's own (tests/conftest.py indexed_env says why)."""
    return indexed_env


@pytest.fixture
def rzp_settings(
    database_url: str, task_queue: str, local_razorpay: LocalRazorpay, tmp_path: Path
) -> Settings:
    return Settings(
        database_url=database_url,
        task_queue=task_queue,
        jwt_secret="x" * 32,
        razorpay_key_id=local_razorpay.key_id,
        razorpay_key_secret=SecretStr(local_razorpay.key_secret),
        razorpay_base_url=local_razorpay.url,
        tax_rates={"India": Decimal("18")},
        storage_dir=str(tmp_path / "files"),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    env: WorkflowEnvironment,
    rzp_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Worker]:
    from worker import build_worker

    async with build_worker(
        env.client, rzp_settings, sessionmaker, workflow_runner=SANDBOX
    ) as running:
        yield running


async def razorpay_checkout(
    env: WorkflowEnvironment, task_queue: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> tuple[PaymentCheckout, uuid.UUID]:
    cast = await make_cast(sessionmaker, country="India")
    booking_id = await confirmed_booking(
        env.client, task_queue, cast, now=await env.get_current_time(), currency="INR"
    )
    checkout = await open_payment(
        env.client,
        task_queue,
        PaymentInput(
            payment=NewPayment(
                payment_id=uuid.uuid4(),
                booking_id=booking_id,
                currency="INR",
                payment_method="card",
                gateway=GatewayName.RAZORPAY,
                created_by_user_id=cast.patient.id,
                created_by_role="patient",
            ),
            timers=TIMERS,
        ),
    )
    return checkout, booking_id


async def status_of(
    sessionmaker: async_sessionmaker[AsyncSession],
    model: type[Payment] | type[Booking],
    key: uuid.UUID,
    status: str,
) -> None:
    async def probe() -> bool:
        async with sessionmaker() as db:
            row = await db.get(model, key)
        return row is not None and row.status == status

    await eventually(probe, 30)


async def test_razorpay_payment_nobody_reports_is_found_by_the_workflows_poll(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    local_razorpay: LocalRazorpay,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    checkout, booking_id = await razorpay_checkout(env, task_queue, sessionmaker)
    assert checkout.order_id is not None and checkout.amount == Decimal("1180.00")
    local_razorpay.customer_pays(checkout.order_id)

    # No webhook: the workflow reads the order back at its next poll.
    await env.sleep(timedelta(minutes=11))

    await status_of(sessionmaker, Payment, checkout.payment_id, "completed")
    await status_of(sessionmaker, Booking, booking_id, "invoice_sent")


async def test_unpaid_razorpay_order_expires_after_the_window_without_a_cancel_call(
    env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    local_razorpay: LocalRazorpay,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    checkout, booking_id = await razorpay_checkout(env, task_queue, sessionmaker)
    assert checkout.order_id is not None

    await env.sleep(timedelta(hours=25))

    await status_of(sessionmaker, Payment, checkout.payment_id, "expired")
    await status_of(sessionmaker, Booking, booking_id, "confirmed")
    # Razorpay has no way to cancel an order: after creating it the workflow only read it back.
    after_create = [r for r in local_razorpay.requests if r.path != "/v1/orders"]
    assert after_create and all(r.method == "GET" for r in after_create)
    assert local_razorpay.order(checkout.order_id)["status"] == "created"
