"""Stripe's saved cards through the real SDK against localstripe: a subscription's customer, the
card that paid its first charge kept for later, off-session renewals (idempotent per key) and a
card that declines them."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import pytest
import stripe

from activities.providers.gateways import GatewayStatus, subscription_charge_key
from activities.providers.stripe_payments import StripePayments
from domain.subscription import DeclineAction, decline_action

if TYPE_CHECKING:
    from tests.fixtures.payment_fixtures import LocalStripe

pytest_plugins = ["tests.fixtures.payment_fixtures"]

STRIPE_TEST_KEY = "sk_test_medivoy_localstripe"
VISA = "4242424242424242"
# Attaches fine, every charge is declined (Stripe's documented test card).
DECLINES_CHARGES = "4000000000000341"


@pytest.fixture
def stripe_gateway(localstripe: LocalStripe) -> StripePayments:
    # localstripe refuses setup_future_usage; the card is attached after the charge instead.
    return StripePayments(STRIPE_TEST_KEY, api_base=localstripe.url, setup_future_usage=False)


def _card(localstripe: LocalStripe, number: str) -> str:
    client = stripe.StripeClient(STRIPE_TEST_KEY, base_addresses={"api": localstripe.url})
    method = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"},
        }
    )
    return str(method.id)


def _customer_pays(localstripe: LocalStripe, intent_id: str, method: str) -> None:
    client = stripe.StripeClient(STRIPE_TEST_KEY, base_addresses={"api": localstripe.url})
    client.v1.payment_intents.update(intent_id, params={"payment_method": method})
    client.v1.payment_intents.confirm(intent_id)


async def test_the_first_charge_keeps_the_card_and_renewals_charge_it_off_session(
    stripe_gateway: StripePayments, localstripe: LocalStripe
) -> None:
    subscription_id = uuid.uuid4()
    key = f"subscription:{subscription_id}:customer"
    meta = {"subscription_id": str(subscription_id)}
    customer = await stripe_gateway.create_customer(key, meta)
    assert customer.startswith("cus_")
    # localstripe keeps no idempotency keys: what matters is that each create carries its key.
    assert localstripe.posted("/v1/customers")[-1].headers["Idempotency-Key"] == key
    checkout = await stripe_gateway.create(
        uuid.uuid4(), 10000, "USD", "Medivoy subscription", customer_id=customer
    )
    method = await asyncio.to_thread(_card, localstripe, VISA)
    await asyncio.to_thread(_customer_pays, localstripe, checkout.gateway_id, method)
    assert (await stripe_gateway.retrieve(checkout.gateway_id)).status == GatewayStatus.SUCCEEDED
    saved = await stripe_gateway.saved_method(checkout.gateway_id, customer)
    assert saved.payment_method_id == method and saved.last4 == "4242"
    charge_key = subscription_charge_key(subscription_id, 1, "renewal", 1)
    renewed = await stripe_gateway.charge_saved(customer, method, 10000, "USD", charge_key, meta)
    assert renewed.status == GatewayStatus.SUCCEEDED
    assert renewed.amount_received_minor == 10000 and renewed.charge_id
    sent = localstripe.posted("/v1/payment_intents")[-1]
    assert sent.headers["Idempotency-Key"] == charge_key
    assert "off_session=True" in sent.body or "off_session=true" in sent.body
    client = stripe.StripeClient(STRIPE_TEST_KEY, base_addresses={"api": localstripe.url})
    intent = await asyncio.to_thread(client.v1.payment_intents.retrieve, renewed.gateway_id)
    assert intent.customer == customer and intent.payment_method == method


async def test_a_card_that_declines_renewals_reports_a_decline_to_retry(
    stripe_gateway: StripePayments, localstripe: LocalStripe
) -> None:
    subscription_id = uuid.uuid4()
    customer = await stripe_gateway.create_customer(f"subscription:{subscription_id}:customer", {})
    method = await asyncio.to_thread(_card, localstripe, DECLINES_CHARGES)
    saved = await stripe_gateway.attach_method(method, customer)
    assert saved.last4 == "0341"
    declined = await stripe_gateway.charge_saved(
        customer,
        method,
        10000,
        "USD",
        subscription_charge_key(subscription_id, 1, "renewal", 1),
        {},
    )
    assert declined.status == GatewayStatus.FAILED
    assert declined.amount_received_minor == 0 and declined.failure_code
    assert decline_action(declined.failure_code) == DeclineAction.RETRY
