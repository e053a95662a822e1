"""Health endpoints tell what is up, and answer 503 when something needed is down."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from tests.builders.helpers import eventually


async def test_liveness_database_and_redis_not_configured(client):
    assert (await client.get("/health")).json()["success"] is True
    db = await client.get("/health/db")
    assert db.status_code == 200 and db.json()["data"]["database"] == "up"
    redis = await client.get("/health/redis")
    assert redis.status_code == 200 and redis.json()["data"]["redis"] == "not configured"
    assert "healthy" not in redis.json()["message"]
    assert "not configured" in redis.json()["message"]


async def test_services_report_temporal_worker_and_providers(client_with_worker):
    # The server lists a poller once the worker's first long poll reaches it.
    async def healthy():
        response = await client_with_worker.get("/health/services")
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


async def _providers(settings, temporal_client) -> dict:
    from api.app import create_app

    app = create_app(settings, temporal=temporal_client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c:
            response = await c.get("/health/services")
    return response.json()["error"]["details"]["providers"]  # no worker polls: a 503


async def test_services_name_the_channel_in_use_not_the_half_set_provider(
    settings, temporal_client
):
    # A Twilio account without its token sends nothing through Twilio: the outbox serves.
    half = settings.model_copy(update={"twilio_account_sid": "AC" + "0" * 32})
    providers = await _providers(half, temporal_client)
    assert (providers["sms"], providers["whatsapp"]) == ("outbox", "outbox")

    # Account, token and an SMS sender but no WhatsApp sender: SMS by Twilio, WhatsApp outbox.
    sms_only = half.model_copy(
        update={"twilio_auth_token": SecretStr("token"), "twilio_from_number": "+15005550006"}
    )
    providers = await _providers(sms_only, temporal_client)
    assert (providers["sms"], providers["whatsapp"]) == ("twilio", "outbox")
    assert providers["email"] == "outbox"


async def test_services_answer_503_when_no_worker_polls(app):
    # The app fixture without the worker fixture: nobody polls this test's task queue.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c:
        response = await c.get("/health/services")
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
    settings, temporal_client, sessionmaker
):
    # The server keeps listing a poller after it stopped; its newest poll tells it is gone.
    import asyncio

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
            response = await c.get("/health/services")
    assert response.status_code == 503
    worker = response.json()["error"]["details"]["worker"]
    assert worker["status"].startswith("stale"), worker
