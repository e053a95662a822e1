"""/subscription-plans over HTTP: the public sees the plans on sale, admins create, change and
retire them, and a plan that makes no sense is refused with the field named."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from domain.access import Role
from domain.models.subscriptions import SubscriptionPlan
from tests.builders.users import create_user, headers_for

CLINIC = {
    "name": "Clinic",
    "plan_type": "standard",
    "target_user": "hospital",
    "price_monthly": "199.00",
    "price_yearly": "1990.00",
    "currency": "usd",
    "features": ["Listing in search", "10 doctors"],
    "max_doctors": 10,
    "max_appointments_per_month": 500,
}


async def _admin(sessionmaker, settings):
    return headers_for(await create_user(sessionmaker, Role.ADMIN), settings)


async def _plans(sessionmaker) -> int:
    async with sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(SubscriptionPlan)) or 0)


async def test_an_admin_creates_a_plan_and_everyone_sees_it_on_sale(client, sessionmaker, settings):
    admin = await _admin(sessionmaker, settings)
    created = await client.post(
        "/subscription-plans",
        json={**CLINIC, "name": f"Clinic {uuid.uuid4().hex[:6]}"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    plan = created.json()["data"]
    assert plan["currency"] == "USD" and plan["price_monthly"] == "199.00"
    assert plan["is_active"] is True and plan["max_doctors"] == 10

    public = await client.get("/subscription-plans", params={"target_user": "hospital"})
    assert public.status_code == 200
    assert plan["id"] in [p["id"] for p in public.json()["data"]]
    one = await client.get(f"/subscription-plans/{plan['id']}")
    assert one.json()["data"]["features"] == ["Listing in search", "10 doctors"]


async def test_a_retired_plan_is_off_sale_but_kept(client, sessionmaker, settings):
    admin = await _admin(sessionmaker, settings)
    plan = (
        await client.post(
            "/subscription-plans",
            json={**CLINIC, "name": f"Old {uuid.uuid4().hex[:6]}"},
            headers=admin,
        )
    ).json()["data"]
    retired = await client.delete(f"/subscription-plans/{plan['id']}", headers=admin)
    assert retired.status_code == 200, retired.text
    assert retired.json()["data"]["is_active"] is False

    assert (await client.get(f"/subscription-plans/{plan['id']}")).status_code == 404
    listed = await client.get("/subscription-plans")
    assert plan["id"] not in [p["id"] for p in listed.json()["data"]]
    # Kept for its subscribers: the admin still sees it and may put it back on sale.
    assert (await client.get(f"/subscription-plans/{plan['id']}", headers=admin)).status_code == 200
    back = await client.patch(
        f"/subscription-plans/{plan['id']}", json={"is_active": True}, headers=admin
    )
    assert back.json()["data"]["is_active"] is True


async def test_only_admins_write_plans(client, sessionmaker, settings):
    admin = await _admin(sessionmaker, settings)
    plan = (
        await client.post(
            "/subscription-plans",
            json={**CLINIC, "name": f"Mine {uuid.uuid4().hex[:6]}"},
            headers=admin,
        )
    ).json()["data"]
    before = await _plans(sessionmaker)
    for role in (Role.HOSPITAL_ADMIN, Role.DOCTOR, Role.COORDINATOR, Role.PATIENT):
        who = headers_for(await create_user(sessionmaker, role), settings)
        assert (
            await client.post("/subscription-plans", json=CLINIC, headers=who)
        ).status_code == 403
        changed = await client.patch(
            f"/subscription-plans/{plan['id']}", json={"price_monthly": "1.00"}, headers=who
        )
        assert changed.status_code == 403
        retired = await client.delete(f"/subscription-plans/{plan['id']}", headers=who)
        assert retired.status_code == 403
    assert (await client.post("/subscription-plans", json=CLINIC)).status_code == 401
    assert await _plans(sessionmaker) == before
    stored = (await client.get(f"/subscription-plans/{plan['id']}")).json()["data"]
    assert stored["price_monthly"] == "199.00" and stored["is_active"] is True


async def test_a_plan_that_makes_no_sense_is_refused_with_the_field_named(
    client, sessionmaker, settings
):
    admin = await _admin(sessionmaker, settings)
    before = await _plans(sessionmaker)
    bad = [
        ({**CLINIC, "price_monthly": None, "price_yearly": None}, None),
        ({**CLINIC, "price_monthly": "-1.00"}, "price_monthly"),
        ({**CLINIC, "price_monthly": "1.001"}, "price_monthly"),
        ({**CLINIC, "currency": "dollars"}, "currency"),
        ({**CLINIC, "target_user": "patient"}, "target_user"),
        ({**CLINIC, "target_user": "doctor"}, None),  # a doctor's plan bounding doctors
        ({**CLINIC, "max_doctors": -1}, "max_doctors"),
        ({**CLINIC, "surprise": True}, "surprise"),
    ]
    for body, field in bad:
        refused = await client.post("/subscription-plans", json=body, headers=admin)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["error"]["code"] == "VALIDATION_ERROR"
        if field is not None:
            assert field in refused.text, (field, refused.text)
    assert await _plans(sessionmaker) == before

    doctor_plan = (
        await client.post(
            "/subscription-plans",
            json={
                "name": f"Solo {uuid.uuid4().hex[:6]}",
                "target_user": "doctor",
                "price_monthly": "29.00",
                "max_appointments_per_month": 100,
            },
            headers=admin,
        )
    ).json()["data"]
    for change, field in (
        ({"max_doctors": 3}, "max_doctors"),
        ({"price_monthly": None}, "price_monthly"),
    ):
        refused = await client.patch(
            f"/subscription-plans/{doctor_plan['id']}", json=change, headers=admin
        )
        assert refused.status_code == 422, refused.text
        assert field in refused.text
    kept = (await client.get(f"/subscription-plans/{doctor_plan['id']}")).json()["data"]
    assert kept["price_monthly"] == "29.00" and kept["max_doctors"] is None
