"""`medivoy schedules`: every declared Schedule with its next run and its last result; trigger,
pause and unpause one; and `backfill roll-up --from --to`, which rebuilds the analytics roll-up
of a range of days (one AnalyticsRollUpWorkflow run, idempotent day by day)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.service import RPCError

from runtime.settings import Settings
from workflows.analytics import AnalyticsRollUpWorkflow, RollUpRequest, RollUpSummary
from workflows.messages import (
    ANALYTICS_ROLLUP_SCHEDULE,
    BACKUP_SCHEDULE,
    CLEANUP_SCHEDULE,
    PAYMENT_REMINDER_SCHEDULE,
    TRANSLATION_SWEEP_SCHEDULE,
)
from workflows.schedules import schedules_for

# Short names people type; the Schedule ids work too.
ALIASES = {
    "roll-up": ANALYTICS_ROLLUP_SCHEDULE,
    "cleanup": CLEANUP_SCHEDULE,
    "backup": BACKUP_SCHEDULE,
    "payment-reminders": PAYMENT_REMINDER_SCHEDULE,
    "translation-sweep": TRANSLATION_SWEEP_SCHEDULE,
}


def schedule_id(name: str) -> str:
    return ALIASES.get(name, name)


@dataclass
class ScheduleLine:
    id: str
    paused: bool
    next_run: datetime | None
    last_run: datetime | None
    last_result: str  # the last started run's status ("never run" before the first)
    note: str

    def render(self) -> str:
        state = "paused" if self.paused else "active"
        nxt = self.next_run.isoformat() if self.next_run else "-"
        last = self.last_run.isoformat() if self.last_run else "-"
        return f"{self.id:<20} {state:<7} next {nxt:<26} last {last:<26} {self.last_result}"


async def list_schedules(client: Client, settings: Settings) -> list[ScheduleLine]:
    lines: list[ScheduleLine] = []
    for declared in schedules_for(settings):
        try:
            description = await client.get_schedule_handle(declared.id).describe()
        except RPCError:
            lines.append(ScheduleLine(declared.id, False, None, None, "not created", declared.note))
            continue
        info = description.info
        result, last_run = "never run", None
        if info.recent_actions:
            recent = info.recent_actions[-1]
            last_run = recent.started_at
            action = recent.action
            if isinstance(action, ScheduleActionExecutionStartWorkflow):
                try:
                    run = client.get_workflow_handle(
                        action.workflow_id, run_id=action.first_execution_run_id
                    )
                    status = (await run.describe()).status
                    result = status.name.lower() if status is not None else "unknown"
                except RPCError:
                    result = "unknown (history gone)"
        lines.append(
            ScheduleLine(
                id=declared.id,
                paused=description.schedule.state.paused,
                next_run=info.next_action_times[0] if info.next_action_times else None,
                last_run=last_run,
                last_result=result,
                note=description.schedule.state.note or declared.note,
            )
        )
    return lines


async def trigger(client: Client, name: str) -> None:
    await client.get_schedule_handle(schedule_id(name)).trigger()


async def pause(client: Client, name: str, note: str) -> None:
    await client.get_schedule_handle(schedule_id(name)).pause(note=note)


async def unpause(client: Client, name: str, note: str) -> None:
    await client.get_schedule_handle(schedule_id(name)).unpause(note=note)


async def backfill_roll_up(
    client: Client, task_queue: str, first: date, last: date
) -> RollUpSummary:
    """Roll first..last up again and wait for it (the worker runs it)."""
    return await client.execute_workflow(
        AnalyticsRollUpWorkflow.run,
        RollUpRequest(first=first, last=last),
        id=f"analytics-backfill-{first}-{last}-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )
