"""Gateway webhooks: /webhooks/stripe, /webhooks/razorpay and the plan's /payments/webhook (Stripe).

Each reads the raw body, verifies its signature (400 and nothing stored when it fails), stores
the event once in webhook_events (a redelivery answers 200 and is ignored), and signals the
payment's workflow. The event is a hint: the workflow reads the gateway back before settling.
A payment whose workflow is gone still gets its event stored and a 200, so the gateway stops
retrying."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.providers.twilio_receipts import PROVIDER as TWILIO
from activities.providers.twilio_receipts import delivery_report, verify_twilio
from activities.providers.webhooks import (
    GatewayEvent,
    normalize_razorpay_event,
    normalize_stripe_event,
    verify_razorpay,
    verify_stripe,
)
from api.deps import DbSession, SettingsDep, Temporal
from api.envelope import ERROR_RESPONSES, Envelope, ok
from api.services import deliveries
from api.services import payments as service
from domain.models.payments import WebhookEvent
from domain.notification import DeliveryStatus
from runtime.logging import log
from workflows.messages import (
    DeliveryReceiptEvent,
    GatewayEventSignal,
    NotificationSignal,
    notification_workflow_id,
)
from workflows.payment import signal_gateway_event

TAG = {"name": "Webhooks", "description": "Payment gateway webhooks (signed, stored once)"}
router = APIRouter(tags=["Webhooks"], responses=ERROR_RESPONSES)


async def _accept(
    db: AsyncSession, temporal: Client, event: GatewayEvent, payload: dict[str, Any]
) -> Envelope[dict[str, bool]]:
    stored = await db.scalar(
        insert(WebhookEvent)
        .values(
            gateway=event.gateway.value,
            event_id=event.event_id,
            event_type=event.event_type,
            payload=payload,
            signature_verified=True,
        )
        .on_conflict_do_nothing(index_elements=["gateway", "event_id"])
        .returning(WebhookEvent.id)
    )
    if stored is None:
        return ok({"received": True, "duplicate": True}, "Already received")
    payment_id = await service.payment_of_event(db, event)
    delivered = False
    if payment_id is not None:
        try:
            # Inside the request's transaction: if this fails, the event is not stored and the
            # gateway's redelivery gets another chance.
            await signal_gateway_event(
                temporal,
                payment_id,
                GatewayEventSignal(
                    event_id=event.event_id, event_type=event.event_type, outcome=event.outcome
                ),
            )
            delivered = True
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            log.info("webhook_for_closed_payment", payment_id=str(payment_id))
    if delivered:
        await db.execute(
            update(WebhookEvent).where(WebhookEvent.id == stored).values(processed_at=func.now())
        )
    return ok({"received": True, "duplicate": False})


@router.post("/webhooks/stripe", summary="Stripe webhook")
async def stripe_webhook(
    request: Request,
    db: DbSession,
    temporal: Temporal,
    settings: SettingsDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> Envelope[dict[str, bool]]:
    body = await request.body()
    payload = verify_stripe(
        body,
        stripe_signature,
        settings.stripe_webhook_secret.get_secret_value(),
        settings.stripe_webhook_tolerance_seconds,
        time.time(),
    )
    return await _accept(db, temporal, normalize_stripe_event(payload), payload)


@router.post("/payments/webhook", summary="Payment gateway webhook (Stripe)")
async def payments_webhook(
    request: Request,
    db: DbSession,
    temporal: Temporal,
    settings: SettingsDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> Envelope[dict[str, bool]]:
    """The plan's route: Stripe-compatible, the same as /webhooks/stripe."""
    return await stripe_webhook(request, db, temporal, settings, stripe_signature)


@router.post("/webhooks/razorpay", summary="Razorpay webhook")
async def razorpay_webhook(
    request: Request,
    db: DbSession,
    temporal: Temporal,
    settings: SettingsDep,
    razorpay_signature: Annotated[str | None, Header(alias="X-Razorpay-Signature")] = None,
    razorpay_event_id: Annotated[str | None, Header(alias="X-Razorpay-Event-Id")] = None,
) -> Envelope[dict[str, bool]]:
    body = await request.body()
    payload = verify_razorpay(
        body, razorpay_signature, settings.razorpay_webhook_secret.get_secret_value()
    )
    return await _accept(
        db, temporal, normalize_razorpay_event(payload, razorpay_event_id), payload
    )


@router.post("/webhooks/twilio", summary="Twilio message status callback (delivery receipt)")
async def twilio_webhook(
    request: Request,
    db: DbSession,
    temporal: Temporal,
    settings: SettingsDep,
    twilio_signature: Annotated[str | None, Header(alias="X-Twilio-Signature")] = None,
) -> Envelope[dict[str, bool]]:
    """Signed with the account's auth token over the URL Twilio posted to (the configured
    status callback URL; else the URL this request reached) and the form. Records the message's
    delivery state on its notification; a repeat or a late receipt changes nothing."""
    form = await request.form()
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    url = settings.twilio_status_callback_url or str(request.url)
    verify_twilio(url, params, twilio_signature, settings.twilio_auth_token.get_secret_value())
    report = delivery_report(params)
    if report is None:
        return ok({"received": True, "recorded": False})
    applied = await deliveries.apply_receipt(db, TWILIO, report)
    if applied is None:
        log.info("twilio_receipt_for_unknown_message")
        return ok({"received": True, "recorded": False})
    if applied.changed and applied.status.rank >= DeliveryStatus.DELIVERED.rank:
        # The notification may still be waiting for this word (a failure falls back to its
        # next channel); once it is done, the receipt is only recorded.
        try:
            await temporal.get_workflow_handle(notification_workflow_id(applied.dedupe_key)).signal(
                NotificationSignal.DELIVERY_RECEIPT,
                DeliveryReceiptEvent(provider_message_id=report.message_sid, status=applied.status),
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
    return ok({"received": True, "recorded": applied.changed})
