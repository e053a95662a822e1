"""Bookings over HTTP with the real database, the Temporal dev server and a real worker."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from domain.models.bookings import BookingStatusHistory
from domain.models.notifications import Notification, OutboxMessage
from tests.builders.booking_builders import People, booking_people
from tests.builders.helpers import eventually
from tests.builders.worker_process import polling, start_worker, stop
from workflows.booking import (
    BookingWorkflow,
    FeedbackEvent,
    InvoiceEvent,
    PaymentEvent,
    workflow_id,
)


@pytest.fixture
def client(client: httpx.AsyncClient, worker: Worker) -> httpx.AsyncClient:
    """The API with the worker running: every booking is a workflow."""
    return client


async def _people(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> People:
    return await booking_people(sessionmaker)


@pytest_asyncio.fixture(loop_scope="session")
async def people(client: httpx.AsyncClient, sessionmaker) -> People:
    return await _people(client, sessionmaker)


async def _request(client: httpx.AsyncClient, people: People, **headers: str) -> dict[str, Any]:
    response = await client.post(
        "/bookings",
        headers={**people.patient, **headers},
        json={
            "hospital_id": str(people.hospital_id),
            "treatment_id": str(people.treatment_id),
            "booking_type": "treatment",
            "requested_date": "2026-12-15",
            "medical_details": {"diagnosis": "osteoarthritis"},
            "notes": "Wheelchair at the airport",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def _move(
    client: httpx.AsyncClient, headers: dict[str, str], booking_id: str, status: str
) -> httpx.Response:
    return await client.patch(
        f"/bookings/{booking_id}/status", headers=headers, json={"status": status, "notes": status}
    )


async def _quote(
    client: httpx.AsyncClient, headers: dict[str, str], booking_id: str
) -> httpx.Response:
    return await client.post(
        f"/bookings/{booking_id}/quotation",
        headers=headers,
        json={
            "items": [
                {"description": "Surgery", "amount": "7000.00"},
                {"description": "Hotel, 10 nights", "amount": "950.50"},
            ],
            "currency": "usd",
            "valid_until": (datetime.now(UTC) + timedelta(days=14)).isoformat(),
            "notes": "Includes airport transfers",
            "total_amount": "7950.50",
        },
    )


async def _status_is(
    client: httpx.AsyncClient, headers: dict[str, str], booking_id: str, status: str
):
    async def probe() -> dict[str, Any] | None:
        data = (await client.get(f"/bookings/{booking_id}", headers=headers)).json()["data"]
        return data if data["status"] == status else None

    return await eventually(probe)


async def _history(sessionmaker, booking_id: str) -> list[BookingStatusHistory]:
    async with sessionmaker() as db:
        return list(
            await db.scalars(
                select(BookingStatusHistory)
                .where(BookingStatusHistory.booking_id == uuid.UUID(booking_id))
                .order_by(BookingStatusHistory.seq)
            )
        )


async def _journey(
    client: httpx.AsyncClient, temporal: Client, people: People, booking_id: str
) -> None:
    """From requested to feedback_received; the platform's moves arrive as signals."""
    await _journey_to_completed(client, temporal, people, booking_id)
    handle = temporal.get_workflow_handle(workflow_id(uuid.UUID(booking_id)))
    await handle.signal(BookingWorkflow.feedback_received, FeedbackEvent())
    await _status_is(client, people.patient, booking_id, "feedback_received")


async def _journey_to_completed(
    client: httpx.AsyncClient, temporal: Client, people: People, booking_id: str
) -> None:
    """From requested to completed (the treatment is over); payment and invoice as signals."""
    handle = temporal.get_workflow_handle(workflow_id(uuid.UUID(booking_id)))
    for headers, status in [
        (people.coordinator, "under_review"),
        (people.hospital_admin, "accepted"),
        (people.coordinator, "awaiting_medical_details"),
    ]:
        response = await _move(client, headers, booking_id, status)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["status"] == status
    quoted = await _quote(client, people.coordinator, booking_id)
    assert quoted.status_code == 200, quoted.text
    assert quoted.json()["data"]["total_amount"] == "7950.50"
    assert quoted.json()["data"]["currency"] == "USD"
    assert (await _move(client, people.patient, booking_id, "confirmed")).status_code == 200

    await handle.signal(BookingWorkflow.payment_started, PaymentEvent())
    await _status_is(client, people.patient, booking_id, "payment_pending")
    await handle.signal(BookingWorkflow.payment_succeeded, PaymentEvent())
    await _status_is(client, people.patient, booking_id, "payment_completed")
    await handle.signal(BookingWorkflow.invoice_sent, InvoiceEvent())
    await _status_is(client, people.patient, booking_id, "invoice_sent")
    for headers, status in [
        (people.coordinator, "travel_arrangement"),
        (people.hospital_admin, "in_treatment"),
        (people.hospital_admin, "completed"),
    ]:
        response = await _move(client, headers, booking_id, status)
        assert response.status_code == 200, response.text


