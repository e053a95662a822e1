"""A period is never charged twice at Stripe: charge_saved finds the intent its key already made
(by the key in the intent's metadata, since Stripe forgets idempotency keys after 24 hours and
localstripe keeps none) and answers its state instead of charging again. The real SDK against
localstripe, and the subscription charge activity on real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import stripe
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.providers.gateways import GatewayStatus, subscription_charge_key
from activities.providers.stripe_payments import StripePayments
from activities.subscriptions import (
    ChargeRequest,
    NewSubscription,
    SubscriptionActivities,
    charge_id_for,
)
from domain.models.payments import Payment
from domain.payment import PaymentGateway as GatewayName
from domain.payment import PaymentStatus
from domain.subscription import BillingCycle
from runtime.settings import Settings
from tests.builders.subscription_builders import (
    DECLINES_CHARGES,
    VISA,
    make_subscribers,
    stripe_card,
)

if TYPE_CHECKING:
    from tests.fixtures.payment_fixtures import LocalStripe

pytest_plugins = ["tests.fixtures.payment_fixtures"]


@pytest.fixture
def gateway(localstripe: LocalStripe) -> StripePayments:
    # localstripe refuses setup_future_usage; cards are attached to the customer instead.
    return StripePayments(localstripe.api_key, api_base=localstripe.url, setup_future_usage=False)


def _api(localstripe: LocalStripe) -> stripe.StripeClient:
    return stripe.StripeClient(localstripe.api_key, base_addresses={"api": localstripe.url})


def _intents_of(localstripe: LocalStripe, customer: str) -> list[dict[str, Any]]:
    listed = _api(localstripe).v1.payment_intents.list(params={"customer": customer, "limit": 100})
    return [dict(i.to_dict()) for i in listed.data]


def _creates_with(localstripe: LocalStripe, key: str) -> int:
    return sum(
        1
        for r in localstripe.posted("/v1/payment_intents")
        if r.headers.get("Idempotency-Key") == key
    )


def first_created(intents: list[dict[str, Any]]) -> int:
    return max(int(i["created"]) for i in intents)


async def _customer_with(
    gateway: StripePayments, localstripe: LocalStripe, number: str
) -> tuple[str, str]:
    customer = await gateway.create_customer(f"subscription:{uuid.uuid4()}:customer", {})
    card = await asyncio.to_thread(stripe_card, localstripe.url, localstripe.api_key, number)
    await gateway.attach_method(card, customer)
    return customer, card


async def test_the_same_key_twice_charges_once_and_answers_the_first_charge(
    gateway: StripePayments, localstripe: LocalStripe
) -> None:
    customer, card = await _customer_with(gateway, localstripe, VISA)
    key = subscription_charge_key(uuid.uuid4(), 1, "renewal", 1)
    first = await gateway.charge_saved(customer, card, 10000, "USD", key, {"period": "1"})
    again = await gateway.charge_saved(customer, card, 10000, "USD", key, {"period": "1"})
    assert first.status == GatewayStatus.SUCCEEDED and first.amount_received_minor == 10000
    assert again == first
    intents = await asyncio.to_thread(_intents_of, localstripe, customer)
    assert [i["id"] for i in intents] == [first.gateway_id]
    assert _creates_with(localstripe, key) == 1
    # The look-up's window (Stripe's created filter) holds at the local peer too.
    later = {"gt": first_created(intents) + 1}
    listed = await asyncio.to_thread(
        lambda: _api(localstripe).v1.payment_intents.list(
            params={"customer": customer, "created": later}
        )
    )
    assert listed.data == []
    # The next period's key is a charge of its own.
    next_key = subscription_charge_key(uuid.uuid4(), 2, "renewal", 1)
    following = await gateway.charge_saved(customer, card, 10000, "USD", next_key, {})
    assert following.status == GatewayStatus.SUCCEEDED
    assert following.gateway_id != first.gateway_id
    assert len(await asyncio.to_thread(_intents_of, localstripe, customer)) == 2


async def test_a_declined_key_is_not_tried_again_but_the_next_dunning_try_charges(
    gateway: StripePayments, localstripe: LocalStripe
) -> None:
    customer, declining = await _customer_with(gateway, localstripe, DECLINES_CHARGES)
    subscription_id = uuid.uuid4()
    key = subscription_charge_key(subscription_id, 1, "renewal", 1)
    declined = await gateway.charge_saved(customer, declining, 10000, "USD", key, {})
    assert declined.status == GatewayStatus.FAILED and declined.failure_code
    again = await gateway.charge_saved(customer, declining, 10000, "USD", key, {})
    assert _creates_with(localstripe, key) == 1
    intents = await asyncio.to_thread(_intents_of, localstripe, customer)
    assert len(intents) == 1
    # Answered as the decline was: same status, code and amounts, and the intent it made.
    assert again.status == GatewayStatus.FAILED
    assert again.failure_code == declined.failure_code
    assert again.gateway_status == declined.gateway_status == "declined"
    assert (again.amount_minor, again.amount_received_minor) == (10000, 0)
    assert again == declined and again.gateway_id == intents[0]["id"]
    # The next dunning try (a new key), after the holder changed the card, is charged.
    card = await asyncio.to_thread(stripe_card, localstripe.url, localstripe.api_key, VISA)
    await gateway.attach_method(card, customer)
    retry_key = subscription_charge_key(subscription_id, 1, "renewal", 2)
    retried = await gateway.charge_saved(customer, card, 10000, "USD", retry_key, {})
    assert retried.status == GatewayStatus.SUCCEEDED
    assert _creates_with(localstripe, retry_key) == 1
    assert len(await asyncio.to_thread(_intents_of, localstripe, customer)) == 2


async def test_an_intent_of_the_key_with_another_amount_is_refused(
    gateway: StripePayments, localstripe: LocalStripe
) -> None:
    from activities.providers.gateways import GatewayError

    customer, card = await _customer_with(gateway, localstripe, VISA)
    key = subscription_charge_key(uuid.uuid4(), 1, "renewal", 1)
    await gateway.charge_saved(customer, card, 10000, "USD", key, {})
    with pytest.raises(GatewayError) as refused:
        await gateway.charge_saved(customer, card, 20000, "USD", key, {})
    assert refused.value.permanent
    assert _creates_with(localstripe, key) == 1


@pytest.mark.parametrize("number", [VISA, DECLINES_CHARGES])
async def test_a_charge_made_before_the_worker_died_is_written_not_charged_again(
    number: str,
    gateway: StripePayments,
    localstripe: LocalStripe,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    tmp_path: Path,
) -> None:
    """The worker charged the card and died before writing the outcome (the gateway call is
    made here as the activity makes it); the retried activity finds the charge and writes it."""
    settings = Settings(
        database_url=database_url, jwt_secret="x" * 32, storage_dir=str(tmp_path / "files")
    )
    acts = SubscriptionActivities(sessionmaker, {GatewayName.STRIPE: gateway}, settings)
    who = await make_subscribers(sessionmaker)
    env = ActivityEnvironment()
    stored = await env.run(
        acts.create_subscription,
        NewSubscription(
            subscription_id=uuid.uuid4(),
            plan_id=who.monthly,
            hospital_id=who.hospital_id,
            billing_cycle=BillingCycle.MONTHLY,
            gateway=GatewayName.STRIPE,
        ),
    )
    sid = stored.subscription_id
    customer, card = await _customer_with(gateway, localstripe, number)
    key = subscription_charge_key(sid, 1, "renewal", 1)
    payment_id = charge_id_for(sid, 1, "renewal", 1)
    before = await gateway.charge_saved(
        customer,
        card,
        10000,
        "USD",
        key,
        {"subscription_id": str(sid), "payment_id": str(payment_id), "period": "1"},
    )
    request = ChargeRequest(
        subscription_id=sid,
        period=1,
        amount=Decimal("100.00"),
        currency="USD",
        gateway=GatewayName.STRIPE,
        customer_id=customer,
        payment_method_id=card,
        at=datetime.now(UTC),
    )
    result = await env.run(acts.charge_subscription, request)
    again = await env.run(acts.charge_subscription, request)
    assert result == again and result.payment_id == payment_id
    intents = await asyncio.to_thread(_intents_of, localstripe, customer)
    assert len(intents) == 1 and _creates_with(localstripe, key) == 1
    assert result.gateway_id == intents[0]["id"]
    async with sessionmaker() as db:
        rows = (await db.scalars(select(Payment).where(Payment.subscription_id == sid))).all()
    assert [r.id for r in rows] == [payment_id]
    if number == VISA:
        assert before.status == GatewayStatus.SUCCEEDED and result.succeeded
        assert rows[0].status == PaymentStatus.COMPLETED.value
    else:
        assert before.status == GatewayStatus.FAILED and not result.succeeded
        assert result.decline_code == before.failure_code
        assert rows[0].status == PaymentStatus.FAILED.value
        assert rows[0].failure_reason == before.failure_code
    assert rows[0].gateway_payment_intent_id == intents[0]["id"]
