"""DeliverNotification on the time-skipping server, with the real activities, the real database
and the outbox as the delivery target (a flaky provider where a test needs one)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from pydantic import ValidationError
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.common import WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notify import NotificationActivities, notification_activity_list
from activities.providers.channels import Attachment, DeliveryError, EmailChannel
from activities.providers.outbox import (
    OutboxEmail,
    OutboxMessages,
    read_outbox,
    read_outbox_attachment,
)
from activities.providers.storage import LocalStorage, Storage
from activities.render import render
from domain.models.notifications import Channel, Notification, UserDevice
from domain.models.users import User
from tests.fixtures.fcm import Google, fcm_push, google, key_pair
from tests.fixtures.workers import new_worker
from workflows.notification import (
    WORKFLOWS,
    AttachmentRef,
    DeliverNotification,
    NotificationRequest,
    NotificationResult,
    notify,
    workflow_id,
)

__all__ = ["google", "key_pair"]  # fixtures of the local FCM peer

TOKEN = "tok_" + "x" * 40
VERIFY_URL = f"https://app.medivoy.test/verify-email?token={TOKEN}"


class FlakyEmail:
    """A provider that is down for its first `failures` calls, then delivers to the outbox."""

    provider = "flaky"

    def __init__(self, delegate: EmailChannel, failures: int) -> None:
        self.delegate = delegate
        self.failures = failures
        self.calls = 0

    async def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        html: str,
        dedupe_key: str,
        attachments: tuple[Attachment, ...] = (),
    ) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise DeliveryError("flaky HTTP 503", "service unavailable")
        return await self.delegate.send_email(to, subject, text, html, dedupe_key, attachments)


class ReplyLostEmail:
    """A provider that accepts the first message but whose answer never arrives (a timeout after
    the send): the activity fails and is retried with the same message."""

    provider = "reply-lost"

    def __init__(self, delegate: EmailChannel) -> None:
        self.delegate = delegate
        self.calls = 0

    async def send_email(
        self,
        to: str,
        subject: str,
        text: str,
        html: str,
        dedupe_key: str,
        attachments: tuple[Attachment, ...] = (),
    ) -> str:
        self.calls += 1
        message_id = await self.delegate.send_email(
            to, subject, text, html, dedupe_key, attachments
        )
        if self.calls == 1:
            raise DeliveryError("reply-lost HTTP 504", "gateway timeout")
        return message_id


async def create_user(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    phone: str | None = None,
    locale: str = "en",
    first_name: str = "Ana",
) -> User:
    async with sessionmaker() as db, db.begin():
        user = User(
            email=f"user-{uuid.uuid4().hex[:8]}@example.com",
            phone=phone,
            password_hash="not-a-real-hash",
            user_type="patient",
            first_name=first_name,
            last_name="Tester",
            locale=locale,
        )
        db.add(user)
    return user


def activities_for(
    sessionmaker: async_sessionmaker[AsyncSession],
    email: EmailChannel | None = None,
    storage: Storage | None = None,
) -> NotificationActivities:
    return NotificationActivities(
        sessionmaker,
        email or OutboxEmail(sessionmaker),
        OutboxMessages(sessionmaker, Channel.SMS),
        OutboxMessages(sessionmaker, Channel.WHATSAPP),
        storage=storage,
    )


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files")


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: LocalStorage,
) -> AsyncIterator[Worker]:
    running = new_worker(
        time_skipping_env,
        task_queue,
        *WORKFLOWS,
        activities=notification_activity_list(activities_for(sessionmaker, storage=storage)),
    )
    async with running:
        yield running


def verify_email_request(
    user: User, key: str | None = None, **fields: object
) -> NotificationRequest:
    return NotificationRequest.model_validate(
        {
            "dedupe_key": key or f"verify-email:{uuid.uuid4()}",
            "user_id": user.id,
            "template": "verify_email",
            "context": {"token": TOKEN, "verify_url": VERIFY_URL},
            "type": "account",
            **fields,
        }
    )


async def deliver(
    env: WorkflowEnvironment, task_queue: str, request: NotificationRequest
) -> NotificationResult:
    await notify(env.client, task_queue, request)
    handle = env.client.get_workflow_handle_for(
        DeliverNotification.run, workflow_id(request.dedupe_key)
    )
    return await handle.result()


async def rows_of(
    sessionmaker: async_sessionmaker[AsyncSession], dedupe_key: str
) -> dict[str, Notification]:
    async with sessionmaker() as db:
        rows = await db.scalars(select(Notification).where(Notification.dedupe_key == dedupe_key))
        return {row.channel: row for row in rows}


async def test_verify_email_arrives_by_email_and_in_app(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    user = await create_user(sessionmaker)
    request = verify_email_request(user)

    result = await deliver(time_skipping_env, task_queue, request)

    assert {c: o.status for c, o in result.channels.items()} == {
        Channel.EMAIL: "sent",
        Channel.IN_APP: "sent",
    }
    [mail] = await read_outbox(sessionmaker, dedupe_key=request.dedupe_key)
    assert mail.recipient == user.email
    assert mail.subject == "Verify your e-mail address"
    assert VERIFY_URL in mail.body_text
    assert "Hello Ana," in mail.body_text
    assert mail.body_html is not None and 'href="' in mail.body_html
    assert result.channels[Channel.EMAIL].provider_message_id == f"outbox:{mail.id}"

    rows = await rows_of(sessionmaker, request.dedupe_key)
    assert set(rows) == {"email", "in_app"}
    for row in rows.values():
        assert row.is_sent and row.sent_at is not None
        assert row.attempts == 1
        assert row.user_id == user.id
        assert row.type == "account"
        # The in-app summary is readable in the database: no token, no link.
        assert row.title == "Verify your e-mail address"
        assert row.message is not None
        assert TOKEN not in row.message and "http" not in row.message
    assert (rows["email"].provider, rows["in_app"].provider) == ("outbox", "in_app")


async def test_same_dedupe_key_sends_once(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    user = await create_user(sessionmaker)
    request = verify_email_request(user)
    client = time_skipping_env.client

    # Twice while it may still run, then again once it has finished.
    await notify(client, task_queue, request)
    await notify(client, task_queue, request)
    handle = client.get_workflow_handle_for(
        DeliverNotification.run, workflow_id(request.dedupe_key)
    )
    await handle.result()
    first_run = (await handle.describe()).run_id
    await notify(client, task_queue, request)

    assert (await handle.describe()).run_id == first_run
    assert len(await read_outbox(sessionmaker, dedupe_key=request.dedupe_key)) == 1
    assert len(await rows_of(sessionmaker, request.dedupe_key)) == 2


async def test_flaky_email_provider_is_retried_until_the_message_is_sent_once(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await create_user(sessionmaker)
    request = verify_email_request(user, channels=[Channel.EMAIL])
    flaky = FlakyEmail(OutboxEmail(sessionmaker), failures=2)

    async with new_worker(
        time_skipping_env,
        task_queue,
        *WORKFLOWS,
        activities=notification_activity_list(activities_for(sessionmaker, email=flaky)),
    ):
        # The test server waits out the real 2 s and 4 s back-offs (about 6 s).
        result = await deliver(time_skipping_env, task_queue, request)

    assert result.channels[Channel.EMAIL].status == "sent"
    assert result.channels[Channel.EMAIL].provider == "flaky"
    assert flaky.calls == 3
    assert len(await read_outbox(sessionmaker, dedupe_key=request.dedupe_key)) == 1
    row = (await rows_of(sessionmaker, request.dedupe_key))["email"]
    assert row.is_sent
    assert row.attempts == 3
    assert row.last_error is not None and "503" in row.last_error


async def test_arabic_message_is_written_right_to_left(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    user = await create_user(sessionmaker, locale="ar", first_name="ليلى")
    request = verify_email_request(user)

    await deliver(time_skipping_env, task_queue, request)

    [mail] = await read_outbox(sessionmaker, dedupe_key=request.dedupe_key)
    assert mail.subject == "تأكيد عنوان بريدك الإلكتروني"
    assert mail.body_html is not None
    assert '<html lang="ar" dir="rtl">' in mail.body_html
    assert "مرحبًا ليلى،" in mail.body_text
    in_app = (await rows_of(sessionmaker, request.dedupe_key))["in_app"]
    assert in_app.title == "تأكيد بريدك الإلكتروني"


async def test_request_locale_overrides_the_users_language(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    user = await create_user(sessionmaker, locale="ar")
    request = verify_email_request(user, locale="fr-FR", channels=[Channel.EMAIL])

    await deliver(time_skipping_env, task_queue, request)

    [mail] = await read_outbox(sessionmaker, dedupe_key=request.dedupe_key)
    assert mail.subject == "Vérifiez votre adresse e-mail"


async def test_missing_phone_fails_sms_for_good_while_email_is_sent(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    user = await create_user(sessionmaker, phone=None)
    request = verify_email_request(user, channels=[Channel.EMAIL, Channel.SMS])

    result = await deliver(time_skipping_env, task_queue, request)

    assert result.channels[Channel.EMAIL].status == "sent"
    sms = result.channels[Channel.SMS]
    assert (sms.status, sms.error_type) == ("failed", "NO_RECIPIENT_ADDRESS")
    rows = await rows_of(sessionmaker, request.dedupe_key)
    assert not rows["sms"].is_sent
    assert rows["sms"].attempts == 1
    assert rows["sms"].last_error is not None and "phone number" in rows["sms"].last_error
    outbox = await read_outbox(sessionmaker, dedupe_key=request.dedupe_key)
    assert [m.channel for m in outbox] == ["email"]


async def test_sms_and_whatsapp_go_to_the_users_phone(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    user = await create_user(sessionmaker, phone="+15551230001", locale="es")
    request = verify_email_request(user, channels=[Channel.SMS, Channel.WHATSAPP])

    result = await deliver(time_skipping_env, task_queue, request)

    assert {o.status for o in result.channels.values()} == {"sent"}
    outbox = await read_outbox(sessionmaker, dedupe_key=request.dedupe_key)
    assert sorted((m.channel, m.recipient) for m in outbox) == [
        ("sms", "+15551230001"),
        ("whatsapp", "+15551230001"),
    ]
    assert all(m.body_text.startswith("Medivoy: verifica") for m in outbox)
    assert all(VERIFY_URL in m.body_text for m in outbox)


# ---- attachments ----------------------------------------------------------------------------

PDF = b"%PDF-1.7\n" + bytes(range(256)) + b"\n%%EOF"


def invoice_request(user: User, key: str, **fields: object) -> NotificationRequest:
    return NotificationRequest.model_validate(
        {
            "dedupe_key": f"invoice:{uuid.uuid4()}",
            "user_id": user.id,
            "template": "invoice_issued",
            "context": {
                "reference": "MV-BK-2026-000001",
                "invoice_number": "MV-INV-2026-000001",
                "amount": "1000.00",
                "currency": "USD",
                "invoice_url": "https://api.medivoy.test/api/v1/invoices/1/pdf",
            },
            "attachments": [
                {
                    "storage_key": key,
                    "filename": "MV-INV-2026-000001.pdf",
                    "content_type": "application/pdf",
                }
            ],
            **fields,
        }
    )


async def stored_pdf(storage: LocalStorage) -> str:
    key = f"invoices/{uuid.uuid4()}"
    await storage.put(key, PDF, "application/pdf", {})
    return key


async def test_email_carries_the_attachment_from_storage_and_sms_goes_without(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: LocalStorage,
    worker: Worker,
) -> None:
    user = await create_user(sessionmaker, phone="+15551230002")
    request = invoice_request(
        user,
        await stored_pdf(storage),
        channels=[Channel.EMAIL, Channel.SMS, Channel.IN_APP],
    )

    result = await deliver(time_skipping_env, task_queue, request)

    assert {o.status for o in result.channels.values()} == {"sent"}
    # Channels are delivered side by side: find each message by its channel.
    outbox = {m.channel: m for m in await read_outbox(sessionmaker, dedupe_key=request.dedupe_key)}
    mail, sms = outbox["email"], outbox["sms"]
    [attachment] = mail.attachments
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "MV-INV-2026-000001.pdf",
        "application/pdf",
        len(PDF),
    )
    assert await read_outbox_attachment(sessionmaker, attachment.id) == PDF
    assert "attached" in mail.body_text
    assert sms.attachments == ()


async def test_retried_and_repeated_sends_store_one_message_and_one_attachment(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: LocalStorage,
) -> None:
    user = await create_user(sessionmaker)
    request = invoice_request(user, await stored_pdf(storage), channels=[Channel.EMAIL])
    email = ReplyLostEmail(OutboxEmail(sessionmaker))
    client = time_skipping_env.client

    async with new_worker(
        client,
        task_queue,
        *WORKFLOWS,
        activities=notification_activity_list(
            activities_for(sessionmaker, email=email, storage=storage)
        ),
    ):
        first = await deliver(time_skipping_env, task_queue, request)
        # A second run under the same key (an operator re-running it): already sent, kept.
        handle = await client.start_workflow(
            DeliverNotification.run,
            request,
            id=workflow_id(request.dedupe_key),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        second = await handle.result()

    assert first.channels[Channel.EMAIL].status == "sent"
    assert second.channels[Channel.EMAIL] == first.channels[Channel.EMAIL]
    assert email.calls == 2
    [mail] = await read_outbox(sessionmaker, dedupe_key=request.dedupe_key)
    [attachment] = mail.attachments
    assert await read_outbox_attachment(sessionmaker, attachment.id) == PDF
    row = (await rows_of(sessionmaker, request.dedupe_key))["email"]
    assert row.is_sent and row.attempts == 2


async def test_missing_attachment_fails_the_email_for_good_and_says_why(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    user = await create_user(sessionmaker)
    missing_key = f"invoices/{uuid.uuid4()}"
    request = invoice_request(user, missing_key)

    result = await deliver(time_skipping_env, task_queue, request)

    email = result.channels[Channel.EMAIL]
    assert (email.status, email.error_type) == ("failed", "ATTACHMENT_NOT_FOUND")
    assert result.channels[Channel.IN_APP].status == "sent"
    row = (await rows_of(sessionmaker, request.dedupe_key))["email"]
    assert not row.is_sent and row.attempts == 1
    assert row.last_error is not None and missing_key in row.last_error
    assert await read_outbox(sessionmaker, dedupe_key=request.dedupe_key) == []


@pytest.mark.parametrize(
    "field",
    [
        {"filename": "../etc/passwd"},
        {"filename": "a\\b.pdf"},
        {"filename": "line\nbreak.pdf"},
        {"filename": ""},
        {"storage_key": ""},
        {"content_type": "pdf"},
        {"content_type": "text/html; x=<script>"},
    ],
)
def test_attachment_reference_refuses_unsafe_names(field: dict[str, str]) -> None:
    good = {"storage_key": "invoices/x", "filename": "MV-INV-1.pdf"}
    assert AttachmentRef.model_validate(good).content_type == "application/octet-stream"
    with pytest.raises(ValidationError):
        AttachmentRef.model_validate({**good, **field})


# Push (FCM HTTP v1) against the local FCM peer of tests/fixtures/fcm.py.


async def add_device(
    sessionmaker: async_sessionmaker[AsyncSession], user: User, token: str
) -> None:
    async with sessionmaker() as db, db.begin():
        db.add(UserDevice(user_id=user.id, token=token, platform="android"))


async def devices_of(sessionmaker: async_sessionmaker[AsyncSession], user: User) -> set[str]:
    async with sessionmaker() as db:
        return set(await db.scalars(select(UserDevice.token).where(UserDevice.user_id == user.id)))


@pytest_asyncio.fixture(loop_scope="session")
async def push_worker(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    httpserver: HTTPServer,
    key_pair: tuple[str, RSAPublicKey],
    google: Google,
) -> AsyncIterator[Worker]:
    activities = NotificationActivities(
        sessionmaker,
        OutboxEmail(sessionmaker),
        OutboxMessages(sessionmaker, Channel.SMS),
        OutboxMessages(sessionmaker, Channel.WHATSAPP),
        push=fcm_push(httpserver, key_pair),
    )
    running = new_worker(
        time_skipping_env, task_queue, *WORKFLOWS, activities=notification_activity_list(activities)
    )
    async with running:
        yield running


def appointment_request(user: User) -> NotificationRequest:
    appointment_id = uuid.uuid4()
    return NotificationRequest(
        dedupe_key=f"appointment:{appointment_id}:reminder:24h",
        user_id=user.id,
        template="appointment_reminder",
        channels=[Channel.EMAIL, Channel.IN_APP],
        context={
            "appointment_number": "MV-AP-2026-000000000042",
            "starts_at": "2026-12-10 10:00",
            "timezone": "Europe/Berlin",
            "before": "24h",
        },
        type="appointment",
        reference_type="appointment",
        reference_id=appointment_id,
    )


async def test_push_joins_an_in_app_message_on_every_registered_device(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    push_worker: Worker,
    google: Google,
) -> None:
    user = await create_user(sessionmaker, locale="hi")
    await add_device(sessionmaker, user, f"phone-{user.id.hex}")
    await add_device(sessionmaker, user, f"tablet-{user.id.hex}")
    request = appointment_request(user)

    result = await deliver(time_skipping_env, task_queue, request)

    assert {c: o.status for c, o in result.channels.items()} == {
        Channel.EMAIL: "sent",
        Channel.IN_APP: "sent",
        Channel.PUSH: "sent",
    }
    assert {m["token"] for m in google.sent} == {f"phone-{user.id.hex}", f"tablet-{user.id.hex}"}
    rendered = render("appointment_reminder", "hi", {"first_name": "Ana", **request.context})
    for message in google.sent:
        # The in-app copy in the user's language, and ids only in the data.
        assert message["notification"] == {"title": rendered.title, "body": rendered.summary}
        assert message["data"] == {
            "dedupe_key": request.dedupe_key,
            "type": "appointment",
            "reference_type": "appointment",
            "reference_id": str(request.reference_id),
        }
    rows = await rows_of(sessionmaker, request.dedupe_key)
    assert rows["push"].is_sent and rows["push"].provider == "fcm"
    assert rows["push"].provider_message_id == result.channels[Channel.PUSH].provider_message_id
    assert google.tokens_issued == 1

    # The same key again sends nothing more.
    await notify(time_skipping_env.client, task_queue, request)
    assert len(google.sent) == 2


async def test_push_forgets_a_device_fcm_no_longer_knows_and_stays_out_without_devices(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    push_worker: Worker,
    google: Google,
) -> None:
    user = await create_user(sessionmaker)
    gone = f"gone-{user.id.hex}"
    google.unregistered.add(gone)
    await add_device(sessionmaker, user, gone)

    result = await deliver(time_skipping_env, task_queue, appointment_request(user))

    assert result.channels[Channel.PUSH].status == "failed"
    assert result.channels[Channel.PUSH].error_type == "NO_RECIPIENT_ADDRESS"
    assert result.channels[Channel.EMAIL].status == "sent"
    assert await devices_of(sessionmaker, user) == set()

    # No device left: push no longer joins; an e-mail-only message never took it.
    later = await deliver(time_skipping_env, task_queue, appointment_request(user))
    assert set(later.channels) == {Channel.EMAIL, Channel.IN_APP}
    await add_device(sessionmaker, user, f"new-{user.id.hex}")
    mail_only = verify_email_request(user, channels=[Channel.EMAIL])
    assert set((await deliver(time_skipping_env, task_queue, mail_only)).channels) == {
        Channel.EMAIL
    }
    assert [m["token"] for m in google.sent] == [gone]


async def test_without_firebase_settings_push_never_joins(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
) -> None:
    user = await create_user(sessionmaker)
    await add_device(sessionmaker, user, f"phone-{user.id.hex}")
    request = appointment_request(user)

    result = await deliver(time_skipping_env, task_queue, request)

    assert set(result.channels) == {Channel.EMAIL, Channel.IN_APP}
    assert set(await rows_of(sessionmaker, request.dedupe_key)) == {"email", "in_app"}


async def test_a_failed_push_takes_no_fallback_channel(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    push_worker: Worker,
    google: Google,
) -> None:
    user = await create_user(sessionmaker, phone="+14155550100")
    gone = f"gone-{user.id.hex}"
    google.unregistered.add(gone)
    await add_device(sessionmaker, user, gone)
    request = appointment_request(user).model_copy(update={"fallback": [Channel.SMS]})

    result = await deliver(time_skipping_env, task_queue, request)

    assert result.channels[Channel.PUSH].status == "failed"
    # The e-mail and in-app were sent: the SMS held back for them stays unused.
    assert set(result.channels) == {Channel.EMAIL, Channel.IN_APP, Channel.PUSH}
    assert "sms" not in await rows_of(sessionmaker, request.dedupe_key)
