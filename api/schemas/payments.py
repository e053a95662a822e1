"""Payment, invoice and coupon shapes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain.payment import DiscountType, InvoiceStatus, PaymentGateway, PaymentStatus

Currency = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")
]
Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
# Codes are case-blind: kept and matched in capitals, so "spring20" is SPRING20.
CouponCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_upper=True,
        min_length=1,
        max_length=50,
        pattern=r"^[A-Za-z0-9_\-]+$",
    ),
]


class PaymentCreate(BaseModel):
    """Pay for a confirmed booking or an appointment. The server decides the amount (the
    accepted quotation or the consultation fee, less any coupon, plus tax); `amount`, when sent,
    must equal the price before coupon and tax, or the request is refused (400)."""

    model_config = ConfigDict(extra="forbid")

    booking_id: uuid.UUID | None = None
    appointment_id: uuid.UUID | None = None
    currency: Currency
    payment_method: Annotated[str, StringConstraints(max_length=50)] = "card"
    payment_gateway: PaymentGateway
    coupon_code: CouponCode | None = None
    amount: Money | None = None

    @model_validator(mode="after")
    def _one_target(self) -> PaymentCreate:
        if (self.booking_id is None) == (self.appointment_id is None):
            raise ValueError("give exactly one of booking_id and appointment_id")
        return self


class CheckoutOut(BaseModel):
    """What the checkout page needs: Stripe's client_secret (+ publishable key) or Razorpay's
    order_id (+ key_id; for a subscription's first charge also customer_id and recurring, which
    Razorpay Checkout takes to save the card for the renewals)."""

    payment_id: uuid.UUID
    status: PaymentStatus
    gateway: PaymentGateway
    amount: Decimal
    currency: str
    discount_amount: Decimal
    tax_amount: Decimal
    gateway_id: str | None = None
    client_secret: str | None = None
    publishable_key: str | None = None
    order_id: str | None = None
    key_id: str | None = None
    customer_id: str | None = None
    recurring: bool = False


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    transaction_id: str
    booking_id: uuid.UUID | None
    appointment_id: uuid.UUID | None
    # None for a subscription's charge (a hospital or a doctor pays, not a patient).
    patient_id: uuid.UUID | None
    subscription_id: uuid.UUID | None = None
    amount: Decimal
    currency: str
    payment_method: str | None
    payment_gateway: str
    gateway_order_id: str | None
    gateway_payment_intent_id: str | None
    coupon_id: uuid.UUID | None
    discount_amount: Decimal
    status: str
    failure_reason: str | None
    payment_date: datetime | None
    refund_amount: Decimal | None
    refund_date: datetime | None
    created_at: datetime
    updated_at: datetime


class PaymentStatusOut(BaseModel):
    payment_id: uuid.UUID
    # As stored (the workflow writes it).
    status: str
    # As the gateway says right now (None when it could not be asked).
    gateway_status: str | None = None
    gateway_state: str | None = None
    amount_received: Decimal | None = None


class PaymentFilters(BaseModel):
    status: PaymentStatus | None = None
    payment_gateway: PaymentGateway | None = None
    patient_id: uuid.UUID | None = None
    booking_id: uuid.UUID | None = None
    appointment_id: uuid.UUID | None = None
    date_from: date | None = Field(default=None, description="Created on or after (UTC day)")
    date_to: date | None = Field(default=None, description="Created on or before (UTC day)")


class RefundBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)] | None = Field(
        default=None, description="Omit to refund everything not yet refunded"
    )
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class InvoiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    invoice_number: str
    booking_id: uuid.UUID | None
    appointment_id: uuid.UUID | None
    # None for a subscription's invoice (a hospital or a doctor pays, not a patient).
    patient_id: uuid.UUID | None
    subscription_id: uuid.UUID | None = None
    hospital_id: uuid.UUID | None
    total_amount: Decimal
    tax_rate: Decimal | None
    tax_amount: Decimal
    discount_amount: Decimal
    final_amount: Decimal
    currency: str
    line_items: list[Any] | None
    invoice_date: date | None
    due_date: date | None
    pdf_url: str | None
    status: str
    created_at: datetime


class InvoiceCreate(BaseModel):
    """An invoice made by an admin for a booking (its quotation) or an appointment (its fee)."""

    model_config = ConfigDict(extra="forbid")

    booking_id: uuid.UUID | None = None
    appointment_id: uuid.UUID | None = None
    discount_amount: Money = Decimal("0")
    status: InvoiceStatus = InvoiceStatus.ISSUED

    @model_validator(mode="after")
    def _one_target(self) -> InvoiceCreate:
        if (self.booking_id is None) == (self.appointment_id is None):
            raise ValueError("give exactly one of booking_id and appointment_id")
        return self


class InvoiceFilters(BaseModel):
    status: InvoiceStatus | None = None
    patient_id: uuid.UUID | None = None
    booking_id: uuid.UUID | None = None


class CouponOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    discount_type: str
    discount_value: Decimal
    min_purchase_amount: Decimal | None
    max_discount_amount: Decimal | None
    valid_from: date | None
    valid_until: date | None
    usage_limit: int | None
    usage_count: int
    is_active: bool
    created_at: datetime
    updated_at: datetime


DiscountValue = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]
PERCENT_MAX = Decimal(100)


def percentage_fits(discount_type: DiscountType | str | None, value: Decimal | None) -> None:
    if discount_type == DiscountType.PERCENTAGE and value is not None and value > PERCENT_MAX:
        raise ValueError("a percentage discount is at most 100")


def validity_ordered(valid_from: date | None, valid_until: date | None) -> None:
    if valid_from is not None and valid_until is not None and valid_until < valid_from:
        raise ValueError("valid_until is before valid_from")


class CouponCreate(BaseModel):
    # The rules are field validators, not one model validator, so a refusal names its field.
    # Fields are validated in order: discount_type before discount_value, valid_from before
    # valid_until (absent from info.data when it was itself invalid).
    model_config = ConfigDict(extra="forbid")

    code: CouponCode
    discount_type: DiscountType
    discount_value: DiscountValue
    min_purchase_amount: Money | None = None
    max_discount_amount: Money | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    usage_limit: Annotated[int, Field(ge=1)] | None = None
    is_active: bool = True

    @field_validator("discount_value")
    @classmethod
    def _percentage_at_most_100(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        percentage_fits(info.data.get("discount_type"), value)
        return value

    @field_validator("valid_until")
    @classmethod
    def _validity_ordered(cls, value: date | None, info: ValidationInfo) -> date | None:
        validity_ordered(info.data.get("valid_from"), value)
        return value


class CouponUpdate(BaseModel):
    """The terms to change; the code and the kind of discount stay as made. Checked here within
    the change, and against the stored coupon by the coupons router (a percentage over 100, an
    end before the start, a usage limit below the uses already made)."""

    model_config = ConfigDict(extra="forbid")

    discount_value: DiscountValue | None = None
    min_purchase_amount: Money | None = None
    max_discount_amount: Money | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    usage_limit: Annotated[int, Field(ge=1)] | None = None
    is_active: bool | None = None

    @field_validator("discount_value", "is_active")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Only an explicit null reaches here (defaults are not validated): these columns
        # cannot be empty, leave the field out to keep it.
        if value is None:
            raise ValueError("may not be null; leave it out to keep the current value")
        return value

    @field_validator("valid_until")
    @classmethod
    def _validity_ordered(cls, value: date | None, info: ValidationInfo) -> date | None:
        validity_ordered(info.data.get("valid_from"), value)
        return value


class CouponCheckOut(BaseModel):
    """Whether the coupon applies to a purchase of `amount` today, and what it takes off."""

    code: str
    valid: bool
    amount: Decimal
    discount_amount: Decimal | None = None
    amount_due: Decimal | None = None
    # The refusal code (COUPON_EXPIRED, COUPON_USED_UP, ...) when it does not apply.
    refusal_code: str | None = None
    message: str | None = None
