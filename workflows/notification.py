"""DeliverNotification: one message to one user on several channels, each delivered at most once."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.notify import (
        AttachmentRef,
        Delivery,
        DeliveryReceipt,
        InAppDelivery,
        NotificationActivities,
        NotificationRecord,
        PushDelivery,
        Recipient,
        RecipientQuery,
        notification_activity_list,
    )
    from domain.notification import Channel, DeliveryStatus
    from workflows._kit import DB_ACTIVITY, NOTIFY_ACTIVITY, notification_summary, show
    from workflows.messages import (
        NOTIFICATION_WORKFLOW,
        DeliveryReceiptEvent,
        NotificationRequest,
        NotificationSignal,
        notification_workflow_id,
    )

if TYPE_CHECKING:
    from temporalio.client import Client

# Patch ids (workflow.patched): behaviour added after histories were recorded.
# Push (FCM) joins the channels of an in-app message when the worker has push configured and the
# user a registered device.
PUSH_CHANNEL = "notification-push"


class ChannelOutcome(BaseModel):
    channel: Channel
    status: Literal["sent", "failed"]
    provider: str | None = None
    provider_message_id: str | None = None
    error: str | None = None
    error_type: str | None = None
    # What the provider's receipt said, when one came within the wait.
    delivery_status: DeliveryStatus | None = None
    receipt_wait_seconds: float = 0.0


class NotificationResult(BaseModel):
    dedupe_key: str
    channels: dict[Channel, ChannelOutcome]


workflow_id = notification_workflow_id


@workflow.defn(name=NOTIFICATION_WORKFLOW)
class DeliverNotification:
    def __init__(self) -> None:
        # The final receipts received, by the provider's message id (they may come before the
        # send's own result is seen here).
        self._receipts: dict[str, DeliveryStatus] = {}

    @workflow.signal(name=NotificationSignal.DELIVERY_RECEIPT)
    def delivery_receipt(self, event: DeliveryReceiptEvent) -> None:
        self._receipts[event.provider_message_id] = event.status

    @workflow.run
    async def run(self, request: NotificationRequest) -> NotificationResult:
        headline = notification_summary(request)
        show(headline, "preparing")
        recipient = await workflow.execute_local_activity_method(
            NotificationActivities.load_recipient,
            RecipientQuery(
                user_id=request.user_id,
                locale=request.locale,
                to_pending_email=request.to_pending_email,
            ),
            **DB_ACTIVITY,
            summary="load the recipient",
        )
        if request.to_email is not None:
            # (Set only by requests made since the field exists: no recorded run reaches here.)
            recipient = dataclasses.replace(recipient, email=request.to_email)
        context = {"first_name": recipient.first_name, **request.context}
        channels = list(dict.fromkeys(request.channels))
        if (
            recipient.has_push_device
            and Channel.IN_APP in channels
            and Channel.PUSH not in channels
            and not request.to_pending_email
            and workflow.patched(PUSH_CHANNEL)
        ):
            # The device alert of an in-app message (never of a message to a pending address).
            channels.append(Channel.PUSH)
        await workflow.execute_local_activity_method(
            NotificationActivities.record_notification,
            NotificationRecord(
                dedupe_key=request.dedupe_key,
                user_id=request.user_id,
                template=request.template,
                locale=recipient.locale,
                channels=channels,
                context=context,
                type=request.type,
                reference_type=request.reference_type,
                reference_id=request.reference_id,
            ),
            **DB_ACTIVITY,
            summary="record the notification",
        )
        show(headline, "sending", "delivery by " + ", ".join(c.value for c in channels))
        if workflow.patched("notification-fallback"):
            outcomes = await self._deliver_with_fallback(channels, request, recipient, context)
        else:
            # Channels run side by side; one failing for good leaves the others alone.
            outcomes = await asyncio.gather(
                *(self._deliver(channel, request, recipient, context) for channel in channels)
            )
        show(headline, ", ".join(f"{o.channel.value} {o.status}" for o in outcomes))
        return NotificationResult(
            dedupe_key=request.dedupe_key,
            channels={outcome.channel: outcome for outcome in outcomes},
        )

    async def _deliver_with_fallback(
        self,
        channels: list[Channel],
        request: NotificationRequest,
        recipient: Recipient,
        context: dict[str, str],
    ) -> list[ChannelOutcome]:
        """Channels side by side; a message whose channel sends receipts is waited for (a
        bounded time); each failure takes the next fallback channel, in order, once."""
        spare = [c for c in dict.fromkeys(request.fallback) if c not in channels]
        outcomes: list[ChannelOutcome] = []

        async def run(channel: Channel) -> None:
            outcome = await self._deliver(channel, request, recipient, context)
            if outcome.status == "sent" and outcome.provider_message_id:
                outcome = await self._await_receipt(outcome)
            outcomes.append(outcome)
            # Push only accompanies the other channels: its failure takes no fallback.
            if outcome.status == "failed" and spare and channel != Channel.PUSH:
                following = spare.pop(0)
                await workflow.execute_local_activity_method(
                    NotificationActivities.record_notification,
                    NotificationRecord(
                        dedupe_key=request.dedupe_key,
                        user_id=request.user_id,
                        template=request.template,
                        locale=recipient.locale,
                        channels=[following],
                        context=context,
                        type=request.type,
                        reference_type=request.reference_type,
                        reference_id=request.reference_id,
                    ),
                    **DB_ACTIVITY,
                    summary="record the notification",
                )
                await run(following)

        await asyncio.gather(*(run(channel) for channel in channels))
        return outcomes

    async def _await_receipt(self, outcome: ChannelOutcome) -> ChannelOutcome:
        message_id = outcome.provider_message_id
        if not message_id or outcome.receipt_wait_seconds <= 0:
            return outcome
        try:
            await workflow.wait_condition(
                lambda: message_id in self._receipts,
                timeout=timedelta(seconds=outcome.receipt_wait_seconds),
                timeout_summary=f"{outcome.channel.value} delivery receipt",
            )
        except TimeoutError:
            # No word within the wait: taken as sent; a later receipt is still recorded.
            return outcome
        status = self._receipts[message_id]
        if status.failed:
            return outcome.model_copy(
                update={
                    "status": "failed",
                    "delivery_status": status,
                    "error": f"{outcome.provider} receipt: {status.value}",
                    "error_type": "DELIVERY_RECEIPT_FAILED",
                }
            )
        return outcome.model_copy(update={"delivery_status": status})

    async def _deliver(
        self,
        channel: Channel,
        request: NotificationRequest,
        recipient: Recipient,
        context: dict[str, str],
    ) -> ChannelOutcome:
        try:
            receipt = await self._send(channel, request, recipient, context)
        except ActivityError as err:
            cause = err.cause
            failure = cause if isinstance(cause, ApplicationError) else None
            return ChannelOutcome(
                channel=channel,
                status="failed",
                error=failure.message if failure else str(cause or err),
                error_type=failure.type if failure else None,
            )
        return ChannelOutcome(
            channel=channel,
            status="sent",
            provider=receipt.provider,
            provider_message_id=receipt.provider_message_id,
            # An earlier run's message: its receipt may be long gone, so it is not awaited.
            receipt_wait_seconds=0.0 if receipt.already_sent else receipt.receipt_wait_seconds,
        )

    async def _send(
        self,
        channel: Channel,
        request: NotificationRequest,
        recipient: Recipient,
        context: dict[str, str],
    ) -> DeliveryReceipt:
        if channel == Channel.IN_APP:
            return await workflow.execute_local_activity_method(
                NotificationActivities.deliver_in_app,
                InAppDelivery(dedupe_key=request.dedupe_key),
                **DB_ACTIVITY,
                summary="deliver in app",
            )
        if channel == Channel.PUSH:
            return await workflow.execute_activity_method(
                NotificationActivities.send_push,
                PushDelivery(
                    dedupe_key=request.dedupe_key,
                    user_id=request.user_id,
                    template=request.template,
                    locale=recipient.locale,
                    context=context,
                    type=request.type,
                    reference_type=request.reference_type,
                    reference_id=request.reference_id,
                ),
                **NOTIFY_ACTIVITY,
                summary="push to the user's devices",
            )
        senders = {
            Channel.EMAIL: (NotificationActivities.send_email, recipient.email),
            Channel.SMS: (NotificationActivities.send_sms, recipient.phone),
            Channel.WHATSAPP: (NotificationActivities.send_whatsapp, recipient.phone),
        }
        activity_method, address = senders[channel]
        return await workflow.execute_activity_method(
            activity_method,
            Delivery(
                dedupe_key=request.dedupe_key,
                template=request.template,
                locale=recipient.locale,
                to=address,
                context=context,
                attachments=request.attachments if channel == Channel.EMAIL else [],
            ),
            **NOTIFY_ACTIVITY,
            summary=f"send {request.template} by {channel.value}",
        )


WORKFLOWS: list[type] = [DeliverNotification]
# NotificationRequest (from workflows.messages), AttachmentRef and the activities
# DeliverNotification runs (for the worker) are re-exported.
__all__ = [
    "PUSH_CHANNEL",
    "WORKFLOWS",
    "AttachmentRef",
    "ChannelOutcome",
    "DeliverNotification",
    "NotificationRequest",
    "NotificationResult",
    "notification_activity_list",
    "notify",
    "workflow_id",
]


async def notify(client: Client, task_queue: str, request: NotificationRequest) -> None:
    """Start delivering a notification; a repeated dedupe key is a success that sends nothing.

    REJECT_DUPLICATE keeps a finished notification from running again under the same key.
    """
    try:
        await client.start_workflow(
            DeliverNotification.run,
            request,
            id=notification_workflow_id(request.dedupe_key),
            static_summary=notification_summary(request),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return
