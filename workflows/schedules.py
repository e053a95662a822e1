"""Every Temporal Schedule, declared once (id, spec, workflow), and `ensure_schedules`, which
the worker runs at start to create each one or bring it up to date with its declaration.

Periodic jobs (the translation sweep, analytics roll-ups, clean-ups) are Schedules, never cron
(ARCHITECTURE rule 7). The lifecycles that need one add it to SCHEDULES.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from runtime.settings import Settings
from workflows.analytics import RollUpRequest
from workflows.messages import (
    ANALYTICS_ROLLUP_SCHEDULE,
    ANALYTICS_ROLLUP_WORKFLOW,
    BACKUP_SCHEDULE,
    BACKUP_WORKFLOW,
    CLEANUP_SCHEDULE,
    CLEANUP_WORKFLOW,
    PAYMENT_REMINDER_SCHEDULE,
    PAYMENT_REMINDER_WORKFLOW,
    TRANSLATION_SWEEP_SCHEDULE,
    TRANSLATION_SWEEP_WORKFLOW,
    WAITLIST_EXPIRY_SCHEDULE,
    WAITLIST_EXPIRY_WORKFLOW,
)


@dataclass(frozen=True)
class ScheduledWorkflow:
    """One Schedule: its id, when it fires, and the workflow (by type name) each firing starts.
    The workflow id is `<schedule id>` plus the firing time (Temporal appends it)."""

    id: str
    spec: ScheduleSpec
    workflow: str
    args: Sequence[Any] = field(default=())
    note: str = ""
    # A firing while the last run still goes is skipped.
    overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.SKIP
    # Firings missed while the server was down are still taken this long after their time
    # (None: Temporal's default, a year).
    catchup_window: timedelta | None = None


SCHEDULES: list[ScheduledWorkflow] = [
    ScheduledWorkflow(
        id=TRANSLATION_SWEEP_SCHEDULE,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
        workflow=TRANSLATION_SWEEP_WORKFLOW,
        note="Start the translation of content that has none for its current text",
    ),
    ScheduledWorkflow(
        id=WAITLIST_EXPIRY_SCHEDULE,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
        workflow=WAITLIST_EXPIRY_WORKFLOW,
        note="Expire the waitlist entries whose dates are past",
    ),
]

# A midnight run missed while the cluster was down is still taken within this window; the run
# itself also rolls up the days of the last week that were never rolled up.
ROLLUP_CATCHUP = timedelta(days=1)


def daily_at(hour: int, zone: str) -> ScheduleSpec:
    zero = [ScheduleRange(0)]
    return ScheduleSpec(
        calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(hour)], minute=zero, second=zero)],
        time_zone_name=zone,
    )


def schedules_for(settings: Settings) -> list[ScheduledWorkflow]:
    """Every Schedule the worker ensures: SCHEDULES and those whose spec comes from settings."""
    return [
        *SCHEDULES,
        ScheduledWorkflow(
            id=ANALYTICS_ROLLUP_SCHEDULE,
            spec=daily_at(0, settings.analytics_timezone),
            workflow=ANALYTICS_ROLLUP_WORKFLOW,
            args=(RollUpRequest(),),
            note="Roll up the day that just ended (and missed days) into analytics_daily",
            catchup_window=ROLLUP_CATCHUP,
        ),
        ScheduledWorkflow(
            id=BACKUP_SCHEDULE,
            spec=daily_at(2, settings.analytics_timezone),
            workflow=BACKUP_WORKFLOW,
            note="pg_dump the database into the storage backend, keep the newest backups",
            catchup_window=timedelta(hours=12),
        ),
        ScheduledWorkflow(
            id=CLEANUP_SCHEDULE,
            spec=daily_at(3, settings.analytics_timezone),
            workflow=CLEANUP_WORKFLOW,
            note="Remove used and expired tokens, uploads attached to nothing, old outbox mail",
            catchup_window=timedelta(hours=12),
        ),
        ScheduledWorkflow(
            id=PAYMENT_REMINDER_SCHEDULE,
            spec=daily_at(9, settings.analytics_timezone),
            workflow=PAYMENT_REMINDER_WORKFLOW,
            note="Remind patients of unpaid invoices and booking payments, due soon or overdue",
            catchup_window=timedelta(hours=12),
        ),
    ]


def _schedule(declared: ScheduledWorkflow, task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            declared.workflow,
            args=declared.args,
            id=declared.id,
            task_queue=task_queue,
            # What each firing's run shows in the Temporal UI.
            static_summary=f"{declared.workflow} by schedule {declared.id}",
        ),
        spec=declared.spec,
        policy=(
            SchedulePolicy(overlap=declared.overlap, catchup_window=declared.catchup_window)
            if declared.catchup_window is not None
            else SchedulePolicy(overlap=declared.overlap)
        ),
        state=ScheduleState(note=declared.note),
    )


async def ensure_schedules(
    client: Client, task_queue: str, schedules: Sequence[ScheduledWorkflow] = SCHEDULES
) -> None:
    """Create each declared Schedule, or update the one that exists to its declaration (a
    second run changes nothing). Schedules no longer declared are left alone."""
    for declared in schedules:
        schedule = _schedule(declared, task_queue)
        try:
            await client.create_schedule(declared.id, schedule)
        except ScheduleAlreadyRunningError:

            def to_declared(
                _: ScheduleUpdateInput, schedule: Schedule = schedule
            ) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=schedule)

            await client.get_schedule_handle(declared.id).update(to_declared)
