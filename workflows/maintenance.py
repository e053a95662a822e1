"""The platform's scheduled chores: DatabaseBackupWorkflow (pg_dump into the storage backend),
PlatformCleanupWorkflow (tokens, unattached uploads, old outbox messages; its result says what it
removed) and PaymentReminderWorkflow (a reminder per debt and step, each once for good: its
notification's dedupe key names the debt and the step). Each is started by its Schedule
(workflows/schedules.py)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.backup import BackupActivities, BackupRequest, BackupResult
    from activities.maintenance import CleanupActivities, CleanupReport, CleanupRequest
    from activities.reminders import ReminderActivities, RemindersRequest
    from workflows._kit import Notifier
    from workflows.messages import (
        BACKUP_WORKFLOW,
        CLEANUP_WORKFLOW,
        PAYMENT_REMINDER_WORKFLOW,
        NotificationRequest,
    )

CHORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5), maximum_attempts=5
)


@workflow.defn(name=CLEANUP_WORKFLOW)
class PlatformCleanupWorkflow:
    @workflow.run
    async def run(self) -> CleanupReport:
        return await workflow.execute_activity_method(
            CleanupActivities.clean_up_platform,
            CleanupRequest(as_of=workflow.now()),
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=5),
            retry_policy=CHORE_RETRY,
            summary="platform clean-up",
        )


class RemindersSent(BaseModel):
    reminders: int = 0


@workflow.defn(name=PAYMENT_REMINDER_WORKFLOW)
class PaymentReminderWorkflow:
    @workflow.run
    async def run(self) -> RemindersSent:
        found = await workflow.execute_activity_method(
            ReminderActivities.find_payment_reminders,
            RemindersRequest(as_of=workflow.now()),
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=CHORE_RETRY,
            summary="find the payments due a reminder",
        )
        notifier = Notifier([])
        for due in found.reminders:
            notifier.queue(
                NotificationRequest(
                    dedupe_key=f"payment-reminder:{due.kind}:{due.entity_id}:{due.step}",
                    user_id=due.user_id,
                    template="payment_reminder",
                    context={
                        "reference": due.reference,
                        "amount": due.amount,
                        "currency": due.currency,
                        "due_date": due.due_date.isoformat(),
                        "overdue": "yes" if due.step == "overdue" else "",
                    },
                    type="payment",
                    reference_type=due.kind,
                    reference_id=due.entity_id,
                )
            )
        await notifier.flush()
        return RemindersSent(reminders=len(found.reminders))


@workflow.defn(name=BACKUP_WORKFLOW)
class DatabaseBackupWorkflow:
    """A pg_dump into the storage backend, named for this run's start (a retry rewrites the
    same backup), and the oldest beyond the retention count removed."""

    @workflow.run
    async def run(self) -> BackupResult:
        return await workflow.execute_activity_method(
            BackupActivities.back_up_database,
            BackupRequest(as_of=workflow.now()),
            start_to_close_timeout=timedelta(hours=2),
            retry_policy=CHORE_RETRY,
            summary="database backup",
        )


WORKFLOWS: list[type] = [PlatformCleanupWorkflow, PaymentReminderWorkflow, DatabaseBackupWorkflow]
