"""Health endpoints tell what is up, and answer 503 when something needed is down."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest_asyncio
from pydantic import SecretStr

from domain.access import Role
from tests.builders.helpers import eventually
from tests.builders.users import create_user, headers_for


@pytest_asyncio.fixture(loop_scope="session")
async def staff(sessionmaker) -> dict[str, dict[str, str]]:
    """Headers of each kind of caller: staff see the details of /health/services."""
    return {
        role.value: headers_for(await create_user(sessionmaker, role))
        for role in (Role.ADMIN, Role.COORDINATOR, Role.PATIENT, Role.DOCTOR)
    }


async def test_liveness_database_and_redis_not_configured(client):
    assert (await client.get("/health")).json()["success"] is True
    db = await client.get("/health/db")
    assert db.status_code == 200 and db.json()["data"]["database"] == "up"
    redis = await client.get("/health/redis")
    assert redis.status_code == 200 and redis.json()["data"]["redis"] == "not configured"
    assert "healthy" not in redis.json()["message"]
    assert "not configured" in redis.json()["message"]


async def test_services_report_temporal_worker_and_providers(client_with_worker, staff):
    # The server lists a poller once the worker's first long poll reaches it.
    async def healthy():
        response = await client_with_worker.get("/health/services", headers=staff["admin"])
        return response if response.status_code == 200 else None

    response = await eventually(healthy)
    data = response.json()["data"]
    assert data["temporal"] == "up"
    assert data["worker"]["pollers"] >= 1
    assert data["providers"] == {
        "email": "outbox",
        "sms": "outbox",
        "whatsapp": "outbox",
        "storage": "local",
        "video": "jitsi",
        "payment_gateways": [],
    }


async def _services(settings, temporal_client, headers) -> httpx.Response:
    from api.app import create_app

    app = create_app(settings, temporal=temporal_client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c:
            return await c.get("/health/services", headers=headers)


async def _providers(settings, temporal_client, headers) -> dict:
    response = await _services(settings, temporal_client, headers)
    return response.json()["error"]["details"]["providers"]  # no worker polls: a 503


async def test_services_name_the_channel_in_use_not_the_half_set_provider(
    settings, temporal_client, staff
):
    # A Twilio account without its token sends nothing through Twilio: the outbox serves.
    half = settings.model_copy(update={"twilio_account_sid": "AC" + "0" * 32})
    providers = await _providers(half, temporal_client, staff["admin"])
    assert (providers["sms"], providers["whatsapp"]) == ("outbox", "outbox")

    # Account, token and an SMS sender but no WhatsApp sender: SMS by Twilio, WhatsApp outbox.
    sms_only = half.model_copy(
        update={"twilio_auth_token": SecretStr("token"), "twilio_from_number": "+15005550006"}
    )
    providers = await _providers(sms_only, temporal_client, staff["coordinator"])
    assert (providers["sms"], providers["whatsapp"]) == ("twilio", "outbox")
    assert providers["email"] == "outbox"


async def test_services_answer_503_when_no_worker_polls(app, staff):
    # The app fixture without the worker fixture: nobody polls this test's task queue.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c:
        response = await c.get("/health/services", headers=staff["admin"])
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert response.json()["error"]["details"]["worker"]["pollers"] == 0


async def test_redis_down_answers_503(app):
    app.state.settings = app.state.settings.model_copy(
        update={"redis_url": "redis://127.0.0.1:1/0"}
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c:
        response = await c.get("/health/redis")
    assert response.status_code == 503


async def test_redis_configured_and_up_is_healthy(settings, temporal_client, redis_url):
    from api.app import create_app

    app = create_app(settings.model_copy(update={"redis_url": redis_url}), temporal=temporal_client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c:
            response = await c.get("/health/redis")
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Redis is healthy",
        "data": {"redis": "up"},
    }


async def test_services_call_a_worker_that_stopped_polling_stale(
    settings, temporal_client, sessionmaker, staff
):
    # The server keeps listing a poller after it stopped; its newest poll tells it is gone.
    from api.app import create_app
    from worker import build_worker

    strict = settings.model_copy(update={"worker_stale_seconds": 1})
    async with build_worker(temporal_client, strict, sessionmaker):
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.5)
    app = create_app(strict, temporal=temporal_client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c:
            response = await c.get("/health/services", headers=staff["admin"])
    assert response.status_code == 503
    worker = response.json()["error"]["details"]["worker"]
    assert worker["status"].startswith("stale"), worker


async def test_the_public_learns_up_or_down_only_staff_the_details(
    client_with_worker, settings, staff
):
    async def healthy():
        response = await client_with_worker.get("/health/services")
        return response if response.status_code == 200 else None

    anonymous = await eventually(healthy)
    assert anonymous.json()["data"] == {"services": "up"}
    assert settings.task_queue not in anonymous.text and "outbox" not in anonymous.text
    for role in ("patient", "doctor"):
        seen = await client_with_worker.get("/health/services", headers=staff[role])
        assert seen.json()["data"] == {"services": "up"}, role
    for role in ("admin", "coordinator"):
        seen = (await client_with_worker.get("/health/services", headers=staff[role])).json()
        assert seen["data"]["worker"]["task_queue"] == settings.task_queue, role
        assert seen["data"]["providers"]["email"] == "outbox", role


async def test_the_public_learns_that_services_are_down_and_nothing_more(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c:
        response = await c.get("/health/services")
    assert response.status_code == 503
    body = response.json()
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["error"]["details"] == {"services": "down"}
    assert "pollers" not in response.text and "task_queue" not in response.text


async def test_a_worker_that_takes_no_tasks_is_stale_before_its_polls_look_old(
    settings, temporal_client, sessionmaker, staff
):
    # A frozen worker stays listed and its last polls look fresh for about a minute, but what
    # it should take waits on the queue: a task that waited too long calls it stale sooner.
    from worker import build_worker

    strict = settings.model_copy(update={"worker_backlog_stale_seconds": 1})
    async with build_worker(temporal_client, strict, sessionmaker):
        await asyncio.sleep(0.5)
    # Nobody takes this task now; the poller is still listed with a recent poll.
    await temporal_client.start_workflow(
        "HealthProbeWorkflow", id=f"health-probe-{uuid.uuid4().hex}", task_queue=settings.task_queue
    )

    async def stale():
        response = await _services(strict, temporal_client, staff["admin"])
        return response if response.status_code == 503 else None

    response = await eventually(stale, within=30)  # the server refreshes its backlog figures
    worker = response.json()["error"]["details"]["worker"]
    assert worker["pollers"] >= 1
    assert worker["status"].startswith("stale: tasks wait"), worker
    assert worker["oldest_task_waited_seconds"] > 1
