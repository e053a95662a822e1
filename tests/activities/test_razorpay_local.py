"""The Razorpay adapter with the real SDK against the stateful local Razorpay: orders found again by
receipt, payments read back, refunds limited by what was captured, failures and bad keys."""

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
)
from activities.providers.razorpay_payments import RazorpayPayments

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
