"""User administration over HTTP, and what a non-admin may not do."""

from __future__ import annotations

from sqlalchemy import func, select

from domain.access import Role
from domain.models.audit import AuditLog
from tests.builders.users import PASSWORD, create_user, login_headers


async def test_admin_lists_users_with_filters_search_and_pagination(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    for i in range(3):
        await create_user(sessionmaker, Role.PATIENT, first_name=f"Noor{i}")
    await create_user(sessionmaker, Role.DOCTOR, first_name="Kemal")
    headers = await login_headers(client, admin.email)

    patients = await client.get(
        "/users", params={"user_type": "patient", "limit": 2}, headers=headers
    )
    assert patients.status_code == 200
    body = patients.json()
    assert body["meta"] == {"page": 1, "limit": 2, "total": 3}
    assert len(body["data"]) == 2
    assert all(u["user_type"] == "patient" for u in body["data"])
    assert "password_hash" not in body["data"][0]

    found = await client.get("/users", params={"search": "kem"}, headers=headers)
    assert [u["first_name"] for u in found.json()["data"]] == ["Kemal"]

    second = await client.get(
        "/users", params={"user_type": "patient", "limit": 2, "page": 2}, headers=headers
    )
    assert len(second.json()["data"]) == 1


async def test_admin_creates_a_coordinator(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    headers = await login_headers(client, admin.email)
    created = await client.post(
        "/users",
        headers=headers,
        json={
            "email": "coord@example.com",
            "password": "Steady-Hands-99!",
            "user_type": "coordinator",
            "first_name": "Sofia",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["data"]["user_type"] == "coordinator"
    assert (
        await client.post(
            "/auth/login", json={"email": "coord@example.com", "password": "Steady-Hands-99!"}
        )
    ).status_code == 200


async def test_patient_cannot_list_users_or_read_another_user(client, sessionmaker):
    patient = await create_user(sessionmaker)
    other = await create_user(sessionmaker)
    headers = await login_headers(client, patient.email)
    listed = await client.get("/users", headers=headers)
    assert listed.status_code == 403
    assert listed.json()["error"]["code"] == "ROLE_NOT_ALLOWED"
    peek = await client.get(f"/users/{other.id}", headers=headers)
    assert peek.status_code == 404
    assert other.email not in peek.text
    assert (await client.get(f"/users/{patient.id}", headers=headers)).status_code == 200


async def test_patient_cannot_approve_or_promote_themselves(client, sessionmaker):
    patient = await create_user(sessionmaker)
    headers = await login_headers(client, patient.email)
    response = await client.patch(
        f"/users/{patient.id}", headers=headers, json={"user_type": "admin"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FIELD_NOT_ALLOWED"
    profile = await client.get("/auth/profile", headers=headers)
    assert profile.json()["data"]["user_type"] == "patient"


async def test_unapproved_doctor_is_kept_out_of_role_actions_until_approved(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    response = await client.post(
        "/auth/register",
        json={
            "email": "dr.new@example.com",
            "password": PASSWORD,
            "user_type": "doctor",
            "first_name": "Arjun",
            "last_name": "Mehta",
        },
    )
    doctor_id = response.json()["data"]["user"]["id"]
    admin_headers = await login_headers(client, admin.email)
    approved = await client.patch(
        f"/users/{doctor_id}", headers=admin_headers, json={"is_approved": True}
    )
    assert approved.status_code == 200
    assert approved.json()["data"]["is_approved"] is True


async def test_deactivated_user_is_signed_out_at_once(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    patient = await create_user(sessionmaker)
    admin_headers = await login_headers(client, admin.email)
    login = await client.post("/auth/login", json={"email": patient.email, "password": PASSWORD})
    patient_headers = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
    refresh = login.json()["data"]["refresh_token"]

    response = await client.patch(f"/users/{patient.id}/deactivate", headers=admin_headers)
    assert response.status_code == 200 and response.json()["data"]["is_active"] is False
    assert (await client.get("/auth/profile", headers=patient_headers)).status_code == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": refresh})).status_code == 401

    await client.patch(f"/users/{patient.id}/activate", headers=admin_headers)
    # Activated again, the sessions of before stay ended: their tokens were revoked, not only
    # refused while the account was inactive.
    stale = await client.get("/auth/profile", headers=patient_headers)
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "TOKEN_REVOKED"
    stale_refresh = await client.post("/auth/refresh", json={"refresh_token": refresh})
    assert stale_refresh.status_code == 401
    assert stale_refresh.json()["error"]["code"] == "INVALID_REFRESH_TOKEN"
    assert (
        await client.post("/auth/login", json={"email": patient.email, "password": PASSWORD})
    ).status_code == 200


async def log_in(client, email: str) -> dict[str, str]:
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_a_role_change_ends_the_sessions_of_the_old_role(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    admin_headers = await login_headers(client, admin.email)
    user = await create_user(sessionmaker, Role.COORDINATOR)
    before = await log_in(client, user.email)

    # A change that leaves the role as it is (the same role named again, a name) ends nothing.
    same = await client.patch(
        f"/users/{user.id}",
        headers=admin_headers,
        json={"user_type": "coordinator", "first_name": "Ines"},
    )
    assert same.status_code == 200, same.text
    still = await client.get("/auth/profile", headers=bearer(before))
    assert still.status_code == 200 and still.json()["data"]["user_type"] == "coordinator"

    moved = await client.patch(
        f"/users/{user.id}", headers=admin_headers, json={"user_type": "doctor"}
    )
    assert moved.status_code == 200, moved.text
    # The coordinator's access token and refresh token are over, whatever they claimed.
    ended = await client.get("/auth/profile", headers=bearer(before))
    assert ended.status_code == 401 and ended.json()["error"]["code"] == "TOKEN_REVOKED"
    assert (await client.get("/bookings", headers=bearer(before))).status_code == 401
    refreshed = await client.post("/auth/refresh", json={"refresh_token": before["refresh_token"]})
    assert refreshed.status_code == 401
    assert refreshed.json()["error"]["code"] == "INVALID_REFRESH_TOKEN"
    # A new login carries the new role.
    after = await log_in(client, user.email)
    assert after["user"]["user_type"] == "doctor"
    profile = await client.get("/auth/profile", headers=bearer(after))
    assert profile.status_code == 200 and profile.json()["data"]["user_type"] == "doctor"


async def test_admin_cannot_deactivate_or_delete_themselves(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    headers = await login_headers(client, admin.email)
    assert (await client.patch(f"/users/{admin.id}/deactivate", headers=headers)).status_code == 400
    assert (await client.delete(f"/users/{admin.id}", headers=headers)).status_code == 400


async def test_admin_deletes_a_user_and_the_audit_trail_records_who(client, sessionmaker):
    admin = await create_user(sessionmaker, Role.ADMIN)
    patient = await create_user(sessionmaker)
    headers = await login_headers(client, admin.email)
    response = await client.delete(
        f"/users/{patient.id}",
        headers=headers,
        params={},
    )
    assert response.status_code == 200
    assert (await client.get(f"/users/{patient.id}", headers=headers)).status_code == 404
    async with sessionmaker() as db:
        entry = await db.scalar(
            select(AuditLog).where(
                AuditLog.entity_id == patient.id, AuditLog.action == "delete_user:delete"
            )
        )
        assert entry is not None
        assert entry.user_id == admin.id
        assert entry.changes["password_hash"] == "***"
        assert entry.ip_address
        total = await db.scalar(select(func.count()).select_from(AuditLog))
    assert total >= 1


async def test_role_changes_that_would_orphan_or_mislabel_a_profile_are_refused(
    client, sessionmaker
):
    import uuid

    from domain.models.catalog import Hospital

    admin = await create_user(sessionmaker, Role.ADMIN)
    headers = await login_headers(client, admin.email)
    doctor = await create_user(sessionmaker, Role.DOCTOR)
    patient = await create_user(sessionmaker, Role.PATIENT)
    manager = await create_user(sessionmaker, Role.HOSPITAL_ADMIN)
    async with sessionmaker() as db, db.begin():
        db.add(Hospital(id=uuid.uuid4(), name="Bosphorus Clinic", admin_user_id=manager.id))

    for user, to, held in (
        (doctor, "patient", ["doctor_profile"]),
        (patient, "doctor", ["patient_profile"]),
        (manager, "coordinator", ["administered_hospitals"]),
    ):
        refused = await client.patch(f"/users/{user.id}", headers=headers, json={"user_type": to})
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "ROLE_CHANGE_ORPHANS_PROFILE"
        assert error["details"] == {"from": user.user_type, "to": to, "held": held}
        kept = await client.get(f"/users/{user.id}", headers=headers)
        assert kept.json()["data"]["user_type"] == user.user_type

    # A clean move is made, and the new role gets its profile.
    coordinator = await create_user(sessionmaker, Role.COORDINATOR)
    moved = await client.patch(
        f"/users/{coordinator.id}", headers=headers, json={"user_type": "doctor"}
    )
    assert moved.status_code == 200, moved.text
    profile = await client.get(
        "/auth/profile", headers=await login_headers(client, coordinator.email)
    )
    assert profile.json()["data"]["user_type"] == "doctor"
    assert profile.json()["data"]["doctor_id"] is not None


async def test_an_email_change_takes_effect_once_the_new_address_confirms_it(
    client_with_worker, sessionmaker
):
    from tests.builders.helpers import outbox_for, token_in

    client = client_with_worker
    user = await create_user(sessionmaker, email="ayse.old@example.com")
    taken = await create_user(sessionmaker, email="taken@example.com")
    own = await login_headers(client, user.email)

    clash = await client.patch("/auth/profile", headers=own, json={"email": taken.email})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "EMAIL_TAKEN"

    asked = await client.patch("/auth/profile", headers=own, json={"email": "Ayse.New@example.com"})
    assert asked.status_code == 200, asked.text
    data = asked.json()["data"]
    assert (data["email"], data["pending_email"]) == (
        "ayse.old@example.com",
        "ayse.new@example.com",
    )
    [mail] = await outbox_for(sessionmaker, "ayse.new@example.com")
    token = token_in(mail.body_text)

    # Until the new address confirms, the login stays on the old one.
    login = {"password": PASSWORD}
    new_login = await client.post("/auth/login", json={**login, "email": "ayse.new@example.com"})
    assert new_login.status_code == 401
    old_login = await client.post("/auth/login", json={**login, "email": "ayse.old@example.com"})
    assert old_login.status_code == 200

    confirmed = await client.post("/auth/verify-email", json={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["data"]["email"] == "ayse.new@example.com"
    assert confirmed.json()["data"]["pending_email"] is None
    # The address it replaced is told, so a change by someone who took the account over is seen;
    # the notice names neither address (the old one may belong to someone else by now).
    [notice] = await outbox_for(sessionmaker, "ayse.old@example.com")
    assert notice.subject == "Your e-mail address was changed"
    assert "no longer signs in" in notice.body_text
    assert "ayse.new" not in notice.body_text + (notice.body_html or "")
    assert (
        await client.post("/auth/login", json={**login, "email": "ayse.new@example.com"})
    ).status_code == 200
    assert (
        await client.post("/auth/login", json={**login, "email": "ayse.old@example.com"})
    ).status_code == 401
    again = await client.post("/auth/verify-email", json={"token": token})
    assert again.status_code == 400

    # An admin's change waits for the same confirmation.
    admin = await create_user(sessionmaker, Role.ADMIN)
    admin_headers = await login_headers(client, admin.email)
    by_admin = await client.patch(
        f"/users/{user.id}", headers=admin_headers, json={"email": "ayse.third@example.com"}
    )
    assert by_admin.status_code == 200, by_admin.text
    assert by_admin.json()["data"]["email"] == "ayse.new@example.com"
    assert by_admin.json()["data"]["pending_email"] == "ayse.third@example.com"
    [mail] = await outbox_for(sessionmaker, "ayse.third@example.com")
    assert (
        await client.post("/auth/login", json={**login, "email": "ayse.third@example.com"})
    ).status_code == 401
    confirmed = await client.post("/auth/verify-email", json={"token": token_in(mail.body_text)})
    assert confirmed.json()["data"]["email"] == "ayse.third@example.com"
    *_, notice = await outbox_for(sessionmaker, "ayse.new@example.com", count=2)
    assert notice.subject == "Your e-mail address was changed"
    # The new address got its link only; the old one its single notice.
    assert len(await outbox_for(sessionmaker, "ayse.third@example.com")) == 1
    assert len(await outbox_for(sessionmaker, "ayse.old@example.com")) == 1
