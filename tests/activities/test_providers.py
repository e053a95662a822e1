"""The e-mail and SMS channels: the real SendGrid and Twilio SDKs against local HTTP peers that
speak their documented contracts, and the outbox against the real database."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from werkzeug import Request

from activities.providers.channels import (
    Attachment,
    DeliveryError,
)
from activities.providers.outbox import (
    AttachmentNotFound,
    OutboxEmail,
    OutboxMessages,
    read_outbox,
    read_outbox_attachment,
)
from activities.providers.sendgrid_email import SendGridEmail
from activities.providers.twilio_messages import TwilioMessages
from activities.providers.wiring import build_email_channel, build_message_channel
from domain.models.notifications import Channel
from runtime.settings import Settings

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "twilio-auth-token"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
# Not ASCII, not text: what base64 must carry unchanged.
PDF_BYTES = b"%PDF-1.7\n" + bytes(range(256)) + b"\n%%EOF"


def _base(httpserver: HTTPServer) -> str:
    return httpserver.url_for("/").rstrip("/")


def _only_request(httpserver: HTTPServer) -> Request:
    assert len(httpserver.log) == 1
    request, _ = httpserver.log[0]
    return request


def _twilio_message(sid: str, to: str, sender: str, body: str) -> str:
    return json.dumps(
        {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "to": to,
            "from": sender,
            "body": body,
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
        }
    )


async def test_sendgrid_posts_the_mail_and_returns_the_message_id(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/v3/mail/send", method="POST").respond_with_data(
        "", status=202, headers={"X-Message-Id": "sg-message-42"}
    )
    channel = SendGridEmail("SG.test-key", sender="care@medivoy.test", host=_base(httpserver))

    message_id = await channel.send_email(
        "ana@example.com",
        "Verify your e-mail address",
        "Open https://app.test/verify?token=abc",
        "<p>Open <a href='https://app.test/verify?token=abc'>this link</a></p>",
        "verify-email:1",
        attachments=(
            Attachment("invoice.pdf", PDF_BYTES, "application/pdf"),
            Attachment("notes.txt", "Café ☕".encode()),
        ),
    )

    assert message_id == "sg-message-42"
    request = _only_request(httpserver)
    assert request.headers["Authorization"] == "Bearer SG.test-key"
    body = request.get_json()
    assert body["from"] == {"email": "care@medivoy.test"}
    assert body["personalizations"][0]["to"] == [{"email": "ana@example.com"}]
    assert body["subject"] == "Verify your e-mail address"
    assert body["content"] == [
        {"type": "text/plain", "value": "Open https://app.test/verify?token=abc"},
        {
            "type": "text/html",
            "value": "<p>Open <a href='https://app.test/verify?token=abc'>this link</a></p>",
        },
    ]
    assert body["custom_args"] == {"dedupe_key": "verify-email:1"}
    pdf, notes = body["attachments"]
    assert (pdf["filename"], pdf["type"], pdf["disposition"]) == (
        "invoice.pdf",
        "application/pdf",
        "attachment",
    )
    assert pdf["content"] == base64.b64encode(PDF_BYTES).decode("ascii")
    assert base64.b64decode(pdf["content"]) == PDF_BYTES
    assert (notes["filename"], notes["type"]) == ("notes.txt", "application/octet-stream")
    assert base64.b64decode(notes["content"]).decode() == "Café ☕"


async def test_sendgrid_server_error_is_a_retryable_failure(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v3/mail/send", method="POST").respond_with_json(
        {"errors": [{"message": "service unavailable"}]}, status=503
    )
    channel = SendGridEmail("SG.test-key", sender="care@medivoy.test", host=_base(httpserver))

    with pytest.raises(DeliveryError) as raised:
        await channel.send_email("ana@example.com", "Hi", "text", "<p>html</p>", "k:1")

    assert not raised.value.permanent
    assert raised.value.summary == "sendgrid HTTP 503"


async def test_sendgrid_rejected_request_is_a_permanent_failure(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v3/mail/send", method="POST").respond_with_json(
        {"errors": [{"message": "Does not contain a valid address.", "field": "to"}]}, status=400
    )
    channel = SendGridEmail("SG.test-key", sender="care@medivoy.test", host=_base(httpserver))

    with pytest.raises(DeliveryError) as raised:
        await channel.send_email("ana@invalid.example", "Hi", "text", "<p>html</p>", "k:1")

    assert raised.value.permanent
    assert "valid address" in str(raised.value)
    assert "ana@invalid.example" not in raised.value.summary


async def test_sendgrid_unusable_address_fails_permanently_without_a_request(
    httpserver: HTTPServer,
) -> None:
    channel = SendGridEmail("SG.test-key", sender="care@medivoy.test", host=_base(httpserver))

    with pytest.raises(DeliveryError) as raised:
        await channel.send_email("not-an-address", "Hi", "text", "<p>html</p>", "k:1")

    assert raised.value.permanent
    assert httpserver.log == []


async def test_twilio_sms_posts_the_message_form_and_returns_the_sid(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_oneshot_request(MESSAGES_PATH, method="POST").respond_with_data(
        _twilio_message("SM0001", "+15551230001", "+15550009999", "Your code"),
        status=201,
        content_type="application/json",
    )
    channel = TwilioMessages(
        ACCOUNT_SID, AUTH_TOKEN, sender="+15550009999", base_url=_base(httpserver)
    )

    sid = await channel.send_message("+15551230001", "Your code", "verify-email:1")

    assert sid == "SM0001"
    request = _only_request(httpserver)
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {credentials}"
    assert request.mimetype == "application/x-www-form-urlencoded"
    assert request.form.to_dict() == {
        "To": "+15551230001",
        "From": "+15550009999",
        "Body": "Your code",
    }


async def test_twilio_whatsapp_addresses_both_ends_as_whatsapp(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(MESSAGES_PATH, method="POST").respond_with_data(
        _twilio_message("SM0002", "whatsapp:+15551230001", "whatsapp:+15550008888", "Hello"),
        status=201,
        content_type="application/json",
    )
    channel = TwilioMessages(
        ACCOUNT_SID,
        AUTH_TOKEN,
        sender="+15550008888",
        whatsapp=True,
        base_url=_base(httpserver),
    )

    assert await channel.send_message("+15551230001", "Hello", "k:2") == "SM0002"
    form = _only_request(httpserver).form
    assert form["To"] == "whatsapp:+15551230001"
    assert form["From"] == "whatsapp:+15550008888"


async def test_twilio_server_error_is_a_retryable_failure(httpserver: HTTPServer) -> None:
    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_json(
        {"code": 20500, "message": "Internal Server Error", "status": 500}, status=500
    )
    channel = TwilioMessages(
        ACCOUNT_SID, AUTH_TOKEN, sender="+15550009999", base_url=_base(httpserver)
    )

    with pytest.raises(DeliveryError) as raised:
        await channel.send_message("+15551230001", "Your code", "k:3")

    assert not raised.value.permanent
    assert raised.value.summary.startswith("twilio HTTP 500")


async def test_twilio_invalid_number_is_a_permanent_failure(httpserver: HTTPServer) -> None:
    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_json(
        {
            "code": 21211,
            "message": "The 'To' number 123 is not a valid phone number.",
            "status": 400,
        },
        status=400,
    )
    channel = TwilioMessages(
        ACCOUNT_SID, AUTH_TOKEN, sender="+15550009999", base_url=_base(httpserver)
    )

    with pytest.raises(DeliveryError) as raised:
        await channel.send_message("123", "Your code", "k:4")

    assert raised.value.permanent
    assert raised.value.summary == "twilio HTTP 400 (error 21211)"


async def test_outbox_stores_each_message_once_per_dedupe_key(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    email = OutboxEmail(sessionmaker)
    sms = OutboxMessages(sessionmaker, Channel.SMS)

    first = await email.send_email("ana@example.com", "Subject", "text", "<p>html</p>", "k:1")
    again = await email.send_email("ana@example.com", "Subject", "text", "<p>html</p>", "k:1")
    text = await sms.send_message("+15551230001", "Short text", "k:1")

    assert first == again
    assert first.startswith("outbox:")
    assert text != first
    stored = await read_outbox(sessionmaker, dedupe_key="k:1")
    assert [(m.channel, m.recipient) for m in stored] == [
        ("email", "ana@example.com"),
        ("sms", "+15551230001"),
    ]
    [mail] = await read_outbox(sessionmaker, dedupe_key="k:1", channel=Channel.EMAIL)
    assert (mail.subject, mail.body_text, mail.body_html) == ("Subject", "text", "<p>html</p>")
    assert first == f"outbox:{mail.id}"
    assert mail.attachments == ()


async def test_outbox_keeps_an_emails_attachments_once_and_gives_them_back(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    email = OutboxEmail(sessionmaker)
    files = (
        Attachment("MV-INV-2026-000001.pdf", PDF_BYTES, "application/pdf"),
        Attachment("empty.txt", b"", "text/plain"),
    )

    first = await email.send_email("ana@example.com", "Invoice", "t", "<p>h</p>", "k:2", files)
    # A retried send, even one that came with other files, stores nothing more.
    again = await email.send_email("ana@example.com", "Invoice", "t", "<p>h</p>", "k:2", files[:1])

    assert first == again
    [mail] = await read_outbox(sessionmaker, dedupe_key="k:2")
    assert [(a.filename, a.content_type, a.size) for a in mail.attachments] == [
        ("MV-INV-2026-000001.pdf", "application/pdf", len(PDF_BYTES)),
        ("empty.txt", "text/plain", 0),
    ]
    pdf, empty = mail.attachments
    assert await read_outbox_attachment(sessionmaker, pdf.id) == PDF_BYTES
    assert await read_outbox_attachment(sessionmaker, empty.id) == b""
    with pytest.raises(AttachmentNotFound):
        await read_outbox_attachment(sessionmaker, uuid.uuid4())


async def test_outbox_reads_by_recipient_newest_first(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    email = OutboxEmail(sessionmaker)
    for n in range(3):
        await email.send_email("Ana@Example.com", f"Message {n}", "t", "<p>h</p>", f"r:{n}")
    await email.send_email("someone@example.com", "Not hers", "t", "<p>h</p>", "r:other")

    newest = await read_outbox(
        sessionmaker, recipient="ana@example.COM ", limit=2, newest_first=True
    )

    assert [m.subject for m in newest] == ["Message 2", "Message 1"]


def test_builders_use_the_outbox_until_provider_keys_are_set(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    local = Settings()
    configured = Settings(
        sendgrid_api_key=SecretStr("SG.key"),
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=SecretStr(AUTH_TOKEN),
        twilio_from_number="+15550009999",
    )

    assert isinstance(build_email_channel(local, sessionmaker), OutboxEmail)
    assert isinstance(build_message_channel(local, sessionmaker, Channel.SMS), OutboxMessages)
    assert isinstance(build_email_channel(configured, sessionmaker), SendGridEmail)
    assert isinstance(build_message_channel(configured, sessionmaker, Channel.SMS), TwilioMessages)
    # No WhatsApp sender configured: WhatsApp stays local even with Twilio keys.
    whatsapp = build_message_channel(configured, sessionmaker, Channel.WHATSAPP)
    assert isinstance(whatsapp, OutboxMessages)