JOURNEY = [
    "requested",
    "under_review",
    "accepted",
    "awaiting_medical_details",
    "quotation_sent",
    "confirmed",
    "payment_pending",
    "payment_completed",
    "invoice_sent",
    "travel_arrangement",
    "in_treatment",
    "completed",
    "feedback_received",
]


async def test_patient_books_and_the_booking_travels_to_feedback(
    client, people, sessionmaker, temporal_client
):
    created = await _request(client, people)
    assert created["status"] == "requested"
    assert created["booking_number"].startswith(f"MV-BK-{datetime.now(UTC).year}-")
    assert created["hospital_name"] == "Anatolia Hospital"
    assert created["treatment_name"] == "Knee replacement"
    assert created["patient_name"] == "Patient Tester"
    booking_id = created["id"]

    timeline = await client.get(f"/bookings/{booking_id}/timeline", headers=people.coordinator)
    assert "review" in timeline.json()["data"]["waiting_for"]["description"]

    await _journey(client, temporal_client, people, booking_id)

    timeline = await client.get(f"/bookings/{booking_id}/timeline", headers=people.patient)
    assert timeline.status_code == 200
    events = timeline.json()["data"]["events"]
    assert [e["status"] for e in events] == JOURNEY
    assert [e["from_status"] for e in events] == [None, *JOURNEY[:-1]]
    assert events[1]["by"]["role"] == "coordinator" and events[1]["notes"] == "under_review"
    assert events[-1]["by"]["role"] == "system"
    assert timeline.json()["data"]["waiting_for"] is None

    detail = (await client.get(f"/bookings/{booking_id}", headers=people.patient)).json()["data"]
    assert detail["payment_status"] == "paid"
    assert detail["quotation_details"]["items"][0] == {
        "description": "Surgery",
        "amount": "7000.00",
    }

    # Everyone involved was told about the last move, and nobody's in-app note names the illness.
    async def told() -> list[Notification] | None:
        async with sessionmaker() as db:
            rows = list(
                await db.scalars(
                    select(Notification).where(
                        Notification.dedupe_key.like(f"booking:{booking_id}:13:%"),
                        Notification.channel == "in_app",
                    )
                )
            )
        return rows if len(rows) == 2 else None  # patient and hospital admin; no coordinator yet

    assert all("osteoarthritis" not in n.message for n in await eventually(told))


async def _review(
    client: httpx.AsyncClient, people: People, booking_id: str, publish: bool = True
) -> dict[str, Any]:
    """The patient reviews the hospital of the booking; an admin verifies and publishes it."""
    written = await client.post(
        "/reviews",
        headers=people.patient,
        json={
            "booking_id": booking_id,
            "hospital_id": str(people.hospital_id),
            "rating": 5,
            "review_text": "Kind staff, clean rooms",
        },
    )
    assert written.status_code == 201, written.text
    review = written.json()["data"]
    if publish:
        published = await client.patch(
            f"/reviews/{review['id']}/verify",
            headers=people.admin,
            json={"is_verified": True, "is_published": True},
        )
        assert published.status_code == 200, published.text
        assert published.json()["data"]["is_published"] is True
        review = published.json()["data"]
    return review


