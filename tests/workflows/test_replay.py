"""Recorded histories replay against the current workflow code, so a non-deterministic change
fails the build. Record a new one with `uv run python -m tests.workflows.test_replay record`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from runtime.settings import Settings
from runtime.temporal import converter
from tests.fixtures.time_skipping import start_indexed
from workflows import ALL_WORKFLOWS

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
RECORDED = {p.stem: json.loads(p.read_text()) for p in sorted(HISTORIES.glob("*.json"))}


def test_every_workflow_has_a_recorded_history():
    recorded = {saved["workflow_type"] for saved in RECORDED.values()}
    missing = {w.__temporal_workflow_definition.name for w in ALL_WORKFLOWS} - recorded  # type: ignore[attr-defined]
    assert not missing, f"record a history for: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_recorded_history_replays_deterministically(name: str):
    saved = RECORDED[name]
    history = WorkflowHistory.from_json(saved["workflow_id"], saved["history"])
    # Through the production converter: the codec passes these unencrypted payloads through.
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=converter(Settings(_env_file=None)))
    assert replayer.config()["data_converter"].payload_codec is not None
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def _record_notification(old_address: bool = False) -> None:
    """Run a verification e-mail through DeliverNotification on a throwaway stack and save it
    (old_address: the notice of a confirmed e-mail change, to the address it replaced)."""
    import tempfile
    import uuid

    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from activities.notify import build_notification_activities, notification_activity_list
    from activities.providers.wiring import build_adapters
    from domain.models.notifications import Channel
    from domain.models.users import User
    from runtime.db import make_engine, make_sessionmaker
    from runtime.migrate import upgrade
    from runtime.postgres import EmbeddedPostgres, free_port
    from runtime.settings import Settings
    from runtime.temporal_server import binary
    from workflows.notification import DeliverNotification, NotificationRequest

    pg = EmbeddedPostgres(Path(tempfile.mkdtemp()), free_port(), durable=False)
    pg.start()
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as db, db.begin():
            user = User(
                id=uuid.uuid4(),
                email="replay@example.com",
                password_hash="x",
                user_type="patient",
                first_name="Replay",
            )
            db.add(user)
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=binary("temporal-test-server"),
        )
        settings = Settings(database_url=pg.url, jwt_secret="x" * 32)
        acts = build_notification_activities(
            settings, sessionmaker, build_adapters(settings, sessionmaker)
        )
        async with Worker(
            env.client,
            task_queue="record",
            workflows=[DeliverNotification],
            activities=notification_activity_list(acts),
        ):
            request = NotificationRequest(
                dedupe_key="verify-email:replay",
                user_id=user.id,
                template="verify_email",
                context={
                    "first_name": "Replay",
                    "token": "t" * 20,
                    "verify_url": "http://x/verify-email?token=" + "t" * 20,
                },
            )
            if old_address:
                request = NotificationRequest(
                    dedupe_key="email-changed:replay",
                    user_id=user.id,
                    template="email_changed",
                    channels=[Channel.EMAIL],
                    to_email="replay.old@example.com",
                )
            handle = await env.client.start_workflow(
                DeliverNotification.run,
                request,
                id=f"notification-{request.dedupe_key}",
                task_queue="record",
            )
            await handle.result()
            history = await handle.fetch_history()
        await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
    out = HISTORIES / (
        "deliver_notification_old_address.json" if old_address else "deliver_notification.json"
    )
    out.write_text(
        json.dumps(
            {
                "workflow_type": "DeliverNotification",
                "workflow_id": handle.id,
                "history": json.loads(history.to_json()),
            },
            indent=1,
        )
    )
    print(f"recorded {out}")


async def _record_notification_push() -> None:
    """An appointment reminder to a user with a registered device, push configured (patch
    notification-push): e-mail, in-app and push through a local FCM peer. Saves the
    DeliverNotification history (deliver_notification_push.json)."""
    import tempfile
    import uuid

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from pytest_httpserver import HTTPServer
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from activities.notify import NotificationActivities, notification_activity_list
    from activities.providers.fcm_push import FcmPush
    from activities.providers.outbox import OutboxEmail, OutboxMessages
    from domain.models.notifications import Channel, UserDevice
    from domain.models.users import User
    from runtime.db import make_engine, make_sessionmaker
    from runtime.migrate import upgrade
    from runtime.postgres import EmbeddedPostgres, free_port
    from runtime.temporal_server import binary
    from tests.fixtures.fcm import CLIENT_EMAIL, PROJECT, SEND_PATH, Google
    from workflows.notification import DeliverNotification, NotificationRequest

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    fcm = HTTPServer(host="127.0.0.1", port=0)
    fcm.start()
    google = Google(private.public_key(), fcm.url_for("/token"))
    fcm.expect_request("/token", method="POST").respond_with_handler(google.token)
    fcm.expect_request(SEND_PATH, method="POST").respond_with_handler(google.send)
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp()), free_port(), durable=False)
    pg.start()
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as db, db.begin():
            user = User(
                id=uuid.uuid4(),
                email="replay-push@example.com",
                password_hash="x",
                user_type="patient",
                first_name="Replay",
            )
            db.add(user)
            await db.flush()
            db.add(UserDevice(user_id=user.id, token="replay-device", platform="android"))
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=binary("temporal-test-server"),
        )
        acts = NotificationActivities(
            sessionmaker,
            OutboxEmail(sessionmaker),
            OutboxMessages(sessionmaker, Channel.SMS),
            OutboxMessages(sessionmaker, Channel.WHATSAPP),
            push=FcmPush(
                PROJECT,
                CLIENT_EMAIL,
                pem,
                token_uri=fcm.url_for("/token"),
                base_url=fcm.url_for("/").rstrip("/"),
            ),
        )
        async with Worker(
            env.client,
            task_queue="record",
            workflows=[DeliverNotification],
            activities=notification_activity_list(acts),
        ):
            handle = await env.client.start_workflow(
                DeliverNotification.run,
                NotificationRequest(
                    dedupe_key="reminder:replay-push:24h",
                    user_id=user.id,
                    template="appointment_reminder",
                    channels=[Channel.EMAIL, Channel.IN_APP],
                    context={
                        "appointment_number": "MV-AP-2026-000009",
                        "before": "24h",
                        "starts_at": "2026-12-10 10:00",
                        "timezone": "UTC",
                    },
                    type="appointment",
                ),
                id="notification-reminder:replay-push:24h",
                task_queue="record",
            )
            result = await handle.result()
            assert "push" in result.channels, result
            assert [m["token"] for m in google.sent] == ["replay-device"], google.sent
            history = await handle.fetch_history()
        await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
        fcm.stop()
    out = HISTORIES / "deliver_notification_push.json"
    out.write_text(
        json.dumps(
            {
                "workflow_type": "DeliverNotification",
                "workflow_id": handle.id,
                "history": json.loads(history.to_json()),
            },
            indent=1,
        )
    )
    print(f"recorded {out}")


async def _record_booking(file_name: str = "booking_journey.json") -> None:
    """Run one booking from request to feedback (quotation, payment signals and a record upload
    included) on a throwaway stack and save its history."""
    import tempfile
    import uuid
    from datetime import timedelta
    from decimal import Decimal

    from temporalio.worker import Worker

    from activities.bookings import BookingActivities, NewBooking, booking_activity_list
    from activities.notify import build_notification_activities, notification_activity_list
    from activities.providers.wiring import build_adapters
    from domain.access import Role
    from domain.booking import BookingStatus as S
    from domain.models.catalog import Hospital
    from domain.models.users import Patient, User
    from runtime.db import make_engine, make_sessionmaker
    from runtime.migrate import upgrade
    from runtime.postgres import EmbeddedPostgres, free_port
    from runtime.settings import Settings
    from workflows.booking import (
        BookingInput,
        BookingWorkflow,
        Caller,
        FeedbackEvent,
        InvoiceEvent,
        PaymentEvent,
        Quotation,
        QuotationItem,
        StatusChange,
        open_booking,
        signal_record_uploaded,
        workflow_id,
    )
    from workflows.notification import DeliverNotification

    pg = EmbeddedPostgres(Path(tempfile.mkdtemp()), free_port(), durable=False)
    pg.start()
    try:
        # Migrated, as the others are (create_all misses the extensions the schema needs).
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        sessionmaker = make_sessionmaker(engine)
        people = {
            role: User(
                id=uuid.uuid4(),
                email=f"{role.value}@example.com",
                password_hash="x",
                user_type=role.value,
                first_name="Replay",
            )
            for role in (Role.PATIENT, Role.COORDINATOR, Role.HOSPITAL_ADMIN)
        }
        patient = Patient(id=uuid.uuid4(), user_id=people[Role.PATIENT].id)
        hospital = Hospital(
            id=uuid.uuid4(), name="Replay Hospital", admin_user_id=people[Role.HOSPITAL_ADMIN].id
        )
        async with sessionmaker() as db, db.begin():
            db.add_all(people.values())
            await db.flush()
            db.add_all([patient, hospital])
        env = await start_indexed(pydantic_data_converter)
        settings = Settings(database_url=pg.url, jwt_secret="x" * 32)
        booking_id = uuid.UUID("00000000-0000-4000-8000-00000000b001")

        def caller(role: Role) -> Caller:
            return Caller(user_id=people[role].id, role=role)

        async def reaches(status: S) -> None:
            # Signals are events: wait until the booking has taken them in.
            for _ in range(200):
                if (await handle.query(BookingWorkflow.waiting_for)).status == status:
                    return
                await asyncio.sleep(0.05)
            raise RuntimeError(f"the booking never reached {status}")

        async with Worker(
            env.client,
            task_queue="record",
            workflows=[BookingWorkflow, DeliverNotification],
            activities=[
                *booking_activity_list(BookingActivities(sessionmaker)),
                *notification_activity_list(
                    build_notification_activities(
                        settings, sessionmaker, build_adapters(settings, sessionmaker)
                    )
                ),
            ],
        ):
            await open_booking(
                env.client,
                "record",
                BookingInput(
                    booking=NewBooking(
                        booking_id=booking_id,
                        booking_number="MV-BK-2026-000001",
                        patient_id=patient.id,
                        hospital_id=hospital.id,
                        coordinator_id=people[Role.COORDINATOR].id,
                        created_by_user_id=people[Role.PATIENT].id,
                        created_by_role="patient",
                    )
                ),
            )
            handle = env.client.get_workflow_handle(workflow_id(booking_id))
            coordinator = caller(Role.COORDINATOR)
            for status in (S.UNDER_REVIEW, S.ACCEPTED, S.AWAITING_MEDICAL_DETAILS):
                await handle.execute_update(
                    BookingWorkflow.change_status, StatusChange(caller=coordinator, status=status)
                )
            await signal_record_uploaded(env.client, booking_id, uuid.uuid4())
            await handle.execute_update(
                BookingWorkflow.send_quotation,
                Quotation(
                    caller=coordinator,
                    items=[QuotationItem(description="Surgery", amount=Decimal("5000"))],
                    currency="USD",
                    valid_until=await env.get_current_time() + timedelta(days=14),
                    total_amount=Decimal("5000"),
                ),
            )
            await env.sleep(timedelta(days=13))  # the reminder fires
            await handle.execute_update(
                BookingWorkflow.change_status,
                StatusChange(caller=caller(Role.PATIENT), status=S.CONFIRMED),
            )
            for signal in (BookingWorkflow.payment_started, BookingWorkflow.payment_succeeded):
                await handle.signal(signal, PaymentEvent())
            await handle.signal(BookingWorkflow.invoice_sent, InvoiceEvent())
            await reaches(S.INVOICE_SENT)
            for status in (S.TRAVEL_ARRANGEMENT, S.IN_TREATMENT, S.COMPLETED):
                await handle.execute_update(
                    BookingWorkflow.change_status, StatusChange(caller=coordinator, status=status)
                )
            await handle.signal(BookingWorkflow.feedback_received, FeedbackEvent())
            await handle.result()
            history = await handle.fetch_history()
        await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
    out = HISTORIES / file_name
    out.write_text(
        json.dumps(
            {
                "workflow_type": "BookingWorkflow",
                "workflow_id": handle.id,
                "history": json.loads(history.to_json()),
            },
            indent=1,
        )
    )
    print(f"recorded {out}")


async def _record_booking_on_the_kit() -> None:
    """The same journey recorded after the kit's search-attribute patch, kept beside the first."""
    await _record_booking("booking_journey_kit.json")


