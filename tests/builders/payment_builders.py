"""Builders for payment tests: a booking driven to confirmed through its workflow, a coupon, and an
in-memory gateway that keeps the PaymentGateway protocol's promises (idempotent create and refund,
cancel that leaves a paid intent paid)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from activities.bookings import NewBooking
from activities.providers.gateways import (
    GatewayCheckout,
    GatewayError,
    GatewayRefund,
    GatewayState,
    GatewayStatus,
    RefundStatus,
    intent_idempotency_key,
)
from domain.access import Role
from domain.booking import BookingStatus
from domain.models.catalog import Hospital
from domain.models.payments import Coupon
from domain.models.users import Patient, User
from domain.payment import PaymentGateway as GatewayName
from tests.builders.users import create_user
from workflows.booking import (
    BookingInput,
    BookingWorkflow,
    Caller,
    Quotation,
    QuotationItem,
    StatusChange,
    open_booking,
)
from workflows.booking import workflow_id as booking_workflow_id

QUOTE = [("Knee replacement", Decimal("900.00")), ("Hospital stay", Decimal("100.00"))]
QUOTE_TOTAL = Decimal("1000.00")


@dataclass
class Cast:
    patient: User
    patient_id: uuid.UUID
    coordinator: User
    admin: User
    hospital_id: uuid.UUID

    def caller(self, user: User) -> Caller:
        return Caller(user_id=user.id, role=Role(user.user_type))


async def make_cast(sessionmaker: async_sessionmaker[AsyncSession], country: str = "India") -> Cast:
    patient = await create_user(sessionmaker, Role.PATIENT)
    coordinator = await create_user(sessionmaker, Role.COORDINATOR)
    admin = await create_user(sessionmaker, Role.ADMIN)
    async with sessionmaker() as db, db.begin():
        hospital = Hospital(id=uuid.uuid4(), name="Apollo Chennai", country=country)
        db.add(hospital)
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient.id))
    assert patient_id is not None
    return Cast(patient, patient_id, coordinator, admin, hospital.id)


async def confirmed_booking(
    client: Client, task_queue: str, cast: Cast, *, now: Any, currency: str = "USD"
) -> uuid.UUID:
    """A booking taken through review and quotation to confirmed by its own workflow."""
    booking_id = uuid.uuid4()
    await open_booking(
        client,
        task_queue,
        BookingInput(
            booking=NewBooking(
                booking_id=booking_id,
                booking_number=f"MV-BK-T-{booking_id.hex[:8]}",
                patient_id=cast.patient_id,
                hospital_id=cast.hospital_id,
                booking_type="treatment",
                coordinator_id=cast.coordinator.id,
                created_by_user_id=cast.patient.id,
                created_by_role=Role.PATIENT.value,
            )
        ),
    )
    handle = client.get_workflow_handle_for(BookingWorkflow.run, booking_workflow_id(booking_id))
    staff = cast.caller(cast.coordinator)
    for status in (BookingStatus.UNDER_REVIEW, BookingStatus.ACCEPTED):
        await handle.execute_update(
            BookingWorkflow.change_status, StatusChange(caller=staff, status=status)
        )
    await handle.execute_update(
        BookingWorkflow.send_quotation,
        Quotation(
            caller=staff,
            items=[QuotationItem(description=d, amount=a) for d, a in QUOTE],
            currency=currency,
            valid_until=now + timedelta(days=14),
            total_amount=QUOTE_TOTAL,
        ),
    )
    await handle.execute_update(
        BookingWorkflow.change_status,
        StatusChange(caller=cast.caller(cast.patient), status=BookingStatus.CONFIRMED),
    )
    return booking_id


async def make_coupon(
    sessionmaker: async_sessionmaker[AsyncSession], code: str, *, percent: str = "10"
) -> uuid.UUID:
    async with sessionmaker() as db, db.begin():
        coupon = Coupon(
            id=uuid.uuid4(),
            code=code,
            discount_type="percentage",
            discount_value=Decimal(percent),
            usage_limit=5,
        )
        db.add(coupon)
    return coupon.id


@dataclass
class FakeIntent:
    id: str
    payment_id: str
    amount: int
    currency: str
    status: GatewayStatus = GatewayStatus.PENDING
    received: int = 0
    failure: str | None = None


@dataclass
class FakeGateway:
    """The gateway's side kept in memory; tests play the customer with pay() and decline()."""

    name: GatewayName = GatewayName.STRIPE
    intents: dict[str, FakeIntent] = field(default_factory=dict)
    refunds: dict[str, GatewayRefund] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    # False plays Razorpay: an order cannot be cancelled and stays payable.
    cancellable: bool = True

    def intent_of(self, payment_id: uuid.UUID) -> FakeIntent:
        return next(i for i in self.intents.values() if i.payment_id == str(payment_id))

    def pay(self, gateway_id: str) -> None:
        intent = self.intents[gateway_id]
        intent.status = GatewayStatus.SUCCEEDED
        intent.received = intent.amount

    def pay_wrong_amount(self, gateway_id: str, received: int) -> None:
        """A tampered or partial payment: the gateway holds another amount than asked."""
        intent = self.intents[gateway_id]
        intent.status = GatewayStatus.SUCCEEDED
        intent.received = received

    def refund_in_dashboard(self, gateway_id: str, amount_minor: int) -> None:
        """Someone refunds at the gateway itself, not through Medivoy."""
        intent = self.intents[gateway_id]
        self.refunds[f"dashboard:{len(self.refunds) + 1}"] = GatewayRefund(
            gateway=self.name,
            refund_id=f"re_dash_{len(self.refunds) + 1}",
            status=RefundStatus.SUCCEEDED,
            amount_minor=amount_minor,
            currency=intent.currency,
            charge_id=intent.id,
        )

    def refunded(self, gateway_id: str) -> int:
        return sum(r.amount_minor for r in self.refunds.values() if r.charge_id == gateway_id)

    def decline(self, gateway_id: str) -> None:
        intent = self.intents[gateway_id]
        intent.status = GatewayStatus.FAILED
        intent.failure = "card_declined"

    def _state(self, intent: FakeIntent) -> GatewayState:
        return GatewayState(
            gateway=self.name,
            gateway_id=intent.id,
            status=intent.status,
            amount_minor=intent.amount,
            amount_received_minor=intent.received,
            amount_refunded_minor=self.refunded(intent.id),
            currency=intent.currency,
            charge_id=f"ch_{intent.id}" if intent.received else None,
            failure_code=intent.failure,
            gateway_status=intent.status.value,
            payment_id=intent.payment_id,
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
        key = intent_idempotency_key(payment_id, attempt)
        self.calls.append(("create", key))
        gateway_id = "pi_" + uuid.uuid5(uuid.NAMESPACE_URL, key).hex[:20]
        intent = self.intents.setdefault(
            gateway_id, FakeIntent(gateway_id, str(payment_id), amount_minor, currency)
        )
        return GatewayCheckout(
            gateway=self.name,
            gateway_id=intent.id,
            status=intent.status,
            amount_minor=intent.amount,
            currency=currency,
            client_secret=f"{intent.id}_secret_fake",
        )

    async def retrieve(self, gateway_id: str) -> GatewayState:
        self.calls.append(("retrieve", gateway_id))
        return self._state(self.intents[gateway_id])

    async def cancel(self, gateway_id: str) -> GatewayState:
        self.calls.append(("cancel", gateway_id))
        intent = self.intents[gateway_id]
        if self.cancellable and intent.status != GatewayStatus.SUCCEEDED:
            intent.status = GatewayStatus.CANCELED
        return self._state(intent)

    async def refund(
        self,
        gateway_id: str,
        amount_minor: int,
        idempotency_key: str,
        metadata: dict[str, str] | None = None,
    ) -> GatewayRefund:
        self.calls.append(("refund", idempotency_key))
        if idempotency_key in self.refunds:
            return self.refunds[idempotency_key]
        intent = self.intents[gateway_id]
        done = sum(r.amount_minor for r in self.refunds.values() if r.charge_id == intent.id)
        if done + amount_minor > intent.received:
            raise GatewayError("refund exceeds the charge", permanent=True)
        refund = GatewayRefund(
            gateway=self.name,
            refund_id=f"re_{len(self.refunds) + 1}",
            status=RefundStatus.SUCCEEDED,
            amount_minor=amount_minor,
            currency=intent.currency,
            charge_id=intent.id,
        )
        self.refunds[idempotency_key] = refund
        return refund
