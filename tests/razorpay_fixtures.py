"""A local Razorpay for tests: an aiohttp server on 127.0.0.1 and a free port that keeps orders,
payments and refunds in memory and speaks Razorpay's documented REST contract (basic auth,
entities, collections, error JSON), plus helpers that play Razorpay Checkout (the customer pays
or is declined) and Razorpay's webhook sender. Every request is recorded.
Use with `pytest_plugins = ["tests.razorpay_fixtures"]`."""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hashlib
import hmac
import json
import secrets
import string
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

RAZORPAY_KEY_ID = "rzp_test_medivoy0local"
RAZORPAY_KEY_SECRET = "rzp-local-secret"
RAZORPAY_WEBHOOK_SECRET = "rzp-local-webhook-secret"
ACCOUNT_ID = "acc_MedivoyLocal01"

_ID_ALPHABET = string.ascii_letters + string.digits
# Razorpay's limits (Orders API): amounts from ₹1, receipts up to 40 characters, up to 15 notes
# of up to 256 characters, collections of up to 100.
MIN_AMOUNT = 100
RECEIPT_LENGTH = 40
NOTES_MAX = 15
NOTE_LENGTH = 256
COUNT_MAX = 100

Entity = dict[str, Any]


def razorpay_id(prefix: str) -> str:
    """An id shaped like Razorpay's: the entity prefix and 14 base62 characters."""
    return f"{prefix}_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(14))