async def _record_booking_after_accept() -> None:
    """The journey recorded after the move-after-accept patch (status writes as activities)."""
    await _record_booking("booking_journey_accept.json")


async def _record_booking_notify_inline() -> None:
    """The journey recorded after the booking-notify-inline patch: each step's notifications
    as one deliver_notifications activity of the booking, no DeliverNotification child."""
    await _record_booking("booking_journey_inline.json")


async def _record_payment_invoice() -> None:
    """Run one payment from checkout to its invoice on a throwaway stack: the invoice goes
    through the InvoiceDeliveryWorkflow child (patch invoice-child). Saves the payment's
    history (payment_invoice_child.json) and the child's (invoice_delivery.json)."""
    import tempfile
    import uuid
    from concurrent.futures import ThreadPoolExecutor
    from decimal import Decimal

    from temporalio.worker import Worker

    from activities.bookings import BookingActivities, booking_activity_list
    from activities.coupons import CouponActivities, coupon_activity_list
    from activities.documents import build_document_activities, document_activity_list
    from activities.notify import build_notification_activities, notification_activity_list
    from activities.payments import (
        NewPayment,
        PaymentActivities,
        invoice_id_for,
        payment_activity_list,
    )
    from activities.providers.webhooks import Outcome
    from activities.providers.wiring import build_adapters
    from domain.payment import PaymentGateway as GatewayName
    from runtime.db import make_engine, make_sessionmaker
    from runtime.migrate import upgrade
    from runtime.postgres import EmbeddedPostgres, free_port
    from runtime.settings import Settings
    from tests.builders.payment_builders import FakeGateway, confirmed_booking, make_cast
    from workflows.messages import InvoiceDelivery, invoice_workflow_id
    from workflows.payment import (
        GatewayEventSignal,
        PaymentInput,
        PaymentTimers,
        PaymentWorkflow,
        open_payment,
    )
    from workflows.payment import workflow_id as payment_workflow_id

    scratch = Path(tempfile.mkdtemp())
    pg = EmbeddedPostgres(scratch / "pg", free_port(), durable=False)
    pg.start()
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        sessionmaker = make_sessionmaker(engine)
        cast = await make_cast(sessionmaker)
        env = await start_indexed(pydantic_data_converter)
        settings = Settings(
            database_url=pg.url,
            jwt_secret="x" * 32,
            storage_dir=str(scratch / "files"),
            tax_rates={"India": Decimal("18")},
        )
        gateway = FakeGateway()
        adapters = build_adapters(settings, sessionmaker)
        payment_id = uuid.UUID("00000000-0000-4000-8000-00000000a001")
        async with Worker(
            env.client,
            task_queue="record",
            workflows=ALL_WORKFLOWS,
            activities=[
                *payment_activity_list(
                    PaymentActivities(sessionmaker, {GatewayName.STRIPE: gateway}, settings)
                ),
                *coupon_activity_list(CouponActivities(sessionmaker)),
                *document_activity_list(
                    build_document_activities(settings, sessionmaker, adapters.storage)
                ),
                *booking_activity_list(BookingActivities(sessionmaker)),
                *notification_activity_list(
                    build_notification_activities(settings, sessionmaker, adapters)
                ),
            ],
            activity_executor=ThreadPoolExecutor(max_workers=4),
        ):
            booking_id = await confirmed_booking(
                env.client, "record", cast, now=await env.get_current_time()
            )
            checkout = await open_payment(
                env.client,
                "record",
                PaymentInput(
                    payment=NewPayment(
                        payment_id=payment_id,
                        booking_id=booking_id,
                        currency="USD",
                        payment_method="card",
                        gateway=GatewayName.STRIPE,
                        created_by_user_id=cast.patient.id,
                        created_by_role="patient",
                    ),
                    # No refund window: the run ends once the invoice is out.
                    timers=PaymentTimers(refund_days=0),
                ),
            )
            assert checkout.gateway_id is not None
            gateway.pay(checkout.gateway_id)
            handle = env.client.get_workflow_handle_for(
                PaymentWorkflow.run, payment_workflow_id(payment_id)
            )
            await handle.signal(
                PaymentWorkflow.gateway_event,
                GatewayEventSignal(
                    event_id="evt_record",
                    event_type="payment_intent.succeeded",
                    outcome=Outcome.SUCCEEDED,
                ),
            )
            view = await handle.result()
            assert view.invoice_id == invoice_id_for(payment_id), view
            child = env.client.get_workflow_handle(
                invoice_workflow_id(
                    InvoiceDelivery(
                        invoice_id=invoice_id_for(payment_id),
                        payment_id=payment_id,
                        issued_on=(await env.get_current_time()).date(),
                    )
                )
            )
            await child.result()
            histories = {
                "payment_invoice_child": (
                    "PaymentWorkflow",
                    handle.id,
                    await handle.fetch_history(),
                ),
                "invoice_delivery": (
                    "InvoiceDeliveryWorkflow",
                    child.id,
                    await child.fetch_history(),
                ),
            }
        await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
    for name, (kind, wid, history) in histories.items():
        out = HISTORIES / f"{name}.json"
        out.write_text(
            json.dumps(
                {
                    "workflow_type": kind,
                    "workflow_id": wid,
                    "history": json.loads(history.to_json()),
                },
                indent=1,
            )
        )
        print(f"recorded {out}")


