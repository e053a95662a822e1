"""Invoices: the arithmetic of totals, the tax rate of a hospital's country, readable numbers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from domain.errors import Conflict, DomainError, Invalid, NotFound
from domain.money import quantum
from domain.payment import InvoiceStatus

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)

# Postgres sequence (migration 0005) behind the readable numbers. nextval() is never rolled back,
# so a failed or retried request leaves a gap, never a duplicate; invoices.invoice_number is
# unique as well.
INVOICE_NUMBER_SEQUENCE = "invoice_number_seq"
# MV-INV-<year>-<at least 6 digits>: the sequence is global, not per year, so the number keeps
# growing across years and widens past 999999 instead of wrapping into a duplicate.
INVOICE_NUMBER = re.compile(r"^MV-INV-(\d{4})-(\d{6,})$")

INVALID_INVOICE = "INVALID_INVOICE"
INVOICE_CANCELLED = "INVOICE_CANCELLED"
PATIENT_NOT_FOUND = "PATIENT_NOT_FOUND"


def money(value: Decimal, step: Decimal = CENT) -> Decimal:
    """Two places, half up (2.345 -> 2.35): the one rounding every invoice amount goes through."""
    return value.quantize(step, rounding=ROUND_HALF_UP)


def rounding_step(currency: str | None) -> Decimal:
    """Cents, or the currency's whole unit when it has no cents (JPY, KRW): an invoice in yen
    must not carry a fraction the gateway cannot charge (domain.money.to_minor refuses it).
    Never finer than a cent: the invoice columns keep two places."""
    if currency is None:
        return CENT
    return max(CENT, quantum(currency))


def _decimal(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str | float):
        raise Invalid(f"{what} is not a number", code=INVALID_INVOICE)
    try:
        # str() first: Decimal(0.1) would carry the float's binary error into the cents.
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation as exc:
        raise Invalid(f"{what} is not a number", code=INVALID_INVOICE) from exc
    if not number.is_finite():
        raise Invalid(f"{what} is not a finite number", code=INVALID_INVOICE)
    return number


@dataclass(frozen=True)
class LineItem:
    description: str
    amount: Decimal

    def as_json(self) -> dict[str, str]:
        """The shape stored in invoices.line_items (and quotation items): amount as a string."""
        return {"description": self.description, "amount": str(money(self.amount))}


@dataclass(frozen=True)
class InvoiceTotals:
    items: tuple[LineItem, ...]
    # invoices.total_amount: the sum of the items, before discount and tax.
    subtotal: Decimal
    discount: Decimal
    # What the tax applies to: subtotal - discount.
    taxable: Decimal
    # Percent (18.00 for 18 % GST), as stored in invoices.tax_rate.
    tax_rate: Decimal
    tax: Decimal
    # invoices.final_amount: taxable + tax, what the patient pays.
    final: Decimal

    def line_items_json(self) -> list[dict[str, str]]:
        return [item.as_json() for item in self.items]


def compute_invoice(
    items: Iterable[LineItem],
    *,
    discount: Decimal = ZERO,
    tax_rate: Decimal = ZERO,
    currency: str | None = None,
) -> InvoiceTotals:
    """Totals of an invoice. Each item and the discount are rounded to cents (whole units for
    a currency without cents) first, so the printed lines add up to the printed subtotal; tax
    is charged on what is left after the discount and rounded once.
    final = subtotal - discount + tax, exactly, and never negative."""
    step = rounding_step(currency)
    rounded: list[LineItem] = []
    for index, item in enumerate(items, start=1):
        description = item.description.strip()
        if not description:
            raise Invalid(f"line item {index} has no description", code=INVALID_INVOICE)
        amount = money(_decimal(item.amount, f"line item {index} amount"), step)
        if amount < 0:
            raise Invalid(f"line item {index} has a negative amount", code=INVALID_INVOICE)
        rounded.append(LineItem(description, amount))
    if not rounded:
        raise Invalid("an invoice needs at least one line item", code=INVALID_INVOICE)
    rate = _decimal(tax_rate, "tax rate")
    if not ZERO <= rate <= HUNDRED:
        raise Invalid("tax rate must be between 0 and 100 percent", code=INVALID_INVOICE)
    rate = money(rate)
    subtotal = money(sum((item.amount for item in rounded), ZERO))
    off = money(_decimal(discount, "discount"), step)
    if off < 0:
        raise Invalid("discount cannot be negative", code=INVALID_INVOICE)
    if off > subtotal:
        raise Invalid("discount cannot exceed the subtotal", code=INVALID_INVOICE)
    taxable = subtotal - off
    tax = money(taxable * rate / HUNDRED, step)
    return InvoiceTotals(
        items=tuple(rounded),
        subtotal=subtotal,
        discount=off,
        taxable=taxable,
        tax_rate=rate,
        tax=tax,
        final=taxable + tax,
    )


def line_items_from_json(raw: Sequence[Mapping[str, Any]] | None) -> tuple[LineItem, ...]:
    """Items as stored in invoices.line_items or a booking's quotation_details["items"]
    ({"description": ..., "amount": "1200.00"})."""
    items: list[LineItem] = []
    for index, entry in enumerate(raw or (), start=1):
        if not isinstance(entry, Mapping):
            raise Invalid(f"line item {index} is not an object", code=INVALID_INVOICE)
        description = entry.get("description")
        if not isinstance(description, str):
            raise Invalid(f"line item {index} has no description", code=INVALID_INVOICE)
        items.append(LineItem(description, _decimal(entry.get("amount"), f"item {index} amount")))
    return tuple(items)


def tax_rate_for(country: str | None, rates: Mapping[str, Decimal], default: Decimal) -> Decimal:
    """The tax rate (percent) of a hospital's country: its entry in the configured rates,
    matched without regard to case or surrounding spaces ("india" finds "India"), else the
    default. Rates out of 0..100 are refused rather than printed on an invoice."""
    wanted = (country or "").strip().casefold()
    rate = default
    if wanted:
        for name, value in rates.items():
            if name.strip().casefold() == wanted:
                rate = value
                break
    rate = _decimal(rate, "tax rate")
    if not ZERO <= rate <= HUNDRED:
        raise Invalid(f"tax rate {rate} is not between 0 and 100", code=INVALID_INVOICE)
    return rate


def format_invoice_number(year: int, value: int) -> str:
    """MV-INV-2026-000042 from the year of issue and the sequence's next value."""
    if not 1 <= year <= 9999:
        raise ValueError(f"year {year} out of range")
    if value < 1:
        raise ValueError(f"sequence value {value} must be positive")
    return f"MV-INV-{year:04d}-{value:06d}"


def is_invoice_number(text: str) -> bool:
    return INVOICE_NUMBER.fullmatch(text) is not None


def sending_refusal(status: InvoiceStatus, *, has_account: bool) -> DomainError | None:
    """Why an invoice cannot be e-mailed, or None when it can. A cancelled invoice is owed by
    nobody; a patient without an account has no address to send it to."""
    if status == InvoiceStatus.CANCELLED:
        return Conflict("A cancelled invoice is not sent", code=INVOICE_CANCELLED)
    if not has_account:
        return NotFound("The invoice's patient has no account", code=PATIENT_NOT_FOUND)
    return None
