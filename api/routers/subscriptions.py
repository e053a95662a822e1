"""/subscriptions: a hospital's or a doctor's plan, run by its SubscriptionWorkflow.

POST opens the subscription (update-with-start) and then its first payment through the
PaymentWorkflow, answering with the stored terms and the checkout. Reads come from Postgres: a
hospital admin sees their hospital's, a doctor their own, staff all. DELETE cancels at the
period's end (staff: `?now=true` ends it now with the days left refunded); PATCH undoes that,
changes the plan or cycle, or replaces the card. Both are updates of the workflow."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, status
from sqlalchemy import ColumnElement, false, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.payments import NewPayment
from activities.subscriptions import NewSubscription
from api import policies
from api.deps import CurrentUser, DbSession, Gateways, Paging, SettingsDep, Temporal
from api.envelope import ERROR_RESPONSES, Envelope, Page, ok, page
from api.routers.payments import timers as payment_timers
from api.schemas.payments import CheckoutOut
from api.schemas.subscriptions import (
    PlanOut,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionDetail,
    SubscriptionFilters,
    SubscriptionOut,
    SubscriptionUpdate,
    TimelineEntry,
)
from api.services import lifecycle
from api.services import payments as payment_service
from domain.access import STAFF, Role
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.models.catalog import Doctor, Hospital
from domain.models.payments import Payment
from domain.models.subscriptions import (
    Subscription,
    SubscriptionPlan,
    SubscriptionStatusHistory,
)
from domain.models.users import User
from domain.payment import PaymentGateway as GatewayName
from runtime.settings import Settings
from workflows._kit import Caller
from workflows.messages import subscription_workflow_id
from workflows.payment import PaymentInput, open_payment
from workflows.subscription import (
    CancelCommand,
    ChangeCommand,
    SubscriptionInput,
    SubscriptionTimers,
    SubscriptionWorkflow,
    open_subscription,
)

TAG = {"name": "Subscriptions", "description": "Plans hospitals and doctors hold, renewals"}
router = APIRouter(prefix="/subscriptions", tags=["Subscriptions"], responses=ERROR_RESPONSES)

IDEMPOTENCY_NAMESPACE = uuid.UUID("9a3f7c2e-4b61-4d0a-8e2f-5c1b7d9e3a40")
SubscriptionId = Annotated[uuid.UUID, Path(alias="id", description="The subscription's id")]
NOT_FOUND = "SUBSCRIPTION_NOT_FOUND"


def timers(settings: Settings) -> SubscriptionTimers:
    return SubscriptionTimers(
        payment_window_hours=settings.subscription_payment_window_hours,
        reminder_days=settings.subscription_reminder_days,
        retry_days=settings.subscription_retry_days,
        grace_days=settings.subscription_grace_days,
    )


def scope(user: User) -> ColumnElement[bool]:
    """The subscriptions this person may see: staff all, a hospital admin their hospitals',
    a doctor their own."""
    if user.user_type in STAFF:
        return Subscription.id.is_not(None)
    if user.user_type == Role.HOSPITAL_ADMIN:
        return Subscription.hospital_id.in_(policies.managed_hospital_ids(user))
    if user.user_type == Role.DOCTOR and user.is_approved:
        return Subscription.doctor_id.in_(select(Doctor.id).where(Doctor.user_id == user.id))
    return false()


async def visible_subscription(
    subscription_id: SubscriptionId, db: DbSession, user: CurrentUser
) -> Subscription:
    """The subscription, if this person may see it (404 otherwise, before any body is read)."""
    row = await db.scalar(
        select(Subscription).where(Subscription.id == subscription_id, scope(user))
    )
    if row is None:
        raise NotFound("Subscription not found", code=NOT_FOUND)
    return row


Visible = Annotated[Subscription, Depends(visible_subscription)]


def _out(row: Subscription) -> dict[str, Any]:
    return SubscriptionOut.model_validate(row).model_dump(mode="python")


async def _holder(db: AsyncSession, user: User, body: SubscriptionCreate) -> NewSubscription:
    """Who holds it: a hospital admin's hospital, a doctor themselves, anyone for an admin."""
    hospital_id, doctor_id = body.hospital_id, body.doctor_id
    if user.user_type == Role.ADMIN:
        if hospital_id is None and doctor_id is None:
            raise Invalid("Name the hospital or the doctor.", code="HOLDER_REQUIRED")
    elif user.user_type == Role.HOSPITAL_ADMIN:
        managed = list(await db.scalars(policies.managed_hospital_ids(user)))
        if doctor_id is not None or not managed:
            raise Forbidden("A hospital admin subscribes their hospital.", code="NOT_SUBSCRIBER")
        if hospital_id is None and len(managed) == 1:
            hospital_id = managed[0]
        if hospital_id not in managed:
            raise Forbidden("A hospital admin subscribes their hospital.", code="NOT_SUBSCRIBER")
    elif user.user_type == Role.DOCTOR and user.is_approved:
        own = await db.scalar(select(Doctor.id).where(Doctor.user_id == user.id))
        if hospital_id is not None or own is None or doctor_id not in (None, own):
            raise Forbidden("A doctor subscribes themselves.", code="NOT_SUBSCRIBER")
        doctor_id = own
    else:
        raise Forbidden("Your role may not subscribe", code="ROLE_NOT_ALLOWED")
    if hospital_id is not None and await db.get(Hospital, hospital_id) is None:
        raise NotFound("The hospital does not exist.", code="HOLDER_NOT_FOUND")
    return NewSubscription(
        subscription_id=uuid.uuid4(),
        plan_id=body.plan_id,
        hospital_id=hospital_id,
        doctor_id=doctor_id,
        billing_cycle=body.billing_cycle,
        gateway=GatewayName(body.payment_gateway),
        created_by_user_id=user.id,
        created_by_role=user.user_type,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[SubscriptionCreated],
    summary="Subscribe (the first payment's checkout comes back)",
)
async def create_subscription(
    body: SubscriptionCreate,
    db: DbSession,
    user: CurrentUser,
    temporal: Temporal,
    settings: SettingsDep,
    gateways: Gateways,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
    ] = None,
) -> Envelope[dict[str, Any]]:
    new = await _holder(db, user, body)
    if new.gateway not in gateways:
        raise Invalid(f"{new.gateway.value} is not available", code="GATEWAY_NOT_CONFIGURED")
    user_id, role = user.id, user.user_type
    if idempotency_key:
        new.subscription_id = uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{user_id}:{idempotency_key}")
    # Nothing is written here (the workflows write the rows): free the connection meanwhile.
    await db.rollback()
    try:
        view = await open_subscription(
            temporal,
            settings.task_queue,
            SubscriptionInput(subscription=new, timers=timers(settings)),
        )
        assert view.first_payment_id is not None and view.currency is not None
        checkout = await open_payment(
            temporal,
            settings.task_queue,
            PaymentInput(
                payment=NewPayment(
                    payment_id=view.first_payment_id,
                    subscription_id=new.subscription_id,
                    currency=view.currency,
                    payment_method="card",
                    gateway=new.gateway,
                    created_by_user_id=user_id,
                    created_by_role=role,
                ),
                # Closed once paid: its refunds (a cancellation now) are the subscription's,
                # so the subscription's workflow stays the one writer of its charges.
                timers=payment_timers(settings).model_copy(update={"refund_days": 0}),
            ),
        )
    except WorkflowAlreadyStartedError:
        raise Conflict(
            "This Idempotency-Key belongs to a subscription already paid or closed",
            code="IDEMPOTENCY_KEY_USED",
            details={"subscription_id": str(new.subscription_id)},
        ) from None
    row = await db.get(Subscription, new.subscription_id, populate_existing=True)
    assert row is not None
    return ok(
        {
            "subscription": _out(row),
            "checkout": CheckoutOut.model_validate(checkout.model_dump()).model_dump(),
        },
        "Subscription created: pay the first period to start it",
    )