async def _record_appointment(file_name: str = "appointment_consultation.json") -> None:
    """Run one teleconsultation on a throwaway stack and save its history
    (appointment_consultation.json, or `file_name`): requested, rescheduled by staff, confirmed
    (the video room), awaiting_consultation (the system move), both reminders, both parties
    joining, completed."""
    import tempfile
    import uuid
    from datetime import datetime, timedelta

    from sqlalchemy import select
    from temporalio.worker import Worker

    from activities.appointments import (
        AppointmentActivities,
        NewAppointment,
        appointment_activity_list,
    )
    from activities.notify import build_notification_activities, notification_activity_list
    from activities.providers.video import JitsiRooms
    from activities.providers.wiring import build_adapters
    from domain.access import Role
    from domain.appointment import AppointmentStatus as S
    from domain.models.catalog import Doctor
    from domain.models.users import Patient
    from runtime.db import make_engine, make_sessionmaker
    from runtime.migrate import upgrade
    from runtime.postgres import EmbeddedPostgres, free_port
    from runtime.settings import Settings
    from tests.builders.users import create_user
    from workflows._kit import Caller
    from workflows.appointment import (
        AppointmentInput,
        AppointmentWorkflow,
        Reschedule,
        StatusChange,
        open_appointment,
    )
    from workflows.messages import AppointmentSignal, ParticipantJoined, appointment_workflow_id
    from workflows.notification import DeliverNotification

    scratch = Path(tempfile.mkdtemp())
    pg = EmbeddedPostgres(scratch / "pg", free_port(), durable=False)
    pg.start()
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        sessionmaker = make_sessionmaker(engine)
        patient = await create_user(sessionmaker, Role.PATIENT)
        doctor = await create_user(sessionmaker, Role.DOCTOR)
        admin = await create_user(sessionmaker, Role.ADMIN)
        async with sessionmaker() as db:
            patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient.id))
            doctor_id = await db.scalar(select(Doctor.id).where(Doctor.user_id == doctor.id))
        assert patient_id is not None and doctor_id is not None
        env = await start_indexed(pydantic_data_converter)
        settings = Settings(database_url=pg.url, jwt_secret="x" * 32)
        appointment_id = uuid.UUID("00000000-0000-4000-8000-00000000a701")
        as_doctor = Caller(user_id=doctor.id, role=Role.DOCTOR)
        as_admin = Caller(user_id=admin.id, role=Role.ADMIN)

        async def skip_to(when: datetime) -> None:
            now = await env.get_current_time()
            if when > now:
                await env.sleep(when - now)

        async with Worker(
            env.client,
            task_queue="record",
            workflows=[AppointmentWorkflow, DeliverNotification],
            activities=[
                *appointment_activity_list(
                    AppointmentActivities(sessionmaker, JitsiRooms("https://meet.test", "k"))
                ),
                *notification_activity_list(
                    build_notification_activities(
                        settings, sessionmaker, build_adapters(settings, sessionmaker)
                    )
                ),
            ],
        ):
            now = await env.get_current_time()
            starts = (now + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
            await open_appointment(
                env.client,
                "record",
                AppointmentInput(
                    appointment=NewAppointment(
                        appointment_id=appointment_id,
                        appointment_number="MV-AP-2026-000001",
                        patient_id=patient_id,
                        doctor_id=doctor_id,
                        starts_at=starts,
                        created_by_user_id=admin.id,
                        created_by_role=Role.ADMIN.value,
                        override=True,
                    )
                ),
            )
            handle = env.client.get_workflow_handle(appointment_workflow_id(appointment_id))
            starts += timedelta(days=1)
            await handle.execute_update(
                AppointmentWorkflow.reschedule,
                Reschedule(caller=as_admin, starts_at=starts, reason="clinic", override=True),
            )
            await handle.execute_update(
                AppointmentWorkflow.change_status,
                StatusChange(caller=as_doctor, status=S.APPOINTMENT_CONFIRMED),
            )
            await skip_to(starts - timedelta(minutes=5))  # awaiting, the 24 h and 1 h reminders
            for party, user in (("doctor", doctor), ("patient", patient)):
                await handle.signal(
                    AppointmentSignal.PARTICIPANT_JOINED,
                    ParticipantJoined(party=party, user_id=user.id, at=starts),  # type: ignore[arg-type]
                )
            for _ in range(200):
                if (
                    await handle.query(AppointmentWorkflow.waiting_for)
                ).status == S.CONSULTATION_IN_PROGRESS:
                    break
                await asyncio.sleep(0.05)
            await handle.execute_update(
                AppointmentWorkflow.change_status,
                StatusChange(caller=as_doctor, status=S.CONSULTATION_COMPLETED),
            )
            await handle.result()
            history = await handle.fetch_history()
        await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
    out = HISTORIES / file_name
    out.write_text(
        json.dumps(
            {
                "workflow_type": "AppointmentWorkflow",
                "workflow_id": handle.id,
                "history": json.loads(history.to_json()),
            },
            indent=1,
        )
    )
    print(f"recorded {out}")


async def _record_waitlist() -> None:
    """Two patients wait for a slot that frees (a reschedule): the first is offered it, lets the
    hold expire, the second is offered it and books it, and the doctor's waitlist run ends.
    Saves the DoctorWaitlistWorkflow's history (waitlist_offers.json)."""
    import tempfile
    from datetime import UTC, datetime, timedelta

    from temporalio.worker import Worker

    from activities.appointments import AppointmentActivities, appointment_activity_list
    from activities.notify import NotificationActivities, notification_activity_list
    from activities.providers.outbox import OutboxEmail, OutboxMessages
    from activities.providers.video import JitsiRooms
    from activities.waitlist import WaitlistActivities, waitlist_activity_list
    from domain.access import Role
    from domain.models.notifications import Channel
    from runtime.db import make_engine, make_sessionmaker
    from runtime.migrate import upgrade
    from runtime.postgres import EmbeddedPostgres, free_port
    from tests.builders.waitlist_builders import book, entry_status, join, slot_in, waitlist_cast
    from workflows._kit import Caller
    from workflows.appointment import AppointmentWorkflow, Reschedule
    from workflows.messages import waitlist_workflow_id
    from workflows.notification import WORKFLOWS as NOTIFICATION_WORKFLOWS
    from workflows.waitlist import DoctorWaitlistWorkflow

    async def becomes(entry_id: object, status: str) -> None:
        for _ in range(300):
            if await entry_status(sessionmaker, entry_id) == status:  # type: ignore[arg-type]
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"the entry never became {status}")

    scratch = Path(tempfile.mkdtemp())
    pg = EmbeddedPostgres(scratch / "pg", free_port(), durable=False)
    pg.start()
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        sessionmaker = make_sessionmaker(engine)
        cast = await waitlist_cast(sessionmaker, patients=3)
        env = await start_indexed(pydantic_data_converter)
        notifications = NotificationActivities(
            sessionmaker,
            OutboxEmail(sessionmaker),
            OutboxMessages(sessionmaker, Channel.SMS),
            OutboxMessages(sessionmaker, Channel.WHATSAPP),
        )
        async with Worker(
            env.client,
            task_queue="record",
            workflows=[AppointmentWorkflow, DoctorWaitlistWorkflow, *NOTIFICATION_WORKFLOWS],
            activities=[
                *appointment_activity_list(
                    AppointmentActivities(sessionmaker, JitsiRooms("https://meet.test", "k"))
                ),
                *waitlist_activity_list(WaitlistActivities(sessionmaker, offer_minutes=30)),
                *notification_activity_list(notifications),
            ],
        ):
            holder, first, second = cast.patients
            slot = slot_in(3, now=await env.get_current_time())
            now = datetime.now(UTC)
            first_entry = await join(
                sessionmaker, cast.doctor_id, first, slot.date(), joined_at=now - timedelta(hours=2)
            )
            second_entry = await join(
                sessionmaker,
                cast.doctor_id,
                second,
                slot.date(),
                joined_at=now - timedelta(hours=1),
            )
            appointment = await book(env.client, "record", cast, holder, slot, by_staff=True)
            await appointment.execute_update(
                AppointmentWorkflow.reschedule,
                Reschedule(
                    caller=Caller(user_id=cast.admin.id, role=Role.ADMIN),
                    starts_at=slot + timedelta(days=1),
                    override=True,
                ),
            )
            await becomes(first_entry, "offered")
            await env.sleep(timedelta(minutes=31))
            await becomes(second_entry, "offered")
            await book(env.client, "record", cast, second, slot)
            await env.sleep(timedelta(minutes=31))
            handle = env.client.get_workflow_handle(waitlist_workflow_id(cast.doctor_id))
            await handle.result()
            history = await handle.fetch_history()
        await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
    out = HISTORIES / "waitlist_offers.json"
    out.write_text(
        json.dumps(
            {
                "workflow_type": "DoctorWaitlistWorkflow",
                "workflow_id": handle.id,
                "history": json.loads(history.to_json()),
            },
            indent=1,
        )
    )
    print(f"recorded {out}")


