"""/payments: checkout (update-with-start of PaymentWorkflow), reads, live status and refunds.

A booking has at most one open payment: a second POST while one is pending is refused (409
PAYMENT_ALREADY_PENDING); after a failure or expiry a new POST is a new payment. The same
Idempotency-Key from the same caller always means the same payment (and the same checkout)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, status
from sqlalchemy import select, true
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.payments import NewPayment
from activities.providers.gateways import GatewayError
from api.deps import (
    CurrentUser,
    DbSession,
    Gateways,
    IdempotencyKey,
    SettingsDep,
    Temporal,
    require_roles,
)
from api.envelope import ERROR_RESPONSES, Envelope, KeysetPage, ok
from api.paging import (
    ExactTotalMax,
    KeysetPagingDep,
    capped_count,
    keyset_page,
    total_of,
    window_ids,
    window_of,
)
from api.schemas.payments import (
    CheckoutOut,
    PaymentCreate,
    PaymentFilters,
    PaymentOut,
    PaymentStatusOut,
    RefundBody,
)
from api.services import lifecycle
from api.services import payments as service
from domain.access import Role
from domain.errors import Conflict, Invalid, Unavailable
from domain.models.payments import Payment
from domain.models.users import User
from domain.money import from_minor
from domain.payment import PaymentGateway as GatewayName
from runtime.settings import Settings
from workflows.messages import payment_workflow_id
from workflows.payment import (
    Caller,
    PaymentInput,
    PaymentTimers,
    PaymentWorkflow,
    RefundCommand,
    open_payment,
)

TAG = {"name": "Payments", "description": "Checkout, payment status and refunds"}
router = APIRouter(prefix="/payments", tags=["Payments"], responses=ERROR_RESPONSES)

# Idempotency keys are per caller: the same key from two people is two payments.
IDEMPOTENCY_NAMESPACE = uuid.UUID("0d7c5a0e-51c8-4d9e-b3c4-2a7e4a1f9b10")
PaymentId = Annotated[uuid.UUID, Path(alias="id", description="The payment's id")]
Refunder = Annotated[User, Depends(require_roles(Role.ADMIN, Role.COORDINATOR))]


def timers(settings: Settings) -> PaymentTimers:
    return PaymentTimers(
        reconcile_minutes=settings.payment_reconcile_minutes,
        window_hours=settings.payment_window_hours,
        refund_days=settings.payment_refund_days,
    )


def _out(payment: Payment) -> dict[str, Any]:
    return PaymentOut.model_validate(payment).model_dump(mode="python")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[CheckoutOut],
    summary="Create a payment (checkout)",
)
async def create_payment(
    body: PaymentCreate,
    db: DbSession,
    user: CurrentUser,
    temporal: Temporal,
    settings: SettingsDep,
    gateways: Gateways,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
    ] = None,
) -> Envelope[dict[str, Any]]:
    await service.check_payable_by(db, user, body.booking_id, body.appointment_id)
    if GatewayName(body.payment_gateway) not in gateways:
        raise Invalid(f"{body.payment_gateway} is not available", code="GATEWAY_NOT_CONFIGURED")
    payment_id = (
        uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{user.id}:{idempotency_key}")
        if idempotency_key
        else uuid.uuid4()
    )
    user_id, role = user.id, user.user_type
    # Nothing is written here (the workflow writes the row): free the connection meanwhile.
    await db.rollback()
    try:
        checkout = await open_payment(
            temporal,
            settings.task_queue,
            PaymentInput(
                payment=NewPayment(
                    payment_id=payment_id,
                    booking_id=body.booking_id,
                    appointment_id=body.appointment_id,
                    currency=body.currency,
                    payment_method=body.payment_method,
                    gateway=GatewayName(body.payment_gateway),
                    coupon_code=body.coupon_code,
                    client_amount=body.amount,
                    created_by_user_id=user_id,
                    created_by_role=role,
                ),
                timers=timers(settings),
            ),
        )
    except Unavailable as exc:
        # The id the payment will have: a retry with the same Idempotency-Key reaches it.
        exc.details = {**(exc.details or {}), "payment_id": str(payment_id)}
        raise
    except WorkflowAlreadyStartedError:
        existing = await db.get(Payment, payment_id)
        raise Conflict(
            "This Idempotency-Key belongs to a payment that is already settled",
            code="IDEMPOTENCY_KEY_USED",
            details={
                "payment_id": str(payment_id),
                "status": existing.status if existing is not None else None,
            },
        ) from None
    return ok(CheckoutOut.model_validate(checkout.model_dump()).model_dump(), "Payment created")


@router.get(
    "",
    response_model=KeysetPage[PaymentOut],
    summary="List payments",
    description="Newest first. By `page=` or by `after=` (the previous page's `meta.next`: as "
    "fast at any depth). `meta.total` is exact up to MEDIVOY_LIST_EXACT_TOTAL_MAX (10,000) "
    "rows, PostgreSQL's estimate above it, with `meta.total_exact` false.",
)
async def list_payments(
    db: DbSession,
    user: CurrentUser,
    paging: KeysetPagingDep,
    exact_max: ExactTotalMax,
    filters: Annotated[PaymentFilters, Depends()],
) -> KeysetPage[dict[str, Any]]:
    stmt = service.visible_to(user, select(Payment), Payment)
    for name in ("status", "payment_gateway", "patient_id", "booking_id", "appointment_id"):
        value = getattr(filters, name)
        if value is not None:
            stmt = stmt.where(getattr(Payment, name) == value)
    stmt = service.day_range(stmt, Payment.created_at, filters.date_from, filters.date_to)
    where = stmt.whereclause if stmt.whereclause is not None else true()
    page_ids = window_ids(where, Payment.created_at, Payment.id, paging)
    rows = (
        await db.execute(
            select(Payment, capped_count(where, Payment.id, exact_max))
            .join(page_ids, page_ids.c.id == Payment.id)
            .order_by(page_ids.c.key.desc(), page_ids.c.id.desc())
        )
    ).all()
    window = window_of([_out(r[0]) for r in rows], paging, lambda p: (p["created_at"], p["id"]))
    counted = rows[0][1] if rows else None
    total = await total_of(
        db, where, Payment.id, paging, window, exact_max=exact_max, counted=counted
    )
    return keyset_page(paging, window, total)


@router.get("/{id}", response_model=Envelope[PaymentOut], summary="One payment")
async def get_payment(
    payment_id: PaymentId, db: DbSession, user: CurrentUser
) -> Envelope[dict[str, Any]]:
    return ok(_out(await service.payment_for(db, user, payment_id)))


@router.get(
    "/{id}/status", response_model=Envelope[PaymentStatusOut], summary="Check payment status"
)
async def payment_status(
    payment_id: PaymentId, db: DbSession, user: CurrentUser, gateways: Gateways
) -> Envelope[dict[str, Any]]:
    """The stored status and, read live from the gateway, where the attempt stands there. The
    live answer is information only: the workflow alone settles the payment."""
    payment = await service.payment_for(db, user, payment_id)
    result = PaymentStatusOut(payment_id=payment.id, status=payment.status)
    gateway_id = payment.gateway_payment_intent_id or payment.gateway_order_id
    gateway = gateways.get(GatewayName(payment.payment_gateway))
    if gateway_id and gateway is not None:
        try:
            state = await gateway.retrieve(gateway_id)
        except GatewayError:
            pass
        else:
            result.gateway_status = state.gateway_status
            result.gateway_state = state.status.value
            result.amount_received = from_minor(state.amount_received_minor, state.currency)
    return ok(result.model_dump())


async def refundable_payment(payment_id: PaymentId, db: DbSession, user: Refunder) -> uuid.UUID:
    """The path's payment, if the caller refunds and sees it (404 otherwise): before the body."""
    return (await service.payment_for(db, user, payment_id)).id


@router.post("/{id}/refund", response_model=Envelope[PaymentOut], summary="Refund a payment")
async def refund_payment(
    payment_id: Annotated[uuid.UUID, Depends(refundable_payment)],
    body: RefundBody,
    db: DbSession,
    user: Refunder,
    temporal: Temporal,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[dict[str, Any]]:
    """A partial refund asked again is a second refund, unless asked with the same
    Idempotency-Key: then it gets the first answer and nothing is refunded twice."""
    caller = Caller(user_id=user.id, role=Role(user.user_type))
    await db.rollback()
    await lifecycle.command(
        temporal,
        payment_workflow_id(payment_id),
        PaymentWorkflow.refund,
        RefundCommand(caller=caller, amount=body.amount, reason=body.reason),
        closed=Conflict(
            "This payment no longer takes refunds (closed or never opened)",
            code="PAYMENT_NOT_REFUNDABLE",
        ),
        caller_id=caller.user_id,  # read before the rollback expired the caller's row
        idempotency_key=idempotency_key,
    )
    payment = await db.get(Payment, payment_id, populate_existing=True)
    assert payment is not None
    return ok(_out(payment), "Refund recorded")