class RazorpayError(Exception):
    """An error answer in Razorpay's shape."""

    def __init__(
        self,
        description: str,
        *,
        status: int = 400,
        code: str = "BAD_REQUEST_ERROR",
        field: str | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.body = {
            "error": {
                "code": code,
                "description": description,
                "source": "business" if status == 400 else "NA",
                "step": "NA",
                "reason": "input_validation_failed" if field else "NA",
                "metadata": {},
                "field": field,
            }
        }


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class LocalRazorpay:
    """Razorpay's side of the world, in memory. Tests play the customer with customer_pays() and
    card_declined() and Razorpay's webhook sender with webhook()."""

    url: str = ""
    key_id: str = RAZORPAY_KEY_ID
    key_secret: str = RAZORPAY_KEY_SECRET
    webhook_secret: str = RAZORPAY_WEBHOOK_SECRET
    orders: dict[str, Entity] = field(default_factory=dict)
    payments: dict[str, Entity] = field(default_factory=dict)
    refunds: dict[str, Entity] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    # Handlers run on the server's thread, helpers on the test's: one lock over the state.
    lock: threading.Lock = field(default_factory=threading.Lock)
    _clock: int = 0

    # ---- what tests read ---------------------------------------------------------------------

    def posted(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    def orders_created(self) -> list[RecordedRequest]:
        return self.posted("/v1/orders")

    def refunds_created(self) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.method == "POST"
            and r.path.startswith("/v1/payments/")
            and r.path.endswith("/refund")
        ]

    def order(self, order_id: str) -> Entity:
        with self.lock:
            return copy.deepcopy(self.orders[order_id])

    def payment(self, payment_id: str) -> Entity:
        with self.lock:
            return copy.deepcopy(self.payments[payment_id])

    def refunds_of(self, payment_id: str) -> list[Entity]:
        with self.lock:
            return [
                copy.deepcopy(r) for r in self.refunds.values() if r["payment_id"] == payment_id
            ]

    def payments_of(self, order_id: str) -> list[Entity]:
        with self.lock:
            return [copy.deepcopy(p) for p in self.payments.values() if p["order_id"] == order_id]

    # ---- Razorpay Checkout, played by the test -----------------------------------------------

    def customer_pays(self, order_id: str, method: str = "card") -> Entity:
        """The customer completes Checkout: a payment of the order's amount, authorized and
        captured at once (automatic capture), and the order paid."""
        with self.lock:
            order = self.orders[order_id]
            if order["status"] == "paid":
                raise ValueError(f"{order_id} is already paid")
            payment = self._new_payment(order, method, status="captured")
            payment["fee"] = order["amount"] * 2 // 100
            payment["tax"] = payment["fee"] * 18 // 118
            payment["acquirer_data"] = {"auth_code": f"{secrets.randbelow(10**6):06d}"}
            order["status"] = "paid"
            order["amount_paid"] = order["amount"]
            order["amount_due"] = 0
            order["attempts"] += 1
            return copy.deepcopy(payment)

    def card_declined(
        self,
        order_id: str,
        *,
        reason: str = "card_declined",
        description: str = "Your payment could not be completed as this card was declined by "
        "the bank. Try another card.",
    ) -> Entity:
        """The customer's bank declines the card: a failed payment, the order attempted (and
        still payable, as at Razorpay)."""
        with self.lock:
            order = self.orders[order_id]
            payment = self._new_payment(order, "card", status="failed")
            payment.update(
                error_code="BAD_REQUEST_ERROR",
                error_description=description,
                error_source="bank",
                error_step="payment_authorization",
                error_reason=reason,
            )
            if order["status"] == "created":
                order["status"] = "attempted"
            order["attempts"] += 1
            return copy.deepcopy(payment)

    # ---- Razorpay's webhook sender -----------------------------------------------------------

    def webhook(
        self,
        event: str,
        entity_id: str,
        *,
        secret: str | None = None,
        event_id: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers Razorpay posts for `event` about a payment (payment.captured,
        payment.failed, payment.authorized, order.paid) or a refund (refund.created,
        refund.processed): signed with the webhook secret (or `secret`, to forge one)."""
        with self.lock:
            if event.startswith("refund."):
                refund = self.refunds[entity_id]
                payload = {
                    "refund": {"entity": copy.deepcopy(refund)},
                    "payment": {"entity": copy.deepcopy(self.payments[refund["payment_id"]])},
                }
            elif event == "order.paid":
                payment = self.payments[entity_id]
                payload = {
                    "payment": {"entity": copy.deepcopy(payment)},
                    "order": {"entity": copy.deepcopy(self.orders[payment["order_id"]])},
                }
            elif event.startswith("payment."):
                payload = {"payment": {"entity": copy.deepcopy(self.payments[entity_id])}}
            else:
                raise ValueError(f"no webhook built for {event}")
        body = json.dumps(
            {
                "entity": "event",
                "account_id": ACCOUNT_ID,
                "event": event,
                "contains": list(payload),
                "payload": payload,
                "created_at": int(time.time()),
            }
        ).encode()
        signature = hmac.new(
            (secret or self.webhook_secret).encode(), body, hashlib.sha256
        ).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Razorpay-Webhook/v1",
            "X-Razorpay-Signature": signature,
            "X-Razorpay-Event-Id": event_id or razorpay_id("evt")[4:],
        }
        return body, headers

    # ---- the REST API ------------------------------------------------------------------------

    def _now(self) -> int:
        # Strictly increasing, so "newest first" is well defined within one second.
        self._clock = max(self._clock + 1, int(time.time()))
        return self._clock

    def _new_payment(self, order: Entity, method: str, *, status: str) -> Entity:
        payment = {
            "id": razorpay_id("pay"),
            "entity": "payment",
            "amount": order["amount"],
            "currency": order["currency"],
            "status": status,
            "order_id": order["id"],
            "invoice_id": None,
            "international": False,
            "method": method,
            "amount_refunded": 0,
            "refund_status": None,
            "captured": status == "captured",
            "description": order["notes"].get("description")
            if isinstance(order["notes"], dict)
            else None,
            "card_id": razorpay_id("card") if method == "card" else None,
            "bank": "HDFC" if method == "netbanking" else None,
            "wallet": "paytm" if method == "wallet" else None,
            "vpa": "patient@okhdfcbank" if method == "upi" else None,
            "email": "patient@example.com",
            "contact": "+919000090000",
            # Checkout's own notes (none here), not the order's.
            "notes": [],
            "fee": None,
            "tax": None,
            "error_code": None,
            "error_description": None,
            "error_source": None,
            "error_step": None,
            "error_reason": None,
            "acquirer_data": {},
            "created_at": self._now(),
        }
        self.payments[payment["id"]] = payment
        return payment

    def create_order(self, body: dict[str, Any]) -> Entity:
        amount = body.get("amount")
        if amount is None:
            raise RazorpayError("The amount field is required.", field="amount")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise RazorpayError("The amount must be an integer.", field="amount")
        if amount < MIN_AMOUNT:
            raise RazorpayError("Order amount less than minimum amount allowed", field="amount")
        currency = body.get("currency")
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isupper():
            raise RazorpayError("The currency field is required.", field="currency")
        receipt = body.get("receipt")
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > RECEIPT_LENGTH):
            raise RazorpayError(
                f"The receipt may not be greater than {RECEIPT_LENGTH} characters.",
                field="receipt",
            )
        notes = _valid_notes(body.get("notes"))
        order = {
            "id": razorpay_id("order"),
            "entity": "order",
            "amount": amount,
            "amount_paid": 0,
            "amount_due": amount,
            "currency": currency,
            "receipt": receipt,
            "offer_id": None,
            "status": "created",
            "attempts": 0,
            "notes": notes,
            "created_at": self._now(),
        }
        self.orders[order["id"]] = order
        return order

    def refund(self, payment_id: str, body: dict[str, Any]) -> Entity:
        payment = _found(self.payments, payment_id)
        if payment["status"] == "refunded":
            raise RazorpayError("The payment has been fully refunded already")
        if payment["status"] != "captured":
            raise RazorpayError("Only payments which have been captured can be refunded")
        left = payment["amount"] - payment["amount_refunded"]
        amount = body.get("amount", left)
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < MIN_AMOUNT:
            raise RazorpayError("The amount must be at least INR 1.00.", field="amount")
        if amount > left:
            raise RazorpayError(
                "The total refund amount is greater than the refund payment amount",
                field="amount",
            )
        refund = {
            "id": razorpay_id("rfnd"),
            "entity": "refund",
            "amount": amount,
            "receipt": body.get("receipt"),
            "currency": payment["currency"],
            "payment_id": payment_id,
            "notes": _valid_notes(body.get("notes")),
            "acquirer_data": {"arn": None},
            "created_at": self._now(),
            "batch_id": None,
            # Test mode processes normal-speed refunds at once.
            "status": "processed",
            "speed_processed": "normal",
            "speed_requested": str(body.get("speed") or "normal"),
        }
        self.refunds[refund["id"]] = refund
        payment["amount_refunded"] += amount
        full = payment["amount_refunded"] == payment["amount"]
        payment["refund_status"] = "full" if full else "partial"
        if full:
            payment["status"] = "refunded"
        return refund


def _valid_notes(notes: Any) -> dict[str, Any] | list[Any]:
    if notes is None or notes == []:
        # Razorpay answers empty notes as an empty JSON array.
        return []
    if not isinstance(notes, dict):
        raise RazorpayError("The notes must be an array.", field="notes")
    if len(notes) > NOTES_MAX:
        raise RazorpayError(
            f"Number of fields in notes should be less than or equal to {NOTES_MAX}",
            field="notes",
        )
    for key, value in notes.items():
        if len(str(value)) > NOTE_LENGTH:
            raise RazorpayError(
                f"The notes.{key} may not be greater than {NOTE_LENGTH} characters.",
                field="notes",
            )
    return dict(notes)


def _found(store: dict[str, Entity], entity_id: str) -> Entity:
    entity = store.get(entity_id)
    if entity is None:
        raise RazorpayError("The id provided does not exist")
    return entity


def _collection(items: list[Entity], query: dict[str, str]) -> Entity:
    try:
        count = int(query.get("count", 10))
        skip = int(query.get("skip", 0))
    except ValueError:
        raise RazorpayError("The count must be an integer.", field="count") from None
    if count > COUNT_MAX:
        raise RazorpayError(f"The count may not be greater than {COUNT_MAX}.", field="count")
    newest_first = sorted(items, key=lambda e: e["created_at"], reverse=True)
    page = [copy.deepcopy(e) for e in newest_first[skip : skip + count]]
    return {"entity": "collection", "count": len(page), "items": page}


def _authorized(server: LocalRazorpay, header: str | None) -> bool:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        key_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(key_id, server.key_id) and hmac.compare_digest(
        secret, server.key_secret
    )


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    if request.content_type == "application/json":
        try:
            data = json.loads(await request.text() or "{}")
        except ValueError:
            raise RazorpayError("The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise RazorpayError("The request body must be a JSON object.")
        return data
    form = await request.post()
    return {k: int(v) if k == "amount" and str(v).isdigit() else v for k, v in form.items()}


def build_app(server: LocalRazorpay) -> web.Application:
    @web.middleware
    async def contract(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        body = await request.text() if request.body_exists else ""
        server.requests.append(
            RecordedRequest(
                request.method, request.path, dict(request.query), dict(request.headers), body
            )
        )
        try:
            if not _authorized(server, request.headers.get("Authorization")):
                raise RazorpayError("Authentication failed", status=401)
            return await handler(request)
        except RazorpayError as error:
            return web.json_response(error.body, status=error.status)
        except web.HTTPNotFound:
            return web.json_response(
                RazorpayError("The requested URL was not found on the server.").body, status=400
            )

    def answer(entity: Entity) -> web.Response:
        return web.json_response(copy.deepcopy(entity))

    async def create_order(request: web.Request) -> web.Response:
        body = await _body(request)
        with server.lock:
            return answer(server.create_order(body))

    async def list_orders(request: web.Request) -> web.Response:
        query = dict(request.query)
        with server.lock:
            orders = [
                o
                for o in server.orders.values()
                if "receipt" not in query or o["receipt"] == query["receipt"]
            ]
            return answer(_collection(orders, query))

    async def fetch_order(request: web.Request) -> web.Response:
        with server.lock:
            return answer(_found(server.orders, request.match_info["id"]))

    async def order_payments(request: web.Request) -> web.Response:
        order_id = request.match_info["id"]
        with server.lock:
            _found(server.orders, order_id)
            payments = [p for p in server.payments.values() if p["order_id"] == order_id]
            return answer(_collection(payments, dict(request.query)))

    async def fetch_payment(request: web.Request) -> web.Response:
        with server.lock:
            return answer(_found(server.payments, request.match_info["id"]))

    async def refund_payment(request: web.Request) -> web.Response:
        body = await _body(request)
        with server.lock:
            return answer(server.refund(request.match_info["id"], body))

    async def payment_refunds(request: web.Request) -> web.Response:
        payment_id = request.match_info["id"]
        with server.lock:
            _found(server.payments, payment_id)
            refunds = [r for r in server.refunds.values() if r["payment_id"] == payment_id]
            return answer(_collection(refunds, dict(request.query)))

    async def fetch_refund(request: web.Request) -> web.Response:
        with server.lock:
            refund = _found(server.refunds, request.match_info["refund_id"])
            if refund["payment_id"] != request.match_info["id"]:
                raise RazorpayError("The id provided does not exist")
            return answer(refund)

    app = web.Application(middlewares=[contract])
    app.router.add_post("/v1/orders", create_order)
    app.router.add_get("/v1/orders", list_orders)
    app.router.add_get("/v1/orders/{id}", fetch_order)
    app.router.add_get("/v1/orders/{id}/payments", order_payments)
    app.router.add_get("/v1/payments/{id}", fetch_payment)
    app.router.add_post("/v1/payments/{id}/refund", refund_payment)
    app.router.add_get("/v1/payments/{id}/refunds", payment_refunds)
    app.router.add_get("/v1/payments/{id}/refunds/{refund_id}", fetch_refund)
    return app


@pytest.fixture
def local_razorpay() -> Iterator[LocalRazorpay]:
    """A fresh local Razorpay for each test, on its own event loop in a thread, so the blocking
    SDK (run through asyncio.to_thread, or from the test) reaches it whatever the test's loop
    is doing."""
    server = LocalRazorpay()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(build_app(server), access_log=None)
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            host, port = runner.addresses[0][:2]
            server.url = f"http://{host}:{port}"
        except BaseException as exc:
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="local-razorpay", daemon=True)
    thread.start()
    started.wait(10)
    if failure:
        raise failure[0]
    yield server
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