async def _record_translation() -> None:
    """Translation histories on a throwaway stack (time-skipping server, LibreTranslate peer):
    - translation_sweep.json: the sweep starting the workflows of a treatment with none;
    - translation_pending.json: one of those runs with no engine, to its end (rows wait);
    - translation_journey.json: a run with the engine over its monthly budget (it sleeps to the
      next month), a reviewer's rejection arriving meanwhile (the `review` update), the
      re-translation, and the idle hour's end.
    The journey gets a time-skipping server of its own: once a child the sweep abandoned
    closes after the sweep, that server never skips time again."""
    import tempfile
    import uuid
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from activities.providers.translators import LibreTranslate, RateLimit, Translator
    from activities.translate import (
        Reviewer,
        ReviewInput,
        TranslationActivities,
        TranslationTarget,
        translation_activity_list,
    )
    from domain.models.catalog import Treatment
    from domain.models.users import User
    from domain.translation import TranslationStatus
    from runtime.db import make_engine, make_sessionmaker
    from runtime.migrate import upgrade
    from runtime.postgres import EmbeddedPostgres, free_port
    from runtime.settings import Settings
    from runtime.temporal_server import binary
    from tests.fixtures.translation_fixtures import start_libretranslate
    from workflows.messages import translation_workflow_id
    from workflows.translation import (
        TranslationProgress,
        TranslationSweepWorkflow,
        TranslationWorkflow,
        source_changed,
    )

    pg = EmbeddedPostgres(Path(tempfile.mkdtemp()), free_port(), durable=False)
    pg.start()
    peer = start_libretranslate()
    histories: dict[str, tuple[str, str, WorkflowHistory]] = {}
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        sm = make_sessionmaker(engine)
        # Room for a name (16 characters), not for the description (17) too.
        settings = Settings(
            _env_file=None,
            database_url=pg.url,
            jwt_secret="x" * 32,
            translation_monthly_characters={"libretranslate": 20},
        )

        @asynccontextmanager
        async def stack(translator: Translator | None) -> AsyncIterator[WorkflowEnvironment]:
            env = await WorkflowEnvironment.start_time_skipping(
                data_converter=pydantic_data_converter,
                test_server_existing_path=binary("temporal-test-server"),
            )
            try:
                async with Worker(
                    env.client,
                    task_queue="record",
                    workflows=[TranslationWorkflow, TranslationSweepWorkflow],
                    activities=translation_activity_list(
                        TranslationActivities(sm, settings, translator)
                    ),
                ):
                    yield env
            finally:
                await env.shutdown()

        async def finish(env: WorkflowEnvironment, wid: str) -> TranslationProgress:
            # Only start_workflow's handles unlock the clock in result(): unlock it here.
            handle = env.client.get_workflow_handle(wid, result_type=TranslationProgress)
            async with env.time_skipping_unlocked():
                return await asyncio.wait_for(handle.result(), 60)

        def knee(entity_id: uuid.UUID) -> Treatment:
            return Treatment(id=entity_id, name="Knee Replacement", description="A new knee joint.")

        waiting_id = uuid.UUID("00000000-0000-4000-8000-00000000c001")
        journey_id = uuid.UUID("00000000-0000-4000-8000-00000000c002")
        admin = User(
            id=uuid.UUID("00000000-0000-4000-8000-00000000c0ad"),
            email="admin@example.com",
            password_hash="x",
            user_type="admin",
            first_name="Replay",
        )
        async with sm() as db, db.begin():
            db.add_all([admin, knee(waiting_id)])

        async with stack(None) as env:
            sweep = await env.client.start_workflow(
                TranslationSweepWorkflow.run, id="translation-sweep-record", task_queue="record"
            )
            await sweep.result()
            histories["translation_sweep"] = (
                "TranslationSweepWorkflow",
                sweep.id,
                await sweep.fetch_history(),
            )
            waiting = translation_workflow_id(
                TranslationTarget(entity_type="treatments", entity_id=waiting_id, locale="ar")
            )
            await finish(env, waiting)
            history = await env.client.get_workflow_handle(waiting).fetch_history()
            histories["translation_pending"] = ("TranslationWorkflow", waiting, history)

        async with sm() as db, db.begin():
            db.add(knee(journey_id))
        async with stack(LibreTranslate(peer.url, RateLimit(100))) as env:
            target = TranslationTarget(entity_type="treatments", entity_id=journey_id, locale="fr")
            await source_changed(env.client, "record", target)
            handle = env.client.get_workflow_handle_for(
                TranslationWorkflow.run, translation_workflow_id(target)
            )
            for _ in range(200):
                if (await handle.query(TranslationWorkflow.progress)).paused_until:
                    break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the run never paused for its budget")
            await handle.execute_update(
                TranslationWorkflow.review,
                ReviewInput(
                    target=target,
                    field_name="name",
                    reviewer=Reviewer(user_id=admin.id, role="admin"),
                    status=TranslationStatus.REJECTED,
                    reason="Use the surgical term",
                ),
            )
            progress = await finish(env, handle.id)
            assert progress.translated == 3, progress
            histories["translation_journey"] = (
                "TranslationWorkflow",
                handle.id,
                await handle.fetch_history(),
            )
        await engine.dispose()
    finally:
        peer.server.stop()
        pg.stop()
    for name, (kind, wid, history) in histories.items():
        out = HISTORIES / f"{name}.json"
        saved = {
            "workflow_type": kind,
            "workflow_id": wid,
            "history": json.loads(history.to_json()),
        }
        out.write_text(json.dumps(saved, indent=1))
        print(f"recorded {out} ({len(history.events)} events)")


