"""The worker a SubscriptionWorkflow test runs: the subscription, its first payment, the invoice
delivery (the PDF rendered into a local folder and mailed attached) and the notifications, every
message landing in the outbox. The gateways are the test's (in-memory or localstripe)."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.documents import build_document_activities, document_activity_list
from activities.notify import NotificationActivities, notification_activity_list
from activities.payments import PaymentActivities, payment_activity_list
from activities.providers.gateways import PaymentGateway
from activities.providers.outbox import OutboxEmail, OutboxMessages
from activities.providers.wiring import build_storage
from activities.subscriptions import SubscriptionActivities, subscription_activity_list
from domain.models.notifications import Channel
from domain.payment import PaymentGateway as GatewayName
from runtime.settings import Settings
from tests.fixtures.workers import new_worker
from workflows.invoice import WORKFLOWS as INVOICE_WORKFLOWS
from workflows.notification import WORKFLOWS as NOTIFICATION_WORKFLOWS
from workflows.payment import PaymentWorkflow
from workflows.subscription import SubscriptionWorkflow


def subscription_worker(
    env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    gateways: Mapping[GatewayName, PaymentGateway],
    settings: Settings,
) -> Worker:
    """Use as `async with subscription_worker(...)`; settings.storage_dir holds the PDFs."""
    storage = build_storage(settings)
    notifications = NotificationActivities(
        sessionmaker,
        OutboxEmail(sessionmaker),
        OutboxMessages(sessionmaker, Channel.SMS),
        OutboxMessages(sessionmaker, Channel.WHATSAPP),
        storage=storage,
    )
    return new_worker(
        env,
        task_queue,
        SubscriptionWorkflow,
        PaymentWorkflow,
        *INVOICE_WORKFLOWS,
        *NOTIFICATION_WORKFLOWS,
        activities=[
            *subscription_activity_list(SubscriptionActivities(sessionmaker, gateways, settings)),
            *payment_activity_list(PaymentActivities(sessionmaker, gateways, settings)),
            *document_activity_list(build_document_activities(settings, sessionmaker, storage)),
            *notification_activity_list(notifications),
        ],
        # The invoice PDF renders in a thread (a synchronous activity).
        activity_executor=ThreadPoolExecutor(max_workers=2),
    )
