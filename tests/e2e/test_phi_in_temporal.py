"""Medical details never sit in Temporal in plain text: after a whole booking journey (and an
appointment) on the real dev server, the raw histories, workflow ids, memos and search attributes
of every workflow it ran (the lifecycle's and its notifications) hold no patient name, e-mail,
phone, complaint, diagnosis or note, while staff reading the same payloads through the codec
endpoint see them all."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowExecution

from domain.access import Role
from domain.models.bookings import Booking
from domain.models.catalog import Doctor
from domain.models.users import Patient
from runtime.settings import Settings
from runtime.temporal_server import TemporalDevServer
from tests.builders.booking_builders import People, booking_people
from tests.builders.helpers import eventually
from tests.builders.stripe_builders import customer_pays, signed_succeeded_event
from tests.builders.temporal_histories import UiView, found_in, history_payloads, ui_view
from tests.builders.users import create_user, headers_for
from workflows.booking import BookingWorkflow, FeedbackEvent, InvoiceEvent, PaymentEvent
from workflows.messages import (
    APPOINTMENT_WORKFLOW,
    BOOKING_WORKFLOW,
    INVOICE_WORKFLOW,
    NOTIFICATION_WORKFLOW,
    PAYMENT_WORKFLOW,
    PRESCRIPTION_WORKFLOW,
    appointment_workflow_id,
    booking_workflow_id,
    payment_workflow_id,
)

if TYPE_CHECKING:
    from tests.fixtures.payment_fixtures import LocalStripe

pytestmark = pytest.mark.usefixtures("worker")
pytest_plugins = ["tests.fixtures.payment_fixtures"]

WEBHOOK_SECRET = "whsec_medivoy_phi"


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings], localstripe: LocalStripe, tmp_path: Path
) -> Settings:
    """Stripe is localstripe (for the journey paid at the gateway); files in this test's dir."""
    return make_settings(
        stripe_secret_key=localstripe.api_key,
        stripe_api_base=localstripe.url,
        stripe_publishable_key="pk_test_medivoy",
        stripe_webhook_secret=WEBHOOK_SECRET,
        storage_dir=str(tmp_path / "files"),
    )


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
    client: httpx.AsyncClient,
    temporal: Client,
    people: People,
    patient: dict[str, str],
    *,
    on_quoted: Callable[[str], Awaitable[None]] | None = None,
    pay: Callable[[str], Awaitable[None]] | None = None,
) -> str:
    """The whole journey; `on_quoted` looks at the booking once its quotation is out, `pay`
    pays it for real (through to invoice_sent) instead of signalling what a payment would."""
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
    if on_quoted is not None:
        await on_quoted(booking_id)
    await move(patient, "confirmed")
    handle = temporal.get_workflow_handle(booking_workflow_id(uuid.UUID(booking_id)))
    if pay is not None:
        await pay(booking_id)
    else:
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


