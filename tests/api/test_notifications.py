"""A user's inbox: admin-sent messages arrive through the workflow; nobody sees another's."""

from __future__ import annotations

import httpx
import pytest
from temporalio.worker import Worker

from domain.access import Role
from tests.builders.helpers import eventually, outbox_for
from tests.builders.users import create_user, headers_for


@pytest.fixture
def client(client: httpx.AsyncClient, worker: Worker) -> httpx.AsyncClient:
    """The API with the worker running: notifications are delivered by workflows."""
    return client


async def test_admin_sends_a_notification_that_arrives_in_app_and_by_email(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    patient = await create_user(sessionmaker)
    admin_headers = headers_for(admin)
    sent = await client.post(
        "/notifications",
        headers={**admin_headers, "Idempotency-Key": "visa-reminder-1"},
        json={
            "user_id": str(patient.id),
            "title": "Visa reminder",
            "message": "Please upload your passport scan.",
            "channels": ["in_app", "email"],
        },
    )
    assert sent.status_code == 202, sent.text
    again = await client.post(
        "/notifications",
        headers={**admin_headers, "Idempotency-Key": "visa-reminder-1"},
        json={
            "user_id": str(patient.id),
            "title": "Visa reminder",
            "message": "Please upload your passport scan.",
            "channels": ["in_app", "email"],
        },
    )
    assert again.status_code == 202

    headers = headers_for(patient)

    async def delivered():
        items = (await client.get("/notifications", headers=headers)).json()["data"]
        return items if len(items) == 2 and all(n["is_sent"] for n in items) else None

    items = await eventually(delivered)
    assert {n["channel"] for n in items} == {"in_app", "email"}
    assert all(n["title"] == "Visa reminder" for n in items)
    mails = await outbox_for(sessionmaker, patient.email)
    assert len(mails) == 1  # the repeated request did not send twice
    assert "passport scan" in mails[0].body_text


async def test_only_admins_send_notifications(client, sessionmaker):
    patient = await create_user(sessionmaker)
    headers = headers_for(patient)
    response = await client.post(
        "/notifications",
        headers=headers,
        json={"user_id": str(patient.id), "title": "x", "message": "y"},
    )
    assert response.status_code == 403


async def test_read_unread_filter_read_all_and_delete(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    patient = await create_user(sessionmaker)
    admin_headers = headers_for(admin)
    for title in ("One", "Two", "Three"):
        await client.post(
            "/notifications",
            headers=admin_headers,
            json={"user_id": str(patient.id), "title": title, "message": "Hello"},
        )
    headers = headers_for(patient)

    async def three():
        items = (await client.get("/notifications", headers=headers)).json()["data"]
        return items if len(items) == 3 else None

    items = await eventually(three)
    first = items[0]["id"]
    marked = await client.patch(f"/notifications/{first}/read", headers=headers)
    assert marked.status_code == 200 and marked.json()["data"]["is_read"] is True
    unread = await client.get("/notifications", params={"unread": "true"}, headers=headers)
    assert unread.json()["meta"]["total"] == 2
    all_read = await client.patch("/notifications/read-all", headers=headers)
    assert all_read.json()["data"]["updated"] == 2
    assert (await client.get("/notifications", params={"unread": "true"}, headers=headers)).json()[
        "meta"
    ]["total"] == 0
    assert (await client.delete(f"/notifications/{first}", headers=headers)).status_code == 200
    assert (await client.get("/notifications", headers=headers)).json()["meta"]["total"] == 2


async def test_nobody_reads_or_deletes_another_users_notification(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    owner = await create_user(sessionmaker)
    intruder = await create_user(sessionmaker)
    admin_headers = headers_for(admin)
    await client.post(
        "/notifications",
        headers=admin_headers,
        json={"user_id": str(owner.id), "title": "Your lab results", "message": "Private"},
    )
    owner_headers = headers_for(owner)

    async def one():
        items = (await client.get("/notifications", headers=owner_headers)).json()["data"]
        return items or None

    [item] = await eventually(one)
    intruder_headers = headers_for(intruder)
    assert (await client.get("/notifications", headers=intruder_headers)).json()["data"] == []
    for response in (
        await client.patch(f"/notifications/{item['id']}/read", headers=intruder_headers),
        await client.delete(f"/notifications/{item['id']}", headers=intruder_headers),
    ):
        assert response.status_code == 404
        assert "lab results" not in response.text
    owner_view = (await client.get("/notifications", headers=owner_headers)).json()["data"]
    assert owner_view[0]["is_read"] is False