async def _record_prescription_delivery() -> None:
    """Render and mail one prescription through PrescriptionDeliveryWorkflow on a throwaway
    stack (the PDF stored in a local folder, the e-mail in the outbox); saves
    prescription_delivery.json."""
    import tempfile
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    from temporalio.worker import Worker

    from activities.notify import build_notification_activities, notification_activity_list
    from activities.prescriptions import (
        build_prescription_activities,
        prescription_activity_list,
    )
    from activities.providers.wiring import build_adapters
    from domain.access import Role
    from domain.models.care import Prescription
    from runtime.db import make_engine, make_sessionmaker
    from runtime.migrate import upgrade
    from runtime.postgres import EmbeddedPostgres, free_port
    from runtime.settings import Settings
    from tests.builders.care_builders import add_appointment, person
    from workflows.messages import PrescriptionDelivery, prescription_workflow_id
    from workflows.prescription import PrescriptionDeliveryWorkflow

    scratch = Path(tempfile.mkdtemp())
    pg = EmbeddedPostgres(scratch / "pg", free_port(), durable=False)
    pg.start()
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        sessionmaker = make_sessionmaker(engine)
        settings = Settings(
            database_url=pg.url, jwt_secret="x" * 32, storage_dir=str(scratch / "files")
        )
        patient = await person(sessionmaker, settings, Role.PATIENT, locale="en")
        doctor = await person(sessionmaker, settings, Role.DOCTOR)
        assert patient.patient_id is not None and doctor.doctor_id is not None
        appointment = await add_appointment(
            sessionmaker, patient.patient_id, doctor.doctor_id, "consultation_in_progress"
        )
        prescription_id = uuid.UUID("00000000-0000-4000-8000-00000000c001")
        async with sessionmaker() as db, db.begin():
            db.add(
                Prescription(
                    id=prescription_id,
                    appointment_id=appointment.id,
                    patient_id=patient.patient_id,
                    doctor_id=doctor.doctor_id,
                    medications=[
                        {
                            "name": "Paracetamol",
                            "dosage": "500mg",
                            "frequency": "Twice daily",
                            "duration": "7 days",
                        }
                    ],
                    instructions="Take after meals.",
                )
            )
        env = await start_indexed(pydantic_data_converter)
        adapters = build_adapters(settings, sessionmaker)
        delivery = PrescriptionDelivery(prescription_id=prescription_id)
        async with Worker(
            env.client,
            task_queue="record",
            workflows=ALL_WORKFLOWS,
            activities=[
                *prescription_activity_list(
                    build_prescription_activities(settings, sessionmaker, adapters.storage)
                ),
                *notification_activity_list(
                    build_notification_activities(settings, sessionmaker, adapters)
                ),
            ],
            activity_executor=ThreadPoolExecutor(max_workers=4),
        ):
            handle = await env.client.start_workflow(
                PrescriptionDeliveryWorkflow.run,
                delivery,
                id=prescription_workflow_id(delivery),
                task_queue="record",
            )
            delivered = await handle.result()
            assert delivered.dedupe_key is not None, delivered
            history = await handle.fetch_history()
        await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
    out = HISTORIES / "prescription_delivery.json"
    out.write_text(
        json.dumps(
            {
                "workflow_type": "PrescriptionDeliveryWorkflow",
                "workflow_id": handle.id,
                "history": json.loads(history.to_json()),
            },
            indent=1,
        )
    )
    print(f"recorded {out}")


async def _record_appointment_payment(past_refund_days: bool = False) -> None:
    """Run one prepaid appointment's payment on a throwaway stack (patch appointment-payment):
    checkout for the appointment, paid (the appointment is told payment_started and
    payment_succeeded), confirmed by the doctor, cancelled by the patient three days ahead
    (cancel_for_appointment at 100 %), refunded at the gateway and refund_settled back. Saves
    the payment's history (payment_appointment.json) and the appointment's
    (appointment_payment.json).

    past_refund_days (patch appointment-refund-window): refund_days is 1, and the patient
    cancels a day and a half after paying, over a day before the start: the window stayed open past
    refund_days for it. Saves the payment's history only (payment_appointment_window.json)."""
    import tempfile
    import uuid
    from concurrent.futures import ThreadPoolExecutor
    from datetime import timedelta
    from decimal import Decimal

    from sqlalchemy import select, update
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.worker import Worker

    from activities.appointments import (
        AppointmentActivities,
        NewAppointment,
        appointment_activity_list,
    )
    from activities.coupons import CouponActivities, coupon_activity_list
    from activities.documents import build_document_activities, document_activity_list
    from activities.notify import build_notification_activities, notification_activity_list
    from activities.payments import NewPayment, PaymentActivities, payment_activity_list
    from activities.providers.video import JitsiRooms
    from activities.providers.webhooks import Outcome
    from activities.providers.wiring import build_adapters
    from domain.access import Role
    from domain.appointment import AppointmentStatus as S
    from domain.models.catalog import Doctor
    from domain.models.users import Patient
    from domain.payment import PaymentGateway as GatewayName
    from domain.payment import PaymentStatus
    from runtime.db import make_engine, make_sessionmaker
    from runtime.migrate import upgrade
    from runtime.postgres import EmbeddedPostgres, free_port
    from runtime.settings import Settings
    from tests.builders.payment_builders import FakeGateway
    from tests.builders.users import create_user
    from workflows._kit import Caller
    from workflows.appointment import (
        AppointmentInput,
        AppointmentWorkflow,
        Cancellation,
        StatusChange,
        open_appointment,
    )
    from workflows.messages import appointment_workflow_id
    from workflows.payment import (
        GatewayEventSignal,
        PaymentInput,
        PaymentTimers,
        PaymentView,
        PaymentWorkflow,
        open_payment,
    )
    from workflows.payment import workflow_id as payment_workflow_id

    scratch = Path(tempfile.mkdtemp())
    pg = EmbeddedPostgres(scratch / "pg", free_port(), durable=False)
    pg.start()
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        sessionmaker = make_sessionmaker(engine)
        patient = await create_user(sessionmaker, Role.PATIENT)
        doctor = await create_user(sessionmaker, Role.DOCTOR)
        admin = await create_user(sessionmaker, Role.ADMIN)
        async with sessionmaker() as db, db.begin():
            await db.execute(
                update(Doctor)
                .where(Doctor.user_id == doctor.id)
                .values(consultation_fee=Decimal("80.00"))
            )
            patient_id = await db.scalar(select(Patient.id).where(Patient.user_id == patient.id))
            doctor_id = await db.scalar(select(Doctor.id).where(Doctor.user_id == doctor.id))
        assert patient_id is not None and doctor_id is not None
        env = await start_indexed(pydantic_data_converter)
        settings = Settings(
            database_url=pg.url, jwt_secret="x" * 32, storage_dir=str(scratch / "files")
        )
        gateway = FakeGateway()
        adapters = build_adapters(settings, sessionmaker)
        appointment_id = uuid.UUID("00000000-0000-4000-8000-00000000a702")
        payment_id = uuid.UUID("00000000-0000-4000-8000-00000000a002")
        async with Worker(
            env.client,
            task_queue="record",
            workflows=ALL_WORKFLOWS,
            activities=[
                *payment_activity_list(
                    PaymentActivities(sessionmaker, {GatewayName.STRIPE: gateway}, settings)
                ),
                *coupon_activity_list(CouponActivities(sessionmaker)),
                *document_activity_list(
                    build_document_activities(settings, sessionmaker, adapters.storage)
                ),
                *appointment_activity_list(
                    AppointmentActivities(sessionmaker, JitsiRooms("https://meet.test", "k"))
                ),
                *notification_activity_list(
                    build_notification_activities(settings, sessionmaker, adapters)
                ),
            ],
            activity_executor=ThreadPoolExecutor(max_workers=4),
        ):
            now = await env.get_current_time()
            starts = (now + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
            await open_appointment(
                env.client,
                "record",
                AppointmentInput(
                    appointment=NewAppointment(
                        appointment_id=appointment_id,
                        appointment_number="MV-AP-2026-000002",
                        patient_id=patient_id,
                        doctor_id=doctor_id,
                        starts_at=starts,
                        consultation_fee=Decimal("80.00"),
                        currency="USD",
                        created_by_user_id=admin.id,
                        created_by_role=Role.ADMIN.value,
                        override=True,
                    ),
                    requires_prepayment=True,
                ),
            )
            appointment = env.client.get_workflow_handle(appointment_workflow_id(appointment_id))
            checkout = await open_payment(
                env.client,
                "record",
                PaymentInput(
                    payment=NewPayment(
                        payment_id=payment_id,
                        appointment_id=appointment_id,
                        currency="USD",
                        payment_method="card",
                        gateway=GatewayName.STRIPE,
                        created_by_user_id=patient.id,
                        created_by_role="patient",
                    ),
                    timers=PaymentTimers(refund_days=1 if past_refund_days else 30),
                ),
            )
            assert checkout.gateway_id is not None
            gateway.pay(checkout.gateway_id)
            handle = env.client.get_workflow_handle_for(
                PaymentWorkflow.run, payment_workflow_id(payment_id)
            )
            await handle.signal(
                PaymentWorkflow.gateway_event,
                GatewayEventSignal(
                    event_id="evt_record_appointment",
                    event_type="payment_intent.succeeded",
                    outcome=Outcome.SUCCEEDED,
                ),
            )
            for _ in range(400):
                waiting = await appointment.query(AppointmentWorkflow.waiting_for)
                if not waiting.description.startswith("payment"):
                    break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the appointment never heard of its payment")
            await appointment.execute_update(
                AppointmentWorkflow.change_status,
                StatusChange(
                    caller=Caller(user_id=doctor.id, role=Role.DOCTOR),
                    status=S.APPOINTMENT_CONFIRMED,
                ),
            )
            if past_refund_days:
                await env.sleep(timedelta(days=1, hours=12))
                described = await handle.describe()
                assert described.status == WorkflowExecutionStatus.RUNNING, described.status
            await appointment.execute_update(
                AppointmentWorkflow.cancel,
                Cancellation(caller=Caller(user_id=patient.id, role=Role.PATIENT), reason="x"),
            )
            view: PaymentView = await handle.result()
            assert view.status == PaymentStatus.REFUNDED, view
            told = await appointment.result()
            assert told["refund_outcome"] == "refunded", told
            histories = {
                "payment_appointment": (
                    "PaymentWorkflow",
                    handle.id,
                    await handle.fetch_history(),
                ),
                "appointment_payment": (
                    "AppointmentWorkflow",
                    appointment.id,
                    await appointment.fetch_history(),
                ),
            }
            if past_refund_days:
                histories = {"payment_appointment_window": histories["payment_appointment"]}
        await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
    for name, (kind, wid, history) in histories.items():
        out = HISTORIES / f"{name}.json"
        out.write_text(
            json.dumps(
                {
                    "workflow_type": kind,
                    "workflow_id": wid,
                    "history": json.loads(history.to_json()),
                },
                indent=1,
            )
        )
        print(f"recorded {out}")


async def _record_waitlist_expiry() -> None:
    """The hourly sweep expiring a waitlist entry whose day is past (waitlist_expiry.json)."""
    import tempfile
    import uuid
    from datetime import UTC, datetime, timedelta

    from temporalio.worker import Worker

    from activities.waitlist import WaitlistActivities, waitlist_activity_list
    from runtime.db import make_engine, make_sessionmaker
    from runtime.migrate import upgrade
    from runtime.postgres import EmbeddedPostgres, free_port
    from tests.builders.waitlist_builders import entry_status, join, waitlist_cast
    from workflows.waitlist import WaitlistExpiryWorkflow

    scratch = Path(tempfile.mkdtemp())
    pg = EmbeddedPostgres(scratch / "pg", free_port(), durable=False)
    pg.start()
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        sessionmaker = make_sessionmaker(engine)
        cast = await waitlist_cast(sessionmaker, patients=1)
        past = datetime.now(UTC).date() - timedelta(days=2)
        entry = await join(sessionmaker, cast.doctor_id, cast.patients[0], past)
        env = await start_indexed(pydantic_data_converter)
        async with Worker(
            env.client,
            task_queue="record",
            workflows=[WaitlistExpiryWorkflow],
            activities=waitlist_activity_list(WaitlistActivities(sessionmaker)),
        ):
            handle = await env.client.start_workflow(
                WaitlistExpiryWorkflow.run,
                id=f"waitlist-expiry-{uuid.uuid4()}",
                task_queue="record",
            )
            assert await handle.result() == 1
            assert await entry_status(sessionmaker, entry) == "expired"
            history = await handle.fetch_history()
        await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
    out = HISTORIES / "waitlist_expiry.json"
    out.write_text(
        json.dumps(
            {
                "workflow_type": "WaitlistExpiryWorkflow",
                "workflow_id": handle.id,
                "history": json.loads(history.to_json()),
            },
            indent=1,
        )
    )
    print(f"recorded {out}")


async def _record_analytics_rollup() -> None:
    """The daily roll-up on a throwaway stack: a backfill of a range longer than one activity
    call takes (two chunks) and the scheduled run (the day before, and missed days)."""
    import tempfile
    from datetime import date

    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from activities.analytics import AnalyticsActivities, analytics_activity_list
    from runtime.db import make_engine, make_sessionmaker
    from runtime.migrate import upgrade
    from runtime.postgres import EmbeddedPostgres, free_port
    from runtime.temporal_server import binary
    from workflows.analytics import AnalyticsRollUpWorkflow, RollUpRequest

    pg = EmbeddedPostgres(Path(tempfile.mkdtemp()), free_port(), durable=False)
    pg.start()
    histories: dict[str, WorkflowHistory] = {}
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        settings = Settings(_env_file=None, database_url=pg.url, jwt_secret="x" * 32)
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=binary("temporal-test-server"),
        )
        try:
            async with Worker(
                env.client,
                task_queue="record",
                workflows=[AnalyticsRollUpWorkflow],
                activities=analytics_activity_list(
                    AnalyticsActivities(make_sessionmaker(engine), settings)
                ),
            ):
                for name, request in (
                    (
                        "analytics_backfill",
                        RollUpRequest(first=date(2026, 10, 1), last=date(2026, 11, 5)),
                    ),
                    ("analytics_rollup", RollUpRequest()),
                ):
                    handle = await env.client.start_workflow(
                        AnalyticsRollUpWorkflow.run,
                        request,
                        id=f"{name}-record",
                        task_queue="record",
                    )
                    await handle.result()
                    histories[name] = await handle.fetch_history()
        finally:
            await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
    for name, history in histories.items():
        out = HISTORIES / f"{name}.json"
        saved = {
            "workflow_type": "AnalyticsRollUpWorkflow",
            "workflow_id": history.workflow_id,
            "history": json.loads(history.to_json()),
        }
        out.write_text(json.dumps(saved, indent=1))
        print(f"recorded {out} ({len(history.events)} events)")


