"""SubscriptionWorkflow on the time-skipping server: the real database, the payment workflow for
the first charge and the outbox; an in-memory gateway (tests/builders/subscription_builders
SavingGateway) plays Stripe's saved cards. A year of renewals runs in seconds."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.documents import format_money
from activities.providers.webhooks import Outcome
from activities.subscriptions import NewSubscription
from domain.models.notifications import Channel, Notification
from domain.models.payments import Invoice, Payment, PaymentRefund
from domain.models.subscriptions import Subscription, SubscriptionStatusHistory
from domain.payment import PaymentGateway as GatewayName
from domain.payment import PaymentStatus
from domain.subscription import BillingCycle, SubscriptionStatus
from runtime.settings import Settings
from tests.builders.helpers import eventually
from tests.builders.payment_builders import FakeGateway
from tests.builders.subscription_builders import (
    SavingGateway,
    Subscribers,
    current,
    make_subscribers,
    subscribe,
)
from tests.builders.subscription_worker import subscription_worker
from workflows.payment import GatewayEventSignal, PaymentWorkflow
from workflows.payment import workflow_id as payment_workflow_id
from workflows.subscription import (
    CancelCommand,
    ChangeCommand,
    SubscriptionInput,
    SubscriptionTimers,
    SubscriptionView,
    SubscriptionWorkflow,
    open_subscription,
)

S = SubscriptionStatus
TIMERS = SubscriptionTimers(
    payment_window_hours=24, reminder_days=7, retry_days=[1, 3, 7], grace_days=14
)


@pytest.fixture
def env(indexed_env: WorkflowEnvironment) -> WorkflowEnvironment:
    return indexed_env


@pytest.fixture
def gateway() -> SavingGateway:
    return SavingGateway()


@pytest.fixture
def sub_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_secret="x" * 32,
        storage_dir=str(tmp_path / "files"),
        public_base_url="https://api.medivoy.test",
    )


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    gateway: SavingGateway,
    sub_settings: Settings,
) -> AsyncIterator[Worker]:
    gateways = {
        GatewayName.STRIPE: gateway,
        # An adapter with orders only and no saved methods (the real Razorpay adapter keeps
        # recurring tokens: test_subscription_razorpay.py): a subscription is refused on it.
        GatewayName.RAZORPAY: FakeGateway(name=GatewayName.RAZORPAY, cancellable=False),
    }
    async with subscription_worker(
        env, task_queue, sessionmaker, gateways, sub_settings
    ) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def who(sessionmaker: async_sessionmaker[AsyncSession]) -> Subscribers:
    return await make_subscribers(sessionmaker)


pytestmark = pytest.mark.usefixtures("worker")


async def row(sessionmaker: async_sessionmaker[AsyncSession], sid: uuid.UUID) -> Subscription:
    async with sessionmaker() as db:
        found = await db.get(Subscription, sid)
        assert found is not None
        return found


async def becomes(
    sessionmaker: async_sessionmaker[AsyncSession],
    sid: uuid.UUID,
    status: SubscriptionStatus,
    period: int | None = None,
) -> Subscription:
    async def probe() -> Subscription | None:
        found = await row(sessionmaker, sid)
        if found.status != status.value:
            return None
        if period is not None and found.current_period != period:
            return None
        return found

    return await eventually(probe, within=30)


async def active(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    who: Subscribers,
    gateway: SavingGateway,
    **options: Any,
) -> tuple[SubscriptionView, WorkflowHandle[Any, Any], Subscription]:
    view, handle = await subscribe(env.client, task_queue, who, gateway, timers=TIMERS, **options)
    stored = await becomes(sessionmaker, view.subscription_id, S.ACTIVE, 0)
    return view, handle, stored


async def skip_to(env: WorkflowEnvironment, at: datetime) -> None:
    now = await env.get_current_time()
    if at > now:
        await env.sleep(at - now)


def end_of(stored: Subscription) -> datetime:
    assert stored.end_date is not None
    return datetime.combine(stored.end_date, datetime.min.time(), tzinfo=UTC)


async def charges_of(
    sessionmaker: async_sessionmaker[AsyncSession], sid: uuid.UUID
) -> list[Payment]:
    async with sessionmaker() as db:
        return list(
            await db.scalars(
                select(Payment).where(Payment.subscription_id == sid).order_by(Payment.created_at)
            )
        )


async def test_thirteen_monthly_renewals_charge_once_each(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    who: Subscribers,
    gateway: SavingGateway,
) -> None:
    view, handle, stored = await active(env, sessionmaker, task_queue, who, gateway)
    anchor = stored.start_date
    assert anchor is not None
    for number in range(1, 14):
        stored = await row(sessionmaker, view.subscription_id)
        await skip_to(env, end_of(stored) + timedelta(minutes=1))
        stored = await becomes(sessionmaker, view.subscription_id, S.ACTIVE, number)
    async with sessionmaker() as db:
        reminders = list(
            await db.scalars(
                select(Notification.message).where(
                    Notification.user_id == who.hospital_admin.id,
                    Notification.channel == Channel.IN_APP.value,
                    Notification.title == "Your subscription renews soon",
                )
            )
        )
    # A reminder before each renewal: the amount, the plan and the card's last digits.
    assert len(reminders) == 13
    hundred = format_money(Decimal("100.00"), "USD", "en")
    assert all(hundred in m and "Standard" in m and "4242" in m for m in reminders)
    renewals = [k for k, _ in gateway.succeeded_charges()]
    assert len(renewals) == 13 and len(set(renewals)) == 13
    assert all(amount == 10000 for _, amount in gateway.succeeded_charges())
    charges = await charges_of(sessionmaker, view.subscription_id)
    # The first payment (through the PaymentWorkflow) and one charge per renewal.
    assert [c.status for c in charges] == [PaymentStatus.COMPLETED.value] * 14
    async with sessionmaker() as db:
        invoices = list(
            await db.scalars(select(Invoice).where(Invoice.subscription_id == view.subscription_id))
        )
    assert len(invoices) == 14
    # Each one rendered and mailed with its period's message (tests/workflows/
    # test_subscription_mail.py reads them).
    assert all(invoice.pdf_storage_key is not None for invoice in invoices)
    assert stored.start_date is not None and stored.end_date is not None
    # Periods stay on the anchor's day: 13 months on, the 14th period.
    assert stored.current_period == 13
    assert stored.auto_renew is True
    live = await current(handle)
    assert live.period == 13 and live.end_date == stored.end_date
    # Continue-as-new once per period: the run holding it now is the 14th.
    description = await handle.describe()
    assert description.run_id != view.subscription_id  # a run id, not the entity's


async def test_a_renewal_declined_twice_is_paid_on_the_third_retry(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    who: Subscribers,
    gateway: SavingGateway,
) -> None:
    view, _handle, stored = await active(env, sessionmaker, task_queue, who, gateway)
    gateway.declines = ["insufficient_funds", "insufficient_funds", "processing_error"]
    failed_at = end_of(stored)
    await skip_to(env, failed_at + timedelta(minutes=1))
    past_due = await becomes(sessionmaker, view.subscription_id, S.PAST_DUE)
    assert past_due.dunning is not None and past_due.dunning["attempt"] == 1
    # The schedule is fixed when the renewal failed (a moment after the period's end).
    assert past_due.next_charge_at is not None
    assert abs(past_due.next_charge_at - (failed_at + timedelta(days=1))) < timedelta(minutes=1)
    await skip_to(env, failed_at + timedelta(days=1, minutes=1))
    await eventually(lambda: _attempt_is(sessionmaker, view.subscription_id, 2))
    await skip_to(env, failed_at + timedelta(days=3, minutes=1))
    await eventually(lambda: _attempt_is(sessionmaker, view.subscription_id, 3))
    await skip_to(env, failed_at + timedelta(days=7, minutes=1))
    renewed = await becomes(sessionmaker, view.subscription_id, S.ACTIVE, 1)
    assert renewed.dunning is None
    # The period stays on its day: paid late, it still starts at the old end.
    assert renewed.start_date == stored.end_date
    keys = list(gateway.charges)
    assert [k.rsplit(":", 2)[-2:] for k in keys] == [
        ["renewal", "1"],
        ["renewal", "2"],
        ["renewal", "3"],
        ["renewal", "4"],
    ]
    assert len(gateway.succeeded_charges()) == 1


async def _attempt_is(
    sessionmaker: async_sessionmaker[AsyncSession], sid: uuid.UUID, attempt: int
) -> bool:
    found = await row(sessionmaker, sid)
    return bool(found.dunning and found.dunning["attempt"] == attempt)


async def test_unpaid_past_the_grace_expires(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    who: Subscribers,
    gateway: SavingGateway,
) -> None:
    view, handle, stored = await active(env, sessionmaker, task_queue, who, gateway)
    gateway.declines = ["insufficient_funds"] * 4
    await skip_to(env, end_of(stored) + timedelta(days=15))
    expired = await becomes(sessionmaker, view.subscription_id, S.EXPIRED)
    assert expired.next_charge_at is None
    assert len(gateway.charges) == 4 and not gateway.succeeded_charges()
    result = await handle.result()
    assert result.status == S.EXPIRED
    async with sessionmaker() as db:
        told = list(
            await db.scalars(
                select(Notification.title).where(
                    Notification.user_id == who.hospital_admin.id,
                    Notification.channel == Channel.IN_APP.value,
                )
            )
        )
    assert "Subscription expired" in told and "Renewal payment declined" in told


async def test_a_cancellation_during_dunning_stops_the_next_retry(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    who: Subscribers,
    gateway: SavingGateway,
) -> None:
    view, handle, stored = await active(env, sessionmaker, task_queue, who, gateway)
    gateway.declines = ["insufficient_funds"] * 4
    await skip_to(env, end_of(stored) + timedelta(hours=2))
    await becomes(sessionmaker, view.subscription_id, S.PAST_DUE)
    cancelled = await handle.execute_update(
        SubscriptionWorkflow.cancel, CancelCommand(caller=who.caller(who.hospital_admin))
    )
    assert cancelled.status == S.CANCELLED
    await skip_to(env, end_of(stored) + timedelta(days=20))
    assert len(gateway.charges) == 1
    final = await row(sessionmaker, view.subscription_id)
    assert final.status == S.CANCELLED.value and final.cancelled_at is not None


async def test_a_new_card_restarts_the_schedule_and_is_tried_at_once(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    who: Subscribers,
    gateway: SavingGateway,
) -> None:
    view, handle, stored = await active(env, sessionmaker, task_queue, who, gateway)
    gateway.declines = ["expired_card"]
    await skip_to(env, end_of(stored) + timedelta(hours=1))
    asked = await becomes(sessionmaker, view.subscription_id, S.PAST_DUE)
    assert asked.dunning is not None and asked.dunning["action"] == "ask"
    # Asked to act: nothing is retried on the same card.
    assert asked.next_charge_at is None
    await skip_to(env, end_of(stored) + timedelta(days=5))
    assert len(gateway.charges) == 1
    gateway.declines = ["insufficient_funds"]
    changed = await handle.execute_update(
        SubscriptionWorkflow.change,
        ChangeCommand(caller=who.caller(who.hospital_admin), payment_method_id="pm_new_1881"),
    )
    # Tried at once (declined again, a retryable decline): a new schedule from now.
    assert changed.status == S.PAST_DUE and changed.card_last4 == "1881"
    assert changed.dunning is not None
    now = await env.get_current_time()
    assert abs(changed.dunning.started_at - now) < timedelta(minutes=5)
    assert changed.dunning.grace_ends - changed.dunning.started_at == timedelta(days=14)
    assert len(gateway.charges) == 2
    await skip_to(env, changed.dunning.started_at + timedelta(days=1, minutes=1))
    renewed = await becomes(sessionmaker, view.subscription_id, S.ACTIVE, 1)
    assert renewed.gateway_payment_method_id == "pm_new_1881"
    assert list(gateway.charges.values())[-1][1] == "pm_new_1881"


async def test_an_upgrade_charges_the_days_left_to_the_cent(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    who: Subscribers,
    gateway: SavingGateway,
) -> None:
    view, handle, stored = await active(env, sessionmaker, task_queue, who, gateway)
    assert stored.start_date is not None and stored.end_date is not None
    days = (stored.end_date - stored.start_date).days
    await skip_to(
        env,
        datetime.combine(stored.start_date, datetime.min.time(), tzinfo=UTC)
        + timedelta(days=10, hours=3),
    )
    upgraded = await handle.execute_update(
        SubscriptionWorkflow.change,
        ChangeCommand(caller=who.caller(who.hospital_admin), plan_id=who.premium),
    )
    assert upgraded.plan_id == who.premium and upgraded.amount == Decimal("310.00")
    left = days - 10
    expected = (Decimal("210.00") * left / days).quantize(Decimal("0.01"))
    upgrade = [(k, a) for k, a in gateway.succeeded_charges() if ":upgrade:" in k]
    assert upgrade == [(upgrade[0][0], int(expected * 100))]
    charges = await charges_of(sessionmaker, view.subscription_id)
    assert charges[-1].amount == expected
    # The next renewal is the new plan's full price.
    assert upgraded.next_charge_amount == Decimal("310.00")
    # A downgrade waits for the next period.
    pending = await handle.execute_update(
        SubscriptionWorkflow.change,
        ChangeCommand(caller=who.caller(who.hospital_admin), plan_id=who.basic),
    )
    assert pending.plan_id == who.premium and pending.pending_change is not None
    assert pending.next_charge_amount == Decimal("40.00")
    await skip_to(env, end_of(stored) + timedelta(minutes=1))
    renewed = await becomes(sessionmaker, view.subscription_id, S.ACTIVE, 1)
    assert renewed.plan_id == who.basic and renewed.pending_change is None
    assert gateway.succeeded_charges()[-1][1] == 4000


async def test_yearly_renewals_across_a_leap_day(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    who: Subscribers,
    gateway: SavingGateway,
) -> None:
    # Start on a 29 February: the next leap day comes within the time the server can skip.
    now = await env.get_current_time()
    year = now.year + 1
    while not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        year += 1
    await skip_to(env, datetime(year, 2, 29, 12, tzinfo=UTC))
    view, _handle, stored = await active(
        env, sessionmaker, task_queue, who, gateway, cycle=BillingCycle.YEARLY
    )
    assert stored.start_date == date(year, 2, 29)
    assert stored.end_date == date(year + 1, 2, 28)
    for number in range(1, 5):
        stored = await row(sessionmaker, view.subscription_id)
        await skip_to(env, end_of(stored) + timedelta(minutes=1))
        stored = await becomes(sessionmaker, view.subscription_id, S.ACTIVE, number)
    # Anchored on the 29th: back on it in the next leap year.
    assert stored.start_date == date(year + 4, 2, 29)
    assert stored.end_date == date(year + 5, 2, 28)
    assert [a for _, a in gateway.succeeded_charges()] == [100000] * 4


async def test_auto_renew_off_ends_at_the_end_date_and_can_be_undone(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    who: Subscribers,
    gateway: SavingGateway,
) -> None:
    view, handle, stored = await active(env, sessionmaker, task_queue, who, gateway)
    caller = who.caller(who.hospital_admin)
    ending = await handle.execute_update(SubscriptionWorkflow.cancel, CancelCommand(caller=caller))
    assert (
        ending.status == S.ACTIVE and ending.auto_renew is False and ending.next_charge_at is None
    )
    undone = await handle.execute_update(
        SubscriptionWorkflow.change, ChangeCommand(caller=caller, auto_renew=True)
    )
    assert undone.auto_renew is True and undone.next_charge_at is not None
    # A subscriber cannot cancel now with a refund: that is staff's.
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(
            SubscriptionWorkflow.cancel, CancelCommand(caller=caller, at_period_end=False)
        )
    await handle.execute_update(SubscriptionWorkflow.cancel, CancelCommand(caller=caller))
    await skip_to(env, end_of(stored) + timedelta(minutes=1))
    ended = await becomes(sessionmaker, view.subscription_id, S.CANCELLED)
    assert ended.end_date == stored.end_date
    assert not gateway.charges

    async def told() -> bool:
        async with sessionmaker() as db:
            return "Subscription ended" in list(
                await db.scalars(
                    select(Notification.title).where(Notification.user_id == who.hospital_admin.id)
                )
            )

    assert await eventually(told)


async def test_staff_cancel_now_refunds_the_days_left(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    who: Subscribers,
    gateway: SavingGateway,
) -> None:
    view, handle, stored = await active(env, sessionmaker, task_queue, who, gateway)
    assert stored.start_date is not None and stored.end_date is not None
    days = (stored.end_date - stored.start_date).days
    await skip_to(
        env,
        datetime.combine(stored.start_date, datetime.min.time(), tzinfo=UTC)
        + timedelta(days=5, hours=1),
    )
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(
            SubscriptionWorkflow.cancel,
            CancelCommand(caller=who.caller(who.hospital_admin), at_period_end=False),
        )
    done = await handle.execute_update(
        SubscriptionWorkflow.cancel,
        CancelCommand(caller=who.caller(who.admin), at_period_end=False),
    )
    assert done.status == S.CANCELLED
    expected = (Decimal("100.00") * (days - 5) / days).quantize(Decimal("0.01"))
    assert [r.amount_minor for r in gateway.refunds.values()] == [int(expected * 100)]
    first = (await charges_of(sessionmaker, view.subscription_id))[0]
    assert first.refund_amount == expected
    async with sessionmaker() as db:
        refunds = list(
            await db.scalars(
                select(PaymentRefund.amount).where(PaymentRefund.payment_id == first.id)
            )
        )
    assert refunds == [expected]  # on its own row, counted on its day by the analytics
    async with sessionmaker() as db:
        history = list(
            await db.scalars(
                select(SubscriptionStatusHistory.to_status)
                .where(SubscriptionStatusHistory.subscription_id == view.subscription_id)
                .order_by(SubscriptionStatusHistory.seq)
            )
        )
    assert history == ["incomplete", "active", "cancelled"]


async def test_never_paid_in_the_window_expires(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    who: Subscribers,
    gateway: SavingGateway,
) -> None:
    view, _handle = await subscribe(env.client, task_queue, who, gateway, timers=TIMERS, pay=False)
    assert view.status == S.INCOMPLETE
    await skip_to(env, await env.get_current_time() + timedelta(hours=23))
    assert (await row(sessionmaker, view.subscription_id)).status == S.INCOMPLETE.value
    await skip_to(env, await env.get_current_time() + timedelta(hours=2))
    stored = await becomes(sessionmaker, view.subscription_id, S.EXPIRED)
    assert stored.start_date is None and not gateway.charges


async def test_a_gateway_adapter_without_saved_methods_is_refused_before_anything_is_written(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    who: Subscribers,
) -> None:
    subscription_id = uuid.uuid4()
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await open_subscription(
            env.client,
            task_queue,
            SubscriptionInput(
                subscription=NewSubscription(
                    subscription_id=subscription_id,
                    plan_id=who.monthly,
                    hospital_id=who.hospital_id,
                    billing_cycle=BillingCycle.MONTHLY,
                    gateway=GatewayName.RAZORPAY,
                ),
                timers=TIMERS,
            ),
        )
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.details and cause.details[0]["code"] == "SAVED_METHOD_UNSUPPORTED"
    async with sessionmaker() as db:
        assert await db.get(Subscription, subscription_id) is None


async def test_a_first_payment_arriving_after_the_subscription_ended_is_refunded(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    who: Subscribers,
    gateway: SavingGateway,
) -> None:
    view, handle = await subscribe(env.client, task_queue, who, gateway, timers=TIMERS, pay=False)
    gone = await handle.execute_update(
        SubscriptionWorkflow.cancel, CancelCommand(caller=who.caller(who.hospital_admin))
    )
    assert gone.status == S.CANCELLED
    await handle.result()
    assert view.first_payment_id is not None
    intent = gateway.intent_of(view.first_payment_id)
    gateway.pay(intent.id)
    payment = env.client.get_workflow_handle(payment_workflow_id(view.first_payment_id))
    await payment.signal(
        PaymentWorkflow.gateway_event,
        GatewayEventSignal(
            event_id=f"evt_{uuid.uuid4().hex}",
            event_type="payment_intent.succeeded",
            outcome=Outcome.SUCCEEDED,
        ),
    )

    async def refunded() -> Payment | None:
        async with sessionmaker() as db:
            found = await db.get(Payment, view.first_payment_id)
        return found if found is not None and found.status == PaymentStatus.REFUNDED.value else None

    paid = await eventually(refunded, within=30)
    assert paid.refund_amount == paid.amount == Decimal("100.00")
    assert gateway.refunded(intent.id) == 10000
    assert (await row(sessionmaker, view.subscription_id)).status == S.CANCELLED.value


async def test_periods_follow_the_subscribers_calendar_and_renew_at_their_midnight(
    env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    task_queue: str,
    gateway: SavingGateway,
) -> None:
    from zoneinfo import ZoneInfo

    kolkata = await make_subscribers(sessionmaker, timezone="Asia/Kolkata")
    # 20:00 UTC is already the next day in Kolkata (UTC+5:30): the period starts on that day.
    now = await env.get_current_time()
    await skip_to(
        env, (now + timedelta(days=2)).replace(hour=20, minute=0, second=0, microsecond=0)
    )
    paid_at = await env.get_current_time()
    view, _, stored = await active(env, sessionmaker, task_queue, kolkata, gateway)
    local_today = paid_at.astimezone(ZoneInfo("Asia/Kolkata")).date()
    assert stored.timezone == "Asia/Kolkata"
    assert stored.start_date == local_today != paid_at.date()
    assert stored.end_date is not None
    midnight = datetime.combine(
        stored.end_date, datetime.min.time(), tzinfo=ZoneInfo("Asia/Kolkata")
    )
    assert stored.next_charge_at == midnight.astimezone(UTC)
    # A minute before the subscriber's midnight nothing is charged; just after, the renewal is.
    await skip_to(env, midnight.astimezone(UTC) - timedelta(minutes=1))
    assert not gateway.charges
    await skip_to(env, midnight.astimezone(UTC) + timedelta(minutes=1))
    renewed = await becomes(sessionmaker, view.subscription_id, S.ACTIVE, 1)
    assert renewed.start_date == stored.end_date
    assert len(gateway.succeeded_charges()) == 1