async def test_publishing_the_patients_review_moves_the_booking_to_feedback_received(
    client, people, temporal_client
):
    booking_id = (await _request(client, people))["id"]
    await _journey_to_completed(client, temporal_client, people, booking_id)

    # Written but not yet published: the booking still waits for feedback.
    review = await _review(client, people, booking_id, publish=False)
    await asyncio.sleep(0.5)
    detail = await client.get(f"/bookings/{booking_id}", headers=people.patient)
    assert detail.json()["data"]["status"] == "completed"

    published = await client.patch(
        f"/reviews/{review['id']}/verify",
        headers=people.admin,
        json={"is_verified": True, "is_published": True},
    )
    assert published.status_code == 200, published.text
    await _status_is(client, people.patient, booking_id, "feedback_received")
    timeline = await client.get(f"/bookings/{booking_id}/timeline", headers=people.patient)
    events = timeline.json()["data"]["events"]
    assert [e["status"] for e in events][-2:] == ["completed", "feedback_received"]
    assert events[-1]["by"]["role"] == "system"


async def test_a_review_published_after_the_booking_closed_is_still_published(
    client, people, temporal_client
):
    booking_id = (await _request(client, people))["id"]
    cancelled = await client.request(
        "DELETE",
        f"/bookings/{booking_id}",
        headers=people.patient,
        json={"reason": "Changed my plans"},
    )
    assert cancelled.status_code == 200, cancelled.text
    handle = temporal_client.get_workflow_handle(workflow_id(uuid.UUID(booking_id)))
    await asyncio.wait_for(handle.result(), timeout=30)  # the workflow has closed

    review = await _review(client, people, booking_id)
    assert review["is_published"] is True
    detail = await client.get(f"/bookings/{booking_id}", headers=people.patient)
    assert detail.json()["data"]["status"] == "cancelled"


async def test_illegal_move_answers_409_with_the_allowed_statuses_and_writes_nothing(
    client, people, sessionmaker
):
    booking_id = (await _request(client, people))["id"]

    response = await _move(client, people.coordinator, booking_id, "confirmed")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "INVALID_TRANSITION"
    assert error["details"]["allowed"] == ["under_review", "rejected", "cancelled"]
    assert len(await _history(sessionmaker, booking_id)) == 1


async def test_patient_cannot_accept_own_booking_nor_force_a_payment(client, people, sessionmaker):
    booking_id = (await _request(client, people))["id"]
    assert (await _move(client, people.coordinator, booking_id, "under_review")).status_code == 200

    accepted = await _move(client, people.patient, booking_id, "accepted")
    assert accepted.status_code == 403
    assert accepted.json()["error"]["code"] == "ROLE_NOT_ALLOWED"

    paid = await _move(client, people.admin, booking_id, "payment_completed")
    assert paid.status_code == 409  # not even a move from under_review, whoever asks
    assert [h.to_status for h in await _history(sessionmaker, booking_id)] == [
        "requested",
        "under_review",
    ]


async def test_another_patients_booking_is_not_found_and_leaks_nothing(client, people):
    booking_id = (await _request(client, people))["id"]

    for call in (
        client.get(f"/bookings/{booking_id}", headers=people.other_patient),
        client.get(f"/bookings/{booking_id}/timeline", headers=people.other_patient),
        _move(client, people.other_patient, booking_id, "cancelled"),
        client.get(f"/bookings/{booking_id}", headers=people.other_hospital_admin),
    ):
        response = await call
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "BOOKING_NOT_FOUND"
        assert "osteoarthritis" not in response.text
    listed = await client.get("/bookings", headers=people.other_patient)
    assert listed.json()["data"] == [] and listed.json()["meta"]["total"] == 0
    mine = await client.get("/bookings", headers=people.hospital_admin)
    assert [b["id"] for b in mine.json()["data"]] == [booking_id]


async def test_list_filters_and_pages_newest_first(client, people):
    first = (await _request(client, people))["id"]
    second = (await _request(client, people))["id"]
    await _move(client, people.coordinator, second, "under_review")

    everything = await client.get("/bookings", headers=people.admin, params={"limit": 1})
    meta = everything.json()["meta"]
    assert {k: meta[k] for k in ("page", "limit", "total", "total_exact")} == {
        "page": 1,
        "limit": 1,
        "total": 2,
        "total_exact": True,
    }
    following = await client.get(
        "/bookings", headers=people.admin, params={"limit": 1, "after": meta["next"]}
    )
    assert [b["id"] for b in following.json()["data"]] == [first]
    assert following.json()["meta"]["page"] == 2 and following.json()["meta"]["next"] is None
    assert everything.json()["data"][0]["id"] == second
    reviewing = await client.get(
        "/bookings", headers=people.coordinator, params={"status": "under_review"}
    )
    assert [b["id"] for b in reviewing.json()["data"]] == [second]
    today = datetime.now(UTC).date().isoformat()
    dated = await client.get(
        "/bookings",
        headers=people.admin,
        params={"created_from": today, "hospital_id": str(people.hospital_id)},
    )
    assert {b["id"] for b in dated.json()["data"]} == {first, second}


