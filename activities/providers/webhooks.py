"""Gateway webhooks: signature verification and one normalized shape for Stripe and Razorpay events.

Pure functions (no web framework, no I/O): the receivers in api/webhooks/ call them on the raw
body before storing anything. A verified event is still only a hint: the payment workflow reads
the intent or order back from the gateway before it settles anything.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from enum import StrEnum
from typing import Any

import stripe
from pydantic import BaseModel

from domain.errors import Invalid
from domain.payment import PaymentGateway as GatewayName


class WebhookRejected(Invalid):
    """The webhook is refused (400): nothing of it may be stored or acted on."""

    code = "WEBHOOK_REJECTED"


class SignatureMissing(WebhookRejected):
    code = "WEBHOOK_SIGNATURE_MISSING"


class SignatureInvalid(WebhookRejected):
    code = "WEBHOOK_SIGNATURE_INVALID"


class TimestampOutOfTolerance(WebhookRejected):
    code = "WEBHOOK_TIMESTAMP_STALE"


class PayloadInvalid(WebhookRejected):
    code = "WEBHOOK_PAYLOAD_INVALID"


class SecretNotConfigured(WebhookRejected):
    code = "WEBHOOK_SECRET_NOT_CONFIGURED"


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        event = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise PayloadInvalid("The webhook body is not JSON.") from None
    if not isinstance(event, dict):
        raise PayloadInvalid("The webhook body is not a JSON object.")
    return event


def _stripe_timestamp(header: str) -> int:
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                break
    raise SignatureInvalid("The Stripe-Signature header has no timestamp.")


def verify_stripe(
    payload: bytes, signature_header: str | None, secret: str, tolerance: int, now: float
) -> dict[str, Any]:
    """The event of a Stripe webhook whose Stripe-Signature (`t=…,v1=…`) matches the raw body
    and whose timestamp is within `tolerance` seconds of `now` (either side, against replays
    and skewed clocks). Raises a WebhookRejected subclass otherwise."""
    if not secret:
        raise SecretNotConfigured("No Stripe webhook secret is configured.")
    if not signature_header:
        raise SignatureMissing("The Stripe-Signature header is missing.")
    if not isinstance(payload, bytes | bytearray):
        raise PayloadInvalid("The webhook body must be the raw bytes received.")
    try:
        # Stripe's own check of the signature; the timestamp is checked below against `now`.
        stripe.WebhookSignature.verify_header(payload, signature_header, secret, tolerance=None)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        raise SignatureInvalid("The Stripe signature does not match the body.") from None
    timestamp = _stripe_timestamp(signature_header)
    if not math.isfinite(now) or abs(now - timestamp) > tolerance:
        raise TimestampOutOfTolerance(
            f"The Stripe signature timestamp is more than {tolerance} s from now."
        )
    return _json_object(bytes(payload))


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_razorpay(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event of a Razorpay webhook whose X-Razorpay-Signature is the hex HMAC-SHA256 of
    the raw body with the webhook secret. Razorpay signs no timestamp: replays are stopped by
    the event id (webhook_events is unique per gateway and event id)."""
    if not secret:
        raise SecretNotConfigured("No Razorpay webhook secret is configured.")
    if not signature:
        raise SignatureMissing("The X-Razorpay-Signature header is missing.")
    if not isinstance(payload, bytes | bytearray):
        raise PayloadInvalid("The webhook body must be the raw bytes received.")
    if not hmac.compare_digest(_hmac_hex(secret, bytes(payload)), signature.strip()):
        raise SignatureInvalid("The Razorpay signature does not match the body.")
    return _json_object(bytes(payload))


def verify_razorpay_payment(
    order_id: str, payment_id: str, signature: str | None, key_secret: str
) -> None:
    """Check the signature Razorpay Checkout hands back after a payment: the hex HMAC-SHA256
    of `{order_id}|{payment_id}` with the key secret. It proves the pair came from Razorpay;
    whether the payment was captured is still read from the gateway."""
    if not key_secret:
        raise SecretNotConfigured("No Razorpay key secret is configured.")
    if not signature:
        raise SignatureMissing("The Razorpay payment signature is missing.")
    expected = _hmac_hex(key_secret, f"{order_id}|{payment_id}".encode())
    if not hmac.compare_digest(expected, signature.strip()):
        raise SignatureInvalid("The Razorpay payment signature does not match.")


