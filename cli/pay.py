"""`medivoy pay`: pay a pending Stripe payment with a test card, as the browser checkout would.

What Stripe.js does on the checkout page: attach a card to the payment's PaymentIntent and
confirm it, here through the stripe SDK against the configured Stripe (the embedded localstripe
under `medivoy dev`). Medivoy learns the outcome the way it does in production, from the signed
webhook (or its reconciliation), so this verb then only watches the payment row.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from dataclasses import dataclass

import stripe
from sqlalchemy import select

from domain.models.bookings import Booking
from domain.models.payments import Invoice, Payment
from domain.payment import PaymentGateway, PaymentStatus
from runtime.db import make_engine, make_sessionmaker
from runtime.settings import Settings

# Stripe's own test payment methods for the test cards (they work on Stripe's test mode as on
# localstripe); another number becomes a card payment method of its own (localstripe only:
# Stripe takes raw numbers from the browser, not from a server).
TEST_PAYMENT_METHODS = {"4242424242424242": "pm_card_visa"}
# Attaches, then the charge is declined (card_declined).
DECLINED = "pm_card_chargeCustomerFail"
OPEN = {PaymentStatus.PENDING.value, PaymentStatus.PROCESSING.value}

EXIT_PAID = 0
EXIT_DECLINED = 1
EXIT_CANNOT_PAY = 2


class CannotPay(Exception):
    """The payment is not one this verb can pay; the message says why."""


@dataclass(frozen=True)
class Found:
    status: str
    gateway: str
    intent_id: str | None
    booking_id: uuid.UUID | None


async def _payment(settings: Settings, payment_id: uuid.UUID) -> Found | None:
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as db:
            payment = await db.get(Payment, payment_id)
            if payment is None:
                return None
            return Found(
                payment.status,
                payment.payment_gateway,
                payment.gateway_payment_intent_id,
                payment.booking_id,
            )
    finally:
        await engine.dispose()


async def _settled(
    settings: Settings, payment_id: uuid.UUID, wait: float
) -> tuple[str, str | None, str | None]:
    """The payment's status once it has left pending/processing (or at the deadline), with its
    booking's status and invoice number when it has them."""
    engine = make_engine(settings.database_url, pool_size=1)
    sessionmaker = make_sessionmaker(engine)
    deadline = time.monotonic() + wait
    try:
        while True:
            async with sessionmaker() as db:
                payment = await db.get(Payment, payment_id)
                assert payment is not None
                booking_status = invoice_number = None
                if payment.booking_id is not None:
                    booking = await db.get(Booking, payment.booking_id)
                    booking_status = booking.status if booking else None
                    invoice_number = await db.scalar(
                        select(Invoice.invoice_number).where(
                            Invoice.booking_id == payment.booking_id
                        )
                    )
                status = payment.status
            # A paid booking is done once its invoice is out (the booking workflow's next step).
            settled = status not in OPEN and (
                status != PaymentStatus.COMPLETED.value
                or payment.booking_id is None
                or (invoice_number is not None and booking_status != "payment_completed")
            )
            if settled or time.monotonic() >= deadline:
                return status, booking_status, invoice_number
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()


def _confirm(settings: Settings, intent_id: str, method: str, number: str | None) -> str:
    """Attach the card and confirm, as Stripe.js does; the intent's status after it."""
    api_base = settings.stripe_api_base.rstrip("/")
    client = stripe.StripeClient(
        settings.stripe_secret_key.get_secret_value(),
        base_addresses={"api": api_base} if api_base else None,
    )
    intent = client.v1.payment_intents.retrieve(intent_id)
    if intent.status == "succeeded":
        raise CannotPay(f"its PaymentIntent {intent_id} is already paid")
    if intent.status == "canceled":
        raise CannotPay(f"its PaymentIntent {intent_id} was cancelled")
    if number is not None:
        created = client.v1.payment_methods.create(
            params={
                "type": "card",
                "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
            }
        )
        method = created.id
    client.v1.payment_intents.update(intent_id, params={"payment_method": method})
    confirmed = client.v1.payment_intents.confirm(intent_id)
    return str(confirmed.status)


def pay(settings: Settings, payment_id_text: str, *, card: str, decline: bool, wait: float) -> int:
    try:
        payment_id = uuid.UUID(payment_id_text)
    except ValueError:
        print(f"medivoy pay: {payment_id_text!r} is not a payment id (a UUID)", file=sys.stderr)
        return EXIT_CANNOT_PAY
    found = asyncio.run(_payment(settings, payment_id))
    try:
        if found is None:
            raise CannotPay("there is no such payment")
        if found.gateway != PaymentGateway.STRIPE.value:
            raise CannotPay(f"it is a {found.gateway} payment; this verb pays Stripe ones")
        if found.status != PaymentStatus.PENDING.value:
            raise CannotPay(f"it is {found.status}, not pending")
        if not found.intent_id:
            raise CannotPay("it has no Stripe PaymentIntent yet")
        number = card.replace(" ", "")
        if decline:
            method, raw = DECLINED, None
        elif number in TEST_PAYMENT_METHODS:
            method, raw = TEST_PAYMENT_METHODS[number], None
        elif number.isdigit() and 12 <= len(number) <= 19:
            method, raw = "", number
        else:
            raise CannotPay(f"{card!r} is not a card number")
        try:
            intent_status = _confirm(settings, found.intent_id, method, raw)
        except stripe.CardError as exc:
            print(f"Payment {payment_id}: the card was declined ({exc.code or 'card_declined'}).")
            intent_status = "declined"
        except stripe.StripeError as exc:
            raise CannotPay(f"Stripe refused it: {exc.user_message or exc}") from exc
    except CannotPay as exc:
        print(f"medivoy pay: payment {payment_id} cannot be paid: {exc}", file=sys.stderr)
        return EXIT_CANNOT_PAY
    if intent_status != "declined":
        print(
            f"Payment {payment_id}: PaymentIntent {found.intent_id} is {intent_status} at Stripe."
        )
    if wait <= 0:
        return EXIT_PAID if intent_status == "succeeded" else EXIT_DECLINED
    status, booking_status, invoice = asyncio.run(_settled(settings, payment_id, wait))
    print(f"Payment {payment_id}: {status} in Medivoy.")
    if found.booking_id is not None:
        print(f"Booking {found.booking_id}: {booking_status}.")
    if invoice:
        print(f"Invoice {invoice} issued.")
    if status == PaymentStatus.COMPLETED.value:
        return EXIT_PAID
    if status in OPEN:
        print(
            f"medivoy pay: Medivoy has not recorded the outcome within {wait:.0f} s.",
            file=sys.stderr,
        )
    return EXIT_DECLINED
