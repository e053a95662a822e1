"""Schedules are declared once and ensured at worker start: ensuring twice leaves one Schedule
as declared, and a changed declaration updates the Schedule that is there; the worker's start
ensures the platform's schedules (the roll-up at midnight in the analytics zone, the clean-up,
the payment reminders), which `medivoy schedules` lists, pauses and unpauses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    ScheduleSpec,
)
from temporalio.service import RPCError

from cli.schedules import ScheduleLine, list_schedules, pause, trigger, unpause
from runtime.settings import Settings
from runtime.temporal_server import TemporalDevServer
from tests.builders.helpers import eventually
from workflows.messages import (
    ANALYTICS_ROLLUP_SCHEDULE,
    ANALYTICS_ROLLUP_WORKFLOW,
    CLEANUP_SCHEDULE,
    CLEANUP_WORKFLOW,
    NOTIFICATION_WORKFLOW,
    PAYMENT_REMINDER_SCHEDULE,
    PAYMENT_REMINDER_WORKFLOW,
    TRANSLATION_SWEEP_SCHEDULE,
    TRANSLATION_SWEEP_WORKFLOW,
    WAITLIST_EXPIRY_SCHEDULE,
    WAITLIST_EXPIRY_WORKFLOW,
)
from workflows.schedules import SCHEDULES, ScheduledWorkflow, ensure_schedules, schedules_for


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


async def test_the_worker_ensures_the_platform_schedules_at_start_and_the_cli_lists_them(
    temporal_client: Client,
    temporal_dev_server: TemporalDevServer,
    make_settings: Callable[..., Settings],
) -> None:
    from worker import run_worker

    settings = make_settings(
        temporal_address=temporal_dev_server.address, analytics_timezone="Asia/Kolkata"
    )
    ids = [s.id for s in schedules_for(settings)]
    # Earlier tests' workers (on this session's server) may have ensured them already, with
    # other settings: gone first, so what is found below is what this worker made.
    for schedule_id in ids:
        with contextlib.suppress(RPCError):
            await temporal_client.get_schedule_handle(schedule_id).delete()
    running = asyncio.create_task(run_worker(settings))
    try:

        async def ensured() -> bool | None:
            try:
                for schedule_id in ids:
                    await temporal_client.get_schedule_handle(schedule_id).describe()
            except RPCError:
                return None
            return True

        await eventually(ensured, within=60)
        rollup = await temporal_client.get_schedule_handle(ANALYTICS_ROLLUP_SCHEDULE).describe()
        spec = rollup.schedule.spec
        assert spec.time_zone_name == "Asia/Kolkata"
        [calendar] = spec.calendars
        assert [(r.start, r.end) for r in calendar.hour] == [(0, 0)]
        assert [(r.start, r.end) for r in calendar.minute] == [(0, 0)]
        assert rollup.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert rollup.schedule.policy.catchup_window == timedelta(days=1)
        action = rollup.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == ANALYTICS_ROLLUP_WORKFLOW
        assert action.task_queue == settings.task_queue
        # The next run is the coming midnight in Kolkata (18:30 UTC)
        [first, *_] = rollup.info.next_action_times
        assert (first.hour, first.minute) == (18, 30)
        for schedule_id, workflow_type, hour in (
            (CLEANUP_SCHEDULE, CLEANUP_WORKFLOW, 3),
            (PAYMENT_REMINDER_SCHEDULE, PAYMENT_REMINDER_WORKFLOW, 9),
        ):
            described = await temporal_client.get_schedule_handle(schedule_id).describe()
            chore = described.schedule.action
            assert isinstance(chore, ScheduleActionStartWorkflow)
            assert chore.workflow == workflow_type
            [calendar] = described.schedule.spec.calendars
            assert [(r.start, r.end) for r in calendar.hour] == [(hour, hour)]

        lines = {line.id: line for line in await list_schedules(temporal_client, settings)}
        assert set(lines) == set(ids)
        assert lines[ANALYTICS_ROLLUP_SCHEDULE].next_run == first
        assert lines[ANALYTICS_ROLLUP_SCHEDULE].last_result == "never run"

        await pause(temporal_client, "roll-up", "test")
        paused = await temporal_client.get_schedule_handle(ANALYTICS_ROLLUP_SCHEDULE).describe()
        assert paused.schedule.state.paused
        # The CLI itself (a real process) shows it paused, with its next run
        env = {
            **os.environ,
            "MEDIVOY_TEMPORAL_ADDRESS": temporal_dev_server.address,
            "MEDIVOY_DATABASE_URL": settings.database_url,
            "MEDIVOY_TASK_QUEUE": settings.task_queue,
            "MEDIVOY_ANALYTICS_TIMEZONE": "Asia/Kolkata",
        }
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "medivoy"),
            "schedules",
            "list",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode == 0, out.decode()
        [shown] = [line for line in out.decode().splitlines() if ANALYTICS_ROLLUP_SCHEDULE in line]
        assert "paused" in shown and "never run" in shown
        await unpause(temporal_client, "roll-up", "test")
        assert not (
            await temporal_client.get_schedule_handle(ANALYTICS_ROLLUP_SCHEDULE).describe()
        ).schedule.state.paused

        # Triggered now, the roll-up runs on the started worker; its result shows in the list
        await trigger(temporal_client, "roll-up")

        async def completed() -> ScheduleLine | None:
            lines = await list_schedules(temporal_client, settings)
            [line] = [x for x in lines if x.id == ANALYTICS_ROLLUP_SCHEDULE]
            return line if line.last_result == "completed" else None

        done = await eventually(completed, within=90)
        assert done.last_run is not None
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        for schedule_id in ids:
            with contextlib.suppress(RPCError):
                await temporal_client.get_schedule_handle(schedule_id).delete()
