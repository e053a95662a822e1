"""Schedules are declared once and ensured at worker start: ensuring twice leaves one Schedule
as declared, and a changed declaration updates the Schedule that is there."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    ScheduleSpec,
)

from workflows.messages import (
    NOTIFICATION_WORKFLOW,
    TRANSLATION_SWEEP_SCHEDULE,
    TRANSLATION_SWEEP_WORKFLOW,
    WAITLIST_EXPIRY_SCHEDULE,
    WAITLIST_EXPIRY_WORKFLOW,
)
from workflows.schedules import SCHEDULES, ScheduledWorkflow, ensure_schedules


def _declared(schedule_id: str, every: timedelta) -> ScheduledWorkflow:
    # Fires far in the future only: the test looks at the Schedule, not at its runs.
    return ScheduledWorkflow(
        id=schedule_id,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        workflow=NOTIFICATION_WORKFLOW,
        note="test schedule",
    )


async def test_ensuring_schedules_twice_leaves_one_schedule_as_declared(
    temporal_client: Client, task_queue: str
) -> None:
    schedule_id = f"test-schedule-{uuid.uuid4().hex}"
    declared = _declared(schedule_id, timedelta(days=300))
    try:
        await ensure_schedules(temporal_client, task_queue, [declared])
        await ensure_schedules(temporal_client, task_queue, [declared])
        description = await temporal_client.get_schedule_handle(schedule_id).describe()
        assert [i.every for i in description.schedule.spec.intervals] == [timedelta(days=300)]
        assert description.schedule.state.note == "test schedule"

        await ensure_schedules(
            temporal_client, task_queue, [_declared(schedule_id, timedelta(days=200))]
        )
        description = await temporal_client.get_schedule_handle(schedule_id).describe()
        assert [i.every for i in description.schedule.spec.intervals] == [timedelta(days=200)]
    finally:
        await temporal_client.get_schedule_handle(schedule_id).delete()


async def test_the_translation_sweep_runs_hourly_and_skips_overlapping_runs(
    temporal_client: Client, task_queue: str
) -> None:
    [sweep] = [s for s in SCHEDULES if s.id == TRANSLATION_SWEEP_SCHEDULE]
    schedule_id = f"test-{sweep.id}-{uuid.uuid4().hex}"
    try:
        await ensure_schedules(temporal_client, task_queue, [replace(sweep, id=schedule_id)])
        description = await temporal_client.get_schedule_handle(schedule_id).describe()
        assert [i.every for i in description.schedule.spec.intervals] == [timedelta(hours=1)]
        assert description.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        action = description.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == TRANSLATION_SWEEP_WORKFLOW
    finally:
        await temporal_client.get_schedule_handle(schedule_id).delete()


async def test_the_waitlist_expiry_runs_hourly(temporal_client: Client, task_queue: str) -> None:
    [sweep] = [s for s in SCHEDULES if s.id == WAITLIST_EXPIRY_SCHEDULE]
    schedule_id = f"test-{sweep.id}-{uuid.uuid4().hex}"
    try:
        await ensure_schedules(temporal_client, task_queue, [replace(sweep, id=schedule_id)])
        description = await temporal_client.get_schedule_handle(schedule_id).describe()
        assert [i.every for i in description.schedule.spec.intervals] == [timedelta(hours=1)]
        action = description.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == WAITLIST_EXPIRY_WORKFLOW
    finally:
        await temporal_client.get_schedule_handle(schedule_id).delete()
