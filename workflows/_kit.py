"""The lifecycle kit: composed helpers that explicit workflow classes call (no base class).

- activity presets (`DB_ACTIVITY`, `GATEWAY_*`, `PDF_ACTIVITY`, `NOTIFY_ACTIVITY`): timeouts
  and retries as TypedDicts for `**` expansion;
- the refusal bridge (`refusal`, `unwrap`, `code_of`), one spelling shared with activities;
- `Caller`, the person behind a command, as the API authenticated them;
- `update_with_start`, how the API creates an entity and waits for its stored row;
- `Notifier`: notifications decided in a handler, started by the main loop as deduped
  DeliverNotification children that outlive the parent, or (a workflow that passes its
  `inline_patch`) delivered by one deliver_notifications activity per step;
- `StateTimers`: timers derived from the state, waiting for a change or the next one;
- `write_after_accept`, the DB write of an Update's move (a status, details, a slot), run once
  that Update is durably accepted (`MOVE_AFTER_ACCEPT_PATCH`);
- `quiesce` and `should_continue_as_new`, for a clean end or hand-over;
- `index`: one search-attribute scheme for every lifecycle (EntityKind, EntityStatus, ids);
- `show` and `notification_summary`: what the Temporal UI shows of a run (its current details,
  the summaries of its children); ids, numbers, statuses and deadlines only, never PHI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict, TypeVar
from uuid import UUID

from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import (
    RetryPolicy,
    SearchAttributeKey,
    SearchAttributeUpdate,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import UpdateMethodMultiParam

with workflow.unsafe.imports_passed_through():
    from activities.lifecycle import code_of, domain_error, refusal, unwrap
    from activities.notify import (
        BATCH_CHANNELS,
        BatchedNotification,
        NotificationActivities,
        NotificationBatch,
    )
    from domain.access import Role
    from domain.lifecycle import Actor
    from workflows.messages import (
        NOTIFICATION_WORKFLOW,
        NotificationRequest,
        notification_workflow_id,
    )

__all__ = [
    "DB_ACTIVITY",
    "ENTITY_KEYS",
    "ENTITY_KIND",
    "ENTITY_STATUS",
    "GATEWAY_CREATE",
    "GATEWAY_POLL",
    "GATEWAY_SETTLE",
    "MOVE_AFTER_ACCEPT_PATCH",
    "NOTIFY_ACTIVITY",
    "PDF_ACTIVITY",
    "SEARCH_SCHEME_PATCH",
    "ActivityOptions",
    "Caller",
    "Notifier",
    "SettlingNotifier",
    "StateTimers",
    "code_of",
    "domain_error",
    "index",
    "notification_summary",
    "quiesce",
    "refusal",
    "should_continue_as_new",
    "show",
    "unwrap",
    "update_with_start",
    "write_after_accept",
]


class ActivityOptions(TypedDict, total=False):
    start_to_close_timeout: timedelta
    retry_policy: RetryPolicy


# A DB write takes milliseconds (a local activity, rule 8, unless an Update's move asked for it:
# write_after_accept); an outage heals, so it keeps retrying and the lifecycle simply waits.
DB_ACTIVITY: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
    ),
}
_GATEWAY_TIMEOUT = timedelta(seconds=60)
# A person waits on a create: a few tries, then the API answers 503.
GATEWAY_CREATE: ActivityOptions = {
    "start_to_close_timeout": _GATEWAY_TIMEOUT,
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=4,
    ),
}
# A read that fails is simply tried again at the next poll.
GATEWAY_POLL: ActivityOptions = {
    "start_to_close_timeout": _GATEWAY_TIMEOUT,
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2),
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=3,
    ),
}
# Cancelling and refunding must get through: patient, long retries.
_SETTLE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=10,
)
GATEWAY_SETTLE: ActivityOptions = {
    "start_to_close_timeout": _GATEWAY_TIMEOUT,
    "retry_policy": _SETTLE_RETRY,
}
PDF_ACTIVITY: ActivityOptions = {
    "start_to_close_timeout": timedelta(minutes=2),
    "retry_policy": _SETTLE_RETRY,
}
# Providers get a long, patient retry (an outage heals); bad data fails fast as non-retryable.
NOTIFY_ACTIVITY: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
        maximum_attempts=10,
    ),
}


class Caller(BaseModel):
    """The person behind a command, as the API authenticated them."""

    user_id: UUID
    role: Role

    def actor(self) -> Actor:
        return Actor(self.role.value, self.user_id)


R = TypeVar("R")
W = TypeVar("W")
I = TypeVar("I")  # noqa: E741


async def update_with_start(
    client: Client,
    run: Callable[[W, I], Awaitable[Any]],
    update: UpdateMethodMultiParam[[W], R],
    input: I,
    *,
    id: str,
    task_queue: str,
    summary: str | None = None,
    details: str | None = None,
) -> R:
    """Start the entity's workflow (or reach the running one) and return its update's answer.

    USE_EXISTING makes a retry of the same request (same entity id) land on the same workflow;
    REJECT_DUPLICATE keeps a closed one from being started again (the caller then reads the
    stored row: the start raises WorkflowAlreadyStartedError). `summary` and `details` are the
    run's static summary and details in the Temporal UI (ids and numbers only)."""
    start = WithStartWorkflowOperation(
        run,
        input,
        id=id,
        task_queue=task_queue,
        static_summary=summary,
        static_details=details,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    return await client.execute_update_with_start_workflow(update, start_workflow_operation=start)


class Notifier:
    """Notifications as DeliverNotification children, one per dedupe key for good, or, in a
    run that took the workflow's `inline_patch`, as one deliver_notifications activity per
    step (the messages of a flush together; no child workflow).

    `pending` is a list the workflow's state owns (so it is carried over continue-as-new);
    handlers `queue` into it and the main loop `flush`es it in order. `start` and `deliver`
    send one at once: started and left to run (ABANDON), or awaited to its end. Inline
    batches run beside the main loop (a provider outage holds no timer back); `quiesce` waits
    for them, so a run ends or continues as new only once its messages are out."""

    def __init__(
        self, pending: list[NotificationRequest], *, inline_patch: str | None = None
    ) -> None:
        self.pending = pending
        self.inline_patch = inline_patch
        self.inflight: list[asyncio.Task[None]] = []

    def queue(self, request: NotificationRequest) -> None:
        self.pending.append(request)

    async def flush(self) -> None:
        while self.pending:
            batch = list(self.pending)
            children = batch
            if self.inline_patch is not None and workflow.patched(self.inline_patch):
                inline = [request for request in batch if inlinable(request)]
                children = [request for request in batch if not inlinable(request)]
                if inline:
                    self.inflight.append(asyncio.create_task(self._deliver_inline(inline)))
            # Side by side: every start of a batch goes out in the same workflow task.
            await asyncio.gather(*(self.start(request) for request in children))
            del self.pending[: len(batch)]

    def busy(self) -> bool:
        """An inline batch is still being delivered."""
        self.inflight = [task for task in self.inflight if not task.done()]
        return bool(self.inflight)

    async def drain(self) -> None:
        while self.busy():
            await asyncio.gather(*self.inflight, return_exceptions=True)

    async def _deliver_inline(self, requests: list[NotificationRequest]) -> None:
        """One activity for the step's messages; after its own retries, a failure is logged
        (each channel's row says what happened) and the lifecycle goes on, as with a child."""
        keys = ", ".join(request.dedupe_key for request in requests)
        try:
            await workflow.execute_activity_method(
                NotificationActivities.deliver_notifications,
                NotificationBatch([batched(request) for request in requests]),
                **NOTIFY_ACTIVITY,
                summary=notification_batch_summary(requests),
            )
        except ActivityError as err:
            workflow.logger.warning("notifications %s not all delivered: %s", keys, err.message)

    async def start(self, request: NotificationRequest) -> None:
        """Start the child and let it outlive this workflow; a dedupe key already started (by
        an earlier run, before a crash or continue-as-new) is a success."""
        try:
            await workflow.start_child_workflow(
                NOTIFICATION_WORKFLOW,
                request,
                id=notification_workflow_id(request.dedupe_key),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=notification_summary(request),
            )
        except WorkflowAlreadyStartedError:
            return

    async def deliver(self, request: NotificationRequest) -> None:
        """Run the child to its end (a step that should not go on before its message is out)."""
        try:
            await workflow.execute_child_workflow(
                NOTIFICATION_WORKFLOW,
                request,
                id=notification_workflow_id(request.dedupe_key),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=notification_summary(request),
            )
        except WorkflowAlreadyStartedError:
            return


class SettlingNotifier(Notifier):
    """The kit's Notifier, keeping the children this run started (notifications, the invoice)
    so that the run closes only once they have: a run that closes while a child of it is still
    in flight leaves the time-skipping test server's time skipping locked for good, and in
    production the run's end then also means its last messages are out."""

    def __init__(self, pending: list[NotificationRequest]) -> None:
        super().__init__(pending)
        self.children: list[workflow.ChildWorkflowHandle[Any, Any]] = []

    async def start(self, request: NotificationRequest) -> None:
        try:
            handle = await workflow.start_child_workflow(
                NOTIFICATION_WORKFLOW,
                request,
                id=notification_workflow_id(request.dedupe_key),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=notification_summary(request),
            )
        except WorkflowAlreadyStartedError:
            return
        self.children.append(handle)

    async def settle(self) -> None:
        """Wait until every child this run started has finished (a failed one included: its
        own retries are over, and the run has nothing more to do about it)."""
        while self.children:
            child = self.children[0]
            try:
                await child
            except ChildWorkflowError as err:
                workflow.logger.warning("child %s failed: %s", child.id, err.message)
            self.children.pop(0)

    def settled(self) -> bool:
        return not self.pending and all(child.done() for child in self.children)


class StateTimers:
    """Timers derived from the state: a workflow lists what its state implies (`due`), moves
    call `changed()`, and the main loop waits for a change or the earliest timer."""

    def __init__(self, labels: Mapping[str, str] | None = None) -> None:
        self.version = 0
        # What the UI calls each timer ("expiry": "quotation expiry"); "reminder:24h" reads as
        # "<reminder's label> 24h"; "*" formats any other name ("offer expiry, hold {}").
        self.labels = dict(labels or {})

    def label(self, name: str) -> str:
        if name in self.labels:
            return self.labels[name]
        head, _, tail = name.partition(":")
        if tail and head in self.labels:
            return f"{self.labels[head]} {tail}"
        return self.labels.get("*", "{}").format(name)

    def changed(self) -> None:
        self.version += 1

    async def wait_for_change_or_timer(
        self, due: list[tuple[datetime, str]], wake: Callable[[], bool] = lambda: False
    ) -> list[str] | None:
        """None when the state changed (or `wake` said so) first; else the names of the timers
        that are due, once the earliest has fired."""
        version = self.version

        def woken() -> bool:
            return self.version != version or wake()

        if not due:
            await workflow.wait_condition(woken)
            return None
        earliest = min(when for when, _ in due)
        delay = earliest - workflow.now()
        if delay > timedelta(0):
            names = [name for when, name in due if when == earliest]
            try:
                await workflow.wait_condition(
                    woken,
                    timeout=delay,
                    timeout_summary=", ".join(self.label(n) for n in names),
                )
            except TimeoutError:
                pass
            else:
                return None
        return [name for when, name in due if when <= workflow.now()]


# A move's status write as an ordinary activity, no longer a local one (rule 8's exception). A
# local activity runs inside the workflow task that also carries the Update's acceptance: when the
# Temporal server restarts in that moment the task never completes, the Update is lost (the caller
# sees 503) and the row stays written, ahead of its workflow; the next move then reuses the seq
# and write_transition takes it for a retry. Scheduling an ordinary activity completes that task:
# acceptance and schedule become durable together, and the write runs only after both. Runs
# recorded before it (tests/histories/) replay on the local path.
MOVE_AFTER_ACCEPT_PATCH = "move-after-accept"


async def write_after_accept(
    activity: Callable[[Any, I], Awaitable[R]],
    record: I,
    *,
    summary: str,
    options: ActivityOptions = DB_ACTIVITY,
) -> R:
    """Run the DB write of an Update's move (an activity method taking one record) once that
    Update is durably accepted, and return its answer. A refusal it raises reaches the
    caller as the ApplicationError itself, as a local activity's did, so callers that catch
    ApplicationError behave alike on both paths."""
    if not workflow.patched(MOVE_AFTER_ACCEPT_PATCH):
        return await workflow.execute_local_activity_method(
            activity, record, **options, summary=summary
        )
    try:
        return await workflow.execute_activity_method(activity, record, **options, summary=summary)
    except ActivityError as err:
        if isinstance(err.cause, ApplicationError):
            raise err.cause from None
        raise


async def quiesce(notifier: Notifier | None = None) -> None:
    """Return with no handler running and no notification unsent (nor an inline batch still
    delivering), checked after the last await: a handler that started meanwhile (an update
    arriving as we flush) would otherwise be cut off by the end of the run, or its move left
    out of a carried state."""
    while True:
        await workflow.wait_condition(workflow.all_handlers_finished)
        if notifier is not None and notifier.pending:
            await notifier.flush()
            continue
        if notifier is not None and notifier.busy():
            await notifier.drain()
            continue
        if workflow.all_handlers_finished():
            return


def should_continue_as_new(max_history_events: int) -> bool:
    """Hand over well before Temporal's own limits (also when the server suggests it)."""
    info = workflow.info()
    return (
        info.is_continue_as_new_suggested()
        or info.get_current_history_length() >= max_history_events
    )


# One search-attribute scheme for every lifecycle (ids and statuses only, rule 9), registered
# from temporal/search_attributes.json. Runs recorded before it upsert their old keys, which stay
# registered; SEARCH_SCHEME_PATCH tells the two apart on replay.
SEARCH_SCHEME_PATCH = "entity-search-attributes"
ENTITY_KIND = SearchAttributeKey.for_keyword("EntityKind")
ENTITY_STATUS = SearchAttributeKey.for_keyword("EntityStatus")
ENTITY_KEYS: dict[str, SearchAttributeKey[str]] = {
    name: SearchAttributeKey.for_keyword(name)
    for name in ("BookingId", "PaymentId", "PatientId", "HospitalId", "AppointmentId")
}


def index(
    kind: str,
    status: StrEnum,
    ids: Mapping[str, UUID | None],
    legacy: Callable[[], list[SearchAttributeUpdate[Any]]],
) -> None:
    """Upsert the entity's kind, status and ids; a run recorded before the scheme upserts what
    `legacy` gives, as it did then."""
    if not workflow.patched(SEARCH_SCHEME_PATCH):
        workflow.upsert_search_attributes(legacy())
        return
    updates: list[SearchAttributeUpdate[Any]] = [
        ENTITY_KIND.value_set(kind),
        ENTITY_STATUS.value_set(status.value),
    ]
    for name, value in ids.items():
        if value is not None:
            updates.append(ENTITY_KEYS[name].value_set(str(value)))
    workflow.upsert_search_attributes(updates)


def inlinable(request: NotificationRequest) -> bool:
    """A message the inline path delivers: no channel that waits for a receipt, no fallback
    (those still go to a DeliverNotification child)."""
    return not request.fallback and set(request.channels) <= BATCH_CHANNELS


def batched(request: NotificationRequest) -> BatchedNotification:
    return BatchedNotification(
        dedupe_key=request.dedupe_key,
        user_id=request.user_id,
        template=request.template,
        channels=list(request.channels),
        locale=request.locale,
        context=dict(request.context),
        type=request.type,
        reference_type=request.reference_type,
        reference_id=request.reference_id,
        attachments=list(request.attachments),
        to_pending_email=request.to_pending_email,
        to_email=request.to_email,
    )


def notification_batch_summary(requests: list[NotificationRequest]) -> str:
    """A step's deliver_notifications in the UI: its templates and how many users (no ids
    needed: the rows carry them)."""
    templates = ", ".join(dict.fromkeys(request.template for request in requests))
    users = len({request.user_id for request in requests})
    return f"{templates} to {users} user{'s' if users != 1 else ''}"


def notification_summary(request: NotificationRequest) -> str:
    """A notification child in the UI: its template, the recipient's user id, its key (ids)."""
    return f"{request.template} to user {request.user_id} ({request.dedupe_key})"


def show(
    headline: str,
    status: StrEnum | str,
    waits: str | None = None,
    until: datetime | None = None,
) -> None:
    """The run's current details in the Temporal UI (the `__temporal_workflow_metadata` query):
    what it is, its status, what it waits for and until when. Ids, numbers, statuses and
    deadlines only: callers pass no names, contact details or medical text."""
    value = status.value if isinstance(status, StrEnum) else status
    lines = [f"**{headline}**", f"status: `{value}`"]
    if waits:
        deadline = f" until {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if until else ""
        lines.append(f"waits for: {waits}{deadline}")
    workflow.set_current_details("\n\n".join(lines))
