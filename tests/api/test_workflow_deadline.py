"""Every workflow call from the API has a deadline (rule 11): a worker that does not poll
gives 503 WORKFLOW_UNAVAILABLE, Temporal unreachable gives 503 TEMPORAL_UNAVAILABLE, promptly."""

from __future__ import annotations

import time

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.app import create_app
from runtime.postgres import free_port
from tests.builders.booking_builders import booking_people
from worker import build_worker

BODY = {"booking_type": "treatment", "requested_date": "2026-12-15"}


async def test_a_create_nobody_takes_is_503_with_its_id_and_its_retry_makes_one_booking(
    client, settings, temporal_client, sessionmaker, task_queue
):
    people = await booking_people(sessionmaker)
    away_settings = settings.model_copy(
        update={"task_queue": f"{task_queue}-away", "workflow_deadline_seconds": 1}
    )
    away = create_app(away_settings, temporal=temporal_client)
    headers = {**people.patient, "Idempotency-Key": "frozen-once"}
    body = {**BODY, "hospital_id": str(people.hospital_id)}
    transport = httpx.ASGITransport(app=away, raise_app_exceptions=False)
    async with (
        away.router.lifespan_context(away),
        httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as api,
    ):
        started = time.monotonic()
        pending = await api.post("/bookings", headers=headers, json=body)
        assert time.monotonic() - started < 4
        assert pending.status_code == 503, pending.text
        error = pending.json()["error"]
        assert error["code"] == "WORKFLOW_UNAVAILABLE"
        assert "Idempotency-Key" in pending.json()["message"]
        booking_id = error["details"]["booking_id"]

        async with build_worker(temporal_client, away_settings, sessionmaker):
            created = await api.post("/bookings", headers=headers, json=body)
        assert created.status_code == 201, created.text
        assert created.json()["data"]["id"] == booking_id
        listed = await api.get("/bookings", headers=people.patient)
        assert listed.json()["meta"]["total"] == 1


async def test_temporal_unreachable_is_a_prompt_503_while_reads_still_answer(
    client, settings, sessionmaker
):
    people = await booking_people(sessionmaker)
    # A client made while nothing listens there: every call meets a closed port.
    gone = await Client.connect(
        f"127.0.0.1:{free_port()}", data_converter=pydantic_data_converter, lazy=True
    )
    down = create_app(settings.model_copy(update={"workflow_deadline_seconds": 2}), temporal=gone)
    transport = httpx.ASGITransport(app=down, raise_app_exceptions=False)
    async with (
        down.router.lifespan_context(down),
        httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as api,
    ):
        started = time.monotonic()
        refused = await api.post(
            "/bookings",
            headers=people.patient,
            json={**BODY, "hospital_id": str(people.hospital_id)},
        )
        assert time.monotonic() - started < 5
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "TEMPORAL_UNAVAILABLE"
        assert "booking_id" in refused.json()["error"]["details"]
        assert (await api.get("/hospitals")).status_code == 200


async def test_a_status_change_nobody_takes_is_503_within_the_deadline(
    client, settings, temporal_client, sessionmaker, task_queue
):
    people = await booking_people(sessionmaker)
    away_settings = settings.model_copy(
        update={"task_queue": f"{task_queue}-away", "workflow_deadline_seconds": 1}
    )
    away = create_app(away_settings, temporal=temporal_client)
    transport = httpx.ASGITransport(app=away, raise_app_exceptions=False)
    async with (
        away.router.lifespan_context(away),
        httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as api,
    ):
        async with build_worker(temporal_client, away_settings, sessionmaker):
            created = await api.post(
                "/bookings",
                headers=people.patient,
                json={**BODY, "hospital_id": str(people.hospital_id)},
            )
            assert created.status_code == 201, created.text
        booking_id = created.json()["data"]["id"]
        # The worker is gone: nobody takes the booking's workflow tasks.
        started = time.monotonic()
        moved = await api.patch(
            f"/bookings/{booking_id}/status",
            headers=people.admin,
            json={"status": "under_review"},
        )
        assert time.monotonic() - started < 4
        assert moved.status_code == 503, moved.text
        assert moved.json()["error"]["code"] == "WORKFLOW_UNAVAILABLE"
        assert "may still be applied" in moved.json()["message"]
