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
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from workflows.messages import (
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
        policy=SchedulePolicy(overlap=declared.overlap),
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
