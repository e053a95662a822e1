"""Schedules are declared once and ensured at worker start: ensuring twice leaves one Schedule
as declared, and a changed declaration updates the Schedule that is there."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import Client, ScheduleIntervalSpec, ScheduleSpec

from workflows.messages import NOTIFICATION_WORKFLOW
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


async def test_no_schedule_is_declared_yet(temporal_client: Client, task_queue: str) -> None:
    assert SCHEDULES == []
    await ensure_schedules(temporal_client, task_queue)
