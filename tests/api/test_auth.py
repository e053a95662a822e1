"""Identity over HTTP: every bad input gets a clear error and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlalchemy import func, select, update
from temporalio.worker import Worker

from domain.access import Role
from domain.models.users import PasswordReset, RefreshToken, User
from tests.builders.helpers import outbox_for, token_in
from tests.builders.users import PASSWORD, create_user, login_headers


@pytest.fixture
def client(client: httpx.AsyncClient, worker: Worker) -> httpx.AsyncClient:
    """The API with the worker running: registration, verification and reset mails are workflows."""
    return client


NEW_PATIENT = {
    "email": "lena.fischer@example.com",
    "password": "Valid-Passw0rd!",
    "user_type": "patient",
    "first_name": "Lena",
    "last_name": "Fischer",
}


async def count_users(sessionmaker) -> int:
    async with sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(User)))


async def test_weak_password_is_refused_with_each_problem_named(client, sessionmaker):
    response = await client.post("/auth/register", json={**NEW_PATIENT, "password": "short"})
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "WEAK_PASSWORD"
    messages = " ".join(d["message"] for d in body["error"]["details"])
    assert "at least 10 characters" in messages and "upper-case" in messages
    assert await count_users(sessionmaker) == 0


async def test_duplicate_email_is_refused_whatever_its_case(client, sessionmaker):
    assert (await client.post("/auth/register", json=NEW_PATIENT)).status_code == 201
    shouted = {**NEW_PATIENT, "email": NEW_PATIENT["email"].upper()}
    response = await client.post("/auth/register", json=shouted)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "EMAIL_TAKEN"
    assert await count_users(sessionmaker) == 1


async def test_nobody_registers_as_admin_or_coordinator(client, sessionmaker):
    for role in ("admin", "coordinator"):
        response = await client.post("/auth/register", json={**NEW_PATIENT, "user_type": role})
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "user_type"
    assert await count_users(sessionmaker) == 0


async def test_registration_cannot_set_protected_fields(client, sessionmaker):
    response = await client.post("/auth/register", json={**NEW_PATIENT, "is_verified": True})
    assert response.status_code == 422
    assert "is_verified" in response.json()["message"]
    assert await count_users(sessionmaker) == 0


async def test_validation_error_names_the_field(client):
    response = await client.post("/auth/register", json={**NEW_PATIENT, "email": "not-an-email"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert body["error"]["details"][0]["field"] == "email"
    assert body["message"].startswith("email:")


async def test_malformed_json_gets_a_clear_400(client):
    response = await client.post(
        "/auth/login",
        content=b'{"email": "x@example.com", ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MALFORMED_JSON"


async def test_oversized_body_is_refused_before_it_is_read(client, sessionmaker):
    huge = {**NEW_PATIENT, "first_name": "A" * 2_000_000}
    response = await client.post("/auth/register", json=huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert await count_users(sessionmaker) == 0


async def test_doctor_registration_waits_for_admin_approval(client, sessionmaker):
    response = await client.post(
        "/auth/register",
        json={**NEW_PATIENT, "email": "dr.kaya@example.com", "user_type": "doctor"},
    )
    assert response.status_code == 201
    user = response.json()["data"]["user"]
    assert user["is_approved"] is False
    assert user["doctor_id"]
    assert "administrator will review" in response.json()["message"]


async def test_login_does_not_tell_unknown_email_from_wrong_password(client, sessionmaker):
    user = await create_user(sessionmaker)
    wrong = await client.post(
        "/auth/login", json={"email": user.email, "password": "Wrong-pass-123!"}
    )
    unknown = await client.post(
        "/auth/login", json={"email": "nobody@example.com", "password": "Wrong-pass-123!"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_inactive_user_cannot_log_in(client, sessionmaker):
    user = await create_user(sessionmaker)
    async with sessionmaker() as db, db.begin():
        await db.execute(update(User).where(User.id == user.id).values(is_active=False))
    response = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "ACCOUNT_INACTIVE"


async def test_refresh_rotates_and_reusing_a_rotated_token_signs_out_the_family(
    client, sessionmaker
):
    user = await create_user(sessionmaker)
    login = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    first = login.json()["data"]["refresh_token"]

    rotated = await client.post("/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["data"]["refresh_token"]
    assert second != first
    headers = {"Authorization": f"Bearer {rotated.json()['data']['access_token']}"}
    assert (await client.get("/auth/profile", headers=headers)).status_code == 200

    stolen = await client.post("/auth/refresh", json={"refresh_token": first})
    assert stolen.status_code == 401
    assert stolen.json()["error"]["code"] == "REFRESH_TOKEN_REUSED"
    # The legitimate newer token died with its family.
    after = await client.post("/auth/refresh", json={"refresh_token": second})
    assert after.status_code == 401


async def test_logout_revokes_the_refresh_token(client, sessionmaker):
    user = await create_user(sessionmaker)
    login = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    token = login.json()["data"]["refresh_token"]
    assert (await client.post("/auth/logout", json={"refresh_token": token})).status_code == 200
    assert (await client.post("/auth/refresh", json={"refresh_token": token})).status_code == 401
    async with sessionmaker() as db:
        stored = await db.scalar(select(RefreshToken).where(RefreshToken.user_id == user.id))
    assert stored.is_revoked and stored.token_hash != token  # kept hashed, never in clear


async def test_tampered_and_expired_access_tokens_are_refused(client, sessionmaker, settings):
    user = await create_user(sessionmaker)
    headers = await login_headers(client, user.email)
    good = headers["Authorization"].split()[1]
    claims = jwt.decode(good, options={"verify_signature": False})
    forged = jwt.encode({**claims, "role": "admin"}, "not-the-secret", algorithm="HS256")
    response = await client.get("/auth/profile", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "INVALID_TOKEN"

    past = datetime.now(UTC) - timedelta(hours=1)
    expired = jwt.encode(
        {**claims, "iat": past, "nbf": past, "exp": past + timedelta(minutes=15)},
        settings.jwt_key,
        algorithm="HS256",
    )
    response = await client.get("/auth/profile", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "TOKEN_EXPIRED"

    assert (await client.get("/auth/profile")).json()["error"]["code"] == "AUTH_REQUIRED"


async def test_password_reset_by_email_link_ends_old_sessions(client, sessionmaker):
    user = await create_user(sessionmaker, email="reset.me@example.com")
    old_login = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    old_refresh = old_login.json()["data"]["refresh_token"]

    asked = await client.post("/auth/forgot-password", json={"email": user.email})
    assert asked.status_code == 200
    [mail] = await outbox_for(sessionmaker, user.email)
    token = token_in(mail.body_text)

    weak = await client.post("/auth/reset-password", json={"token": token, "password": "weak"})
    assert weak.status_code == 400  # and the link still works afterwards
    new_password = "Brand-New-Pass-77!"
    done = await client.post(
        "/auth/reset-password", json={"token": token, "password": new_password}
    )
    assert done.status_code == 200, done.text

    assert (
        await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    ).status_code == 401
    assert (
        await client.post("/auth/login", json={"email": user.email, "password": new_password})
    ).status_code == 200
    assert (
        await client.post("/auth/refresh", json={"refresh_token": old_refresh})
    ).status_code == 401

    reused = await client.post(
        "/auth/reset-password", json={"token": token, "password": "Another-Pass-88!"}
    )
    assert reused.status_code == 400
    assert reused.json()["error"]["code"] == "INVALID_RESET_TOKEN"


async def test_expired_reset_link_is_refused_and_changes_nothing(client, sessionmaker):
    user = await create_user(sessionmaker, email="late@example.com")
    await client.post("/auth/forgot-password", json={"email": user.email})
    [mail] = await outbox_for(sessionmaker, user.email)
    token = token_in(mail.body_text)
    async with sessionmaker() as db, db.begin():
        await db.execute(
            update(PasswordReset).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    response = await client.post(
        "/auth/reset-password", json={"token": token, "password": "Brand-New-Pass-77!"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "RESET_TOKEN_EXPIRED"
    assert (
        await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    ).status_code == 200


async def test_forgot_password_for_unknown_email_answers_the_same_and_sends_nothing(
    client, sessionmaker
):
    user = await create_user(sessionmaker)
    known = await client.post("/auth/forgot-password", json={"email": user.email})
    unknown = await client.post("/auth/forgot-password", json={"email": "ghost@example.com"})
    assert known.json() == unknown.json()
    await outbox_for(sessionmaker, user.email)
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(PasswordReset)) == 1


async def test_resend_verification_replaces_the_earlier_link(client, sessionmaker):
    await client.post("/auth/register", json=NEW_PATIENT)
    await outbox_for(sessionmaker, NEW_PATIENT["email"])
    await client.post("/auth/resend-verification", json={"email": NEW_PATIENT["email"]})
    mails = await outbox_for(sessionmaker, NEW_PATIENT["email"], count=2)
    old, new = token_in(mails[0].body_text), token_in(mails[1].body_text)
    assert old != new
    assert (await client.post("/auth/verify-email", json={"token": old})).status_code == 400
    assert (await client.post("/auth/verify-email", json={"token": new})).status_code == 200


async def test_profile_update_changes_only_allowed_fields(client, sessionmaker):
    user = await create_user(sessionmaker)
    headers = await login_headers(client, user.email)
    changed = await client.patch(
        "/auth/profile", headers=headers, json={"first_name": "Priya", "locale": "hi"}
    )
    assert changed.status_code == 200
    assert changed.json()["data"]["first_name"] == "Priya"
    assert changed.json()["data"]["locale"] == "hi"
    refused = await client.patch("/auth/profile", headers=headers, json={"user_type": "admin"})
    assert refused.status_code == 422
    profile = await client.get("/auth/profile", headers=headers)
    assert profile.json()["data"]["user_type"] == Role.PATIENT.value


async def test_auth_endpoints_are_rate_limited(settings, temporal_client, worker):
    from api.app import create_app

    limited = create_app(
        settings.model_copy(update={"auth_rate_limit": "3/minute"}), temporal=temporal_client
    )
    async with limited.router.lifespan_context(limited):
        transport = httpx.ASGITransport(app=limited)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as c:
            body = {"email": "x@example.com", "password": "Whatever-123!"}
            codes = [(await c.post("/auth/login", json=body)).status_code for _ in range(4)]
            assert codes == [401, 401, 401, 429]
            last = await c.post("/auth/login", json=body)
            assert last.json()["error"]["code"] == "RATE_LIMITED"
            assert int(last.headers["Retry-After"]) >= 1
