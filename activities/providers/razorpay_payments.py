"""Razorpay orders, payments and refunds through the official SDK (blocking calls run in a thread).

Razorpay takes no idempotency key on orders or refunds, so each create first looks for what an
earlier try made: orders by their receipt (our payment id) and attempt note, refunds by the
idempotency key kept in their notes.
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
)
from domain.money import currency_code, exponent
from domain.payment import PaymentGateway as GatewayName

TIMEOUT_SECONDS = 30.0
# Razorpay keeps up to 15 notes of up to 256 characters each.
NOTE_LENGTH = 256
PAGE = 100

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
        # No saved method here: a subscription's renewals are not charged through Razorpay.
        del customer_id
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
            order = await asyncio.to_thread(
                self._call,
                self._client.order.create,
                {"amount": amount_minor, "currency": code, "receipt": receipt, "notes": notes},
            )
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

    def _find_order(self, receipt: str, attempt: int) -> dict[str, Any] | None:
        found = self._call(self._client.order.all, {"receipt": receipt, "count": PAGE})
        for order in _items(found):
            notes = _notes(order.get("notes"))
            if order.get("receipt") == receipt and notes.get("attempt") == str(attempt):
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
