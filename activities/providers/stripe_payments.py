"""Stripe PaymentIntents and refunds through the official SDK (blocking calls run in a thread)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import stripe

from activities.providers.channels import is_permanent_status
from activities.providers.gateways import (
    GatewayCheckout,
    GatewayError,
    GatewayRefund,
    GatewayState,
    GatewayStatus,
    RefundStatus,
    SavedMethod,
    intent_idempotency_key,
)
from domain.money import currency_code, exponent
from domain.payment import PaymentGateway as GatewayName

TIMEOUT_SECONDS = 30.0
# The SDK retries network failures and 409/429/5xx itself; with an idempotency key on every
# create that is safe, and Temporal's activity retries cover anything longer.
NETWORK_RETRIES = 2
# charge_saved looks for an intent its key made before creating one: among the customer's
# intents of this long (a period retried after any outage Temporal rides out), newest first,
# PAGE at a time and SAVED_CHARGE_SCAN at most.
SAVED_CHARGE_LOOKBACK_SECONDS = 400 * 24 * 3600
PAGE = 100
SAVED_CHARGE_SCAN = 1000

# Where Stripe's API unit differs from ISO 4217 (docs.stripe.com/currencies#special-cases):
# ISK is zero-decimal in ISO but two-decimal in Stripe's API; MGA the other way round.
STRIPE_EXPONENT = {"ISK": 2, "MGA": 0}

_REFUND_STATUS = {
    "succeeded": RefundStatus.SUCCEEDED,
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}


def _shift(currency: str) -> int:
    """Stripe's decimal places minus ISO's for the currency (usually 0)."""
    code = currency_code(currency)
    return STRIPE_EXPONENT.get(code, exponent(code)) - exponent(code)


def to_stripe_amount(amount_minor: int, currency: str) -> int:
    shift = _shift(currency)
    if shift < 0 and amount_minor % int(10**-shift):
        raise GatewayError(
            f"stripe takes {currency_code(currency)} in whole units only", permanent=True
        )
    scale = int(10 ** abs(shift))
    amount = amount_minor * scale if shift >= 0 else amount_minor // scale
    if exponent(currency) == 3 and amount % 10:
        # Stripe's partners settle three-decimal currencies to 2 places: the last digit is 0.
        raise GatewayError(
            f"stripe needs {currency_code(currency)} amounts rounded to 0.01", permanent=True
        )
    return amount


def from_stripe_amount(amount: int, currency: str) -> int:
    shift = _shift(currency)
    scale = int(10 ** abs(shift))
    return amount // scale if shift >= 0 else amount * scale


def _error(exc: stripe.StripeError) -> GatewayError:
    status = exc.http_status
    code = exc.code or type(exc).__name__
    if status is None:
        # No answer at all (connection, timeout): worth retrying.
        return GatewayError(f"stripe unreachable ({code})", str(exc.user_message or exc))
    return GatewayError(
        f"stripe HTTP {status} ({code})",
        str(exc.user_message or exc),
        permanent=is_permanent_status(status),
    )


def _id_of(value: Any) -> str | None:
    """An expandable field: an id, an expanded object, or nothing."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    found = value.get("id") if isinstance(value, dict) else None
    return str(found) if found else None


def _state(intent: dict[str, Any]) -> GatewayState:
    currency = str(intent["currency"]).upper()
    stripe_status = str(intent["status"])
    error = intent.get("last_payment_error") or {}
    if stripe_status == "succeeded":
        status = GatewayStatus.SUCCEEDED
    elif stripe_status == "canceled":
        status = GatewayStatus.CANCELED
    elif stripe_status == "requires_payment_method" and error:
        # Declined. Stripe would take another card on the same intent; we make that a new
        # attempt (and cancel this one), so for us this attempt has failed.
        status = GatewayStatus.FAILED
    else:
        status = GatewayStatus.PENDING
    charge = intent.get("latest_charge")
    received = intent.get("amount_received")
    if received is None:
        # Stripe always reports it; this reads it off the charge for peers that do not.
        received = (
            charge.get("amount_captured", charge.get("amount", 0))
            if isinstance(charge, dict) and charge.get("captured") and charge.get("paid")
            else 0
        )
    refunded = charge.get("amount_refunded", 0) if isinstance(charge, dict) else 0
    metadata = intent.get("metadata") or {}
    return GatewayState(
        gateway=GatewayName.STRIPE,
        gateway_id=str(intent["id"]),
        status=status,
        amount_minor=from_stripe_amount(int(intent["amount"]), currency),
        amount_received_minor=from_stripe_amount(int(received or 0), currency),
        amount_refunded_minor=from_stripe_amount(int(refunded or 0), currency),
        currency=currency,
        charge_id=_id_of(charge),
        failure_code=(error.get("decline_code") or error.get("code")) if error else None,
        failure_reason=error.get("message") if error else None,
        gateway_status=stripe_status,
        payment_id=metadata.get("payment_id"),
    )