@router.get("", response_model=Page[SubscriptionOut], summary="List subscriptions")
async def list_subscriptions(
    db: DbSession,
    user: CurrentUser,
    paging: Paging,
    filters: Annotated[SubscriptionFilters, Depends()],
) -> Page[dict[str, Any]]:
    stmt = select(Subscription).where(scope(user))
    for name in ("status", "plan_id", "hospital_id", "doctor_id"):
        value = getattr(filters, name)
        if value is not None:
            stmt = stmt.where(getattr(Subscription, name) == value)
    total = await payment_service.count(db, stmt)
    rows = await db.scalars(
        stmt.order_by(Subscription.created_at.desc(), Subscription.id)
        .offset(paging.offset)
        .limit(paging.limit)
    )
    return page([_out(r) for r in rows], page=paging.page, limit=paging.limit, total=total)


@router.get(
    "/{id}",
    response_model=Envelope[SubscriptionDetail],
    summary="One subscription: plan, period, next charge, pending change, dunning",
)
async def get_subscription(row: Visible, db: DbSession) -> Envelope[dict[str, Any]]:
    plan = await db.get(SubscriptionPlan, row.plan_id)
    assert plan is not None
    return ok({**_out(row), "plan": PlanOut.model_validate(plan).model_dump(mode="python")})