class Outcome(StrEnum):
    """What an event suggests happened; only a hint until the gateway is read back."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    PROCESSING = "processing"
    REFUNDED = "refunded"
    OTHER = "other"


class GatewayEvent(BaseModel):
    gateway: GatewayName
    event_id: str
    event_type: str
    # Our payment id as sent to the gateway (metadata, receipt, notes), when the event has it.
    payment_id: str | None = None
    # The PaymentIntent or order the event is about: how to find the payment without metadata.
    gateway_id: str | None = None
    # The charge or Razorpay payment (pay_…), and the refund, when the event names them.
    charge_id: str | None = None
    refund_id: str | None = None
    outcome: Outcome = Outcome.OTHER


_STRIPE_OUTCOMES = {
    "payment_intent.succeeded": Outcome.SUCCEEDED,
    "payment_intent.payment_failed": Outcome.FAILED,
    "payment_intent.canceled": Outcome.CANCELED,
    "payment_intent.processing": Outcome.PROCESSING,
    "charge.refunded": Outcome.REFUNDED,
    "charge.refund.updated": Outcome.REFUNDED,
    "refund.created": Outcome.REFUNDED,
    "refund.updated": Outcome.REFUNDED,
}

_RAZORPAY_OUTCOMES = {
    "payment.captured": Outcome.SUCCEEDED,
    "order.paid": Outcome.SUCCEEDED,
    "payment.failed": Outcome.FAILED,
    "payment.authorized": Outcome.PROCESSING,
    "refund.created": Outcome.REFUNDED,
    "refund.processed": Outcome.REFUNDED,
    "refund.failed": Outcome.OTHER,
}


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _expandable_id(value: Any) -> str | None:
    return _text(value) or _text(_dict(value).get("id"))


def normalize_stripe_event(event: dict[str, Any]) -> GatewayEvent:
    event_id = _text(event.get("id"))
    event_type = _text(event.get("type"))
    if not event_id or not event_type:
        raise PayloadInvalid("A Stripe event needs an id and a type.")
    obj = _dict(_dict(event.get("data")).get("object"))
    kind = obj.get("object")
    gateway_id = charge_id = refund_id = None
    if kind == "payment_intent":
        gateway_id = _text(obj.get("id"))
        charge_id = _expandable_id(obj.get("latest_charge"))
    elif kind == "charge":
        gateway_id = _expandable_id(obj.get("payment_intent"))
        charge_id = _text(obj.get("id"))
    elif kind == "refund":
        gateway_id = _expandable_id(obj.get("payment_intent"))
        charge_id = _expandable_id(obj.get("charge"))
        refund_id = _text(obj.get("id"))
    return GatewayEvent(
        gateway=GatewayName.STRIPE,
        event_id=event_id,
        event_type=event_type,
        payment_id=_text(_dict(obj.get("metadata")).get("payment_id")),
        gateway_id=gateway_id,
        charge_id=charge_id,
        refund_id=refund_id,
        outcome=_STRIPE_OUTCOMES.get(event_type, Outcome.OTHER),
    )


def normalize_razorpay_event(event: dict[str, Any], event_id: str | None = None) -> GatewayEvent:
    """`event_id` is the X-Razorpay-Event-Id header (the body carries none). Without it the id
    is made from the event and its entity, so a redelivery still collides with the first."""
    event_type = _text(event.get("event"))
    if not event_type:
        raise PayloadInvalid("A Razorpay event needs its event name.")
    payload = _dict(event.get("payload"))
    payment = _dict(_dict(payload.get("payment")).get("entity"))
    order = _dict(_dict(payload.get("order")).get("entity"))
    refund = _dict(_dict(payload.get("refund")).get("entity"))
    payment_id = (
        _text(order.get("receipt"))
        or _text(_dict(order.get("notes")).get("payment_id"))
        or _text(_dict(payment.get("notes")).get("payment_id"))
        or _text(_dict(refund.get("notes")).get("payment_id"))
    )
    charge_id = _text(payment.get("id")) or _text(refund.get("payment_id"))
    refund_id = _text(refund.get("id"))
    gateway_id = _text(order.get("id")) or _text(payment.get("order_id"))
    if not event_id:
        entity = refund_id or charge_id or gateway_id
        if not entity:
            raise PayloadInvalid("A Razorpay event without an id names no entity.")
        event_id = f"{event_type}:{entity}"
    return GatewayEvent(
        gateway=GatewayName.RAZORPAY,
        event_id=event_id,
        event_type=event_type,
        payment_id=payment_id,
        gateway_id=gateway_id,
        charge_id=charge_id,
        refund_id=refund_id,
        outcome=_RAZORPAY_OUTCOMES.get(event_type, Outcome.OTHER),
    )