def _declined(gateway_id: str, amount_minor: int, code: str, decline: str | None) -> GatewayState:
    """An off-session charge the card declined, as charge_saved answers it."""
    return GatewayState(
        gateway=GatewayName.STRIPE,
        gateway_id=gateway_id,
        status=GatewayStatus.FAILED,
        amount_minor=amount_minor,
        amount_received_minor=0,
        currency=code,
        failure_code=decline or "card_declined",
        gateway_status="declined",
    )


def _saved_charge_state(intent: dict[str, Any], amount_minor: int, code: str) -> GatewayState:
    """An intent an earlier charge_saved made, answered as that call answered it: declined
    (left waiting for another card, its last_payment_error telling why) the same way."""
    error = intent.get("last_payment_error") or {}
    if error and intent.get("status") in ("requires_payment_method", "canceled"):
        return _declined(
            str(intent["id"]), amount_minor, code, error.get("decline_code") or error.get("code")
        )
    return _state(intent)


class StripePayments:
    name = GatewayName.STRIPE

    def __init__(
        self,
        secret_key: str,
        *,
        api_base: str | None = None,
        publishable_key: str | None = None,
        setup_future_usage: bool = True,
    ) -> None:
        self._publishable_key = publishable_key
        self._setup_future_usage = setup_future_usage
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            max_network_retries=NETWORK_RETRIES,
            http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
        )

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
        code = currency_code(currency)
        if amount_minor <= 0:
            raise GatewayError("stripe needs a positive amount", permanent=True)
        params: dict[str, Any] = {
            "amount": to_stripe_amount(amount_minor, code),
            "currency": code.lower(),
            # The description rides in metadata: it shows in the Dashboard all the same.
            "metadata": {
                **(metadata or {}),
                "payment_id": str(payment_id),
                "attempt": str(attempt),
                "description": description[:500],
            },
        }
        if customer_id is not None:
            params["customer"] = customer_id
            if self._setup_future_usage:
                params["setup_future_usage"] = "off_session"
        key = intent_idempotency_key(payment_id, attempt)
        intent = await asyncio.to_thread(self._call, "create", params, key)
        state = _state(intent)
        return GatewayCheckout(
            gateway=GatewayName.STRIPE,
            gateway_id=state.gateway_id,
            status=state.status,
            amount_minor=state.amount_minor,
            currency=state.currency,
            client_secret=str(intent["client_secret"]),
            publishable_key=self._publishable_key,
        )

    async def retrieve(self, gateway_id: str) -> GatewayState:
        # The charge expanded: it carries what has been refunded (the intent does not).
        return _state(
            await asyncio.to_thread(self._intent, "retrieve", gateway_id, ["latest_charge"])
        )

    async def cancel(self, gateway_id: str) -> GatewayState:
        try:
            return _state(await asyncio.to_thread(self._intent, "cancel", gateway_id))
        except GatewayError as error:
            if not error.permanent:
                raise
            # Stripe refuses to cancel an intent that succeeded (or was already cancelled):
            # what it is now is the answer.
            state = await self.retrieve(gateway_id)
            if state.status in (GatewayStatus.SUCCEEDED, GatewayStatus.CANCELED):
                return state
            raise

    async def refund(
        self,
        gateway_id: str,
        amount_minor: int,
        idempotency_key: str,
        metadata: dict[str, str] | None = None,
    ) -> GatewayRefund:
        if amount_minor <= 0:
            raise GatewayError("a refund needs a positive amount", permanent=True)
        state = await self.retrieve(gateway_id)
        params: dict[str, Any] = {
            "payment_intent": gateway_id,
            "amount": to_stripe_amount(amount_minor, state.currency),
            "metadata": {**(metadata or {}), "idempotency_key": idempotency_key},
        }
        refund = await asyncio.to_thread(self._refund, params, idempotency_key)
        currency = str(refund["currency"]).upper()
        return GatewayRefund(
            gateway=GatewayName.STRIPE,
            refund_id=str(refund["id"]),
            status=_REFUND_STATUS.get(str(refund.get("status")), RefundStatus.PENDING),
            amount_minor=from_stripe_amount(int(refund["amount"]), currency),
            currency=currency,
            charge_id=_id_of(refund.get("charge")),
        )

    async def create_customer(self, key: str, metadata: dict[str, str]) -> str:
        def call() -> str:
            try:
                customer = self._client.v1.customers.create(
                    params={"metadata": metadata}, options={"idempotency_key": key}
                )
            except stripe.StripeError as exc:
                raise _error(exc) from None
            return str(customer.id)

        return await asyncio.to_thread(call)

    async def saved_method(self, gateway_id: str, customer_id: str) -> SavedMethod:
        intent = await asyncio.to_thread(self._intent, "retrieve", gateway_id)
        method = _id_of(intent.get("payment_method"))
        if method is None:
            raise GatewayError("stripe: the intent has no payment method", permanent=True)
        return await self.attach_method(method, customer_id)

    async def attach_method(self, payment_method_id: str, customer_id: str) -> SavedMethod:
        """Attached once: with setup_future_usage Stripe has done it at the charge already."""

        def call() -> SavedMethod:
            try:
                method = self._client.v1.payment_methods.retrieve(payment_method_id).to_dict()
                if _id_of(method.get("customer")) != customer_id:
                    method = self._client.v1.payment_methods.attach(
                        payment_method_id, params={"customer": customer_id}
                    ).to_dict()
            except stripe.StripeError as exc:
                raise _error(exc) from None
            card = method.get("card") or {}
            return SavedMethod(
                customer_id=customer_id,
                payment_method_id=str(method["id"]),
                last4=str(card["last4"]) if card.get("last4") else None,
            )

        return await asyncio.to_thread(call)

    async def charge_saved(
        self,
        customer_id: str,
        payment_method_id: str,
        amount_minor: int,
        currency: str,
        key: str,
        metadata: dict[str, str],
    ) -> GatewayState:
        """One off-session charge of the saved card, made once per key: an intent this key
        already made (found by metadata.idempotency_key, even after Stripe has forgotten the
        key) is answered as its charge was, declined or not, and nothing is charged again."""
        code = currency_code(currency)
        params: dict[str, Any] = {
            "amount": to_stripe_amount(amount_minor, code),
            "currency": code.lower(),
            "customer": customer_id,
            "payment_method": payment_method_id,
            "confirm": True,
            "off_session": True,
            "metadata": {**metadata, "idempotency_key": key},
        }

        def call() -> GatewayState:
            # Stripe forgets an idempotency key after 24 hours (localstripe keeps none): an
            # intent this key already made is found by its metadata and answered, not repeated.
            found = self._find_saved_charge(customer_id, key)
            if found is not None:
                if (
                    int(found["amount"]) != params["amount"]
                    or str(found["currency"]).lower() != params["currency"]
                ):
                    raise GatewayError(
                        "stripe intent of this charge exists with another amount", permanent=True
                    )
                return _saved_charge_state(found, amount_minor, code)
            try:
                intent = self._client.v1.payment_intents.create(
                    params=params,  # type: ignore[arg-type]
                    options={"idempotency_key": key},
                )
            except stripe.CardError as exc:
                # Declined off-session: the decline code decides what dunning does.
                error = exc.error
                declined = _id_of(getattr(error, "payment_intent", None)) if error else None
                decline = (getattr(error, "decline_code", None) if error else None) or exc.code
                if declined is None:
                    # A peer that names no intent in the error (localstripe): the one just made.
                    made = self._find_saved_charge(customer_id, key)
                    declined = str(made["id"]) if made is not None else None
                return _declined(declined or "", amount_minor, code, decline)
            except stripe.StripeError as exc:
                raise _error(exc) from None
            return _state(dict(intent.to_dict()))

        return await asyncio.to_thread(call)

    def _find_saved_charge(self, customer_id: str, key: str) -> dict[str, Any] | None:
        """The customer's intent that carries this charge's key in its metadata, looked for
        among its intents of the last SAVED_CHARGE_LOOKBACK (newest first, at most
        SAVED_CHARGE_SCAN of them)."""
        since = int(time.time()) - SAVED_CHARGE_LOOKBACK_SECONDS
        try:
            page = self._client.v1.payment_intents.list(
                params={"customer": customer_id, "created": {"gte": since}, "limit": PAGE}
            )
            for seen, intent in enumerate(page.auto_paging_iter()):
                if seen >= SAVED_CHARGE_SCAN:
                    break
                found = dict(intent.to_dict())
                if (found.get("metadata") or {}).get("idempotency_key") == key:
                    return found
        except stripe.StripeError as exc:
            raise _error(exc) from None
        return None

    def _call(self, verb: str, params: dict[str, Any], key: str) -> dict[str, Any]:
        try:
            intent = getattr(self._client.v1.payment_intents, verb)(
                params=params, options={"idempotency_key": key}
            )
        except stripe.StripeError as exc:
            raise _error(exc) from None
        return dict(intent.to_dict())

    def _intent(
        self, verb: str, gateway_id: str, expand: list[str] | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"expand": expand} if expand else {}
        try:
            intent = getattr(self._client.v1.payment_intents, verb)(gateway_id, params=params)
        except stripe.StripeError as exc:
            raise _error(exc) from None
        return dict(intent.to_dict())

    def _refund(self, params: dict[str, Any], key: str) -> dict[str, Any]:
        try:
            refund = self._client.v1.refunds.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": key},
            )
        except stripe.StripeError as exc:
            raise _error(exc) from None
        return dict(refund.to_dict())
