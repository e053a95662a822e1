"""DeliverNotification: one message to one user on several channels, each delivered at most once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
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
    from domain.models.notifications import Channel

if TYPE_CHECKING:
    from temporalio.client import Client

# Providers get a long, patient retry (an outage heals); bad data fails fast as non-retryable.
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=10,
)
SEND_TIMEOUT = timedelta(seconds=60)
# Reading the user and writing rows take milliseconds: local activities, in this worker.
DB_TIMEOUT = timedelta(seconds=10)
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)


class NotificationRequest(BaseModel):
    # Names the message (e.g. "verify_email:<verification id>"); part of the workflow ID, so it
    # must carry ids only, never an address or a token.
    dedupe_key: str = Field(min_length=1, max_length=200)
    user_id: UUID
    template: str
    channels: list[Channel] = Field(
        default_factory=lambda: [Channel.EMAIL, Channel.IN_APP], min_length=1
    )
    locale: str | None = None
    # Template variables. May hold a token: it travels in the payload (through the data
    # converter, where an encryption codec can sit), never in IDs or search attributes.
    context: dict[str, str] = Field(default_factory=dict)
    type: str | None = None
    reference_type: str | None = None
    reference_id: UUID | None = None
    # Files for the e-mail, by storage key (never their bytes: histories stay small and free of
    # documents). SMS, WhatsApp and in-app ignore them.
    attachments: list[AttachmentRef] = Field(default_factory=list)


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


def workflow_id(dedupe_key: str) -> str:
    return f"notification-{dedupe_key}"


@workflow.defn(name="DeliverNotification")
class DeliverNotification:
    @workflow.run
    async def run(self, request: NotificationRequest) -> NotificationResult:
        recipient = await workflow.execute_local_activity_method(
            NotificationActivities.load_recipient,
            RecipientQuery(user_id=request.user_id, locale=request.locale),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
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
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
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
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
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
            start_to_close_timeout=SEND_TIMEOUT,
            retry_policy=SEND_RETRY,
        )


WORKFLOWS: list[type] = [DeliverNotification]
# AttachmentRef and the activities DeliverNotification runs (for the worker) are re-exported
# from activities.notify.
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
            id=workflow_id(request.dedupe_key),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return
