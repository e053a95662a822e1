"""Commands to a lifecycle's workflow, the API's one way of asking for a change.

`command` runs a Temporal Update and returns its answer. The validator or handler decides: a
refusal arrives as WorkflowUpdateFailedError, which api/errors.update_failed renders. Two
server answers are handled here: WorkflowNotReady (the update met the workflow as it was
finishing a task, e.g. a booking just cancelled; it was not admitted, so it is asked again) and
NOT_FOUND (the workflow has ended and takes no more commands: the caller's `closed` error,
usually a 409).
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from temporalio.api.errordetails.v1 import WorkflowNotReadyFailure
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from domain.errors import DomainError

UPDATE_TRIES = 5

A = TypeVar("A")
R = TypeVar("R")


def workflow_not_ready(exc: RPCError) -> bool:
    """The server's WorkflowNotReady answer (by its error detail's type): not admitted."""
    if exc.status != RPCStatusCode.FAILED_PRECONDITION:
        return False
    return any(detail.Is(WorkflowNotReadyFailure.DESCRIPTOR) for detail in exc.grpc_status.details)


async def command(
    client: Client,
    workflow_id: str,
    update: UpdateMethodMultiParam[[Any, A], R],
    arg: A,
    *,
    closed: DomainError | None = None,
) -> R:
    """Send the update and return its answer; `closed` is raised when the workflow has ended."""
    handle = client.get_workflow_handle(workflow_id)
    for attempt in range(1, UPDATE_TRIES + 1):
        try:
            return await handle.execute_update(update, arg)
        except RPCError as exc:
            if workflow_not_ready(exc) and attempt < UPDATE_TRIES:
                # Asked again it meets the validator, or a closed workflow.
                await asyncio.sleep(0.2 * attempt)
                continue
            if exc.status == RPCStatusCode.NOT_FOUND and closed is not None:
                raise closed from exc
            raise
    raise AssertionError("unreachable: the last try returns or raises")
