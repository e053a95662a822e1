"""Twilio delivery receipts: an SMS sent through the real Twilio SDK (to a local server speaking
the Messages API) asks for status callbacks; callbacks signed with the SDK's validator record
the message's delivery state on its notification, once; forged or unsigned ones are 403."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import ActivityEnvironment
from twilio.request_validator import RequestValidator

from activities.notify import Delivery, NotificationActivities, NotificationRecord
from activities.providers.outbox import OutboxEmail, OutboxMessages, read_outbox
from activities.providers.twilio_messages import TwilioMessages
from domain.models.notifications import Channel, Notification
from domain.models.users import User
from domain.notification import DeliveryStatus
from runtime.settings import Settings
from workflows.notification import (
    DeliverNotification,
    NotificationRequest,
    NotificationResult,
    notify,
    workflow_id,
)

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "twilio-auth-token"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
CALLBACK_URL = "https://api.medivoy.test/api/v1/webhooks/twilio"
PHONE = "+15551230001"
SENDER = "+15550009999"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], httpserver: HTTPServer) -> Settings:
    # The worker's SMS go through the real Twilio SDK to the local Messages API.
    return make_settings(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=SecretStr(AUTH_TOKEN),
        twilio_from_number=SENDER,
        twilio_base_url=httpserver.url_for("/").rstrip("/"),
        twilio_status_callback_url=CALLBACK_URL,
        delivery_receipt_wait_minutes=5,
    )


def _signed(params: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(CALLBACK_URL, params)}


def _receipt(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT_SID,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": PHONE,
        "From": SENDER,
        "ApiVersion": "2010-04-01",
        **extra,
    }


async def _send_sms(
    httpserver: HTTPServer, sessionmaker: async_sessionmaker[AsyncSession], sid: str
) -> str:
    """A verification SMS through the notification activities and the real Twilio SDK."""
    httpserver.expect_oneshot_request(MESSAGES_PATH, method="POST").respond_with_data(
        json.dumps({"sid": sid, "account_sid": ACCOUNT_SID, "status": "queued", "to": PHONE}),
        status=201,
        content_type="application/json",
    )
    async with sessionmaker() as db, db.begin():
        user = User(
            email=f"u-{uuid.uuid4().hex[:8]}@example.com",
            phone=PHONE,
            password_hash="x",
            user_type="patient",
            first_name="Ana",
        )
        db.add(user)
    twilio = TwilioMessages(
        ACCOUNT_SID,
        AUTH_TOKEN,
        sender=SENDER,
        base_url=httpserver.url_for("/").rstrip("/"),
        status_callback=CALLBACK_URL,
    )
    acts = NotificationActivities(
        sessionmaker,
        OutboxEmail(sessionmaker),
        twilio,
        OutboxMessages(sessionmaker, Channel.WHATSAPP),
    )
    key = f"verify-email:{uuid.uuid4()}"
    context = {
        "first_name": "Ana",
        "token": "t" * 20,
        "verify_url": "https://x/v?token=" + "t" * 20,
    }
    env = ActivityEnvironment()
    await env.run(
        acts.record_notification,
        NotificationRecord(key, user.id, "verify_email", "en", [Channel.SMS], context),
    )
    receipt = await env.run(acts.send_sms, Delivery(key, "verify_email", "en", PHONE, context))
    assert receipt.provider_message_id == sid
    return key


async def _row(sessionmaker: async_sessionmaker[AsyncSession], key: str) -> Notification:
    async with sessionmaker() as db:
        row = await db.scalar(select(Notification).where(Notification.dedupe_key == key))
    assert row is not None
    return row


async def test_a_signed_receipt_records_delivery_once_and_a_late_one_changes_nothing(
    client: httpx.AsyncClient,
    httpserver: HTTPServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    key = await _send_sms(httpserver, sessionmaker, "SM" + "a" * 32)
    sent, _ = httpserver.log[0]
    assert sent.form["StatusCallback"] == CALLBACK_URL
    sid = "SM" + "a" * 32

    delivered = _receipt(sid, "delivered")
    first = await client.post("/webhooks/twilio", data=delivered, headers=_signed(delivered))
    again = await client.post("/webhooks/twilio", data=delivered, headers=_signed(delivered))
    late = _receipt(sid, "sent")
    stale = await client.post("/webhooks/twilio", data=late, headers=_signed(late))

    assert first.status_code == 200 and first.json()["data"]["recorded"] is True
    assert again.status_code == 200 and again.json()["data"]["recorded"] is False
    assert stale.status_code == 200 and stale.json()["data"]["recorded"] is False
    row = await _row(sessionmaker, key)
    assert row.delivery_status == "delivered"
    assert row.delivered_at is not None


async def test_an_undelivered_receipt_records_the_failure_and_its_error_code(
    client: httpx.AsyncClient,
    httpserver: HTTPServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    sid = "SM" + "b" * 32
    key = await _send_sms(httpserver, sessionmaker, sid)

    params = _receipt(sid, "undelivered", ErrorCode="30003")
    answer = await client.post("/webhooks/twilio", data=params, headers=_signed(params))

    assert answer.status_code == 200
    row = await _row(sessionmaker, key)
    assert row.delivery_status == "undelivered"
    assert row.delivered_at is None
    assert row.last_error is not None and "30003" in row.last_error


async def test_forged_and_unsigned_receipts_are_refused_and_change_nothing(
    client: httpx.AsyncClient,
    httpserver: HTTPServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    sid = "SM" + "c" * 32
    key = await _send_sms(httpserver, sessionmaker, sid)
    params = _receipt(sid, "failed")

    forged = await client.post(
        "/webhooks/twilio", data=params, headers=_signed(params, token="not-the-token")
    )
    unsigned = await client.post("/webhooks/twilio", data=params)
    # Signed for another status than the one sent: the form is part of the signature.
    tampered = await client.post(
        "/webhooks/twilio", data=_receipt(sid, "failed"), headers=_signed(_receipt(sid, "read"))
    )

    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "WEBHOOK_SIGNATURE_INVALID"
    assert unsigned.status_code == 403
    assert unsigned.json()["error"]["code"] == "WEBHOOK_SIGNATURE_MISSING"
    assert tampered.status_code == 403
    row = await _row(sessionmaker, key)
    assert row.delivery_status is None


async def _sms_with_email_fallback(
    httpserver: HTTPServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    task_queue: str,
    sid: str,
) -> tuple[str, WorkflowHandle[Any, NotificationResult]]:
    """A notification by SMS (e-mail held back as its fallback) through the production worker;
    returns once Twilio has the SMS and its notification row knows the message id."""
    httpserver.expect_oneshot_request(MESSAGES_PATH, method="POST").respond_with_data(
        json.dumps({"sid": sid, "account_sid": ACCOUNT_SID, "status": "queued", "to": PHONE}),
        status=201,
        content_type="application/json",
    )
    async with sessionmaker() as db, db.begin():
        user = User(
            email=f"u-{uuid.uuid4().hex[:8]}@example.com",
            phone=PHONE,
            password_hash="x",
            user_type="patient",
            first_name="Ana",
        )
        db.add(user)
    key = f"verify-email:{uuid.uuid4()}"
    request = NotificationRequest(
        dedupe_key=key,
        user_id=user.id,
        template="verify_email",
        channels=[Channel.SMS],
        fallback=[Channel.EMAIL],
        context={"token": "t" * 20, "verify_url": "https://x/v?token=" + "t" * 20},
    )
    await notify(temporal_client, task_queue, request)
    for _ in range(200):
        async with sessionmaker() as db:
            stored = await db.scalar(
                select(Notification.provider_message_id).where(
                    Notification.dedupe_key == key, Notification.channel == Channel.SMS.value
                )
            )
        if stored == sid:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the SMS was never sent")
    handle = temporal_client.get_workflow_handle_for(DeliverNotification.run, workflow_id(key))
    return key, handle


async def test_an_undelivered_sms_falls_back_to_email(
    client_with_worker: httpx.AsyncClient,
    httpserver: HTTPServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    task_queue: str,
) -> None:
    sid = "SM" + "d" * 32
    key, handle = await _sms_with_email_fallback(
        httpserver, sessionmaker, temporal_client, task_queue, sid
    )
    params = _receipt(sid, "undelivered", ErrorCode="30005")
    answer = await client_with_worker.post("/webhooks/twilio", data=params, headers=_signed(params))
    assert answer.status_code == 200

    result = await asyncio.wait_for(handle.result(), 30)

    assert result.channels[Channel.SMS].status == "failed"
    assert result.channels[Channel.SMS].delivery_status == DeliveryStatus.UNDELIVERED
    assert result.channels[Channel.EMAIL].status == "sent"
    mailed = [m for m in await read_outbox(sessionmaker) if m.dedupe_key == key]
    assert [m.channel for m in mailed] == ["email"]
    rows = {row.channel: row for row in await _rows(sessionmaker, key)}
    assert rows["sms"].delivery_status == "undelivered"
    assert rows["email"].is_sent


async def test_a_delivered_sms_needs_no_fallback(
    client_with_worker: httpx.AsyncClient,
    httpserver: HTTPServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    task_queue: str,
) -> None:
    sid = "SM" + "e" * 32
    key, handle = await _sms_with_email_fallback(
        httpserver, sessionmaker, temporal_client, task_queue, sid
    )
    params = _receipt(sid, "delivered")
    await client_with_worker.post("/webhooks/twilio", data=params, headers=_signed(params))

    result = await asyncio.wait_for(handle.result(), 30)

    assert set(result.channels) == {Channel.SMS}
    assert result.channels[Channel.SMS].delivery_status == DeliveryStatus.DELIVERED
    assert [row.channel for row in await _rows(sessionmaker, key)] == ["sms"]


async def _rows(sessionmaker: async_sessionmaker[AsyncSession], key: str) -> list[Notification]:
    async with sessionmaker() as db:
        return list(await db.scalars(select(Notification).where(Notification.dedupe_key == key)))