async def _record_platform_chores() -> None:
    """The clean-up (a used token and an unattached upload removed), the payment reminders (an
    invoice due tomorrow: one DeliverNotification child started) and a database backup, on a
    throwaway stack."""
    import tempfile
    import uuid
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from activities.backup import BackupActivities, backup_activity_list
    from activities.maintenance import CleanupActivities, cleanup_activity_list
    from activities.notify import build_notification_activities, notification_activity_list
    from activities.providers.storage import new_key
    from activities.providers.wiring import build_adapters
    from activities.reminders import ReminderActivities, reminder_activity_list
    from domain.models.content import Media
    from domain.models.payments import Invoice
    from domain.models.users import PasswordReset, Patient, User
    from runtime.db import make_engine, make_sessionmaker
    from runtime.migrate import upgrade
    from runtime.postgres import EmbeddedPostgres, free_port
    from runtime.temporal_server import binary
    from workflows.maintenance import (
        DatabaseBackupWorkflow,
        PaymentReminderWorkflow,
        PlatformCleanupWorkflow,
    )
    from workflows.notification import DeliverNotification

    pg = EmbeddedPostgres(Path(tempfile.mkdtemp()), free_port(), durable=False)
    pg.start()
    histories: dict[str, tuple[str, WorkflowHistory]] = {}
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        sm = make_sessionmaker(engine)
        settings = Settings(
            _env_file=None,
            database_url=pg.url,
            jwt_secret="x" * 32,
            storage_dir=tempfile.mkdtemp(),
        )
        now = datetime.now(UTC)
        user = User(
            id=uuid.UUID("00000000-0000-4000-8000-00000000d001"),
            email="chores@example.com",
            password_hash="x",
            user_type="patient",
            first_name="Replay",
            locale="fr",
        )
        patient = Patient(id=uuid.UUID("00000000-0000-4000-8000-00000000d002"), user_id=user.id)
        async with sm() as db, db.begin():
            db.add(user)
            await db.flush()
            db.add(patient)
            await db.flush()
            db.add_all(
                [
                    PasswordReset(
                        user_id=user.id,
                        token_hash="used",
                        expires_at=now + timedelta(hours=1),
                        is_used=True,
                    ),
                    Media(file_url=new_key("images", user.id), created_at=now - timedelta(days=2)),
                    Invoice(
                        invoice_number="INV-REPLAY-1",
                        patient_id=patient.id,
                        total_amount=Decimal("100.00"),
                        final_amount=Decimal("100.00"),
                        currency="EUR",
                        status="issued",
                        invoice_date=now.date(),
                        due_date=now.date() + timedelta(days=1),
                    ),
                ]
            )
        adapters = build_adapters(settings, sm)
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=pydantic_data_converter,
            test_server_existing_path=binary("temporal-test-server"),
        )
        try:
            async with Worker(
                env.client,
                task_queue="record",
                workflows=[
                    PlatformCleanupWorkflow,
                    PaymentReminderWorkflow,
                    DatabaseBackupWorkflow,
                    DeliverNotification,
                ],
                activities=[
                    *cleanup_activity_list(CleanupActivities(sm, adapters.storage, settings)),
                    *reminder_activity_list(ReminderActivities(sm, settings)),
                    *backup_activity_list(BackupActivities(settings, adapters.storage)),
                    *notification_activity_list(
                        build_notification_activities(settings, sm, adapters)
                    ),
                ],
            ):
                for name, run in (
                    ("platform_cleanup", PlatformCleanupWorkflow.run),
                    ("payment_reminders", PaymentReminderWorkflow.run),
                    ("database_backup", DatabaseBackupWorkflow.run),
                ):
                    handle = await env.client.start_workflow(
                        run,  # type: ignore[arg-type]
                        id=f"{name}-record",
                        task_queue="record",
                    )
                    result = await handle.result()
                    print(name, result)
                    kind = (await handle.describe()).workflow_type
                    histories[name] = (kind, await handle.fetch_history())
        finally:
            await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
    for name, (kind, history) in histories.items():
        out = HISTORIES / f"{name}.json"
        saved = {
            "workflow_type": kind,
            "workflow_id": history.workflow_id,
            "history": json.loads(history.to_json()),
        }
        out.write_text(json.dumps(saved, indent=1))
        print(f"recorded {out} ({len(history.events)} events)")


