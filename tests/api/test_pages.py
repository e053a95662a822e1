"""The pages a browser opens: the root, and the landing pages of the e-mailed links. Opening a
link changes nothing (a mail scanner follows links); the page's button does the work."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from temporalio.worker import Worker

from domain.models.users import User
from tests.builders.helpers import outbox_for, token_in
from tests.builders.users import PASSWORD, create_user

SITE = "http://testserver"


@pytest.fixture
def client(client: httpx.AsyncClient, worker: Worker) -> httpx.AsyncClient:
    """With the worker: the verification and reset e-mails are workflows."""
    return client


async def _verified(sessionmaker, email: str) -> bool:
    async with sessionmaker() as db:
        return bool(await db.scalar(select(User.is_verified).where(User.email == email)))


async def test_the_root_says_where_the_docs_health_and_temporal_ui_are(client):
    root = await client.get(f"{SITE}/")
    assert root.status_code == 200
    assert root.headers["content-type"].startswith("text/html")
    for link in ('href="/docs"', 'href="/openapi.json"', 'href="/api/v1/health/services"'):
        assert link in root.text
    assert "Temporal UI" in root.text
    assert "/" not in (await client.get("/../../openapi.json")).json()["paths"]


async def test_a_verification_link_opens_a_button_and_only_its_post_verifies(client, sessionmaker):
    email = "page.verify@example.com"
    registered = await client.post(
        "/auth/register",
        json={
            "email": email,
            "password": "Valid-Passw0rd!",
            "first_name": "Noor",
            "last_name": "Aziz",
        },
    )
    assert registered.status_code == 201, registered.text
    [mail] = await outbox_for(sessionmaker, email)
    assert f"{SITE.replace('testserver', '127.0.0.1:8000')}/verify-email?token=" in mail.body_text
    token = token_in(mail.body_text)

    opened = await client.get(f"{SITE}/verify-email", params={"token": token})
    assert opened.status_code == 200
    assert opened.headers["cache-control"] == "no-store"
    assert opened.headers["referrer-policy"] == "no-referrer"
    assert f'value="{token}"' in opened.text and 'method="post"' in opened.text
    assert not await _verified(sessionmaker, email)  # opening the link changed nothing

    wrong = await client.post(f"{SITE}/verify-email", data={"token": "x" * 43})
    assert wrong.status_code == 400 and "class=error" in wrong.text
    assert not await _verified(sessionmaker, email)

    done = await client.post(f"{SITE}/verify-email", data={"token": token})
    assert done.status_code == 200, done.text
    assert "verified" in done.text
    assert await _verified(sessionmaker, email)
    again = await client.post(f"{SITE}/verify-email", data={"token": token})
    assert again.status_code == 400


async def test_an_email_change_confirmed_on_the_page_tells_the_address_it_replaced(
    client, sessionmaker
):
    from tests.builders.users import login_headers

    user = await create_user(sessionmaker, email="page.old@example.com")
    own = await login_headers(client, user.email)
    asked = await client.patch("/auth/profile", headers=own, json={"email": "page.new@example.com"})
    assert asked.status_code == 200, asked.text
    [link] = await outbox_for(sessionmaker, "page.new@example.com")
    done = await client.post(f"{SITE}/verify-email", data={"token": token_in(link.body_text)})
    assert done.status_code == 200, done.text
    [notice] = await outbox_for(sessionmaker, "page.old@example.com")
    assert notice.subject == "Your e-mail address was changed"


async def test_a_reset_link_asks_twice_for_the_new_password_and_refuses_a_weak_one(
    client, sessionmaker
):
    user = await create_user(sessionmaker, email="page.reset@example.com")
    assert (
        await client.post("/auth/forgot-password", json={"email": user.email})
    ).status_code == 200
    [mail] = await outbox_for(sessionmaker, user.email)
    token = token_in(mail.body_text)

    opened = await client.get(f"{SITE}/reset-password", params={"token": token})
    assert opened.status_code == 200 and 'type="password"' in opened.text
    new = "Brand-New-Pass-77!"
    differ = await client.post(
        f"{SITE}/reset-password", data={"token": token, "password": new, "confirm": new + "x"}
    )
    assert differ.status_code == 400 and "differ" in differ.text
    weak = await client.post(
        f"{SITE}/reset-password", data={"token": token, "password": "weak", "confirm": "weak"}
    )
    assert weak.status_code == 400 and "password" in weak.text.lower()
    # Still the old password after both refusals, and the link still works.
    login = {"email": user.email, "password": PASSWORD}
    assert (await client.post("/auth/login", json=login)).status_code == 200

    done = await client.post(
        f"{SITE}/reset-password", data={"token": token, "password": new, "confirm": new}
    )
    assert done.status_code == 200, done.text
    assert (await client.post("/auth/login", json=login)).status_code == 401
    assert (
        await client.post("/auth/login", json={"email": user.email, "password": new})
    ).status_code == 200
    reused = await client.post(
        f"{SITE}/reset-password", data={"token": token, "password": new, "confirm": new}
    )
    assert reused.status_code == 400


async def test_a_link_without_a_token_or_with_markup_in_it_is_answered_safely(client):
    assert (await client.get(f"{SITE}/verify-email")).status_code == 400
    assert (await client.get(f"{SITE}/reset-password")).status_code == 400
    hostile = '"><script>alert(1)</script>'
    page = await client.get(f"{SITE}/verify-email", params={"token": hostile})
    assert "<script>" not in page.text
    assert "&quot;&gt;&lt;script&gt;" in page.text
    refused = await client.post(f"{SITE}/verify-email", data={"token": hostile})
    assert refused.status_code == 400 and "<script>" not in refused.text
