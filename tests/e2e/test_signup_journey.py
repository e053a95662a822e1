"""A newcomer's first minutes, over HTTP with the real database, Temporal and worker."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from temporalio.worker import Worker

from domain.models.audit import AuditLog
from domain.models.notifications import Notification
from tests.builders.helpers import eventually, outbox_for, token_in


@pytest.fixture
def client(client: httpx.AsyncClient, worker: Worker) -> httpx.AsyncClient:
    """The API with the worker running: the sign-up e-mails are workflows."""
    return client


async def test_patient_registers_verifies_by_email_logs_in_and_reads_notifications(
    client, sessionmaker
):
    email = "amira.haddad@example.com"
    password = "Sunrise-Clinic-2026!"
    registered = await client.post(
        "/auth/register",
        json={
            "email": email,
            "password": password,
            "phone": "+971501234567",
            "user_type": "patient",
            "first_name": "Amira",
            "last_name": "Haddad",
        },
    )
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert body["success"] is True
    assert body["data"]["user"]["email"] == email
    assert body["data"]["user"]["user_type"] == "patient"
    assert body["data"]["user"]["is_verified"] is False
    assert body["data"]["user"]["patient_id"]
    assert body["data"]["access_token"] and body["data"]["refresh_token"]

    # The verification e-mail was delivered by the DeliverNotification workflow to the outbox.
    [mail] = await outbox_for(sessionmaker, email)
    assert mail.channel == "email"
    assert "Amira" in mail.body_text
    token = token_in(mail.body_text)

    verified = await client.post("/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert verified.json()["data"]["is_verified"] is True

    # Single use: the same link cannot verify twice.
    again = await client.post("/auth/verify-email", json={"token": token})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "INVALID_VERIFICATION_TOKEN"

    login = await client.post("/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}

    profile = await client.get("/auth/profile", headers=headers)
    assert profile.json()["data"]["is_verified"] is True
    assert profile.json()["data"]["patient_id"] == body["data"]["user"]["patient_id"]

    async def in_app_delivered():
        listed = await client.get("/notifications", headers=headers)
        items = listed.json()["data"]
        return listed if items and all(n["is_sent"] for n in items) else None

    listed = await eventually(in_app_delivered)
    payload = listed.json()
    assert payload["meta"]["total"] >= 1
    titles = [n["title"] for n in payload["data"]]
    assert any("verif" in (t or "").lower() for t in titles)
    # The stored in-app text never carries the secret link.
    assert all(token not in (n["message"] or "") for n in payload["data"])

    async with sessionmaker() as db:
        actions = set(await db.scalars(select(AuditLog.action)))
        notes = list(await db.scalars(select(Notification).where(Notification.channel == "email")))
    assert "register:create" in actions
    assert "verify_email:update" in actions
    assert notes and notes[0].is_sent and notes[0].provider == "outbox"