async def _record_subscription(suffix: str = "", mail: bool = False) -> None:
    """Run one monthly subscription on a throwaway stack: its first charge through the
    PaymentWorkflow (patch subscription-payment), active, the first renewal declined
    (insufficient funds: past_due, dunning), paid on the first retry a day later, then
    continue-as-new. Saves the subscription's first run (subscription_renewal.json) and its
    first payment's history (payment_subscription.json); `suffix` ends the subscription's file
    name and leaves the payment's out (subscription_renewal_accept.json: move-after-accept).
    `mail` (patch subscription-mail): the worker also renders and mails the invoices, and the
    first invoice's delivery child is saved too (invoice_delivery_subscription.json)."""
    import tempfile
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select
    from temporalio.worker import Worker

    from activities.documents import build_document_activities, document_activity_list
    from activities.notify import build_notification_activities, notification_activity_list
    from activities.payments import PaymentActivities, payment_activity_list
    from activities.providers.wiring import build_adapters
    from activities.subscriptions import SubscriptionActivities, subscription_activity_list
    from domain.models.payments import Invoice
    from domain.models.subscriptions import Subscription
    from domain.payment import PaymentGateway as GatewayName
    from runtime.db import make_engine, make_sessionmaker
    from runtime.migrate import upgrade
    from runtime.postgres import EmbeddedPostgres, free_port
    from tests.builders.subscription_builders import SavingGateway, make_subscribers, subscribe
    from workflows.payment import workflow_id as payment_workflow_id
    from workflows.subscription import SubscriptionTimers

    scratch = Path(tempfile.mkdtemp())
    pg = EmbeddedPostgres(scratch / "pg", free_port(), durable=False)
    pg.start()
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        sessionmaker = make_sessionmaker(engine)
        who = await make_subscribers(sessionmaker)
        env = await start_indexed(pydantic_data_converter)
        settings = Settings(
            database_url=pg.url, jwt_secret="x" * 32, storage_dir=str(scratch / "files")
        )
        gateway = SavingGateway()
        gateways = {GatewayName.STRIPE: gateway}
        adapters = build_adapters(settings, sessionmaker)
        async with Worker(
            env.client,
            task_queue="record",
            workflows=ALL_WORKFLOWS,
            activities=[
                *subscription_activity_list(
                    SubscriptionActivities(sessionmaker, gateways, settings)
                ),
                *payment_activity_list(PaymentActivities(sessionmaker, gateways, settings)),
                *notification_activity_list(
                    build_notification_activities(settings, sessionmaker, adapters)
                ),
                *(
                    document_activity_list(
                        build_document_activities(settings, sessionmaker, adapters.storage)
                    )
                    if mail
                    else []
                ),
            ],
            activity_executor=ThreadPoolExecutor(max_workers=2),
        ):
            view, handle = await subscribe(
                env.client, "record", who, gateway, timers=SubscriptionTimers()
            )
            first_run = (await handle.describe()).run_id
            for _ in range(400):
                async with sessionmaker() as db:
                    stored = await db.get(Subscription, view.subscription_id)
                if stored is not None and stored.status == "active":
                    break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the subscription never became active")
            assert stored.end_date is not None
            end = datetime.combine(stored.end_date, datetime.min.time(), tzinfo=UTC)
            gateway.declines = ["insufficient_funds"]
            await env.sleep(end + timedelta(days=1, hours=1) - await env.get_current_time())
            for _ in range(400):
                description = await handle.describe()
                if description.run_id != first_run:
                    break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the subscription never renewed")
            assert view.first_payment_id is not None
            payment = env.client.get_workflow_handle(payment_workflow_id(view.first_payment_id))
            histories = {
                "subscription_renewal": (
                    "SubscriptionWorkflow",
                    handle.id,
                    await env.client.get_workflow_handle(
                        handle.id, run_id=first_run
                    ).fetch_history(),
                ),
                "payment_subscription": (
                    "PaymentWorkflow",
                    payment.id,
                    await payment.fetch_history(),
                ),
            }
            if suffix:
                histories = {
                    f"subscription_renewal{suffix}": histories["subscription_renewal"],
                }
            if mail:
                async with sessionmaker() as db:
                    first_invoice = await db.scalar(
                        select(Invoice.id)
                        .where(Invoice.subscription_id == view.subscription_id)
                        .order_by(Invoice.invoice_number)
                        .limit(1)
                    )
                delivery = env.client.get_workflow_handle(f"invoice-{first_invoice}")
                histories["invoice_delivery_subscription"] = (
                    "InvoiceDeliveryWorkflow",
                    delivery.id,
                    await delivery.fetch_history(),
                )
        await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
    for name, (kind, wid, history) in histories.items():
        out = HISTORIES / f"{name}.json"
        out.write_text(
            json.dumps(
                {
                    "workflow_type": kind,
                    "workflow_id": wid,
                    "history": json.loads(history.to_json()),
                },
                indent=1,
            )
        )
        print(f"recorded {out}")


async def _record_subscription_changes() -> None:
    """Patch subscription-mail on the commands: a monthly subscription upgraded ten days in (the
    difference charged, its invoice mailed by an abandoned child), a downgrade scheduled, renewal
    turned off, then ended at the period's end. Saves subscription_changes_mail.json."""
    import tempfile
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime, timedelta

    from temporalio.worker import Worker

    from activities.documents import build_document_activities, document_activity_list
    from activities.notify import build_notification_activities, notification_activity_list
    from activities.payments import PaymentActivities, payment_activity_list
    from activities.providers.wiring import build_adapters
    from activities.subscriptions import SubscriptionActivities, subscription_activity_list
    from domain.models.subscriptions import Subscription
    from domain.payment import PaymentGateway as GatewayName
    from runtime.db import make_engine, make_sessionmaker
    from runtime.migrate import upgrade
    from runtime.postgres import EmbeddedPostgres, free_port
    from tests.builders.subscription_builders import SavingGateway, make_subscribers, subscribe
    from workflows.subscription import (
        CancelCommand,
        ChangeCommand,
        SubscriptionTimers,
        SubscriptionWorkflow,
    )

    scratch = Path(tempfile.mkdtemp())
    pg = EmbeddedPostgres(scratch / "pg", free_port(), durable=False)
    pg.start()
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        sessionmaker = make_sessionmaker(engine)
        who = await make_subscribers(sessionmaker)
        env = await start_indexed(pydantic_data_converter)
        settings = Settings(
            database_url=pg.url, jwt_secret="x" * 32, storage_dir=str(scratch / "files")
        )
        gateway = SavingGateway()
        gateways = {GatewayName.STRIPE: gateway}
        adapters = build_adapters(settings, sessionmaker)
        async with Worker(
            env.client,
            task_queue="record",
            workflows=ALL_WORKFLOWS,
            activities=[
                *subscription_activity_list(
                    SubscriptionActivities(sessionmaker, gateways, settings)
                ),
                *payment_activity_list(PaymentActivities(sessionmaker, gateways, settings)),
                *notification_activity_list(
                    build_notification_activities(settings, sessionmaker, adapters)
                ),
                *document_activity_list(
                    build_document_activities(settings, sessionmaker, adapters.storage)
                ),
            ],
            activity_executor=ThreadPoolExecutor(max_workers=2),
        ):
            view, handle = await subscribe(
                env.client, "record", who, gateway, timers=SubscriptionTimers(reminder_days=0)
            )
            for _ in range(400):
                async with sessionmaker() as db:
                    stored = await db.get(Subscription, view.subscription_id)
                if stored is not None and stored.status == "active":
                    break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the subscription never became active")
            assert stored.start_date is not None and stored.end_date is not None
            start = datetime.combine(stored.start_date, datetime.min.time(), tzinfo=UTC)
            await env.sleep(start + timedelta(days=10, hours=3) - await env.get_current_time())
            caller = who.caller(who.hospital_admin)
            await handle.execute_update(
                SubscriptionWorkflow.change, ChangeCommand(caller=caller, plan_id=who.premium)
            )
            await handle.execute_update(
                SubscriptionWorkflow.change, ChangeCommand(caller=caller, plan_id=who.basic)
            )
            await handle.execute_update(SubscriptionWorkflow.cancel, CancelCommand(caller=caller))
            end = datetime.combine(stored.end_date, datetime.min.time(), tzinfo=UTC)
            await env.sleep(end + timedelta(hours=1) - await env.get_current_time())
            await handle.result()
            history = await handle.fetch_history()
        await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
    out = HISTORIES / "subscription_changes_mail.json"
    out.write_text(
        json.dumps(
            {
                "workflow_type": "SubscriptionWorkflow",
                "workflow_id": handle.id,
                "history": json.loads(history.to_json()),
            },
            indent=1,
        )
    )
    print(f"recorded {out}")