async def test_retrying_with_the_same_idempotency_key_returns_the_same_booking(client, people):
    key = "retry-" + uuid.uuid4().hex
    first = await _request(client, people, **{"Idempotency-Key": key})
    again = await _request(client, people, **{"Idempotency-Key": key})
    other = await _request(client, people, **{"Idempotency-Key": key + "-other"})

    assert again["id"] == first["id"]
    assert again["booking_number"] == first["booking_number"]
    assert other["id"] != first["id"]
    listed = await client.get("/bookings", headers=people.patient)
    assert listed.json()["meta"]["total"] == 2


async def test_concurrent_identical_patches_give_one_200_and_a_gap_free_history(
    client, people, sessionmaker
):
    booking_id = (await _request(client, people))["id"]

    responses = await asyncio.gather(
        *(_move(client, people.coordinator, booking_id, "under_review") for _ in range(5))
    )

    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "INVALID_TRANSITION"
    }
    assert [h.seq for h in await _history(sessionmaker, booking_id)] == [1, 2]


async def test_quotation_total_must_be_the_sum_of_its_items(client, people):
    booking_id = (await _request(client, people))["id"]
    response = await client.post(
        f"/bookings/{booking_id}/quotation",
        headers=people.coordinator,
        json={
            "items": [{"description": "Surgery", "amount": "100.00"}],
            "currency": "USD",
            "valid_until": "2099-01-01",
            "total_amount": "150.00",
        },
    )
    assert response.status_code == 422


async def test_a_quotation_valid_until_a_plain_date_holds_to_the_end_of_that_day_utc(
    client, people
):
    booking_id = (await _request(client, people))["id"]
    for status in ("under_review", "accepted"):
        assert (await _move(client, people.coordinator, booking_id, status)).status_code == 200
    day = (datetime.now(UTC) + timedelta(days=30)).date()
    response = await client.post(
        f"/bookings/{booking_id}/quotation",
        headers=people.coordinator,
        json={
            "items": [{"description": "Surgery", "amount": "100.00"}],
            "currency": "USD",
            "valid_until": day.isoformat(),
        },
    )
    assert response.status_code == 200, response.text
    quotation = response.json()["data"]["quotation_details"]
    assert datetime.fromisoformat(quotation["valid_until"]) == datetime(
        day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC
    )


async def test_details_change_until_confirmed_and_cancel_after_payment_asks_for_a_refund(
    client, people, temporal_client
):
    booking_id = (await _request(client, people))["id"]
    edited = await client.patch(
        f"/bookings/{booking_id}", headers=people.patient, json={"notes": "Vegetarian meals"}
    )
    assert edited.status_code == 200 and edited.json()["data"]["notes"] == "Vegetarian meals"
    assigned = await client.patch(
        f"/bookings/{booking_id}/coordinator",
        headers=people.admin,
        json={
            "coordinator_id": (
                await client.get("/auth/profile", headers=people.coordinator)
            ).json()["data"]["id"]
        },
    )
    assert assigned.status_code == 200, assigned.text
    for status in ("under_review", "accepted"):
        await _move(client, people.coordinator, booking_id, status)
    await _quote(client, people.coordinator, booking_id)
    await _move(client, people.patient, booking_id, "confirmed")
    locked = await client.patch(
        f"/bookings/{booking_id}", headers=people.patient, json={"medical_details": {}}
    )
    assert locked.status_code == 409
    assert locked.json()["error"]["code"] == "BOOKING_NOT_EDITABLE"
    handle = temporal_client.get_workflow_handle(workflow_id(uuid.UUID(booking_id)))
    await handle.signal(BookingWorkflow.payment_succeeded, PaymentEvent())
    await _status_is(client, people.patient, booking_id, "payment_completed")

    cancelled = await client.request(
        "DELETE", f"/bookings/{booking_id}", headers=people.patient, json={"reason": "Visa refused"}
    )

    assert cancelled.status_code == 200, cancelled.text
    data = cancelled.json()["data"]
    assert data["status"] == "cancelled"
    assert data["refund_requested"]["amount"] == "7950.50"
    assert data["refund_requested"]["reason"] == "Visa refused"
    again = await _move(client, people.coordinator, booking_id, "under_review")
    assert again.status_code == 409
    assert again.json()["error"]["details"]["allowed"] == []


