"""Liveness and the health of what Medivoy needs: database, Redis, Temporal and its worker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from api.deps import AdaptersDep, MaybeUser, SettingsDep, get_temporal
from api.envelope import Envelope, error_body, ok
from domain.access import STAFF
from runtime.logging import log
from runtime.settings import Settings

TAG = {"name": "health", "description": "Liveness and the services Medivoy needs"}

router = APIRouter(prefix="/health", tags=["health"])


def _answer(healthy: bool, data: dict[str, Any], what: str) -> JSONResponse:
    if healthy:
        return JSONResponse(ok(data, f"{what} is healthy").model_dump(mode="json"))
    return JSONResponse(
        error_body("SERVICE_UNAVAILABLE", f"{what} is unhealthy", data), status_code=503
    )


async def _database(request: Request) -> str | None:
    """None when PostgreSQL answers within 3 s, else the failure's class name."""
    try:
        async with asyncio.timeout(3):
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:
        return type(exc).__name__
    return None


@router.get(
    "",
    summary="Liveness: the API process answers (200 also while the database is down, "
    "which it names)",
)
async def liveness(request: Request) -> Envelope[dict[str, str]]:
    # Liveness stays 200: restarting the API does not bring PostgreSQL back. It says so.
    if await _database(request) is not None:
        return ok(
            {"status": "ok", "database": "down"},
            "Medivoy API is running; the database is down (requests that need it answer 503)",
        )
    return ok({"status": "ok", "database": "up"}, "Medivoy API is running")


@router.get("/db", summary="Database health")
async def database(request: Request) -> JSONResponse:
    error = await _database(request)
    if error is not None:
        return _answer(False, {"database": "down", "error": error}, "Database")
    return _answer(True, {"database": "up"}, "Database")


@router.get("/redis", summary="Redis health ('not configured' when MEDIVOY_REDIS_URL is unset)")
async def redis_health(settings: SettingsDep) -> JSONResponse:
    if not settings.redis_url:
        # Nothing to check, and nothing to call healthy: say so, and where the limits are kept.
        return JSONResponse(
            ok(
                {"redis": "not configured", "rate_limits": "in this API process's memory"},
                "Redis is not configured (MEDIVOY_REDIS_URL is unset): not checked",
            ).model_dump(mode="json")
        )
    client = Redis.from_url(settings.redis_url)
    try:
        await asyncio.wait_for(client.ping(), timeout=3)
        return _answer(True, {"redis": "up"}, "Redis")
    except Exception as exc:
        return _answer(False, {"redis": "down", "error": type(exc).__name__}, "Redis")
    finally:
        await client.aclose()


def _describe(client: Client, task_queue: str, kind: TaskQueueType.ValueType) -> Any:
    return asyncio.wait_for(
        client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=kind,
                report_stats=True,
            )
        ),
        timeout=3,
    )


def _worker_state(
    settings: Settings, workflows: Any, activities: Any
) -> tuple[bool, dict[str, Any]]:
    """Whether a worker serves the task queue, and what tells: someone polls, their newest poll
    is recent, and no task has waited long (a frozen worker stays listed and its last polls
    look fresh for up to a minute, but what it should take piles up)."""
    worker: dict[str, Any] = {"task_queue": settings.task_queue, "pollers": len(workflows.pollers)}
    # The server lists a poller for minutes after its last poll, so its newest must be recent.
    newest = max((p.last_access_time.ToDatetime(UTC) for p in workflows.pollers), default=None)
    waited = max(
        (
            d.stats.approximate_backlog_age.ToTimedelta().total_seconds()
            for d in (workflows, activities)
            if d.HasField("stats") and d.stats.approximate_backlog_count > 0
        ),
        default=0.0,
    )
    if newest is None:
        worker["status"] = "no worker is polling the task queue"
        return False, worker
    if (datetime.now(UTC) - newest).total_seconds() > settings.worker_stale_seconds:
        worker["status"] = "stale: no worker has polled the task queue lately"
        worker["last_poll"] = newest.isoformat()
        return False, worker
    if waited > settings.worker_backlog_stale_seconds:
        worker["status"] = "stale: tasks wait on the task queue and no worker takes them"
        worker["oldest_task_waited_seconds"] = round(waited, 1)
        return False, worker
    worker["status"] = "up"
    return True, worker


@router.get(
    "/services",
    summary="The database, Temporal and a worker on the task queue: up or down (staff: the "
    "details)",
)
async def services(
    request: Request, settings: SettingsDep, adapters: AdaptersDep, caller: MaybeUser
) -> JSONResponse:
    # The adapters the API built at start, by the same wiring as the worker's: what is named
    # here is what serves (e-mail, SMS, WhatsApp, file storage, payment gateways).
    data: dict[str, Any] = {"providers": adapters.in_use()}
    down = await _database(request)
    data["database"] = "up" if down is None else "down"
    healthy = True
    try:
        client = await get_temporal(request)
        await asyncio.wait_for(client.service_client.check_health(), timeout=3)
        data["temporal"] = "up"
        workflows, activities = await asyncio.gather(
            _describe(client, settings.task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
            _describe(client, settings.task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
        )
        healthy, data["worker"] = _worker_state(settings, workflows, activities)
        healthy = healthy and down is None
    except Exception as exc:
        healthy = False
        data.setdefault("temporal", "down")
        data["error"] = type(exc).__name__
        # The answer names the class only; the log keeps what the server said.
        log.warning("health_services_down", error=type(exc).__name__, detail=str(exc)[:300])
    if caller is None or caller.user_type not in STAFF:
        # The public learns up or down; the task queue, workers and providers are staff's.
        data = {"services": "up" if healthy else "down"}
    return _answer(healthy, data, "Services")
