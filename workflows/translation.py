"""TranslationWorkflow: one entity's translatable text in one locale, kept current; and the
hourly TranslationSweepWorkflow that starts it for content a missed start left behind.

A run compares the source with what each translation row follows (plan), sends the fields
whose source changed to the engine (machine), and takes people's translations and decisions
as the `review` update. A rejection asks the engine for a new proposal. Over the engine's
monthly budget the run sleeps until the next month (a timer) instead of failing; with no
engine the rows wait for a person. Idle for an hour, the run ends: the next change, sweep or
review starts it again (signal-with-start, update-with-start).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.translate import (
        MachineInput,
        MachineResult,
        PlanInput,
        ReviewInput,
        TranslationActivities,
        TranslationTarget,
        TranslationView,
    )
    from domain.translation import TranslationStatus
    from workflows._kit import (
        DB_ACTIVITY,
        ActivityOptions,
        quiesce,
        show,
        unwrap,
        write_after_accept,
    )
    from workflows.messages import (
        TRANSLATION_SWEEP_WORKFLOW,
        TRANSLATION_WORKFLOW,
        SourceChanged,
        TranslationSignal,
        translation_summary,
        translation_workflow_id,
    )

# How long a run waits for another change or review before it ends.
IDLE = timedelta(hours=1)
# Engine calls: an outage or throttling heals, so retry with backoff and never give up; the
# engine's refusals are answered, not raised.
ENGINE_ACTIVITY: ActivityOptions = {
    "start_to_close_timeout": timedelta(minutes=5),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=10),
    ),
}
# The sweep starts at most this many workflows a run; the next hour takes the rest.
SWEEP_LIMIT = 500


class TranslationProgress(BaseModel):
    """What a run has done, and what it waits for (a query and the run's result)."""

    translated: int = 0
    refused: list[str] = Field(default_factory=list)
    paused_until: datetime | None = None
    engine: str | None = None


@workflow.defn(name=TRANSLATION_WORKFLOW)
class TranslationWorkflow:
    def __init__(self) -> None:
        self._dirty = True
        self._retranslate: set[str] = set()
        self._progress = TranslationProgress()
        self._target: TranslationTarget | None = None

    @workflow.run
    async def run(self, target: TranslationTarget) -> TranslationProgress:
        self._target = target
        headline = translation_summary(target)
        while True:
            self._show(headline)
            if self._dirty:
                self._dirty = False
                retranslate, self._retranslate = sorted(self._retranslate), set()
                plan = await workflow.execute_local_activity_method(
                    TranslationActivities.plan_translation,
                    PlanInput(target=target, retranslate=retranslate),
                    **DB_ACTIVITY,
                    summary="plan the translation",
                )
                if not plan.exists:
                    break
                if plan.to_translate:
                    await self._machine(target, plan.to_translate)
                continue
            try:
                await workflow.wait_condition(
                    lambda: self._dirty, timeout=IDLE, timeout_summary="idle close"
                )
            except TimeoutError:
                if workflow.all_handlers_finished() and not self._dirty:
                    break
        await quiesce()
        progress = self._progress
        show(headline, f"done, {progress.translated} translated, {len(progress.refused)} refused")
        return progress

    def _show(self, headline: str) -> None:
        """The run's details in the Temporal UI: counts, and the engine's pause if any."""
        progress = self._progress
        status = f"{progress.translated} translated, {len(progress.refused)} refused"
        if progress.paused_until is not None:
            show(headline, status, "the engine's monthly budget", progress.paused_until)
        else:
            show(headline, status, "a source change or a review", workflow.now() + IDLE)

    async def _machine(self, target: TranslationTarget, fields: list[str]) -> None:
        while fields:
            result: MachineResult = await workflow.execute_activity_method(
                TranslationActivities.machine_translate,
                MachineInput(target=target, fields=fields, now=workflow.now()),
                **ENGINE_ACTIVITY,
                summary="machine translation",
            )
            self._progress.translated += len(result.translated)
            self._progress.refused.extend(result.refused)
            self._progress.engine = result.engine
            if result.over_budget_until is None:
                return
            # The month's characters are spent: wait for the next month, then go on.
            self._progress.paused_until = result.over_budget_until
            self._show(translation_summary(target))
            await workflow.sleep(
                max(result.over_budget_until - workflow.now(), timedelta(0)),
                summary="translation budget pause",
            )
            self._progress.paused_until = None
            fields = result.remaining

    @workflow.signal(name=TranslationSignal.SOURCE_CHANGED)
    def source_changed(self, _: SourceChanged) -> None:
        self._dirty = True

    @workflow.update
    async def review(self, review: ReviewInput) -> TranslationView:
        """A person's translation or decision on one field: approved, rejected (the engine is
        asked again) or an edit that waits for approval."""
        try:
            # Once the update is accepted (workflows/_kit.write_after_accept).
            view = await write_after_accept(
                TranslationActivities.record_review, review, summary="record the review"
            )
        except Exception as err:
            refused = unwrap(err)
            if refused is not None:
                raise refused from None
            raise
        if view.status == TranslationStatus.REJECTED:
            self._retranslate.add(review.field_name)
            self._dirty = True
        return view

    @review.validator
    def _check_review(self, review: ReviewInput) -> None:
        if self._target is not None and review.target != self._target:
            raise ApplicationError("Not this workflow's content", type="Invalid")

    @workflow.query
    def progress(self) -> TranslationProgress:
        return self._progress


class SweepSummary(BaseModel):
    started: int = 0
    signalled: int = 0


@workflow.defn(name=TRANSLATION_SWEEP_WORKFLOW)
class TranslationSweepWorkflow:
    """Start (or nudge) the translation workflow of every (entity, locale) without a current
    translation. Run by the hourly Schedule; a run still going skips the next (overlap SKIP)."""

    @workflow.run
    async def run(self) -> SweepSummary:
        found = await workflow.execute_activity_method(
            TranslationActivities.find_untranslated,
            SWEEP_LIMIT,
            start_to_close_timeout=timedelta(minutes=5),
            summary="find untranslated content",
        )
        summary = SweepSummary()
        show("Translation sweep", f"{len(found.targets)} targets found")

        async def start(target: TranslationTarget) -> None:
            wid = translation_workflow_id(target)
            try:
                await workflow.start_child_workflow(
                    TRANSLATION_WORKFLOW,
                    target,
                    id=wid,
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    static_summary=translation_summary(target),
                )
                summary.started += 1
            except WorkflowAlreadyStartedError:
                await workflow.get_external_workflow_handle(wid).signal(
                    TranslationSignal.SOURCE_CHANGED, SourceChanged()
                )
                summary.signalled += 1

        await asyncio.gather(*(start(target) for target in found.targets))
        show("Translation sweep", f"{summary.started} started, {summary.signalled} signalled")
        return summary


WORKFLOWS: list[type] = [TranslationWorkflow, TranslationSweepWorkflow]


async def source_changed(client: Client, task_queue: str, target: TranslationTarget) -> bool:
    """Tell the (entity, locale)'s workflow its source may have changed, starting it when none
    runs. True when this started it, False when it was already running."""
    try:
        await client.start_workflow(
            TranslationWorkflow.run,
            target,
            id=translation_workflow_id(target),
            task_queue=task_queue,
            static_summary=translation_summary(target),
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        return True
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle(translation_workflow_id(target))
        try:
            await handle.signal(TranslationWorkflow.source_changed, SourceChanged())
        except Exception:
            # It ended between the two calls: start it again.
            await client.start_workflow(
                TranslationWorkflow.run,
                target,
                id=translation_workflow_id(target),
                task_queue=task_queue,
                start_signal=TranslationSignal.SOURCE_CHANGED,
                start_signal_args=[SourceChanged()],
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            )
            return True
        return False


async def review(client: Client, task_queue: str, decision: ReviewInput) -> TranslationView:
    """A person's translation or decision, through the (entity, locale)'s workflow (started
    when none runs): the stored row as it now is."""
    start = WithStartWorkflowOperation(
        TranslationWorkflow.run,
        decision.target,
        id=translation_workflow_id(decision.target),
        task_queue=task_queue,
        static_summary=translation_summary(decision.target),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    return await client.execute_update_with_start_workflow(
        TranslationWorkflow.review, decision, start_workflow_operation=start
    )
