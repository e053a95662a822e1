"""SubscriptionWorkflow with Razorpay on the time-skipping server: the real worker (its adapter the
real razorpay SDK against the local Razorpay), the real database. The first payment (Checkout
with recurring: 1 on an order made for the subscription's customer) saves the card as a
recurring token; each renewal is a new order charged on that token (one per period, its invoice
issued); a renewal the bank declines goes past due, and Razorpay's reason decides the dunning."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.providers.webhooks import Outcome
from domain.models.payments import Invoice, Payment
from domain.models.subscriptions import Subscription
from domain.payment import PaymentGateway as GatewayName
from domain.payment import PaymentStatus
from domain.subscription import SubscriptionStatus
from runtime.settings import Settings
from tests.builders.helpers import eventually
from tests.builders.subscription_builders import make_subscribers, subscribe
from tests.fixtures.workers import SANDBOX
from workflows.payment import GatewayEventSignal, PaymentWorkflow
from workflows.payment import workflow_id as payment_workflow_id
from workflows.subscription import SubscriptionTimers

if TYPE_CHECKING:
    from tests.fixtures.razorpay_fixtures import LocalRazorpay

pytest_plugins = ["tests.fixtures.razorpay_fixtures"]
S = SubscriptionStatus
TIMERS = SubscriptionTimers(reminder_days=3, retry_days=[1, 3, 7], grace_days=14)
# The local Razorpay's cards (tests/fixtures/razorpay_fixtures.py): pays and renews; renewals
# declined as reported lost (debit_instrument_blocked).
TEST_CARD = "4111111111111111"
BLOCKED_CARD = "4000000000009987"


@pytest.fixture
def env(indexed_env: WorkflowEnvironment) -> WorkflowEnvironment:
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


pytestmark = pytest.mark.usefixtures("worker")


async def row_is(
    sessionmaker: async_sessionmaker[AsyncSession], sid: uuid.UUID, status: S, period: int
) -> Subscription:
    async def probe() -> Subscription | None:
        async with sessionmaker() as db:
            found = await db.get(Subscription, sid)
        ok = found is not None and found.status == status.value and found.current_period == period
        return found if ok else None

    return await eventually(probe, within=60)


async def skip_past(env: WorkflowEnvironment, row: Subscription, extra: timedelta) -> None:
    assert row.end_date is not None
    end = datetime.combine(row.end_date, datetime.min.time(), tzinfo=UTC)
    await env.sleep(end + extra - await env.get_current_time())


async def paid_with(
    env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    local_razorpay: LocalRazorpay,
    card: str,
) -> tuple[Any, Subscription]:
    """A Razorpay subscription whose first order the subscriber pays at Checkout with `card`
    and recurring: 1 (Razorpay's webhook then tells the payment workflow)."""
    who = await make_subscribers(sessionmaker)
    view, handle = await subscribe(
        env.client,
        task_queue,
        who,
        None,
        timers=TIMERS,
        pay=False,
        gateway_name=GatewayName.RAZORPAY,
    )
    assert view.first_payment_id is not None
    async with sessionmaker() as db:
        first = await db.get(Payment, view.first_payment_id)
    assert first is not None and first.gateway_order_id is not None
    # The first order was made for the subscription's customer and asks for a token.
    sent = next(
        r.json()
        for r in local_razorpay.orders_created()
        if r.json()["receipt"] == str(view.first_payment_id)
    )
    assert sent["customer_id"].startswith("cust_") and sent["token"]["max_amount"] >= 10000
    local_razorpay.customer_pays(first.gateway_order_id, recurring=True, card=card)
    await env.client.get_workflow_handle(payment_workflow_id(view.first_payment_id)).signal(
        PaymentWorkflow.gateway_event,
        GatewayEventSignal(
            event_id=f"evt_{uuid.uuid4().hex[:14]}",
            event_type="payment.captured",
            outcome=Outcome.SUCCEEDED,
        ),
    )
    active = await row_is(sessionmaker, view.subscription_id, S.ACTIVE, 0)
    assert active.gateway_customer_id == sent["customer_id"]
    return handle, active


async def charges_of(
    sessionmaker: async_sessionmaker[AsyncSession], sid: uuid.UUID
) -> list[Payment]:
    async with sessionmaker() as db:
        return list(
            await db.scalars(
                select(Payment).where(Payment.subscription_id == sid).order_by(Payment.created_at)
            )
        )


async def test_a_razorpay_token_renews_once_per_period_and_a_decline_is_retried(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    local_razorpay: LocalRazorpay,
) -> None:
    _handle, active = await paid_with(env, task_queue, sessionmaker, local_razorpay, TEST_CARD)
    token = active.gateway_payment_method_id
    assert token is not None and token.startswith("token_") and active.card_last4 == "1111"
    assert [t["id"] for t in local_razorpay.tokens_of(str(active.gateway_customer_id))] == [token]

    await skip_past(env, active, timedelta(hours=1))
    renewed = await row_is(sessionmaker, active.id, S.ACTIVE, 1)
    assert len(local_razorpay.recurring_charges()) == 1
    body = local_razorpay.recurring_charges()[0].json()
    assert (body["customer_id"], body["token"], body["amount"]) == (
        active.gateway_customer_id,
        token,
        10000,
    )
    charges = await charges_of(sessionmaker, active.id)
    assert [c.status for c in charges] == [PaymentStatus.COMPLETED.value] * 2
    renewal = charges[1]
    assert renewal.gateway_order_id == body["order_id"]
    assert renewal.gateway_transaction_id is not None
    order = local_razorpay.order(body["order_id"])
    assert order["status"] == "paid" and order["receipt"] == str(renewal.id)
    async with sessionmaker() as db:
        invoices = list(
            await db.scalars(select(Invoice).where(Invoice.subscription_id == active.id))
        )
    assert len(invoices) == 2

    # The bank now declines the card for want of money: past due, retried a day later.
    local_razorpay.bank_declines(
        token,
        "insufficient_funds",
        "Your payment could not be completed due to insufficient account balance.",
    )
    await skip_past(env, renewed, timedelta(hours=1))
    past_due = await row_is(sessionmaker, active.id, S.PAST_DUE, 1)
    assert past_due.dunning is not None
    assert past_due.dunning["last_code"] == "insufficient_funds"
    assert past_due.dunning["action"] == "retry" and past_due.next_charge_at is not None
    assert len(local_razorpay.recurring_charges()) == 2
    # Money again: the first retry (a new order, its own receipt) pays the period.
    local_razorpay.bank_accepts(token)
    await env.sleep(past_due.next_charge_at - await env.get_current_time() + timedelta(hours=1))
    again = await row_is(sessionmaker, active.id, S.ACTIVE, 2)
    assert again.dunning is None
    charges = await charges_of(sessionmaker, active.id)
    assert [c.status for c in charges] == [
        PaymentStatus.COMPLETED.value,
        PaymentStatus.COMPLETED.value,
        PaymentStatus.FAILED.value,
        PaymentStatus.COMPLETED.value,
    ]
    assert charges[2].failure_reason == "insufficient_funds"
    receipts = [local_razorpay.order(str(c.gateway_order_id))["receipt"] for c in charges[1:]]
    assert receipts == [str(c.id) for c in charges[1:]]
    assert len(local_razorpay.recurring_charges()) == 3


async def test_a_razorpay_card_reported_lost_is_never_charged_again(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    local_razorpay: LocalRazorpay,
) -> None:
    _handle, active = await paid_with(env, task_queue, sessionmaker, local_razorpay, BLOCKED_CARD)
    await skip_past(env, active, timedelta(hours=1))
    past_due = await row_is(sessionmaker, active.id, S.PAST_DUE, 0)
    assert past_due.dunning is not None
    assert past_due.dunning["last_code"] == "debit_instrument_blocked"
    assert past_due.dunning["action"] == "stop"
    # No retry follows a stop: a week on, still the one declined try.
    await env.sleep(timedelta(days=8))
    assert (await row_is(sessionmaker, active.id, S.PAST_DUE, 0)).dunning is not None
    assert len(local_razorpay.recurring_charges()) == 1
    payments = local_razorpay.payments_of(local_razorpay.recurring_charges()[0].json()["order_id"])
    assert [(p["status"], p["error_reason"]) for p in payments] == [
        ("failed", "debit_instrument_blocked")
    ]
