"""The payment gateways: the real Stripe SDK against localstripe, the real Razorpay SDK against a
local HTTP server speaking Razorpay's documented orders, payments and refunds API."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import pytest
import stripe
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from werkzeug import Request

from activities.providers.gateways import (
    GatewayError,
    GatewayNotConfigured,
    GatewayStatus,
    RefundStatus,
    intent_idempotency_key,
    refund_idempotency_key,
)
from activities.providers.razorpay_payments import RazorpayPayments
from activities.providers.stripe_payments import StripePayments, to_stripe_amount
from activities.providers.wiring import build_payment_gateway, build_payment_gateways
from domain.payment import PaymentGateway as GatewayName
from runtime.settings import Settings

if TYPE_CHECKING:
    from tests.fixtures.payment_fixtures import LocalStripe

pytest_plugins = ["tests.fixtures.payment_fixtures"]

STRIPE_TEST_KEY = "sk_test_medivoy_localstripe"
RZP_KEY_ID = "rzp_test_medivoy"
RZP_KEY_SECRET = "rzp-secret"


# ---- Stripe against localstripe ------------------------------------------------------------


@pytest.fixture
def stripe_gateway(localstripe: LocalStripe) -> StripePayments:
    return StripePayments(STRIPE_TEST_KEY, api_base=localstripe.url, publishable_key="pk_test_x")


def _customer_pays(localstripe: LocalStripe, intent_id: str, card: str = "pm_card_visa") -> None:
    """What Stripe.js does in the browser: attach a test card and confirm."""
    client = stripe.StripeClient(STRIPE_TEST_KEY, base_addresses={"api": localstripe.url})
    client.v1.payment_intents.update(intent_id, params={"payment_method": card})
    client.v1.payment_intents.confirm(intent_id)


def _form(body: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body).items()}


async def test_stripe_intent_is_created_paid_retrieved_and_refunded_in_part(
    stripe_gateway: StripePayments, localstripe: LocalStripe
) -> None:
    payment_id = uuid.uuid4()

    checkout = await stripe_gateway.create(
        payment_id, 12550, "USD", "Knee replacement deposit", {"booking_id": "b-1"}
    )

    assert checkout.gateway == GatewayName.STRIPE
    assert checkout.gateway_id.startswith("pi_")
    assert checkout.client_secret and checkout.client_secret.startswith(checkout.gateway_id)
    assert checkout.publishable_key == "pk_test_x"
    assert checkout.status == GatewayStatus.PENDING
    assert (checkout.amount_minor, checkout.currency) == (12550, "USD")
    [sent] = localstripe.posted("/v1/payment_intents")[-1:]
    assert sent.headers["Idempotency-Key"] == f"payment:{payment_id}:intent"
    assert sent.headers["Authorization"] == f"Bearer {STRIPE_TEST_KEY}"
    form = _form(sent.body)
    assert form["amount"] == "12550"
    assert form["currency"] == "usd"
    assert form["metadata[payment_id]"] == str(payment_id)
    assert form["metadata[booking_id]"] == "b-1"

    await asyncio.to_thread(_customer_pays, localstripe, checkout.gateway_id)
    state = await stripe_gateway.retrieve(checkout.gateway_id)

    assert state.status == GatewayStatus.SUCCEEDED
    assert state.amount_received_minor == 12550
    assert state.charge_id and state.charge_id.startswith("ch_")
    assert state.payment_id == str(payment_id)

    first = await stripe_gateway.refund(
        checkout.gateway_id, 2000, refund_idempotency_key(payment_id, 1)
    )
    second = await stripe_gateway.refund(
        checkout.gateway_id, 3000, refund_idempotency_key(payment_id, 2)
    )

    assert first.refund_id.startswith("re_") and first.refund_id != second.refund_id
    assert (first.amount_minor, first.status) == (2000, RefundStatus.SUCCEEDED)
    assert (second.amount_minor, second.currency) == (3000, "USD")
    assert first.charge_id == state.charge_id
    refunds = localstripe.posted("/v1/refunds")[-2:]
    assert [r.headers["Idempotency-Key"] for r in refunds] == [
        f"payment:{payment_id}:refund:1",
        f"payment:{payment_id}:refund:2",
    ]
    assert _form(refunds[0].body)["payment_intent"] == checkout.gateway_id
    assert _form(refunds[0].body)["amount"] == "2000"


async def test_stripe_declined_card_is_a_failed_attempt_with_its_reason(
    stripe_gateway: StripePayments, localstripe: LocalStripe
) -> None:
    checkout = await stripe_gateway.create(uuid.uuid4(), 5000, "EUR", "Consultation")

    with pytest.raises(stripe.CardError):
        await asyncio.to_thread(
            _customer_pays, localstripe, checkout.gateway_id, "pm_card_chargeCustomerFail"
        )
    state = await stripe_gateway.retrieve(checkout.gateway_id)

    assert state.status == GatewayStatus.FAILED
    assert state.amount_received_minor == 0
    assert state.failure_code == "card_declined"
    assert state.failure_reason == "Your card was declined."


async def test_stripe_retry_cancels_the_earlier_intent_and_creates_a_new_one(
    stripe_gateway: StripePayments, localstripe: LocalStripe
) -> None:
    payment_id = uuid.uuid4()
    first = await stripe_gateway.create(payment_id, 5000, "USD", "Deposit")

    cancelled = await stripe_gateway.cancel(first.gateway_id)
    second = await stripe_gateway.create(payment_id, 5000, "USD", "Deposit", attempt=2)

    assert cancelled.status == GatewayStatus.CANCELED
    assert second.gateway_id != first.gateway_id
    assert localstripe.posted("/v1/payment_intents")[-1].headers["Idempotency-Key"] == (
        intent_idempotency_key(payment_id, 2)
    )
    assert (await stripe_gateway.retrieve(second.gateway_id)).status == GatewayStatus.PENDING


async def test_stripe_cancel_of_a_paid_intent_reports_it_paid(
    stripe_gateway: StripePayments, localstripe: LocalStripe
) -> None:
    checkout = await stripe_gateway.create(uuid.uuid4(), 5000, "USD", "Deposit")
    await asyncio.to_thread(_customer_pays, localstripe, checkout.gateway_id)

    state = await stripe_gateway.cancel(checkout.gateway_id)

    assert state.status == GatewayStatus.SUCCEEDED


async def test_stripe_zero_decimal_currency_goes_in_whole_units(
    stripe_gateway: StripePayments, localstripe: LocalStripe
) -> None:
    checkout = await stripe_gateway.create(uuid.uuid4(), 5000, "JPY", "Deposit")

    assert _form(localstripe.posted("/v1/payment_intents")[-1].body)["amount"] == "5000"
    assert (checkout.amount_minor, checkout.currency) == (5000, "JPY")


def test_stripe_special_cases_of_minor_units() -> None:
    # ISK is zero-decimal in ISO 4217 but two-decimal in Stripe's API.
    assert to_stripe_amount(500, "ISK") == 50000
    # Three-decimal currencies must end in 0 at Stripe.
    assert to_stripe_amount(1230, "KWD") == 1230
    with pytest.raises(GatewayError) as raised:
        to_stripe_amount(1234, "KWD")
    assert raised.value.permanent


async def test_stripe_unknown_intent_is_a_permanent_error(stripe_gateway: StripePayments) -> None:
    with pytest.raises(GatewayError) as raised:
        await stripe_gateway.retrieve("pi_doesnotexist")
    assert raised.value.permanent
    assert "404" in raised.value.summary


async def test_stripe_bad_key_is_an_error_worth_retrying_once_fixed(
    localstripe: LocalStripe,
) -> None:
    gateway = StripePayments("rk_wrong", api_base=localstripe.url)
    with pytest.raises(GatewayError) as raised:
        await gateway.create(uuid.uuid4(), 5000, "USD", "Deposit")
    assert "401" in raised.value.summary
    assert not raised.value.permanent


async def test_stripe_unreachable_is_a_retryable_error() -> None:
    from runtime.postgres import free_port

    gateway = StripePayments(STRIPE_TEST_KEY, api_base=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(GatewayError) as raised:
        await gateway.retrieve("pi_x")
    assert not raised.value.permanent


# ---- Razorpay against a local server speaking its documented API ---------------------------


@pytest.fixture
def razorpay_gateway(httpserver: HTTPServer) -> RazorpayPayments:
    return RazorpayPayments(
        RZP_KEY_ID, RZP_KEY_SECRET, base_url=httpserver.url_for("/").rstrip("/")
    )


def _order(order_id: str, payment_id: uuid.UUID, amount: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": order_id,
        "entity": "order",
        "amount": amount,
        "amount_paid": fields.pop("amount_paid", 0),
        "amount_due": amount - fields.get("amount_paid", 0),
        "currency": fields.pop("currency", "INR"),
        "receipt": str(payment_id),
        "offer_id": None,
        "status": fields.pop("status", "created"),
        "attempts": fields.pop("attempts", 0),
        "notes": fields.pop("notes", {"payment_id": str(payment_id), "attempt": "1"}),
        "created_at": 1582628071,
        **fields,
    }


def _payment(pay_id: str, order_id: str, amount: int, status: str, **fields: Any) -> dict[str, Any]:
    failed = status == "failed"
    return {
        "id": pay_id,
        "entity": "payment",
        "amount": amount,
        "currency": "INR",
        "status": status,
        "order_id": order_id,
        "invoice_id": None,
        "international": False,
        "method": "card",
        "amount_refunded": 0,
        "refund_status": None,
        "captured": status == "captured",
        "description": "Knee replacement deposit",
        "email": "patient@example.com",
        "contact": "+919000090000",
        "notes": [],
        "fee": None if failed else 2950,
        "tax": None if failed else 450,
        "error_code": "BAD_REQUEST_ERROR" if failed else None,
        "error_description": "Payment was declined by the bank." if failed else None,
        "error_source": "bank" if failed else None,
        "error_step": "payment_authorization" if failed else None,
        "error_reason": "payment_declined" if failed else None,
        "created_at": fields.pop("created_at", 1582628100),
        **fields,
    }


def _collection(*items: dict[str, Any]) -> dict[str, Any]:
    return {"entity": "collection", "count": len(items), "items": list(items)}


def _refund(refund_id: str, pay_id: str, amount: int, key: str) -> dict[str, Any]:
    return {
        "id": refund_id,
        "entity": "refund",
        "amount": amount,
        "receipt": None,
        "currency": "INR",
        "payment_id": pay_id,
        "notes": {"idempotency_key": key},
        "acquirer_data": {"arn": None},
        "created_at": 1597078866,
        "batch_id": None,
        "status": "processed",
        "speed_processed": "normal",
        "speed_requested": "normal",
    }


def _basic_auth(request: Request) -> tuple[str, str]:
    scheme, _, encoded = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    key_id, _, secret = base64.b64decode(encoded).decode().partition(":")
    return key_id, secret


async def test_razorpay_order_is_created_with_the_payment_as_receipt(
    razorpay_gateway: RazorpayPayments, httpserver: HTTPServer
) -> None:
    payment_id = uuid.uuid4()
    httpserver.expect_oneshot_request(
        "/v1/orders", method="GET", query_string={"receipt": str(payment_id), "count": "100"}
    ).respond_with_json(_collection())
    httpserver.expect_oneshot_request("/v1/orders", method="POST").respond_with_json(
        _order("order_EKwxwAgItmmXdp", payment_id, 1255000)
    )

    checkout = await razorpay_gateway.create(
        payment_id, 1255000, "inr", "Knee replacement deposit", {"booking_id": "b-1"}
    )

    assert checkout.gateway == GatewayName.RAZORPAY
    assert checkout.gateway_id == checkout.order_id == "order_EKwxwAgItmmXdp"
    assert checkout.key_id == RZP_KEY_ID
    assert checkout.client_secret is None
    assert (checkout.amount_minor, checkout.currency) == (1255000, "INR")
    assert checkout.status == GatewayStatus.PENDING
    created, _ = httpserver.log[-1]
    assert _basic_auth(created) == (RZP_KEY_ID, RZP_KEY_SECRET)
    body = created.get_json()
    assert body["amount"] == 1255000
    assert body["currency"] == "INR"
    assert body["receipt"] == str(payment_id)
    assert body["notes"]["payment_id"] == str(payment_id)
    assert body["notes"]["attempt"] == "1"
    assert body["notes"]["booking_id"] == "b-1"


async def test_razorpay_retried_create_reuses_the_order_of_the_attempt(
    razorpay_gateway: RazorpayPayments, httpserver: HTTPServer
) -> None:
    payment_id = uuid.uuid4()
    existing = _order("order_first", payment_id, 50000)
    httpserver.expect_request("/v1/orders", method="GET").respond_with_json(_collection(existing))

    checkout = await razorpay_gateway.create(payment_id, 50000, "INR", "Deposit")

    assert checkout.order_id == "order_first"
    assert [r.method for r, _ in httpserver.log] == ["GET"]


async def test_razorpay_new_attempt_gets_a_new_order(
    razorpay_gateway: RazorpayPayments, httpserver: HTTPServer
) -> None:
    payment_id = uuid.uuid4()
    httpserver.expect_request("/v1/orders", method="GET").respond_with_json(
        _collection(_order("order_first", payment_id, 50000))
    )
    httpserver.expect_oneshot_request("/v1/orders", method="POST").respond_with_json(
        _order("order_second", payment_id, 50000, notes={"attempt": "2"})
    )

    checkout = await razorpay_gateway.create(payment_id, 50000, "INR", "Deposit", attempt=2)

    assert checkout.order_id == "order_second"
    assert httpserver.log[-1][0].get_json()["notes"]["attempt"] == "2"


async def test_razorpay_paid_order_reads_back_as_succeeded_with_its_payment(
    razorpay_gateway: RazorpayPayments, httpserver: HTTPServer
) -> None:
    payment_id = uuid.uuid4()
    order = _order("order_paid", payment_id, 50000, status="paid", amount_paid=50000, attempts=2)
    httpserver.expect_request("/v1/orders/order_paid", method="GET").respond_with_json(order)
    httpserver.expect_request("/v1/orders/order_paid/payments", method="GET").respond_with_json(
        _collection(
            _payment("pay_failed", "order_paid", 50000, "failed", created_at=1582628090),
            _payment("pay_ok", "order_paid", 50000, "captured"),
        )
    )

    state = await razorpay_gateway.retrieve("order_paid")

    assert state.status == GatewayStatus.SUCCEEDED
    assert state.charge_id == "pay_ok"
    assert state.amount_received_minor == 50000
    assert state.payment_id == str(payment_id)
    assert state.failure_reason is None
    assert _basic_auth(httpserver.log[0][0]) == (RZP_KEY_ID, RZP_KEY_SECRET)


async def test_razorpay_order_with_only_failed_payments_is_failed(
    razorpay_gateway: RazorpayPayments, httpserver: HTTPServer
) -> None:
    order = _order("order_f", uuid.uuid4(), 50000, status="attempted", attempts=1)
    httpserver.expect_request("/v1/orders/order_f", method="GET").respond_with_json(order)
    httpserver.expect_request("/v1/orders/order_f/payments", method="GET").respond_with_json(
        _collection(_payment("pay_f", "order_f", 50000, "failed"))
    )

    state = await razorpay_gateway.retrieve("order_f")

    assert state.status == GatewayStatus.FAILED
    # The exact reason, not the error class every decline shares.
    assert state.failure_code == "payment_declined"
    assert state.failure_reason == "Payment was declined by the bank."
    assert state.amount_received_minor == 0


async def test_razorpay_order_without_payments_is_pending_and_cannot_be_cancelled(
    razorpay_gateway: RazorpayPayments, httpserver: HTTPServer
) -> None:
    order = _order("order_p", uuid.uuid4(), 50000)
    httpserver.expect_request("/v1/orders/order_p", method="GET").respond_with_json(order)
    httpserver.expect_request("/v1/orders/order_p/payments", method="GET").respond_with_json(
        _collection()
    )

    assert (await razorpay_gateway.retrieve("order_p")).status == GatewayStatus.PENDING
    # No cancel endpoint exists: cancel reads the order and changes nothing.
    assert (await razorpay_gateway.cancel("order_p")).status == GatewayStatus.PENDING
    assert all(r.method == "GET" for r, _ in httpserver.log)


async def test_razorpay_partial_refund_of_the_captured_payment_carries_its_key(
    razorpay_gateway: RazorpayPayments, httpserver: HTTPServer
) -> None:
    payment_id = uuid.uuid4()
    key = refund_idempotency_key(payment_id, 1)
    order = _order("order_r", payment_id, 50000, status="paid", amount_paid=50000)
    httpserver.expect_request("/v1/orders/order_r", method="GET").respond_with_json(order)
    httpserver.expect_request("/v1/orders/order_r/payments", method="GET").respond_with_json(
        _collection(_payment("pay_r", "order_r", 50000, "captured"))
    )
    httpserver.expect_oneshot_request("/v1/payments/pay_r/refunds", method="GET").respond_with_json(
        _collection()
    )
    httpserver.expect_oneshot_request("/v1/payments/pay_r/refund", method="POST").respond_with_json(
        _refund("rfnd_FP8QHiV938haTz", "pay_r", 20000, key)
    )

    refund = await razorpay_gateway.refund("order_r", 20000, key)

    assert refund.refund_id == "rfnd_FP8QHiV938haTz"
    assert refund.status == RefundStatus.SUCCEEDED
    assert (refund.amount_minor, refund.currency, refund.charge_id) == (20000, "INR", "pay_r")
    posted, _ = httpserver.log[-1]
    assert _basic_auth(posted) == (RZP_KEY_ID, RZP_KEY_SECRET)
    assert posted.get_json() == {"amount": 20000, "notes": {"idempotency_key": key}}


async def test_razorpay_retried_refund_finds_the_first_instead_of_refunding_twice(
    razorpay_gateway: RazorpayPayments, httpserver: HTTPServer
) -> None:
    key = refund_idempotency_key(uuid.uuid4(), 1)
    httpserver.expect_request("/v1/payments/pay_r/refunds", method="GET").respond_with_json(
        _collection(_refund("rfnd_first", "pay_r", 20000, key))
    )

    refund = await razorpay_gateway.refund("pay_r", 20000, key)

    assert refund.refund_id == "rfnd_first"
    assert [r.method for r, _ in httpserver.log] == ["GET"]


async def test_razorpay_rejected_request_is_permanent_and_outage_is_not(
    razorpay_gateway: RazorpayPayments, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v1/orders/order_bad", method="GET").respond_with_json(
        {"error": {"code": "BAD_REQUEST_ERROR", "description": "The id provided does not exist"}},
        status=400,
    )
    httpserver.expect_request("/v1/orders/order_down", method="GET").respond_with_json(
        {"error": {"code": "SERVER_ERROR", "description": "The server encountered an error."}},
        status=500,
    )

    with pytest.raises(GatewayError) as rejected:
        await razorpay_gateway.retrieve("order_bad")
    with pytest.raises(GatewayError) as down:
        await razorpay_gateway.retrieve("order_down")

    assert rejected.value.permanent
    assert "does not exist" in str(rejected.value)
    assert not down.value.permanent


async def test_razorpay_three_decimal_amount_must_end_in_zero(
    razorpay_gateway: RazorpayPayments,
) -> None:
    with pytest.raises(GatewayError) as raised:
        await razorpay_gateway.create(uuid.uuid4(), 295991, "KWD", "Deposit")
    assert raised.value.permanent


# ---- the builder ---------------------------------------------------------------------------


def test_builder_offers_only_the_configured_gateways() -> None:
    bare = Settings(_env_file=None)
    assert build_payment_gateways(bare) == {}
    with pytest.raises(GatewayNotConfigured):
        build_payment_gateway(bare, GatewayName.STRIPE)

    configured = Settings(
        _env_file=None,
        stripe_secret_key=SecretStr(STRIPE_TEST_KEY),
        stripe_api_base="http://127.0.0.1:1",
        razorpay_key_id=RZP_KEY_ID,
        razorpay_key_secret=SecretStr(RZP_KEY_SECRET),
        razorpay_base_url="http://127.0.0.1:2",
    )
    gateways = build_payment_gateways(configured)
    assert isinstance(gateways[GatewayName.STRIPE], StripePayments)
    assert isinstance(gateways[GatewayName.RAZORPAY], RazorpayPayments)


def test_idempotency_keys_come_from_the_business() -> None:
    payment_id = uuid.UUID("3f2c0000-0000-4000-8000-000000000001")
    assert intent_idempotency_key(payment_id) == f"payment:{payment_id}:intent"
    assert intent_idempotency_key(payment_id, 2) == f"payment:{payment_id}:intent:2"
    assert refund_idempotency_key(payment_id, 3) == f"payment:{payment_id}:refund:3"
    assert json.dumps(intent_idempotency_key(payment_id))
