"""The Temporal worker: registers every workflow and activity and polls the task queue. The
adapters (gateways, channels, storage) are built once, by the wiring, when the worker is built."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities import plan_limits
from activities.analytics import AnalyticsActivities, analytics_activity_list
from activities.appointments import AppointmentActivities, appointment_activity_list
from activities.backup import BackupActivities, backup_activity_list
from activities.bookings import booking_activity_list, build_booking_activities
from activities.coupons import build_coupon_activities, coupon_activity_list
from activities.documents import build_document_activities, document_activity_list
from activities.maintenance import CleanupActivities, cleanup_activity_list
from activities.notify import build_notification_activities, notification_activity_list
from activities.payments import build_payment_activities, payment_activity_list
from activities.prescriptions import build_prescription_activities, prescription_activity_list
from activities.providers.analytics_sink import MongoAnalyticsSink
from activities.providers.wiring import Adapters, build_adapters
from activities.reminders import ReminderActivities, reminder_activity_list
from activities.subscriptions import SubscriptionActivities, subscription_activity_list
from activities.translate import build_translation_activities, translation_activity_list
from activities.waitlist import WaitlistActivities, waitlist_activity_list
from runtime import metrics
from runtime.db import make_engine, make_sessionmaker
from runtime.logging import configure_logging, log
from runtime.settings import Settings, get_settings
from runtime.telemetry import (
    client_interceptors,
    tracer_provider,
    worker_interceptors,
    worker_runtime,
)
from runtime.temporal import connect
from workflows import ALL_WORKFLOWS
from workflows.schedules import ensure_schedules, schedules_for


def all_activities(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    adapters: Adapters | None = None,
) -> Sequence[Callable[..., Any]]:
    """Every activity, bound to the adapters (built here from settings unless given)."""
    adapters = adapters or build_adapters(settings, sessionmaker)
    notifications = build_notification_activities(settings, sessionmaker, adapters)
    bookings = build_booking_activities(sessionmaker)
    payments = build_payment_activities(settings, sessionmaker, adapters.gateways)
    coupons = build_coupon_activities(sessionmaker)
    documents = build_document_activities(settings, sessionmaker, adapters.storage)
    prescriptions = build_prescription_activities(settings, sessionmaker, adapters.storage)
    appointments = AppointmentActivities(
        sessionmaker,
        adapters.video,
        default_timezone=settings.default_timezone,
        analytics_timezone=settings.analytics_timezone,
        plan_defaults=plan_limits.limits_of(settings.subscription_default_limits),
    )
    translations = build_translation_activities(settings, sessionmaker, adapters.translator)
    waitlist = WaitlistActivities(
        sessionmaker,
        default_timezone=settings.default_timezone,
        offer_minutes=settings.waitlist_hold_minutes,
    )
    mongodb = settings.mongodb_url.get_secret_value()
    analytics = AnalyticsActivities(
        sessionmaker,
        settings,
        MongoAnalyticsSink(mongodb, settings.mongodb_database) if mongodb else None,
    )
    return [
        *notification_activity_list(notifications),
        *booking_activity_list(bookings),
        *payment_activity_list(payments),
        *coupon_activity_list(coupons),
        *document_activity_list(documents),
        *prescription_activity_list(prescriptions),
        *appointment_activity_list(appointments),
        *translation_activity_list(translations),
        *waitlist_activity_list(waitlist),
        *analytics_activity_list(analytics),
        *cleanup_activity_list(CleanupActivities(sessionmaker, adapters.storage, settings)),
        *reminder_activity_list(ReminderActivities(sessionmaker, settings)),
        *backup_activity_list(BackupActivities(settings, adapters.storage)),
        *subscription_activity_list(
            SubscriptionActivities(sessionmaker, adapters.gateways, settings)
        ),
    ]


def workflow_runner_for(settings: Settings) -> WorkflowRunner:
    """The SDK's sandbox re-imports the workflow's modules (pydantic models and all) into a fresh
    sandbox for every workflow run: measured by `make bench` as most of a create's and of each
    notification child's first task, and about 1 MiB per cached run (bench/README.md). With
    MEDIVOY_WORKER_WORKFLOW_SANDBOX off, runs share the modules imported once. The sandbox's
    checks still run on every workflow in the tests (tests/fixtures/workers.py) and on the
    recorded histories (tests/workflows/test_replay.py)."""
    if settings.worker_workflow_sandbox:
        return SandboxedWorkflowRunner()
    return UnsandboxedWorkflowRunner()


def build_worker(
    client: Client,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    task_queue: str | None = None,
    adapters: Adapters | None = None,
    workflow_runner: WorkflowRunner | None = None,
) -> Worker:
    """The production worker. Tests pass a `workflow_runner` that validates each workflow class
    once per process instead of once per worker (tests/fixtures/workers.py)."""
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=ALL_WORKFLOWS,
        activities=all_activities(settings, sessionmaker, adapters),
        # Synchronous activities (PDF rendering) run here, never on the event loop.
        activity_executor=ThreadPoolExecutor(max_workers=8),
        workflow_runner=workflow_runner or workflow_runner_for(settings),
        max_cached_workflows=settings.worker_max_cached_workflows,
        interceptors=worker_interceptors(),
    )


async def run_worker(settings: Settings | None = None) -> None:
    """Run until cancelled (SIGINT/SIGTERM from the CLI)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    if not settings.database_url or not settings.temporal_address:
        raise RuntimeError("MEDIVOY_DATABASE_URL and MEDIVOY_TEMPORAL_ADDRESS must be set")
    engine = make_engine(
        settings.database_url, connect_timeout=settings.database_connect_timeout_seconds
    )
    traces = tracer_provider(settings, "medivoy-worker")
    client = await connect(
        settings, interceptors=client_interceptors(traces), runtime=worker_runtime(settings)
    )
    if settings.worker_metrics_port:
        metrics.serve(settings.metrics_host, settings.worker_metrics_port)
    await ensure_schedules(client, settings.task_queue, schedules_for(settings))
    worker = build_worker(client, settings, make_sessionmaker(engine))
    log.info("worker_started", task_queue=settings.task_queue)
    try:
        await worker.run()
    finally:
        await engine.dispose()
        if traces is not None:
            traces.shutdown()


if __name__ == "__main__":
    asyncio.run(run_worker())