@router.get(
    "/{id}/timeline",
    response_model=Envelope[list[TimelineEntry]],
    summary="Its moves, charges (renewals, retries, upgrades) and the retries still planned",
)
async def subscription_timeline(row: Visible, db: DbSession) -> Envelope[list[dict[str, Any]]]:
    entries: list[TimelineEntry] = []
    for moved in await db.scalars(
        select(SubscriptionStatusHistory)
        .where(SubscriptionStatusHistory.subscription_id == row.id)
        .order_by(SubscriptionStatusHistory.seq)
    ):
        entries.append(
            TimelineEntry(
                at=moved.created_at, kind="status", status=moved.to_status, notes=moved.notes
            )
        )
    for charge in await db.scalars(
        select(Payment).where(Payment.subscription_id == row.id).order_by(Payment.created_at)
    ):
        meta = charge.metadata_ or {}
        entries.append(
            TimelineEntry(
                at=charge.payment_date or charge.created_at,
                kind="charge",
                status=charge.status,
                notes=charge.failure_reason or meta.get("kind"),
                amount=charge.amount,
                currency=charge.currency,
                payment_id=charge.id,
                period=meta.get("subscription_period"),
            )
        )
    dunning = row.dunning or {}
    for text in dunning.get("retries", []):
        planned = datetime.fromisoformat(text)
        if row.next_charge_at is not None and planned >= row.next_charge_at:
            entries.append(
                TimelineEntry(
                    at=planned,
                    kind="planned_retry",
                    amount=row.next_charge_amount,
                    currency=row.currency,
                )
            )
    entries.sort(key=lambda e: e.at)
    return ok([e.model_dump(mode="python") for e in entries])


def _caller(user: User) -> Caller:
    return Caller(user_id=user.id, role=Role(user.user_type))


CLOSED = Conflict(
    "This subscription has ended and takes no more changes", code="SUBSCRIPTION_CLOSED"
)


@router.delete(
    "/{id}",
    response_model=Envelope[SubscriptionOut],
    summary="Cancel at the period's end (staff: now=true ends it now, the days left refunded)",
)
async def cancel_subscription(
    row: Visible,
    db: DbSession,
    user: CurrentUser,
    temporal: Temporal,
    now: Annotated[bool, Query(description="End it now with a prorated refund (staff)")] = False,
) -> Envelope[dict[str, Any]]:
    if now and user.user_type not in STAFF:
        raise Forbidden("Only staff end a subscription now.", code="ROLE_NOT_ALLOWED")
    caller, subscription_id = _caller(user), row.id
    await db.rollback()
    await lifecycle.command(
        temporal,
        subscription_workflow_id(subscription_id),
        SubscriptionWorkflow.cancel,
        CancelCommand(caller=caller, at_period_end=not now),
        closed=CLOSED,
    )
    stored = await db.get(Subscription, subscription_id, populate_existing=True)
    assert stored is not None
    return ok(_out(stored), "Subscription cancelled")


@router.patch(
    "/{id}",
    response_model=Envelope[SubscriptionOut],
    summary="Renew again, change plan or cycle, or replace the payment method",
)
async def change_subscription(
    row: Visible, body: SubscriptionUpdate, db: DbSession, user: CurrentUser, temporal: Temporal
) -> Envelope[dict[str, Any]]:
    caller, subscription_id = _caller(user), row.id
    await db.rollback()
    await lifecycle.command(
        temporal,
        subscription_workflow_id(subscription_id),
        SubscriptionWorkflow.change,
        ChangeCommand(
            caller=caller,
            auto_renew=body.auto_renew,
            plan_id=body.plan_id,
            billing_cycle=body.billing_cycle,
            payment_method_id=body.payment_method_id,
        ),
        closed=CLOSED,
    )
    stored = await db.get(Subscription, subscription_id, populate_existing=True)
    assert stored is not None
    return ok(_out(stored), "Subscription changed")
