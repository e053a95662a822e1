"""The payment gateways (Stripe, Razorpay): one small protocol and its results.

Amounts cross this boundary as integers in the currency's ISO 4217 minor unit (domain/money.py);
each adapter deals with its gateway's own quirks. Every call that creates something at the
gateway is keyed from the business (the payment id, the attempt, the refund number), so a
retried activity finds what the first try created instead of charging or refunding twice.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel

from domain.payment import PaymentGateway as GatewayName


class GatewayStatus(StrEnum):
    """Where a payment attempt stands at the gateway, in our words."""

    PENDING = "pending"  # not paid yet: waiting for the customer, authentication or settlement
    SUCCEEDED = "succeeded"  # the money was captured
    FAILED = "failed"  # the last try was declined; the attempt is over for us
    CANCELED = "canceled"  # cancelled at the gateway: it can no longer be paid


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class GatewayCheckout(BaseModel):
    """What a checkout page needs to collect the payment, plus the ids to store."""

    gateway: GatewayName
    # The id to retrieve, cancel and refund with: Stripe's PaymentIntent id, Razorpay's order id.
    gateway_id: str
    status: GatewayStatus
    amount_minor: int
    currency: str
    # Stripe: the PaymentIntent's client secret (Stripe.js confirms with it).
    client_secret: str | None = None
    # Razorpay: Checkout opens with the order id and the public key id.
    order_id: str | None = None
    key_id: str | None = None
    # Stripe: the publishable key, when configured.
    publishable_key: str | None = None
    # Razorpay, a subscription's first charge: Checkout opens with the customer and
    # `recurring: 1`, so the card is saved as the customer's token for the renewals.
    customer_id: str | None = None
    recurring: bool = False


class GatewayState(BaseModel):
    """The gateway's own view of an attempt, read back before any terminal decision."""

    gateway: GatewayName
    gateway_id: str
    status: GatewayStatus
    amount_minor: int
    amount_received_minor: int
    # What the gateway has refunded of it so far (through Medivoy or its own dashboard).
    amount_refunded_minor: int = 0
    currency: str
    # The charge (Stripe ch_…) or payment (Razorpay pay_…) that carried the money, if any.
    charge_id: str | None = None
    failure_code: str | None = None
    failure_reason: str | None = None
    # The gateway's status word (requires_action, attempted, ...), for logs and support.
    gateway_status: str
    # Our payment id as the gateway recorded it (metadata / receipt): a cross-check.
    payment_id: str | None = None


class GatewayRefund(BaseModel):
    gateway: GatewayName
    refund_id: str
    status: RefundStatus
    amount_minor: int
    currency: str
    # The charge or payment refunded.
    charge_id: str | None = None


class GatewayError(Exception):
    """The gateway refused or failed a call.

    `summary` is safe for Temporal failures and logs (gateway, status, error code); the full
    text may carry the gateway's message. `permanent` means the same call cannot succeed later
    (a rejected request), as opposed to an outage, a timeout or a rate limit."""

    def __init__(self, summary: str, detail: str = "", *, permanent: bool = False) -> None:
        super().__init__(f"{summary}: {detail}" if detail else summary)
        self.summary = summary
        self.permanent = permanent


class GatewayNotConfigured(GatewayError):
    def __init__(self, gateway: GatewayName) -> None:
        super().__init__(f"{gateway.value} is not configured", permanent=True)
        self.gateway = gateway


def intent_idempotency_key(payment_id: uuid.UUID | str, attempt: int = 1) -> str:
    """The key of an attempt's PaymentIntent / order. A retry after a failure is a new attempt
    with a new key; the first attempt keeps the plain `payment:{id}:intent`."""
    if attempt < 1:
        raise ValueError("attempts count from 1")
    base = f"payment:{payment_id}:intent"
    return base if attempt == 1 else f"{base}:{attempt}"


def refund_idempotency_key(payment_id: uuid.UUID | str, number: int) -> str:
    """The key of the payment's n-th refund (partial refunds are numbered from 1)."""
    if number < 1:
        raise ValueError("refunds count from 1")
    return f"payment:{payment_id}:refund:{number}"


class SavedMethod(BaseModel):
    """A payment method kept for off-session charges: the gateway's ids and the card's last
    digits (never more of the card)."""

    customer_id: str
    payment_method_id: str
    last4: str | None = None


def subscription_customer_key(subscription_id: uuid.UUID | str) -> str:
    return f"subscription:{subscription_id}:customer"


def subscription_charge_key(
    subscription_id: uuid.UUID | str, period: int, kind: str, attempt: int
) -> str:
    """The key of one charge of a subscription's period: a renewal's tries (1 the first,
    then the dunning retries) and an upgrade's difference are numbered apart, so a retried
    activity finds its charge and a period is never charged twice."""
    if attempt < 1:
        raise ValueError("attempts count from 1")
    return f"subscription:{subscription_id}:period:{period}:{kind}:{attempt}"


class SavedMethodGateway(Protocol):
    """A gateway that keeps a customer's payment method and charges it off-session (Stripe's
    saved card, Razorpay's recurring card token)."""

    name: GatewayName

    async def create_customer(self, key: str, metadata: dict[str, str]) -> str:
        """The customer for a subscriber (ids only in metadata); a repeated key, the same one."""
        ...

    async def saved_method(self, gateway_id: str, customer_id: str) -> SavedMethod:
        """The method that paid `gateway_id`, attached to the customer for later charges."""
        ...

    async def attach_method(self, payment_method_id: str, customer_id: str) -> SavedMethod:
        """A new method the subscriber gave, attached to their customer."""
        ...

    async def charge_saved(
        self,
        customer_id: str,
        payment_method_id: str,
        amount_minor: int,
        currency: str,
        key: str,
        metadata: dict[str, str],
    ) -> GatewayState:
        """Charge the saved method off-session; a decline is a FAILED state with its code."""
        ...


class PaymentGateway(Protocol):
    name: GatewayName

    async def create(
        self,
        payment_id: uuid.UUID,
        amount_minor: int,
        currency: str,
        description: str,
        metadata: dict[str, str] | None = None,
        *,
        attempt: int = 1,
        customer_id: str | None = None,
    ) -> GatewayCheckout:
        """Create the attempt's PaymentIntent or order; a repeated call returns the same one.
        With a `customer_id` (a subscription's first charge) the method paid with is kept for
        off-session charges (Stripe: setup_future_usage; Razorpay: the order asks for a token)."""
        ...

    async def retrieve(self, gateway_id: str) -> GatewayState:
        """Read the attempt back from the gateway."""
        ...

    async def cancel(self, gateway_id: str) -> GatewayState:
        """Cancel the attempt so it can no longer be paid, and return its state afterwards.

        An attempt that succeeded meanwhile stays succeeded (the caller sees it and refunds or
        keeps it). Razorpay has no way to cancel an order: its state comes back unchanged
        (pending), and a payment that still lands on it must be refunded by the caller."""
        ...

    async def refund(
        self,
        gateway_id: str,
        amount_minor: int,
        idempotency_key: str,
        metadata: dict[str, str] | None = None,
    ) -> GatewayRefund:
        """Refund part or all of what the attempt captured; a repeated key returns the same
        refund. `gateway_id` is what create returned (or, for Razorpay, a pay_ id)."""
        ...
