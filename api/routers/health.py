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

from api.deps import AdaptersDep, SettingsDep, get_temporal
from api.envelope import Envelope, ok
from runtime.logging import log

TAG = {"name": "health", "description": "Liveness and the services Medivoy needs"}

router = APIRouter(prefix="/health", tags=["health"])


def _answer(healthy: bool, data: dict[str, Any], what: str) -> JSONResponse:
    if healthy:
        return JSONResponse(ok(data, f"{what} is healthy").model_dump(mode="json"))
    return JSONResponse(
        {
            "success": False,
            "message": f"{what} is unhealthy",
            "error": {"code": "SERVICE_UNAVAILABLE", "details": data},
        },
        status_code=503,
    )


@router.get("", summary="Liveness: the API process answers")
async def liveness() -> Envelope[dict[str, str]]:
    return ok({"status": "ok"}, "Medivoy API is running")


@router.get("/db", summary="Database health")
async def database(request: Request) -> JSONResponse:
    try:
        async with request.app.state.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=3)
        return _answer(True, {"database": "up"}, "Database")
    except Exception as exc:
        return _answer(False, {"database": "down", "error": type(exc).__name__}, "Database")


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


@router.get("/services", summary="Temporal, a worker on the task queue, the providers in use")
async def services(request: Request, settings: SettingsDep, adapters: AdaptersDep) -> JSONResponse:
    # The adapters the API built at start, by the same wiring as the worker's: what is named
    # here is what serves (e-mail, SMS, WhatsApp, file storage, payment gateways).
    data: dict[str, Any] = {"providers": adapters.in_use()}
    healthy = True
    try:
        client = await get_temporal(request)
        await asyncio.wait_for(client.service_client.check_health(), timeout=3)
        data["temporal"] = "up"
        described = await asyncio.wait_for(
            client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=settings.task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            ),
            timeout=3,
        )
        pollers = len(described.pollers)
        data["worker"] = {"task_queue": settings.task_queue, "pollers": pollers}
        # The server lists a poller for minutes after its last poll: a frozen worker stays
        # listed, so its newest poll must be recent (an idle long poll lasts about a minute).
        newest = max((p.last_access_time.ToDatetime(UTC) for p in described.pollers), default=None)
        if newest is None:
            healthy = False
            data["worker"]["status"] = "no worker is polling the task queue"
        elif (datetime.now(UTC) - newest).total_seconds() > settings.worker_stale_seconds:
            healthy = False
            data["worker"]["status"] = "stale: no worker has polled the task queue lately"
            data["worker"]["last_poll"] = newest.isoformat()
        else:
            data["worker"]["status"] = "up"
    except Exception as exc:
        healthy = False
        data.setdefault("temporal", "down")
        data["error"] = type(exc).__name__
        # The answer names the class only; the log keeps what the server said.
        log.warning("health_services_down", error=type(exc).__name__, detail=str(exc)[:300])
    return _answer(healthy, data, "Services")
