"""SubscriptionWorkflow with the real Stripe SDK against localstripe, on the time-skipping
server: the card that paid the first period is charged off-session at the renewal; a card that
declines makes the renewal past due with the decline's code."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
import stripe
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.providers.stripe_payments import StripePayments
from activities.providers.webhooks import Outcome
from domain.models.subscriptions import Subscription
from domain.payment import PaymentGateway as GatewayName
from domain.subscription import SubscriptionStatus
from runtime.settings import Settings
from tests.builders.helpers import eventually
from tests.builders.subscription_builders import (
    DECLINES_CHARGES,
    VISA,
    Subscribers,
    make_subscribers,
    stripe_card,
    stripe_customer_pays,
    subscribe,
)
from tests.builders.subscription_worker import subscription_worker
from workflows.payment import GatewayEventSignal, PaymentWorkflow
from workflows.payment import workflow_id as payment_workflow_id
from workflows.subscription import ChangeCommand, SubscriptionTimers, SubscriptionWorkflow

if TYPE_CHECKING:
    from tests.fixtures.payment_fixtures import LocalStripe

pytest_plugins = ["tests.fixtures.payment_fixtures"]
S = SubscriptionStatus
TIMERS = SubscriptionTimers(reminder_days=3)


@pytest.fixture
def env(indexed_env: WorkflowEnvironment) -> WorkflowEnvironment:
    return indexed_env


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    localstripe: LocalStripe,
    database_url: str,
    tmp_path: Path,
) -> AsyncIterator[Worker]:
    settings = Settings(
        database_url=database_url, jwt_secret="x" * 32, storage_dir=str(tmp_path / "files")
    )
    gateway = StripePayments(
        localstripe.api_key, api_base=localstripe.url, setup_future_usage=False
    )
    gateways = {GatewayName.STRIPE: gateway}
    async with subscription_worker(env, task_queue, sessionmaker, gateways, settings) as running:
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


async def test_a_saved_card_is_renewed_off_session_and_a_declining_card_falls_past_due(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    localstripe: LocalStripe,
) -> None:
    who: Subscribers = await make_subscribers(sessionmaker)
    view, handle = await subscribe(
        env.client,
        task_queue,
        who,
        None,
        timers=TIMERS,
        pay=False,  # type: ignore[arg-type]
    )
    assert view.first_payment_id is not None
    async with sessionmaker() as db:
        from domain.models.payments import Payment

        first = await db.get(Payment, view.first_payment_id)
    assert first is not None and first.gateway_payment_intent_id is not None
    card = await asyncio.to_thread(stripe_card, localstripe.url, localstripe.api_key, VISA)
    await asyncio.to_thread(
        stripe_customer_pays,
        localstripe.url,
        localstripe.api_key,
        first.gateway_payment_intent_id,
        card,
    )
    await env.client.get_workflow_handle(payment_workflow_id(view.first_payment_id)).signal(
        PaymentWorkflow.gateway_event,
        GatewayEventSignal(
            event_id=f"evt_{uuid.uuid4().hex}",
            event_type="payment_intent.succeeded",
            outcome=Outcome.SUCCEEDED,
        ),
    )
    active = await row_is(sessionmaker, view.subscription_id, S.ACTIVE, 0)
    assert active.card_last4 == "4242" and active.gateway_customer_id
    assert active.end_date is not None
    end = datetime.combine(active.end_date, datetime.min.time(), tzinfo=UTC)
    await env.sleep(end + timedelta(hours=1) - await env.get_current_time())
    renewed = await row_is(sessionmaker, view.subscription_id, S.ACTIVE, 1)
    api = stripe.StripeClient(localstripe.api_key, base_addresses={"api": localstripe.url})
    intents = await asyncio.to_thread(
        lambda: api.v1.payment_intents.list(params={"limit": 100}).data
    )
    ours = [i for i in intents if i.customer == active.gateway_customer_id]
    off_session = [i for i in ours if i.id != first.gateway_payment_intent_id]
    assert len(off_session) == 1
    assert off_session[0].status == "succeeded" and off_session[0].amount == 10000
    assert off_session[0].payment_method == card

    declining = await asyncio.to_thread(
        stripe_card, localstripe.url, localstripe.api_key, DECLINES_CHARGES
    )
    await handle.execute_update(
        SubscriptionWorkflow.change,
        ChangeCommand(caller=who.caller(who.hospital_admin), payment_method_id=declining),
    )
    assert renewed.end_date is not None
    end = datetime.combine(renewed.end_date, datetime.min.time(), tzinfo=UTC)
    await env.sleep(end + timedelta(hours=1) - await env.get_current_time())
    past_due = await row_is(sessionmaker, view.subscription_id, S.PAST_DUE, 1)
    assert past_due.dunning is not None
    assert past_due.dunning["last_code"] and past_due.dunning["action"] == "retry"
    assert past_due.next_charge_at is not None
