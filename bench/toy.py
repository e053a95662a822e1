"""The ceiling: a toy workflow with the booking's shape (update-with-start, then one update per
move, each running one no-op local activity), and its worker (`python -m bench.toy ADDRESS
TASK_QUEUE`), run by the bench on the same Temporal server as the stack."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

TOY_WORKFLOW = "BenchToyJourney"


@activity.defn(name="bench_toy_noop")
async def noop(step: int) -> int:
    return step


@workflow.defn(name=TOY_WORKFLOW)
class ToyJourney:
    def __init__(self) -> None:
        self.step = 0
        self.done = False

    @workflow.run
    async def run(self, moves: int) -> int:
        # Like the booking: the first local activity (its row) runs in the workflow's first task.
        await workflow.execute_local_activity(noop, 0, start_to_close_timeout=timedelta(seconds=10))
        self.step = 1
        await workflow.wait_condition(lambda: self.step > moves, timeout=timedelta(minutes=10))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.step

    @workflow.update
    async def create(self) -> int:
        await workflow.wait_condition(lambda: self.step >= 1)
        return self.step

    @workflow.update
    async def move(self) -> int:
        await workflow.wait_condition(lambda: self.step >= 1)
        step = await workflow.execute_local_activity(
            noop, self.step + 1, start_to_close_timeout=timedelta(seconds=10)
        )
        self.step = step
        return step


async def create(client: Client, workflow_id: str, task_queue: str, moves: int) -> int:
    start = WithStartWorkflowOperation(
        ToyJourney.run,
        moves,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return await client.execute_update_with_start_workflow(
        ToyJourney.create, start_workflow_operation=start
    )


async def move(client: Client, workflow_id: str) -> int:
    return await client.get_workflow_handle(workflow_id).execute_update(ToyJourney.move)


async def serve(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    worker = Worker(client, task_queue=task_queue, workflows=[ToyJourney], activities=[noop])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        print("toy worker polling", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
