"""A subscription's money as the subscription workflow stores it: a plan, a hospital's or a
doctor's subscription, its charge (a payment with no patient, by subscription_id) and its
invoice (with its subscription, and its hospital for a hospital's), for the money access tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models.payments import Invoice, Payment
from domain.models.subscriptions import Subscription, SubscriptionPlan


@dataclass
class SubscriptionMoney:
    subscription: Subscription
    payment: Payment
    invoice: Invoice


async def add_subscription_money(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    hospital_id: uuid.UUID | None = None,
    doctor_id: uuid.UUID | None = None,
    mark: str = "",
    pdf_storage_key: str | None = None,
) -> SubscriptionMoney:
    """The first period's charge and invoice of a new active subscription of the holder."""
    plan = SubscriptionPlan(
        id=uuid.uuid4(),
        name=f"Plan {mark}{uuid.uuid4().hex[:6]}",
        target_user="hospital" if hospital_id is not None else "doctor",
        price_monthly=Decimal("49.00"),
        currency="USD",
    )
    subscription = Subscription(
        id=uuid.uuid4(),
        plan_id=plan.id,
        hospital_id=hospital_id,
        doctor_id=doctor_id,
        billing_cycle="monthly",
        status="active",
        status_seq=2,
        amount=Decimal("49.00"),
        currency="USD",
        start_date=date(2030, 1, 31),
        end_date=date(2030, 2, 28),
    )
    payment = Payment(
        id=uuid.uuid4(),
        transaction_id=f"MV-TX-{mark}" + uuid.uuid4().hex[:12].upper(),
        subscription_id=subscription.id,
        amount=Decimal("49.00"),
        currency="USD",
        payment_gateway="stripe",
        status="completed",
    )
    invoice = Invoice(
        id=uuid.uuid4(),
        invoice_number=f"MV-INV-{mark}" + uuid.uuid4().hex[:10].upper(),
        subscription_id=subscription.id,
        hospital_id=hospital_id,
        total_amount=Decimal("49.00"),
        final_amount=Decimal("49.00"),
        currency="USD",
        invoice_date=date(2030, 1, 31),
        status="paid",
        pdf_storage_key=pdf_storage_key,
    )
    async with sessionmaker() as db, db.begin():
        for row in (plan, subscription, payment, invoice):
            db.add(row)
            await db.flush()
    return SubscriptionMoney(subscription, payment, invoice)
