"""Webhook signatures with the real HMACs, checked against the gateways' own SDK code, and the
events normalized to one shape."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
import razorpay
import stripe

from activities.providers.webhooks import (
    Outcome,
    PayloadInvalid,
    SecretNotConfigured,
    SignatureInvalid,
    SignatureMissing,
    TimestampOutOfTolerance,
    WebhookRejected,
    normalize_razorpay_event,
    normalize_stripe_event,
    verify_razorpay,
    verify_razorpay_payment,
    verify_stripe,
)
from domain.payment import PaymentGateway as GatewayName

STRIPE_SECRET = "whsec_test_medivoy"
RAZORPAY_SECRET = "razorpay-webhook-secret"
KEY_SECRET = "razorpay-key-secret"
NOW = 1_750_000_000
PAYMENT_ID = "3f2c0000-0000-4000-8000-000000000001"


def _stripe_event(event_type: str = "payment_intent.succeeded") -> bytes:
    event = {
        "id": "evt_3NqA1",
        "object": "event",
        "type": event_type,
        "created": NOW,
        "data": {
            "object": {
                "id": "pi_3NqA1",
                "object": "payment_intent",
                "amount": 12550,
                "currency": "usd",
                "status": "succeeded",
                "latest_charge": "ch_3NqA1",
                "metadata": {"payment_id": PAYMENT_ID, "attempt": "1"},
            }
        },
    }
    return json.dumps(event).encode()


def _stripe_header(payload: bytes, secret: str = STRIPE_SECRET, timestamp: int = NOW) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload.decode()}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def test_stripe_event_with_a_valid_signature_is_accepted() -> None:
    payload = _stripe_event()
    header = _stripe_header(payload)

    event = verify_stripe(payload, header, STRIPE_SECRET, 300, now=NOW + 10)

    assert event["id"] == "evt_3NqA1"
    # The header is the one Stripe's own SDK accepts and generates.
    assert (
        stripe.WebhookSignature.generate_signature_header(
            payload.decode(), STRIPE_SECRET, timestamp=NOW
        )
        == header
    )
    stripe.WebhookSignature.verify_header(payload, header, STRIPE_SECRET, tolerance=None)


def test_stripe_header_with_several_signatures_is_accepted_when_one_matches() -> None:
    payload = _stripe_event()
    header = _stripe_header(payload) + ",v1=" + "0" * 64 + ",v0=deadbeef"
    assert verify_stripe(payload, header, STRIPE_SECRET, 300, now=NOW)["type"]


def test_stripe_tampered_body_is_rejected() -> None:
    payload = _stripe_event()
    header = _stripe_header(payload)
    tampered = payload.replace(b"12550", b"99999")

    with pytest.raises(SignatureInvalid):
        verify_stripe(tampered, header, STRIPE_SECRET, 300, now=NOW)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, header, STRIPE_SECRET, tolerance=0)


def test_stripe_signature_with_another_secret_is_rejected() -> None:
    payload = _stripe_event()
    with pytest.raises(SignatureInvalid):
        verify_stripe(payload, _stripe_header(payload, "whsec_other"), STRIPE_SECRET, 300, NOW)


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_stripe_timestamp_outside_the_tolerance_is_rejected(age: int) -> None:
    payload = _stripe_event()
    header = _stripe_header(payload, timestamp=NOW - age)

    with pytest.raises(TimestampOutOfTolerance) as raised:
        verify_stripe(payload, header, STRIPE_SECRET, 300, now=NOW)
    assert raised.value.code == "WEBHOOK_TIMESTAMP_STALE"


def test_stripe_sdk_agrees_that_an_old_signature_is_stale() -> None:
    payload = _stripe_event()
    old = int(time.time()) - 301
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(
            payload, _stripe_header(payload, timestamp=old), STRIPE_SECRET, tolerance=300
        )
    with pytest.raises(TimestampOutOfTolerance):
        verify_stripe(
            payload, _stripe_header(payload, timestamp=old), STRIPE_SECRET, 300, now=time.time()
        )


@pytest.mark.parametrize("header", [None, ""])
def test_stripe_missing_header_is_rejected(header: str | None) -> None:
    with pytest.raises(SignatureMissing) as raised:
        verify_stripe(_stripe_event(), header, STRIPE_SECRET, 300, now=NOW)
    assert raised.value.code == "WEBHOOK_SIGNATURE_MISSING"


@pytest.mark.parametrize("header", ["garbage", "t=abc,v1=00", f"t={NOW}", f"t={NOW},v0=abc"])
def test_stripe_malformed_header_is_rejected(header: str) -> None:
    with pytest.raises(SignatureInvalid):
        verify_stripe(_stripe_event(), header, STRIPE_SECRET, 300, now=NOW)


def test_stripe_webhook_without_a_configured_secret_is_rejected() -> None:
    payload = _stripe_event()
    with pytest.raises(SecretNotConfigured):
        verify_stripe(payload, _stripe_header(payload, ""), "", 300, now=NOW)


def test_signed_body_that_is_not_json_is_rejected() -> None:
    payload = b"not json"
    with pytest.raises(PayloadInvalid):
        verify_stripe(payload, _stripe_header(payload), STRIPE_SECRET, 300, now=NOW)


def test_every_rejection_is_a_400_kind_of_error() -> None:
    for error in (SignatureMissing, SignatureInvalid, TimestampOutOfTolerance, PayloadInvalid):
        assert issubclass(error, WebhookRejected)


def _razorpay_event(event: str = "payment.captured") -> bytes:
    body = {
        "entity": "event",
        "account_id": "acc_BFQ7uQEaa7j2z7",
        "event": event,
        "contains": ["payment"],
        "payload": {
            "payment": {
                "entity": {
                    "id": "pay_DESlfW9H8K9uqM",
                    "entity": "payment",
                    "amount": 100,
                    "currency": "INR",
                    "status": "captured",
                    "order_id": "order_DESlLckIVRkHWj",
                    "notes": [],
                    "error_code": None,
                    "created_at": 1567674599,
                }
            }
        },
        "created_at": 1567674606,
    }
    return json.dumps(body).encode()


def _razorpay_signature(payload: bytes, secret: str = RAZORPAY_SECRET) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def test_razorpay_event_with_a_valid_signature_is_accepted() -> None:
    payload = _razorpay_event()
    signature = _razorpay_signature(payload)

    event = verify_razorpay(payload, signature, RAZORPAY_SECRET)

    assert event["event"] == "payment.captured"
    # Razorpay's own SDK accepts the same signature.
    client = razorpay.Client(auth=("rzp_test", KEY_SECRET))
    assert client.utility.verify_webhook_signature(payload.decode(), signature, RAZORPAY_SECRET)


def test_razorpay_tampered_body_is_rejected() -> None:
    payload = _razorpay_event()
    with pytest.raises(SignatureInvalid):
        verify_razorpay(
            payload.replace(b'"amount": 100', b'"amount": 1'),
            _razorpay_signature(payload),
            RAZORPAY_SECRET,
        )


def test_razorpay_signature_with_another_secret_is_rejected() -> None:
    payload = _razorpay_event()
    with pytest.raises(SignatureInvalid):
        verify_razorpay(payload, _razorpay_signature(payload, "other"), RAZORPAY_SECRET)


@pytest.mark.parametrize("signature", [None, ""])
def test_razorpay_missing_signature_is_rejected(signature: str | None) -> None:
    with pytest.raises(SignatureMissing):
        verify_razorpay(_razorpay_event(), signature, RAZORPAY_SECRET)


def test_razorpay_checkout_payment_signature_is_checked_with_the_key_secret() -> None:
    order_id, payment_id = "order_DESlLckIVRkHWj", "pay_DESlfW9H8K9uqM"
    signature = hmac.new(
        KEY_SECRET.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256
    ).hexdigest()

    verify_razorpay_payment(order_id, payment_id, signature, KEY_SECRET)
    client = razorpay.Client(auth=("rzp_test", KEY_SECRET))
    assert client.utility.verify_payment_signature(
        {
            "razorpay_order_id": order_id,
            "razorpay_payment_id": payment_id,
            "razorpay_signature": signature,
        }
    )
    with pytest.raises(SignatureInvalid):
        verify_razorpay_payment(order_id, "pay_other", signature, KEY_SECRET)
    with pytest.raises(SignatureInvalid):
        verify_razorpay_payment(order_id, payment_id, signature, "another-secret")
    with pytest.raises(SignatureMissing):
        verify_razorpay_payment(order_id, payment_id, None, KEY_SECRET)


def test_stripe_intent_event_names_our_payment_and_the_intent() -> None:
    event = normalize_stripe_event(json.loads(_stripe_event()))

    assert event.gateway == GatewayName.STRIPE
    assert (event.event_id, event.event_type) == ("evt_3NqA1", "payment_intent.succeeded")
    assert event.payment_id == PAYMENT_ID
    assert (event.gateway_id, event.charge_id) == ("pi_3NqA1", "ch_3NqA1")
    assert event.outcome == Outcome.SUCCEEDED


@pytest.mark.parametrize(
    ("event_type", "outcome"),
    [
        ("payment_intent.payment_failed", Outcome.FAILED),
        ("payment_intent.canceled", Outcome.CANCELED),
        ("payment_intent.processing", Outcome.PROCESSING),
        ("customer.created", Outcome.OTHER),
    ],
)
def test_stripe_event_types_give_their_outcome_hint(event_type: str, outcome: Outcome) -> None:
    assert normalize_stripe_event(json.loads(_stripe_event(event_type))).outcome == outcome


def test_stripe_refund_event_names_the_intent_of_the_charge() -> None:
    event: dict[str, Any] = {
        "id": "evt_r",
        "type": "charge.refunded",
        "data": {"object": {"id": "ch_1", "object": "charge", "payment_intent": "pi_1"}},
    }
    normalized = normalize_stripe_event(event)
    assert (normalized.gateway_id, normalized.charge_id) == ("pi_1", "ch_1")
    assert normalized.payment_id is None
    assert normalized.outcome == Outcome.REFUNDED


def test_razorpay_payment_event_names_the_order_and_takes_the_header_event_id() -> None:
    event = normalize_razorpay_event(json.loads(_razorpay_event()), "evt_header_1")

    assert event.gateway == GatewayName.RAZORPAY
    assert (event.event_id, event.event_type) == ("evt_header_1", "payment.captured")
    assert (event.gateway_id, event.charge_id) == ("order_DESlLckIVRkHWj", "pay_DESlfW9H8K9uqM")
    assert event.outcome == Outcome.SUCCEEDED


def test_razorpay_event_without_an_id_gets_a_stable_one() -> None:
    body = json.loads(_razorpay_event("payment.failed"))
    first, again = normalize_razorpay_event(body), normalize_razorpay_event(body)
    assert first.event_id == again.event_id == "payment.failed:pay_DESlfW9H8K9uqM"
    assert first.outcome == Outcome.FAILED


def test_razorpay_order_paid_event_names_our_payment_from_the_receipt() -> None:
    body = {
        "entity": "event",
        "event": "order.paid",
        "payload": {
            "payment": {"entity": {"id": "pay_1", "order_id": "order_1", "notes": []}},
            "order": {"entity": {"id": "order_1", "receipt": PAYMENT_ID, "status": "paid"}},
        },
    }
    event = normalize_razorpay_event(body, "evt_2")
    assert event.payment_id == PAYMENT_ID
    assert event.gateway_id == "order_1"
    assert event.outcome == Outcome.SUCCEEDED


def test_event_without_its_identity_is_invalid() -> None:
    with pytest.raises(PayloadInvalid):
        normalize_stripe_event({"type": "payment_intent.succeeded"})
    with pytest.raises(PayloadInvalid):
        normalize_razorpay_event({"payload": {}})
