"""A command asked again with the same Idempotency-Key, after a 503 or a lost answer, gets the
first answer and is carried out once: one quotation, one status row, one notification. The API
here has a short workflow deadline and the worker is stopped for a while, the way a client meets
a 503 WORKFLOW_UNAVAILABLE whose command was still taken by the workflow later."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy import func, select

from api.app import create_app
from domain.models.bookings import BookingStatusHistory
from domain.models.notifications import Notification
from tests.builders.appointment_builders import booked, clinic, later
from tests.builders.booking_builders import People, booking_people
from tests.builders.helpers import eventually
from tests.fixtures.workers import SANDBOX
from worker import build_worker

DEADLINE = 2


def _quotation(total: str = "7950.50") -> dict[str, Any]:
    return {
        "items": [
            {"description": "Surgery", "amount": "7000.00"},
            {"description": "Hotel, 10 nights", "amount": str(float(total) - 7000)},
        ],
        "currency": "USD",
        "valid_until": (datetime.now(UTC) + timedelta(days=14)).isoformat(),
        "total_amount": total,
    }


@pytest_asyncio.fixture(loop_scope="session")
async def api(settings, temporal_client) -> AsyncIterator[httpx.AsyncClient]:
    mortal = settings.model_copy(update={"workflow_deadline_seconds": DEADLINE})
    app = create_app(mortal, temporal=temporal_client)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as client,
    ):
        yield client


def _worker(temporal_client, settings, sessionmaker):
    return build_worker(temporal_client, settings, sessionmaker, workflow_runner=SANDBOX)


async def _accepted_booking(api: httpx.AsyncClient, people: People) -> str:
    created = await api.post(
        "/bookings",
        headers=people.patient,
        json={"hospital_id": str(people.hospital_id), "booking_type": "treatment"},
    )
    assert created.status_code == 201, created.text
    booking_id = str(created.json()["data"]["id"])
    for status in ("under_review", "accepted"):
        moved = await api.patch(
            f"/bookings/{booking_id}/status", headers=people.coordinator, json={"status": status}
        )
        assert moved.status_code == 200, moved.text
    return booking_id


async def _history(sessionmaker, booking_id: str) -> list[str]:
    async with sessionmaker() as db:
        return list(
            await db.scalars(
                select(BookingStatusHistory.to_status)
                .where(BookingStatusHistory.booking_id == uuid.UUID(booking_id))
                .order_by(BookingStatusHistory.seq)
            )
        )


async def _notifications(sessionmaker, booking_id: str, seq: int) -> int:
    async with sessionmaker() as db:
        return int(
            await db.scalar(
                select(func.count()).where(
                    Notification.dedupe_key.like(f"booking:{booking_id}:{seq}:%"),
                    Notification.channel == "in_app",
                )
            )
            or 0
        )


async def test_a_quotation_retried_with_its_key_after_a_503_is_sent_once(
    api, settings, temporal_client, sessionmaker
):
    people = await booking_people(sessionmaker)
    async with _worker(temporal_client, settings, sessionmaker):
        booking_id = await _accepted_booking(api, people)

    # No worker: the workflow takes the command only later, the client meets a 503.
    key = {"Idempotency-Key": "quote-" + uuid.uuid4().hex}
    body = _quotation()
    late = await api.post(
        f"/bookings/{booking_id}/quotation", headers={**people.coordinator, **key}, json=body
    )
    assert late.status_code == 503, late.text
    assert late.json()["error"]["code"] == "WORKFLOW_UNAVAILABLE"

    async with _worker(temporal_client, settings, sessionmaker):
        # The client asks again with the same key until it is answered (the new worker may
        # take a moment to get the workflow back).
        async def answered() -> httpx.Response | None:
            response = await api.post(
                f"/bookings/{booking_id}/quotation",
                headers={**people.coordinator, **key},
                json=body,
            )
            return None if response.status_code == 503 else response

        again = await eventually(answered, within=90)
        assert again.status_code == 200, again.text
        assert again.json()["data"]["status"] == "quotation_sent"
        # Once more, after the first answer arrived: the same answer, nothing sent.
        third = await api.post(
            f"/bookings/{booking_id}/quotation", headers={**people.coordinator, **key}, json=body
        )
        assert third.status_code == 200, third.text
        assert third.json()["data"] == again.json()["data"]

        async def told() -> int | None:
            return await _notifications(sessionmaker, booking_id, 4) or None

        assert await eventually(told)
        assert await _history(sessionmaker, booking_id) == [
            "requested",
            "under_review",
            "accepted",
            "quotation_sent",
        ]
        assert await _notifications(sessionmaker, booking_id, 5) == 0

        # Another key is another quotation (a revised one is allowed): the key is what dedupes.
        revised = await api.post(
            f"/bookings/{booking_id}/quotation",
            headers={**people.coordinator, "Idempotency-Key": "revised-" + uuid.uuid4().hex},
            json=_quotation("8000.00"),
        )
        assert revised.status_code == 200, revised.text
        assert revised.json()["data"]["total_amount"] == "8000.00"
        assert (await _history(sessionmaker, booking_id)).count("quotation_sent") == 2


async def test_a_status_move_retried_with_its_key_answers_200_not_409(
    api, settings, temporal_client, sessionmaker
):
    people = await booking_people(sessionmaker)
    async with _worker(temporal_client, settings, sessionmaker):
        created = await api.post(
            "/bookings",
            headers=people.patient,
            json={"hospital_id": str(people.hospital_id), "booking_type": "treatment"},
        )
        booking_id = created.json()["data"]["id"]
        key = {**people.coordinator, "Idempotency-Key": "move-" + uuid.uuid4().hex}
        path = f"/bookings/{booking_id}/status"
        first = await api.patch(path, headers=key, json={"status": "under_review"})
        again = await api.patch(path, headers=key, json={"status": "under_review"})
        assert first.status_code == 200, first.text
        assert again.status_code == 200, again.text
        assert again.json()["data"]["status"] == "under_review"
        # Without the key the same move asked again is the conflict it always was.
        bare = await api.patch(path, headers=people.coordinator, json={"status": "under_review"})
        assert bare.status_code == 409
        assert await _history(sessionmaker, booking_id) == ["requested", "under_review"]


async def test_a_reschedule_retried_with_its_key_does_not_use_up_another_of_the_patients_two(
    client_with_worker, sessionmaker
):
    c = await clinic(sessionmaker, client_with_worker)
    first = later(days=4)
    mine = await booked(client_with_worker, c["patient"], c.doctor_id, first)
    path = f"/appointments/{mine['id']}/reschedule"
    body = {"new_scheduled_date": (first + timedelta(hours=1)).isoformat(), "reason": "Work"}
    keyed = {**c["patient"], "Idempotency-Key": "reschedule-" + uuid.uuid4().hex}

    moved = await client_with_worker.post(path, headers=keyed, json=body)
    again = await client_with_worker.post(path, headers=keyed, json=body)

    assert moved.status_code == 200, moved.text
    assert again.status_code == 200, again.text
    assert again.json()["data"]["reschedule_count"] == 1
    # The patient still has their second reschedule.
    later_still = {**body, "new_scheduled_date": (first + timedelta(hours=2)).isoformat()}
    second = await client_with_worker.post(path, headers=c["patient"], json=later_still)
    assert second.status_code == 200, second.text
    assert second.json()["data"]["reschedule_count"] == 2


async def test_a_cancel_retried_with_its_key_after_the_workflow_ended_gets_the_first_answer(
    client_with_worker, sessionmaker
):
    people = await booking_people(sessionmaker)
    booking_id = await _accepted_booking(client_with_worker, people)
    keyed = {**people.patient, "Idempotency-Key": "cancel-" + uuid.uuid4().hex}
    path = f"/bookings/{booking_id}"

    first = await client_with_worker.request(
        "DELETE", path, headers=keyed, json={"reason": "Visa refused"}
    )
    assert first.status_code == 200, first.text
    again = await client_with_worker.request(
        "DELETE", path, headers=keyed, json={"reason": "Visa refused"}
    )
    assert again.status_code == 200, again.text
    assert again.json()["data"]["status"] == "cancelled"
    assert (await _history(sessionmaker, booking_id)).count("cancelled") == 1
