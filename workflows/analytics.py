"""AnalyticsRollUpWorkflow: the daily analytics roll-up. The Schedule starts it at midnight in
MEDIVOY_ANALYTICS_TIMEZONE (the day that just ended, and missed days of the last week); a
backfill (`medivoy schedules backfill roll-up --from --to`) starts it with a range, which it
rolls up in chunks of at most a month per activity call. Rolling up a day is idempotent."""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.analytics import (
        MAX_DAYS_PER_CALL,
        AnalyticsActivities,
        RolledUpDay,
        RollUpInput,
    )
    from workflows.messages import ANALYTICS_ROLLUP_WORKFLOW

# The scheduled run also rolls up days of this last week that were never rolled up.
CATCH_UP_DAYS = 7
ROLLUP_ACTIVITY_TIMEOUT = timedelta(minutes=30)
ROLLUP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=10,
)


class RollUpRequest(BaseModel):
    """first..last inclusive; none: the day that just ended (the Schedule's run)."""

    first: date | None = None
    last: date | None = None


class RollUpSummary(BaseModel):
    timezone: str = ""
    days: list[RolledUpDay] = []


@workflow.defn(name=ANALYTICS_ROLLUP_WORKFLOW)
class AnalyticsRollUpWorkflow:
    @workflow.run
    async def run(self, request: RollUpRequest) -> RollUpSummary:
        if request.first is None or request.last is None:
            calls = [RollUpInput(as_of=workflow.now(), catch_up_days=CATCH_UP_DAYS)]
        else:
            first, last = sorted((request.first, request.last))
            calls = []
            while first <= last:
                end = min(last, first + timedelta(days=MAX_DAYS_PER_CALL - 1))
                calls.append(RollUpInput(first=first, last=end))
                first = end + timedelta(days=1)
        summary = RollUpSummary()
        for call in calls:
            result = await workflow.execute_activity_method(
                AnalyticsActivities.roll_up_analytics_days,
                call,
                start_to_close_timeout=ROLLUP_ACTIVITY_TIMEOUT,
                heartbeat_timeout=timedelta(minutes=5),
                retry_policy=ROLLUP_RETRY,
                summary="analytics roll-up",
            )
            summary.timezone = result.timezone
            summary.days.extend(result.days)
        return summary


WORKFLOWS: list[type] = [AnalyticsRollUpWorkflow]
