"""DeliverNotification: one message to one user on several channels, each delivered at most once."""

from __future__ import annotations

import asyncio
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
        Recipient,
        RecipientQuery,
        notification_activity_list,
    )
    from domain.notification import Channel
    from workflows._kit import DB_ACTIVITY, NOTIFY_ACTIVITY
    from workflows.messages import (
        NOTIFICATION_WORKFLOW,
        NotificationRequest,
        notification_workflow_id,
    )

if TYPE_CHECKING:
    from temporalio.client import Client


class ChannelOutcome(BaseModel):
    channel: Channel
    status: Literal["sent", "failed"]
    provider: str | None = None
    provider_message_id: str | None = None
    error: str | None = None
    error_type: str | None = None


class NotificationResult(BaseModel):
    dedupe_key: str
    channels: dict[Channel, ChannelOutcome]


workflow_id = notification_workflow_id


@workflow.defn(name=NOTIFICATION_WORKFLOW)
class DeliverNotification:
    @workflow.run
    async def run(self, request: NotificationRequest) -> NotificationResult:
        recipient = await workflow.execute_local_activity_method(
            NotificationActivities.load_recipient,
            RecipientQuery(user_id=request.user_id, locale=request.locale),
            **DB_ACTIVITY,
        )
        context = {"first_name": recipient.first_name, **request.context}
        channels = list(dict.fromkeys(request.channels))
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
        )
        # Channels run side by side; one failing for good leaves the others alone.
        outcomes = await asyncio.gather(
            *(self._deliver(channel, request, recipient, context) for channel in channels)
        )
        return NotificationResult(
            dedupe_key=request.dedupe_key,
            channels={outcome.channel: outcome for outcome in outcomes},
        )

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
        )


WORKFLOWS: list[type] = [DeliverNotification]
# NotificationRequest (from workflows.messages), AttachmentRef and the activities
# DeliverNotification runs (for the worker) are re-exported.
__all__ = [
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
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return
