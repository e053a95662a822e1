"""Access tokens end with their session: after logout, after a refresh family is revoked for a
reused refresh token, and after a password reset; forgot-password does the same work before it
answers whether or not the address has an account."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select
from temporalio.worker import Worker

from domain.models.users import PasswordReset
from tests.builders.helpers import outbox_for
from tests.builders.users import PASSWORD, create_user


@pytest.fixture
def client(client: httpx.AsyncClient, worker: Worker) -> httpx.AsyncClient:
    return client


async def log_in(client, email: str) -> dict[str, str]:
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def refused_as_ended(client, tokens: dict[str, str]) -> None:
    response = await client.get("/auth/profile", headers=bearer(tokens))
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "TOKEN_REVOKED"


async def test_logout_ends_the_access_token_at_once(client, sessionmaker):
    user = await create_user(sessionmaker)
    tokens = await log_in(client, user.email)
    assert (await client.get("/auth/profile", headers=bearer(tokens))).status_code == 200
    out = await client.post("/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 200
    await refused_as_ended(client, tokens)
    # A new login works as before.
    again = await log_in(client, user.email)
    assert (await client.get("/auth/profile", headers=bearer(again))).status_code == 200


async def test_a_revoked_refresh_family_ends_its_access_tokens(client, sessionmaker):
    user = await create_user(sessionmaker)
    first = await log_in(client, user.email)
    rotated = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    second = rotated.json()["data"]
    assert (await client.get("/auth/profile", headers=bearer(second))).status_code == 200
    # The first refresh token comes back: a stolen copy. The whole family ends, and so do the
    # access tokens it handed out.
    reused = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.json()["error"]["code"] == "REFRESH_TOKEN_REUSED"
    await refused_as_ended(client, first)
    await refused_as_ended(client, second)


async def test_a_password_reset_ends_the_access_tokens_of_the_old_password(client, sessionmaker):
    from tests.builders.helpers import token_in

    user = await create_user(sessionmaker)
    tokens = await log_in(client, user.email)
    await client.post("/auth/forgot-password", json={"email": user.email})
    [mail] = await outbox_for(sessionmaker, user.email)
    done = await client.post(
        "/auth/reset-password",
        json={"token": token_in(mail.body_text), "password": "Brand-New-Pass-77!"},
    )
    assert done.status_code == 200, done.text
    await refused_as_ended(client, tokens)


def count_statements_before_the_answer(app: FastAPI, statements: list[str], marks: list[int]):
    """Wrap the app: the number of SQL statements run when the answer starts goes to `marks`."""

    async def wrapped(scope, receive, send):
        async def send_marked(message):
            if message["type"] == "http.response.start":
                marks.append(len(statements))
            await send(message)

        await app(scope, receive, send_marked)

    return wrapped


async def test_forgot_password_does_the_same_work_before_answering_known_or_unknown(
    app, worker, sessionmaker
):
    user = await create_user(sessionmaker)
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    marks: list[int] = []
    transport = httpx.ASGITransport(app=count_statements_before_the_answer(app, statements, marks))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as api:
            work = {}
            for email in (user.email, "ghost@example.com"):
                statements.clear()
                marks.clear()
                answer = await api.post("/auth/forgot-password", json={"email": email})
                assert answer.status_code == 200
                work[email] = (answer.json(), statements[: marks[0]])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert work[user.email] == work["ghost@example.com"]
    # The known address still gets its link, after the answer.
    await outbox_for(sessionmaker, user.email)
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(PasswordReset)) == 1
