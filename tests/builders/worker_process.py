"""A real worker process (`medivoy worker`) for tests that SIGKILL it mid-journey, and a wait for
it to poll before the journey starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from runtime.settings import Settings
from tests.builders.helpers import eventually

ROOT = Path(__file__).resolve().parent.parent.parent


def start_worker(
    settings: Settings, temporal_address: str, data_dir: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MEDIVOY_DATABASE_URL": settings.database_url,
        "MEDIVOY_TEMPORAL_ADDRESS": temporal_address,
        "MEDIVOY_TASK_QUEUE": settings.task_queue,
        "MEDIVOY_JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "MEDIVOY_DATA_DIR": str(data_dir),
        "MEDIVOY_LOG_JSON": "false",
        "MEDIVOY_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def polling(temporal: Client, task_queue: str, process: subprocess.Popen[bytes]) -> None:
    """Until the worker process polls the task queue (its default identity is "pid@host"): it
    boots in seconds, longer than the API's workflow deadline on a loaded machine."""

    async def polls() -> bool:
        described = await temporal.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=temporal.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        assert process.poll() is None, "the worker process exited"
        return any(p.identity.startswith(f"{process.pid}@") for p in described.pollers)

    await eventually(polls, within=60)


def stop(*processes: subprocess.Popen[bytes] | None) -> None:
    for process in processes:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