async def _workflows_of(
    temporal: Client, task_queue: str, workflow_id: str, *also: str, notified: bool = True
) -> list[Any]:
    """Every workflow the journey ran on this test's task queue, once the lifecycle's own, its
    notification children (`notified`: a booking alone notifies through activities, patch
    booking-notify-inline) and the workflow types in `also` are listed."""

    async def listed() -> list[WorkflowExecution] | None:
        found = [w async for w in temporal.list_workflows(f"TaskQueue = '{task_queue}'")]
        types = {w.workflow_type for w in found}
        ids = {w.id for w in found}
        wanted = {*also, *(["DeliverNotification"] if notified else [])}
        ready = workflow_id in ids and wanted <= types
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
        temporal_client, task_queue, booking_workflow_id(uuid.UUID(booking_id)), notified=False
    )
    # The booking's notifications are activities of its own run, which carry ids, the
    # template and its words only (the recipient's address is read inside the activity).
    assert {e.workflow_type for e in executions} == {BOOKING_WORKFLOW}
    await _outsider_sees_nothing_staff_see_all(
        client,
        temporal_dev_server,
        temporal_client,
        executions,
        people.coordinator,
        MEDICAL,
        personal_in_payloads=False,
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
    assert executions and len(payloads) > 20
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


async def test_a_booking_paid_at_stripe_with_its_invoice_holds_no_personal_text_and_reads_like_the_product(  # noqa: E501
    client_with_worker: httpx.AsyncClient,
    temporal_client: Client,
    temporal_dev_server: TemporalDevServer,
    sessionmaker,
    task_queue: str,
    localstripe: LocalStripe,
):
    """The journey with a real PaymentWorkflow (Stripe SDK against localstripe, a signed
    webhook) and its InvoiceDeliveryWorkflow child: no personal or medical text in any raw
    history, id, search attribute, memo or summary; and what the Temporal UI shows of each run
    (summary, details, current details, the summaries of its activities, timers and children),
    decoded as staff read it, is ids, numbers, statuses and deadlines only."""
    client = client_with_worker
    people = await booking_people(sessionmaker)
    patient = headers_for(
        await create_user(
            sessionmaker, Role.PATIENT, email=EMAIL, phone=PHONE, first_name=FIRST, last_name=LAST
        )
    )
    seen: dict[str, str] = {}

    async def on_quoted(booking_id: str) -> None:
        async def quoted() -> str | None:
            view = await ui_view(temporal_client, booking_workflow_id(uuid.UUID(booking_id)))
            return view.current_details if "`quotation_sent`" in view.current_details else None

        seen["quoted"] = await eventually(quoted, within=30)

    async def pay(booking_id: str) -> None:
        created = await client.post(
            "/payments",
            headers={**patient, "Idempotency-Key": f"phi-{booking_id}"},
            json={
                "booking_id": booking_id,
                "currency": "USD",
                "payment_method": "card",
                "payment_gateway": "stripe",
                "amount": "7000.00",
            },
        )
        assert created.status_code == 201, created.text
        checkout = created.json()["data"]
        payment_id, intent_id = checkout["payment_id"], checkout["gateway_id"]
        seen["payment_id"] = payment_id

        async def waiting() -> str | None:
            view = await ui_view(temporal_client, payment_workflow_id(uuid.UUID(payment_id)))
            return view.current_details if "the customer to pay" in view.current_details else None

        seen["paying"] = await eventually(waiting, within=30)
        await asyncio.to_thread(customer_pays, localstripe, intent_id)
        body, signature = signed_succeeded_event(intent_id, payment_id, WEBHOOK_SECRET)
        answer = await client.post("/webhooks/stripe", content=body, headers=signature)
        assert answer.status_code == 200, answer.text

    booking_id = await _book_and_travel(
        client, temporal_client, people, patient, on_quoted=on_quoted, pay=pay
    )
    executions = await _workflows_of(
        temporal_client,
        task_queue,
        booking_workflow_id(uuid.UUID(booking_id)),
        PAYMENT_WORKFLOW,
        INVOICE_WORKFLOW,
    )
    assert {BOOKING_WORKFLOW, PAYMENT_WORKFLOW, INVOICE_WORKFLOW, NOTIFICATION_WORKFLOW} <= {
        e.workflow_type for e in executions
    }
    await _outsider_sees_nothing_staff_see_all(
        client,
        temporal_dev_server,
        temporal_client,
        executions,
        people.coordinator,
        MEDICAL,
        personal_in_payloads=True,
    )

    # What the Temporal UI shows, decoded with the codec: the product's words, ids and numbers.
    views = [await ui_view(temporal_client, e.id, e.run_id) for e in executions]
    shown = [text.encode() for view in views for text in [view.workflow_id, *view.texts()]]
    shown += [text.encode() for text in seen.values()]
    assert found_in(shown, PERSONAL | MEDICAL) == set()
    by_type: dict[str, list[UiView]] = {}
    for view in views:
        by_type.setdefault(view.workflow_type, []).append(view)
    async with sessionmaker() as db:
        number = await db.scalar(
            select(Booking.booking_number).where(Booking.id == uuid.UUID(booking_id))
        )
    payment_id = seen["payment_id"]

    [booking] = by_type[BOOKING_WORKFLOW]
    assert booking.static_summary == f"Booking {number}"
    assert booking.static_details is not None and booking_id in booking.static_details
    assert f"**Booking {number}**" in booking.current_details
    assert "`feedback_received`" in booking.current_details
    assert f"**Booking {number}**" in seen["quoted"]
    assert "quotation expires" in seen["quoted"] and "until 2026-12-" in seen["quoted"]
    timers = booking.event_summaries["EVENT_TYPE_TIMER_STARTED"]
    assert "review SLA alert" in timers and "quotation reminder" in timers
    # The row is created by a local activity (a marker); a move's write runs once its update is
    # accepted, as an activity (workflows/_kit.write_after_accept); a step's notifications are
    # one activity (booking-notify-inline), no child workflow.
    assert "create the booking row" in booking.event_summaries["EVENT_TYPE_MARKER_RECORDED"]
    moves = booking.event_summaries["EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]
    assert "status confirmed → payment_pending" in moves
    assert "booking_status_changed to 2 users" in moves
    assert "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED" not in booking.event_summaries

    [payment] = by_type[PAYMENT_WORKFLOW]
    assert payment.static_summary == f"Payment {payment_id}"
    assert payment.static_details is not None and booking_id in payment.static_details
    assert f"**Payment {payment_id} for {number}**" in seen["paying"]
    assert "the customer to pay at stripe" in seen["paying"] and " UTC" in seen["paying"]
    assert (
        "create the gateway intent" in payment.event_summaries["EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]
    )
    assert "gateway poll" in payment.event_summaries["EVENT_TYPE_TIMER_STARTED"]
    [invoice_child] = payment.event_summaries[
        "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED"
    ][:1]
    assert invoice_child.startswith("Invoice ") and f"of payment {payment_id}" in invoice_child

    [invoice] = by_type[INVOICE_WORKFLOW]
    assert invoice.static_summary == invoice_child
    assert (
        invoice.current_details.startswith("**Invoice ")
        and "`delivered`" in invoice.current_details
    )
    assert "render the invoice PDF" in invoice.event_summaries["EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]

    for notification in by_type[NOTIFICATION_WORKFLOW]:
        assert notification.static_summary and " to user " in notification.static_summary
        assert notification.current_details.startswith(f"**{notification.static_summary}**")


MEDICATION = "Sumatriptan nasal spray"
DOSAGE = "20mg at onset"
INSTRUCTION = "Stop if chest tightness from the migraine medication"


async def test_a_prescriptions_delivery_holds_no_medication_and_reads_like_the_product(
    client_with_worker: httpx.AsyncClient,
    temporal_client: Client,
    temporal_dev_server: TemporalDevServer,
    sessionmaker,
    task_queue: str,
):
    """A teleconsultation under way, its prescription written (medications, instructions), the
    PDF rendered and mailed by PrescriptionDeliveryWorkflow: no personal or medical text in any
    raw history, id or summary of the appointment, the delivery or its notifications; the UI
    shows the appointment number, statuses and deadlines."""
    client = client_with_worker
    patient_user = await create_user(
        sessionmaker, Role.PATIENT, email=EMAIL, phone=PHONE, first_name=FIRST, last_name=LAST
    )
    doctor_user = await create_user(sessionmaker, Role.DOCTOR)
    doctor = headers_for(doctor_user)
    admin = headers_for(await create_user(sessionmaker, Role.ADMIN))
    async with sessionmaker() as db:
        patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient_user.id))
        doctor_id = await db.scalar(select(Doctor.id).where(Doctor.user_id == doctor_user.id))
    created = await client.post(
        "/appointments",
        headers=admin,
        json={
            "patient_id": str(patient_id),
            "doctor_id": str(doctor_id),
            "scheduled_date": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
            "chief_complaint": APPOINTMENT_COMPLAINT,
            "override": True,
        },
    )
    assert created.status_code == 201, created.text
    appointment = created.json()["data"]
    appointment_id, number = appointment["id"], appointment["appointment_number"]
    for step in ("appointment_confirmed", "consultation_in_progress"):
        moved = await client.patch(
            f"/appointments/{appointment_id}/status", headers=doctor, json={"status": step}
        )
        assert moved.status_code == 200, moved.text
    wid = appointment_workflow_id(uuid.UUID(appointment_id))
    running = await ui_view(temporal_client, wid)
    written = await client.post(
        f"/appointments/{appointment_id}/prescription",
        headers=doctor,
        json={
            "medications": [
                {"name": MEDICATION, "dosage": DOSAGE, "frequency": "once", "duration": "3 days"}
            ],
            "instructions": INSTRUCTION,
            "valid_until": "2030-06-30",
        },
    )
    assert written.status_code == 201, written.text
    prescription_id = written.json()["data"]["prescription"]["id"]

    async def mailed() -> bool | None:
        view = await ui_view(temporal_client, f"prescription-{prescription_id}")
        return True if "`delivered`" in view.current_details else None

    await eventually(mailed, within=60)
    executions = await _workflows_of(temporal_client, task_queue, wid, PRESCRIPTION_WORKFLOW)
    medical = {APPOINTMENT_COMPLAINT, MEDICATION, DOSAGE, INSTRUCTION}
    await _outsider_sees_nothing_staff_see_all(
        client,
        temporal_dev_server,
        temporal_client,
        executions,
        admin,
        medical,
        personal_in_payloads=False,
    )

    views = [await ui_view(temporal_client, e.id, e.run_id) for e in executions]
    shown = [
        text.encode() for view in [running, *views] for text in [view.workflow_id, *view.texts()]
    ]
    assert found_in(shown, PERSONAL | medical) == set()
    by_type: dict[str, list[UiView]] = {}
    for view in views:
        by_type.setdefault(view.workflow_type, []).append(view)
    [lifecycle] = by_type[APPOINTMENT_WORKFLOW]
    assert lifecycle.static_summary == f"Appointment {number}"
    assert lifecycle.static_details is not None and str(doctor_id) in lifecycle.static_details
    assert f"**Appointment {number}**" in running.current_details
    assert "`consultation_in_progress`" in running.current_details
    assert "`prescription_provided`" in lifecycle.current_details
    assert (
        "status consultation_in_progress → prescription_provided"
        in (lifecycle.event_summaries["EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"])
    )
    children = lifecycle.event_summaries["EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED"]
    assert f"Prescription {prescription_id}: PDF and e-mail" in children
    # Which timers a run started depends on how fast the moves came; each is named for what it is.
    timers = lifecycle.event_summaries["EVENT_TYPE_TIMER_STARTED"]
    named = {"confirmation deadline", "payment deadline", "awaiting consultation", "no-show check"}
    assert timers and all(t in named or t.startswith("reminder") for t in timers), timers
    assert "open the video room" in lifecycle.event_summaries["EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]
    [delivery] = by_type[PRESCRIPTION_WORKFLOW]
    assert delivery.static_summary == f"Prescription {prescription_id}: PDF and e-mail"
    assert (
        "render the prescription PDF"
        in (delivery.event_summaries["EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"])
    )