# ---- a worker dies mid-journey ----------------------------------------------------------------


async def test_a_worker_killed_mid_journey_leaves_no_duplicate_history_or_notification(
    app, settings, sessionmaker, temporal_client, temporal_dev_server, tmp_path
):
    """The worker runs as a real process (`medivoy worker`) and is SIGKILLed while updates are
    in flight: no graceful shutdown, its cached workflows and running local activities die with
    it. A second process picks the bookings up from their histories; the keyed writes and the
    notification dedupe keys make whatever the first one had done count exactly once."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    first = start_worker(settings, temporal_dev_server.address, tmp_path)
    second: subprocess.Popen[bytes] | None = None
    try:
        await polling(temporal_client, settings.task_queue, first)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as client:
            people = await _people(client, sessionmaker)
            booking_id = (await _request_once_a_worker_takes_it(client, people))["id"]
            await _move(client, people.coordinator, booking_id, "under_review")

            in_flight = asyncio.ensure_future(
                _move(client, people.hospital_admin, booking_id, "accepted")
            )
            await asyncio.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            first.wait()
            second = start_worker(settings, temporal_dev_server.address, tmp_path)
            await polling(temporal_client, settings.task_queue, second)
            # The API waits its deadline at most: a 503 says the move may still be applied,
            # and the second worker applies it.
            answered = await asyncio.wait_for(in_flight, 60)
            assert answered.status_code in (200, 503), answered.text
            if answered.status_code == 503:
                assert answered.json()["error"]["code"] == "WORKFLOW_UNAVAILABLE"

            async def accepted() -> bool:
                got = await client.get(f"/bookings/{booking_id}", headers=people.coordinator)
                return got.json()["data"]["status"] == "accepted"

            await eventually(accepted, within=60)

            await _journey_after_accepted(client, temporal_client, people, booking_id)

        history = await _history(sessionmaker, booking_id)
        assert [h.seq for h in history] == list(range(1, len(JOURNEY) + 1))
        assert [h.to_status for h in history] == JOURNEY
        async with sessionmaker() as db:
            notifications = (
                await db.execute(
                    select(Notification.dedupe_key, Notification.channel, func.count())
                    .where(Notification.dedupe_key.like(f"booking:{booking_id}:%"))
                    .group_by(Notification.dedupe_key, Notification.channel)
                )
            ).all()
            mails = (
                await db.execute(
                    select(OutboxMessage.dedupe_key, func.count())
                    .where(OutboxMessage.dedupe_key.like(f"booking:{booking_id}:%"))
                    .group_by(OutboxMessage.dedupe_key)
                )
            ).all()
        assert notifications and all(count == 1 for *_, count in notifications)
        assert mails and all(count == 1 for _, count in mails)
    finally:
        stop(first, second)


async def _request_once_a_worker_takes_it(
    client: httpx.AsyncClient, people: People
) -> dict[str, Any]:
    """The worker process may still be starting: past the API's deadline the create is a 503
    that says to repeat it with the same Idempotency-Key, which is what a client does."""
    key = {"Idempotency-Key": uuid.uuid4().hex}
    for _ in range(12):
        response = await client.post(
            "/bookings",
            headers={**people.patient, **key},
            json={"hospital_id": str(people.hospital_id), "treatment_id": str(people.treatment_id)},
        )
        if response.status_code == 201:
            return response.json()["data"]
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "WORKFLOW_UNAVAILABLE"
    raise AssertionError("no worker took the booking")


async def _journey_after_accepted(
    client: httpx.AsyncClient, temporal: Client, people: People, booking_id: str
) -> None:
    # Right after a worker died, the workflow may still wait for the write the dead worker held
    # (until that activity's timeout): the API answers 503 and the client repeats the command
    # with the same Idempotency-Key, as the answer says.
    async def answered(send: Callable[[dict[str, str]], Awaitable[httpx.Response]]) -> int:
        key = {"Idempotency-Key": uuid.uuid4().hex}
        for _ in range(10):
            response = await send(key)
            if response.status_code != 503:
                return response.status_code
            assert response.json()["error"]["code"] == "WORKFLOW_UNAVAILABLE", response.text
        return response.status_code

    assert (
        await answered(
            lambda key: _move(
                client, {**people.coordinator, **key}, booking_id, "awaiting_medical_details"
            )
        )
        == 200
    )
    assert (
        await answered(lambda key: _quote(client, {**people.coordinator, **key}, booking_id)) == 200
    )
    assert (
        await answered(
            lambda key: _move(client, {**people.patient, **key}, booking_id, "confirmed")
        )
        == 200
    )
    handle = temporal.get_workflow_handle(workflow_id(uuid.UUID(booking_id)))
    for sig, status in (
        (BookingWorkflow.payment_started, "payment_pending"),
        (BookingWorkflow.payment_succeeded, "payment_completed"),
    ):
        await handle.signal(sig, PaymentEvent())
        await _status_is(client, people.patient, booking_id, status)
    await handle.signal(BookingWorkflow.invoice_sent, InvoiceEvent())
    await _status_is(client, people.patient, booking_id, "invoice_sent")
    for headers, status in [
        (people.coordinator, "travel_arrangement"),
        (people.hospital_admin, "in_treatment"),
        (people.hospital_admin, "completed"),
    ]:
        assert (await _move(client, headers, booking_id, status)).status_code == 200
    await handle.signal(BookingWorkflow.feedback_received, FeedbackEvent())
    await _status_is(client, people.patient, booking_id, "feedback_received")


async def test_a_record_uploaded_while_awaiting_details_tells_the_coordinator(
    client, people, sessionmaker
):
    """The upload endpoint signals the booking's workflow; the workflow tells the staff."""
    from tests.builders.upload_samples import PDF

    booking_id = (await _request(client, people))["id"]
    for status in ("under_review", "accepted", "awaiting_medical_details"):
        assert (await _move(client, people.coordinator, booking_id, status)).status_code == 200
    uploaded = await client.post(
        "/medical-records",
        headers=people.patient,
        data={"record_type": "mri", "title": "Knee MRI"},
        files={"file": ("knee-mri.pdf", PDF, "application/pdf")},
    )
    assert uploaded.status_code == 201, uploaded.text
    record_id = uploaded.json()["data"]["id"]

    async def staff_told() -> list[Notification] | None:
        async with sessionmaker() as db:
            rows = list(
                await db.scalars(
                    select(Notification).where(
                        Notification.dedupe_key.like(f"booking:{booking_id}:record:{record_id}:%"),
                        Notification.channel == "in_app",
                    )
                )
            )
        return rows or None

    told = await eventually(staff_told)
    assert all("MRI" not in (n.message or "") for n in told)  # no medical detail in-app


