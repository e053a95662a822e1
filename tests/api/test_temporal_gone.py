"""Temporal dying after the API connected: every workflow call answers a prompt 503
TEMPORAL_UNAVAILABLE (not a 500 after the SDK's retries), and what PostgreSQL holds still reads.
The server is this test's own, not the shared session one, since the test stops it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.app import create_app
from runtime.postgres import free_port
from runtime.temporal_server import TemporalDevServer
from tests.builders.booking_builders import booking_people
from tests.builders.users import create_user
from tests.fixtures.workers import SANDBOX
from worker import build_worker

DEADLINE = 2
BODY = {"booking_type": "treatment", "requested_date": "2026-12-15"}


@pytest_asyncio.fixture(loop_scope="session")
async def own_temporal(tmp_path: Path) -> AsyncIterator[TemporalDevServer]:
    server = TemporalDevServer(
        db_file=None, port=free_port(), ui_port=None, log_file=tmp_path / "temporal.log"
    )
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def timed(call) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


@pytest.mark.usefixtures("client")
async def test_temporal_stopping_under_a_connected_api_gives_prompt_503s_and_reads_go_on(
    own_temporal, settings, sessionmaker
):
    people = await booking_people(sessionmaker)
    recipient = await create_user(sessionmaker)
    temporal = await Client.connect(own_temporal.address, data_converter=pydantic_data_converter)
    mortal = settings.model_copy(update={"workflow_deadline_seconds": DEADLINE})
    app = create_app(mortal, temporal=temporal)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    body = {**BODY, "hospital_id": str(people.hospital_id)}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as api,
    ):
        async with build_worker(temporal, mortal, sessionmaker, workflow_runner=SANDBOX):
            created = await api.post("/bookings", headers=people.patient, json=body)
            assert created.status_code == 201, created.text
        booking_id = created.json()["data"]["id"]

        await asyncio.to_thread(own_temporal.stop)

        calls = {
            "status change": api.patch(
                f"/bookings/{booking_id}/status",
                headers=people.admin,
                json={"status": "under_review"},
            ),
            "create": api.post("/bookings", headers=people.patient, json=body),
            "admin message": api.post(
                "/notifications",
                headers=people.admin,
                json={"user_id": str(recipient.id), "title": "Hello", "message": "Your visit"},
            ),
            "edit": api.patch(
                f"/bookings/{booking_id}",
                headers=people.patient,
                json={"notes": "Arriving a day early"},
            ),
        }
        for name, call in calls.items():
            response, took = await timed(call)
            assert response.status_code == 503, (name, response.text)
            assert response.json()["error"]["code"] == "TEMPORAL_UNAVAILABLE", name
            assert took < DEADLINE + 3, (name, took)

        listed = await api.get("/bookings", headers=people.patient)
        assert listed.status_code == 200
        assert [b["id"] for b in listed.json()["data"]] == [booking_id]
        one = await api.get(f"/bookings/{booking_id}", headers=people.patient)
        assert one.status_code == 200
        assert one.json()["data"]["status"] == "requested"
        timeline, took = await timed(
            api.get(f"/bookings/{booking_id}/timeline", headers=people.admin)
        )
        assert timeline.status_code == 200, timeline.text
        assert took < DEADLINE + 3