async def _record_subscription_razorpay() -> None:
    """A monthly subscription on Razorpay (patch subscription-razorpay) on a throwaway stack with
    the local Razorpay and the real adapter: the customer made before `create` answers, the
    first order paid at Checkout with recurring: 1 (its token saved), the first renewal on the
    token declined (insufficient funds: past_due), paid on the first retry a day later, then
    continue-as-new. Saves the first run (subscription_renewal_razorpay.json)."""
    import tempfile
    import uuid
    from datetime import UTC, datetime, timedelta

    from temporalio.worker import Worker

    from activities.documents import build_document_activities, document_activity_list
    from activities.notify import build_notification_activities, notification_activity_list
    from activities.payments import PaymentActivities, payment_activity_list
    from activities.providers.razorpay_payments import RazorpayPayments
    from activities.providers.webhooks import Outcome
    from activities.providers.wiring import build_adapters
    from activities.subscriptions import SubscriptionActivities, subscription_activity_list
    from domain.models.payments import Payment
    from domain.models.subscriptions import Subscription
    from domain.payment import PaymentGateway as GatewayName
    from runtime.db import make_engine, make_sessionmaker
    from runtime.migrate import upgrade
    from runtime.postgres import EmbeddedPostgres, free_port
    from tests.builders.subscription_builders import make_subscribers, subscribe
    from tests.fixtures.razorpay_fixtures import running_local_razorpay
    from workflows.payment import GatewayEventSignal, PaymentWorkflow
    from workflows.payment import workflow_id as payment_workflow_id
    from workflows.subscription import SubscriptionTimers

    scratch = Path(tempfile.mkdtemp())
    pg = EmbeddedPostgres(scratch / "pg", free_port(), durable=False)
    pg.start()
    try:
        await asyncio.to_thread(upgrade, pg.url)
        engine = make_engine(pg.url)
        sessionmaker = make_sessionmaker(engine)
        who = await make_subscribers(sessionmaker)
        env = await start_indexed(pydantic_data_converter)
        settings = Settings(
            database_url=pg.url, jwt_secret="x" * 32, storage_dir=str(scratch / "files")
        )
        adapters = build_adapters(settings, sessionmaker)

        async def row() -> Subscription | None:
            async with sessionmaker() as db:
                return await db.get(Subscription, view.subscription_id)

        with running_local_razorpay() as razorpay:
            gateway = RazorpayPayments(razorpay.key_id, razorpay.key_secret, base_url=razorpay.url)
            gateways = {GatewayName.RAZORPAY: gateway}
            async with Worker(
                env.client,
                task_queue="record",
                workflows=ALL_WORKFLOWS,
                activities=[
                    *subscription_activity_list(
                        SubscriptionActivities(sessionmaker, gateways, settings)
                    ),
                    *payment_activity_list(PaymentActivities(sessionmaker, gateways, settings)),
                    *notification_activity_list(
                        build_notification_activities(settings, sessionmaker, adapters)
                    ),
                    *document_activity_list(
                        build_document_activities(settings, sessionmaker, adapters.storage)
                    ),
                ],
            ):
                view, handle = await subscribe(
                    env.client,
                    "record",
                    who,
                    None,
                    timers=SubscriptionTimers(),
                    pay=False,
                    gateway_name=GatewayName.RAZORPAY,
                )
                first_run = (await handle.describe()).run_id
                assert view.first_payment_id is not None
                async with sessionmaker() as db:
                    first = await db.get(Payment, view.first_payment_id)
                assert first is not None and first.gateway_order_id is not None
                razorpay.customer_pays(first.gateway_order_id, recurring=True)
                payment = env.client.get_workflow_handle(payment_workflow_id(view.first_payment_id))
                await payment.signal(
                    PaymentWorkflow.gateway_event,
                    GatewayEventSignal(
                        event_id=f"evt_{uuid.uuid4().hex[:14]}",
                        event_type="payment.captured",
                        outcome=Outcome.SUCCEEDED,
                    ),
                )
                for _ in range(400):
                    stored = await row()
                    if stored is not None and stored.status == "active":
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise RuntimeError("the subscription never became active")
                assert stored.end_date is not None and stored.gateway_payment_method_id
                token = stored.gateway_payment_method_id
                razorpay.bank_declines(token, "insufficient_funds", "Insufficient balance.")
                end = datetime.combine(stored.end_date, datetime.min.time(), tzinfo=UTC)
                await env.sleep(end + timedelta(hours=1) - await env.get_current_time())
                for _ in range(400):
                    stored = await row()
                    if stored is not None and stored.status == "past_due":
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise RuntimeError("the renewal was never declined")
                razorpay.bank_accepts(token)
                await env.sleep(timedelta(days=1))
                for _ in range(400):
                    if (await handle.describe()).run_id != first_run:
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise RuntimeError("the subscription never renewed")
                history = await env.client.get_workflow_handle(
                    handle.id, run_id=first_run
                ).fetch_history()
        await env.shutdown()
        await engine.dispose()
    finally:
        pg.stop()
    out = HISTORIES / "subscription_renewal_razorpay.json"
    out.write_text(
        json.dumps(
            {
                "workflow_type": "SubscriptionWorkflow",
                "workflow_id": handle.id,
                "history": json.loads(history.to_json()),
            },
            indent=1,
        )
    )
    print(f"recorded {out}")


RECORDERS = {
    "subscription": _record_subscription,
    "subscription-accept": lambda: _record_subscription("_accept"),
    "subscription-mail": lambda: _record_subscription("_mail", mail=True),
    "subscription-mail-changes": _record_subscription_changes,
    "subscription-razorpay": _record_subscription_razorpay,
    "notification": _record_notification,
    "notification_old_address": lambda: _record_notification(old_address=True),
    "notification_push": _record_notification_push,
    "booking": _record_booking,
    "booking-kit": _record_booking_on_the_kit,
    "booking-accept": _record_booking_after_accept,
    "booking-inline": _record_booking_notify_inline,
    "payment_invoice": _record_payment_invoice,
    "appointment": _record_appointment,
    "appointment-accept": lambda: _record_appointment("appointment_consultation_accept.json"),
    "appointment_payment": _record_appointment_payment,
    "appointment_payment_window": lambda: _record_appointment_payment(past_refund_days=True),
    "waitlist": _record_waitlist,
    "waitlist_expiry": _record_waitlist_expiry,
    "translation": _record_translation,
    "prescription_delivery": _record_prescription_delivery,
    "analytics_rollup": _record_analytics_rollup,
    "platform_chores": _record_platform_chores,
}

if __name__ == "__main__" and sys.argv[1:2] == ["record"]:
    # `record NAME` records that one (booking-kit: the journey after the kit's patch;
    # booking-accept, appointment-accept, subscription-accept: after move-after-accept;
    # subscription-mail, subscription-mail-changes: the subscriber's own messages and the
    # invoices mailed; subscription-razorpay: the token flow;
    # booking-inline: after booking-notify-inline).
    for name in sys.argv[2:] or list(RECORDERS):
        asyncio.run(RECORDERS[name]())
