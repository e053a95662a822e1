"""Commands to a lifecycle's workflow, the API's one way of asking for a change.

`command` runs a Temporal Update and returns its answer. The validator or handler decides: a
refusal arrives as WorkflowUpdateFailedError, which api/errors.update_failed renders. Two
server answers are handled here: WorkflowNotReady (the update met the workflow as it was
finishing a task, e.g. a booking just cancelled; it was not admitted, so it is asked again) and
NOT_FOUND (the workflow has ended and takes no more commands: the caller's `closed` error,
usually a 409).

A command sent with an Idempotency-Key carries an update id made from it (`update_id`): Temporal
admits one update per id in a workflow run, so a retry of a command whose first attempt landed
(or is still in flight) gets that first answer and nothing is done twice. A refused attempt is
not kept: asked again with the same key, it meets the validator again.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, TypeVar

from temporalio.api.errordetails.v1 import WorkflowNotReadyFailure
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from domain.errors import DomainError

UPDATE_TRIES = 5

# Update ids made from (entity, caller, Idempotency-Key): one command per key and caller.
UPDATE_NAMESPACE = uuid.UUID("3c9e1f52-8a6d-5b47-9e0c-7d2a4f6b8e13")

A = TypeVar("A")
R = TypeVar("R")


def workflow_not_ready(exc: RPCError) -> bool:
    """The server's WorkflowNotReady answer (by its error detail's type): not admitted."""
    if exc.status != RPCStatusCode.FAILED_PRECONDITION:
        return False
    return any(detail.Is(WorkflowNotReadyFailure.DESCRIPTOR) for detail in exc.grpc_status.details)


def update_id(
    command: str, workflow_id: str, caller_id: uuid.UUID, idempotency_key: str | None
) -> str | None:
    """The update id of a command asked with an Idempotency-Key (None without one: each request
    is a new command). Keys are per caller and per command: the same key from two people, or on
    two different commands, is two commands. Made of ids only, never the key itself (it is the
    client's text, and update ids are kept in the workflow's history)."""
    if not idempotency_key:
        return None
    name = uuid.uuid5(UPDATE_NAMESPACE, f"{command}:{workflow_id}:{caller_id}:{idempotency_key}")
    return f"{command}-{name}"


async def command(
    client: Client,
    workflow_id: str,
    update: UpdateMethodMultiParam[[Any, A], R],
    arg: A,
    *,
    closed: DomainError | None = None,
    caller_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
) -> R:
    """Send the update and return its answer; `closed` is raised when the workflow has ended.
    With an Idempotency-Key (and who asks), a repeat gets the first answer (see above)."""
    handle = client.get_workflow_handle(workflow_id)
    name = getattr(update, "__name__", "command")
    id = update_id(name, workflow_id, caller_id, idempotency_key) if caller_id else None
    for attempt in range(1, UPDATE_TRIES + 1):
        try:
            return await handle.execute_update(update, arg, id=id)
        except RPCError as exc:
            if workflow_not_ready(exc) and attempt < UPDATE_TRIES:
                # Asked again it meets the validator, or a closed workflow.
                await asyncio.sleep(0.2 * attempt)
                continue
            if exc.status == RPCStatusCode.NOT_FOUND and closed is not None:
                raise closed from exc
            raise
    raise AssertionError("unreachable: the last try returns or raises")
