"""Every API → workflow call has a deadline (rule 11): the API's Temporal client carries an
interceptor that bounds each start, update, update-with-start, signal and query by
MEDIVOY_WORKFLOW_DEADLINE_SECONDS. Past it the answer is 503 WORKFLOW_UNAVAILABLE (the command
may still be applied once the worker takes it); Temporal itself unreachable is 503
TEMPORAL_UNAVAILABLE. Refusals and NOT_FOUND pass through unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
    WorkflowHandle,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import Unavailable

R = TypeVar("R")

RETRY_HINT = (
    "it may still be applied: read it back before asking again, or repeat the request with "
    "the same Idempotency-Key"
)


def temporal_unavailable() -> Unavailable:
    return Unavailable(
        "The workflow engine is not reachable; the command was not taken. Try again shortly",
        code="TEMPORAL_UNAVAILABLE",
    )


def workflow_unavailable() -> Unavailable:
    return Unavailable(
        f"The command was not answered in time; {RETRY_HINT}", code="WORKFLOW_UNAVAILABLE"
    )


async def temporal_answers(client: Client) -> bool:
    """Is the Temporal frontend answering at all (no retries, a second at most)?"""
    try:
        return await client.service_client.check_health(retry=False, timeout=timedelta(seconds=1))
    except Exception:
        return False


class _Outbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, owner: DeadlineInterceptor) -> None:
        super().__init__(next)
        self.owner = owner

    async def _bounded(self, call: Awaitable[R]) -> R:
        try:
            async with asyncio.timeout(self.owner.deadline):
                return await call
        except RPCError as exc:
            if exc.status == RPCStatusCode.UNAVAILABLE:
                raise temporal_unavailable() from exc
            if exc.status != RPCStatusCode.DEADLINE_EXCEEDED:
                raise
            cause: Exception = exc
        except RuntimeError as exc:
            # The SDK's (re)connect to a frontend that does not answer.
            if str(exc).startswith("Failed client connect"):
                raise temporal_unavailable() from exc
            raise
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
            cause = exc
        client = self.owner.client
        if client is not None and not await temporal_answers(client):
            raise temporal_unavailable() from cause
        raise workflow_unavailable() from cause

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        return await self._bounded(super().start_workflow(input))

    async def start_workflow_update(
        self, input: StartWorkflowUpdateInput
    ) -> WorkflowUpdateHandle[Any]:
        return await self._bounded(super().start_workflow_update(input))

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle[Any]:
        return await self._bounded(super().start_update_with_start_workflow(input))

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        await self._bounded(super().signal_workflow(input))

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        return await self._bounded(super().query_workflow(input))


class DeadlineInterceptor(Interceptor):
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.client: Client | None = None

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Outbound(next, self)


def bounded(client: Client, deadline: float) -> Client:
    """The same connection, every workflow call under `deadline` seconds."""
    interceptor = DeadlineInterceptor(deadline)
    config = client.config()
    config["interceptors"] = [*config["interceptors"], interceptor]
    api_client = Client(**config)
    interceptor.client = api_client
    return api_client
