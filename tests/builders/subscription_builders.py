"""Builders for subscription tests: plans, a hospital with its admin and a doctor to hold them,
an in-memory gateway that also keeps customers and saved cards (declines queued by the test),
and a subscription opened and paid the way the API does it (its first charge through the
PaymentWorkflow)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle

from activities.payments import NewPayment
from activities.providers.gateways import GatewayState, GatewayStatus, SavedMethod
from activities.providers.webhooks import Outcome
from activities.subscriptions import NewSubscription
from domain.access import Role
from domain.models.catalog import Hospital
from domain.models.subscriptions import SubscriptionPlan
from domain.models.users import User
from domain.payment import PaymentGateway as GatewayName
from domain.subscription import BillingCycle
from tests.builders.payment_builders import FakeGateway
from tests.builders.users import create_user
from workflows._kit import Caller
from workflows.payment import (
    GatewayEventSignal,
    PaymentInput,
    PaymentTimers,
    PaymentWorkflow,
    open_payment,
)
from workflows.payment import workflow_id as payment_workflow_id
from workflows.subscription import (
    SubscriptionInput,
    SubscriptionTimers,
    SubscriptionView,
    SubscriptionWorkflow,
    open_subscription,
)
from workflows.subscription import workflow_id as subscription_workflow_id


@dataclass
class SavingGateway(FakeGateway):
    """FakeGateway plus customers and off-session charges of saved cards. `declines` holds the
    outcome of the next charges in order (a decline code, or None for a success); when empty,
    charges succeed."""

    customers: dict[str, str] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)
    declines: list[str | None] = field(default_factory=list)
    # Every charge the gateway took: (idempotency key, amount in minor units, method, outcome).
    charges: dict[str, tuple[int, str, str | None]] = field(default_factory=dict)

    def succeeded_charges(self) -> list[tuple[str, int]]:
        return [(k, a) for k, (a, _, code) in self.charges.items() if code is None]

    async def create_customer(self, key: str, metadata: dict[str, str]) -> str:
        return self.customers.setdefault(key, f"cus_{uuid.uuid5(uuid.NAMESPACE_URL, key).hex[:14]}")

    async def saved_method(self, gateway_id: str, customer_id: str) -> SavedMethod:
        return await self.attach_method(f"pm_{gateway_id[-8:]}_4242", customer_id)

    async def attach_method(self, payment_method_id: str, customer_id: str) -> SavedMethod:
        self.methods[payment_method_id] = customer_id
        return SavedMethod(
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            last4=payment_method_id[-4:] if payment_method_id[-4:].isdigit() else None,
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
        self.calls.append(("charge", key))
        if key not in self.charges:
            assert self.methods.get(payment_method_id) == customer_id, "method not attached"
            code = self.declines.pop(0) if self.declines else None
            self.charges[key] = (amount_minor, payment_method_id, code)
        amount, _, code = self.charges[key]
        gateway_id = "pi_" + uuid.uuid5(uuid.NAMESPACE_URL, key).hex[:20]
        return GatewayState(
            gateway=self.name,
            gateway_id=gateway_id,
            status=GatewayStatus.FAILED if code else GatewayStatus.SUCCEEDED,
            amount_minor=amount,
            amount_received_minor=0 if code else amount,
            currency=currency.upper(),
            charge_id=None if code else f"ch_{gateway_id}",
            failure_code=code,
            gateway_status="requires_payment_method" if code else "succeeded",
        )


@dataclass
class Subscribers:
    admin: User
    hospital_admin: User
    hospital_id: uuid.UUID
    monthly: uuid.UUID
    premium: uuid.UUID
    basic: uuid.UUID

    def caller(self, user: User) -> Caller:
        return Caller(user_id=user.id, role=Role(user.user_type))


async def add_plan(
    sessionmaker: async_sessionmaker[AsyncSession],
    name: str,
    monthly: str | None,
    yearly: str | None,
    *,
    target: str = "hospital",
    **fields: Any,
) -> uuid.UUID:
    async with sessionmaker() as db, db.begin():
        plan = SubscriptionPlan(
            id=uuid.uuid4(),
            name=name,
            target_user=target,
            price_monthly=Decimal(monthly) if monthly else None,
            price_yearly=Decimal(yearly) if yearly else None,
            currency="USD",
            **fields,
        )
        db.add(plan)
    return plan.id


async def make_subscribers(
    sessionmaker: async_sessionmaker[AsyncSession], timezone: str = "UTC"
) -> Subscribers:
    admin = await create_user(sessionmaker, Role.ADMIN)
    hospital_admin = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    async with sessionmaker() as db, db.begin():
        (await db.get(User, hospital_admin.id)).timezone = timezone  # type: ignore[union-attr]
        hospital = Hospital(
            id=uuid.uuid4(), name="Apollo Chennai", country="India", admin_user_id=hospital_admin.id
        )
        db.add(hospital)
    return Subscribers(
        admin=admin,
        hospital_admin=hospital_admin,
        hospital_id=hospital.id,
        monthly=await add_plan(
            sessionmaker,
            "Standard",
            "100.00",
            "1000.00",
            max_doctors=5,
            max_appointments_per_month=100,
        ),
        premium=await add_plan(
            sessionmaker,
            "Premium",
            "310.00",
            "3000.00",
            max_doctors=50,
            max_appointments_per_month=1000,
        ),
        basic=await add_plan(
            sessionmaker, "Basic", "40.00", "400.00", max_doctors=2, max_appointments_per_month=20
        ),
    )


async def subscribe(
    client: Client,
    task_queue: str,
    who: Subscribers,
    gateway: FakeGateway | None,
    *,
    timers: SubscriptionTimers,
    plan_id: uuid.UUID | None = None,
    cycle: BillingCycle = BillingCycle.MONTHLY,
    pay: bool = True,
    gateway_name: GatewayName = GatewayName.STRIPE,
) -> tuple[SubscriptionView, WorkflowHandle[Any, Any]]:
    """Open a subscription and its first payment as POST /subscriptions does; pay it (the
    customer confirms the intent, the gateway's webhook arrives) unless `pay` is False."""
    subscription_id = uuid.uuid4()
    view = await open_subscription(
        client,
        task_queue,
        SubscriptionInput(
            subscription=NewSubscription(
                subscription_id=subscription_id,
                plan_id=plan_id or who.monthly,
                hospital_id=who.hospital_id,
                billing_cycle=cycle,
                gateway=gateway_name,
                created_by_user_id=who.hospital_admin.id,
                created_by_role=Role.HOSPITAL_ADMIN.value,
            ),
            timers=timers,
        ),
    )
    assert view.first_payment_id is not None and view.currency is not None
    checkout = await open_payment(
        client,
        task_queue,
        PaymentInput(
            payment=NewPayment(
                payment_id=view.first_payment_id,
                subscription_id=subscription_id,
                currency=view.currency,
                payment_method="card",
                gateway=gateway_name,
                created_by_user_id=who.hospital_admin.id,
                created_by_role=Role.HOSPITAL_ADMIN.value,
            ),
            timers=PaymentTimers(reconcile_minutes=10, window_hours=24, refund_days=0),
        ),
    )
    if pay:
        assert checkout.gateway_id is not None and gateway is not None
        gateway.pay(checkout.gateway_id)
        await client.get_workflow_handle(payment_workflow_id(view.first_payment_id)).signal(
            PaymentWorkflow.gateway_event,
            GatewayEventSignal(
                event_id=f"evt_{uuid.uuid4().hex}",
                event_type="payment_intent.succeeded",
                outcome=Outcome.SUCCEEDED,
            ),
        )
    handle = client.get_workflow_handle(
        subscription_workflow_id(subscription_id), result_type=SubscriptionView
    )
    return view, handle


async def current(handle: WorkflowHandle[Any, Any]) -> SubscriptionView:
    """The live view (the run that holds it now, after any continue-as-new)."""
    view: SubscriptionView = await handle.query(SubscriptionWorkflow.view)
    return view


Probe = Callable[[SubscriptionView], bool]


def stripe_card(api_base: str, api_key: str, number: str) -> str:
    """A card at the gateway as Stripe.js makes it (blocking: run it in a thread)."""
    import stripe

    client = stripe.StripeClient(api_key, base_addresses={"api": api_base})
    method = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"},
        }
    )
    return str(method.id)


def stripe_customer_pays(api_base: str, api_key: str, intent_id: str, method: str) -> None:
    """What Stripe.js does in the browser: the card on the intent, then confirm."""
    import stripe

    client = stripe.StripeClient(api_key, base_addresses={"api": api_base})
    client.v1.payment_intents.update(intent_id, params={"payment_method": method})
    client.v1.payment_intents.confirm(intent_id)


VISA = "4242424242424242"
# Attaches fine; every charge of it is declined (Stripe's documented test card).
DECLINES_CHARGES = "4000000000000341"
