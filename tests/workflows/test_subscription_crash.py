"""A worker process SIGKILLed right after a renewal's charge (the charge made and written, the
activity's completion never reported): a second worker process finishes the renewal from the
history, and the period has exactly one charge at the gateway, one invoice and one e-mail. The
real worker (tests.fixtures.crash_worker) on the time-skipping server; Stripe is localstripe."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import stripe
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.providers.webhooks import Outcome
from domain.models.notifications import OutboxMessage
from domain.models.payments import Invoice, Payment
from domain.models.subscriptions import Subscription
from tests.builders.helpers import eventually
from tests.builders.subscription_builders import (
    VISA,
    make_subscribers,
    stripe_card,
    stripe_customer_pays,
    subscribe,
)
from tests.builders.worker_process import ROOT, stop
from workflows.payment import GatewayEventSignal, PaymentWorkflow
from workflows.payment import workflow_id as payment_workflow_id
from workflows.subscription import SubscriptionTimers

if TYPE_CHECKING:
    from tests.fixtures.payment_fixtures import LocalStripe

pytest_plugins = ["tests.fixtures.payment_fixtures"]
# The renewal's e-mail (subscription_renewed, English), its invoice attached.
RENEWED = "Your Standard plan is renewed"
ACTIVATED = "Your Standard plan is active"


def worker_process(
    env: WorkflowEnvironment,
    database_url: str,
    task_queue: str,
    localstripe: LocalStripe,
    data_dir: Path,
    crash_at: str,
) -> subprocess.Popen[bytes]:
    """The ordinary worker, SIGKILLing itself at `crash_at` (a name no activity has: never)."""
    variables = {
        **os.environ,
        "MEDIVOY_DATABASE_URL": database_url,
        "MEDIVOY_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "MEDIVOY_TASK_QUEUE": task_queue,
        "MEDIVOY_JWT_SECRET": "x" * 32,
        "MEDIVOY_DATA_DIR": str(data_dir),
        "MEDIVOY_STORAGE_DIR": str(data_dir / "files"),
        "MEDIVOY_STRIPE_SECRET_KEY": localstripe.api_key,
        "MEDIVOY_STRIPE_API_BASE": localstripe.url,
        "MEDIVOY_STRIPE_SETUP_FUTURE_USAGE": "false",
        "MEDIVOY_LOG_JSON": "false",
        "MEDIVOY_LOG_LEVEL": "WARNING",
        "MEDIVOY_TEST_CRASH_AT": crash_at,
        "MEDIVOY_TEST_NO_STICKY": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.crash_worker"],
        cwd=ROOT,
        env=variables,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def test_a_worker_killed_after_a_renewal_charge_charges_invoices_and_mails_once(
    indexed_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    task_queue: str,
    localstripe: LocalStripe,
    tmp_path: Path,
) -> None:
    env = indexed_env
    who = await make_subscribers(sessionmaker)
    first = worker_process(
        env, database_url, task_queue, localstripe, tmp_path, "charge_subscription:after"
    )
    second: subprocess.Popen[bytes] | None = None
    try:
        # The time-skipping server cannot describe a task queue: the first update simply waits
        # for the worker process to poll.
        view, _ = await subscribe(
            env.client, task_queue, who, None, timers=SubscriptionTimers(), pay=False
        )
        assert view.first_payment_id is not None
        async with sessionmaker() as db:
            paid = await db.get(Payment, view.first_payment_id)
        assert paid is not None and paid.gateway_payment_intent_id is not None
        card = await asyncio.to_thread(stripe_card, localstripe.url, localstripe.api_key, VISA)
        await asyncio.to_thread(
            stripe_customer_pays,
            localstripe.url,
            localstripe.api_key,
            paid.gateway_payment_intent_id,
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

        async def period(number: int) -> Subscription | None:
            async with sessionmaker() as db:
                row = await db.get(Subscription, view.subscription_id)
            ok = row is not None and row.status == "active" and row.current_period == number
            return row if ok else None

        active = await eventually(lambda: period(0), within=60)
        assert active.end_date is not None

        async def activation_mailed() -> bool:
            async with sessionmaker() as db:
                return bool(
                    await db.scalar(
                        select(func.count())
                        .select_from(OutboxMessage)
                        .where(
                            OutboxMessage.recipient == who.hospital_admin.email,
                            OutboxMessage.subject.startswith(ACTIVATED),
                        )
                    )
                )

        # The activation's invoice is rendered and mailed first (a cold PDF render in a new
        # worker process takes seconds, and the server skips no time while it runs: a sleep
        # started then would wait it out in real time, past the sleep call's own deadline).
        await eventually(activation_mailed, within=120)
        end = datetime.combine(active.end_date, datetime.min.time(), tzinfo=UTC)
        # Up to the renewal's instant: past it the server cannot skip over the charge the
        # killed worker leaves in flight.
        await env.sleep(end - await env.get_current_time())

        async def died() -> bool:
            return first.poll() is not None

        await eventually(died, within=60)
        second = worker_process(
            env, database_url, task_queue, localstripe, tmp_path, "no_such_activity:after"
        )
        # The dead worker's charge times out (start-to-close, a minute of real time here: the
        # server does not skip time over a dead worker's activity) and is tried on the second.
        renewed = await eventually(lambda: period(1), within=180)
        assert renewed.start_date == active.end_date

        async def renewal_invoice() -> str | None:
            async with sessionmaker() as db:
                numbers = list(
                    await db.scalars(
                        select(Invoice.invoice_number)
                        .where(Invoice.subscription_id == view.subscription_id)
                        .order_by(Invoice.invoice_number)
                    )
                )
            return numbers[1] if len(numbers) == 2 else None

        renewal_subject = f"{RENEWED} (invoice {await eventually(renewal_invoice, within=60)})"

        async def renewal_mails() -> list[str] | None:
            async with sessionmaker() as db:
                subjects = list(
                    await db.scalars(
                        select(OutboxMessage.subject).where(
                            OutboxMessage.recipient == who.hospital_admin.email,
                            OutboxMessage.subject.startswith(RENEWED),
                        )
                    )
                )
            return [s for s in subjects if s] or None

        # One renewal e-mail with its invoice, sent by the second worker (before the run
        # hands over).
        assert await eventually(renewal_mails, within=60) == [renewal_subject]
    finally:
        stop(first, second)

    api = stripe.StripeClient(localstripe.api_key, base_addresses={"api": localstripe.url})
    intents = await asyncio.to_thread(
        lambda: api.v1.payment_intents.list(params={"limit": 100}).data
    )
    renewals = [
        i
        for i in intents
        if i.customer == active.gateway_customer_id and i.id != paid.gateway_payment_intent_id
    ]
    assert len(renewals) == 1 and renewals[0].status == "succeeded"
    async with sessionmaker() as db:
        charges = list(
            await db.scalars(
                select(Payment).where(
                    Payment.subscription_id == view.subscription_id,
                    Payment.id != view.first_payment_id,
                )
            )
        )
        invoices = await db.scalar(
            select(func.count())
            .select_from(Invoice)
            .where(Invoice.subscription_id == view.subscription_id)
        )
    assert [c.status for c in charges] == ["completed"]
    # The first period's invoice and the renewal's: one each.
    assert invoices == 2
    assert await renewal_mails() == [renewal_subject]
