"""Medical details never sit in Temporal in plain text: after a whole booking journey (and an
appointment) on the real dev server, the raw histories, workflow ids, memos and search attributes
of every workflow it ran (the lifecycle's and its notifications) hold no patient name, e-mail,
phone, complaint, diagnosis or note, while staff reading the same payloads through the codec
endpoint see them all."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowExecution

from domain.access import Role
from domain.models.catalog import Doctor
from domain.models.users import Patient
from runtime.temporal_server import TemporalDevServer
from tests.builders.booking_builders import People, booking_people
from tests.builders.helpers import eventually
from tests.builders.temporal_histories import found_in, history_payloads
from tests.builders.users import create_user, headers_for
from workflows.booking import BookingWorkflow, FeedbackEvent, InvoiceEvent, PaymentEvent
from workflows.messages import appointment_workflow_id, booking_workflow_id

pytestmark = pytest.mark.usefixtures("worker")

FIRST, LAST = "Zenobia", "Quarrington"
EMAIL = "zenobia.quarrington@example.com"
PHONE = "+15550104477"
COMPLAINT = "Persistent stabbing pain in the left knee"
DIAGNOSIS = "Osteochondritis dissecans grade III"
HISTORY = "Allergic to penicillin since childhood"
NOTES = "Needs a wheelchair because of vertigo"
EDITED = "Prefers vegetarian meals because of gastritis"
MOVE_NOTE = "MRI reviewed, lesion confirmed on the lateral condyle"
PERSONAL = {FIRST, LAST, EMAIL, PHONE}
MEDICAL = {COMPLAINT, DIAGNOSIS, HISTORY, NOTES, EDITED, MOVE_NOTE}


async def _book_and_travel(
    client: httpx.AsyncClient, temporal: Client, people: People, patient: dict[str, str]
) -> str:
    created = await client.post(
        "/bookings",
        headers=patient,
        json={
            "hospital_id": str(people.hospital_id),
            "treatment_id": str(people.treatment_id),
            "booking_type": "treatment",
            "requested_date": "2026-12-15",
            "medical_details": {
                "chief_complaint": COMPLAINT,
                "diagnosis": DIAGNOSIS,
                "medical_history": HISTORY,
            },
            "notes": NOTES,
        },
    )
    assert created.status_code == 201, created.text
    booking_id: str = created.json()["data"]["id"]
    edited = await client.patch(f"/bookings/{booking_id}", headers=patient, json={"notes": EDITED})
    assert edited.status_code == 200, edited.text

    async def move(headers: dict[str, str], status: str, notes: str | None = None) -> None:
        answer = await client.patch(
            f"/bookings/{booking_id}/status",
            headers=headers,
            json={"status": status, **({"notes": notes} if notes else {})},
        )
        assert answer.status_code == 200, answer.text

    async def reaches(status: str) -> None:
        async def probe() -> bool | None:
            got = await client.get(f"/bookings/{booking_id}", headers=patient)
            return True if got.json()["data"]["status"] == status else None

        await eventually(probe)

    await move(people.coordinator, "under_review", MOVE_NOTE)
    await move(people.hospital_admin, "accepted")
    await move(people.coordinator, "awaiting_medical_details")
    quoted = await client.post(
        f"/bookings/{booking_id}/quotation",
        headers=people.coordinator,
        json={
            "items": [{"description": "Surgery", "amount": "7000.00"}],
            "currency": "usd",
            "valid_until": "2026-12-31T00:00:00Z",
            "total_amount": "7000.00",
        },
    )
    assert quoted.status_code == 200, quoted.text
    await move(patient, "confirmed")
    handle = temporal.get_workflow_handle(booking_workflow_id(uuid.UUID(booking_id)))
    await handle.signal(BookingWorkflow.payment_started, PaymentEvent())
    await reaches("payment_pending")
    await handle.signal(BookingWorkflow.payment_succeeded, PaymentEvent())
    await reaches("payment_completed")
    await handle.signal(BookingWorkflow.invoice_sent, InvoiceEvent())
    await reaches("invoice_sent")
    await move(people.coordinator, "travel_arrangement")
    await move(people.hospital_admin, "in_treatment")
    await move(people.hospital_admin, "completed")
    await handle.signal(BookingWorkflow.feedback_received, FeedbackEvent())
    await reaches("feedback_received")
    return booking_id


async def _workflows_of(temporal: Client, task_queue: str, workflow_id: str) -> list[Any]:
    """Every workflow the journey ran on this test's task queue, once the lifecycle's own and
    its notifications are listed."""

    async def listed() -> list[WorkflowExecution] | None:
        found = [w async for w in temporal.list_workflows(f"TaskQueue = '{task_queue}'")]
        types = {w.workflow_type for w in found}
        ids = {w.id for w in found}
        ready = workflow_id in ids and "DeliverNotification" in types
        return found if ready else None

    return await eventually(listed, within=30)


async def test_raw_histories_hold_no_personal_or_medical_text_but_staff_decode_it(
    client_with_worker: httpx.AsyncClient,
    temporal_client: Client,
    temporal_dev_server: TemporalDevServer,
    sessionmaker,
    task_queue: str,
):
    client = client_with_worker
    people = await booking_people(sessionmaker)
    patient = headers_for(
        await create_user(
            sessionmaker, Role.PATIENT, email=EMAIL, phone=PHONE, first_name=FIRST, last_name=LAST
        )
    )
    booking_id = await _book_and_travel(client, temporal_client, people, patient)
    executions = await _workflows_of(
        temporal_client, task_queue, booking_workflow_id(uuid.UUID(booking_id))
    )
    await _outsider_sees_nothing_staff_see_all(
        client,
        temporal_dev_server,
        temporal_client,
        executions,
        people.coordinator,
        MEDICAL,
        personal_in_payloads=True,
    )


async def _outsider_sees_nothing_staff_see_all(
    client: httpx.AsyncClient,
    server: TemporalDevServer,
    temporal: Client,
    executions: list[Any],
    staff: dict[str, str],
    medical: set[str],
    *,
    personal_in_payloads: bool,
) -> None:
    """`personal_in_payloads`: the lifecycle's payloads carry the patient's contact details
    (a booking's notifications do; an appointment's workflows hold ids only, its notification
    children the recipient's)."""
    # An outsider: a client without the codec, reading what the server stores.
    outsider = await Client.connect(server.address)
    raw: list[bytes] = []
    payloads = []
    for execution in executions:
        handle = outsider.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        raw.append(execution.id.encode())
        raw.extend(event.SerializeToString() for event in history.events)
        raw.append((await handle.describe()).raw_description.SerializeToString())
        payloads.extend(history_payloads(history))
    assert len(executions) >= 2 and len(payloads) > 20
    assert found_in(raw, PERSONAL | medical) == set()

    # Staff, through the codec endpoint the Temporal UI calls, read every one of them.
    answer = await client.post(
        "/codec/decode",
        headers={**staff, "X-Namespace": temporal.namespace},
        json={
            "payloads": [
                {
                    "metadata": {k: _b64(v) for k, v in p.metadata.items()},
                    "data": _b64(p.data),
                }
                for p in payloads
            ]
        },
    )
    assert answer.status_code == 200, answer.text
    clear = [base64.b64decode(p["data"]) for p in answer.json()["payloads"]]
    found = found_in(clear, PERSONAL | medical)
    if personal_in_payloads:
        assert found == PERSONAL | medical
    else:
        # The lifecycle's own payloads hold ids only; a notification child it started (listed
        # once visibility has it) carries the recipient's details, decoded for staff as well.
        assert medical <= found


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


APPOINTMENT_COMPLAINT = "Recurring migraines with aura and numbness"
APPOINTMENT_EDITED = "Migraines now daily, with blurred vision"
APPOINTMENT_NOTES = "Takes sumatriptan twice a week"
DOCTOR_NOTE = "Suspected hemiplegic migraine, order an MRI"


async def test_an_appointments_raw_history_holds_no_personal_or_medical_text(
    client_with_worker: httpx.AsyncClient,
    temporal_client: Client,
    temporal_dev_server: TemporalDevServer,
    sessionmaker,
    task_queue: str,
):
    client = client_with_worker
    patient_user = await create_user(
        sessionmaker, Role.PATIENT, email=EMAIL, phone=PHONE, first_name=FIRST, last_name=LAST
    )
    doctor_user = await create_user(sessionmaker, Role.DOCTOR)
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    async with sessionmaker() as db:
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient_user.id))
        doctor_id = await db.scalar(select(Doctor.id).where(Doctor.user_id == doctor_user.id))
    starts = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    created = await client.post(
        "/appointments",
        headers=admin,
        json={
            "patient_id": str(patient_id),
            "doctor_id": str(doctor_id),
            "scheduled_date": starts.isoformat(),
            "chief_complaint": APPOINTMENT_COMPLAINT,
            "override": True,
        },
    )
    assert created.status_code == 201, created.text
    appointment_id = created.json()["data"]["id"]
    edited = await client.patch(
        f"/appointments/{appointment_id}",
        headers=headers_for(patient_user),
        json={"chief_complaint": APPOINTMENT_EDITED},
    )
    assert edited.status_code == 200, edited.text
    noted = await client.patch(
        f"/appointments/{appointment_id}",
        headers=headers_for(doctor_user),
        json={"notes": APPOINTMENT_NOTES},
    )
    assert noted.status_code == 200, noted.text
    confirmed = await client.patch(
        f"/appointments/{appointment_id}/status",
        headers=headers_for(doctor_user),
        json={"status": "appointment_confirmed", "notes": DOCTOR_NOTE},
    )
    assert confirmed.status_code == 200, confirmed.text

    executions = await _workflows_of(
        temporal_client, task_queue, appointment_workflow_id(uuid.UUID(appointment_id))
    )
    await _outsider_sees_nothing_staff_see_all(
        client,
        temporal_dev_server,
        temporal_client,
        executions,
        admin,
        {APPOINTMENT_COMPLAINT, APPOINTMENT_EDITED, APPOINTMENT_NOTES, DOCTOR_NOTE},
        personal_in_payloads=False,
    )
