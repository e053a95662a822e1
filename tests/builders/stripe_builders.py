"""What Stripe does around a checkout, against localstripe: the customer paying in the browser
(Stripe.js) and the signed webhook Stripe sends afterwards."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import stripe

if TYPE_CHECKING:
    from tests.fixtures.payment_fixtures import LocalStripe


def customer_pays(localstripe: LocalStripe, intent_id: str) -> None:
    """Attach a test card and confirm, as Stripe.js does (blocking: run it in a thread)."""
    client = stripe.StripeClient(localstripe.api_key, base_addresses={"api": localstripe.url})
    client.v1.payment_intents.update(intent_id, params={"payment_method": "pm_card_visa"})
    client.v1.payment_intents.confirm(intent_id)


def signed_succeeded_event(
    intent_id: str, payment_id: str, secret: str
) -> tuple[bytes, dict[str, str]]:
    """A `payment_intent.succeeded` webhook body and its Stripe-Signature header."""
    event = {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "status": "succeeded",
                "metadata": {"payment_id": payment_id},
            }
        },
    }
    return _signed(event, secret)


def _signed(event: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.{body.decode()}".encode(), hashlib.sha256)
    return body, {"Stripe-Signature": f"t={stamp},v1={mac.hexdigest()}"}
