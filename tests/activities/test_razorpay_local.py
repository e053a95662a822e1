"""The Razorpay adapter with the real SDK against the stateful local Razorpay: orders found again by
receipt, payments read back, refunds limited by what was captured, failures and bad keys, and the
recurring card flow of subscriptions (a customer, the token its first payment saves, renewals
charged on it once per key, declines with their reason)."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import pytest
import razorpay
from razorpay.errors import BadRequestError

from activities.providers.gateways import (
    GatewayError,
    GatewayStatus,
    RefundStatus,
    refund_idempotency_key,
    subscription_charge_key,
    subscription_customer_key,
)
from activities.providers.razorpay_payments import RazorpayPayments
from domain.subscription import DeclineAction, decline_action
from tests.fixtures.razorpay_fixtures import BLOCKED_CARD, INSUFFICIENT_FUNDS_CARD

if TYPE_CHECKING:
    from tests.fixtures.razorpay_fixtures import LocalRazorpay

pytest_plugins = ["tests.fixtures.razorpay_fixtures"]


@pytest.fixture
def gateway(local_razorpay: LocalRazorpay) -> RazorpayPayments:
    return RazorpayPayments(
        local_razorpay.key_id, local_razorpay.key_secret, base_url=local_razorpay.url
    )


async def test_order_is_created_once_per_attempt_with_the_payment_as_receipt(
    gateway: RazorpayPayments, local_razorpay: LocalRazorpay
) -> None:
    payment_id = uuid.uuid4()

    first = await gateway.create(payment_id, 118000, "INR", "Medivoy MV-1", {"booking_id": "b"})
    again = await gateway.create(payment_id, 118000, "INR", "Medivoy MV-1")
    second_attempt = await gateway.create(payment_id, 118000, "INR", "Medivoy MV-1", attempt=2)

    assert first.order_id == again.order_id != second_attempt.order_id
    assert first.order_id is not None and first.order_id.startswith("order_")
    assert len(first.order_id) == len("order_") + 14
    assert first.key_id == local_razorpay.key_id
    assert first.status == GatewayStatus.PENDING
    assert len(local_razorpay.orders_created()) == 2
    order = local_razorpay.order(first.order_id)
    assert (order["amount"], order["currency"], order["receipt"]) == (
        118000,
        "INR",
        str(payment_id),
    )
    assert order["notes"]["attempt"] == "1" and order["notes"]["booking_id"] == "b"
    assert (order["status"], order["amount_due"], order["attempts"]) == ("created", 118000, 0)


async def test_paid_order_is_refunded_in_parts_up_to_what_was_captured(
    gateway: RazorpayPayments, local_razorpay: LocalRazorpay
) -> None:
    payment_id = uuid.uuid4()
    checkout = await gateway.create(payment_id, 118000, "INR", "Deposit")
    assert checkout.order_id is not None
    paid = local_razorpay.customer_pays(checkout.order_id)

    state = await gateway.retrieve(checkout.order_id)
    assert state.status == GatewayStatus.SUCCEEDED
    assert (state.charge_id, state.gateway_status) == (paid["id"], "paid")
    assert (state.amount_received_minor, state.amount_refunded_minor) == (118000, 0)
    assert state.payment_id == str(payment_id)

    first_key = refund_idempotency_key(payment_id, 1)
    part = await gateway.refund(checkout.order_id, 25000, first_key, {"payment_id": "p"})
    repeated = await gateway.refund(checkout.order_id, 25000, first_key)
    assert part.refund_id == repeated.refund_id and part.refund_id.startswith("rfnd_")
    assert (part.status, part.amount_minor, part.charge_id) == (
        RefundStatus.SUCCEEDED,
        25000,
        paid["id"],
    )
    assert len(local_razorpay.refunds_created()) == 1
    partly = local_razorpay.payment(paid["id"])
    assert (partly["status"], partly["amount_refunded"], partly["refund_status"]) == (
        "captured",
        25000,
        "partial",
    )
    assert (await gateway.retrieve(checkout.order_id)).amount_refunded_minor == 25000

    with pytest.raises(GatewayError) as exceeded:
        await gateway.refund(checkout.order_id, 93001, refund_idempotency_key(payment_id, 2))
    assert exceeded.value.permanent
    assert "greater than" in str(exceeded.value)

    await gateway.refund(checkout.order_id, 93000, refund_idempotency_key(payment_id, 3))
    refunded = local_razorpay.payment(paid["id"])
    assert (refunded["status"], refunded["refund_status"]) == ("refunded", "full")
    after = await gateway.retrieve(checkout.order_id)
    assert after.status == GatewayStatus.SUCCEEDED
    assert (after.amount_received_minor, after.amount_refunded_minor) == (118000, 118000)
    notes = [r["notes"]["idempotency_key"] for r in local_razorpay.refunds_of(paid["id"])]
    assert sorted(notes) == [first_key, refund_idempotency_key(payment_id, 3)]


async def test_declined_card_fails_the_order_until_another_card_pays_it(
    gateway: RazorpayPayments, local_razorpay: LocalRazorpay
) -> None:
    checkout = await gateway.create(uuid.uuid4(), 50000, "INR", "Deposit")
    assert checkout.order_id is not None
    declined = local_razorpay.card_declined(checkout.order_id)

    failed = await gateway.retrieve(checkout.order_id)
    assert failed.status == GatewayStatus.FAILED
    assert failed.gateway_status == "attempted"
    assert failed.charge_id == declined["id"]
    assert failed.failure_code == "card_declined"
    assert failed.failure_reason == declined["error_description"]

    # A Razorpay order stays payable after a failed payment: Checkout lets the customer retry.
    paid = local_razorpay.customer_pays(checkout.order_id)
    state = await gateway.retrieve(checkout.order_id)
    assert (state.status, state.charge_id, state.failure_code) == (
        GatewayStatus.SUCCEEDED,
        paid["id"],
        None,
    )


async def test_wrong_key_is_refused_with_razorpays_error(
    local_razorpay: LocalRazorpay,
) -> None:
    wrong = RazorpayPayments(local_razorpay.key_id, "not-the-secret", base_url=local_razorpay.url)
    with pytest.raises(GatewayError) as refused:
        await wrong.retrieve("order_whatever")
    assert refused.value.permanent
    assert "Authentication failed" in str(refused.value)
    assert local_razorpay.requests[-1].path == "/v1/orders/order_whatever"

    # The SDK alone: the 401's body is Razorpay's error JSON.
    client = razorpay.Client(auth=(local_razorpay.key_id, "nope"), base_url=local_razorpay.url)
    with pytest.raises(BadRequestError, match="Authentication failed"):
        await asyncio.to_thread(client.order.fetch, "order_x")


async def test_unknown_ids_and_bad_orders_are_bad_requests(
    gateway: RazorpayPayments, local_razorpay: LocalRazorpay
) -> None:
    with pytest.raises(GatewayError, match="does not exist") as unknown:
        await gateway.retrieve("order_000000000000000")
    assert unknown.value.permanent
    client = razorpay.Client(
        auth=(local_razorpay.key_id, local_razorpay.key_secret), base_url=local_razorpay.url
    )
    with pytest.raises(BadRequestError, match="minimum amount"):
        await asyncio.to_thread(client.order.create, {"amount": 99, "currency": "INR"})
    with pytest.raises(BadRequestError, match="receipt"):
        await asyncio.to_thread(
            client.order.create, {"amount": 100, "currency": "INR", "receipt": "r" * 41}
        )
    assert local_razorpay.orders == {}


async def _subscribed(
    gateway: RazorpayPayments, local_razorpay: LocalRazorpay, card: str
) -> tuple[uuid.UUID, str, str]:
    """A subscription's customer and first charge paid with `card` at Checkout (recurring: 1):
    the subscription id, the customer and the saved token."""
    subscription_id = uuid.uuid4()
    key = subscription_customer_key(subscription_id)
    customer = await gateway.create_customer(key, {"subscription_id": str(subscription_id)})
    checkout = await gateway.create(
        uuid.uuid4(), 10000, "INR", "Medivoy subscription", customer_id=customer
    )
    assert checkout.order_id is not None
    local_razorpay.customer_pays(checkout.order_id, recurring=True, card=card)
    saved = await gateway.saved_method(checkout.order_id, customer)
    return subscription_id, customer, saved.payment_method_id


async def test_the_first_payment_saves_a_token_and_renewals_charge_it_once_per_key(
    gateway: RazorpayPayments, local_razorpay: LocalRazorpay
) -> None:
    subscription_id = uuid.uuid4()
    key = subscription_customer_key(subscription_id)
    meta = {"subscription_id": str(subscription_id)}
    customer = await gateway.create_customer(key, meta)
    # Razorpay keeps no idempotency key: a retried create finds the customer by its notes.
    assert await gateway.create_customer(key, meta) == customer
    assert customer.startswith("cust_") and len(local_razorpay.posted("/v1/customers")) == 1
    first = uuid.uuid4()
    checkout = await gateway.create(
        first, 10000, "INR", "Medivoy subscription", customer_id=customer
    )
    assert checkout.order_id is not None
    sent = local_razorpay.orders_created()[-1].json()
    assert sent["customer_id"] == customer and sent["method"] == "card"
    assert sent["token"]["max_amount"] >= 10000 and sent["token"]["frequency"] == "as_presented"
    # Not paid with recurring: 1, the payment saves no token.
    with pytest.raises(GatewayError, match="no recurring token"):
        await gateway.saved_method(
            (await gateway.create(uuid.uuid4(), 10000, "INR", "x")).gateway_id, customer
        )
    paid = local_razorpay.customer_pays(checkout.order_id, recurring=True, email="a@h.example")
    saved = await gateway.saved_method(checkout.order_id, customer)
    assert saved.payment_method_id == paid["token_id"] and saved.payment_method_id.startswith(
        "token_"
    )
    assert (saved.customer_id, saved.last4) == (customer, "1111")
    # The renewal names the e-mail and phone Checkout collected, kept on the customer.
    assert local_razorpay.customers[customer]["email"] == "a@h.example"

    charge_key = subscription_charge_key(subscription_id, 1, "renewal", 1)
    charge_meta = {**meta, "payment_id": str(uuid.uuid4()), "period": "1"}
    renewed = await gateway.charge_saved(
        customer, saved.payment_method_id, 10000, "INR", charge_key, charge_meta
    )
    again = await gateway.charge_saved(
        customer, saved.payment_method_id, 10000, "INR", charge_key, charge_meta
    )
    assert renewed.status == GatewayStatus.SUCCEEDED and renewed.amount_received_minor == 10000
    assert again.gateway_id == renewed.gateway_id and again.charge_id == renewed.charge_id
    assert len(local_razorpay.recurring_charges()) == 1
    order = local_razorpay.order(renewed.gateway_id)
    assert order["receipt"] == charge_meta["payment_id"] and order["status"] == "paid"
    assert order["notes"]["idempotency_key"] == charge_key
    body = local_razorpay.recurring_charges()[0].json()
    assert (body["customer_id"], body["token"], body["order_id"], body["recurring"]) == (
        customer,
        saved.payment_method_id,
        renewed.gateway_id,
        "1",
    )
    assert body["email"] == "a@h.example" and body["contact"]
    payment = local_razorpay.payment(str(renewed.charge_id))
    assert payment["status"] == "captured" and payment["token_id"] == saved.payment_method_id

    # The next period is another order and another charge.
    next_key = subscription_charge_key(subscription_id, 2, "renewal", 1)
    nxt = await gateway.charge_saved(
        customer, saved.payment_method_id, 10000, "INR", next_key, {**meta, "period": "2"}
    )
    assert nxt.status == GatewayStatus.SUCCEEDED and nxt.gateway_id != renewed.gateway_id
    assert len(local_razorpay.recurring_charges()) == 2
    # Refunded like any Razorpay payment (a cancellation now).
    refund = await gateway.refund(nxt.gateway_id, 4000, refund_idempotency_key(uuid.uuid4(), 1))
    assert refund.status == RefundStatus.SUCCEEDED and refund.charge_id == nxt.charge_id


async def test_declined_renewals_carry_razorpays_reason_and_are_not_charged_again(
    gateway: RazorpayPayments, local_razorpay: LocalRazorpay
) -> None:
    subscription_id, customer, token = await _subscribed(
        gateway, local_razorpay, INSUFFICIENT_FUNDS_CARD
    )
    key = subscription_charge_key(subscription_id, 1, "renewal", 1)
    meta = {"payment_id": str(uuid.uuid4())}
    declined = await gateway.charge_saved(customer, token, 10000, "INR", key, meta)
    assert declined.status == GatewayStatus.FAILED
    assert declined.failure_code == "insufficient_funds"
    assert declined.failure_reason and "insufficient" in declined.failure_reason
    assert decline_action(declined.failure_code) == DeclineAction.RETRY
    # A retried activity reads the decline back; the token is not debited twice for one key.
    assert (await gateway.charge_saved(customer, token, 10000, "INR", key, meta)).status == (
        GatewayStatus.FAILED
    )
    assert len(local_razorpay.recurring_charges()) == 1

    subscription_id, customer, token = await _subscribed(gateway, local_razorpay, BLOCKED_CARD)
    lost = await gateway.charge_saved(
        customer, token, 10000, "INR", subscription_charge_key(subscription_id, 1, "renewal", 1), {}
    )
    assert lost.status == GatewayStatus.FAILED
    assert decline_action(lost.failure_code) == DeclineAction.STOP

    # A card that paid before and is then declined by its bank (it now asks to authenticate).
    subscription_id, customer, token = await _subscribed(
        gateway, local_razorpay, "4111111111111111"
    )
    local_razorpay.bank_declines(token, "authentication_failed", "Authentication failed.")
    asked = await gateway.charge_saved(
        customer, token, 10000, "INR", subscription_charge_key(subscription_id, 1, "renewal", 1), {}
    )
    assert asked.failure_code == "authentication_failed"
    assert decline_action(asked.failure_code) == DeclineAction.ASK


async def test_a_token_of_another_customer_or_not_recurring_is_refused(
    gateway: RazorpayPayments, local_razorpay: LocalRazorpay
) -> None:
    _, customer, token = await _subscribed(gateway, local_razorpay, "4111111111111111")
    _, other, _ = await _subscribed(gateway, local_razorpay, "4111111111111111")
    assert (await gateway.attach_method(token, customer)).payment_method_id == token
    with pytest.raises(GatewayError, match="does not exist") as refused:
        await gateway.attach_method(token, other)
    assert refused.value.permanent
    with pytest.raises(GatewayError, match="token") as charged:
        await gateway.charge_saved(other, token, 10000, "INR", "k", {})
    assert charged.value.permanent
    client = razorpay.Client(
        auth=(local_razorpay.key_id, local_razorpay.key_secret), base_url=local_razorpay.url
    )
    # A token block needs a customer and method card (Razorpay's recurring authorisation).
    with pytest.raises(BadRequestError, match="customer_id"):
        await asyncio.to_thread(
            client.order.create,
            {
                "amount": 100,
                "currency": "INR",
                "method": "card",
                "token": {"max_amount": 100, "frequency": "as_presented"},
            },
        )