def test_an_update_that_met_the_workflow_closing_is_asked_again_and_nothing_else() -> None:
    """The server's WorkflowNotReady answer (an update arriving as a just-cancelled booking's
    workflow finishes) means the update was not taken: the API asks again, then answers 409."""
    from temporalio.service import RPCError, RPCStatusCode

    from api.services.lifecycle import workflow_not_ready as _workflow_busy_closing

    raw = (
        b"\x08\t\x12TUnable to perform workflow execution update due to unexpected workflow task"
        b" failure.\x1aJ\nHtype.googleapis.com/temporal.api.errordetails.v1.WorkflowNotReadyFailure"
    )
    closing = RPCError(
        "Unable to perform workflow execution update due to unexpected workflow task failure.",
        RPCStatusCode.FAILED_PRECONDITION,
        raw,
    )
    assert _workflow_busy_closing(closing)
    gone = RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")
    assert not _workflow_busy_closing(gone)
    other = RPCError("namespace invalid", RPCStatusCode.FAILED_PRECONDITION, b"")
    assert not _workflow_busy_closing(other)


PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def test_a_coordinator_sees_the_queue_as_a_summary_and_medical_data_once_assigned(
    client, people, sessionmaker
):
    from domain.access import Role
    from tests.builders.users import create_user, headers_for

    other = headers_for(await create_user(sessionmaker, Role.COORDINATOR, first_name="Other"))
    booking = await _request(client, people)
    booking_id, patient_id = booking["id"], booking["patient_id"]
    record = await client.post(
        "/medical-records",
        headers=people.patient,
        data={"record_type": "xray", "title": "Knee X-Ray"},
        files={"file": ("knee.pdf", PDF_BYTES, "application/pdf")},
    )
    assert record.status_code == 201, record.text
    record_url = f"/medical-records/{record.json()['data']['id']}"

    # In the queue: the summary, without the medical and travel details or the notes ...
    detail = (await client.get(f"/bookings/{booking_id}", headers=people.coordinator)).json()
    summary = detail["data"]
    assert summary["status"] == "requested" and summary["booking_number"]
    assert summary["medical_visible"] is False
    assert (summary["medical_details"], summary["travel_details"], summary["notes"]) == (
        None,
        None,
        None,
    )
    # ... the same on every read of it: the patient's bookings and the booking list agree.
    of_patient = await client.get(f"/patients/{patient_id}/bookings", headers=people.coordinator)
    assert of_patient.status_code == 200, of_patient.text
    assert [b for b in of_patient.json()["data"] if b["id"] == booking_id] == [summary]
    listed = await client.get("/bookings", headers=people.coordinator)
    assert [b for b in listed.json()["data"] if b["id"] == booking_id] == [summary]
    # Neither the patient's medical records, nor writing the booking's medical details.
    assert (await client.get(record_url, headers=people.coordinator)).status_code == 404
    edit = await client.patch(record_url, headers=people.coordinator, json={"title": "Mine"})
    assert edit.status_code == 404
    refused = await client.patch(
        f"/bookings/{booking_id}",
        headers=people.coordinator,
        json={"medical_details": {"diagnosis": "none"}},
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "BOOKING_NOT_ASSIGNED"
    own = (await client.get(f"/bookings/{booking_id}", headers=people.patient)).json()["data"]
    assert own["medical_details"] == {"diagnosis": "osteoarthritis"}
    assert own["notes"] == "Wheelchair at the airport" and own["medical_visible"] is True

    # Taken: the coordinator sees it whole, and the patient's records; another does not.
    me = (await client.get("/auth/profile", headers=people.coordinator)).json()["data"]
    taken = await client.patch(
        f"/bookings/{booking_id}/coordinator",
        headers=people.coordinator,
        json={"coordinator_id": me["id"]},
    )
    assert taken.status_code == 200, taken.text
    whole = taken.json()["data"]
    assert whole["medical_visible"] is True
    assert whole["medical_details"] == {"diagnosis": "osteoarthritis"}
    assert whole["notes"] == "Wheelchair at the airport"
    of_patient = await client.get(f"/patients/{patient_id}/bookings", headers=people.coordinator)
    assert [b for b in of_patient.json()["data"] if b["id"] == booking_id] == [
        (await client.get(f"/bookings/{booking_id}", headers=people.coordinator)).json()["data"]
    ]
    assert (await client.get(record_url, headers=people.coordinator)).status_code == 200
    assert (await client.get(f"/bookings/{booking_id}", headers=other)).status_code == 404
    assert (await client.get(record_url, headers=other)).status_code == 404


async def test_a_moves_answer_is_the_row_as_stored_for_each_caller(client, people):
    """A status move and a quotation are answered from the read before the command and the
    workflow's view (one read per move): the answer equals the row read afresh, medical fields
    hidden as they are for whoever asks, confirmed_date set by the move included."""
    booking_id = (await _request(client, people))["id"]
    steps = [
        (people.coordinator, "under_review"),
        (people.hospital_admin, "accepted"),
        (people.hospital_admin, "quotation"),
        (people.patient, "confirmed"),
    ]
    for headers, step in steps:
        if step == "quotation":
            response = await _quote(client, headers, booking_id)
        else:
            response = await _move(client, headers, booking_id, step)
        assert response.status_code == 200, response.text
        answer = response.json()["data"]
        fresh = (await client.get(f"/bookings/{booking_id}", headers=headers)).json()["data"]
        assert answer == fresh
    assert answer["status"] == "confirmed" and answer["confirmed_date"] is not None
    assert answer["quotation_details"]["total_amount"] == "7950.50"
    assert answer["medical_details"] == {"diagnosis": "osteoarthritis"}  # the patient's own
