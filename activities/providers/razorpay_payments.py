"""Razorpay orders, payments, refunds and recurring card payments through the official SDK
(blocking calls run in a thread).

Razorpay takes no idempotency key on orders, refunds or customers, so each create first looks
for what an earlier try made: orders by their receipt (our payment id) and attempt note, refunds
and customers by the idempotency key kept in their notes.

Subscriptions use Razorpay's recurring card (token) flow: a customer per subscription; the first
order names it and asks for a token, so the first payment (Checkout with `recurring: 1`) saves
the card as the customer's token; each renewal is a new order (receipt: our charge's payment id)
charged with `POST /v1/payments/create/recurring` on that token. A decline is a failed payment
whose `error_reason` says why.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import razorpay
import requests
from razorpay.errors import BadRequestError, ServerError
from razorpay.errors import GatewayError as RazorpayGatewayError

from activities.providers.gateways import (
    GatewayCheckout,
    GatewayError,
    GatewayRefund,
    GatewayState,
    GatewayStatus,
    RefundStatus,
    SavedMethod,
)
from domain.money import currency_code, exponent
from domain.payment import PaymentGateway as GatewayName

TIMEOUT_SECONDS = 30.0
# Razorpay keeps up to 15 notes of up to 256 characters each.
NOTE_LENGTH = 256
PAGE = 100
# Customers looked through for one an earlier try created (newest first): a retried activity
# runs minutes after the first try, so its customer is among the newest.
CUSTOMER_PAGES = 3
# The token's max_amount, as a multiple of the first charge: renewals repeat the amount and an
# upgrade charges at most the difference to a dearer plan; above it the bank declines.
RECURRING_HEADROOM = 5

_REFUND_STATUS = {
    "processed": RefundStatus.SUCCEEDED,
    "pending": RefundStatus.PENDING,
    "failed": RefundStatus.FAILED,
}


def _notes(value: Any) -> dict[str, Any]:
    # Razorpay sends empty notes as [] rather than {}.
    return value if isinstance(value, dict) else {}


def _items(collection: Any) -> list[dict[str, Any]]:
    items = collection.get("items") if isinstance(collection, dict) else None
    return [item for item in items or [] if isinstance(item, dict)]


class RazorpayPayments:
    name = GatewayName.RAZORPAY

    def __init__(self, key_id: str, key_secret: str, *, base_url: str | None = None) -> None:
        self._key_id = key_id
        options: dict[str, Any] = {"base_url": base_url.rstrip("/")} if base_url else {}
        self._client = razorpay.Client(auth=(key_id, key_secret), **options)

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
            raise GatewayError("razorpay needs a positive amount", permanent=True)
        if exponent(code) == 3 and amount_minor % 10:
            # Razorpay settles three-decimal currencies to 2 places: the last digit must be 0.
            raise GatewayError(f"razorpay needs {code} amounts rounded to 0.01", permanent=True)
        receipt = str(payment_id)
        order = await asyncio.to_thread(self._find_order, receipt, attempt)
        if order is None:
            notes = {
                **{k: str(v)[:NOTE_LENGTH] for k, v in (metadata or {}).items()},
                "payment_id": receipt,
                "attempt": str(attempt),
                "description": description[:NOTE_LENGTH],
            }
            body: dict[str, Any] = {
                "amount": amount_minor,
                "currency": code,
                "receipt": receipt,
                "notes": notes,
            }
            if customer_id is not None:
                # A subscription's first charge: the card that pays it is saved as a recurring
                # token of the customer (Checkout opens with customer_id and recurring: 1).
                body.update(
                    customer_id=customer_id,
                    method="card",
                    token={
                        "max_amount": amount_minor * RECURRING_HEADROOM,
                        "frequency": "as_presented",
                    },
                )
            order = await asyncio.to_thread(self._call, self._client.order.create, body)
        elif int(order["amount"]) != amount_minor or str(order["currency"]).upper() != code:
            raise GatewayError(
                "razorpay order of this attempt exists with another amount", permanent=True
            )
        order_id = str(order["id"])
        return GatewayCheckout(
            gateway=GatewayName.RAZORPAY,
            gateway_id=order_id,
            status=GatewayStatus.SUCCEEDED
            if order.get("status") == "paid"
            else GatewayStatus.PENDING,
            amount_minor=int(order["amount"]),
            currency=code,
            order_id=order_id,
            key_id=self._key_id,
            customer_id=customer_id,
            recurring=customer_id is not None,
        )

    async def retrieve(self, gateway_id: str) -> GatewayState:
        order, payments = await asyncio.to_thread(self._order_and_payments, gateway_id)
        return _state(order, payments)

    async def cancel(self, gateway_id: str) -> GatewayState:
        # Razorpay cannot cancel an order; it stays payable until it expires (see the protocol).
        return await self.retrieve(gateway_id)

    async def refund(
        self,
        gateway_id: str,
        amount_minor: int,
        idempotency_key: str,
        metadata: dict[str, str] | None = None,
    ) -> GatewayRefund:
        if amount_minor <= 0:
            raise GatewayError("a refund needs a positive amount", permanent=True)
        payment_ref = gateway_id
        if not gateway_id.startswith("pay_"):
            state = await self.retrieve(gateway_id)
            if state.status != GatewayStatus.SUCCEEDED or not state.charge_id:
                raise GatewayError("razorpay order has no captured payment", permanent=True)
            payment_ref = state.charge_id
        refund = await asyncio.to_thread(
            self._refund_once, payment_ref, amount_minor, idempotency_key, metadata or {}
        )
        return GatewayRefund(
            gateway=GatewayName.RAZORPAY,
            refund_id=str(refund["id"]),
            status=_REFUND_STATUS.get(str(refund.get("status")), RefundStatus.PENDING),
            amount_minor=int(refund["amount"]),
            currency=str(refund.get("currency", "")).upper(),
            charge_id=str(refund.get("payment_id") or payment_ref),
        )

    async def create_customer(self, key: str, metadata: dict[str, str]) -> str:
        customer = await asyncio.to_thread(self._customer_once, key, metadata)
        return str(customer["id"])

    async def saved_method(self, gateway_id: str, customer_id: str) -> SavedMethod:
        """The token the order's captured payment saved (a recurring first payment)."""
        _order, payments = await asyncio.to_thread(self._order_and_payments, gateway_id)
        paid = [p for p in payments if p.get("status") in ("captured", "refunded")]
        token_id = next((str(p["token_id"]) for p in paid if p.get("token_id")), None)
        if token_id is None:
            raise GatewayError("razorpay: the payment saved no recurring token", permanent=True)
        saved = await self.attach_method(token_id, customer_id)
        # A renewal names the customer's e-mail and phone: keep what Checkout collected.
        await asyncio.to_thread(self._keep_contact, customer_id, paid[0])
        return saved

    async def attach_method(self, payment_method_id: str, customer_id: str) -> SavedMethod:
        """A token of the customer (Razorpay makes tokens only through a payment, so a new
        card is one the subscriber saved paying with recurring: 1); it must be confirmed for
        recurring payments."""
        token = await asyncio.to_thread(
            self._call, self._client.token.fetch, customer_id, payment_method_id
        )
        details = token.get("recurring_details") or {}
        if not token.get("recurring") or details.get("status") != "confirmed":
            raise GatewayError(
                "razorpay: the token is not confirmed for recurring payments", permanent=True
            )
        card = token.get("card") or {}
        return SavedMethod(
            customer_id=customer_id,
            payment_method_id=str(token["id"]),
            last4=str(card["last4"]) if card.get("last4") else None,
        )

    async def charge_saved(
        self,
        customer_id: str,
        payment_method_id: str,
        amount_minor: int,
        currency: str,
        key: str,
        metadata: dict[str, str],
    ) -> GatewayState:
        """A renewal: its own order (receipt: the charge's payment id, the key in its notes),
        charged once on the token; a repeated key reads back what the first try did."""
        code = currency_code(currency)
        receipt = metadata.get("payment_id") or str(uuid.uuid5(uuid.NAMESPACE_URL, key))
        return await asyncio.to_thread(
            self._charge_once,
            customer_id,
            payment_method_id,
            amount_minor,
            code,
            receipt,
            key,
            metadata,
        )

    def _charge_once(
        self,
        customer_id: str,
        token_id: str,
        amount_minor: int,
        code: str,
        receipt: str,
        key: str,
        metadata: dict[str, str],
    ) -> GatewayState:
        order = self._find_order(receipt, 1, key=key)
        if order is None:
            notes = {
                **{k: str(v)[:NOTE_LENGTH] for k, v in metadata.items()},
                "attempt": "1",
                "idempotency_key": key[:NOTE_LENGTH],
            }
            order = self._call(
                self._client.order.create,
                {
                    "amount": amount_minor,
                    "currency": code,
                    "receipt": receipt,
                    "payment_capture": True,
                    "notes": notes,
                },
            )
        elif int(order["amount"]) != amount_minor or str(order["currency"]).upper() != code:
            raise GatewayError(
                "razorpay order of this charge exists with another amount", permanent=True
            )
        order_id = str(order["id"])
        payments = _items(self._call(self._client.order.payments, order_id, {}))
        if not payments:
            customer = self._call(self._client.customer.fetch, customer_id, {})
            body = {
                "email": customer.get("email"),
                "contact": customer.get("contact"),
                "amount": amount_minor,
                "currency": code,
                "order_id": order_id,
                "customer_id": customer_id,
                "token": token_id,
                "recurring": "1",
                "description": "Medivoy subscription renewal",
                "notes": {k: str(v)[:NOTE_LENGTH] for k, v in metadata.items()},
            }
            try:
                self._call(self._client.payment.createRecurring, body)
            except GatewayError as error:
                # A decline answers 400 and leaves a failed payment on the order (read below);
                # a request refused before any payment stays a refusal.
                if not error.permanent:
                    raise
                payments = _items(self._call(self._client.order.payments, order_id, {}))
                if not payments:
                    raise
        return self._read(order_id)

    def _read(self, order_id: str) -> GatewayState:
        order, payments = self._order_and_payments(order_id)
        return _state(order, payments)

    def _customer_once(self, key: str, metadata: dict[str, str]) -> dict[str, Any]:
        for page in range(CUSTOMER_PAGES):
            found = _items(
                self._call(self._client.customer.all, {"count": PAGE, "skip": page * PAGE})
            )
            for customer in found:
                if _notes(customer.get("notes")).get("idempotency_key") == key:
                    return customer
            if len(found) < PAGE:
                break
        notes = {k: str(v)[:NOTE_LENGTH] for k, v in metadata.items()}
        reference = metadata.get("subscription_id", key)[:8]
        return self._call(
            self._client.customer.create,
            {
                # Ids only: the subscriber's details come from Checkout with the first payment.
                "name": f"Medivoy subscription {reference}",
                "fail_existing": "0",
                "notes": {**notes, "idempotency_key": key[:NOTE_LENGTH]},
            },
        )

    def _keep_contact(self, customer_id: str, payment: dict[str, Any]) -> None:
        customer = self._call(self._client.customer.fetch, customer_id, {})
        missing = {
            field: payment[field]
            for field in ("email", "contact")
            if not customer.get(field) and payment.get(field)
        }
        if missing:
            self._call(self._client.customer.edit, customer_id, missing)

    def _call(self, method: Callable[..., Any], *args: Any) -> dict[str, Any]:
        try:
            result = method(*args, timeout=TIMEOUT_SECONDS)
        except BadRequestError as exc:
            raise GatewayError("razorpay rejected the request", str(exc), permanent=True) from None
        except (RazorpayGatewayError, ServerError) as exc:
            raise GatewayError("razorpay server error", str(exc)) from None
        except requests.RequestException as exc:
            raise GatewayError(f"razorpay unreachable ({type(exc).__name__})") from None
        except ValueError as exc:
            # A body that is not JSON (a proxy's error page).
            raise GatewayError("razorpay sent an unreadable response", str(exc)) from None
        if not isinstance(result, dict):
            raise GatewayError("razorpay sent an unexpected response")
        return result

    def _find_order(
        self, receipt: str, attempt: int, *, key: str | None = None
    ) -> dict[str, Any] | None:
        found = self._call(self._client.order.all, {"receipt": receipt, "count": PAGE})
        for order in _items(found):
            notes = _notes(order.get("notes"))
            if (
                order.get("receipt") == receipt
                and notes.get("attempt") == str(attempt)
                and (key is None or notes.get("idempotency_key") == key[:NOTE_LENGTH])
            ):
                return order
        return None

    def _order_and_payments(self, order_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        order = self._call(self._client.order.fetch, order_id, {})
        payments = self._call(self._client.order.payments, order_id, {})
        return order, _items(payments)

    def _refund_once(
        self, payment_id: str, amount_minor: int, key: str, metadata: dict[str, str]
    ) -> dict[str, Any]:
        existing = self._call(
            self._client.payment.fetch_multiple_refund, payment_id, {"count": PAGE}
        )
        for refund in _items(existing):
            if _notes(refund.get("notes")).get("idempotency_key") == key:
                return refund
        notes = {**{k: str(v)[:NOTE_LENGTH] for k, v in metadata.items()}, "idempotency_key": key}
        return self._call(
            self._client.payment.refund, payment_id, {"amount": amount_minor, "notes": notes}
        )


def _state(order: dict[str, Any], payments: list[dict[str, Any]]) -> GatewayState:
    """The order's state from its payments: any captured one means paid; only failed ones mean
    the attempt failed; anything else (none yet, authorized) is still pending."""
    currency = str(order["currency"]).upper()
    captured = [p for p in payments if p.get("status") in ("captured", "refunded")]
    failed = [p for p in payments if p.get("status") == "failed"]
    last_failed = max(failed, key=lambda p: int(p.get("created_at") or 0), default=None)
    charge_id: str | None = None
    failure_code = failure_reason = None
    # A refunded payment keeps its amount; what went back is its amount_refunded.
    refunded = sum(int(p.get("amount_refunded") or 0) for p in captured)
    if captured:
        status = GatewayStatus.SUCCEEDED
        charge_id = str(captured[0]["id"])
        received = sum(int(p.get("amount") or 0) for p in captured)
    elif order.get("status") == "paid":
        status = GatewayStatus.SUCCEEDED
        received = int(order.get("amount_paid") or 0)
    elif payments and len(failed) == len(payments):
        status = GatewayStatus.FAILED
        received = 0
    else:
        status = GatewayStatus.PENDING
        received = 0
    if last_failed is not None and status != GatewayStatus.SUCCEEDED:
        charge_id = str(last_failed["id"])
        # error_code is the broad class (BAD_REQUEST_ERROR for nearly every decline);
        # error_reason is the exact cause Razorpay documents for programs (card_declined, ...).
        failure_code = last_failed.get("error_reason") or last_failed.get("error_code")
        failure_reason = last_failed.get("error_description")
    return GatewayState(
        gateway=GatewayName.RAZORPAY,
        gateway_id=str(order["id"]),
        status=status,
        amount_minor=int(order["amount"]),
        amount_received_minor=received,
        amount_refunded_minor=refunded,
        currency=currency,
        charge_id=charge_id,
        failure_code=failure_code,
        failure_reason=failure_reason,
        gateway_status=str(order.get("status", "")),
        payment_id=order.get("receipt") or _notes(order.get("notes")).get("payment_id"),
    )
